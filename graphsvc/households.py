"""One household as the caller may see it: the read model behind the household page and
``GET /api/v1/households/<id>``.

The flow: the facts the policy needs (named Cypher, the same work whether the household
exists or not) → ``access.decide`` → only then the household itself → keep the fields the
decision allows → name people only where ``access.names_person`` allows (an introducer in
another district, or of a women-only household for a man, is "someone": no code name, no
id) → decrypt identity only when asked for and allowed. The caller audits the answer with
the ids it holds (graphsvc/shown.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import access, suggest
from .errors import Refused

MAX_ID = 64


def facts(db, subject: access.Subject, household_id: str, now: dt.datetime | None = None,
          claiming: bool = False) -> access.HouseholdFacts | None:
    """What the policy needs to know of the household (None: there is none). Visitors:
    their link to it (claim, visit, suggestion); the statement does the same work for an id
    that does not exist, so that the time of a 404 does not tell which ids exist.
    ``claiming``: a suggestion counts even while another visitor holds a claim (the claim
    is then refused 409, not hidden)."""
    if subject.role == "visitor":
        now = now or dt.datetime.now(dt.timezone.utc)
        row = db.read("visitor_household_facts", household_id=household_id, username=subject.username, now=now,
                      suggested_since=suggest.suggested_since(db, now), shown_action=suggest.SHOWN_ACTION)[0]
    else:
        row = db.read("household_facts", household_id=household_id)[0]
    if not row["exists"]:
        return None
    return access.HouseholdFacts(row["id"], row["district"], women_only=row["women_only"],
                                 suggested_to_subject=row["suggested_and_open" if claiming else "candidate"],
                                 claimed_by_subject=row["claimed_by_subject"],
                                 visited_by_subject=row["visited_by_subject"])


def _introducer(subject: access.Subject, members: list[dict]) -> dict[str, Any] | None:
    """Who introduced the household (the introducer of its first introduced member): their
    id and code name, or both None ("someone") when the caller may not know them."""
    head = next((m for m in members if m["introducer_id"]), None)
    if head is None:
        return None
    if access.names_person(subject, head["introducer_district"], head["introducer_women_only"]):
        return {"id": head["introducer_id"], "code_name": head["introducer_code_name"]}
    return {"id": None, "code_name": None}


def read(db, keyring, subject: access.Subject, household_id: str, identity: bool = False,
         reason: str | None = None) -> tuple[str, dict[str, Any], str | None]:
    """The household as ``subject`` may see it: ``(audit action, answer, reason)``.

    Raises ``Refused``: ``not_found`` when it does not exist or the subject may not know it
    (one answer for both), ``forbidden`` when identity is asked for and not allowed,
    ``invalid`` (field ``reason``) when an admin gives no reason.
    """
    found = facts(db, subject, household_id) if len(household_id) <= MAX_ID else None
    decision = access.decide(subject, access.HOUSEHOLD_READ, found) if found else None
    if not decision:
        raise Refused("not_found", decision.why if decision is not None else "no such household",
                      targets=(household_id,))
    wanted = access.decide(subject, access.HOUSEHOLD_IDENTITY_READ, found) if identity else None
    if identity and not wanted:
        raise Refused("forbidden", wanted.why, targets=(household_id,))
    problem = access.reason_problem(reason) if wanted and wanted.needs_reason else None
    if problem:  # an admin's reason: a real one, a few words (access.reason_problem)
        raise Refused("invalid", "identity needs a stated reason", field="reason", targets=(household_id,),
                      code=problem)

    row = db.read("household_view", id=found.id, username=subject.username)[0]
    last = row["visits"][0] if row["visits"] else None
    full = {
        "id": row["id"], "code": row["code"], "district": row["district"],
        "arrived_on": row["arrived_on"], "status": row["status"],
        "introducer": _introducer(subject, row["members"]),
        "last_visit": last["on"] if last else None,
        "members": [{"id": m["id"], "code_name": m["code_name"]} for m in row["members"]],
        "visits": [{k: v[k] for k in ("id", "on", "outcome", "materials", "visitor")} for v in row["visits"]],
    }
    shown = access.visible(full, decision.fields)
    if not wanted:
        return access.HOUSEHOLD_READ, plain(shown), None
    by_id = {m["id"]: m for m in row["members"]}
    for member in shown["members"]:
        for field in ("legal_name", "phone", "address"):
            member[field] = keyring.decrypt(by_id[member["id"]][field], "Person", member["id"], field)
    notes = {v["id"]: v["notes"] for v in row["visits"]}
    for visit in shown["visits"]:
        visit["notes"] = keyring.decrypt(notes[visit["id"]], "Visit", visit["id"], "notes")
    return access.HOUSEHOLD_IDENTITY_READ, plain(shown), reason


def plain(value: Any) -> Any:
    """Neo4j values → JSON values (dates as ISO text).

    >>> import datetime
    >>> plain({"on": datetime.date(2026, 1, 2), "xs": [datetime.date(2026, 1, 3)]})
    {'on': '2026-01-02', 'xs': ['2026-01-03']}
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
