"""Fixtures: a real Neo4j of the tests' own, and a clean database for every test.

The tests never touch the database of `make run`: they use the local instance `test`
(its own data folder under .neo4j/instances/test and port 7688), started here when it is
not running and stopped at the end if this session started it. To run them against
another server instead, set GRAPHSVC_TEST_NEO4J_URI (+ _USER, _PASSWORD): its database is
wiped by every test. NEO4J_URI is deliberately ignored here, so that a developer's shell
pointing at real data cannot be wiped by a test run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import neo4j.graph
import pytest

from graphsvc import audit, crypto, db as db_module, journal, neo4j_local
from graphsvc.config import DEFAULT_PORTS, Settings, load_settings
from graphsvc.db import Database
from graphsvc.model import Actor

# The tests never touch the project's own key file or web secret: fixed test keys.
os.environ.setdefault("GRAPHSVC_DATA_KEY", "ktest:" + "A" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "test-secret-key-not-for-production")
# ... and fixed keys of the audit trail: the journal's MAC key, the checkpoints' signing key.
os.environ.setdefault("GRAPHSVC_AUDIT_JOURNAL_KEY", "J" * 43)
os.environ.setdefault("GRAPHSVC_AUDIT_CHECKPOINT_KEY", "C" * 43)
KEYRING = crypto.load_keyring()
ACTOR = Actor("tester", "admin", "127.0.0.1", "pytest")

FIXTURES = Path(__file__).parent / "fixtures"
# The statements of the tests (tests/cypher: wipe_all, snapshot, test_*) and of the
# benchmarks (bench/cypher: the audit fixtures), loaded besides the application's own
# (graphsvc/cypher) by every Database the tests connect through `settings`.
CYPHER_EXTRA = (Path(__file__).parent / "cypher", Path(__file__).parent.parent / "bench" / "cypher")
# Another instance name and port let two test runs go on at once without wiping each other.
TEST_INSTANCE = os.environ.get("GRAPHSVC_TEST_INSTANCE", "test")
TEST_PORT = int(os.environ.get("GRAPHSVC_TEST_NEO4J_PORT") or DEFAULT_PORTS["test"])


def test_env() -> dict[str, str]:
    """The environment that makes graphsvc (library, CLI, web app) use the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_") and not k.startswith("GRAPHSVC_NEO4J")}
    if os.environ.get("GRAPHSVC_TEST_NEO4J_URI"):
        env["NEO4J_URI"] = os.environ["GRAPHSVC_TEST_NEO4J_URI"]
        env["NEO4J_USER"] = os.environ.get("GRAPHSVC_TEST_NEO4J_USER", "neo4j")
        env["NEO4J_PASSWORD"] = os.environ.get("GRAPHSVC_TEST_NEO4J_PASSWORD", "")
    else:
        env["GRAPHSVC_NEO4J_INSTANCE"] = TEST_INSTANCE
        env["GRAPHSVC_NEO4J_PORT"] = str(TEST_PORT)
        env["GRAPHSVC_NEO4J_HEAP"] = os.environ.get("GRAPHSVC_TEST_NEO4J_HEAP", "384m")
        env["GRAPHSVC_NEO4J_PAGECACHE"] = os.environ.get("GRAPHSVC_TEST_NEO4J_PAGECACHE", "128m")
    return env


_GRAPH_TYPES = (neo4j.graph.Node, neo4j.graph.Relationship, neo4j.graph.Path)


def _values_only(value, where: str) -> None:
    if isinstance(value, _GRAPH_TYPES):
        raise AssertionError(f"{where}: a statement returned a {type(value).__name__}; "
                             "return its properties or fields (graphsvc/db.py _row)")
    if isinstance(value, (list, tuple)):
        for item in value:
            _values_only(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _values_only(item, where)


@pytest.fixture(scope="session", autouse=True)
def statements_return_values_only():
    """Every row read during the tests is checked for nodes, relationships and paths, which
    db._row (for speed) does not convert as Record.data() would."""
    plain = db_module._row

    def checked(record):
        row = plain(record)
        _values_only(row, "row of " + ", ".join(row))
        return row

    db_module._row = checked
    yield
    db_module._row = plain


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings pointing at the test database; starts (and later stops) the local test server."""
    env = test_env()
    s = replace(load_settings(env), cypher_extra=CYPHER_EXTRA)
    started = False
    if s.uses_local:
        if not neo4j_local.is_installed(s.local):
            neo4j_local.install(s.local)
        if neo4j_local.running_pid(s.local) is None:
            started = True
        neo4j_local.start(s.local)
    yield s
    journal.stop_shippers()  # the web apps' shippers, while their database is still there
    if started:
        neo4j_local.stop(s.local)


@pytest.fixture(scope="session")
def session_db(settings: Settings) -> Database:
    db = Database.connect(settings)
    db.apply_schema()
    yield db
    db.close()


@pytest.fixture()
def db(session_db: Database) -> Database:
    """The test database, emptied before the test (and its audit journal with it)."""
    empty(session_db)
    return session_db


def empty(db: Database) -> None:
    """Wipe the database and its audit journal. Events an earlier test left in the journal
    are shipped first (or dropped when that test broke the chain), so that no shipper
    thread of an earlier test's app can deliver them into this test's log."""
    try:
        audit.flush(db)
    except audit.AuditError:
        pass
    with db.journal.shipping():
        db.run_autocommit("wipe_all")
        if db.journal.path.exists():
            os.truncate(db.journal.path, 0)


@pytest.fixture()
def cli_env(settings: Settings, monkeypatch) -> dict[str, str]:
    """Point the process environment (CLI runner, subprocesses) at the test database."""
    env = test_env()
    for key in [k for k in os.environ if k.startswith("NEO4J_") or k.startswith("GRAPHSVC_NEO4J")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    """A copy of the small valid network (Korean text, with and without BOM) to edit freely."""
    target = tmp_path / "small"
    shutil.copytree(FIXTURES / "small", target)
    return target


def snapshot(db: Database, decrypt: bool = False) -> dict:
    """Everything the graph holds (the audit log aside), by stable ids: for 'nothing changed'
    comparisons. With ``decrypt``, encrypted fields are compared by their plaintext (an
    export → import round trip re-encrypts them with new nonces)."""
    state = db.read("snapshot")[0]
    if decrypt:
        for labels, props in state["nodes"]:
            key = props.get("id") or props.get("username")
            for field, value in props.items():
                if crypto.is_encrypted(value):
                    props[field] = KEYRING.decrypt(value, labels[0], key, field)
    return state


@pytest.fixture()
def world(db, small):
    """The small network with an account of every role (tests/helpers.py import_small)."""
    from .helpers import import_small

    import_small(db, small, KEYRING)
    return db


@pytest.fixture()
def app(settings, world):
    """The web app on the small network."""
    from web import create_app

    return create_app(settings, TESTING=True)


@pytest.fixture()
def bare_app(settings, db):
    """The web app on whatever the test loads (an empty database to start with)."""
    from web import create_app

    return create_app(settings, TESTING=True)
