"""The Neo4j driver's lifecycle and the registry of named Cypher statements.

Every statement lives in a ``graphsvc/cypher/*.cypher`` file (package data) under a ``// name: <name>`` header
(like aiosql's ``-- name:``); Python refers to statements by name and passes values only
as parameters. One driver per process; ``read``/``write`` use the driver's managed
transactions, which retry transient failures.

>>> parse_cypher("// name: one\\n// The number one.\\nRETURN 1 AS n;\\n", "x.cypher")
{'one': 'RETURN 1 AS n'}
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase, RoutingControl

from . import idempotency, journal, neo4j_local
from .config import Settings
from .journal import Journal

T = TypeVar("T")

_NAME = re.compile(r"^//\s*name:\s*([a-z][a-z0-9_]*)\s*$")
_CLASS = re.compile(r"^//\s*(default )?class:\s*([a-z]+)\s*$")

#: How long a transaction may run, by the class of its statements (settings: GRAPHSVC_TX_TIMEOUT_*).
#: light: what a page needs of a few records; heavy: maps, lists, suggestions, the audit
#: log's pages (a runaway one ends instead of holding a core); batch: imports, exports,
#: re-encryption, refreshes (no limit: the command line waits for them). A statement's
#: class is a ``// class: heavy`` line in its header, else its file's ``// default class:``
#: line (before the first statement), else light.
CLASSES = ("light", "heavy", "batch")
DEFAULT_TIMEOUTS: dict[str, float | None] = {"light": 15.0, "heavy": 60.0, "batch": None}


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


def parse_classes(text: str, source: str) -> dict[str, str]:
    r"""The timeout class of each statement of one .cypher file (see CLASSES).

    >>> parse_classes("// default class: batch\n// name: a\nRETURN 1;\n// name: b\n// class: light\nRETURN 2;", "x")
    {'a': 'batch', 'b': 'light'}
    """
    default, name = "light", None
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _NAME.match(line.strip())
        if match:
            name = match.group(1)
            out[name] = default
            continue
        match = _CLASS.match(line.strip())
        if match:
            if match.group(2) not in CLASSES:
                raise CypherRegistryError(f"{source}: unknown class {match.group(2)!r} (one of {', '.join(CLASSES)})")
            if match.group(1):
                if name is not None:
                    raise CypherRegistryError(f"{source}: `// default class:` must come before the first statement")
                default = match.group(2)
            elif name is not None:
                out[name] = match.group(2)
    return out


class Queries:
    """All named statements of one or more folders of .cypher files, by name; files keep
    their order (folders in the order given, files sorted by name in each).

    The first folder holds the application's statements (``Settings.cypher_dir``); the
    others add statements for the tests and benchmarks (``Settings.cypher_extra``). A name,
    or a file name, that appears twice across them is an error, so that an added folder
    can never replace an application statement.
    """

    def __init__(self, folder: Path, *extra: Path) -> None:
        self.folder = folder
        self.folders: tuple[Path, ...] = (folder, *extra)
        self.by_file: dict[str, dict[str, str]] = {}
        self._all: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        for where in self.folders:
            if not where.is_dir():
                raise CypherRegistryError(f"no folder of Cypher statements at {where}")
            for path in sorted(where.glob("*.cypher")):
                text = path.read_text(encoding="utf-8")
                found = parse_cypher(text, path.name)
                for key in found:
                    if key in self._all:
                        raise CypherRegistryError(f"{path}: statement '{key}' is also named elsewhere")
                if path.stem in self.by_file:
                    raise CypherRegistryError(f"{path}: another folder has a file {path.name} too")
                self.by_file[path.stem] = found
                self._all.update(found)
                self.classes.update(parse_classes(text, path.name))

    def __getitem__(self, name: str) -> str:
        try:
            return self._all[name]
        except KeyError:
            folders = ", ".join(str(f) for f in self.folders)
            raise CypherRegistryError(f"no Cypher statement named '{name}' in {folders}") from None

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
    nodes, relationships or paths (the tests check every row read: ``Database.row_check``),
    so the recursive conversion of ``Record.data()`` is not needed: it costs about 1 ms per
    suggestions answer of a few hundred values.
    """
    row = dict(zip(record.keys(), record.values()))
    if Database.row_check is not None:
        Database.row_check(row)
    return row


@contextlib.contextmanager
def _server_error() -> Iterator[None]:
    """The server's error, not the driver's wrapper of it: when a statement fails while its
    rows are being read, the rollback may re-read that result and raise ResultFailedError
    "caused by" the real error (a ConstraintError that callers handle, e.g. audit.append_now's
    retry on a taken seq). Seen about once in eight runs of 10 threads appending."""
    try:
        yield
    except neo4j.exceptions.ResultFailedError as exc:
        if isinstance(exc.__cause__, neo4j.exceptions.Neo4jError):
            raise exc.__cause__ from exc
        raise


class Database:
    """One driver and the named statements; close it when done."""

    #: Called with every row read, when set (the tests set a check that no statement
    #: returns a node, relationship or path); None in the application.
    row_check: Callable[[dict[str, Any]], None] | None = None

    def __init__(
        self,
        driver: neo4j.Driver,
        database: str,
        queries: Queries,
        uri: str,
        journal: Journal | None = None,
        timeouts: dict[str, float | None] | None = None,
    ):
        self.driver = driver
        self.database = database
        self.queries = queries
        self.uri = uri
        self.journal = journal  # the audit journal of this database (audit.to_journal, audit.flush)
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._prepared: dict[str, neo4j.Query] = {}

    @classmethod
    def connect(cls, settings: Settings, **driver_config: Any) -> Database:
        uri, auth = connection_params(settings)
        driver_config.setdefault("connection_timeout", 5)
        driver_config.setdefault("notifications_min_severity", "OFF")
        driver = GraphDatabase.driver(uri, auth=auth, **driver_config)
        return cls(
            driver,
            settings.neo4j_database,
            Queries(settings.cypher_dir, *settings.cypher_extra),
            uri,
            journal.at(settings.audit_journal, settings.audit_durability),
            dict(settings.tx_timeouts),
        )

    def statement(self, name: str) -> neo4j.Query:
        """The named statement with the transaction timeout of its class."""
        query = self._prepared.get(name)
        if query is None:
            text = self.queries[name]
            query = self._prepared[name] = neo4j.Query(
                text, timeout=self.timeouts.get(self.queries.classes.get(name, "light"))
            )
        return query

    def _work(self, work: Callable[..., T], cls: str) -> Callable[..., T]:
        timeout = self.timeouts[cls]
        return neo4j.unit_of_work(timeout=timeout)(work) if timeout else work

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query(
            self.statement(name), params, database_=self.database, routing_=RoutingControl.READ
        )
        return [_row(record) for record in records]

    def write(self, name: str, **params: Any) -> dict[str, int]:
        """Run one named statement in its own write transaction; return its update counters."""
        _, summary, _ = self.driver.execute_query(
            self.statement(name), params, database_=self.database, routing_=RoutingControl.WRITE
        )
        return {k: v for k, v in vars(summary.counters).items() if isinstance(v, int) and v}

    def run_in_tx(self, tx: neo4j.ManagedTransaction, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named statement inside a caller's transaction function."""
        return [_row(record) for record in tx.run(self.queries[name], params)]

    def consume_in_tx(self, tx: neo4j.ManagedTransaction, name: str, **params: Any) -> None:
        """Run a named statement inside a caller's transaction, reading no rows (a batch write)."""
        tx.run(self.queries[name], params).consume()

    def first_value(self, name: str, **params: Any) -> Any:
        """The first value of the first record of a read, as the driver decoded it (no row
        dict): for statements that return one big list (the audit's verification pages)."""
        records, _, _ = self.driver.execute_query(
            self.statement(name), params, database_=self.database, routing_=RoutingControl.READ
        )
        return records[0][0] if records else None

    def without_journal(self) -> Database:
        """The same driver and statements, events recorded straight into the chain (no
        audit journal): for the command line's tools and benchmarks that compare both."""
        return Database(self.driver, self.database, self.queries, self.uri, None, self.timeouts)

    def write_tx(self, work: Callable[..., T], *args: Any, cls: str = "light", keyed: bool = True) -> T:
        """Run ``work(tx, *args)`` as one managed write transaction (retried; must be
        idempotent), within the timeout of ``cls``. ``keyed``: the request's Idempotency-Key,
        if any, is created in it (graphsvc/idempotency.py; False for the audit's own writes)."""
        if keyed and idempotency.CURRENT.get() is not None:
            work = idempotency.keyed(self, work)
        with self.driver.session(database=self.database) as session, _server_error():
            result = session.execute_write(self._work(work, cls), *args)
        if keyed:
            idempotency.committed()
        return result

    def read_tx(self, work: Callable[..., T], *args: Any, cls: str = "light") -> T:
        with self.driver.session(database=self.database) as session, _server_error():
            return session.execute_read(self._work(work, cls), *args)

    def ping(self) -> dict[str, str]:
        """Raise at once if the server does not answer (no retries); else its name, version, edition."""
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            row = session.run(self.queries["server_components"]).single(strict=True).data()
        return {"name": row["name"], "version": row["versions"][0], "edition": row["edition"]}

    def apply_schema(self) -> list[str]:
        """Run every statement of graphsvc/cypher/schema.cypher (each is idempotent); return their names."""
        names = list(self.queries.by_file.get("schema", {}))
        for name in names:
            self.write(name)
        return names

    def run_autocommit(self, name: str, **params: Any) -> None:
        """Run a statement that manages its own transactions (``CALL … IN TRANSACTIONS``)."""
        with self.driver.session(database=self.database) as session:
            session.run(self.statement(name), params).consume()

    def stream(self, name: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield the records of a large read one by one, without holding them all in memory."""
        with self.driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session:
            for record in session.run(self.statement(name), params):
                yield _row(record)


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is Neo4j ending a transaction that ran past its timeout."""
    code = getattr(exc, "code", None) or ""
    return isinstance(exc, neo4j.exceptions.Neo4jError) and "TransactionTimedOut" in code
