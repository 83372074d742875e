"""Writes that may be retried: the ``Idempotency-Key`` of a request (the IETF draft "The
Idempotency-Key HTTP Header Field"), kept per user for 24 hours.

The rule that makes a retry safe even when the first answer was lost (a crash, a dropped
connection, an ``IncompleteCommit``): **a key exists in the database iff the write of
its request committed.** The web layer (web/idem.py) puts the request's key in
``CURRENT`` (a context variable) while the view runs; ``Database.write_tx`` calls
``create_in_tx`` at the start of the request's first write transaction, so the key is
created, or rolled back, together with what the request writes. A refusal commits nothing,
so it leaves no key: a retry runs again. After the view returned, its answer (status,
body, Location) is stored on the key (``store_answer``) to be replayed.

A retry with the key then finds either the answer (replayed), or no answer yet: the first
request is still running (answered 409 with Retry-After) or its answer was lost (the write
is done; answered "already done"). A transaction that creates a key another transaction
is creating waits for it, then fails on the constraint (``Taken``): exactly one writes.

No Flask here: the fingerprint of a request is made from its parts by the web layer.

>>> key_problem("8e03978e-40d5-43e8-bc93-6894a57f9324") is None
True
>>> key_problem("") , key_problem("a" * 256), key_problem("é")
('empty', 'too_long', 'not_printable')
>>> fingerprint("POST", "/x", {"b": ["2"], "a": ["1"]}) == fingerprint("POST", "/x", {"a": ["1"], "b": ["2"]})
True
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import neo4j.exceptions

if TYPE_CHECKING:
    import neo4j

    from .crypto import Keyring
    from .db import Database

KEEP = dt.timedelta(hours=24)  # how long a key is kept (the draft's "expiry")
MAX_LENGTH = 255
#: A key found without an answer this soon after its write committed: the first request
#: is still finishing (409, Retry-After); older: its answer was lost ("already done").
IN_FLIGHT = dt.timedelta(seconds=10)
MAX_BODY = 256 * 1024  # answers larger than this are not stored (a retry is told "already done")
PURGE_BATCH = 200
T = TypeVar("T")
LABEL = "IdempotencyKey"  # the label and the encryption context of a stored answer


def key_problem(key: str) -> str | None:
    """What is wrong with a key as sent, or None: 1 to 255 printable ASCII characters."""
    if not key:
        return "empty"
    if len(key) > MAX_LENGTH:
        return "too_long"
    if not all(" " <= c <= "~" for c in key):
        return "not_printable"
    return None


def parse_header(value: str) -> str:
    """The key of an ``Idempotency-Key`` header: the draft's sf-string (``"…"``) or the
    bare token many clients send."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request's fingerprint: method, path and its body in a canonical form (JSON with
    sorted keys; the caller leaves out the CSRF token and the key itself)."""
    text = json.dumps([method.upper(), path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Pending:
    """The key of the request being served (``CURRENT``); ``written`` once its first write
    transaction, which created the key, committed."""

    owner: str
    key: str
    fingerprint: str
    method: str
    path: str
    id: str = ""
    written: bool = False
    #: a job of many transactions that completes when run again (an import): its key is made
    #: after it succeeded (``create_after``), not in its first transaction
    deferred: bool = False


CURRENT: contextvars.ContextVar[Pending | None] = contextvars.ContextVar("graphsvc_idempotency", default=None)


class Taken(Exception):
    """Another request with the same key committed first (this one wrote nothing)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_in_tx(tx: neo4j.ManagedTransaction, db: Database, pending: Pending | None = None) -> None:
    """Called by ``Database.write_tx`` at the start of each write transaction: the request's
    key is created in its first one (not again once that committed). Raises ``Taken`` when
    another request created the key first."""
    pending = pending or CURRENT.get()
    if pending is None or pending.written or pending.deferred:
        return
    now = _now()
    pending.id = pending.id or "ik-" + secrets.token_hex(8)
    try:
        db.run_in_tx(
            tx,
            "idempotency_create",
            id=pending.id,
            owner=pending.owner,
            key=pending.key,
            fingerprint=pending.fingerprint,
            method=pending.method,
            path=pending.path[:300],
            now=now,
            expires_at=now + KEEP,
        )
    except neo4j.exceptions.ConstraintError as exc:
        raise Taken(pending.key) from exc


def keyed(db: Database, work: Callable[..., T]) -> Callable[..., T]:
    """``work`` that first creates the request's key in its transaction (``create_in_tx``)."""

    @functools.wraps(work)
    def run(tx: neo4j.ManagedTransaction, *args: Any) -> T:
        create_in_tx(tx, db)
        return work(tx, *args)

    return run


def create_after(db: Database, pending: Pending) -> bool:
    """Make the key of a ``deferred`` request once it succeeded; False when a twin made it."""
    ready = Pending(pending.owner, pending.key, pending.fingerprint, pending.method, pending.path)
    try:
        db.write_tx(create_in_tx, db, ready, keyed=False)
    except Taken:
        return False
    pending.id, pending.written = ready.id, True
    return True


def committed() -> None:
    """Called by ``Database.write_tx`` after a write transaction committed."""
    pending = CURRENT.get()
    if pending is not None and not pending.deferred:  # a deferred key is made by create_after
        pending.written = True


@dataclass(frozen=True)
class Found:
    """A live key: the fingerprint of its request and its answer, if stored."""

    id: str
    fingerprint: str
    created_at: dt.datetime
    status: int | None
    content_type: str | None
    location: str | None
    body: str | None
    lost: bool = False  # its request failed after the write (``mark_lost``)

    def in_flight(self, now: dt.datetime | None = None) -> bool:
        """No answer yet, and its write committed moments ago: the first is still finishing."""
        return self.status is None and not self.lost and (now or _now()) - self.created_at < IN_FLIGHT


def find(db: Database, keyring: Keyring, owner: str, key: str, now: dt.datetime | None = None) -> Found | None:
    """The owner's live key (its answer decrypted), or None."""
    rows = db.read("idempotency_find", owner=owner, key=key, now=now or _now())
    if not rows:
        return None
    row = rows[0]
    body = keyring.decrypt(row["body"], LABEL, row["id"], "body") if row["body"] else None
    return Found(
        row["id"],
        row["fingerprint"],
        row["created_at"].to_native(),
        row["status"],
        row["content_type"],
        row["location"],
        body,
        row["lost"],
    )


def store_answer(
    db: Database,
    keyring: Keyring,
    pending: Pending,
    status: int,
    content_type: str | None,
    location: str | None,
    body: str,
) -> None:
    """Keep the first answer on the key (a body too large is left out), then purge a batch
    of expired keys."""
    now = _now()
    sealed = keyring.encrypt(body, LABEL, pending.id, "body") if len(body) <= MAX_BODY else None
    db.write(
        "idempotency_answer",
        id=pending.id,
        status=status if sealed is not None or not body else None,
        content_type=content_type,
        location=location,
        body=sealed,
        now=now,
    )
    purge(db, now)


def mark_lost(db: Database, pending: Pending) -> None:
    """The request failed after its write may have committed (``IncompleteCommit``, or an
    error after the commit): its key, if the commit happened, will never get an answer."""
    db.write("idempotency_lost", owner=pending.owner, key=pending.key)


def purge(db: Database, now: dt.datetime | None = None, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys; how many."""
    return db.write("idempotency_purge", now=now or _now(), limit=limit).get("nodes_deleted", 0)
