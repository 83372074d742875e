"""The coordinator's intake: what visitors brought back, reviewed.

A visit report creates a ``pending`` household for each household introduced at the visit
(graphsvc/visits.py ``report``: a provisional code ``N-…``, its first person introduced by
a person of the visited household, ``(:Visit)-[:BROUGHT]->(:Household)``). Here a
coordinator of its district (or an admin) sees them (``pending``) and decides:

- **confirm**: the household becomes ``active`` under the next free ``H-`` code, and enters
  the suggestions and the map (chain index and visit summary refreshed in the same
  transaction);
- **merge** into an existing household (by id or code) that the subject may also write:
  its people, with their introductions, become members of that household and the visit's
  ``BROUGHT`` edge follows; the pending household is kept, ``merged`` with
  ``merged_into``, so that the audit's ids still lead somewhere and a retried merge is
  told "already reviewed" instead of "not found". Refused (409, naming the conflict) when
  the target is the household of a moved person's introducer (it would introduce itself),
  when the target reaches that household through introductions (a household cycle), when it
  is the household itself, or is not a reviewed household (pending, rejected, merged);
- **reject** with a reason (required, at most 300 characters): ``rejected``, the reason
  kept on the household (it is not identity: it may be in the audit's detail).

Each action is one managed transaction in the write service's order (graphsvc/households.py):
lock → decide (``access.INTAKE_REVIEW``) → validate → write → refresh derived data →
audit. A household already reviewed answers 409 ``already_reviewed``: two confirmations
at once queue at the household's lock, and the second finds it active.

>>> parse_reject({"reason": "  중복 신고  "})
'중복 신고'
>>> parse_merge({"into": "H-120"})
'H-120'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit, chains, dedupe, households, records, suggest
from .errors import Refused
from .model import Actor, plain

if TYPE_CHECKING:
    import neo4j

    from .db import Database

MAX_REASON = 300
MAX_REF = 64
DEFAULT_LIMIT = 100
CANDIDATES = 5
REVIEWED = ("active", "moved", "closed", "do_not_visit")  # what a household may be merged into


# --- bodies ------------------------------------------------------------------------------


def _checked_body(body: Any, known: tuple[str, ...]) -> records.Checked:
    checked = records.Checked()
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        checked.problem("body", "not_object")
        return checked
    for name in body:
        if name not in known:
            checked.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))
    return checked


def _raise(checked: records.Checked, targets: tuple[str, ...] = ()) -> None:
    if not checked.ok:
        first = checked.problems[0]
        raise Refused("invalid", first.english(), first.field, targets, problems=tuple(checked.problems))


def parse_confirm(body: Any) -> None:
    """A confirmation takes no fields (an empty body or ``{}``)."""
    _raise(_checked_body(body, ()))


def _text(checked: records.Checked, body: Any, name: str, limit: int) -> str | None:
    value = body.get(name) if isinstance(body, Mapping) else None
    if isinstance(value, str):
        value = value.strip()
    if value in (None, ""):
        checked.problem(name, "empty")
        return None
    if not isinstance(value, str):
        checked.problem(name, "not_text")
        return None
    if len(value) > limit:
        checked.problem(name, "too_long", max=limit)
    elif records.SURROGATE_RE.search(value):
        checked.problem(name, "surrogate")
    elif records.CONTROL_RE.search(value.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        checked.problem(name, "control")
    else:
        return value
    return None


def parse_merge(body: Any) -> str:
    """The household to merge into (``{"into": "<id or code>"}``); Refused("invalid")
    naming the field otherwise."""
    checked = _checked_body(body, ("into",))
    into = _text(checked, body, "into", MAX_REF) if isinstance(body, Mapping) else None
    _raise(checked)
    assert into is not None
    return into


def parse_reject(body: Any) -> str:
    """The reason of a rejection (``{"reason": "…"}``: required, at most 300 characters,
    no control characters but line breaks and tabs)."""
    checked = _checked_body(body, ("reason",))
    reason = _text(checked, body, "reason", MAX_REASON) if isinstance(body, Mapping) else None
    _raise(checked)
    assert reason is not None
    return reason


# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reviewed:
    """What a review did: the household, its new status and code, the target of a merge
    and the people it moved."""

    household_id: str
    status: str
    code: str
    into: str | None = None
    into_code: str | None = None
    people: tuple[str, ...] = ()


def _dedupe() -> Any:
    """The duplicate scoring (graphsvc/dedupe.py): one place, so that what the reviewer is
    shown of its answer can be tested on any answer."""
    return dedupe


def candidates(
    db: Database, subject: access.Subject, household_id: str, limit: int = CANDIDATES
) -> list[dict[str, Any]]:
    """The duplicate candidates of a pending household (graphsvc/dedupe.py) that the
    subject may read: ``[{household_id, code, district, score, reasons: [{kind, person_id,
    other_person_id}]}]``, best first (graphsvc/dedupe.py: all of the scored household's
    district; a reviewer of several districts, or an admin, is shown those they may read)."""
    out = []
    for c in _dedupe().candidates(db, household_id, limit):
        if c.household_id == household_id:
            continue
        if not access.decide(subject, access.HOUSEHOLD_READ, access.HouseholdFacts(c.household_id, c.district)):
            continue
        out.append(
            {
                "household_id": c.household_id,
                "code": c.code,
                "district": c.district,
                "score": round(float(c.score), 4),
                "reasons": [
                    {"kind": r.kind, "person_id": r.person_id, "other_person_id": r.other_person_id} for r in c.reasons
                ],
            }
        )
    return out


def _introducer(subject: access.Subject, row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Who introduced the household's first introduced person, and their household: named
    only when the subject may know them (``access.names_person``), else all None."""
    if row is None:
        return None
    if not access.names_person(subject, row["district"], row["women_only"]):
        return {"id": None, "code_name": None, "household_id": None, "household_code": None}
    return {
        "id": row["id"],
        "code_name": row["code_name"],
        "household_id": row["household_id"],
        "household_code": row["household_code"],
    }


def pending(
    db: Database, subject: access.Subject, limit: int = DEFAULT_LIMIT, with_candidates: bool = True
) -> list[dict[str, Any]]:
    """The households waiting for review that the subject may review (coordinators: of their
    districts; admins: all), the longest waiting first: ``[{id, code, district, women_only,
    brought_by: {visit_id, visited_on, visitor}, introducer: {id, code_name, household_id,
    household_code} | None, people: [{id, code_name}], candidates: [...]}]``. Code names
    only; the caller audits the answer with the ids it holds (graphsvc/shown.py)."""
    if not access.role_may(subject, access.INTAKE_REVIEW):
        return []
    districts = access.scope_districts(subject)
    rows = db.read("intake_pending", districts=list(districts) if districts is not None else None, limit=limit)
    out = []
    for row in rows:
        facts = access.HouseholdFacts(row["id"], row["district"], row["women_only"])
        if not access.decide(subject, access.INTAKE_REVIEW, facts):
            continue
        visit = row["visit"]
        out.append(
            {
                "id": row["id"],
                "code": row["code"],
                "district": row["district"],
                "women_only": row["women_only"],
                "brought_by": (
                    {"visit_id": visit["id"], "visited_on": plain(visit["on"]), "visitor": visit["visitor"]}
                    if visit
                    else None
                ),
                "introducer": _introducer(subject, row["introducer"]),
                "people": [dict(p) for p in row["people"]],
                "candidates": candidates(db, subject, row["id"]) if with_candidates else [],
            }
        )
        # the introducer's own household is often the duplicate found (the same family told
        # twice), yet a merge there is refused (it would introduce itself): say so beforehand
        own = (out[-1]["introducer"] or {}).get("household_id")
        for candidate in out[-1]["candidates"]:
            candidate["merge_blocked"] = own is not None and candidate["household_id"] == own
    return out


def pending_count(db: Database, subject: access.Subject) -> int:
    """How many households wait for the subject's review (0 for a role that reviews none)."""
    if not access.role_may(subject, access.INTAKE_REVIEW):
        return 0
    districts = access.scope_districts(subject)
    rows = db.read("intake_count", districts=list(districts) if districts is not None else None)
    return int(rows[0]["pending"]) if rows else 0


# --- the actions -------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(ref: str, field: str | None = None, why: str = "no such household") -> Refused:
    return Refused("not_found", why, field, (ref,))


def _resolve(db: Database, subject: access.Subject, ref: str, field: str | None = None) -> str:
    """The id of the household ``ref`` (its id or code) when the subject may review it;
    404 otherwise, after the same work for an id that does not exist (households.facts).
    The transaction decides again under the lock."""
    if not access.role_may(subject, access.INTAKE_REVIEW):
        raise _not_found(ref, field, "not for this role")
    found = households.facts(db, subject, ref) if isinstance(ref, str) and len(ref) <= MAX_REF else None
    decision = access.decide(subject, access.INTAKE_REVIEW, found) if found is not None else None
    if found is None or not decision:
        raise _not_found(ref, field, decision.why if decision is not None else "no such household")
    return found.id


def _locked(tx: neo4j.ManagedTransaction, db: Database, subject: access.Subject, household_id: str) -> dict[str, Any]:
    """Lock the household under review and decide again from what the lock read; 404 when
    it is gone or out of reach, 409 ``already_reviewed`` when it is no longer pending."""
    rows = db.run_in_tx(tx, "intake_lock", id=household_id)
    if not rows:
        raise _not_found(household_id)
    row = rows[0]
    facts = access.HouseholdFacts(row["id"], row["district"], row["women_only"])
    decision = access.decide(subject, access.INTAKE_REVIEW, facts)
    if not decision:
        raise _not_found(household_id, why=decision.why)
    if row["status"] != "pending":
        raise Refused(
            "conflict",
            f"already reviewed: the household is {row['status']}",
            "household_id",
            (household_id,),
            code="already_reviewed",
        )
    return row


def confirm(db: Database, subject: access.Subject, actor: Actor, ref: str, now: dt.datetime | None = None) -> Reviewed:
    """The pending household ``ref`` (id or code) becomes active under the next free code."""
    household_id = _resolve(db, subject, ref)
    now = now or _now()

    def work(tx: neo4j.ManagedTransaction) -> Reviewed:
        row = _locked(tx, db, subject, household_id)
        # the code counter is locked until the end (households.next_code), before the chain
        # index's lock as in every write that gives a code: two never give one code
        code = households.next_code(tx, db)
        db.run_in_tx(
            tx, "intake_confirm", id=household_id, code=code, old_code=row["code"], now=now, username=subject.username
        )
        chains.update_in_tx(tx, db, [household_id])
        suggest.refresh_visit_summary_in_tx(tx, db, [household_id])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="intake.confirm",
            targets=[household_id, *row["people"], *row["visits"]],
            detail=f"status: pending → active; code: {row['code']} → {code}",
        )
        return Reviewed(household_id, "active", code, people=tuple(row["people"]))

    return db.write_tx(work)


class MergeConflict(Refused):
    """A merge the introduction network's rules forbid (409): ``conflict`` names what is in
    the way, as far as the subject may know it: ``{kind: "self" | "cycle", person_id,
    code_name, introducer_id, introducer_code_name, path: [household code or None]}`` (people
    and households the subject may not know are None, graphsvc/access.py names_person)."""

    def __init__(self, why: str, targets: tuple[str, ...], code: str, conflict: dict[str, Any]):
        super().__init__("conflict", why, "into", targets, code=code)
        self.conflict = conflict


def _conflict(subject: access.Subject, household_id: str, target_id: str, row: Mapping[str, Any]) -> MergeConflict:
    known = access.names_person(subject, row["introducer_district"], row["introducer_women_only"])
    path = [code if access.names_person(subject, d, w) else None for code, d, w in row["path"]]
    conflict = {
        "kind": row["kind"],
        "person_id": row["person_id"],
        "code_name": row["code_name"],
        "introducer_id": row["introducer_id"] if known else None,
        "introducer_code_name": row["introducer_code_name"] if known else None,
        "path": path,
    }
    # for the audit log: ids and codes, no names
    via = " → ".join(c or "?" for c in path)
    if row["kind"] == "self":
        why = f"{row['introducer_id']} of {via} introduced {row['person_id']}: the household would introduce itself"
        code = "merge_self_introduction"
    else:
        why = f"{row['introducer_id']} introduced {row['person_id']} and {via} leads to the introducer: a cycle"
        code = "merge_cycle"
    named = (household_id, target_id, row["person_id"], row["introducer_id"])
    return MergeConflict(why[:200], tuple(dict.fromkeys(named)), code, conflict)


def merge(
    db: Database, subject: access.Subject, actor: Actor, ref: str, into: str, now: dt.datetime | None = None
) -> Reviewed:
    """Merge the pending household ``ref`` into the household ``into`` (id or code): its
    people (and their introductions) move there, the visit's BROUGHT edge follows, and it is
    kept as ``merged``. Refused: 404 when either is out of reach (field ``into`` for the
    target), 409 ``already_reviewed``, ``merge_into_itself``, ``merge_target_status`` (the
    target is not a reviewed household), ``merge_self_introduction`` or ``merge_cycle``
    (the rules of the introduction network, naming the people and households)."""
    household_id = _resolve(db, subject, ref)
    target_id = _resolve(db, subject, into, "into")
    now = now or _now()

    def work(tx: neo4j.ManagedTransaction) -> Reviewed:
        db.run_in_tx(tx, "introductions_lock")  # people and introductions move: one order for all
        row = _locked(tx, db, subject, household_id)
        if target_id == household_id:
            raise Refused(
                "conflict",
                "a household cannot be merged into itself",
                "into",
                (household_id,),
                code="merge_into_itself",
            )
        targets = db.run_in_tx(tx, "household_lock", id=target_id)
        if not targets:
            raise _not_found(into, "into")
        target = targets[0]
        if not access.decide(
            subject, access.HOUSEHOLD_WRITE, access.HouseholdFacts(target_id, target["district"], target["women_only"])
        ):
            raise _not_found(into, "into", "the target is outside the subject's districts")
        if target["status"] not in REVIEWED:
            raise Refused(
                "conflict",
                f"the household {target['code']} is {target['status']}: merge into a reviewed household",
                "into",
                (household_id, target_id),
                code="merge_target_status",
            )
        conflicts = db.run_in_tx(tx, "intake_merge_conflicts", **{"from": household_id, "into": target_id})
        if conflicts:
            raise _conflict(subject, household_id, target_id, conflicts[0])
        people = list(row["people"])
        db.run_in_tx(
            tx,
            "intake_merge",
            **{"from": household_id, "into": target_id, "people": people, "now": now, "username": subject.username},
        )
        touched = [household_id, target_id]
        chains.update_in_tx(tx, db, touched)
        suggest.refresh_visit_summary_in_tx(tx, db, touched)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="intake.merge",
            targets=[household_id, target_id, *people, *row["visits"]],
            detail=(
                f"status: pending → merged; {row['code']} into {target['code']}; people moved: "
                + (", ".join(people) or "–")
            )[:200],
        )
        return Reviewed(household_id, "merged", row["code"], target_id, target["code"], tuple(people))

    return db.write_tx(work)


def reject(
    db: Database, subject: access.Subject, actor: Actor, ref: str, reason: str, now: dt.datetime | None = None
) -> Reviewed:
    """Reject the pending household ``ref`` with a reason (kept on it; ``parse_reject``)."""
    reason = parse_reject({"reason": reason})
    household_id = _resolve(db, subject, ref)
    now = now or _now()

    def work(tx: neo4j.ManagedTransaction) -> Reviewed:
        row = _locked(tx, db, subject, household_id)
        db.run_in_tx(tx, "intake_reject", id=household_id, reason=reason, now=now, username=subject.username)
        suggest.refresh_visit_summary_in_tx(tx, db, [household_id])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="intake.reject",
            targets=[household_id, *row["people"], *row["visits"]],
            detail=f"status: pending → rejected; reason: {reason}"[:200],
        )
        return Reviewed(household_id, "rejected", row["code"], people=tuple(row["people"]))

    return db.write_tx(work)
