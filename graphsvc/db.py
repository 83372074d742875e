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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase, RoutingControl

from . import driverfix, idempotency, journal, neo4j_local, waits
from .config import Settings
from .journal import Journal

driverfix.install()  # the driver's at_eof must not spin (graphsvc/driverfix.py)

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
    retry on a taken seq). Seen about once in eight runs of 10 threads appending.

    When the transaction function had already turned that error into one of its own (a
    ``Taken`` idempotency key) the rollback's ResultFailedError replaces it: the function's
    error, which the rollback was raised while handling, is the one that counts. (A CI run
    answered 500 to one of eight requests sharing a key.)"""
    try:
        yield
    except neo4j.exceptions.ResultFailedError as exc:
        own = exc.__context__
        if own is not None and not isinstance(own, neo4j.exceptions.Neo4jError | neo4j.exceptions.DriverError):
            raise own  # noqa: B904 -- Python breaks the cycle the context would make
        if isinstance(exc.__cause__, neo4j.exceptions.Neo4jError):
            raise exc.__cause__ from exc
        raise


class Database:
    """One driver and the named statements; close it when done.

    Every session of the process, and ``execute_query``, share one bookmark manager (the
    driver's own): a read that follows a write, in this request or the next one this
    process serves, sees it on a cluster too (``neo4j://`` routing sends reads to other
    members). A bounded Database (the web's, ``connect(bounded=True)``) runs every
    transaction within the request's budget and behind a breaker (graphsvc/waits.py)."""

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
        breaker: waits.Breaker | None = None,
        retry_window: float = 8.0,
    ):
        self.driver = driver
        self.database = database
        self.queries = queries
        self.uri = uri
        self.journal = journal  # the audit journal of this database (audit.to_journal, audit.flush)
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self._prepared: dict[str, neo4j.Query] = {}
        self.breaker = breaker  # None: the driver retries as it likes (the command line)
        self.retry_window = retry_window  # seconds a failed transaction is retried, outside any budget
        self.bookmarks = driver.execute_query_bookmark_manager

    @classmethod
    def connect(cls, settings: Settings, bounded: bool = False, **driver_config: Any) -> Database:
        """A driver for ``settings``. ``bounded`` (the web app): the driver does not retry (a
        transaction is retried here, within the request's deadline), connects within 2 s, and
        waits for a pooled connection no longer than the deadline."""
        uri, auth = connection_params(settings)
        driver_config.setdefault("connection_timeout", 5)
        driver_config.setdefault("notifications_min_severity", "OFF")
        if bounded:
            driver_config.update(
                max_transaction_retry_time=-1,  # one attempt: the retries are _bounded's
                connection_timeout=min(2.0, settings.request_deadline),
                connection_acquisition_timeout=settings.request_deadline,
            )
        driver = GraphDatabase.driver(uri, auth=auth, **driver_config)
        return cls(
            driver,
            settings.neo4j_database,
            Queries(settings.cypher_dir, *settings.cypher_extra),
            uri,
            journal.at(settings.audit_journal, settings.audit_durability),
            dict(settings.tx_timeouts),
            waits.Breaker(lock_path=settings.state_dir / "slots" / "neo4j-probe.lock") if bounded else None,
            settings.request_deadline,
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

    def _work(self, work: Callable[..., T], timeout: float | None) -> Callable[..., T]:
        return neo4j.unit_of_work(timeout=timeout)(work) if timeout else work

    def _query(self, name: str, timeout: float | None) -> neo4j.Query:
        """The named statement with ``timeout`` (the prepared one when it is its class's own)."""
        if timeout == self.timeouts.get(self.queries.classes.get(name, "light")):
            return self.statement(name)
        return neo4j.Query(self.queries[name], timeout=timeout)

    def _bounded(self, attempt: Callable[[float | None], T], cls: str, write: bool = False) -> T:
        """``attempt(timeout)``: once with the class's timeout when unbounded (the driver
        retries inside); in a bounded Database, tried within the request's budget and behind
        the breaker (graphsvc/waits.py), with the timeout cut to the time left."""
        if self.breaker is None:
            return attempt(self.timeouts[cls])
        budget = waits.current()
        tries, window_end = 0, None
        while True:
            timeout = self.timeouts[cls]
            left = budget.left() if budget else None
            if left is not None:
                if left < 0.05:
                    raise waits.Unavailable("the request's deadline passed")
                timeout = left if timeout is None else min(timeout, left)
            probe = self.breaker.admit()
            try:
                result = attempt(timeout)
            except Exception as exc:
                if waits.connection_lost(exc):
                    self.breaker.trip()
                if probe:
                    self.breaker.probed()
                if not waits.retryable(exc):
                    raise
                now = time.monotonic()
                if window_end is None:
                    ends_at = budget.ends_at if budget else None
                    window_end = ends_at if ends_at is not None else now + (budget or self).retry_window
                delay = waits.backoff(tries)
                tries += 1
                if now + delay >= window_end:
                    raise waits.Unavailable(f"Neo4j did not answer in time: {exc}") from exc
                time.sleep(delay)
            else:
                self.breaker.close()
                if probe:
                    self.breaker.probed()
                if write and budget is not None:
                    budget.committed = True
                return result

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, name: str, params: dict[str, Any], routing: RoutingControl) -> neo4j.EagerResult:
        cls = self.queries.classes.get(name, "light")
        return self._bounded(
            lambda timeout: self.driver.execute_query(
                self._query(name, timeout), params, database_=self.database, routing_=routing
            ),
            cls,
            write=routing is RoutingControl.WRITE,
        )

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self._execute(name, params, RoutingControl.READ)
        return [_row(record) for record in records]

    def write(self, name: str, **params: Any) -> dict[str, int]:
        """Run one named statement in its own write transaction; return its update counters."""
        _, summary, _ = self._execute(name, params, RoutingControl.WRITE)
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
        records, _, _ = self._execute(name, params, RoutingControl.READ)
        return records[0][0] if records else None

    def without_journal(self) -> Database:
        """The same driver and statements, events recorded straight into the chain (no
        audit journal): for the command line's tools and benchmarks that compare both."""
        return Database(
            self.driver, self.database, self.queries, self.uri, None, self.timeouts, self.breaker, self.retry_window
        )

    def session(self, **config: Any) -> neo4j.Session:
        """A session of this database, with the process's bookmark manager."""
        return self.driver.session(database=self.database, bookmark_manager=self.bookmarks, **config)

    def write_tx(self, work: Callable[..., T], *args: Any, cls: str = "light", keyed: bool = True) -> T:
        """Run ``work(tx, *args)`` as one managed write transaction (retried; must be
        idempotent), within the timeout of ``cls``. ``keyed``: the request's Idempotency-Key,
        if any, is created in it (graphsvc/idempotency.py; False for the audit's own writes)."""
        if keyed and idempotency.CURRENT.get() is not None:
            work = idempotency.keyed(self, work)

        def attempt(timeout: float | None) -> T:
            done = False

            def whole(tx: neo4j.ManagedTransaction, *a: Any) -> T:
                nonlocal done
                result = work(tx, *a)
                done = True  # what fails from here on failed in the commit
                return result

            try:
                with self.session() as session, _server_error():
                    return session.execute_write(self._work(whole, timeout), *args)
            except neo4j.exceptions.Neo4jError as exc:
                if done and timed_out(exc):
                    # the timeout ended it during the commit: seen committed all the same
                    raise neo4j.exceptions.IncompleteCommit(f"the commit's outcome is unknown: {exc}") from exc
                raise

        result = self._bounded(attempt, cls, write=True)
        if keyed:
            idempotency.committed()
        return result

    def read_tx(self, work: Callable[..., T], *args: Any, cls: str = "light") -> T:
        def attempt(timeout: float | None) -> T:
            with self.session() as session, _server_error():
                return session.execute_read(self._work(work, timeout), *args)

        return self._bounded(attempt, cls)

    def ping(self, timeout: float = 2.0) -> dict[str, str]:
        """Raise at once if the server does not answer (no retries, not held back by the
        breaker; a failure opens it, but only a request's own success closes it: see
        waits.Breaker.admit); else its name, version, edition."""
        try:
            with self.session(default_access_mode=neo4j.READ_ACCESS) as session:
                row = session.run(neo4j.Query(self.queries["server_components"], timeout=timeout)).single(strict=True)
        except Exception as exc:
            if self.breaker is not None and waits.connection_lost(exc):
                self.breaker.trip()
            raise
        data = row.data()
        return {"name": data["name"], "version": data["versions"][0], "edition": data["edition"]}

    def apply_schema(self) -> list[str]:
        """Run every statement of graphsvc/cypher/schema.cypher (each is idempotent); return their names."""
        names = list(self.queries.by_file.get("schema", {}))
        for name in names:
            self.write(name)
        return names

    def run_autocommit(self, name: str, **params: Any) -> None:
        """Run a statement that manages its own transactions (``CALL … IN TRANSACTIONS``)."""
        if self.breaker is not None and self.breaker.admit():
            self.breaker.probed()
        with self.session() as session:
            session.run(self.statement(name), params).consume()

    def stream(self, name: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield the records of a large read one by one, without holding them all in memory."""
        if self.breaker is not None and self.breaker.admit():
            self.breaker.probed()
        with self.session(default_access_mode=neo4j.READ_ACCESS) as session:
            for record in session.run(self.statement(name), params):
                yield _row(record)


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is Neo4j ending a transaction that ran past its timeout (while it ran,
    or while it waited for a lock: LockClientStopped)."""
    code = getattr(exc, "code", None) or ""
    ended = "TransactionTimedOut" in code or "LockClientStopped" in code
    return isinstance(exc, neo4j.exceptions.Neo4jError) and ended
