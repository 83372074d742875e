"""Claims and visit reports: the visitor's writes.

Each is one write transaction that first locks the household (``claim_lock``), decides
with ``access.decide`` from what it read under the lock, writes, and appends its audit
event in the same transaction — so two visitors claiming one household at once cannot
both win, and no write goes unrecorded. Every refusal raises ``errors.Refused``
(not_found, conflict, or invalid with the record layer's problems: graphsvc/records.py);
nothing is written then. The web layer alone turns refusals into HTTP answers.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit, records, suggest
from .errors import Refused
from .model import Actor
from .suggest import SHOWN_ACTION, suggested_since

if TYPE_CHECKING:
    import neo4j

    from .crypto import Keyring
    from .db import Database

CLAIM_DAYS = 14
REPORT_OUTCOMES = ("met", "not_home", "refused", "moved", "other")
EARLIEST = dt.date(2000, 1, 1)


def _not_found(household_id: str, why: str = "no such household") -> Refused:
    return Refused("not_found", why, "household_id", (household_id,))


@dataclass(frozen=True)
class ClaimResult:
    household_id: str
    claim_id: str
    expires_at: dt.datetime
    renewed: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _facts(row: Mapping[str, Any], subject: access.Subject) -> access.HouseholdFacts:
    holder = row["holder"]
    return access.HouseholdFacts(
        row["id"],
        row["district"],
        women_only=row["women_only"],
        # shown to them and still open; another visitor's claim is answered 409, not hidden
        suggested_to_subject=row["suggested"] and row["status"] == "active",
        claimed_by_subject=holder == subject.username,
        visited_by_subject=row["visited_by_subject"],
    )


def _may(db: Database, subject: access.Subject, household_id: str, action: str, now: dt.datetime) -> None:
    """Before anything is locked or written: may the subject do ``action`` on the household,
    as far as it can know? 404 otherwise, after the same work for an id that does not exist
    as for one out of reach (graphsvc/households.py ``facts``); the transaction decides
    again under the lock."""
    from .households import facts

    found = facts(db, subject, household_id, now, claiming=True) if len(household_id) <= 64 else None
    decision = access.decide(subject, action, found) if found is not None else None
    if not decision:
        raise _not_found(household_id, decision.why if decision is not None else "no such household")


def _locked(
    tx: neo4j.ManagedTransaction,
    db: Database,
    household_id: str,
    subject: access.Subject,
    now: dt.datetime,
    since: str,
    action: str,
) -> dict[str, Any]:
    """Lock the household and check the subject may do ``action`` on it (``since``: from
    ``suggested_since``); 404 otherwise (the caller may not learn that it exists)."""
    rows = db.run_in_tx(
        tx,
        "claim_lock",
        household_id=household_id,
        username=subject.username,
        now=now,
        suggested_since=since,
        shown_action=SHOWN_ACTION,
    )
    if not rows or not access.decide(subject, action, _facts(rows[0], subject)):
        raise _not_found(household_id)
    return rows[0]


def claim(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    household_id: str,
    days: int = CLAIM_DAYS,
    now: dt.datetime | None = None,
) -> ClaimResult:
    """Claim a household for ``days`` (or renew the subject's own claim). 409 when another
    visitor holds a live claim; only active households may be claimed."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
    since = suggested_since(db, now)
    expires = now + dt.timedelta(days=days)

    def work(tx: neo4j.ManagedTransaction) -> ClaimResult | None:
        row = _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CLAIM)
        if row["holder"] not in (None, subject.username):
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="household.claim",
                targets=[household_id],
                outcome="denied",
                detail="held by another visitor",
            )
            return None
        if row["status"] != "active":
            raise Refused(
                "conflict",
                f"the household is {row['status']}; it cannot be claimed",
                "household_id",
                (household_id,),
                code="not_active",
            )
        if row["holder"] == subject.username:
            db.run_in_tx(tx, "claim_extend", claim_id=row["claim_id"], expires_at=expires)
            claim_id, renewed = row["claim_id"], True
        else:
            claim_id, renewed = "c-" + secrets.token_hex(8), False
            db.run_in_tx(
                tx,
                "claim_create",
                household_id=household_id,
                username=subject.username,
                claim_id=claim_id,
                now=now,
                expires_at=expires,
            )
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.claim",
            targets=[household_id, claim_id],
            detail=f"until {expires.date().isoformat()}" + ("; renewed" if renewed else ""),
        )
        return ClaimResult(household_id, claim_id, expires, renewed)

    result = db.write_tx(work)
    if result is None:
        raise Refused("conflict", "held by another visitor", "household_id", (household_id,), code="claimed")
    return result


def release(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, now: dt.datetime | None = None
) -> str:
    """End the subject's live claim on a household; 404 when they hold none."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
    since = suggested_since(db, now)

    def work(tx: neo4j.ManagedTransaction) -> str:
        _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CLAIM)
        ended = db.run_in_tx(
            tx, "claim_end", household_id=household_id, username=subject.username, now=now, ended_by="release"
        )
        if not ended:
            raise Refused("not_found", "no claim of theirs on it", "household_id", (household_id,), code="no_claim")
        claim_id: str = ended[0]["id"]
        audit.append_in_tx(tx, db, **actor.event(), action="household.release", targets=[household_id, claim_id])
        return claim_id

    return db.write_tx(work)


# --- visit reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    household_id: str
    visited_on: dt.date
    outcome: str
    materials: str | None
    notes: str | None
    follow_up_on: dt.date | None


def parse_report(body: Any, today: dt.date) -> Report:
    """A report's fields (named as in visits.csv, without id and visitor) through the record
    layer, plus what a report adds: not in the future, not before EARLIEST, an outcome a
    visitor reports. Refused("invalid") with every problem (the first names the field)."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = records.visit(body, with_id=False, strict=True)
    v = checked.values
    on = v.get("visited_on")
    if on is not None and on > today:
        checked.problem("visited_on", "in_future", value=on)
    elif on is not None and on < EARLIEST:
        checked.problem("visited_on", "too_early", value=on, earliest=EARLIEST)
    if v.get("outcome") is not None and v["outcome"] not in REPORT_OUTCOMES:
        checked.problem("outcome", "bad_choice", value=repr(v["outcome"]), choices=", ".join(REPORT_OUTCOMES))
    if not checked.ok:
        first = checked.problems[0]
        raise Refused("invalid", first.english(), first.field, problems=tuple(checked.problems))
    return Report(v["household_id"], v["visited_on"], v["outcome"], v["materials"], v["notes"], v["follow_up_on"])


def report(
    db: Database, keyring: Keyring, subject: access.Subject, actor: Actor, body: Any, now: dt.datetime | None = None
) -> str:
    """Record a visit: checks, then in one transaction the visit (notes encrypted), the
    end of the reporter's claim, the household's status when it moved, the derived visit
    summary and the audit event. Returns the visit id."""
    if not access.role_may(subject, access.VISIT_REPORT):
        raise _not_found(str(body.get("household_id")) if isinstance(body, Mapping) else "-", "not for this role")
    now = now or _now()
    since = suggested_since(db, now)
    parsed = parse_report(body, now.date())
    _may(db, subject, parsed.household_id, access.VISIT_REPORT, now)
    visit_id = "v-" + secrets.token_hex(8)
    notes = keyring.encrypt(parsed.notes, "Visit", visit_id, "notes") if parsed.notes else None

    def work(tx: neo4j.ManagedTransaction) -> str:
        row = _locked(tx, db, parsed.household_id, subject, now, since, access.VISIT_REPORT)
        if row["holder"] not in (None, subject.username):
            raise Refused("conflict", "held by another visitor", "household_id", (parsed.household_id,), code="claimed")
        db.run_in_tx(
            tx,
            "visit_create",
            household_id=parsed.household_id,
            username=subject.username,
            id=visit_id,
            visited_on=parsed.visited_on,
            outcome=parsed.outcome,
            materials=parsed.materials,
            notes=notes,
            follow_up_on=parsed.follow_up_on,
            now=now,
        )
        ended = db.run_in_tx(
            tx, "claim_end", household_id=parsed.household_id, username=subject.username, now=now, ended_by="visit"
        )
        if parsed.outcome == "moved":
            db.run_in_tx(tx, "household_set_moved", household_id=parsed.household_id)
        suggest.refresh_visit_summary_in_tx(tx, db, [parsed.household_id])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="visit.report",
            targets=[parsed.household_id, visit_id] + [e["id"] for e in ended],
            detail=f"{parsed.outcome}" + ("; household moved" if parsed.outcome == "moved" else ""),
        )
        return visit_id

    return db.write_tx(work)


def history(db: Database, username: str, limit: int = 200) -> dict[str, Any]:
    rows = db.read("visitor_history", username=username, limit=limit)
    return rows[0] if rows else {"visits": [], "claims": []}
