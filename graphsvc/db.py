"""The Neo4j driver's lifecycle and the registry of named Cypher statements.

Every statement lives in a ``cypher/*.cypher`` file under a ``// name: <name>`` header
(like aiosql's ``-- name:``); Python refers to statements by name and passes values only
as parameters. One driver per process; ``read``/``write`` use the driver's managed
transactions, which retry transient failures.

>>> parse_cypher("// name: one\\n// The number one.\\nRETURN 1 AS n;\\n", "x.cypher")
{'one': 'RETURN 1 AS n'}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, TypeVar

import neo4j
from neo4j import GraphDatabase, RoutingControl

from . import journal, neo4j_local
from .config import Settings
from .journal import Journal

T = TypeVar("T")

_NAME = re.compile(r"^//\s*name:\s*([a-z][a-z0-9_]*)\s*$")


class CypherRegistryError(ValueError):
    pass


def parse_cypher(text: str, source: str) -> dict[str, str]:
    """Split one .cypher file into its named statements (comments kept, ``;`` dropped)."""
    statements: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is None:
            if any(line.strip() and not line.strip().startswith("//") for line in body):
                raise CypherRegistryError(f"{source}: a statement without a `// name:` header")
            return
        lines = [line for line in body if not line.strip().startswith("//")]
        stmt = "\n".join(lines).strip().rstrip(";").strip()
        if not stmt:
            raise CypherRegistryError(f"{source}: statement '{name}' is empty")
        statements[name] = stmt

    for line in text.splitlines():
        match = _NAME.match(line.strip())
        if match:
            flush()
            name, body = match.group(1), []
            if name in statements:
                raise CypherRegistryError(f"{source}: statement '{name}' is named twice")
        else:
            body.append(line)
    flush()
    return statements


class Queries:
    """All named statements of a folder of .cypher files, by name; files keep their order."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.by_file: dict[str, dict[str, str]] = {}
        self._all: dict[str, str] = {}
        for path in sorted(folder.glob("*.cypher")):
            found = parse_cypher(path.read_text(encoding="utf-8"), path.name)
            for key in found:
                if key in self._all:
                    raise CypherRegistryError(f"{path.name}: statement '{key}' is also named elsewhere")
            self.by_file[path.stem] = found
            self._all.update(found)

    def __getitem__(self, name: str) -> str:
        try:
            return self._all[name]
        except KeyError:
            raise CypherRegistryError(f"no Cypher statement named '{name}' in {self.folder}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._all

    def names(self) -> list[str]:
        return list(self._all)


def connection_params(settings: Settings) -> tuple[str, tuple[str, str]]:
    """The URI and credentials to use: the external server if NEO4J_URI is set, else the local one."""
    if settings.neo4j_uri:
        return settings.neo4j_uri, (settings.neo4j_user, settings.neo4j_password or "")
    local = settings.local
    return local.uri, (neo4j_local.USER, neo4j_local.read_password(local))


def _row(record: neo4j.Record) -> dict[str, Any]:
    """A record as a dict of its values as the driver decoded them.

    The statements return values only (maps, lists, strings, numbers, temporals), never
    nodes, relationships or paths (tests/conftest.py checks every row read in the tests), so
    the recursive conversion of ``Record.data()`` is not needed: it costs about 1 ms per
    suggestions answer of a few hundred values.
    """
    return dict(zip(record.keys(), record.values()))


class Database:
    """One driver and the named statements; close it when done."""

    def __init__(self, driver: neo4j.Driver, database: str, queries: Queries, uri: str,
                 journal: Journal | None = None):
        self.driver = driver
        self.database = database
        self.queries = queries
        self.uri = uri
        self.journal = journal  # the audit journal of this database (audit.log, audit.flush)

    @classmethod
    def connect(cls, settings: Settings, **driver_config: Any) -> "Database":
        uri, auth = connection_params(settings)
        driver_config.setdefault("connection_timeout", 5)
        driver_config.setdefault("notifications_min_severity", "OFF")
        driver = GraphDatabase.driver(uri, auth=auth, **driver_config)
        return cls(driver, settings.neo4j_database, Queries(settings.cypher_dir), uri,
                   journal.at(settings.audit_journal, settings.audit_durability))

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query(
            self.queries[name], params, database_=self.database, routing_=RoutingControl.READ
        )
        return [_row(record) for record in records]

    def write(self, name: str, **params: Any) -> dict[str, int]:
        """Run one named statement in its own write transaction; return its update counters."""
        _, summary, _ = self.driver.execute_query(
            self.queries[name], params, database_=self.database, routing_=RoutingControl.WRITE
        )
        return {k: v for k, v in vars(summary.counters).items() if isinstance(v, int) and v}

    def run_in_tx(self, tx: neo4j.ManagedTransaction, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named statement inside a caller's transaction function."""
        return [_row(record) for record in tx.run(self.queries[name], params)]

    def write_tx(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(tx, *args)`` as one managed write transaction (retried; must be idempotent)."""
        with self.driver.session(database=self.database) as session:
            return session.execute_write(work, *args)

    def read_tx(self, work: Callable[..., T], *args: Any) -> T:
        with self.driver.session(database=self.database) as session:
            return session.execute_read(work, *args)

    def ping(self) -> dict[str, str]:
        """Raise at once if the server does not answer (no retries); else its name, version, edition."""
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            row = session.run(self.queries["server_components"]).single(strict=True).data()
        return {"name": row["name"], "version": row["versions"][0], "edition": row["edition"]}

    def apply_schema(self) -> list[str]:
        """Run every statement of cypher/schema.cypher (each is idempotent); return their names."""
        names = list(self.queries.by_file.get("schema", {}))
        for name in names:
            self.write(name)
        return names

    def run_autocommit(self, name: str, **params: Any) -> None:
        """Run a statement that manages its own transactions (``CALL … IN TRANSACTIONS``)."""
        with self.driver.session(database=self.database) as session:
            session.run(self.queries[name], params).consume()

    def stream(self, name: str, **params: Any):
        """Yield the records of a large read one by one, without holding them all in memory."""
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            for record in session.run(self.queries[name], params):
                yield _row(record)
