"""What the pages and the API share: one household as the caller may see it, audit filters.

The flow is always: named Cypher → facts → ``access.decide`` → decrypt only what the
decision allows → keep only the allowed fields → audit the ids shown → answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from flask import abort, current_app, g, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from graphsvc import access, visits

from .guard import BadField, deny, record
from .neo import get_db


def plain(value: Any) -> Any:
    """Neo4j values → JSON values (dates as ISO text)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# access.reason_problem's message ids: why a stated reason was refused.
REASON_PROBLEMS = {
    "reason_missing": _l("Identity fields are shown to admins only with a stated reason."),
    "reason_short": _l("Say why in a few words (at least two words and six letters), e.g. “checking the address before a visit”."),
}


def household_for(household_id: str, want_identity: bool = False, reason: str | None = None) -> dict:
    """The household as g.subject may see it; 404 (audited) when they may not know it.

    Code names by default: identity fields (decrypted) only when asked for, to those the
    policy allows, and for admins only with a stated reason, which is audited.
    """
    subject = g.subject
    if len(household_id) > 64:
        abort(404)
    rows = get_db().read("household_view", id=household_id, username=subject.username)
    if not rows:
        deny(access.HOUSEHOLD_READ, [household_id], 404, "no such household")
    row = rows[0]
    facts = access.HouseholdFacts(row["id"], row["district"], visited_by_subject=row["visited_by_subject"])
    if subject.role == "visitor":  # their link to it: a claim, a visit, or a current candidate
        now = dt.datetime.now(dt.timezone.utc)
        link = get_db().read("visitor_household_facts", household_id=row["id"], username=subject.username,
                             now=now, suggested_since=visits.suggested_since(get_db(), now))[0]
        facts = access.HouseholdFacts(row["id"], row["district"], women_only=link["women_only"],
                                      suggested_to_subject=link["candidate"],
                                      claimed_by_subject=link["claimed_by_subject"],
                                      visited_by_subject=link["visited_by_subject"])
    decision = access.decide(subject, access.HOUSEHOLD_READ, facts)
    if not decision:
        deny(access.HOUSEHOLD_READ, [household_id], 404, decision.why)

    head = next((m for m in row["members"] if m["introducer_id"]), None)
    last = row["visits"][0] if row["visits"] else None
    full = {
        "id": row["id"], "code": row["code"], "district": row["district"],
        "arrived_on": row["arrived_on"], "status": row["status"],
        "introducer": head["introducer_code_name"] if head else None,
        "last_visit": last["on"] if last else None,
        "members": [{"id": m["id"], "code_name": m["code_name"]} for m in row["members"]],
        "visits": [{k: v[k] for k in ("id", "on", "outcome", "materials", "visitor")} for v in row["visits"]],
    }
    shown = access.visible(full, decision.fields)
    targets = [row["id"]] + [m["id"] for m in shown.get("members", [])]

    identity = access.decide(subject, access.HOUSEHOLD_IDENTITY_READ, facts) if want_identity else None
    problem = access.reason_problem(reason) if identity and identity.needs_reason else None
    with_identity = bool(identity) and not problem
    if want_identity and not identity:
        deny(access.HOUSEHOLD_IDENTITY_READ, [household_id], 403, identity.why)
    if problem:
        raise BadField("reason", str(REASON_PROBLEMS[problem]))
    if with_identity:
        keyring = current_app.extensions["graphsvc_keyring"]
        by_id = {m["id"]: m for m in row["members"]}
        for member in shown["members"]:
            source = by_id[member["id"]]
            for field in ("legal_name", "phone", "address"):
                member[field] = keyring.decrypt(source[field], "Person", member["id"], field)
        notes = {v["id"]: v["notes"] for v in row["visits"]}
        for visit in shown["visits"]:
            visit["notes"] = keyring.decrypt(notes[visit["id"]], "Visit", visit["id"], "notes")
        targets += [v["id"] for v in shown["visits"]]
        record(access.HOUSEHOLD_IDENTITY_READ, targets, reason=reason)
    else:
        record(access.HOUSEHOLD_READ, targets)
    return plain(shown)


def audit_filters(args: Mapping[str, str]) -> dict:
    """Validated filters for audit.query from request arguments; 400 on a malformed one."""
    out: dict[str, Any] = {}
    for key in ("actor", "target", "action", "outcome"):
        value = text_arg(key, args=args)
        if value:
            out[key] = value
    for key in ("since", "until"):
        value = date_arg(key, args=args)
        if value:
            out[key] = value
    return out


# Request arguments: each malformed one answers 400 naming it (guard.BadField).

def text_arg(name: str, limit: int = 100, args: Mapping[str, str] | None = None) -> str | None:
    """A text argument, stripped; None when absent or empty."""
    value = ((request.args if args is None else args).get(name) or "").strip()
    if len(value) > limit:
        raise BadField(name, _("at most %(n)d characters", n=limit))
    return value or None


def int_arg(name: str, default: int | None, low: int, high: int,
            args: Mapping[str, str] | None = None) -> int | None:
    """An integer argument within [low, high]."""
    raw = ((request.args if args is None else args).get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadField(name, _("a whole number from %(low)d to %(high)d", low=low, high=high))
    return int(raw)


def date_arg(name: str, args: Mapping[str, str] | None = None) -> dt.date | None:
    """A date argument (YYYY-MM-DD)."""
    raw = ((request.args if args is None else args).get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadField(name, _("a date like 2026-03-01")) from None
