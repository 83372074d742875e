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
from typing import TYPE_CHECKING, Any

from . import access, audit, orgs
from .errors import Refused
from .model import Actor

if TYPE_CHECKING:
    import neo4j

    from .db import Database

MAX_ID = 64


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


def _org(tx: neo4j.ManagedTransaction, db: Database, name: Any, household_id: str) -> str:
    org = orgs.clean_name(name)
    if not db.run_in_tx(tx, "org_get", org=org):
        raise Refused("invalid", f"no organisation {org!r}", "org", (household_id,), code="no_org")
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
        name = _org(tx, db, org, household_id)
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


def shares_of(db: Database, household_id: str) -> list[dict[str, Any]]:
    """The organisations a household is shared with: ``[{org, at, by}]`` (for staff who may
    see the household; the caller decides)."""
    return db.read("household_shares", household_id=household_id)
