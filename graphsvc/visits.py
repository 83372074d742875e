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

from . import access, alerts, audit, chains, crypto, households, personkeys, records, suggest
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
        assigned_to_subject=holder == subject.username and row["assigned_by"] is not None,
        shared_with_subject=row["shared_with_subject"],
    )


def _may(db: Database, subject: access.Subject, household_id: str, action: str, now: dt.datetime) -> str:
    """Before anything is locked or written: may the subject do ``action`` on the household
    (its id or its code), as far as it can know? Its id; 404 otherwise, after the same work
    for an id that does not exist as for one out of reach (graphsvc/households.py
    ``facts``); the transaction decides again under the lock."""
    found = households.facts(db, subject, household_id, now, claiming=True) if len(household_id) <= 64 else None
    decision = access.decide(subject, action, found) if found is not None else None
    if found is None or not decision:
        raise _not_found(household_id, decision.why if decision is not None else "no such household")
    return found.id


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
        org=subject.org,
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
    max_live: int = 0,
) -> ClaimResult:
    """Claim a household for ``days`` (or renew the subject's own claim). 409 when another
    visitor holds a live claim (code ``claimed``) or the subject already holds ``max_live``
    live claims (code ``claim_limit``; 0: no limit); only active households may be claimed."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    household_id = _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
    since = suggested_since(db, now)
    expires = now + dt.timedelta(days=days)

    def work(tx: neo4j.ManagedTransaction) -> ClaimResult:
        row = _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CLAIM)
        if row["holder"] not in (None, subject.username):
            # raised in the transaction: it rolls back (no counter, no event of its own); the
            # web layer's guard records the one denied event (issue 14)
            raise Refused("conflict", "held by another visitor", "household_id", (household_id,), code="claimed")
        if row["status"] != "active":
            raise Refused(
                "conflict",
                f"the household is {row['status']}; it cannot be claimed",
                "household_id",
                (household_id,),
                code="not_active",
            )
        live = db.run_in_tx(tx, "user_field_lock", username=subject.username, now=now)[0]["live_claims"]
        if row["holder"] != subject.username and max_live and live >= max_live:
            raise Refused(
                "conflict",
                f"already {live} live claims (at most {max_live}): report or release one first",
                "household_id",
                (household_id,),
                code="claim_limit",
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

    return db.write_tx(work)


def release(
    db: Database, subject: access.Subject, actor: Actor, household_id: str, now: dt.datetime | None = None
) -> str:
    """End the subject's live claim on a household; 404 when they hold none."""
    if not access.role_may(subject, access.HOUSEHOLD_CLAIM):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    household_id = _may(db, subject, household_id, access.HOUSEHOLD_CLAIM, now)
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


# --- where to go: the contact of a household the visitor holds ---------------------------

CONTACT_ALERT = alerts.CONTACT_CAP  # one of the alert rules (graphsvc/alerts.py lists and acknowledges it)
REVEAL_WINDOW = dt.timedelta(hours=24)


def contact(
    db: Database,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    household_id: str,
    per_day: int = 0,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The address and phone of the household's contact person (and their code name), for a
    visitor who holds a live claim on it (or an assignment): ``{household_id, code,
    contact_code_name, address, phone, claim_id, claim_expires_at}``.

    An identity read: the audit event (in the same transaction, so the count below cannot
    miss it) names the household, the contact person and the claim. At most ``per_day``
    distinct households in 24 hours (0: no limit): the next is Refused("busy", code
    ``contact_cap``) and, the first time in the window, an ``alert.contact_cap`` event is
    written for the admins. 404 (Refused not_found) when the visitor does not hold it."""
    if not access.role_may(subject, access.HOUSEHOLD_CONTACT_READ):
        raise _not_found(household_id, "not for this role")
    now = now or _now()
    household_id = _may(db, subject, household_id, access.HOUSEHOLD_CONTACT_READ, now)
    since = suggested_since(db, now)
    window = audit.timestamp(now - REVEAL_WINDOW)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        row = _locked(tx, db, household_id, subject, now, since, access.HOUSEHOLD_CONTACT_READ)
        db.run_in_tx(tx, "user_field_lock", username=subject.username, now=now)
        seen = db.run_in_tx(
            tx,
            "contact_reveals_since",
            username=subject.username,
            action=access.HOUSEHOLD_CONTACT_READ.value,
            alert_action=CONTACT_ALERT,
            since=window,
        )[0]
        revealed = [h for h in seen["households"] if h]
        if per_day and household_id not in revealed and len(revealed) >= per_day:
            raise _Capped(len(revealed), seen["alerted"])  # rolls back: a refusal writes nothing
        found = db.run_in_tx(tx, "household_contact", household_id=household_id)
        person = found[0] if found else {}
        pid = person.get("person_id")
        ring = personkeys.reader_in_tx(tx, db, keyring)  # a person's own key (graphsvc/personkeys.py)
        answer = {
            "household_id": household_id,
            "code": row["code"],
            "contact_code_name": person.get("code_name"),
            "address": ring.decrypt(person.get("address"), "Person", pid, "address") if pid else None,
            "phone": ring.decrypt(person.get("phone"), "Person", pid, "phone") if pid else None,
            "claim_id": row["claim_id"],
            "claim_expires_at": row["expires_at"].to_native().isoformat() if row["expires_at"] else None,
        }
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action=access.HOUSEHOLD_CONTACT_READ.value,
            targets=[t for t in (answer["household_id"], pid, answer["claim_id"]) if t],
            detail=f"claim {answer['claim_id']}: " + ", ".join(k for k in ("address", "phone") if answer[k]),
        )
        return answer

    try:
        return db.write_tx(work)
    except _Capped as capped:
        if not capped.alerted:
            audit.append_now(
                db,
                **actor.event(),
                action=CONTACT_ALERT,
                outcome="denied",
                targets=[household_id],
                detail=f"{capped.count} households' contacts in 24 h; the cap is {per_day}",
            )
        raise Refused(
            "busy",
            f"{capped.count} contacts revealed in 24 hours (at most {per_day})",
            "household_id",
            (household_id,),
            code="contact_cap",
        ) from None


class _Capped(Exception):
    """The daily number of households' contacts is reached (raised in the transaction, so
    that it rolls back: graphsvc/visits.py contact)."""

    def __init__(self, count: int, alerted: bool):
        super().__init__(count)
        self.count, self.alerted = count, alerted


# --- visit reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    household_id: str  # its id or code, as given
    visited_on: dt.date
    outcome: str
    materials: str | None
    notes: str | None
    follow_up_on: dt.date | None
    met: tuple[str, ...] = ()
    new_members: tuple[dict[str, Any], ...] = ()
    introductions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Reported:
    """What a report wrote: the visit, and the ids of what it brought back."""

    visit_id: str
    household_id: str
    new_members: tuple[str, ...] = ()
    introductions: tuple[tuple[str, str], ...] = ()  # (household id, its first person's id)


def parse_report(body: Any, today: dt.date) -> Report:
    """A report's fields (named as in visits.csv, without id and visitor; records.visit_report)
    through the record layer, plus what a report adds: not in the future, not before
    EARLIEST, an outcome a visitor reports. Refused("invalid") with every problem (the first
    names the field)."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = records.visit_report(body)
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
    return Report(
        v["household_id"],
        v["visited_on"],
        v["outcome"],
        v["materials"],
        v["notes"],
        v["follow_up_on"],
        tuple(v["met"]),
        tuple(v["new_members"]),
        tuple(v["introductions"]),
    )


def _checked_in_tx(tx: neo4j.ManagedTransaction, db: Database, household_id: str, parsed: Report) -> None:
    """What the record layer cannot know: the people met and the introducers are people of
    the visited household, and each introduction's district is one of this network."""
    checked = records.Checked()
    wanted = sorted({x["district"] for x in parsed.introductions})
    found = db.run_in_tx(tx, "report_checks", household_id=household_id, districts=wanted)[0]
    members, known = set(found["members"]), set(found["known"])
    for i, pid in enumerate(parsed.met):
        if pid not in members:
            checked.problem(f"met[{i}]", "not_member", value=repr(pid))
    for i, intro in enumerate(parsed.introductions):
        if intro["introducer_id"] not in members:
            checked.problem(f"introductions[{i}].introducer_id", "not_member", value=repr(intro["introducer_id"]))
        if intro["district"] not in known:
            checked.problem(f"introductions[{i}].district", "unknown_district", value=repr(intro["district"]))
    if not checked.ok:
        first = checked.problems[0]
        raise Refused("invalid", first.english(), first.field, (household_id,), problems=tuple(checked.problems))


def report(
    db: Database,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    body: Any,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
) -> Reported:
    """Record a visit and what it brought back, all in one transaction or nothing: the visit
    (notes encrypted), the people met, new members of the household (identity encrypted),
    each introduced household (status pending, its first person, the introduction dated the
    visit's day), the end of the reporter's claim, the household's status when it moved,
    the chain index and visit summary of every household touched, and the audit event.
    ``today``: the date in the network's time zone (a visit is not in its future)."""
    if not access.role_may(subject, access.VISIT_REPORT):
        raise _not_found(str(body.get("household_id")) if isinstance(body, Mapping) else "-", "not for this role")
    now = now or _now()
    since = suggested_since(db, now)
    parsed = parse_report(body, today or now.date())  # today: of the network's zone (settings)
    household_id = _may(db, subject, parsed.household_id, access.VISIT_REPORT, now)
    visit_id = "v-" + secrets.token_hex(8)
    # ids are made before the transaction: a retried transaction writes the same records
    member_ids = tuple(households.new_id("p") for _ in parsed.new_members)
    intro_ids = tuple((households.new_id("h"), households.new_id("p")) for _ in parsed.introductions)
    codes = tuple(households.provisional_code() for _ in parsed.introductions)
    notes = _report_notes(parsed, codes)
    sealed_notes = keyring.encrypt(notes, "Visit", visit_id, "notes") if notes else None
    sealed_members = [
        crypto.encrypt_record(keyring, "Person", pid, {**m, "id": pid, "household_id": household_id, "address": None})
        for pid, m in zip(member_ids, parsed.new_members, strict=True)
    ]
    sealed_intros = [
        crypto.encrypt_record(keyring, "Person", pid, {k: x.get(k) for k in records.IDENTITY_FIELDS})
        for (_, pid), x in zip(intro_ids, parsed.introductions, strict=True)
    ]

    # Locks: the visited household's first, then (new households only) the chain index's,
    # then the audit head's, each as late as it can be: the global ones are held only for
    # the last two statements and the commit. The introductions lock of the write service is not needed: each
    # introduction here is of a person this transaction creates, who can have no other
    # introducer and close no cycle (and whom no other transaction can name before it commits).
    def work(tx: neo4j.ManagedTransaction) -> Reported:
        row = _locked(tx, db, household_id, subject, now, since, access.VISIT_REPORT)
        if row["holder"] not in (None, subject.username):
            raise Refused("conflict", "held by another visitor", "household_id", (household_id,), code="claimed")
        if parsed.met or parsed.introductions:
            _checked_in_tx(tx, db, household_id, parsed)
        db.run_in_tx(
            tx,
            "visit_create",
            household_id=household_id,
            username=subject.username,
            id=visit_id,
            visited_on=parsed.visited_on,
            outcome=parsed.outcome,
            materials=parsed.materials,
            notes=sealed_notes,
            follow_up_on=parsed.follow_up_on,
            now=now,
        )
        for person in sealed_members:
            db.run_in_tx(tx, "person_create", **person)
        met = [*parsed.met, *member_ids]
        if met:
            db.run_in_tx(tx, "visit_met", visit_id=visit_id, ids=met)
        if intro_ids:
            rows = [
                {
                    "id": hid,
                    "code": code,
                    "district": intro["district"],
                    "women_only": intro["women_only"],
                    "person_id": pid,
                    "code_name": intro["code_name"],
                    **sealed,
                    "introducer": intro["introducer_id"],
                    "relation": intro["relation"],
                }
                for (hid, pid), code, intro, sealed in zip(
                    intro_ids, codes, parsed.introductions, sealed_intros, strict=True
                )
            ]
            db.run_in_tx(tx, "household_create_introduced", visit_id=visit_id, on=parsed.visited_on, rows=rows)
        ended = db.run_in_tx(
            tx, "claim_end", household_id=household_id, username=subject.username, now=now, ended_by="visit"
        )
        if parsed.outcome == "moved":
            db.run_in_tx(tx, "household_set_moved", household_id=household_id)
        suggest.refresh_visit_summary_in_tx(tx, db, [household_id])  # the new ones: set as created
        if intro_ids:  # the new households come in below the visited one, whose way in stays
            chains.update_in_tx(tx, db, [hid for hid, _ in intro_ids])
        brought = [f"{len(parsed.met)} met"] if parsed.met else []
        brought += [f"{len(member_ids)} new members"] if member_ids else []
        brought += [f"{len(intro_ids)} introductions"] if intro_ids else []
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="visit.report",
            targets=[household_id, visit_id, *(e["id"] for e in ended), *met, *(x for pair in intro_ids for x in pair)],
            detail="; ".join([parsed.outcome + ("; household moved" if parsed.outcome == "moved" else ""), *brought]),
        )
        return Reported(visit_id, household_id, member_ids, intro_ids)

    return db.write_tx(work)


def _report_notes(parsed: Report, codes: tuple[str, ...]) -> str | None:
    """The visit's notes, with each introduction's note after them under its new
    household's code (the notes are encrypted as one field: graphsvc/crypto.py)."""
    parts = [parsed.notes] if parsed.notes else []
    parts += [f"[{code}] {x['note']}" for code, x in zip(codes, parsed.introductions, strict=True) if x.get("note")]
    return "\n\n".join(parts) or None


def live_claims(db: Database, username: str, now: dt.datetime | None = None) -> dict[str, dt.datetime]:
    """The visitor's live claims: household id → when the claim ends."""
    rows = db.read("visitor_live_claims", username=username, now=now or _now())
    return {r["household_id"]: r["expires_at"].to_native() for r in rows}


def report_form(db: Database, subject: access.Subject, ref: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the report form shows of the household a visitor reports on (by id or code):
    ``{household_id, code, members: [{id, code_name}]}``, the people they may tap as met.
    404 (Refused not_found) when they may not report on it."""
    if not access.role_may(subject, access.VISIT_REPORT):
        raise _not_found(ref, "not for this role")
    now = now or _now()
    household_id = _may(db, subject, ref, access.VISIT_REPORT, now)
    row = db.read("report_form", household_id=household_id)[0]
    named = access.names_person(subject, row["district"], row["women_only"], met=True)
    return {
        "household_id": row["id"],
        "code": row["code"],
        "members": [{"id": m[0], "code_name": m[1]} for m in row["members"]] if named else [],
    }


def history(db: Database, subject: access.Subject, limit: int = 200) -> dict[str, Any]:
    """The subject's own visits, claims, and the households their visits brought in. Of
    those, one outside what the subject may be told of (``access.names_person``: another
    district, a women-only household for a man) shows only that it is waiting: no code
    name, no district, no id."""
    if access.in_duress(subject):  # a duress session's history is empty (graphsvc/duress.py)
        return {"visits": [], "claims": [], "brought": []}
    rows = db.read("visitor_history", username=subject.username, limit=limit, now=_now())
    data = dict(rows[0]) if rows else {"visits": [], "claims": []}
    brought = []
    org_scoped = getattr(access.role_of(subject), "org_scoped", False)
    for b in db.read("visitor_brought", username=subject.username, limit=limit):
        known = access.names_person(subject, b["district"], b["women_only"])
        if org_scoped:  # a partner: what they brought in is theirs (access.shared_with_subject), unless merged
            known = b["status"] != "merged" and (not b["women_only"] or subject.gender == "f")
        brought.append(
            {
                "visit_id": b["visit_id"],
                "visited_on": b["visited_on"],
                "status": b["status"],
                "household_id": b["household_id"] if known else None,
                "code": b["code"] if known else None,
                "code_name": b["code_name"] if known else None,
                "district": b["district"] if known else None,
            }
        )
    data["brought"] = brought
    return data
