"""Sharing households with partner organisations (issue 16).

A coordinator of the household's district (or an admin) shares it with an organisation:
its partners may then see it (code and code names only), claim it, see its contact while
they hold a claim, and report visits (graphsvc/access.py ``org_scoped``). Stopping the
share ends the organisation's partners' live claims on it (not the claim of a partner who
brought the household in through their own report: that household stays theirs).

Each is one write transaction: lock the household → decide → validate the organisation →
write → audit (``household.share`` / ``household.unshare``). Both are idempotent: sharing
twice, or stopping a share that is not there, changes nothing and answers the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import access, audit, orgs, records, suggest
from .errors import Refused
from .model import Actor, plain

if TYPE_CHECKING:
    import neo4j

    from .db import Database

MAX_ID = 64
MAX_CANDIDATES = 500  # a partner's suggestions are ranked among at most this many households


def _locked(tx: neo4j.ManagedTransaction, db: Database, subject: access.Subject, household_id: str) -> dict[str, Any]:
    """Lock the household and decide: 404 (one answer) when it does not exist or the subject
    may not share it (a coordinator of another district, a visitor, a partner)."""
    rows = db.run_in_tx(tx, "household_lock", id=household_id) if len(household_id) <= MAX_ID else []
    facts = access.HouseholdFacts(rows[0]["id"], rows[0]["district"], rows[0]["women_only"]) if rows else None
    decision = access.decide(subject, access.HOUSEHOLD_SHARE, facts) if facts else None
    if not rows or not decision:
        why = decision.why if decision is not None else "no such household"
        raise Refused("not_found", why, "household_id", (household_id,))
    return dict(rows[0])


def _org(tx: neo4j.ManagedTransaction, db: Database, name: Any, household_id: str, kind: str = "invalid") -> str:
    """The organisation named (stored form); ``kind``: the refusal when there is none (a
    body's field: invalid; a path's: not_found, like any record the path names)."""
    try:
        org = orgs.clean_name(name)
    except Refused:
        if kind == "invalid":
            raise
        org = ""
    if not org or not db.run_in_tx(tx, "org_get", org=org):
        raise Refused(kind, f"no organisation {org!r}", "org", (household_id,), code="no_org")
    return org


def share(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, org: Any, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Share a household with an organisation: ``{household_id, org, created}`` (created
    False: it was shared already; nothing changed)."""
    if not access.role_may(subject, access.HOUSEHOLD_SHARE):
        raise Refused("not_found", "not for this role", "household_id", (household_id,))
    now = now or dt.datetime.now(dt.UTC)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        _locked(tx, db, subject, household_id)
        name = _org(tx, db, org, household_id)
        created = bool(
            db.run_in_tx(tx, "share_create", household_id=household_id, org=name, now=now, by=subject.username)[0][
                "created"
            ]
        )
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.share",
            targets=[household_id],
            detail=f"org {name}" + ("" if created else "; already shared"),
        )
        return {"household_id": household_id, "org": name, "created": created}

    return db.write_tx(work)


def unshare(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, org: Any, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Stop sharing a household with an organisation: ``{household_id, org, removed,
    ended_claims}``; the live claims of the organisation's partners on it end (ended_by
    ``unshared``), except a partner's on a household their own report brought in."""
    if not access.role_may(subject, access.HOUSEHOLD_SHARE):
        raise Refused("not_found", "not for this role", "household_id", (household_id,))
    now = now or dt.datetime.now(dt.UTC)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        _locked(tx, db, subject, household_id)
        name = _org(tx, db, org, household_id, "not_found")
        removed = db.run_in_tx(tx, "share_delete", household_id=household_id, org=name)[0]["removed"] > 0
        ended = db.run_in_tx(tx, "share_end_claims", household_id=household_id, org=name, now=now) if removed else []
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.unshare",
            targets=[household_id, *(c["id"] for c in ended)],
            detail=f"org {name}"
            + ("" if removed else "; was not shared")
            + (f"; {len(ended)} claims ended" if ended else ""),
        )
        return {"household_id": household_id, "org": name, "removed": removed, "ended_claims": len(ended)}

    return db.write_tx(work)


def org_of_body(body: Any) -> Any:
    """The organisation named by a share request's JSON body ``{"org": name}``; an unknown
    field is Refused("invalid") naming it (records.py's ``unknown_field``), nothing written."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = records.Checked()
    for name in body:
        if name != "org":
            checked.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))
    if not checked.ok:
        first = checked.problems[0]
        raise Refused("invalid", first.english(), first.field, problems=tuple(checked.problems))
    return body.get("org")


def shares_of(db: Database, household_id: str) -> list[dict[str, Any]]:
    """The organisations a household is shared with: ``[{org, at, by}]`` (for staff who may
    see the household; the caller decides)."""
    return [plain(dict(r)) for r in db.read("household_shares", household_id=household_id)]


def suggestions(
    db: Database,
    subject: Any,
    today: dt.date,
    limit: int,
    weights: suggest.Weights,
    now: dt.datetime | None = None,
) -> list[suggest.Suggestion]:
    """A partner's suggestions (graphsvc/suggest.py ``suggest`` asks here for an org-scoped
    role): the households shared with their organisation or brought in by them, open to
    them (``partner_candidates``), ranked as a visitor's cold candidates (never warm: a
    partner has no anchors and no introduction path is shown, never by district)."""
    if limit <= 0 or access.in_duress(subject):
        return []
    now = now or dt.datetime.now(dt.UTC)
    rows = db.read(
        "partner_candidates",
        username=subject.username,
        org=getattr(subject, "org", None),
        gender=getattr(subject, "gender", None),
        now=now,
        declined_since=now - dt.timedelta(days=suggest.DECLINED_DAYS),
        max=MAX_CANDIDATES,
    )
    found = [suggest.Candidate.from_row(r["row"]) for r in rows]
    return suggest.rank(found, {}, subject, today, weights, limit)


BOARD_DAYS = 30
BOARD_VISITS = 10  # the latest visits shown per partner


def partner_board(
    db: Database, subject: access.Subject, today: dt.date, days: int = BOARD_DAYS
) -> list[dict[str, Any]]:
    """The coordinator's desk, "Partners": per organisation, the households shared with it
    in the subject's districts (admins: all), and per partner their visits reported in the
    last ``days`` days at households of those districts and what those visits brought in:
    ``[{org, shared: [{id, code, district, status, shared_at}], partners: [{username,
    enabled, visit_count, visits: [{id, on, outcome, household_id, code}], brought:
    [{id, code, status}]}]}]``. Empty for a subject who may not share households."""
    if not access.role_may(subject, access.HOUSEHOLD_SHARE) or access.in_duress(subject):
        return []
    districts = access.scope_districts(subject)
    rows = db.read(
        "partner_board",
        districts=list(districts) if districts is not None else None,
        since=today - dt.timedelta(days=days),
        limit=BOARD_VISITS,
    )
    return [plain(dict(r)) for r in rows]
