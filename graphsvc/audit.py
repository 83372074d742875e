"""The audit log: an append-only, hash-chained record of every access to personal data.

Events
------
Each event is one ``(:AuditEvent)`` node with these properties (statements in
``cypher/audit.cypher``):

==============  =========================================================================
``seq``         1, 2, 3, … without gaps (unique: the schema's constraint ``audit_event_seq``)
``at``          UTC time of the append, ``2026-11-25T01:02:03.123456Z`` (always this form,
                so that string order is time order)
``actor``       username, ``-`` for anonymous, ``system`` or ``cli:<os user>``
``role``        the actor's role (optional)
``action``      short dotted name: ``household.read``, ``login.failure``, ``import``
``targets``     list of string ids that were shown or changed (may be empty)
``outcome``     ``ok``, ``denied``, ``failure`` or ``error``
``ip``          client address (optional)
``user_agent``  client program (optional)
``reason``      an admin's stated reason for reading identity fields (optional)
``detail``      short non-personal text, e.g. ``12 rows`` (optional)
``prev``        the previous event's ``hash`` (64 zeros for event 1)
``format``      2 for events written since retention (below); absent in older events
``salt``        format 2, when the event has an ip, user_agent or detail: 32 random hex digits
``ip_digest``,  format 2: the salted digest of ``ip``, ``user_agent`` and ``detail``, each
``user_agent_digest``, ``detail_digest``   present when that value was given
``hash``        see below
==============  =========================================================================

Callers pass ids only, never personal data. Optional fields that are None are not stored
(Neo4j stores no nulls), and so they are not part of the hashed content either.

The hash chain (canonical form)
-------------------------------
The *content* of an event is the map of all its stored properties except ``hash`` — the
fields above including ``seq`` and ``prev``, with the optional fields that are None left
out — and, in format 2, except the removable values ``ip``, ``user_agent``, ``detail`` and
their ``salt`` (their digests are in it instead: see "Removable details"). Its canonical
serialisation is::

    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

(keys sorted by code point, no whitespace, non-ASCII characters as themselves, integers in
decimal, ``targets`` a JSON array of strings in stored order), and::

    hash = sha256((prev + canonical).encode("utf-8")).hexdigest()     # lower-case hex

where ``prev`` is the previous event's hash (``"0" * 64`` for event 1). ``seq`` and ``prev``
are inside the content, so renumbering or re-linking an event changes its hash.

The head ``(:AuditHead {id: 'head', seq, hash, journal, journal_mac})`` holds the newest
event's seq and hash (and the id and mac of the last audit journal line shipped) and is
updated in the same transaction as every append, so that deleting the newest events is
detectable. It is the only node in the log that is ever updated; no code path sets,
removes or deletes anything on an event (tests/test_audit.py scans every .cypher file),
with one exception: retention's removal of removable details (below).

Removable details (format 2)
----------------------------
The client address, the client program and the ``detail`` text are needed for a while (a
lost phone, an alert) but not for ever; who did what to which record, when, with what
outcome and stated reason is the log's purpose and stays. So an event of format 2 keeps
each of ``ip``, ``user_agent`` and ``detail`` beside its hashed content, and the content
holds its digest instead::

    <name>_digest = sha256(f"{salt}\x1f{name}\x1f{value}".encode("utf-8")).hexdigest()

with one ``salt`` per event (``secrets.token_hex(16)``), stored beside the values and not
hashed. Retention (graphsvc/retention.py, after GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS) removes
the values and the salt together with ONE statement (``audit_retain_details`` in
retention.cypher, the only statement that changes an event): the digests stay in the
content, so the hash still verifies, and without the salt a short value (an address)
cannot be found again by hashing every possible one. ``verify`` accepts an event of format
2 with either all of its values present, with the salt, each matching its digest, or none
of them and no salt; anything else (a value edited, one removed without the others, a value
and its digest removed, the salt without values) names the event. Removing all of an
event's details early by hand cannot be told from retention: that is the point of them
being removable. Events written before format 2 (no ``format``) hash their details
directly, keep them, and verify as before.

Appending
---------
``append(tx, db, **event)`` appends inside the caller's write transaction, so that a write
and its audit event commit or fail together. It first *writes* the head (``SET
h.locked_at``), which takes the head's write lock: concurrent appends queue there until the
holder commits, then read the committed seq and hash. ``append_now(db, **event)`` appends in
a transaction of its own; both raise when the event cannot be written (callers fail closed).
``log(db, **event)`` puts a request's event in the audit journal (graphsvc/journal.py),
from which ``flush`` seals batches of events into the chain with ``audit_append_batch``;
everything that reads the log flushes first.

The very first append creates the head. Without a uniqueness constraint on
``AuditHead.id`` two first-ever appends can both create one; the unique ``seq`` then lets
only one commit and the other fails with a ConstraintError (``append_now`` retries it; a
caller's own transaction sees it raised). Once the head exists, the lock serialises.
If the head is deleted, every later append fails (its seq 1 is taken): fail closed.

Verifying
---------
``verify(db)`` reads the head, then every event in seq order in pages of 10,000 (one
record per page, each event a plain list of its fields), fetched by two threads ahead of
the checking, checks a format-2 event's details against their digests, recomputes each
hash, checks each ``prev`` against the previous hash and the seq against 1, 2, 3 …,
compares the newest event with the head, and counts AuditEvent nodes outside the sequence.
It stops at the first problem and names that event.

What verification proves — and what it does not
-----------------------------------------------
``verify(db)`` recomputes the whole chain and names the first event that was edited,
deleted, re-ordered or renumbered with Cypher directly in the database, and notices the
newest events being deleted (the head says more). Someone who can write to the database
and recomputes *every* later hash and the head can rewrite history so that the chain alone
shows nothing: it makes tampering evident only against a head hash known from before.
Signed checkpoints are that knowledge (graphsvc/checkpoints.py): ``graphsvc audit
checkpoint`` signs the head with a key outside the database into a file outside it, and
``verify(db, seqs=…)`` notes the hashes of the checkpoints' events on its walk, so that
``graphsvc audit verify --checkpoints FILE`` names the first checkpoint the chain no longer
passes through. Events after the newest checkpoint remain unprotected: checkpoint often.

The audit journal's own lines (journal.py) are chained with an HMAC whose key is not in the
database either, and the head keeps the last shipped line's mac (``journal_mac``), so that a
journal line edited, deleted, reordered or inserted before it ships becomes an
``audit.journal_damaged`` event naming it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import neo4j
from neo4j.exceptions import ConstraintError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .db import Database
    from .journal import Journal, Line, Shipment

_log = logging.getLogger(__name__)

ZERO_HASH = "0" * 64

#: All stored fields of an event, in export order (``prev`` and ``hash`` last).
FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "targets",
    "outcome",
    "ip",
    "user_agent",
    "reason",
    "detail",
    "prev",
    "hash",
)
OUTCOMES = ("ok", "denied", "failure", "error")

#: The event format written now (see "Removable details" in the module docstring). Events
#: without a ``format`` property are of format 1: their details are hashed as they are.
FORMAT = 2
#: The fields of a format-2 event whose values may be removed (graphsvc/retention.py), each
#: with the property holding its salted digest (part of the hashed content).
REMOVABLE = ("ip", "user_agent", "detail")
DIGESTS = {"ip": "ip_digest", "user_agent": "user_agent_digest", "detail": "detail_digest"}
#: Every property an event may have, in the order the append statements take them.
STORED = (*FIELDS[:-2], "format", "salt", "ip_digest", "user_agent_digest", "detail_digest", *FIELDS[-2:])

ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
MAX_ACTION = 64
MAX_TARGET = 200
MAX_REASON = 1000
# Values a client controls (a typed username, its address, its User-Agent) are cut to length
# rather than refused: an over-long header must not make the audit (and so the request) fail.
MAX_ACTOR = 200
MAX_IP = 64
MAX_USER_AGENT = 256
MAX_DETAIL = 200
MAX_LIMIT = 100_000

_NO_SEQ_LIMIT = 2**62  # "before_seq = None": above every seq
_APPEND_ATTEMPTS = 5  # append_now(): retries when two first-ever appends race to create the head
VERIFY_PAGE = 10_000  # events per page read by verify


def _no_default(value: Any) -> Any:
    raise TypeError(f"audit: {type(value).__name__} is not part of an event")


def _make_canonical() -> Callable[[dict[str, Any]], str]:
    """json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False), fast.

    json.dumps builds a new encoder on every call; verify encodes a million events, so this
    builds CPython's C encoder once (the very encoder json.dumps uses, without the circular
    reference check, which event maps do not need). tests/test_audit.py checks that both
    give the same text. Falls back to the JSONEncoder where there is no C encoder.
    """
    from json import encoder

    std: Any = encoder  # its C accelerators (c_make_encoder, c_encode_basestring) are not in typeshed
    options: dict[str, Any] = dict(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_no_default)
    if std.c_make_encoder is None or std.c_encode_basestring is None:
        return json.JSONEncoder(**options).encode
    chunks = std.c_make_encoder(
        None, _no_default, std.c_encode_basestring, None, ":", ",", True, False, True
    )  # sort_keys, skipkeys, allow_nan
    join = "".join

    def encode(content: dict[str, Any]) -> str:
        return join(chunks(content, 0))

    return encode


_canonical = _make_canonical()


class AuditError(RuntimeError):
    """The audit log could not be written (the caller must fail closed)."""


# --- the chain -----------------------------------------------------------------------------


def canonical(content: dict[str, Any]) -> str:
    """The canonical serialisation of an event's content: its stored fields but ``hash``
    (and, in format 2, but the removable values and their ``salt``: hashed_content)."""
    return _canonical(hashed_content(content))


def hashed_content(props: dict[str, Any]) -> dict[str, Any]:
    """The part of an event's stored properties that its hash covers (None values left out):
    all but ``hash``; in format 2 also without the removable values and their ``salt``,
    whose salted digests are in the content instead."""
    drop = _NOT_HASHED_V2 if props.get("format") == FORMAT else _NOT_HASHED_V1
    return {k: v for k, v in props.items() if k not in drop and v is not None}


_NOT_HASHED_V1 = frozenset({"hash"})
_NOT_HASHED_V2 = frozenset({"hash", "salt", *REMOVABLE})


def value_digest(salt: str, name: str, value: str) -> str:
    """The digest of a removable field's value: sha256 of the event's salt, the field's name
    and the value, separated by U+001F, as lower-case hex. The salt (random, 128 bits) is
    removed with the values, so that a short value (an address) cannot be found from its
    digest by trying every possible one."""
    return hashlib.sha256(f"{salt}\x1f{name}\x1f{value}".encode()).hexdigest()


def event_hash(prev: str, content: dict[str, Any]) -> str:
    """sha256(prev + canonical(content)) as lower-case hex."""
    return hashlib.sha256((prev + canonical(content)).encode("utf-8")).hexdigest()


def timestamp(when: dt.datetime | None = None) -> str:
    """UTC ISO-8601 with microseconds and ``Z``: ``2026-11-25T01:02:03.123456Z``."""
    when = dt.datetime.now(dt.UTC) if when is None else _utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)  # naive datetimes are taken as UTC
    return when.astimezone(dt.UTC)


def _cut(value: Any, limit: int, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"audit: {name} must be a string, not {type(value).__name__}")
    return value[:limit]


def is_target(value: object) -> bool:
    """Whether ``value`` can be an event's target: a non-empty string id of at most
    MAX_TARGET characters (what a caller typed may be neither)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_TARGET


def _fields(
    actor: Any, action: Any, outcome: Any, role: Any, targets: Any, ip: Any, user_agent: Any, reason: Any, detail: Any
) -> dict[str, Any]:
    """Check and normalise the caller's fields (without seq, at, prev, hash)."""
    actor = _cut(actor, MAX_ACTOR, "actor")
    if not actor:
        raise ValueError("audit: actor is required ('-' for anonymous)")
    if not isinstance(action, str) or len(action) > MAX_ACTION or not ACTION_RE.match(action):
        raise ValueError(f"audit: action must be a short dotted name like 'household.read', not {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"audit: outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if targets is None:
        targets = []
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Iterable):
        raise ValueError("audit: targets must be a list of string ids")
    targets = list(targets)
    for target in targets:
        if not is_target(target):
            raise ValueError(f"audit: every target must be a non-empty string id, not {target!r}")
    if reason is not None:
        if not isinstance(reason, str):
            raise ValueError("audit: reason must be a string")
        reason = reason.strip()
        if len(reason) > MAX_REASON:
            raise ValueError(f"audit: a reason is at most {MAX_REASON} characters")
        reason = reason or None
    return {
        "actor": actor,
        "role": _cut(role, MAX_ACTOR, "role"),
        "action": action,
        "targets": targets,
        "outcome": outcome,
        "ip": _cut(ip, MAX_IP, "ip"),
        "user_agent": _cut(user_agent, MAX_USER_AGENT, "user_agent"),
        "reason": reason,
        "detail": _cut(detail, MAX_DETAIL, "detail"),
    }


def _seal(seq: int, at: str, prev: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The event as stored (format 2, None fields left out): its hashed content, the
    removable values beside their digests with the event's salt, and its hash."""
    content = {k: v for k, v in fields.items() if v is not None and k not in REMOVABLE}
    content.update(seq=seq, at=at, prev=prev, format=FORMAT)
    values = {k: fields[k] for k in REMOVABLE if fields.get(k) is not None}
    if values:
        salt = secrets.token_hex(16)
        for name, value in values.items():
            content[DIGESTS[name]] = value_digest(salt, name, value)
    digest = hashlib.sha256((prev + _canonical(content)).encode("utf-8")).hexdigest()
    if values:
        content.update(values, salt=salt)
    content["hash"] = digest
    return content


def chain_events(
    events: Iterable[dict[str, Any]], start_seq: int = 1, prev: str = ZERO_HASH
) -> Iterator[dict[str, Any]]:
    """Number and chain ready-made events (each with ``at`` and the fields of ``append_in_tx``).

    For the benchmark and test fixtures, which insert many events at once with the bench
    statements of audit.cypher; the application appends with ``append_in_tx``/``append_now`` only.
    Yields the stored maps (with seq, prev, hash); the last one's seq and hash go in the head.
    """
    seq = start_seq
    for event in events:
        event = dict(event)
        at = event.pop("at")
        at = timestamp(at) if isinstance(at, dt.datetime) else at
        sealed = _seal(
            seq,
            at,
            prev,
            _fields(
                **{
                    k: event.get(k)
                    for k in ("actor", "action", "outcome", "role", "targets", "ip", "user_agent", "reason", "detail")
                }
            ),
        )
        yield sealed
        prev = sealed["hash"]
        seq += 1


# --- appending -----------------------------------------------------------------------------


def append_in_tx(
    tx: neo4j.ManagedTransaction,
    db: Database,
    *,
    actor: str,
    action: str,
    outcome: str = "ok",
    role: str | None = None,
    targets: Iterable[str] = (),
    ip: str | None = None,
    user_agent: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> int:
    """Append one event inside the caller's write transaction; return its seq.

    Locks the head first (concurrent appends wait for each other), so the event commits or
    rolls back with the caller's other writes. Raises ValueError for malformed fields and
    AuditError when the log cannot be extended.
    """
    fields = _fields(actor, action, outcome, role, targets, ip, user_agent, reason, detail)
    seq: int = _append_locked(tx, db, fields)["seq"]
    return seq


def _checked(
    *,
    actor: str,
    action: str,
    outcome: str = "ok",
    role: str | None = None,
    targets: Iterable[str] = (),
    ip: str | None = None,
    user_agent: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """append_in_tx()'s keyword checks for append_now(): unknown fields raise TypeError."""
    return _fields(actor, action, outcome, role, targets, ip, user_agent, reason, detail)


def _lock_head(tx: neo4j.ManagedTransaction, db: Database) -> tuple[int, str, str | None, str | None]:
    """Lock the head in the caller's transaction; return its seq, its hash, and the id and
    mac of the last journal line the chain took (None before the first shipment)."""
    rows = db.run_in_tx(tx, "audit_lock_head", zeros=ZERO_HASH, now=timestamp())
    if len(rows) != 1:
        raise AuditError(f"audit: expected one audit head, found {len(rows)}")
    head_seq, head_hash = rows[0]["seq"], rows[0]["hash"]
    if type(head_seq) is not int or head_seq < 0 or not isinstance(head_hash, str) or len(head_hash) != 64:
        raise AuditError("audit: the audit head is damaged; run `verify`")
    journal_mac = rows[0]["journal_mac"]
    return head_seq, head_hash, rows[0]["journal"], journal_mac if isinstance(journal_mac, str) else None


def _seq_taken(exc: ConstraintError) -> AuditError:
    return AuditError(
        "audit: the next seq is taken already (the audit head is missing or behind "
        f"the newest event); run `verify`: {exc.message}"
    )


def _append_locked(tx: neo4j.ManagedTransaction, db: Database, fields: dict[str, Any]) -> dict[str, Any]:
    """Lock the head, append the sealed event after it, and return that event."""
    head_seq, head_hash, _, _ = _lock_head(tx, db)
    # The time is taken after the lock, so that time order follows seq order.
    event = _seal(head_seq + 1, timestamp(), head_hash, fields)
    created = db.run_in_tx(tx, "audit_append_event", event=event)
    if len(created) != 1:
        raise AuditError("audit: the event was not written")
    return event


# The newest (seq, hash) this process saw commit, per database: append_now() first tries to
# append right after it in ONE statement (no separate lock-and-read round trip). The
# statement checks the head still holds that seq and hash; if another process appended
# meanwhile it changes nothing and the normal append runs in the same transaction. Two
# appends that both pass the check cannot both commit: the second one's seq collides on
# the uniqueness constraint and is retried the normal way.
_last_seen: dict[int, tuple[int, str]] = {}
_last_seen_lock = threading.Lock()


def _fast_work(
    tx: neo4j.ManagedTransaction, db: Database, fields: dict[str, Any], head: tuple[int, str] | None
) -> tuple[int, str]:
    if head is not None:
        sealed = _seal(head[0] + 1, timestamp(), head[1], fields)
        if db.run_in_tx(tx, "audit_append_after", event=sealed, seq=head[0], hash=head[1]):
            return sealed["seq"], sealed["hash"]
    event = _append_locked(tx, db, fields)
    return event["seq"], event["hash"]


def append_now(db: Database, **event: Any) -> int:
    """Append one event in a write transaction of its own; return its seq. Raises on failure.

    The driver retries transient errors (deadlocks, lost leaders). A ConstraintError means
    another transaction took the same seq (a stale fast path, or two first-ever appends
    creating the head): retried on the normal path a few times, then raised as AuditError.
    """
    key = id(db)
    fields = _checked(**event)
    flush(db)  # what the journal holds was recorded earlier: it goes first
    for attempt in range(_APPEND_ATTEMPTS):
        with _last_seen_lock:
            head = _last_seen.get(key) if attempt == 0 else None
        try:
            seq, digest = db.write_tx(_fast_work, db, fields, head, keyed=False)
        except ConstraintError as exc:
            if attempt == _APPEND_ATTEMPTS - 1:
                raise _seq_taken(exc) from exc
            time.sleep(0.01 * (attempt + 1))
            continue
        with _last_seen_lock:
            if seq > _last_seen.get(key, (0, ""))[0]:
                _last_seen[key] = (seq, digest)
        return seq
    raise AssertionError("unreachable")


# --- the journal (graphsvc/journal.py) ------------------------------------------------------

_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def to_journal(db: Database, **event: Any) -> None:
    """Put one event on record before returning; raise AuditError if it cannot.

    With a journal (every Database made from settings has one) the event is appended to it
    (as durably as the journal's ``durability`` says) and reaches the chain with the next
    shipment: about 0.12 ms here, against 1.5–3 ms for a transaction of its own
    (journal.py). Without one, it is appended to the chain at once (``append_now``).
    For events that are not part of a write: a write appends its event in its own
    transaction (``append_in_tx``).
    """
    journal = getattr(db, "journal", None)
    if journal is None:
        append_now(db, **event)
        return
    fields = _checked(**event)
    journal.append({"id": secrets.token_hex(12), **{k: v for k, v in fields.items() if v is not None}})


def flush(db: Database) -> int:
    """Move every event the journal holds into the chain now; return how many.

    Everything that reads the log calls this first. Raises AuditError when the chain cannot
    take them (they stay in the journal).
    """
    journal: Journal | None = getattr(db, "journal", None)
    if journal is None or not journal.pending_bytes():
        return 0
    return journal.ship(lambda lines: _deliver(db, lines))


def _flush_for_reading(db: Database) -> None:
    """flush() before the log is read; when the chain refuses the events, read it anyway
    (verify names the damage; the events wait in the journal)."""
    try:
        flush(db)
    except AuditError as exc:
        _log.warning("%s", exc)


def _journal_fields(line: Line) -> tuple[str, str, dict[str, Any]] | None:
    """A journal line's (id, time, checked fields); None when it is not a well-formed event."""
    try:
        record = dict(line.record)  # type: ignore[arg-type]  # None (not an event) raises TypeError: caught below
        line_id, at = record.pop("id"), record.pop("at")
        if not isinstance(line_id, str) or not isinstance(at, str) or not _AT_RE.match(at):
            raise ValueError("id or at")
        return line_id, at, _checked(**record)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _notice(action: str, outcome: str, detail: str) -> dict[str, Any]:
    return _fields("system", action, outcome, None, [], None, None, None, detail)


def _deliver(db: Database, shipment: Shipment) -> tuple[str | None, str | None]:
    """Check a batch of journal lines against the head (journal.Shipment.check), seal their
    events and the notices about damaged lines after it, and commit them in one transaction.
    Returns the head's new journal id and journal mac (the anchor of the journal's new file)."""

    def work(tx: neo4j.ManagedTransaction) -> tuple[str | None, str | None]:
        seq, prev, taken, taken_mac = _lock_head(tx, db)
        checked = shipment.check(taken, taken_mac)
        events = []

        def add(at: str, fields: dict[str, Any]) -> None:
            nonlocal seq, prev
            sealed = _seal(seq + 1, at, prev, fields)
            events.append({name: sealed.get(name) for name in STORED})
            seq, prev = sealed["seq"], sealed["hash"]

        steps = [(step, _journal_fields(step.line) if step.ship else None) for step in checked.steps]
        unauthenticated = sum(1 for step, event in steps if event and step.line.kind == "legacy" and not step.problem)
        if unauthenticated:
            add(
                timestamp(),
                _notice(
                    "audit.journal_unauthenticated",
                    "ok",
                    f"the next {unauthenticated} journal line(s) were written by an older version "
                    "without a MAC: shipped unauthenticated",
                ),
            )
        for step, event in steps:
            line = step.line
            if line.kind == "unreadable" or (step.ship and event is None):
                add(
                    timestamp(),
                    _notice(
                        "audit.journal_damaged",
                        "error",
                        f"an unreadable journal line of {len(line.raw)} bytes"
                        + (f" (line {line.id}: {step.problem})" if step.problem else ""),
                    ),
                )
                continue
            if step.problem:
                shipped = f"; its event is {seq + 2}" if event else ""
                add(
                    timestamp(),
                    _notice("audit.journal_damaged", "error", f"journal line {line.name}: {step.problem}{shipped}"),
                )
            if event:
                add(event[1], event[2])
        if events:
            db.run_in_tx(
                tx,
                "audit_append_batch",
                events=events,
                seq=seq,
                hash=prev,
                journal=checked.last_id,
                journal_mac=checked.last_mac,
            )
        return checked.last_id, checked.last_mac

    try:
        return db.write_tx(work, keyed=False)
    except ConstraintError as exc:
        raise _seq_taken(exc) from exc


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int  # events read: all of them when ok, else up to and including the first bad one
    first_bad_seq: int | None  # the first event that was edited, deleted or moved, if known
    problem: str | None  # one sentence naming that event; None when ok
    seconds: float
    head_seq: int | None = None  # the head as read at the start (what a checkpoint signs)
    head_hash: str | None = None
    # {seq: hash} of the events asked for with ``verify(db, seqs=…)`` that the walk passed
    # through (all of them when ok; up to the first bad event otherwise)
    hashes: dict[int, str] = field(default_factory=dict)


def _read_head(db: Database) -> tuple[int, str] | None:
    rows = db.read("audit_head")
    if not rows:
        return None
    if len(rows) > 1:
        raise _Bad(None, f"there are {len(rows)} audit heads (there must be one)")
    seq, hsh = rows[0]["seq"], rows[0]["hash"]
    if type(seq) is not int or not isinstance(hsh, str):
        raise _Bad(None, "the head is damaged (its seq or hash is not a number or a hash)")
    return seq, hsh


class _Bad(Exception):
    def __init__(self, seq: int | None, problem: str, count: int = 0):
        super().__init__(problem)
        self.seq, self.problem, self.count = seq, problem, count


def _check_chain(
    pages: Iterable[list[list[Any]]], marks: Iterable[int] | dict[int, str], seen: dict[int, str] | None = None
) -> tuple[int, int, dict[int, str]]:
    """Walk the events oldest first; raise _Bad at the first problem.

    Each event comes as the list of audit_verify_page: its twelve content fields in FIELDS
    order, its hash, its number of stored properties (so that an added property is noticed
    too), then its format and, in format 2, its salt and the digests of ip, user_agent and
    detail. Returns (count, last seq, {seq: hash} for the seqs in ``marks``), the latter
    filled into ``seen`` as the walk goes (so that a caller keeps it when the walk stops
    early). This loop is the hot path of verify (a million events): one dict, one JSON
    encoding and one SHA-256 per event, plus one short SHA-256 per detail value present.
    """
    sha256 = hashlib.sha256
    encode = _canonical
    prev_hash = ZERO_HASH
    expected = 1
    count = 0
    seen = {} if seen is None else seen
    for page in pages:
        for (
            seq,
            at,
            actor,
            role,
            action,
            targets,
            outcome,
            ip,
            user_agent,
            reason,
            detail,
            prev,
            stored,
            n_props,
            fmt,
            salt,
            ip_digest,
            user_agent_digest,
            detail_digest,
        ) in page:
            count += 1
            if seq != expected or type(seq) is not int:
                raise _Bad(*_misplaced(seq, expected), count)
            # The content as stored: required fields always (a removed one shows as null and
            # cannot match), optional ones when present — the same map as hashed_content().
            content = {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "targets": targets,
                "outcome": outcome,
                "prev": prev,
            }
            if role is not None:
                content["role"] = role
            if reason is not None:
                content["reason"] = reason
            if fmt == FORMAT:
                content["format"] = fmt
                try:
                    extra = _check_details(
                        seq, salt, ip, user_agent, detail, ip_digest, user_agent_digest, detail_digest
                    )
                except _Bad as bad:
                    raise _Bad(bad.seq, bad.problem, count) from None
                if ip_digest is not None:
                    content["ip_digest"] = ip_digest
                if user_agent_digest is not None:
                    content["user_agent_digest"] = user_agent_digest
                if detail_digest is not None:
                    content["detail_digest"] = detail_digest
            else:  # format 1 (or a format property edited: the hash cannot match)
                extra = 0
                if fmt is not None:
                    content["format"] = fmt
                if ip is not None:
                    content["ip"] = ip
                if user_agent is not None:
                    content["user_agent"] = user_agent
                if detail is not None:
                    content["detail"] = detail
            n_expected = len(content) + 1 + extra
            if prev != prev_hash:
                raise _Bad(*_unlinked(seq, prev, stored, content, n_props == n_expected), count)
            if n_props != n_expected or stored != sha256((prev + encode(content)).encode()).hexdigest():
                raise _Bad(seq, f"event {seq} was edited (its hash does not match its content)", count)
            if seq in marks:
                seen[seq] = stored
            prev_hash = stored
            expected += 1
    return count, expected - 1, seen


def _check_details(
    seq: int,
    salt: Any,
    ip: Any,
    user_agent: Any,
    detail: Any,
    ip_digest: Any,
    user_agent_digest: Any,
    detail_digest: Any,
) -> int:
    """A format-2 event's removable values against their digests; return how many stored
    properties they and the salt make. Either every value whose digest is in the content is
    there, with the salt, and matches its digest; or none of them is, nor the salt (removed
    together by retention: graphsvc/retention.py). Anything else raises _Bad."""
    if salt is None:
        if ip is None and user_agent is None and detail is None:
            return 0
        raise _Bad(seq, f"event {seq} was edited (it has details but not their salt)")
    if not isinstance(salt, str):
        raise _Bad(seq, f"event {seq} was edited (its salt is not a string)")
    n = 1
    for name, value, digest in (
        ("ip", ip, ip_digest),
        ("user_agent", user_agent, user_agent_digest),
        ("detail", detail, detail_digest),
    ):
        if value is None and digest is None:
            continue
        if value is None:
            raise _Bad(seq, f"event {seq} was edited (its {name} was removed without the rest of its details)")
        if not isinstance(value, str) or digest != value_digest(salt, name, value):
            raise _Bad(seq, f"event {seq} was edited (its {name} does not match its digest)")
        n += 1
    if n == 1:
        raise _Bad(seq, f"event {seq} was edited (it has a salt but no details)")
    return n


class _Pages:
    """The events oldest first, as pages fetched ahead of the checking by two threads.

    Events 1 … head seq (known before reading) are fetched as independent seq ranges of
    ``page`` numbers, several at a time, so that the server reads and sends the next pages
    while this process decodes and hashes the current one. Whatever lies beyond the head
    (events appended meanwhile, or forged ones) is then read by keyset paging until a short
    page. Pages come out in seq order; ``close`` stops the fetching early.
    """

    AHEAD = 3  # pages requested ahead of the one being checked

    def __init__(self, db: Database, head_seq: int, page: int) -> None:
        self._db, self._head_seq, self._page = db, head_seq, page
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="audit-verify")

    def _fetch(self, after: Any, before: Any) -> list[list[Any]]:
        events: list[list[Any]] = self._db.first_value("audit_verify_page", after=after, before=before, page=self._page)
        return events

    def __iter__(self) -> Iterator[list[list[Any]]]:
        pending: deque[tuple[Future[list[list[Any]]], int]] = deque()  # (future, the seq its range ends below)
        after = 0
        planned = 0
        while True:  # the ranges up to the head, fetched in parallel
            while planned < self._head_seq and len(pending) <= self.AHEAD:
                pending.append(
                    (self._pool.submit(self._fetch, planned, planned + self._page + 1), planned + self._page)
                )
                planned += self._page
            if not pending:
                break
            future, end = pending.popleft()
            events = future.result()
            # Everything up to ``end`` was read, except past the head known before: events
            # beyond it may have been committed after this range was read (keyset paging
            # goes on from the last one read, else from the head).
            after = end if end <= self._head_seq else max(self._head_seq, events[-1][0] if events else 0)
            if not events:
                # A whole range is empty: the head says more than there is (or a wide gap).
                # Drop what was planned beyond it; keyset paging finds whatever follows.
                for rest, _ in pending:
                    rest.cancel()
                pending.clear()
                break
            yield events
        while True:  # beyond: keyset paging until a short page
            events = self._fetch(after, _NO_SEQ_LIMIT)
            if events:
                yield events
            if len(events) < self._page:
                return
            after = events[-1][0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _misplaced(seq: Any, expected: int) -> tuple[int, str]:
    before = expected - 1
    if type(seq) is not int:
        return expected, f"event {expected} was renumbered or edited (an event has the seq {seq!r})"
    if seq > expected:
        if expected == 1:
            which = "event 1 is missing" if seq == 2 else f"events 1 to {seq - 1} are missing"
            return 1, f"{which} (the log starts at event {seq})"
        which = f"event {expected} is missing" if seq == expected + 1 else f"events {expected} to {seq - 1} are missing"
        return expected, f"{which} (sequence jumps from {before} to {seq})"
    return seq, f"events out of order at {seq} (seq {seq} comes again after event {before})"


def _unlinked(seq: int, prev: Any, stored: Any, content: dict[str, Any], all_props: bool) -> tuple[int, str]:
    """The event's prev is not its predecessor's hash: which event was tampered with?
    (``all_props``: the event has exactly the properties its content says.)"""
    intact = (
        isinstance(prev, str)
        and all_props
        and stored == hashlib.sha256((prev + _canonical(content)).encode("utf-8")).hexdigest()
    )
    if intact and seq > 1:
        # The event is exactly as written, but its predecessor's hash changed: the predecessor
        # was edited and its own hash recomputed to match (the chain still remembers the old one).
        return seq - 1, (
            f"event {seq - 1} was edited (its hash was recomputed, but event {seq}'s prev still holds the original)"
        )
    if seq == 1:
        return 1, "event 1 was edited or replaced (its prev is not the start of the chain)"
    # Neither its link nor its own hash fits its place: content moved here from elsewhere
    # (swapped or renumbered events) or its prev was rewritten.
    return seq, f"events out of order at {seq} (its prev does not match event {seq - 1}'s hash)"


def verify(db: Database, page: int = VERIFY_PAGE, seqs: Iterable[int] = ()) -> VerifyResult:
    """Read every event ordered by seq, recompute the chain, compare with the head.

    Events are read in pages of ``page`` (keyset paging on seq, one record per page) and
    checked as they arrive; the first problem ends the walk. Safe to run while events are
    appended: the head is read before and after the walk, and events appended meanwhile are
    checked when the walk reaches them. The journal is flushed first, so that the walk
    covers every event recorded so far (when it cannot be, the walk shows why).
    ``seqs``: events whose hashes the walk notes on its way (``VerifyResult.hashes``): the
    signed checkpoints that the chain must pass through (graphsvc/checkpoints.py).
    """
    started = time.perf_counter()
    _flush_for_reading(db)
    head = None
    count = 0
    seen: dict[int, str] = {}
    wanted = set(seqs)
    try:
        head = _read_head(db)
        if head:
            wanted.add(head[0])
        pages = _Pages(db, head[0] if head else 0, page)
        try:
            count, last, seen = _check_chain(pages, wanted, seen)
        finally:
            pages.close()
        _check_head(db, head, count, last, seen)
    except _Bad as bad:
        return VerifyResult(
            False,
            bad.count or count,
            bad.seq,
            bad.problem,
            time.perf_counter() - started,
            *cast("tuple[int | None, str | None]", head or (None, None)),
            hashes=seen,
        )
    return VerifyResult(
        True,
        count,
        None,
        None,
        time.perf_counter() - started,
        *cast("tuple[int | None, str | None]", head or (None, None)),
        hashes=seen,
    )


def hash_at(db: Database, seq: int) -> str | None:
    """The stored hash of event ``seq``, None when there is no such event (one index read)."""
    rows = db.read("audit_event_hash", seq=seq)
    return rows[0]["hash"] if rows else None


def _check_head(db: Database, head: tuple[int, str] | None, count: int, last: int, seen: dict[int, str]) -> None:
    after = _read_head(db)
    if head is None:
        if after is None:
            if count:
                raise _Bad(None, "the head is missing", count)
            return
        head = (0, ZERO_HASH)  # the first event was appended while we read
    if after is None:
        raise _Bad(None, "the head is missing", count)
    head_seq, head_hash = head
    if last < head_seq:
        raise _Bad(last + 1, f"the newest event(s) after {last} were deleted (the head says {head_seq})", count)
    if last > after[0]:
        raise _Bad(
            after[0] + 1,
            f"event {after[0] + 1} is not covered by the head (the head says "
            f"{after[0]}): the head was moved back or events were added beside the log",
            count,
        )
    if head_seq == 0:
        if head_hash != ZERO_HASH:
            raise _Bad(None, "the head was edited (it has a hash but no events)", count)
    elif seen.get(head_seq) != head_hash:
        raise _Bad(head_seq, f"event {head_seq} was edited (its hash does not match the head's)", count)
    counts = db.read("audit_verify_counts", last=last)[0]
    unnumbered = counts["total"] - count - counts["later"]
    if unnumbered > 0:
        raise _Bad(
            None,
            f"{unnumbered} audit event node(s) are outside the sequence (no seq, or one "
            "that is not a number above 0): renumbered, or added beside the log",
            count,
        )


# --- reading -------------------------------------------------------------------------------


def _bound(value: Any, end: bool) -> str | None:
    """A since/until filter as an ``at`` string: datetimes as they are (naive = UTC); a date
    means its whole day (since: from its midnight; until: up to the next midnight)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                dt.date.fromisoformat(text)
                if len(text) == 10
                else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            raise ValueError(f"audit: not a date or date-time: {value!r}") from None
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, dt.date):
        if end and value == dt.date.max:
            return None  # until the end of time: no bound
        day = value + dt.timedelta(days=1) if end else value
        return timestamp(dt.datetime(day.year, day.month, day.day))
    raise ValueError(f"audit: since/until must be a date or datetime, not {type(value).__name__}")


def _filters(
    actor: str | None,
    target: str | None,
    action: str | None,
    outcome: str | None,
    since: dt.date | dt.datetime | str | None,
    until: dt.date | dt.datetime | str | None,
) -> dict[str, Any]:
    if action is not None and not isinstance(action, str):
        raise ValueError("audit: action must be a string")
    prefix = action if action and action.endswith(".") else None
    return {
        "actor": actor,
        "target": target,
        "action": None if prefix else (action or None),
        "action_prefix": prefix,
        "outcome": outcome,
        "since": _bound(since, end=False),
        "until": _bound(until, end=True),
    }


def _row(props: dict[str, Any]) -> dict[str, Any]:
    return {field: props.get(field) for field in FIELDS}


def query(
    db: Database,
    actor: str | None = None,
    target: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.date | dt.datetime | str | None = None,
    until: dt.date | dt.datetime | str | None = None,
    limit: int = 500,
    before_seq: int | None = None,
) -> list[dict[str, Any]]:
    """Events newest first (each a dict of FIELDS), all given filters combined with AND.

    ``target``: the id is one of the event's targets. ``action``: exact, or a prefix when it
    ends with a dot (``household.``). ``since`` is inclusive and ``until`` exclusive; a date
    stands for its whole day (until 2026-11-25 includes that day). ``before_seq``: only events
    older than that seq (paging: pass the last seq of the previous page).
    """
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"audit: limit must be a whole number from 1 to {MAX_LIMIT}")
    if before_seq is not None and type(before_seq) is not int:
        raise ValueError("audit: before_seq must be a whole number")
    params = _filters(actor, target, action, outcome, since, until)
    _flush_for_reading(db)
    params.update(limit=limit, before_seq=_NO_SEQ_LIMIT if before_seq is None else before_seq)
    name = "audit_query_actor" if actor is not None else "audit_query"
    return [_row(row["event"]) for row in db.read(name, **params)]


def export_rows(
    db: Database,
    actor: str | None = None,
    target: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.date | dt.datetime | str | None = None,
    until: dt.date | dt.datetime | str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events oldest first (dicts of FIELDS), streamed, with the filters of ``query``."""
    params = _filters(actor, target, action, outcome, since, until)
    _flush_for_reading(db)
    for row in db.stream("audit_export", **params):
        yield _row(row["event"])
