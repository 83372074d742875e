"""Bounded waits: a deadline per web request, and a breaker while Neo4j is away.

A web request runs under a ``Budget`` (``begin``/``end`` around it). Its transactions get at
most the time left (Neo4j's own transaction timeout ends one that runs past it), no
transaction starts once the deadline has passed, and a transaction that fails for a
transient reason (a lost connection, a deadlock, a leader switch) is tried again, after a
short sleep, only while time is left: the request answers, or fails with ``Unavailable``
(503 and Retry-After), within its deadline. The driver's own retries are off in such a
process (graphsvc/db.py ``Database.connect(bounded=True)``): they follow a backoff of 1, 2,
4 … 16 s that does not know any deadline.

A long route (``Budget(ends_at=None)``: maps, imports, exports; graphsvc/slots.py limits
them) has no deadline of its own: its transactions keep their class's timeouts, and only the
retries of one failed transaction are bounded (``retry_window`` seconds).

When Neo4j stops answering (refused or lost connections), the ``Breaker`` opens: requests
then fail at once instead of each waiting out its retries and holding a worker thread, and
one request at a time, every ``probe_every`` seconds, tries the server again; the first
success closes it. So the service is back within about a second of Neo4j being back, and
/healthz and /readyz always find a free thread.

The command line has no budget and no breaker: it waits for the driver's retries.
"""

from __future__ import annotations

import contextvars
import fcntl
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from neo4j.exceptions import DatabaseUnavailable, DriverError, IncompleteCommit, Neo4jError, ServiceUnavailable

#: Seconds a client is told to wait (Retry-After) when the database is away or the deadline passed.
RETRY_AFTER = 2


class Unavailable(Exception):
    """The database could not be reached within the request's time: nothing was committed by
    the transaction that failed (a commit whose fate is unknown raises IncompleteCommit)."""

    def __init__(self, why: str, retry_after: int = RETRY_AFTER):
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


@dataclass
class Budget:
    """The time of one request. ``ends_at`` (time.monotonic) None: no deadline (a long route)."""

    ends_at: float | None
    retry_window: float
    committed: bool = False  # a write of this request has committed (a later failure must not say "nothing changed")

    def left(self) -> float | None:
        return None if self.ends_at is None else self.ends_at - time.monotonic()


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("graphsvc_budget", default=None)


def begin(seconds: float | None, retry_window: float, since: float | None = None) -> contextvars.Token[Budget | None]:
    """Start the budget of a request: ``seconds`` to answer (None: no deadline) from
    ``since`` (time.monotonic: when the server queued it; default now)."""
    ends_at = None if seconds is None else (since or time.monotonic()) + seconds
    return _budget.set(Budget(ends_at, retry_window))


def end(token: contextvars.Token[Budget | None]) -> None:
    _budget.reset(token)


def current() -> Budget | None:
    return _budget.get()


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is away (refused, lost, or its database not available),
    as opposed to a statement's own failure."""
    if isinstance(exc, IncompleteCommit):
        return False  # the connection was lost during a commit: the caller must learn that, unchanged
    return isinstance(exc, (ServiceUnavailable, DatabaseUnavailable)) or (
        isinstance(exc, DriverError) and type(exc).__name__ == "SessionExpired"
    )


@dataclass
class Breaker:
    """Open while Neo4j does not answer; see the module's docstring."""

    probe_every: float = 0.5
    # a lock file shared by the server's processes (gunicorn workers): one probe at a time
    # among all of them, so that a server that has just started is not planning the same
    # cold statements for each process at once
    lock_path: Path | None = None
    _open_since: float | None = None
    _last_try: float = 0.0
    _probing: bool = False
    _fd: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    def admit(self) -> bool:
        """Let this transaction try, or raise Unavailable at once while the breaker is open.
        While it is open, one transaction at a time is let through (the probe; True), and
        not sooner than ``probe_every`` seconds after the last one: a server that has just
        started is not flooded while its caches are cold, and the probe closes the breaker."""
        if self._open_since is None:
            return False
        with self._lock:
            now = time.monotonic()
            if self._probing or now - self._last_try < self.probe_every or not self._take_file():
                raise Unavailable("Neo4j is not answering")
            self._probing, self._last_try = True, now
            return True

    def _take_file(self) -> bool:
        if self.lock_path is None:
            return True
        self.lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def probed(self) -> None:
        """The probe let through by ``admit`` is over (closed or tripped the breaker, or failed otherwise)."""
        with self._lock:
            self._probing = False
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor releases its flock
                self._fd = None

    def trip(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._open_since is None:
                self._open_since = now
            self._last_try = now

    def close(self) -> None:
        if self._open_since is not None:
            with self._lock:
                self._open_since = None


def backoff(attempt: int) -> float:
    """The sleep before retry ``attempt`` (0, 1, …): 50 ms doubling to at most 1 s, with jitter."""
    return float(min(0.05 * 2.0**attempt, 1.0) * random.uniform(0.8, 1.2))


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, (DriverError, Neo4jError)) and exc.is_retryable()
