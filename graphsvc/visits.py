"""Claims and visit reports: the visitor's writes.

Each is one write transaction that first locks the household (``claim_lock``), decides
with ``access.decide`` from what it read under the lock, writes, and appends its audit
event in the same transaction — so two visitors claiming one household at once cannot
both win, and no write goes unrecorded. Every refusal raises ``VisitError`` with the HTTP
status the web layer answers and the field it concerns; nothing is written then.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from . import access, audit, model, records
from .importer import MAX_LEN, parse_materials
from .suggest import SHOWN_ACTION, suggested_since

CLAIM_DAYS = 14
REPORT_OUTCOMES = ("met", "not_home", "refused", "moved", "other")
EARLIEST = dt.date(2000, 1, 1)


class VisitError(Exception):
    """A refused claim or report: ``status`` (400, 404, 409), ``field`` (or None), ``message``."""

    def __init__(self, status: int, message: str, field: str | None = None, code: str = ""):
        super().__init__(message)
        self.status = status
        self.field = field
        self.code = code or {400: "invalid", 404: "not_found", 409: "claimed"}.get(status, "error")


@dataclass(frozen=True)
class ClaimResult:
    household_id: str
    claim_id: str
    expires_at: dt.datetime
    renewed: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _facts(row: Mapping[str, Any], subject: access.Subject) -> access.HouseholdFacts:
    holder = row["holder"]
    return access.HouseholdFacts(
        row["id"], row["district"], women_only=row["women_only"],
        # shown to them and still open; another visitor's claim is answered 409, not hidden
        suggested_to_subject=row["suggested"] and row["status"] == "active",
        claimed_by_subject=holder == subject.username,
        visited_by_subject=row["visited_by_subject"],
    )


def _may(db, subject: access.Subject, household_id: str, action: str, now: dt.datetime) -> None:
    """Before anything is locked or written: may the subject do ``action`` on the household,
    as far as it can know? 404 otherwise, after the same work for an id that does not exist
    as for one out of reach (graphsvc/households.py ``facts``); the transaction decides
    again under the lock."""
    from .households import facts

    found = facts(db, subject, household_id, now, claiming=True) if len(household_id) <= 64 else None
    if found is None or not access.decide(subject, action, found):
        raise VisitError(404, "no such household", "household_id")


def _locked(tx, db, household_id: str, subject: access.Subject, now: dt.datetime, since: str,
            action: str) -> dict:
    """Lock the household and check the subject may do ``action`` on it (``since``: from
    ``suggested_since``); 404 otherwise (the caller may not learn that it exists)."""
    rows = db.run_in_tx(tx, "claim_lock", household_id=household_id, username=subject.username, now=now,
                        suggested_since=since, shown_action=SHOWN_ACTION)
    if not rows or not access.decide(subject, action, _facts(rows[0], subject)):
        raise VisitError(404, "no such household", "household_id")
    return rows[0]


def claim(db, subject: access.Subject, actor: model.Actor, household_id: str,
          days: int = CLAIM_DAYS, now: dt.datetime | None = None) -> ClaimResult:
    """Claim a household for ``days`` (or renew the subject's own claim). 409 when another
    visitor holds a live claim; only active households may be claimed."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise VisitError(404, "no such household", "household_id")
    now = now or _now()
    _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
    since = suggested_since(db, now)
    expires = now + dt.timedelta(days=days)

    def work(tx):
        row = _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CLAIM)
        if row["holder"] not in (None, subject.username):
            audit.append(tx, db, **actor.event(), action="household.claim", targets=[household_id],
                         outcome="denied", detail="held by another visitor")
            return None
        if row["status"] != "active":
            raise VisitError(409, f"the household is {row['status']}; it cannot be claimed", "household_id",
                             "not_active")
        if row["holder"] == subject.username:
            db.run_in_tx(tx, "claim_extend", claim_id=row["claim_id"], expires_at=expires)
            claim_id, renewed = row["claim_id"], True
        else:
            claim_id, renewed = "c-" + secrets.token_hex(8), False
            db.run_in_tx(tx, "claim_create", household_id=household_id, username=subject.username,
                         claim_id=claim_id, now=now, expires_at=expires)
        audit.append(tx, db, **actor.event(), action="household.claim", targets=[household_id, claim_id],
                     detail=f"until {expires.date().isoformat()}" + ("; renewed" if renewed else ""))
        return ClaimResult(household_id, claim_id, expires, renewed)

    result = db.write_tx(work)
    if result is None:
        raise VisitError(409, "another visitor has claimed this household", "household_id")
    return result


def release(db, subject: access.Subject, actor: model.Actor, household_id: str,
            now: dt.datetime | None = None) -> str:
    """End the subject's live claim on a household; 404 when they hold none."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise VisitError(404, "no such household", "household_id")
    now = now or _now()
    _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
    since = suggested_since(db, now)

    def work(tx):
        _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CLAIM)
        ended = db.run_in_tx(tx, "claim_end", household_id=household_id, username=subject.username,
                             now=now, ended_by="release")
        if not ended:
            raise VisitError(404, "you hold no claim on this household", "household_id", "no_claim")
        audit.append(tx, db, **actor.event(), action="household.release", targets=[household_id, ended[0]["id"]])
        return ended[0]["id"]

    return db.write_tx(work)


# --- visit reports ---------------------------------------------------------------------

REPORT_FIELDS = ("household_id", "visited_on", "outcome", "materials", "notes", "follow_up_on")


@dataclass(frozen=True)
class Report:
    household_id: str
    visited_on: dt.date
    outcome: str
    materials: str | None
    notes: str | None
    follow_up_on: dt.date | None


def _date(body: Mapping[str, Any], name: str, required: bool) -> dt.date | None:
    raw = body.get(name)
    if raw in (None, ""):
        if required:
            raise VisitError(400, f"{name} is required (YYYY-MM-DD)", name)
        return None
    if not isinstance(raw, str):
        raise VisitError(400, f"{name} must be a date like 2026-03-01", name)
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise VisitError(400, f"{name} {raw!r} is not a date (YYYY-MM-DD)", name) from None


def _materials(raw: Any) -> str | None:
    """``"bible:1;hymnal:2"`` or ``{"bible": 1, "hymnal": 2}`` → canonical text."""
    if raw in (None, "", {}):
        return None
    if isinstance(raw, dict):
        parts = []
        for name, count in raw.items():
            if not isinstance(name, str) or isinstance(count, bool) or not isinstance(count, int):
                raise VisitError(400, "materials: item names with whole-number counts, e.g. {\"bible\": 1}",
                                 "materials")
            parts.append(f"{name}:{count}")
        raw = ";".join(parts)
    if not isinstance(raw, str) or records.text_problem(raw, 500):
        raise VisitError(400, "materials: text like bible:1;hymnal:2 or an object of counts", "materials")
    text, error = parse_materials(raw)
    if error:
        raise VisitError(400, error, "materials")
    return text


def parse_report(body: Any, today: dt.date) -> Report:
    """Check a report's fields (JSON names as in visits.csv); VisitError(400, field) on the first bad one."""
    if not isinstance(body, Mapping):
        raise VisitError(400, "a JSON object is expected")
    unknown = sorted(set(body) - set(REPORT_FIELDS))
    if unknown:
        raise VisitError(400, f"unknown field {unknown[0]!r}", unknown[0])
    household_id = body.get("household_id")
    if not isinstance(household_id, str) or not household_id.strip() or records.text_problem(household_id, 64):
        raise VisitError(400, "household_id is required", "household_id")
    visited_on = _date(body, "visited_on", True)
    if visited_on > today:
        raise VisitError(400, f"visited_on {visited_on} is in the future", "visited_on")
    if visited_on < EARLIEST:
        raise VisitError(400, f"visited_on {visited_on} is before {EARLIEST}", "visited_on")
    outcome = body.get("outcome")
    canonical = model.normalise(model.VISIT_OUTCOME, outcome) if isinstance(outcome, str) else None
    if canonical not in REPORT_OUTCOMES:
        raise VisitError(400, f"outcome must be one of: {', '.join(REPORT_OUTCOMES)}", "outcome")
    materials = _materials(body.get("materials"))
    notes = body.get("notes")
    if isinstance(notes, str):
        notes = notes.strip()  # as the importer reads every cell: the same text both ways
    if notes in (None, ""):
        notes = None
    elif (problem := records.text_problem(notes, MAX_LEN["notes"])) is not None:
        raise VisitError(400, f"notes {problem}", "notes")
    follow_up_on = _date(body, "follow_up_on", False)
    if follow_up_on is not None and follow_up_on < visited_on:
        raise VisitError(400, f"follow_up_on {follow_up_on} is before visited_on {visited_on}", "follow_up_on")
    return Report(household_id.strip(), visited_on, canonical, materials, notes, follow_up_on)


def report(db, keyring, subject: access.Subject, actor: model.Actor, body: Any,
           now: dt.datetime | None = None, after_write=None) -> str:
    """Record a visit: checks, then in one transaction the visit (notes encrypted), the
    end of the reporter's claim, the household's status when it moved, the derived visit
    summary (``after_write(tx, household_id)``) and the audit event. Returns the visit id."""
    if not access.role_may(subject, access.VISIT_REPORT):
        raise VisitError(404, "no such household", "household_id")
    now = now or _now()
    since = suggested_since(db, now)
    parsed = parse_report(body, now.date())
    _may(db, subject, parsed.household_id, access.VISIT_REPORT, now)
    visit_id = "v-" + secrets.token_hex(8)
    notes = keyring.encrypt(parsed.notes, "Visit", visit_id, "notes") if parsed.notes else None

    def work(tx):
        row = _locked(tx, db, parsed.household_id, subject, now, since, access.VISIT_REPORT)
        if row["holder"] not in (None, subject.username):
            raise VisitError(409, "another visitor has claimed this household", "household_id")
        db.run_in_tx(tx, "visit_create", household_id=parsed.household_id, username=subject.username,
                     id=visit_id, visited_on=parsed.visited_on, outcome=parsed.outcome,
                     materials=parsed.materials, notes=notes, follow_up_on=parsed.follow_up_on, now=now)
        ended = db.run_in_tx(tx, "claim_end", household_id=parsed.household_id, username=subject.username,
                             now=now, ended_by="visit")
        if parsed.outcome == "moved":
            db.run_in_tx(tx, "household_set_moved", household_id=parsed.household_id)
        if after_write is not None:
            after_write(tx, parsed.household_id)
        audit.append(tx, db, **actor.event(), action="visit.report",
                     targets=[parsed.household_id, visit_id] + [e["id"] for e in ended],
                     detail=f"{parsed.outcome}" + ("; household moved" if parsed.outcome == "moved" else ""))
        return visit_id

    return db.write_tx(work)


def history(db, username: str, limit: int = 200) -> dict:
    rows = db.read("visitor_history", username=username, limit=limit)
    return rows[0] if rows else {"visits": [], "claims": []}
