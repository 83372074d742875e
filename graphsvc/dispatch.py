"""The coordinator's desk: who visits which household, and the follow-ups that are due.

**Assignments.** A coordinator (of the household's district) or an admin gives a household
to a visitor with a reason: it becomes that visitor's claim (``(:Claim {assigned_by,
reason})``, cypher/visits.cypher), so that nobody else claims it, the visitor sees it first
in their list (``assignments``) and may open its contact (access.HOUSEHOLD_CONTACT_READ).

- An assignment lasts ``days`` (GRAPHSVC_ASSIGN_DAYS, 30 by default: longer than a
  visitor's own claim of 14, because the coordinator planned it) and ends like a claim: the
  visit's report, a release by the coordinator (``unassign``), a reassignment, or the
  visitor's ``decline`` (with a reason, which the coordinator reads on the desk).
- It does not count against the visitor's ``max_live_claims`` (a coordinator decided;
  cypher/visits.cypher ``user_field_lock`` counts self-claims only).
- The visitor must be a field worker, enabled (an account disabled on purpose; one never
  given a password is not disabled), of the household's district, and a woman for a
  women-only household; only an active household is assigned. Each refusal names the
  field (``visitor``, ``reason``); a household held by someone else answers 409 naming the
  holder (the caller is a coordinator or admin, who may know who visits their district),
  unless ``replace`` (a reassignment) is asked for.

**Follow-ups.** The follow-up of a household is the ``follow_up_on`` of its latest visit.
It is due on that date, or on the date it was snoozed to (``snooze``: the visitor who
planned it or a coordinator; kept on the visit, so a newer visit leaves it behind). A
follow-up due for ``reminder_days`` (GRAPHSVC_FOLLOW_UP_REMINDER_DAYS, 7) or more is
"reminded twice": the desk and the visitor's page mark it.

Every write runs lock (the household, as a claim does) → decide → validate → write → audit
in one transaction; every refusal raises ``errors.Refused`` and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit, households, records
from .errors import Refused
from .model import Actor, plain, to_date

if TYPE_CHECKING:
    import neo4j

    from .db import Database

ASSIGN_DAYS = 30
REMINDER_DAYS = 7
REASON_MAX = 300
SNOOZE_MAX_DAYS = 180
RECENT_DAYS = 30  # the desk: visits of each visitor, and declines, this far back
BOARD_LIMIT = 100  # the desk: households of each kind and district, follow-ups, declines


class Held(Refused):
    """409: someone else holds a live claim on the household (``holder``, until ``until``)."""

    def __init__(self, household_id: str, holder: str | None, until: dt.datetime | None, named: bool):
        super().__init__(
            "conflict",
            f"held by {holder}" if named else "held by another visitor",
            "household_id",
            (household_id,),
            code="held",
        )
        self.holder = holder if named else None
        self.until = until


@dataclass(frozen=True)
class Assigned:
    household_id: str
    claim_id: str
    visitor: str
    expires_at: dt.datetime
    replaced: str | None  # the visitor whose claim it ended, if any


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(household_id: str, why: str = "no such household", code: str | None = None) -> Refused:
    return Refused("not_found", why, "household_id", (household_id,), code=code)


def _invalid(checked: records.Checked, targets: tuple[str, ...] = ()) -> Refused:
    first = checked.problems[0]
    return Refused("invalid", first.english(), first.field, targets, problems=tuple(checked.problems))


def check_reason(out: records.Checked, value: Any, name: str = "reason") -> str | None:
    """A required reason: text of at most ``REASON_MAX`` characters (stripped).

    >>> out = records.Checked(); check_reason(out, "  동네가 가까움 "), out.ok
    ('동네가 가까움', True)
    >>> out = records.Checked(); check_reason(out, "x" * 301); [p.code for p in out.problems]
    ['too_long']
    """
    if isinstance(value, str):
        value = value.strip()
    if value in (None, ""):
        out.problem(name, "empty")
    elif not isinstance(value, str):
        out.problem(name, "not_text")
    elif len(value) > REASON_MAX:
        out.problem(name, "too_long", max=REASON_MAX)
    elif records.SURROGATE_RE.search(value):
        out.problem(name, "surrogate")
    elif records.CONTROL_RE.search(value):
        out.problem(name, "control")
    else:
        out.values[name] = value
        return value
    return None


def _staff_may(db: Database, subject: access.Subject, household_id: str) -> str:
    """May the subject give out this household (id or code)? Its id; 404 otherwise, with
    the same work for an id that does not exist (households.facts)."""
    if not access.role_may(subject, access.HOUSEHOLD_ASSIGN):
        raise _not_found(household_id, "not for this role")
    found = households.facts(db, subject, household_id) if len(household_id) <= households.MAX_ID else None
    decision = access.decide(subject, access.HOUSEHOLD_ASSIGN, found) if found is not None else None
    if found is None or not decision:
        raise _not_found(household_id, decision.why if decision is not None else "no such household")
    return found.id


def _locked(
    tx: neo4j.ManagedTransaction, db: Database, subject: access.Subject, household_id: str, now: dt.datetime
) -> dict[str, Any]:
    """Lock the household; decide again on what the lock read (404 when it went away or
    moved out of the subject's districts)."""
    rows = db.run_in_tx(tx, "dispatch_lock", household_id=household_id, now=now)
    if not rows:
        raise _not_found(household_id)
    row = rows[0]
    facts = access.HouseholdFacts(row["id"], row["district"], row["women_only"])
    if not access.decide(subject, access.HOUSEHOLD_ASSIGN, facts):
        raise _not_found(household_id, "outside the caller's districts")
    return row


def eligibility(visitor: Mapping[str, Any] | None, district: str, women_only: bool) -> str | None:
    """Why the account may not be given a household of ``district`` (a refusal code), or None.

    >>> v = {"role": "visitor", "districts": ["노원"], "gender": "m", "enabled": True}
    >>> eligibility(v, "노원", False), eligibility(v, "노원", True), eligibility(v, "양천", False)
    (None, 'visitor_women_only', 'visitor_district')
    >>> eligibility({**v, "enabled": False}, "노원", False), eligibility(None, "노원", False)
    ('visitor_disabled', 'visitor_unknown')
    """
    if visitor is None:
        return "visitor_unknown"
    role = access.REGISTRY.get(visitor["role"])
    if role is None or not role.field_work:
        return "visitor_not_field"
    if not visitor["enabled"]:
        return "visitor_disabled"
    if district not in visitor["districts"]:
        return "visitor_district"
    if women_only and visitor["gender"] != "f":
        return "visitor_women_only"
    return None


ELIGIBILITY_WHY = {
    "visitor_unknown": "no such visitor",
    "visitor_not_field": "not a visitor (a field worker)",
    "visitor_disabled": "the visitor's account is disabled",
    "visitor_district": "not a visitor of the household's district",
    "visitor_women_only": "a women-only household: women visitors only",
}


def assign(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    household_id: str,
    visitor: Any,
    reason: Any,
    now: dt.datetime | None = None,
    days: int = ASSIGN_DAYS,
    replace: bool = False,
) -> Assigned:
    """Give the household to ``visitor`` for ``days`` with ``reason``. With ``replace`` (a
    reassignment) a live claim of someone else ends ('reassign'); without it, 409 (``Held``).
    A live self-claim of the same visitor becomes the assignment; their live assignment
    answers 409 ``already_assigned``."""
    now = now or _now()
    household_id = _staff_may(db, subject, household_id)
    checked = records.Checked()
    username = records.ident(checked, {"visitor": visitor}, "visitor", required=True, username=True)
    text = check_reason(checked, reason)
    if not checked.ok:
        raise _invalid(checked, (household_id,))
    assert username is not None and text is not None
    expires = now + dt.timedelta(days=days)
    claim_id = "c-" + secrets.token_hex(8)

    def work(tx: neo4j.ManagedTransaction) -> Assigned:
        row = _locked(tx, db, subject, household_id, now)
        if row["status"] != "active":
            raise Refused(
                "conflict", f"the household is {row['status']}", "household_id", (household_id,), code="not_active"
            )
        found = db.run_in_tx(tx, "dispatch_visitor", username=username)
        problem = eligibility(found[0] if found else None, row["district"], row["women_only"])
        if problem:
            raise Refused("invalid", ELIGIBILITY_WHY[problem], "visitor", (household_id,), code=problem)
        holder, replaced = row["holder"], None
        if holder == username and row["assigned_by"] is not None:
            raise Refused(
                "conflict", f"already assigned to {username}", "visitor", (household_id,), code="already_assigned"
            )
        if holder == username:  # their own claim: now the coordinator's assignment
            db.run_in_tx(
                tx,
                "assign_adopt",
                claim_id=row["claim_id"],
                assigned_by=subject.username,
                reason=text,
                expires_at=expires,
            )
            made = row["claim_id"]
        else:
            if holder is not None:
                if not replace:
                    expires_at = row["expires_at"].to_native() if row["expires_at"] is not None else None
                    named = access.role_may(subject, access.HOUSEHOLD_ASSIGN)
                    raise Held(household_id, holder, expires_at, named)
                db.run_in_tx(
                    tx,
                    "claim_end_any",
                    household_id=household_id,
                    claim_id=row["claim_id"],
                    now=now,
                    ended_by="reassign",
                    decline_reason=None,
                )
                replaced = holder
            db.run_in_tx(
                tx,
                "assign_create",
                household_id=household_id,
                username=username,
                claim_id=claim_id,
                now=now,
                expires_at=expires,
                assigned_by=subject.username,
                reason=text,
            )
            made = claim_id
        ended = [row["claim_id"]] if replaced else []
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.assign",
            targets=[household_id, made, *ended],
            detail=f"to {username} until {expires.date().isoformat()}"
            + (f"; reassigned from {replaced}" if replaced else "")
            + ("; their own claim adopted" if holder == username else ""),
        )
        return Assigned(household_id, made, username, expires, replaced)

    return db.write_tx(work)


def unassign(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, now: dt.datetime | None = None
) -> tuple[str, str]:
    """End the live claim or assignment on the household, whoever holds it (a coordinator's
    release): ``(claim id, its visitor)``; 409 ``not_held`` when there is none."""
    now = now or _now()
    household_id = _staff_may(db, subject, household_id)

    def work(tx: neo4j.ManagedTransaction) -> tuple[str, str]:
        row = _locked(tx, db, subject, household_id, now)
        if row["holder"] is None:
            raise Refused("conflict", "nobody holds it", "household_id", (household_id,), code="not_held")
        db.run_in_tx(
            tx,
            "claim_end_any",
            household_id=household_id,
            claim_id=row["claim_id"],
            now=now,
            ended_by="unassign",
            decline_reason=None,
        )
        kind = "assignment" if row["assigned_by"] else "claim"
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.unassign",
            targets=[household_id, row["claim_id"]],
            detail=f"{kind} of {row['holder']} ended",
        )
        return row["claim_id"], row["holder"]

    return db.write_tx(work)


def decline(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, reason: Any, now: dt.datetime | None = None
) -> str:
    """The visitor gives an assignment back, with a reason (the coordinator reads it on the
    desk): its claim ends ('decline'). 404 (code ``no_assignment``) when they hold none."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    found = households.facts(db, subject, household_id, now) if len(household_id) <= households.MAX_ID else None
    if found is None or not access.decide(subject, access.HOUSEHOLD_READ, found):
        raise _not_found(household_id)
    household_id = found.id
    checked = records.Checked()
    text = check_reason(checked, reason)
    if not checked.ok:
        raise _invalid(checked, (household_id,))

    def work(tx: neo4j.ManagedTransaction) -> str:
        row = db.run_in_tx(tx, "dispatch_lock", household_id=household_id, now=now)
        if not row or row[0]["holder"] != subject.username or row[0]["assigned_by"] is None:
            raise _not_found(household_id, "no assignment of theirs on it", code="no_assignment")
        claim_id: str = row[0]["claim_id"]
        db.run_in_tx(
            tx,
            "claim_end_any",
            household_id=household_id,
            claim_id=claim_id,
            now=now,
            ended_by="decline",
            decline_reason=text,
        )
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.decline",
            targets=[household_id, claim_id],
            detail=f"assigned by {row[0]['assigned_by']}; with a reason",
        )
        return claim_id

    return db.write_tx(work)


def snooze(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    household_id: str,
    body: Any,
    today: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Put the household's follow-up off until ``body["until"]`` (after ``today``, at most
    ``SNOOZE_MAX_DAYS`` ahead): a coordinator of its district, an admin, or the visitor who
    planned it. ``{household_id, visit_id, follow_up_on, snoozed_until}``; 409
    ``no_follow_up`` when its latest visit planned none."""
    now = now or _now()
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    staff = access.role_may(subject, access.HOUSEHOLD_ASSIGN)
    if staff:
        household_id = _staff_may(db, subject, household_id)
    else:
        found = households.facts(db, subject, household_id, now) if len(household_id) <= households.MAX_ID else None
        if found is None or not access.decide(subject, access.VISIT_REPORT, found):
            raise _not_found(household_id)
        household_id = found.id
    checked = records.Checked()
    until = records.date(checked, body, "until", required=True)
    for key in body:
        if key != "until":
            checked.problem(str(key)[:40], "unknown_field", value=repr(str(key)[:40]))
    if not checked.ok:
        raise _invalid(checked, (household_id,))
    assert until is not None
    if until <= today:
        raise Refused("invalid", "until: not after today", "until", (household_id,), code="snooze_past")
    if until > today + dt.timedelta(days=SNOOZE_MAX_DAYS):
        raise Refused(
            "invalid", f"until: more than {SNOOZE_MAX_DAYS} days ahead", "until", (household_id,), code="snooze_far"
        )

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        if staff:
            row = _locked(tx, db, subject, household_id, now)
        else:
            rows = db.run_in_tx(tx, "dispatch_lock", household_id=household_id, now=now)
            if not rows or rows[0]["visit_by"] != subject.username:
                raise _not_found(household_id, "not their follow-up")
            row = rows[0]
        if row["follow_up_on"] is None:
            raise Refused("conflict", "no follow-up planned", "household_id", (household_id,), code="no_follow_up")
        db.run_in_tx(tx, "follow_up_snooze", visit_id=row["visit_id"], until=until, username=subject.username, now=now)
        old = plain(row["snoozed_until"]) or "–"
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="follow_up.snooze",
            targets=[household_id, row["visit_id"]],
            detail=f"snoozed_until: {old} → {until.isoformat()}",
        )
        return {
            "household_id": household_id,
            "visit_id": row["visit_id"],
            "follow_up_on": plain(row["follow_up_on"]),
            "snoozed_until": until.isoformat(),
        }

    return db.write_tx(work)


# --- what the visitor sees -----------------------------------------------------------------


def assignments(db: Database, subject: access.Subject, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The visitor's live assignments, newest first, that the policy still lets them see:
    ``{household_id, code, district, claim_id, assigned_by, reason, assigned_at, expires_at}``."""
    out = []
    for row in db.read("visitor_assignments", username=subject.username, now=now or _now()):
        facts = access.HouseholdFacts(
            row["household_id"], row["district"], row["women_only"], claimed_by_subject=True, assigned_to_subject=True
        )
        if access.decide(subject, access.HOUSEHOLD_READ, facts):
            out.append(plain({k: v for k, v in row.items() if k != "women_only"}))
    return out


def _reminded(due_on: dt.date | None, today: dt.date, reminder_days: int) -> bool:
    """Due for ``reminder_days`` or more: the second reminder.

    >>> _reminded(dt.date(2026, 1, 1), dt.date(2026, 1, 8), 7), _reminded(dt.date(2026, 1, 2), dt.date(2026, 1, 8), 7)
    (True, False)
    """
    return due_on is not None and (today - due_on).days >= reminder_days


def follow_ups_due(
    db: Database, subject: access.Subject, today: dt.date, reminder_days: int = REMINDER_DAYS, limit: int = 50
) -> list[dict[str, Any]]:
    """The follow-ups a visitor planned that are due (snoozes counted), earliest first:
    ``{household_id, code, district, visit_id, visited_on, follow_up_on, snoozed_until,
    due_on, days_overdue, reminded_twice}``."""
    if access.in_duress(subject):  # a duress session has none (graphsvc/duress.py)
        return []
    rows = db.read(
        "visitor_follow_ups",
        username=subject.username,
        districts=[] if getattr(access.role_of(subject), "org_scoped", False) else list(subject.districts),
        gender=subject.gender,
        today=today,
        limit=limit,
        org=subject.org if getattr(access.role_of(subject), "org_scoped", False) else None,  # a partner (issue 16)
    )
    return [_follow_up(r, today, reminder_days) for r in rows]


def _follow_up(row: Mapping[str, Any], today: dt.date, reminder_days: int) -> dict[str, Any]:
    due = to_date(row["due_on"])
    out: dict[str, Any] = plain(dict(row))
    out["days_overdue"] = (today - due).days if due else 0
    out["reminded_twice"] = _reminded(due, today, reminder_days)
    return out


# --- the desk ------------------------------------------------------------------------------


def field_roles() -> list[str]:
    return [r.name for r in access.REGISTRY.values() if r.field_work]


def board(
    db: Database,
    subject: access.Subject,
    today: dt.date,
    now: dt.datetime | None = None,
    follow_up_days: int = 90,
    reminder_days: int = REMINDER_DAYS,
    district: str | None = None,
    limit: int = BOARD_LIMIT,
) -> dict[str, Any]:
    """The desk of a coordinator (their districts) or an admin (every district; ``district``
    narrows it): households that need a visit (with who holds each and the visitors
    eligible for it), the visitors with their live claims and visits of the last
    ``RECENT_DAYS`` days, follow-ups due by visitor, and recent declines. Nothing of
    another district: counts, claims and visits are of the desk's districts only.
    Refused not_found when ``district`` is not one of the subject's."""
    now = now or _now()
    decision = access.decide(subject, access.NETWORK_READ, access.DistrictScope(district))
    if not access.role_may(subject, access.HOUSEHOLD_ASSIGN) or not decision:
        raise Refused("not_found", "not a district of theirs", "district", code="district")
    scope = access.scope_districts(subject)
    if district is not None:
        districts = [district]
    elif scope is None:
        districts = sorted(db.read("dispatch_districts")[0]["districts"])
    else:
        districts = sorted(scope)
    overdue_before = today - dt.timedelta(days=follow_up_days)
    needs = db.read(
        "dispatch_needs_visit", districts=districts, today=today, overdue_before=overdue_before, now=now, limit=limit
    )
    people = db.read(
        "dispatch_visitors",
        districts=districts,
        roles=field_roles(),
        now=now,
        since=today - dt.timedelta(days=RECENT_DAYS),
    )
    visitors = [plain(dict(v)) for v in people]
    by_name = {v["username"]: v for v in visitors}
    households_out = []
    for entry in needs:
        for h in entry["households"]:
            item = plain(dict(h))
            item["eligible"] = [
                v["username"]
                for v in visitors
                if v["enabled"]
                and h["district"] in v["districts"]
                and (not h["women_only"] or v["gender"] == "f")
                and v["username"] != h["holder"]
            ]
            households_out.append(item)
    follow = db.read("dispatch_follow_ups", districts=districts, today=today, limit=limit)
    follow_ups: dict[str, list[dict[str, Any]]] = {}
    for row in follow:
        follow_ups.setdefault(row["visitor"] or "-", []).append(_follow_up(row, today, reminder_days))
    declines = db.read(
        "dispatch_declines",
        districts=districts,
        since_time=now - dt.timedelta(days=RECENT_DAYS),
        limit=limit,
    )
    return {
        "districts": districts,
        "totals": {e["district"]: e["total"] for e in needs},
        "households": households_out,
        "visitors": [by_name[n] for n in sorted(by_name)],
        "follow_ups": [{"visitor": k, "items": v} for k, v in sorted(follow_ups.items())],
        "declines": [plain(dict(d)) for d in declines],
    }
