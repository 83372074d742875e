"""Erasure without breaking the chain (issue 15 §5): a person or a household forgotten, the
introduction chain kept.

What an erasure does, in one write transaction (lock → decide → validate → write →
refresh → audit):

* every person erased (the person, or each member of the household) stays in the graph as
  an anonymous placeholder, so that the introduction chain keeps its shape (waves, chain
  indexes, counts stay right: no node or edge is removed). Their identity ciphertexts and
  blind indexes are deleted, their own key (graphsvc/personkeys.py) destroyed, so that any
  copy of a p1 ciphertext that outlives the graph's can no longer be read; their code name
  is replaced by ``PLACEHOLDER``, a neutral mark (pages say "erased person" from the
  ``erased`` flag);
* a household erased stays too (id, code, district, dates: its place in the chain and the
  visit history's counts) but is closed to visits (status ``closed``), its free-text
  status reason deleted, and the notes of every visit to it shredded (what visitors wrote
  about the household is identity as much as its address);
* stored answers of idempotent requests (graphsvc/idempotency.py, kept 24 hours) that hold
  an erased person's identity, code name or id are dropped (a retry is told "already
  done");
* one ``erased`` audit event: the ids, the stated reason, counts. Never a name: a reason
  that names the identity being erased is refused (field ``reason``).

The erasure list (``ERASURES_FILE`` in the state folder, outside Neo4j): one JSON line per
erasure (kind, ids, time; no identity), appended after the commit. ``reapply`` erases again
whatever it names that a restored backup brought back (``graphsvc backup restore`` runs it).

Refusals name the field: ``kind`` (not person/household), ``id`` (unknown: not_found;
already erased: conflict ``already_erased``), ``reason`` (missing or too short:
access.reason_problem; naming the identity: ``reason_names_identity``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import access, audit, chains, idempotency, personkeys, photos, suggest
from .crypto import Keyring
from .errors import Refused
from .model import Actor

if TYPE_CHECKING:
    import neo4j

    from .db import Database

KINDS = ("person", "household")
ACTION = "erased"
#: The code name an erased person keeps: a neutral mark, no language, no identity.
PLACEHOLDER = "—"
ERASURES_FILE = "erasures.jsonl"


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Refused("invalid", "kind must be person or household", field="kind", code="erase_kind")
    return kind


def _decide(subject: access.Subject, record_id: str) -> None:
    decision = access.decide(subject, access.RECORD_ERASE)
    if not decision:
        raise Refused("forbidden", decision.why, targets=(record_id,))


def _scope(tx: neo4j.ManagedTransaction, db: Database, kind: str, record_id: str) -> tuple[str, list[str]]:
    """The household and the people an erasure of ``kind`` ``record_id`` touches."""
    if kind == "person":
        rows = db.run_in_tx(tx, "erase_person_facts", id=record_id)
        if not rows:
            raise Refused("not_found", "no such person", field="id", targets=(record_id,))
        if rows[0]["erased"]:
            raise Refused("conflict", "erased already", field="id", targets=(record_id,), code="already_erased")
        return rows[0]["household_id"], [record_id]
    rows = db.run_in_tx(tx, "erase_household_facts", id=record_id)
    if not rows:
        raise Refused("not_found", "no such household", field="id", targets=(record_id,))
    if rows[0]["erased"]:
        raise Refused("conflict", "erased already", field="id", targets=(record_id,), code="already_erased")
    members = db.run_in_tx(tx, "household_members_ids", id=record_id)
    return record_id, [m["id"] for m in members]


def preview(db: Database, subject: access.Subject, kind: str, record_id: str) -> dict[str, Any]:
    """What an erasure would touch, by counts and codes (never identity): for the
    confirmation page. Raises Refused as ``erase`` would (kind, id, already erased)."""
    _kind(kind)
    _decide(subject, record_id)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        household_id, people = _scope(tx, db, kind, record_id)
        counts = db.run_in_tx(
            tx, "erase_preview", ids=people, household_id=household_id if kind == "household" else None
        )[0]
        code = db.run_in_tx(tx, "erase_household_code", id=household_id)
        return {
            "kind": kind,
            "id": record_id,
            "household_id": household_id,
            "household_code": code[0]["code"] if code else None,
            "people": len(people),
            "introductions": counts["introductions"],
            "visits": counts["visits"],
            "notes": counts["notes"],
        }

    return db.read_tx(work)


def _identity_values(ring: personkeys.PersonRing, rows: Iterable[dict[str, Any]]) -> list[str]:
    """The plaintext identity of the people being erased (and their code names): what must
    leave no copy, and what a reason may not name."""
    values: list[str] = []
    for row in rows:
        values.append(row["id"])
        if row["code_name"]:
            values.append(row["code_name"])
        for field in ("legal_name", "phone", "address"):
            token = row[field]
            if not token:
                continue
            try:
                plain = ring.decrypt(token, "Person", row["id"], field)
            except Exception:  # an unreadable token is deleted all the same
                plain = None
            if plain:
                values.append(plain)
                if field == "phone":
                    values.append(re.sub(r"\D", "", plain))
    return [v for v in values if len(v) >= 2]


def _names_identity(reason: str, values: Iterable[str]) -> bool:
    squeezed = re.sub(r"\s+", "", reason)
    digits = re.sub(r"\D", "", reason)
    for value in values:
        if value.isdigit():
            if len(value) >= 7 and value in digits:
                return True
        elif value in reason or re.sub(r"\s+", "", value) in squeezed:
            return True
    return False


def _drop_answers(tx: neo4j.ManagedTransaction, db: Database, keyring: Keyring, values: list[str]) -> int:
    """Drop the stored answers (kept 24 hours) that hold any of ``values``."""
    doomed = []
    for row in db.run_in_tx(tx, "erase_stored_answers"):
        try:
            body = keyring.decrypt(row["body"], idempotency.LABEL, row["id"], "body") or ""
        except Exception:
            doomed.append(row["id"])  # unreadable: nothing is lost by dropping it
            continue
        if any(v in body for v in values):
            doomed.append(row["id"])
    if doomed:
        db.run_in_tx(tx, "erase_drop_answers", ids=doomed)
    return len(doomed)


def erase(
    db: Database,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    kind: str,
    record_id: str,
    reason: str | None,
    *,
    state_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Erase a person or a household (with all its members); returns counts. Appends the
    erasure to the erasure list in ``state_dir`` (when given) once committed."""
    _kind(kind)
    _decide(subject, record_id)
    reason = (reason or "").strip()
    problem = access.reason_problem(reason)
    if problem:
        raise Refused("invalid", "an erasure needs a stated reason", field="reason", targets=(record_id,), code=problem)
    now = now or dt.datetime.now(dt.UTC)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        db.run_in_tx(tx, "introductions_lock")
        household_id, people = _scope(tx, db, kind, record_id)
        if household_id:
            db.run_in_tx(tx, "household_lock", id=household_id)
        ring = personkeys.reader_in_tx(tx, db, keyring)
        values = _identity_values(ring, db.run_in_tx(tx, "erase_identity", ids=people))
        if _names_identity(reason, [v for v in values if v not in people]):
            raise Refused(
                "invalid",
                "the reason names the identity being erased",
                field="reason",
                targets=(record_id,),
                code="reason_names_identity",
            )
        done = db.run_in_tx(tx, "erase_people", ids=people, now=now, placeholder=PLACEHOLDER)[0]
        notes = 0
        photo_files: list[str] = []
        if kind == "household":
            notes = db.run_in_tx(tx, "erase_household", id=record_id, now=now)[0]["notes"]
            suggest.refresh_visit_summary_in_tx(tx, db, [record_id])
            photo_files = photos.shred_household_in_tx(tx, db, record_id)  # issue 16 §5: its visit photos
        if household_id:
            chains.update_in_tx(tx, db, [household_id])  # unchanged shape: the index stays equal
        dropped = _drop_answers(tx, db, keyring, values)
        targets = [*people, household_id] if household_id else list(people)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action=ACTION,
            targets=list(dict.fromkeys(targets)),
            reason=reason,
            detail=(
                f"{kind}: {done['people']} people, {done['keys']} person keys destroyed, "
                f"{notes} visit notes shredded, {dropped} stored answers dropped"
                + (f", {len(photo_files)} photo files shredded" if photo_files else "")
            ),
        )
        return {
            "kind": kind,
            "id": record_id,
            "household_id": household_id,
            "people": people,
            "keys": done["keys"],
            "notes": notes,
            "answers": dropped,
            "photo_files": photo_files,
        }

    result = db.write_tx(work)
    if state_dir is not None:
        remember(state_dir, kind, record_id, result["people"], now)
        photos.remove_files_in(state_dir, result["photo_files"])  # once the nodes are gone for good
    return result


# --- the erasure list, outside Neo4j ------------------------------------------------------


def erasures_path(state_dir: Path) -> Path:
    return Path(state_dir) / ERASURES_FILE


def remember(state_dir: Path, kind: str, record_id: str, people: list[str], at: dt.datetime) -> None:
    """Append one erasure (ids and time only) to the list kept beside the database."""
    path = erasures_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": kind, "id": record_id, "people": people, "at": at.isoformat()}, ensure_ascii=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def remembered(state_dir: Path) -> list[dict[str, Any]]:
    """The erasure list (a torn last line, from a crash while appending, is skipped)."""
    path = erasures_path(state_dir)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="ascii").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("kind") in KINDS and isinstance(entry.get("id"), str):
            out.append(entry)
    return out


def reapply(db: Database, keyring: Keyring, actor: Actor, state_dir: Path) -> int:
    """Erase again what the erasure list names and the database holds unerased (after a
    backup from before an erasure was restored); returns how many erasures were re-applied."""
    again = 0
    admin = access.Subject(actor.username, "admin", ())
    for entry in remembered(state_dir):
        try:
            erase(db, keyring, admin, actor, entry["kind"], entry["id"], "re-applied after a restore")
        except Refused as refused:
            if refused.kind in ("not_found", "conflict"):
                continue  # not in this backup, or erased already
            raise
        again += 1
    return again
