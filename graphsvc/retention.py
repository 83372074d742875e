"""Retention: what is kept only for a while, and its removal on a schedule.

Two things age out (statements in ``cypher/retention.cypher``):

* **Visit notes** (``Visit.notes``, encrypted: graphsvc/crypto.py) of visits dated more than
  ``GRAPHSVC_RETAIN_NOTES_DAYS`` days ago (default 730, about two years; 0 keeps them for
  ever) are shredded: the ciphertext is removed, and the visit keeps ``notes_shredded_at``
  and ``notes_retained_days``, so that pages say "notes removed after 730 days" instead of
  showing nothing. The visit itself (date, outcome, materials, visitor) stays: the network's
  history and the overdue lists need it.
* **Audit details**: the client address (``ip``), the client program (``user_agent``) and
  the short ``detail`` text of audit events older than ``GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS``
  days (default 365; 0 keeps them for ever) are removed, while the chain keeps verifying:
  events of format 2 (graphsvc/audit.py, "Removable details") hash a salted digest of each
  of these values instead of the value. Who did what to which record, when, with what
  outcome and stated ``reason`` stays for ever: that is what the audit is for (the reason is
  the accountability of an identity read, and is kept). Events written before format 2
  (format 1) hash their details directly: they keep them.

Both run in batches of ``BATCH`` rows, each in a transaction of its own (no huge
transaction), each batch first taking a lock node, so that runs in several processes at once
take turns. A run that removes anything appends one audit event per kind:
``retention.notes`` (targets: the visits' ids, when there are at most ``MAX_TARGETS``; a
larger run lists none, and its detail gives the count, while each visit carries the run's
``notes_shredded_at``) and ``retention.audit_details`` (no targets: the detail names the
range of events). A run that removes nothing writes nothing.

``run`` is called by ``graphsvc retention run`` and, once at start, by the web app in a
background thread (``start_in_background``), which never delays serving.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from . import audit

if TYPE_CHECKING:
    import neo4j

    from .config import Settings
    from .db import Database

_log = logging.getLogger(__name__)

BATCH = 1000  # rows (visits, or a range of audit seqs) per transaction
MAX_TARGETS = 1000  # a notes run shredding more lists no targets (the detail counts them)
# A run of the audit removal starts this many events below where the last one stopped: an
# event sealed from the audit journal may be a little older than one sealed before it, and
# the boundary of a run is drawn by time (nothing younger than the limit is touched).
OVERLAP = 1000
SYSTEM = {"actor": "system", "role": "system"}


@dataclass(frozen=True)
class Report:
    """What one run did."""

    notes_days: int  # 0: notes are kept for ever (nothing was done)
    notes_shredded: int
    audit_days: int  # 0: audit details are kept for ever
    audit_events: int  # events whose details were removed
    notes_event: int | None = None  # the seq of the run's retention.notes event
    audit_event: int | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """What the run did, in English, one line per kind (for the command line)."""
        if self.notes_days:
            notes = f"visit notes: {self.notes_shredded:,} older than {self.notes_days} days shredded"
            if self.notes_event:
                notes += f" (audit event {self.notes_event})"
        else:
            notes = "visit notes: kept for ever (GRAPHSVC_RETAIN_NOTES_DAYS=0)"
        if self.audit_days:
            details = (
                f"audit details: address, program and detail of {self.audit_events:,} events "
                f"older than {self.audit_days} days removed"
            )
            if self.audit_event:
                details += f" (audit event {self.audit_event})"
        else:
            details = "audit details: kept for ever (GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS=0)"
        return [notes, details]


def _days(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"retention: {name} must be a whole number of days >= 0, not {value!r}")
    return value


def shred_notes(
    db: Database,
    days: int,
    *,
    today: dt.date,
    actor: dict[str, Any] | None = None,
    batch: int = BATCH,
) -> tuple[int, int | None]:
    """Shred the notes of visits dated before ``today - days``; return (how many, the seq of
    the audit event, None when nothing was shredded). ``days`` 0: nothing is done."""
    if not _days(days, "the notes' days"):
        return 0, None
    before = today - dt.timedelta(days=days)
    now = dt.datetime.now(dt.UTC)

    def work(tx: neo4j.ManagedTransaction) -> list[str]:
        db.run_in_tx(tx, "retention_lock", id="notes", now=now)
        ids: list[str] = db.run_in_tx(tx, "retention_notes_batch", before=before, batch=batch, now=now, days=days)[0][
            "ids"
        ]
        return ids

    shredded: list[str] = []
    while True:
        ids = db.write_tx(work, cls="batch", keyed=False)
        shredded += ids
        if len(ids) < batch:
            break
    if not shredded:
        return 0, None
    many = len(shredded) > MAX_TARGETS
    seq = audit.append_now(
        db,
        **(actor or SYSTEM),
        action="retention.notes",
        targets=[] if many else shredded,
        detail=(
            f"{len(shredded)} visit notes dated before {before.isoformat()} (older than {days} days) shredded"
            + (f"; the visits are marked notes_shredded_at {audit.timestamp(now)}" if many else "")
        ),
    )
    return len(shredded), seq


def remove_audit_details(
    db: Database,
    days: int,
    *,
    now: dt.datetime | None = None,
    actor: dict[str, Any] | None = None,
    batch: int = BATCH,
) -> tuple[int, int | None]:
    """Remove the address, program and detail of format-2 audit events older than ``days``;
    return (how many events, the seq of the audit event, None when none). ``days`` 0:
    nothing is done. The chain keeps verifying (audit.py, "Removable details")."""
    if not _days(days, "the audit details' days"):
        return 0, None
    now = dt.datetime.now(dt.UTC) if now is None else now
    before = audit.timestamp(now - dt.timedelta(days=days))
    audit.flush(db)  # the journal's events first: the boundary is drawn over all of them
    heads = db.read("retention_audit_head")
    head = heads[0]["seq"] if heads else 0
    young = db.read("retention_audit_first_young", before=before)
    upto = (young[0]["seq"] - 1) if young and young[0]["seq"] is not None else head
    stamp = audit.timestamp()

    def work(tx: neo4j.ManagedTransaction, lo: int, hi: int) -> dict[str, Any]:
        db.run_in_tx(tx, "retention_lock", id="audit_details", now=stamp)
        row = db.run_in_tx(tx, "audit_retain_details", after=lo, upto=hi, before=before)[0]
        db.run_in_tx(tx, "retention_audit_mark", id="audit_details", seq=hi)
        return row

    through = db.write_tx(
        lambda tx: db.run_in_tx(tx, "retention_lock", id="audit_details", now=stamp)[0]["through_seq"],
        keyed=False,
    )
    lo = max(0, (through or 0) - OVERLAP)
    removed, first, last = 0, None, None
    while lo < upto:
        hi = min(lo + batch, upto)
        row = db.write_tx(work, lo, hi, cls="batch", keyed=False)
        if row["removed"]:
            removed += row["removed"]
            first = row["first"] if first is None else first
            last = row["last"]
        lo = hi
    if not removed:
        return 0, None
    seq = audit.append_now(
        db,
        **(actor or SYSTEM),
        action="retention.audit_details",
        detail=(
            f"address, program and detail of {removed} audit events older than {days} days "
            f"removed (events {first} to {last})"
        ),
    )
    return removed, seq


def run(
    db: Database,
    settings: Settings,
    *,
    actor: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
    batch: int = BATCH,
) -> Report:
    """Both retentions with the settings' limits (``now``: for tests; default the clock)."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC) if now is None else now
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    notes, notes_event = shred_notes(db, settings.retain_notes_days, today=today, actor=actor, batch=batch)
    events, audit_event = remove_audit_details(db, settings.retain_audit_detail_days, now=now, actor=actor, batch=batch)
    return Report(
        settings.retain_notes_days,
        notes,
        settings.retain_audit_detail_days,
        events,
        notes_event,
        audit_event,
        time.perf_counter() - started,
    )


def start_in_background(settings: Settings) -> threading.Thread:
    """Run retention once in a daemon thread with a driver of its own (the web app at start:
    serving never waits for it). A failure is logged, never raised."""

    def main() -> None:
        from .db import Database

        try:
            db = Database.connect(settings)
            try:
                db.apply_schema()
                report = run(db, settings)
            finally:
                db.close()
        except Exception as exc:  # serving goes on; the next start or `graphsvc retention run` tries again
            _log.warning("retention at start failed: %s", exc)
            return
        for line in report.lines():
            _log.info("retention at start: %s", line)

    thread = threading.Thread(target=main, name="graphsvc-retention", daemon=True)
    thread.start()
    return thread
