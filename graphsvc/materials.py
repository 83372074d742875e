"""The materials ledger: Bibles, hymnals and other materials, from stock to the field.

Items are kinds of materials: ``bible`` (성경) and ``hymnal`` (찬송가) are there from the
first use; an admin adds others (``add_item``: ``graphsvc materials items add``, the form on
/materials). A visit report's ``materials`` text (records.parse_materials) names items by key,
English or Korean label ("bible:1;찬송가:2"); a name that is no item is refused.

Movements are append-only nodes (nothing is edited or deleted), each with its effect on the
stock and on one holder's holding (a field worker's account: a visitor or a partner):

===============  ==============  ==================
kind             stock           holder
===============  ==============  ==================
received         + qty
issued           − qty           + qty
given            (at a visit)    − qty
returned         + qty           − qty
written_off      − qty (or …)    (… − qty: a holder's)
correction       undoes the movement it names (one correction per movement)
===============  ==============  ==================

A balance on a day is the sum of the effects of the movements dated on or before it. A
movement that takes from the stock or a holding (issued, returned, written off) is refused
(409) when that would leave it below zero on its day or any later one. A visit report is
never refused for what its reporter holds: each item given is a ``given`` movement written in
the report's own transaction (``give_in_tx``, under the holder's lock, so two reports of one
holder at once are counted one after the other), flagged ``discrepancy`` when the holder held
less than that from the visit's day on. The coordinator's desk lists the flagged ones while the
holder is still short of the item (``discrepancies``).

Who: admins and coordinators record movements and see balances (``access.MATERIALS_MANAGE``;
a coordinator: the stock, the visitors of their districts and every partner); a field worker
sees their own holding (``own_holding``). Imported and demo visits make no movements: the
ledger starts when it is first used. Every movement is audited (``materials.move``: its id,
and the visit and household of a given one; a holder's username is no record id).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import access, audit, records
from .errors import Refused
from .model import N_, Actor, to_date, to_datetime
from .records import Checked

if TYPE_CHECKING:
    import neo4j

    from .db import Database

KINDS = ("received", "issued", "given", "returned", "written_off", "correction")
RECORDABLE = ("received", "issued", "returned", "written_off", "correction")  # given: visit reports only
DEFAULT_ITEMS = (
    {"key": "bible", "label_en": "Bible", "label_ko": "성경"},
    {"key": "hymnal", "label_en": "Hymnal", "label_ko": "찬송가"},
)
ITEM_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
MAX_QTY = 10_000
EARLIEST = dt.date(2000, 1, 1)
LABEL_MAX = 60
REASON_MAX = 200
RECENT = 50
DISCREPANCIES = 100

# What may come with each kind of movement (besides ``kind``); ``reason`` is required where
# the kind is in NEEDS_REASON.
FIELDS = {
    "received": ("item", "qty", "on", "reason"),
    "issued": ("item", "qty", "holder", "on", "reason"),
    "returned": ("item", "qty", "holder", "on", "reason"),
    "written_off": ("item", "qty", "holder", "on", "reason"),
    "correction": ("corrects", "on", "reason"),
}
NEEDS_HOLDER = ("issued", "returned")
NEEDS_REASON = ("written_off", "correction")

#: The ledger's problems (the record layer's registry: the web layer words them in the page's language).
MESSAGES = {
    "materials_unknown_item": N_("%(field)s %(value)s is not an item of the materials ledger (items: %(choices)s)"),
    "materials_bad_qty": N_("%(field)s %(value)s is not a whole number from 1 to %(max)d"),
    "materials_bad_holder": N_(
        "%(field)s %(value)s is not an account whose materials you keep (a visitor of your districts or a partner)"
    ),
    "materials_holder_disabled": N_("%(field)s %(value)s is a disabled account"),
    "materials_needs_holder": N_("%(field)s: a movement of this kind needs a holder (a visitor or a partner)"),
    "materials_needs_reason": N_("%(field)s: say why (a write-off or a correction needs a reason)"),
    "materials_not_for_kind": N_("%(field)s does not go with a movement of kind %(kind)s"),
    "materials_given_by_report": N_("%(field)s: materials given at a visit are recorded by the visit report"),
    "materials_unknown_movement": N_("%(field)s %(value)s is not a movement of the ledger you keep"),
    "materials_correction_of_correction": N_(
        "%(field)s %(value)s is a correction itself: record the right movement instead"
    ),
    "materials_corrected_already": N_("%(field)s %(value)s has been corrected already"),
    "materials_before_corrected": N_("%(field)s %(value)s is before the day of the movement it corrects"),
    "materials_short": N_("%(field)s %(value)s: %(whose)s holds only %(held)d %(item)s on %(on)s"),
    "materials_bad_key": N_(
        "%(field)s %(value)s is not a valid item key (a-z, 0-9, '_', '-'; 2 to 32, a letter first)"
    ),
    "materials_item_exists": N_("%(field)s %(value)s names an item of the ledger already"),
}
records.MESSAGES.update(MESSAGES)
STOCK = N_("the stock")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _invalid(checked: Checked, kind: str = "invalid") -> Refused:
    first = checked.problems[0]
    return Refused(kind, first.english(), first.field, problems=tuple(checked.problems))


def _refuse(field: str, code: str, kind: str = "invalid", **values: Any) -> Refused:
    checked = Checked()
    checked.problem(field, code, **values)
    return _invalid(checked, kind)


# --- items ---------------------------------------------------------------------------------


def items(db: Database) -> list[dict[str, str]]:
    """Every item: ``{key, label_en, label_ko}``, bible and hymnal first."""
    found = {r["key"]: dict(r) for r in db.read("materials_items")}
    return [dict(d) for d in DEFAULT_ITEMS if d["key"] not in found] + list(found.values())


def _names(known: list[dict[str, str]]) -> dict[str, str]:
    """Every name of an item (its key, English and Korean labels, case-insensitive) → its key."""
    names: dict[str, str] = {}
    for item in known:
        for name in (item["key"], item["label_en"], item["label_ko"]):
            names.setdefault(name.strip().lower(), item["key"])
    return names


def _choices(known: list[dict[str, str]]) -> str:
    return ", ".join(f"{i['key']} ({i['label_ko']})" for i in known)


def resolve(text: str | None, known: list[dict[str, str]], field: str = "materials") -> list[tuple[str, int]]:
    """A report's canonical materials text → ``[(item key, qty)]``, in its order; Refused
    (invalid, naming ``field``) for a name that is no item or an item named twice.

    >>> resolve("bible:1;찬송가:2", list(DEFAULT_ITEMS))
    [('bible', 1), ('hymnal', 2)]
    >>> resolve("rice:2", list(DEFAULT_ITEMS))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    graphsvc.errors.Refused: materials 'rice' is not an item of the materials ledger (items: bible (성경), ...)
    """
    if not text:
        return []
    names = _names(known)
    out: dict[str, int] = {}
    for part in text.split(";"):
        name, _, qty = (p.strip() for p in part.partition(":"))
        if not name:
            continue
        key = names.get(name.lower())
        if key is None:
            raise _refuse(field, "materials_unknown_item", value=repr(name), choices=_choices(known))
        if key in out:
            raise _refuse(field, "materials_twice", value=repr(text), item=repr(name))
        out[key] = int(qty)
    return list(out.items())


def add_item(
    db: Database, subject: access.Subject | None, actor: Actor, body: Any, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Add a kind of materials: ``{key, label_en, label_ko}`` (admins: MATERIALS_ITEMS;
    ``subject`` None: the operator at the command line). A key or label that names an item
    already is refused (a report's name must be one item)."""
    if subject is not None and not access.decide(subject, access.MATERIALS_ITEMS):
        raise Refused("forbidden", "not for this role")
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    now = now or _now()
    checked = Checked()
    for name in body:
        if name not in ("key", "label_en", "label_ko"):
            checked.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))
    key = records.text(checked, body, "key", required=True)
    if key is not None:
        key = key.lower()
        if not ITEM_KEY_RE.match(key):
            checked.problem("key", "materials_bad_key", value=repr(key[:40]))
    labels = {}
    for name in ("label_en", "label_ko"):
        value = records.text(checked, body, name, required=True)
        if value is not None and len(value) > LABEL_MAX:
            checked.problem(name, "too_long", max=LABEL_MAX)
        elif value is not None and (":" in value or ";" in value):
            checked.problem(name, "bad_materials", value=repr(value))
        labels[name] = value
    if not checked.ok:
        raise _invalid(checked)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        _seed_in_tx(tx, db, now)
        known = [dict(r) for r in db.run_in_tx(tx, "materials_items")]
        names = _names(known)
        for name, value in (("key", key), ("label_en", labels["label_en"]), ("label_ko", labels["label_ko"])):
            if str(value).strip().lower() in names:
                raise _refuse(name, "materials_item_exists", kind="conflict", value=repr(value))
        db.run_in_tx(tx, "materials_item_create", key=key, now=now, by=actor.username, **labels)
        audit.append_in_tx(tx, db, **actor.event(), action="materials.item.add", detail=f"item {key}")
        return {"key": key, **labels}

    return db.write_tx(work)


def _seed_in_tx(tx: neo4j.ManagedTransaction, db: Database, now: dt.datetime) -> None:
    db.run_in_tx(tx, "materials_seed", items=list(DEFAULT_ITEMS), now=now)


# --- balances --------------------------------------------------------------------------------


def _low_point(rows: list[dict[str, Any]], on: dt.date) -> int:
    """The lowest balance of a holding on ``on`` or any later day, from its day-by-day
    changes (``[{on, delta}]`` of one item).

    >>> d = dt.date
    >>> rows = [{"on": d(2026, 3, 1), "delta": 5}, {"on": d(2026, 3, 5), "delta": -4}]
    >>> rows.append({"on": d(2026, 3, 9), "delta": 3})
    >>> _low_point(rows, d(2026, 3, 2)), _low_point(rows, d(2026, 3, 6)), _low_point(rows, d(2026, 2, 1))
    (1, 1, 0)
    """
    changes = sorted((to_date(r["on"]), int(r["delta"])) for r in rows)
    balance = sum(delta for day, delta in changes if day is not None and day <= on)
    low = balance
    for day, delta in changes:
        if day is not None and day > on:
            balance += delta
            low = min(low, balance)
    return low


def _low_points_in_tx(
    tx: neo4j.ManagedTransaction, db: Database, holder: str | None, keys: list[str], on: dt.date
) -> dict[str, int]:
    rows = db.run_in_tx(tx, "materials_deltas", holder=holder, items=keys)
    return {k: _low_point([r for r in rows if r["item"] == k], on) for k in keys}


def balances(db: Database, *, holder: str | None = None, on: dt.date | None = None) -> list[dict[str, Any]]:
    """Balances on ``on`` (default: every movement so far): ``[{holder, item, qty}]``, the
    stock's first (``holder`` None; every item, zero included) then each holder's non-zero
    ones; with ``holder``, that holder's only."""
    day = on or dt.date.max
    out: list[dict[str, Any]] = []
    if holder is None:
        stock = {r["item"]: r["qty"] for r in db.read("materials_stock_balances", on=day)}
        keys = [i["key"] for i in items(db)]
        out += [{"holder": None, "item": k, "qty": stock.get(k, 0)} for k in keys + sorted(set(stock) - set(keys))]
    out += [dict(r) for r in db.read("materials_holder_balances", holder=holder, on=day)]
    return out


def given(db: Database, *, holder: str, since: dt.date, until: dt.date) -> list[dict[str, Any]]:
    """What ``holder`` gave at visits dated from ``since`` to ``until`` (both included), less
    what was corrected: ``[{item, qty, visit_id, on}]`` (``on``: a date), by day."""
    rows = db.read("materials_given", holder=holder, since=since, until=until)
    return [{"item": r["item"], "qty": r["qty"], "visit_id": r["visit_id"], "on": to_date(r["on"])} for r in rows]


def discrepancies(db: Database, districts: tuple[str, ...] | list[str] | None) -> list[dict[str, Any]]:
    """Materials given at visits beyond what the reporter held (flagged when reported), not
    corrected, while the holder is still short of the item: of households of ``districts``
    (None: every district). ``[{id, holder, item, qty, held, now_holds, on, visit_id,
    household_id, code}]``, newest first."""
    rows = db.read(
        "materials_discrepancies", districts=None if districts is None else list(districts), limit=DISCREPANCIES
    )
    return [{**r, "on": to_date(r["on"])} for r in rows]


# --- given at a visit (the visit report's transaction) ------------------------------------------


def give_in_tx(
    tx: neo4j.ManagedTransaction,
    db: Database,
    *,
    reporter: str | Any,
    visit_id: str,
    household_id: str,
    materials: str | None,
    on: dt.date,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The materials a visit report gave (graphsvc/visits.py ``report``, in its transaction):
    one ``given`` movement per item, taken from the reporter's holding, under the holder's
    lock; each ``{id, kind, item, qty, holder, on, visit_id, household_id, discrepancy,
    held}``, flagged ``discrepancy`` when the reporter held less than ``qty`` from the visit's
    day on (``held``: the least they held). Never refused for that; Refused (invalid,
    ``materials``) for a name that is no item. Audited ``materials.move`` when ``actor``."""
    username = reporter if isinstance(reporter, str) else reporter.username
    if not materials:
        return []
    now = now or _now()
    db.run_in_tx(tx, "materials_lock_holder", username=username)  # first: two reports of one holder queue here
    _seed_in_tx(tx, db, now)
    wanted = resolve(materials, [dict(r) for r in db.run_in_tx(tx, "materials_items")])
    held = _low_points_in_tx(tx, db, username, [k for k, _ in wanted], on)
    moved = []
    for key, qty in wanted:
        movement = {
            "id": "mm-" + secrets.token_hex(8),
            "kind": "given",
            "item": key,
            "qty": qty,
            "holder": username,
            "on": on,
            "visit_id": visit_id,
            "household_id": household_id,
            "discrepancy": held[key] < qty,
            "held": held[key],
        }
        _create_in_tx(tx, db, movement, by=username, now=now, stock_delta=0, holder_delta=-qty)
        moved.append(movement)
    if actor is not None:
        audit_given_in_tx(tx, db, actor, visit_id=visit_id, household_id=household_id, moved=moved)
    return moved


def audit_given_in_tx(
    tx: neo4j.ManagedTransaction,
    db: Database,
    actor: Actor,
    *,
    visit_id: str,
    household_id: str,
    moved: list[dict[str, Any]],
) -> None:
    """The audit event of the movements a visit report gave (``materials.move``: the visit,
    the household and each movement's id; the flagged ones in the detail). A caller that
    takes the audit head's lock last (graphsvc/visits.py report) calls it at its end."""
    if not moved:
        return
    flagged = [m for m in moved if m["discrepancy"]]
    detail = "given: " + ", ".join(f"{m['item']} {m['qty']}" for m in moved)
    if flagged:
        detail += "; discrepancy: " + ", ".join(f"{m['item']} (held {m['held']})" for m in flagged)
    audit.append_in_tx(
        tx,
        db,
        **actor.event(),
        action="materials.move",
        targets=[visit_id, household_id, *(str(m["id"]) for m in moved)],
        detail=detail,
    )


def _create_in_tx(
    tx: neo4j.ManagedTransaction,
    db: Database,
    movement: dict[str, Any],
    *,
    by: str,
    now: dt.datetime,
    stock_delta: int,
    holder_delta: int,
) -> None:
    props = {
        k: v
        for k, v in {
            **movement,
            "at": now,
            "by": by,
            "stock_delta": stock_delta,
            "holder_delta": holder_delta,
        }.items()
        if k != "id" and v is not None
    }
    db.run_in_tx(tx, "materials_movement_create", id=movement["id"], props=props, corrects=movement.get("corrects"))


# --- movements recorded by a coordinator or an admin -------------------------------------------


def _first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def _holder_facts(row: Mapping[str, Any]) -> access.HolderFacts:
    return access.HolderFacts(row["username"], row["role"], tuple(row["districts"] or ()))


def _holds(row: Mapping[str, Any] | None) -> bool:
    role = access.REGISTRY.get(row["role"]) if row else None
    return role is not None and role.field_work


def _may_keep(subject: access.Subject, row: Mapping[str, Any] | None) -> bool:
    """Whether ``row`` (an account) holds materials and the subject keeps its ledger."""
    return _holds(row) and bool(access.decide(subject, access.MATERIALS_MANAGE, _holder_facts(row or {})))


def _qty(checked: Checked, body: Mapping[str, Any]) -> int | None:
    raw = body.get("qty")
    if raw is None:
        checked.problem("qty", "empty")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_QTY:
        checked.problem("qty", "materials_bad_qty", value=repr(raw)[:40], max=MAX_QTY)
        return None
    return raw


def parse_movement(db: Database, subject: access.Subject, body: Any, today: dt.date) -> dict[str, Any]:
    """A movement from a JSON body (a form's: its empty fields left out, ``qty`` a number):
    ``kind`` and the fields of its kind (``FIELDS``), checked: ``{kind, item, qty, holder,
    on, reason, corrects, original}``. Refused (invalid) naming the first field at fault,
    with every problem."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = Checked()
    kind = body.get("kind")
    if kind == "given":
        raise _refuse("kind", "materials_given_by_report")
    if kind is None:
        raise _refuse("kind", "empty")
    if kind not in RECORDABLE:  # exactly (no white space): a JSON enum
        raise _refuse("kind", "bad_choice", value=repr(str(kind)[:40]), choices=", ".join(RECORDABLE))
    for name, value in body.items():
        if name != "kind" and name not in FIELDS[kind]:
            if name in ("item", "qty", "holder", "on", "reason", "corrects"):
                checked.problem(str(name), "materials_not_for_kind", kind=kind)
            else:
                checked.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))
        elif value is None:  # JSON null is no value (a form leaves an empty field out)
            checked.problem(str(name), "empty")
    body = {k: v for k, v in body.items() if v is not None}
    out: dict[str, Any] = {"kind": kind, "item": None, "qty": None, "holder": None, "corrects": None, "original": None}
    if kind != "correction":
        raw_item = records.text(checked, body, "item", required=True)
        if raw_item is not None:
            known = items(db)
            out["item"] = _names(known).get(raw_item.lower())
            if out["item"] is None:
                checked.problem("item", "materials_unknown_item", value=repr(raw_item[:40]), choices=_choices(known))
        out["qty"] = _qty(checked, body)
    if "holder" in FIELDS[kind]:
        holder = records.ident(checked, body, "holder", username=True)
        if holder is None and kind in NEEDS_HOLDER and not any(p.field == "holder" for p in checked.problems):
            checked.problem("holder", "materials_needs_holder")
        if holder is not None:
            row = _first(db.read("materials_holder", username=holder))
            if not _may_keep(subject, row):
                checked.problem("holder", "materials_bad_holder", value=repr(holder))
            elif kind == "issued" and row is not None and not row["enabled"]:
                checked.problem("holder", "materials_holder_disabled", value=repr(holder))
            else:
                out["holder"] = holder
    on = records.date(checked, body, "on") or today
    if on > today:
        checked.problem("on", "in_future", value=on)
    elif on < EARLIEST:
        checked.problem("on", "too_early", value=on, earliest=EARLIEST)
    out["on"] = on
    reason = records.text(checked, body, "reason")
    if reason is None and kind in NEEDS_REASON and not any(p.field == "reason" for p in checked.problems):
        checked.problem("reason", "materials_needs_reason")
    if reason is not None and len(reason) > REASON_MAX:
        checked.problem("reason", "too_long", max=REASON_MAX)
    elif reason is not None and any(ord(c) < 32 for c in reason):  # one line: no tab, no line break
        checked.problem("reason", "control")
        reason = None
    out["reason"] = reason
    if kind == "correction":
        corrects = records.ident(checked, body, "corrects", required=True)
        if corrects is not None:
            found = _first(db.read("materials_movement", id=corrects))
            holder_row = db.read("materials_holder", username=found["holder"]) if found and found["holder"] else []
            if found is None or (found["holder"] and not _may_keep(subject, _first(holder_row))):
                checked.problem("corrects", "materials_unknown_movement", value=repr(corrects))
            elif found["kind"] == "correction":
                checked.problem("corrects", "materials_correction_of_correction", value=repr(corrects))
            elif to_date(found["on"]) > on:  # type: ignore[operator]
                checked.problem("on", "materials_before_corrected", value=on)
            else:
                out["corrects"], out["original"] = corrects, dict(found)
                out["item"], out["qty"], out["holder"] = found["item"], found["qty"], found["holder"]
    if not checked.ok:
        raise _invalid(checked)
    return out


def _effect(kind: str, qty: int, holder: str | None) -> tuple[int, int]:
    """(stock delta, holder delta) of a movement."""
    return {
        "received": (qty, 0),
        "issued": (-qty, qty),
        "given": (0, -qty),
        "returned": (qty, -qty),
        "written_off": (0, -qty) if holder else (-qty, 0),
    }[kind]


def record(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    body: Any,
    today: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record one movement (a coordinator or an admin: MATERIALS_MANAGE) in one transaction:
    lock the holder's holding, then the stock's items; check that what it takes is there on
    its day and after (409 ``materials_short`` naming ``qty`` otherwise); write; audit. The
    movement as stored: ``{id, kind, item, qty, holder, on, reason, corrects, discrepancy}``."""
    if not access.decide(subject, access.MATERIALS_MANAGE):
        raise Refused("forbidden", "not for this role")
    now = now or _now()
    m = parse_movement(db, subject, body, today)
    movement_id = "mm-" + secrets.token_hex(8)  # before the transaction: a retry writes the same one
    kind, item, qty, holder, on = m["kind"], m["item"], m["qty"], m["holder"], m["on"]
    if kind == "correction":
        stock_delta, holder_delta = -int(m["original"]["stock_delta"]), -int(m["original"]["holder_delta"])
    else:
        stock_delta, holder_delta = _effect(kind, qty, holder)

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        _seed_in_tx(tx, db, now)
        if holder is not None:
            db.run_in_tx(tx, "materials_lock_holder", username=holder)
        db.run_in_tx(tx, "materials_lock_items", keys=[item])
        if kind == "correction":
            again = db.run_in_tx(tx, "materials_movement", id=m["corrects"])[0]
            if again["corrected"]:
                raise _refuse("corrects", "materials_corrected_already", kind="conflict", value=repr(m["corrects"]))
        else:  # a correction restores what was: it is never short
            for whose, delta in ((None, stock_delta), (holder, holder_delta)):
                if delta >= 0:
                    continue
                low = _low_points_in_tx(tx, db, whose, [item], on)[item]
                if low < -delta:
                    raise _refuse(
                        "qty",
                        "materials_short",
                        kind="conflict",
                        value=qty,
                        whose=whose or STOCK,
                        held=max(low, 0),
                        item=item,
                        on=on.isoformat(),
                    )
        movement = {
            "id": movement_id,
            "kind": kind,
            "item": item,
            "qty": qty,
            "holder": holder,
            "on": on,
            "reason": m["reason"],
            "corrects": m["corrects"],
            "discrepancy": False,
        }
        original = m["original"] or {}
        if original.get("visit_id"):
            movement.update(visit_id=original["visit_id"], household_id=original["household_id"])
        _create_in_tx(tx, db, movement, by=actor.username, now=now, stock_delta=stock_delta, holder_delta=holder_delta)
        targets = [
            movement_id,
            *(t for t in (m["corrects"], original.get("visit_id"), original.get("household_id")) if t),
        ]
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="materials.move",
            targets=targets,
            detail=f"{kind}: {item} {qty}" + (f"; holder {holder}" if holder else "") + f"; on {on.isoformat()}",
        )
        return {k: v for k, v in movement.items() if k not in ("visit_id", "household_id")}

    return db.write_tx(work)


# --- what each may see ---------------------------------------------------------------------------


def holders(db: Database, subject: access.Subject) -> list[dict[str, Any]]:
    """The holders whose ledger the subject keeps: ``[{username, role, districts, enabled}]``."""
    if not access.role_may(subject, access.MATERIALS_MANAGE) or access.in_duress(subject):
        return []
    roles = [r.name for r in access.REGISTRY.values() if r.field_work]
    return [dict(r) for r in db.read("materials_holders", roles=roles) if _may_keep(subject, r)]


def own_holding(db: Database, subject: access.Subject) -> list[dict[str, Any]]:
    """A field worker's own holding now: ``[{item, qty}]`` (a duress session: none)."""
    role = access.role_of(subject)
    if role is None or not role.field_work or access.in_duress(subject):
        return []
    return [{"item": b["item"], "qty": b["qty"]} for b in balances(db, holder=subject.username)]


def balances_for(db: Database, subject: access.Subject, holder: str | None, on: dt.date | None) -> list[dict[str, Any]]:
    """The balances the subject may see on ``on``: a keeper (MATERIALS_MANAGE) the stock and
    the holders they keep (``holder``: one of them; another is Refused invalid naming
    ``holder``); a field worker their own (another holder: Refused not_found)."""
    if access.in_duress(subject):
        return []
    if access.role_may(subject, access.MATERIALS_MANAGE):
        if holder is not None:
            row = _first(db.read("materials_holder", username=holder))
            if not _may_keep(subject, row):
                raise _refuse("holder", "materials_bad_holder", value=repr(holder[:40]))
            return balances(db, holder=holder, on=on)
        kept = {h["username"] for h in holders(db, subject)}
        return [b for b in balances(db, on=on) if b["holder"] is None or b["holder"] in kept]
    role = access.role_of(subject)
    if role is not None and role.field_work and holder in (None, subject.username):
        return balances(db, holder=subject.username, on=on)
    raise Refused("not_found", "another holder's materials", "holder")


def ledger(db: Database, subject: access.Subject, on: dt.date | None) -> dict[str, Any]:
    """The /materials page of a keeper: ``{on, items, stock, holders, recent,
    discrepancies}``; a household (its id, code) only where the subject may know it."""
    if not access.role_may(subject, access.MATERIALS_MANAGE) or access.in_duress(subject):
        raise Refused("forbidden", "not for this role")
    kept = holders(db, subject)
    names = {h["username"] for h in kept}
    rows = balances(db, on=on)
    grid: dict[str, dict[str, int]] = {h["username"]: {} for h in kept}
    for b in rows:
        if b["holder"] in grid:
            grid[b["holder"]][b["item"]] = b["qty"]
    everywhere = access.scope_districts(subject) is None
    recent = []
    for r in db.read("materials_recent", holders=None if everywhere else sorted(names), limit=RECENT):
        known = everywhere or r["district"] in subject.districts
        recent.append(
            {
                **{k: r[k] for k in ("id", "kind", "item", "qty", "holder", "reason", "corrects", "by")},
                "on": to_date(r["on"]),
                "at": to_datetime(r["at"]),
                "discrepancy": r["discrepancy"],
                "corrected": r["corrected"],
                "visit_id": r["visit_id"] if known else None,
                "household_id": r["household_id"] if known else None,
                "code": r["code"] if known else None,
            }
        )
    found = discrepancies(db, access.scope_districts(subject))
    return {
        "on": on,
        "items": items(db),
        "stock": [b for b in rows if b["holder"] is None],
        "holders": [{**h, "balances": grid[h["username"]]} for h in kept],
        "recent": recent,
        "discrepancies": [d for d in found if d["holder"] in names],
    }
