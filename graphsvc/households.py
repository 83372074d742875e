"""Households and their people: the read model behind the household page and
``GET /api/v1/households/<id>``, and the write service that creates and corrects households,
people and introductions.

The flow: the facts the policy needs (named Cypher, the same work whether the household
exists or not) → ``access.decide`` → only then the household itself → keep the fields the
decision allows → name people only where ``access.names_person`` allows (an introducer in
another district, or of a women-only household for a man, is "someone": no code name, no
id) → decrypt identity only when asked for and allowed. The caller audits the answer with
the ids it holds (graphsvc/shown.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import access, audit, chains, crypto, network, personkeys, records, suggest
from .errors import Refused
from .model import Actor, plain, to_date

if TYPE_CHECKING:
    import neo4j

    from .crypto import Keyring
    from .db import Database

MAX_ID = 64


def facts(
    db: Database, subject: access.Subject, household_id: str, now: dt.datetime | None = None, claiming: bool = False
) -> access.HouseholdFacts | None:
    """What the policy needs to know of the household (None: there is none). Visitors:
    their link to it (claim, visit, suggestion); the statement does the same work for an id
    that does not exist, so that the time of a 404 does not tell which ids exist.
    ``claiming``: a suggestion counts even while another visitor holds a claim (the claim
    is then refused 409, not hidden)."""
    role = access.role_of(subject)
    if role is not None and role.field_work:
        now = now or dt.datetime.now(dt.UTC)
        row = db.read(
            "visitor_household_facts",
            household_id=household_id,
            username=subject.username,
            now=now,
            suggested_since=suggest.suggested_since(db, now),
            shown_action=suggest.SHOWN_ACTION,
            org=subject.org,
        )[0]
    else:
        row = db.read("household_facts", household_id=household_id)[0]
    if not row["exists"]:
        return None
    return access.HouseholdFacts(
        row["id"],
        row["district"],
        women_only=row["women_only"],
        suggested_to_subject=row["suggested_and_open" if claiming else "candidate"],
        claimed_by_subject=row["claimed_by_subject"],
        visited_by_subject=row["visited_by_subject"],
        assigned_to_subject=row["assigned_to_subject"],
        shared_with_subject=row["shared_with_subject"],
    )


def _introducer(subject: access.Subject, members: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Who introduced the household (the introducer of its first introduced member): their
    id and code name, or both None ("someone") when the caller may not know them."""
    head = next((m for m in members if m["introducer_id"]), None)
    if head is None:
        return None
    if access.names_person(subject, head["introducer_district"], head["introducer_women_only"]):
        return {"id": head["introducer_id"], "code_name": head["introducer_code_name"]}
    return {"id": None, "code_name": None}


def read(
    db: Database,
    keyring: Keyring,
    subject: access.Subject,
    household_id: str,
    identity: bool = False,
    reason: str | None = None,
) -> tuple[str, dict[str, Any], str | None]:
    """The household as ``subject`` may see it: ``(audit action, answer, reason)``.

    Raises ``Refused``: ``not_found`` when it does not exist or the subject may not know it
    (one answer for both), ``forbidden`` when identity is asked for and not allowed,
    ``invalid`` (field ``reason``) when an admin gives no reason.
    """
    found = facts(db, subject, household_id) if len(household_id) <= MAX_ID else None
    decision = access.decide(subject, access.HOUSEHOLD_READ, found) if found else None
    if found is None or not decision:
        raise Refused(
            "not_found", decision.why if decision is not None else "no such household", targets=(household_id,)
        )
    wanted = access.decide(subject, access.HOUSEHOLD_IDENTITY_READ, found) if identity else None
    if wanted is not None and not wanted:
        raise Refused("forbidden", wanted.why, targets=(household_id,))
    problem = access.reason_problem(reason) if wanted and wanted.needs_reason else None
    if problem:  # an admin's reason: a real one, a few words (access.reason_problem)
        raise Refused(
            "invalid", "identity needs a stated reason", field="reason", targets=(household_id,), code=problem
        )

    row = db.read("household_view", id=found.id, username=subject.username, now=dt.datetime.now(dt.UTC))[0]
    last = row["visits"][0] if row["visits"] else None
    full = {
        "id": row["id"],
        "code": row["code"],
        "district": row["district"],
        "arrived_on": row["arrived_on"],
        "status": row["status"],
        "introducer": _introducer(subject, row["members"]),
        "last_visit": last["on"] if last else None,
        "members": [{"id": m["id"], "code_name": m["code_name"]} for m in row["members"]],
        "visits": [{k: v[k] for k in ("id", "on", "outcome", "materials", "visitor")} for v in row["visits"]],
        # the subject's own live claim on it (a field worker's next step: show the address, report)
        "claim": row["claim"],
    }
    if row.get("status_reason") is not None:
        full["status_reason"] = row["status_reason"]
    shown = access.visible(full, decision.fields)
    if not wanted:
        _notes_for_staff(keyring, subject, found, row, shown)
        return access.HOUSEHOLD_READ, plain(shown), None
    by_id = {m["id"]: m for m in row["members"]}
    keyring = personkeys.reader(db, keyring)  # each person's own key (graphsvc/personkeys.py)
    for member in shown["members"]:
        for field in ("legal_name", "phone", "address"):
            member[field] = keyring.decrypt(by_id[member["id"]][field], "Person", member["id"], field)
    notes = {v["id"]: v for v in row["visits"]}
    for visit in shown["visits"]:
        visit["notes"] = keyring.decrypt(notes[visit["id"]]["notes"], "Visit", visit["id"], "notes")
        _shredded(visit, notes[visit["id"]])
    return access.HOUSEHOLD_IDENTITY_READ, plain(shown), reason


def _notes_for_staff(
    keyring: Keyring, subject: access.Subject, found: access.HouseholdFacts, row: dict[str, Any], shown: dict[str, Any]
) -> None:
    """Visit notes for the roles that read them without a stated reason (coordinators of
    the district: access.VISIT_NOTES_READ); an admin reads them with the identity reveal
    (a reason), a visitor never sees the visit list. The caller audits the notes read."""
    role = access.role_of(subject)
    if "visits" not in shown or role is None or role.identity_needs_reason or role.field_work:
        return
    stored = {v["id"]: v for v in row["visits"]}
    for visit in shown["visits"]:
        facts = access.VisitFacts(visit["id"], found.district, stored[visit["id"]]["visitor"])
        if access.decide(subject, access.VISIT_NOTES_READ, facts):
            visit["notes"] = keyring.decrypt(stored[visit["id"]]["notes"], "Visit", visit["id"], "notes")
            _shredded(visit, stored[visit["id"]])


def _shredded(visit: dict[str, Any], stored: dict[str, Any]) -> None:
    """Where notes are shown: notes shredded by retention (graphsvc/retention.py) say so."""
    if visit["notes"] is None and stored.get("notes_retained_days") is not None:
        visit["notes_removed_after_days"] = stored["notes_retained_days"]


# --- the write service -------------------------------------------------------------------
#
# Every write runs lock → decide (access) → validate (graphsvc/records.py) → write → refresh
# what is derived (the chain index, graphsvc/chains.py; the visit summary) → audit, in one
# managed transaction (retried on transient errors: the work is idempotent, ids are made
# before it). A refusal raises Refused and nothing is written. The audit event names the
# records and the fields changed, with old and new values for fields that are not identity
# (identity values never reach the audit log).

IDENTITY = frozenset(records.IDENTITY_FIELDS)
ANY = object()  # set_introducer(replaces=ANY): whatever introducer the person has
SOMEONE = "someone"  # a person the subject may not be told of, in a refusal's words


def _named(
    tx: neo4j.ManagedTransaction, db: Database, subject: access.Subject, ids: list[str]
) -> list[tuple[str, str]]:
    """Each person as the subject may be told of them: ``(id, "code name (id)")``, or
    ``("someone", "someone")`` for a person of a district they may not see."""
    rows = {r["id"]: r for r in db.run_in_tx(tx, "desk_people", ids=list(dict.fromkeys(ids)))}
    out = []
    for pid in ids:
        r = rows.get(pid)
        if r is not None and access.names_person(subject, r["district"], r["women_only"]):
            out.append((pid, f"{r['code_name']} ({pid})"))
        else:
            out.append((SOMEONE, SOMEONE))
    return out


def new_id(prefix: str) -> str:
    """A new record's id: ``h-…``, ``p-…`` (48 random bits)."""
    return f"{prefix}-{secrets.token_hex(6)}"


def provisional_code() -> str:
    """The code of a household brought back from a visit until a coordinator confirms it
    (``N-`` and six hex digits: "new", never mistaken for an ``H-`` code)."""
    return "N-" + secrets.token_hex(3).upper()


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The fields whose value changes, and their description for the audit: old → new for
    fields that are not identity, the name alone for identity fields."""
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    words = []
    for name, value in sorted(changed.items()):
        if name in IDENTITY:
            words.append(name)
        else:
            words.append(f"{name}: {_word(old.get(name))} → {_word(value)}")
    return changed, "; ".join(words)[:200]


def _word(value: Any) -> str:
    value = plain(value)
    return "–" if value in (None, "") else str(value)


def _decide_write(
    subject: access.Subject, district: str, women_only: bool = False, targets: tuple[str, ...] = ()
) -> None:
    decision = access.decide(subject, access.HOUSEHOLD_WRITE, access.HouseholdFacts("-", district, women_only))
    if not decision:
        raise Refused("not_found", decision.why, targets=targets)


def _invalid(checked: records.Checked) -> Refused:
    first = checked.problems[0]
    return Refused("invalid", first.english(), first.field, problems=tuple(checked.problems))


def create_household(db: Database, subject: access.Subject, actor: Actor, data: Mapping[str, Any]) -> str:
    """A new household (id made here unless given; code unique; no code or an empty one:
    the next free ``H-`` number, taken under the lock); returns its id."""
    data = {"id": new_id("h"), **data}
    auto = not data.get("code")
    if auto:
        data["code"] = "H-0"  # a stand-in for the record layer; the real one is taken under the lock
    checked = records.household(data, strict=True)
    if not checked.ok:
        raise _invalid(checked)
    h = checked.values
    _decide_write(subject, h["district"], h["women_only"], (h["id"],))

    def work(tx: neo4j.ManagedTransaction) -> str:
        db.run_in_tx(tx, "introductions_lock")  # a new household may join a chain later: one order for all
        if auto:
            h["code"] = next_code(tx, db)
        owner = db.run_in_tx(tx, "household_code_owner", code=h["code"])
        if owner:
            raise Refused(
                "conflict", f"the code {h['code']} belongs to another household", "code", (h["id"],), code="code_taken"
            )
        if db.run_in_tx(tx, "household_lock", id=h["id"]):
            raise Refused("conflict", "a household with this id exists", "id", (h["id"],), code="id_taken")
        db.run_in_tx(tx, "household_create", **h)
        chains.update_in_tx(tx, db, [h["id"]])
        suggest.refresh_visit_summary_in_tx(tx, db, [h["id"]])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="household.create",
            targets=[h["id"]],
            detail=_changes({}, {k: v for k, v in h.items() if k != "id"})[1],
        )
        return str(h["id"])

    return db.write_tx(work)


def code_after(top: int | None, width: int | None) -> str:
    """The code after the highest ``H-<n>`` in use, written as wide as that one (three
    digits when there is none yet).

    >>> code_after(None, None), code_after(400, 3), code_after(99, 2), code_after(7, 1)
    ('H-001', 'H-401', 'H-100', 'H-8')
    """
    if top is None:
        return "H-001"
    return f"H-{top + 1:0{width or 1}d}"


def next_code(tx: neo4j.ManagedTransaction, db: Database) -> str:
    """The next free household code (a confirmation at intake, a household created on the
    desk): one more than the last one given (a counter, locked until the transaction ends),
    or, when there is none yet or that code was taken since (an import, a correction), one
    more than the highest ``H-<n>`` in use (``H-217`` after ``H-216``)."""
    counter = db.run_in_tx(tx, "household_code_counter")[0]
    code = code_after(counter["last"], counter["width"]) if counter["last"] is not None else None
    if code is None or db.run_in_tx(tx, "household_code_owner", code=code):
        top = db.run_in_tx(tx, "household_code_top")
        code = code_after(top[0]["top"], top[0]["width"]) if top else code_after(None, None)
    digits = code[2:]
    db.run_in_tx(tx, "household_code_counter_set", last=int(digits), width=len(digits))
    return code


def update_household(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Correct a household's fields (code, district, arrived_on, status, women_only); the
    subject must be allowed to write it where it is and where it goes. Returns what changed."""
    checked = records.household(changes, partial=True, strict=True)
    checked.values.pop("id", None)
    if "id" in changes:
        checked.problem("id", "unknown_field", value=repr("id"))
    if not checked.ok:
        raise _invalid(checked)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        rows = db.run_in_tx(tx, "household_lock", id=household_id)
        if not rows:
            raise Refused("not_found", "no such household", targets=(household_id,))
        old = rows[0]
        _decide_write(subject, old["district"], old["women_only"], (household_id,))
        changed, words = _changes(old, checked.values)
        if "district" in changed:
            _decide_write(subject, changed["district"], old["women_only"], (household_id,))
        if "code" in changed:
            owner = db.run_in_tx(tx, "household_code_owner", code=changed["code"])
            if owner and owner[0]["id"] != household_id:
                raise Refused(
                    "conflict",
                    f"the code {changed['code']} belongs to another household",
                    "code",
                    (household_id,),
                    code="code_taken",
                )
        if changed:
            db.run_in_tx(tx, "household_update", id=household_id, fields=changed)
            if "arrived_on" in changed:
                suggest.refresh_visit_summary_in_tx(tx, db, [household_id])
            audit.append_in_tx(tx, db, **actor.event(), action="household.update", targets=[household_id], detail=words)
        return changed

    return db.write_tx(work)


def _person_facts(tx: neo4j.ManagedTransaction, db: Database, person_id: str) -> dict[str, Any]:
    rows = db.run_in_tx(tx, "person_facts", id=person_id)
    if not rows:
        raise Refused("not_found", "no such person", targets=(person_id,))
    return rows[0]


def add_person(db: Database, keyring: Keyring, subject: access.Subject, actor: Actor, data: Mapping[str, Any]) -> str:
    """A new member of a household (id made here unless given); identity fields encrypted
    before they reach the database. Returns the person's id."""
    data = {"id": new_id("p"), **data}
    checked = records.person(data, strict=True)
    if not checked.ok:
        raise _invalid(checked)
    p = checked.values

    def work(tx: neo4j.ManagedTransaction) -> str:
        db.run_in_tx(tx, "introductions_lock")
        rows = db.run_in_tx(tx, "household_lock", id=p["household_id"])
        if not rows:
            raise Refused("not_found", "no such household", "household_id", (p["household_id"],))
        _decide_write(subject, rows[0]["district"], rows[0]["women_only"], (p["household_id"],))
        if db.run_in_tx(tx, "person_facts", id=p["id"]):
            raise Refused("conflict", "a person with this id exists", "id", (p["id"],), code="id_taken")
        # sealed under the person's own key, made in this transaction (graphsvc/personkeys.py)
        sealed = crypto.encrypt_record(personkeys.ring_in_tx(tx, db, keyring, [p["id"]]), "Person", p["id"], p)
        db.run_in_tx(tx, "person_create", **sealed)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="person.create",
            targets=[p["id"], p["household_id"]],
            detail=_changes({}, {k: v for k, v in p.items() if k not in ("id", "household_id") and v is not None})[1],
        )
        return str(p["id"])

    return db.write_tx(work)


def update_person(
    db: Database, keyring: Keyring, subject: access.Subject, actor: Actor, person_id: str, changes: Mapping[str, Any]
) -> list[str]:
    """Correct a person's code name or identity fields (identity re-encrypted; named in the
    audit, never shown there). Returns the names of the fields that changed."""
    checked = records.person(changes, partial=True, strict=True)
    for fixed in ("id", "household_id"):
        if fixed in changes:
            checked.values.pop(fixed, None)
            checked.problem(fixed, "unknown_field", value=repr(fixed))
    if not checked.ok:
        raise _invalid(checked)

    def work(tx: neo4j.ManagedTransaction) -> list[str]:
        person = _person_facts(tx, db, person_id)
        db.run_in_tx(tx, "household_lock", id=person["household_id"])
        _decide_write(subject, person["district"], person["women_only"], (person_id,))
        if db.run_in_tx(tx, "erase_person_facts", id=person_id)[0]["erased"]:  # graphsvc/erasure.py
            raise Refused("conflict", "the person is erased", "id", (person_id,), code="already_erased")
        fields = dict(checked.values)
        changed = [k for k in fields if k in IDENTITY or person.get(k) != fields[k]]
        if not changed:
            return []
        ring = personkeys.ring_in_tx(tx, db, keyring, [person_id]) if IDENTITY & set(changed) else keyring
        sealed = crypto.encrypt_record(ring, "Person", person_id, fields)
        # the blind indexes of the identity fields written follow them (crypto.blind_indexes)
        blind = crypto.blind_indexes(keyring, "Person", {k: fields[k] for k in changed if k in IDENTITY})
        db.run_in_tx(tx, "person_update", id=person_id, fields={**{k: sealed[k] for k in changed}, **blind})
        words = _changes(
            {k: person.get(k) for k in changed if k not in IDENTITY},
            {k: fields[k] for k in changed if k not in IDENTITY},
        )[1]
        named = ", ".join(k for k in changed if k in IDENTITY)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="person.update",
            targets=[person_id, person["household_id"]],
            detail="; ".join(x for x in (words, named) if x)[:200],
        )
        return changed

    return db.write_tx(work)


def move_person(db: Database, subject: access.Subject, actor: Actor, person_id: str, household_id: str) -> None:
    """The person belongs to another household from now on (both households' placements
    in the chain index follow); the subject must be allowed to write both households."""

    def work(tx: neo4j.ManagedTransaction) -> None:
        db.run_in_tx(tx, "introductions_lock")
        person = _person_facts(tx, db, person_id)
        rows = db.run_in_tx(tx, "household_lock", id=household_id)
        if not rows:
            raise Refused("not_found", "no such household", "household_id", (household_id,))
        _decide_write(subject, person["district"], person["women_only"], (person_id,))
        _decide_write(subject, rows[0]["district"], rows[0]["women_only"], (household_id,))
        if person["household_id"] == household_id:
            return
        db.run_in_tx(tx, "person_move", id=person_id, household_id=household_id)
        touched = [h for h in (person["household_id"], household_id) if h]
        chains.update_in_tx(tx, db, touched)
        suggest.refresh_visit_summary_in_tx(tx, db, touched)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="person.move",
            targets=[person_id, *touched],
            detail=f"household: {person['household_id']} → {household_id}",
        )

    db.write_tx(work)


def set_introducer(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    introduced_id: str,
    introducer_id: str | None,
    introduced_on: Any = None,
    relation: str | None = None,
    replaces: Any = ANY,
) -> None:
    """Set, change or remove (``introducer_id`` None) who introduced a person. A person has
    at most one introducer (a new one replaces the old) and introductions never form a
    cycle: under one lock for all introductions, the new introducer's ancestors must not
    hold the person (Refused conflict "cycle", naming the path). The chain index of the
    households below follows in the same transaction.

    ``replaces``: the introducer the caller means to replace (None: the caller believes the
    person has none). When given, a person who has another introducer is refused
    (conflict ``second_introducer``, naming them): a person has one introducer, and a
    change of it is made on purpose. Left out, a new introducer replaces the old."""
    if introducer_id is not None:
        checked = records.introduction(
            {
                "introducer_id": introducer_id,
                "introduced_id": introduced_id,
                "introduced_on": introduced_on,
                "relation": relation,
            }
        )
        if not checked.ok:
            raise _invalid(checked)
        intro = checked.values
    elif not isinstance(introduced_id, str) or not records.ID_RE.match(introduced_id):
        raise Refused("invalid", "introduced_id is not a valid id", "introduced_id")

    def work(tx: neo4j.ManagedTransaction) -> None:
        db.run_in_tx(tx, "introductions_lock")
        person = _person_facts(tx, db, introduced_id)
        db.run_in_tx(tx, "household_lock", id=person["household_id"])
        _decide_write(subject, person["district"], person["women_only"], (introduced_id,))
        if introducer_id is None:
            if person["introducer_id"] is None:
                return
            db.run_in_tx(tx, "introduction_remove", introduced=introduced_id)
            detail = f"introducer: {person['introducer_id']} → –"
        else:
            introducer = _person_facts(tx, db, introducer_id)
            if not access.names_person(subject, introducer["district"], introducer["women_only"]):
                raise Refused(
                    "not_found", "the introducer is not someone the subject may know", "introducer_id", (introducer_id,)
                )
            current = person["introducer_id"]
            if replaces is not ANY and current not in (None, introducer_id, replaces):
                said = _named(tx, db, subject, [current])
                raise Refused(
                    "conflict",
                    f"second introducer: {introduced_id} has {said[0][0]}",
                    "introducer_id",
                    (introduced_id, *([current] if said[0][0] == current else [])),
                    code="second_introducer",
                    problems=(
                        records.Problem(
                            "introducer_id",
                            "second_introducer",
                            {"value": _named(tx, db, subject, [introduced_id])[0][1], "current": said[0][1]},
                        ),
                    ),
                )
            ancestors = db.run_in_tx(tx, "person_ancestors", id=introducer_id)
            above = ancestors[0]["ids"] if ancestors else [introducer_id]
            loop = network.would_close_cycle(dict(zip(above[1:], above)), introducer_id, introduced_id)
            if loop is not None:
                # the people of the loop: named only where the subject may know them
                said = _named(tx, db, subject, loop)
                raise Refused(
                    "conflict",
                    "introduction cycle: " + " → ".join(i for i, _w in said),
                    "introducer_id",
                    tuple(dict.fromkeys(i for i, _w in said if i != SOMEONE)),
                    code="cycle",
                    problems=(records.Problem("introducer_id", "cycle", {"value": " → ".join(w for _i, w in said)}),),
                )
            same = (
                person["introducer_id"] == introducer_id
                and to_date(person["introduced_on"]) == intro["introduced_on"]
                and person["relation"] == intro["relation"]
            )
            if same:
                return
            db.run_in_tx(
                tx,
                "introduction_set",
                introduced=introduced_id,
                introducer=introducer_id,
                on=intro["introduced_on"],
                relation=intro["relation"],
            )
            detail = (
                f"introducer: {person['introducer_id'] or '–'} → {introducer_id}; relation: {intro['relation']}"
                f"; on: {_word(intro['introduced_on'])}"
            )
        chains.update_in_tx(tx, db, [person["household_id"]])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="introduction.set",
            targets=[introduced_id, person["household_id"]] + ([introducer_id] if introducer_id else []),
            detail=detail[:200],
        )

    db.write_tx(work)
