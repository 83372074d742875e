"""Every Cypher statement is named, in graphsvc/cypher (the application's) or in
tests/cypher and bench/cypher (the tests' and benchmarks'), and every name the code uses
exists where that code can find it."""

from __future__ import annotations

import ast
import re
import runpy
from pathlib import Path

import pytest

from graphsvc.config import load_settings
from graphsvc.db import CypherRegistryError, Queries, parse_cypher

from .helpers import CYPHER_EXTRA

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "graphsvc" / "cypher"  # the application's statements, package data of graphsvc


def test_parse_named_statements():
    text = "// name: a\nMATCH (n) RETURN n;\n\n// name: b\n// doc line\nRETURN 1;\n"
    assert parse_cypher(text, "x") == {"a": "MATCH (n) RETURN n", "b": "RETURN 1"}


@pytest.mark.parametrize(
    "text,error",
    [
        ("RETURN 1;", "without a `// name:` header"),
        ("// name: a\nRETURN 1;\n// name: a\nRETURN 2;", "named twice"),
        ("// name: a\n// only a comment\n", "is empty"),
    ],
)
def test_malformed_files_are_refused(text, error):
    with pytest.raises(CypherRegistryError, match=error):
        parse_cypher(text, "x.cypher")


def _folder(root, name: str, files: dict[str, str]):
    folder = root / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def test_extra_folders_add_statements_and_never_replace_one(tmp_path):
    app = _folder(tmp_path, "app", {"a.cypher": "// default class: batch\n// name: one\nRETURN 1;\n"})
    extra = _folder(tmp_path, "extra", {"t.cypher": "// name: two\n// class: heavy\nRETURN 2;\n"})
    queries = Queries(app, extra)
    assert queries.names() == ["one", "two"] and queries["two"] == "RETURN 2"
    assert set(queries.by_file) == {"a", "t"} and queries.classes == {"one": "batch", "two": "heavy"}
    assert "two" not in Queries(app)
    with pytest.raises(CypherRegistryError, match="no Cypher statement named 'two' in .*app"):
        Queries(app)["two"]
    clash = _folder(tmp_path, "clash", {"z.cypher": "// name: one\nRETURN 3;\n"})
    with pytest.raises(CypherRegistryError, match="statement 'one' is also named elsewhere"):
        Queries(app, clash)
    same_file = _folder(tmp_path, "same", {"a.cypher": "// name: three\nRETURN 3;\n"})
    with pytest.raises(CypherRegistryError, match="another folder has a file a.cypher"):
        Queries(app, same_file)
    with pytest.raises(CypherRegistryError, match="no folder of Cypher statements at .*missing"):
        Queries(app, tmp_path / "missing")


# Where a named statement's name stands in each call: db.read("name", …), db.run_in_tx(tx, "name", …)
STATEMENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # file.write("…") is not a statement
NAME_ARG = {"read": 0, "write": 0, "stream": 0, "run_autocommit": 0, "run_in_tx": 1}


def statement_names_used(paths) -> dict[str, list[str]]:
    """Every statement name passed as a literal to the Database methods that take one, and
    every ``queries["name"]``, with where each is used (parsed, not grepped: a call across
    lines or with the transaction first is found too)."""
    used: dict[str, list[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name, how = None, "queries"
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in NAME_ARG
                and len(node.args) > NAME_ARG[node.func.attr]
            ):
                arg = node.args[NAME_ARG[node.func.attr]]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and STATEMENT_NAME.match(arg.value):
                    name, how = arg.value, node.func.attr
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "queries"
                and isinstance(node.slice, ast.Constant)
            ):
                name = node.slice.value
            if name is not None:
                used.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{node.lineno} {how}")
    return used


def _py(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_the_application_loads_its_statements_from_the_package():
    assert load_settings({}).cypher_dir == APP
    assert load_settings({"GRAPHSVC_CYPHER_DIR": "/elsewhere"}).cypher_dir == Path("/elsewhere")
    assert not (ROOT / "cypher").exists(), "the statements live in graphsvc/cypher (package data)"


def test_every_statement_the_code_names_exists():
    # the application's code finds every name among the application's statements alone
    app = Queries(APP)
    used = statement_names_used(_py("graphsvc", "web"))
    in_tx = {n for n, where in used.items() if any(w.endswith(" run_in_tx") for w in where)}
    assert len(used) > 60 and len(in_tx) > 20, "the parser found too few statement names"
    assert not {n: where for n, where in used.items() if n not in app}
    # the tests and benchmarks find theirs with the extra folders loaded (the same for both)
    bench = runpy.run_path(str(ROOT / "bench" / "cypher_extra.py"))["FOLDERS"]
    assert set(bench) == set(CYPHER_EXTRA)
    everything = Queries(APP, *CYPHER_EXTRA)
    used = statement_names_used(_py("tests", "bench"))
    assert {"wipe_all", "snapshot", "bench_audit_insert", "bench_csv_header"} <= set(used)
    assert not {n: where for n, where in used.items() if n not in everything}


def test_the_name_finder_sees_every_call_shape(tmp_path):
    code = tmp_path / "x.py"
    code.write_text(
        'db.read("a")\ndb.run_in_tx(tx, "b", x=1)\ndb.run_in_tx(\n    tx,\n    "c")\n'
        'db.queries["d"]\ndb.write_tx(work)\nprint("e")\n'
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert sorted(statement_names_used([code])) == ["a", "b", "c", "d"]
    finally:
        ROOT = saved


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
    # The application's folder holds none of them (so a wheel has none, and nothing of the
    # application can run one) ...
    extra = Queries(*CYPHER_EXTRA)
    assert {"testing", "bench", "bench_audit"} <= set(extra.by_file)
    assert {"wipe_all", "snapshot", "test_person_raw", "bench_audit_insert", "bench_load_people"} <= set(extra.names())
    app = set(Queries(APP).names())
    assert not set(extra.names()) & app
    assert not [n for n in app if n.startswith(("test_", "bench_")) or n == "wipe_all"]
    # ... and no string in the application's code names one, however it is passed on
    used = set()
    for path in _py("graphsvc", "web"):
        used |= set(re.findall(r"[\"']([a-z_]+)[\"']", path.read_text(encoding="utf-8")))
    assert not set(extra.names()) & used


def test_a_statement_returning_a_node_is_caught_in_the_tests(db):
    # db._row hands rows over as the driver decoded them; the tests' check (conftest) makes
    # sure that no statement returns a node, which Record.data() would have converted.
    with pytest.raises(AssertionError, match="returned a Node"):
        db.write_tx(lambda tx: db.run_in_tx(tx, "test_return_node"))
