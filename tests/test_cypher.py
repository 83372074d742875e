"""Every Cypher statement is named, in cypher/, and every name the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graphsvc.db import CypherRegistryError, Queries, parse_cypher

ROOT = Path(__file__).resolve().parent.parent


def test_parse_named_statements():
    text = "// name: a\nMATCH (n) RETURN n;\n\n// name: b\n// doc line\nRETURN 1;\n"
    assert parse_cypher(text, "x") == {"a": "MATCH (n) RETURN n", "b": "RETURN 1"}


@pytest.mark.parametrize("text,error", [
    ("RETURN 1;", "without a `// name:` header"),
    ("// name: a\nRETURN 1;\n// name: a\nRETURN 2;", "named twice"),
    ("// name: a\n// only a comment\n", "is empty"),
])
def test_malformed_files_are_refused(text, error):
    with pytest.raises(CypherRegistryError, match=error):
        parse_cypher(text, "x.cypher")


def test_every_statement_the_code_names_exists():
    queries = Queries(ROOT / "cypher")
    used = set()
    for path in list((ROOT / "graphsvc").rglob("*.py")) + list((ROOT / "web").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\b(?:read|write|stream|run_autocommit|run_in_tx)\(\s*\"([a-z_]+)\"", text))
        used |= set(re.findall(r"queries\[\"([a-z_]+)\"\]", text))
    assert used, "the pattern found no statement names"
    assert not used - set(queries.names())


def test_no_cypher_is_built_in_python():
    pattern = re.compile(r"\b(MATCH|MERGE|CREATE|UNWIND)\s*\(|\bDETACH DELETE\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in list((ROOT / "graphsvc").rglob("*.py")) + list((ROOT / "web").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders


def test_testing_statements_are_not_used_by_the_application():
    testing = set(Queries(ROOT / "cypher").by_file["testing"])
    used = set()
    for path in list((ROOT / "graphsvc").rglob("*.py")) + list((ROOT / "web").rglob("*.py")):
        used |= set(re.findall(r"\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert testing and not testing & used


def test_a_statement_returning_a_node_is_caught_in_the_tests(db):
    # db._row hands rows over as the driver decoded them; the tests' check (conftest) makes
    # sure that no statement returns a node, which Record.data() would have converted.
    with pytest.raises(AssertionError, match="returned a Node"):
        db.write_tx(lambda tx: db.run_in_tx(tx, "test_return_node"))
