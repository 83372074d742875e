"""The coordinator's household desk: the services behind ``/households/<id>`` for staff and
their API twins, built on the write service of graphsvc/households.py.

Each function takes what came in (a JSON body or a form, as a mapping), checks it with the
record layer (graphsvc/records.py: unknown keys, wrong types, odd text → ``Refused``
invalid naming the field, nothing written), and runs one managed transaction: lock →
decide (access) → write → refresh what is derived (the chain index, the visit summary) →
audit. Identity values never reach the audit log; other fields go there as old → new.

A transfer moves a household to another district of the network (any known district: the
coordinator sending it need not hold the other one); it then leaves the sender's view. Both
districts' coordinators see it in ``recent_transfers``, read from the audit log: the sender
only what they knew when they sent it (the code, the date, where it went).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit, chains, households, records, suggest
from .errors import Refused
from .model import Actor, plain

if TYPE_CHECKING:
    import neo4j

    from .crypto import Keyring
    from .db import Database

TRANSFER_ACTION = "household.transfer"
TRANSFER_DAYS = 90  # how far back the list of transfers goes
TRANSFER_LIMIT = 2000  # events read for it at most
_TRANSFER_DETAIL = re.compile(r"^district: (?P<from>.*) → (?P<to>.*); code: (?P<code>[^;]*)$")


def _invalid(checked: records.Checked, rename: Mapping[str, str] | None = None) -> Refused:
    problems = tuple(records.Problem((rename or {}).get(p.field, p.field), p.code, p.values) for p in checked.problems)
    first = problems[0]
    return Refused("invalid", first.english(), first.field, problems=problems)


def _body(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Refused("invalid", "the body must be an object of fields", "body", code="not_object")
    return data


def _problem(field: str, code: str, **values: Any) -> Refused:
    checked = records.Checked()
    checked.problem(field, code, **values)
    return _invalid(checked)


# --- the household ---------------------------------------------------------------------------


def edit_household(db: Database, subject: access.Subject, actor: Actor, household_id: str, data: Any) -> dict[str, Any]:
    """Correct status (with a reason when it changes), status_reason, women_only,
    arrived_on. Returns the fields that changed (audited as ``household.update``, old → new)."""
    checked = records.household_edit(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    wanted = checked.values

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        rows = db.run_in_tx(tx, "household_lock", id=household_id)
        if not rows:
            raise Refused("not_found", "no such household", targets=(household_id,))
        old = rows[0]
        households._decide_write(subject, old["district"], old["women_only"], (household_id,))
        changed, words = households._changes(old, wanted)
        if "status" in changed and not wanted.get("status_reason"):
            raise _problem("status_reason", "status_needs_reason")
        if not changed:
            return {}
        db.run_in_tx(tx, "household_update", id=household_id, fields=changed)
        if "arrived_on" in changed or "status" in changed:
            suggest.refresh_visit_summary_in_tx(tx, db, [household_id])
        audit.append_in_tx(tx, db, **actor.event(), action="household.update", targets=[household_id], detail=words)
        return changed

    changed: dict[str, Any] = plain(db.write_tx(work))
    return changed


def districts(db: Database) -> list[str]:
    """Every district of the network (of its households or accounts): where a household
    may be transferred."""
    return [r["district"] for r in db.read("desk_districts")]


def transfer(db: Database, subject: access.Subject, actor: Actor, household_id: str, data: Any) -> dict[str, str]:
    """Move the household to another district of the network (``{"district", "reason"}``):
    the subject must be allowed to write it where it is, not where it goes. Audited as
    ``household.transfer`` with "district: A → B; code: C" (and the reason)."""
    checked = records.transfer(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    to, reason = checked.values["district"], checked.values.get("reason")

    def work(tx: neo4j.ManagedTransaction) -> dict[str, str]:
        rows = db.run_in_tx(tx, "household_lock", id=household_id)
        if not rows:
            raise Refused("not_found", "no such household", targets=(household_id,))
        old = rows[0]
        households._decide_write(subject, old["district"], old["women_only"], (household_id,))
        if to == old["district"]:
            raise _problem("district", "same_district", value=repr(to))
        if not db.run_in_tx(tx, "desk_district_known", district=to)[0]["known"]:
            raise _problem("district", "unknown_district", value=repr(to))
        db.run_in_tx(tx, "household_update", id=household_id, fields={"district": to})
        chains.update_in_tx(tx, db, [household_id])
        suggest.refresh_visit_summary_in_tx(tx, db, [household_id])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action=TRANSFER_ACTION,
            targets=[household_id],
            reason=reason,
            detail=f"district: {old['district']} → {to}; code: {old['code']}"[:200],
        )
        return {"id": household_id, "code": old["code"], "from": old["district"], "to": to}

    return db.write_tx(work)


@dataclass(frozen=True)
class Transfer:
    at: str  # when (ISO, UTC)
    code: str
    from_district: str
    to_district: str
    by: str
    incoming: bool  # into one of the subject's districts
    household_id: str | None  # only for the receiving side (the sender knows no more)


def recent_transfers(db: Database, subject: access.Subject, now: dt.datetime | None = None) -> list[Transfer]:
    """Transfers into and out of the subject's districts in the last ``TRANSFER_DAYS``
    days, newest first, read from the audit log. The receiving side gets the household's
    id (to open it); the sending side the code, the date and where it went, nothing newer.
    Admins: every transfer, with ids."""
    now = now or dt.datetime.now(dt.UTC)
    scope = access.scope_districts(subject)
    rows = audit.query(
        db, action=TRANSFER_ACTION, outcome="ok", since=now - dt.timedelta(days=TRANSFER_DAYS), limit=TRANSFER_LIMIT
    )
    out = []
    for event in rows:
        found = _TRANSFER_DETAIL.match(event.get("detail") or "")
        if found is None or not event.get("targets"):
            continue
        incoming = scope is None or found["to"] in scope
        if not incoming and found["from"] not in scope:  # type: ignore[operator]
            continue
        at = event["at"]
        out.append(
            Transfer(
                at.isoformat() if hasattr(at, "isoformat") else str(at),
                found["code"],
                found["from"],
                found["to"],
                event.get("actor") or "-",
                incoming,
                event["targets"][0] if incoming else None,
            )
        )
    return out


def create_household(db: Database, subject: access.Subject, actor: Actor, data: Any) -> dict[str, Any]:
    """A household a coordinator learns of (by phone): district among theirs, code given or
    the next free one, status active unless said. Returns ``{id, code}``."""
    checked = records.new_household(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    h = dict(checked.values)
    scope = access.scope_districts(subject)
    if scope is not None and access.role_may(subject, access.HOUSEHOLD_WRITE) and h["district"] not in scope:
        raise _problem("district", "bad_choice", value=repr(h["district"]), choices=", ".join(scope))
    hid = households.create_household(db, subject, actor, {**h, "code": h.get("code") or ""})
    code = db.read("household_view", id=hid, username=subject.username, now=dt.datetime.now(dt.UTC))[0]["code"]
    return {"id": hid, "code": code}


# --- members ---------------------------------------------------------------------------------


def add_member(
    db: Database, keyring: Keyring, subject: access.Subject, actor: Actor, household_id: str, data: Any
) -> str:
    """A new member of the household (code_name; legal_name, phone, address encrypted)."""
    checked = records.member(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    return households.add_person(db, keyring, subject, actor, {**checked.values, "household_id": household_id})


def check_member(data: Any, prefix: str = "") -> None:
    """Refused invalid when ``data`` is not a good new member (problems named with ``prefix``)."""
    checked = records.member(_body(data))
    if not checked.ok:
        raise _invalid(checked, {p.field: prefix + p.field for p in checked.problems})


def edit_member(
    db: Database, keyring: Keyring, subject: access.Subject, actor: Actor, person_id: str, data: Any
) -> list[str]:
    """Correct a person's code name or identity fields (only those given; an empty one
    clears it, but the code name). Returns the names of the fields written."""
    checked = records.member(_body(data), partial=True)
    if not checked.ok:
        raise _invalid(checked)
    return households.update_person(db, keyring, subject, actor, person_id, checked.values)


def move_member(db: Database, subject: access.Subject, actor: Actor, person_id: str, data: Any) -> str:
    """Move a person to another household (``{"household": id or code}``); both households
    must be writable by the subject. Returns the household's id."""
    checked = records.move(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    ref = checked.values["household"]
    rows = db.read("desk_household_ref", ref=ref)
    if not rows:
        raise Refused("not_found", "no such household", "household", (ref,))
    households.move_person(db, subject, actor, person_id, rows[0]["id"])
    return str(rows[0]["id"])


INTRODUCER_NAMES = {"introducer_id": "introducer", "introduced_on": "on", "introduced_id": "introducer"}


def change_introducer(db: Database, subject: access.Subject, actor: Actor, person_id: str, data: Any) -> None:
    """``{"introducer": id | null, "on", "relation", "replaces"}``: set, change or remove who
    introduced the person. A person with another introducer than ``replaces`` (absent: none)
    is refused 409 ``second_introducer``; a cycle 409 ``cycle``; both name the people the
    subject may know. Problems name the body's fields (introducer, on, relation)."""
    checked = records.introducer_change(_body(data))
    if not checked.ok:
        raise _invalid(checked)
    v = checked.values
    try:
        households.set_introducer(
            db, subject, actor, person_id, v["introducer"], v["on"], v["relation"], replaces=v["replaces"]
        )
    except Refused as refused:
        field = INTRODUCER_NAMES.get(refused.field or "", refused.field)
        problems = tuple(
            records.Problem(INTRODUCER_NAMES.get(p.field, p.field), p.code, p.values) for p in refused.problems
        )
        raise Refused(refused.kind, refused.why, field, refused.targets, refused.code, problems) from None


def members(db: Database, subject: access.Subject, household_id: str) -> list[dict[str, Any]]:
    """The household's people with their introducer as the subject may know them (the
    desk's introducer forms): ``{id, code_name, introducer: {id, code_name} | None,
    introduced_on, relation}``; an introducer they may not know has id and code name None.
    The caller has read the household (households.read) and audits what it shows."""
    out = []
    for r in db.read("desk_members", id=household_id):
        introducer = None
        if r["introducer_id"] is not None:
            known = access.names_person(subject, r["introducer_district"], r["introducer_women_only"])
            introducer = {
                "id": r["introducer_id"] if known else None,
                "code_name": r["introducer_code_name"] if known else None,
            }
        out.append(
            {
                "id": r["id"],
                "code_name": r["code_name"],
                "introducer": introducer,
                "introduced_on": r["introduced_on"],
                "relation": r["relation"],
            }
        )
    shown: list[dict[str, Any]] = plain(out)
    return shown
