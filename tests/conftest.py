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

from graphsvc import journal, neo4j_local
from graphsvc.config import Settings, load_settings
from graphsvc.db import Database

# The tests never touch the project's own key file or web secret: fixed test keys.
os.environ.setdefault("GRAPHSVC_DATA_KEY", "ktest:" + "A" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "test-secret-key-not-for-production")
# ... and fixed keys of the audit trail: the journal's MAC key, the checkpoints' signing key.
os.environ.setdefault("GRAPHSVC_AUDIT_JOURNAL_KEY", "J" * 43)
os.environ.setdefault("GRAPHSVC_AUDIT_CHECKPOINT_KEY", "C" * 43)
# the tests' apps and servers run no retention at start (tests/test_retention.py asks for it)
os.environ.setdefault("GRAPHSVC_RETENTION_AT_START", "0")
from .helpers import (  # noqa: E402 - after the keys
    CHROMIUM,
    CHROMIUM_ARGS,
    CYPHER_EXTRA,
    FIXTURES,
    TEST_INSTANCE,
    TEST_PORT,
    empty,
    keyring,
    test_env,
)

KEYRING = keyring()


_GRAPH_TYPES = (neo4j.graph.Node, neo4j.graph.Relationship, neo4j.graph.Path)


def _values_only(value, where: str) -> None:
    if isinstance(value, _GRAPH_TYPES):
        raise AssertionError(
            f"{where}: a statement returned a {type(value).__name__}; "
            "return its properties or fields (graphsvc/db.py _row)"
        )
    if isinstance(value, (list, tuple)):
        for item in value:
            _values_only(item, where)
    elif isinstance(value, dict):
        for item in value.values():
            _values_only(item, where)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the test database (through the `settings` fixture, which
    starts its server) is marked `neo4j`: `make test-fast` leaves those out."""
    for item in items:
        if "settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.neo4j)


@pytest.fixture(scope="session", autouse=True)
def statements_return_values_only():
    """Every row read during the tests is checked for nodes, relationships and paths, which
    the Database hands over as the driver decoded them (no Record.data() conversion)."""
    Database.row_check = lambda row: _values_only(row, "row of " + ", ".join(row))
    yield
    Database.row_check = None


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
        if os.environ.get("GRAPHSVC_TEST_NEO4J_ROUTING"):
            # the local server through a routing (neo4j://) URI, as a cluster or Aura is
            # reached: every process of the tests (helpers.test_env) uses it; state stays put
            uri = f"neo4j://127.0.0.1:{s.local.bolt_port}"
            os.environ["GRAPHSVC_TEST_NEO4J_URI"] = uri
            os.environ["GRAPHSVC_TEST_NEO4J_PASSWORD"] = neo4j_local.read_password(s.local)
            os.environ.setdefault("GRAPHSVC_STATE_DIR", str(s.state_dir))
            s = replace(load_settings(test_env()), cypher_extra=CYPHER_EXTRA)
    yield s
    journal.stop_shippers()  # the web apps' shippers, while their database is still there
    if started:
        neo4j_local.stop(replace(s.local, name=TEST_INSTANCE, bolt_port=TEST_PORT))


@pytest.fixture(scope="session")
def spare_settings(settings: Settings) -> Settings:
    """Settings of a second local Neo4j (instance `<test instance>-spare`, bolt port + 100)
    for the tests that kill, wipe or restore a server: the suite's own database stays out of
    their way. Started on first use, stopped at the end of the session; a test that kills it
    starts it again (``neo4j_local.start``) before it is done."""
    from .helpers import spare_env

    if not settings.uses_local:
        pytest.skip("the spare instance is local: these tests do not run against an external server")
    s = replace(load_settings(spare_env()), cypher_extra=CYPHER_EXTRA)
    if not neo4j_local.is_installed(s.local):
        neo4j_local.install(s.local)
    neo4j_local.start(s.local)
    yield s
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


@pytest.fixture(scope="module")
def server(request, settings, tmp_path_factory):
    """`graphsvc serve` (gunicorn) on a free loopback port, its output in a log file; the
    URL. A test module may set ``SERVER_ENV`` (a dict) to add settings to its environment."""
    from .helpers import serving, test_env

    env = {**test_env(), **getattr(request.module, "SERVER_ENV", {})}
    with serving(env, tmp_path_factory.mktemp("serve") / "gunicorn.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for a module's browser tests (CI fails without it)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run must install Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
