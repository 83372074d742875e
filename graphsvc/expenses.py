"""Expenses of partners with receipts, their approval, and the monthly partner report
(issue 16 §3), in the spirit of Open Collective's expense flow.

A partner submits an expense (amount in won, the date it was spent, a category, a short
description) with one or more receipts: photos or PDFs, each through the upload pipeline
(graphsvc/uploads.py ``accept``: re-encoded, metadata dropped; a PDF becomes its rendered
pages, its own bytes are never kept) and stored encrypted (graphsvc/filestore.py), one
``(:Receipt)`` per stored image, bound to ("receipt", its id).

The status machine: submitted → approved | rejected (a reason is required) → paid (from
approved only, with the date it was paid). Approvers are coordinators and admins
(``access.EXPENSE_APPROVE``); nobody decides their own expense. Each step is kept in the
expense's history (who, when, from → to, reason, paid date) and audited in the same
transaction; the expense is locked first, so two approvers at once cannot both decide: the
second is answered 409 naming the state it found.

Who sees an expense and its receipts (``access.EXPENSE_READ``): the partner who submitted it,
every coordinator (the approvers: an expense is the ministry's money, not a household's
record, so it is not scoped by district) and admins. Not other partners of the same
organisation, not visitors.

The monthly partner report gathers a partner's month: visits (households by code), the
households their visits brought in, materials given and held (graphsvc/materials.py, when
present), expenses with their status and totals. Household codes follow the policy: a
coordinator sees codes of their own districts only (others are counted, not named).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit, csvio, filestore, records, uploads
from .errors import Refused
from .model import N_, USERNAME_RE, Actor, plain

if TYPE_CHECKING:
    import neo4j

    from .config import Settings
    from .crypto import Keyring
    from .db import Database

STATUSES = ("submitted", "approved", "rejected", "paid")
STATUS_LABELS = {
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "paid": N_("Paid"),
}
CATEGORIES = records.EXPENSE_CATEGORIES.values
CATEGORY_LABELS = {
    "transport": N_("Transport"),
    "materials": N_("Materials"),
    "food": N_("Food"),
    "gifts": N_("Gifts"),
    "lodging": N_("Lodging"),
    "other": N_("Other"),
}
# step → (the status it starts from, the status it leads to)
STEPS = {"approve": ("submitted", "approved"), "reject": ("submitted", "rejected"), "paid": ("approved", "paid")}
MAX_RECEIPT_FILES = 5  # files in one submission (a PDF may give several images)
MAX_RECEIPT_IMAGES = 20  # stored images of one expense in all
EARLIEST = dt.date(2000, 1, 1)
RECEIPT_KIND = "receipt"  # the file store's kind of a receipt's image (bound with the receipt's id)
MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(expense_id: str, why: str = "no such expense") -> Refused:
    return Refused("not_found", why, "expense_id", (expense_id,))


def _invalid(checked: records.Checked) -> Refused:
    first = checked.problems[0]
    return Refused("invalid", first.english(), first.field, problems=tuple(checked.problems))


# --- submitting ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewExpense:
    amount: int
    spent_on: dt.date
    category: str
    description: str | None


def parse_expense(body: Any, today: dt.date, receipts: int) -> NewExpense:
    """The expense's fields through the record layer (records.expense), plus what the
    service knows: the date is not in the future nor before EARLIEST, and there are 1 to
    MAX_RECEIPT_FILES receipt files. Refused("invalid") with every problem, the first
    naming its field."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = records.expense(body)
    on = checked.values.get("spent_on")
    if on is not None and on > today:
        checked.problem("spent_on", "in_future", value=on)
    elif on is not None and on < EARLIEST:
        checked.problem("spent_on", "too_early", value=on, earliest=EARLIEST)
    if receipts < 1:
        checked.problem("receipts", "no_receipt")
    elif receipts > MAX_RECEIPT_FILES:
        checked.problem("receipts", "too_many_receipts", max=MAX_RECEIPT_FILES)
    if not checked.ok:
        raise _invalid(checked)
    v = checked.values
    return NewExpense(v["amount"], v["spent_on"], v["category"], v.get("description"))


def submit(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    body: Mapping[str, Any],
    files: list[bytes],
    today: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Submit an expense with its receipt files (each an image or a PDF): every file is
    checked and cleaned first (a file that is neither refuses the whole submission, nothing
    written), then the images are stored and the expense written in one transaction; if it
    fails, the stored files are removed (filestore.staging). Returns the expense (``get``)."""
    if not access.decide(subject, access.EXPENSE_SUBMIT):
        raise Refused("forbidden", "not for this role", "expense")
    parsed = parse_expense(body, today, len(files))
    images = []
    for i, data in enumerate(files):
        images += uploads.accept(data, field=f"receipts[{i}]", allow_pdf=True)
    if len(images) > MAX_RECEIPT_IMAGES:
        checked = records.Checked()
        checked.problem("receipts", "too_many_receipts", max=MAX_RECEIPT_IMAGES)
        raise _invalid(checked)
    now = now or _now()
    expense_id = "x-" + secrets.token_hex(8)

    with filestore.staging(settings, keyring) as stage:
        receipts: list[dict[str, Any]] = []
        for n, image in enumerate(images):
            receipt_id = "r-" + secrets.token_hex(8)
            file_id = stage.put(image.data, kind=RECEIPT_KIND, record_id=receipt_id)
            receipts.append(
                {
                    "id": receipt_id,
                    "file_id": file_id,
                    "mime": image.mime,
                    "width": image.width,
                    "height": image.height,
                    "n": n,
                }
            )

        def work(tx: neo4j.ManagedTransaction) -> None:
            created = db.run_in_tx(
                tx,
                "expense_create",
                id=expense_id,
                username=subject.username,
                amount=parsed.amount,
                spent_on=parsed.spent_on,
                category=parsed.category,
                description=parsed.description,
                now=now,
            )
            if not created:
                raise Refused("forbidden", "no such account", "expense")
            db.run_in_tx(tx, "expense_receipts_add", id=expense_id, receipts=receipts)
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="expense.submit",
                targets=[expense_id, *(r["id"] for r in receipts)],
                detail=(
                    f"amount: {parsed.amount} KRW; category: {parsed.category}; spent_on: {parsed.spent_on}; "
                    f"{len(files)} files, {len(receipts)} images"
                ),
            )

        db.write_tx(work)
    return get(db, subject, expense_id)


# --- deciding --------------------------------------------------------------------------


def parse_step(step: str, body: Any, today: dt.date, spent_on: dt.date | None = None) -> dict[str, Any]:
    """What a step needs: ``reason`` (reject: required; approve: optional), ``paid_on`` (paid:
    required, not in the future, not before the expense's date)."""
    if not isinstance(body, Mapping):
        raise Refused("invalid", "a JSON object is expected", "body")
    checked = records.Checked()
    known = {"approve": ("reason",), "reject": ("reason",), "paid": ("paid_on", "reason")}[step]
    for name in body:
        if name not in known:
            checked.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))
    records.text(checked, body, "reason", required=step == "reject")
    if step == "paid":
        on = records.date(checked, body, "paid_on", required=True)
        if on is not None and on > today:
            checked.problem("paid_on", "in_future", value=on)
        elif on is not None and spent_on is not None and on < spent_on:
            checked.problem("paid_on", "paid_before_spent", value=on, spent_on=spent_on)
    if not checked.ok:
        raise _invalid(checked)
    return {"reason": checked.values.get("reason"), "paid_on": checked.values.get("paid_on")}


def decide_step(
    db: Database,
    subject: access.Subject,
    actor: Actor,
    expense_id: str,
    step: str,
    body: Mapping[str, Any],
    today: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Approve, reject or record paid (``step``): lock the expense → decide (an approver, not
    its submitter; 404 for one who may not see it) → the state (409 naming it, code
    ``expense_<status>``) → validate → write the step → audit. Returns the expense."""
    if step not in STEPS:
        raise _not_found(expense_id, "no such step")
    if not access.role_may(subject, access.EXPENSE_APPROVE) or len(expense_id) > 64:
        raise _not_found(expense_id, "not for this role")
    now = now or _now()
    start, end = STEPS[step]

    def work(tx: neo4j.ManagedTransaction) -> None:
        rows = db.run_in_tx(tx, "expense_lock", id=expense_id)
        if not rows:
            raise _not_found(expense_id)
        row = rows[0]
        facts = access.ExpenseFacts(row["id"], row["username"])
        if not access.decide(subject, access.EXPENSE_READ, facts):
            raise _not_found(expense_id, "another's expense")
        decision = access.decide(subject, access.EXPENSE_APPROVE, facts)
        if not decision:
            raise Refused("forbidden", decision.why, "expense_id", (expense_id,), code="expense_own")
        if row["status"] != start:
            raise Refused(
                "conflict",
                f"the expense is {row['status']}; it cannot be {'marked paid' if step == 'paid' else step + 'd'}",
                "status",
                (expense_id,),
                code=f"expense_{row['status']}",
            )
        spent_on = row["spent_on"].to_native() if hasattr(row["spent_on"], "to_native") else row["spent_on"]
        values = parse_step(step, body, today, spent_on)
        db.run_in_tx(
            tx,
            "expense_step",
            id=expense_id,
            n=row["steps"],
            now=now,
            by=subject.username,
            from_status=start,
            to_status=end,
            reason=values["reason"],
            paid_on=values["paid_on"],
        )
        detail = f"status: {start} → {end}"
        if values["paid_on"] is not None:
            detail += f"; paid_on: {values['paid_on']}"
        if values["reason"]:
            detail += "; with a reason"
        audit.append_in_tx(tx, db, **actor.event(), action=f"expense.{step}", targets=[expense_id], detail=detail)

    db.write_tx(work)
    return get(db, subject, expense_id)


# --- reading ---------------------------------------------------------------------------


def _expense(row: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = plain(dict(row))
    return found


def get(db: Database, subject: access.Subject, expense_id: str) -> dict[str, Any]:
    """One expense with its receipts (ids, sizes) and history; 404 (Refused not_found) when
    it does not exist or the subject may not see it (the same answer)."""
    rows = db.read("expense_get", id=expense_id) if len(expense_id) <= 64 else []
    if not rows or not access.decide(
        subject, access.EXPENSE_READ, access.ExpenseFacts(rows[0]["id"], rows[0]["username"])
    ):
        raise _not_found(expense_id)
    found = _expense(rows[0])
    found["may_decide"] = bool(
        access.decide(subject, access.EXPENSE_APPROVE, access.ExpenseFacts(found["id"], found["username"]))
    )
    return found


def month_range(month: str | None) -> tuple[dt.date, dt.date] | None:
    """``YYYY-MM`` → [its first day, the next month's first day); None for None;
    Refused("invalid", field "month") for anything else.

    >>> month_range("2026-12")
    (datetime.date(2026, 12, 1), datetime.date(2027, 1, 1))
    """
    if month is None:
        return None
    found = MONTH_RE.match(month)
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        checked = records.Checked()
        checked.problem("month", "bad_month", value=repr(month[:20]))
        raise _invalid(checked)
    year, mon = int(found.group(1)), int(found.group(2))
    start = dt.date(year, mon, 1)
    return start, dt.date(year + (mon == 12), mon % 12 + 1, 1)


def _who(subject: access.Subject, username: str | None) -> str | None:
    """Whose expenses the subject may list: an approver anyone's (``username``, or all:
    None); anyone else their own only (an asked username of another is refused 404)."""
    if username is not None and not USERNAME_RE.match(username):
        checked = records.Checked()
        checked.problem("username", "bad_username", value=repr(username[:40]))
        raise _invalid(checked)
    if access.role_may(subject, access.EXPENSE_APPROVE):
        return username
    if username not in (None, subject.username):
        raise Refused("not_found", "another's expenses", "username")
    return subject.username


def listing(
    db: Database,
    subject: access.Subject,
    *,
    username: str | None = None,
    month: str | None = None,
    status: str | None = None,
    limit: int = 200,
    exclude_own: bool = False,
) -> list[dict[str, Any]]:
    """Expenses the subject may see, newest first (a partner: their own; an approver: all,
    or ``username``'s), of ``month`` (YYYY-MM) and ``status`` when given."""
    if access.in_duress(subject) or not access.role_may(subject, access.EXPENSE_READ):
        return []
    who = _who(subject, username)
    span = month_range(month)
    if status is not None and status not in STATUSES:
        checked = records.Checked()
        checked.problem("status", "bad_choice", value=repr(status[:20]), choices=", ".join(STATUSES))
        raise _invalid(checked)
    rows = db.read(
        "expense_list",
        username=who,
        status=status,
        since=span[0] if span else None,
        until=span[1] if span else None,
        exclude=subject.username if exclude_own else None,
        limit=limit,
    )
    return [
        _expense(r)
        for r in rows
        if access.decide(subject, access.EXPENSE_READ, access.ExpenseFacts(r["id"], r["username"]))
    ]


def totals(
    db: Database, subject: access.Subject, *, username: str | None = None, month: str | None = None
) -> list[dict[str, Any]]:
    """Totals per month and partner: ``[{month, username, count, amount, by_status: {status:
    {count, amount}}}]``, newest month first. ``amount`` counts every expense but the
    rejected ones (what was asked for); ``by_status`` splits it."""
    if access.in_duress(subject) or not access.role_may(subject, access.EXPENSE_READ):
        return []
    who = _who(subject, username)
    span = month_range(month)
    rows = db.read("expense_totals", username=who, since=span[0] if span else None, until=span[1] if span else None)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if not access.decide(subject, access.EXPENSE_READ, access.ExpenseFacts(None, r["username"])):
            continue
        entry = out.setdefault(
            (r["month"], r["username"]),
            {"month": r["month"], "username": r["username"], "count": 0, "amount": 0, "by_status": {}},
        )
        entry["by_status"][r["status"]] = {"count": r["count"], "amount": r["amount"]}
        if r["status"] != "rejected":
            entry["count"] += r["count"]
            entry["amount"] += r["amount"]
    return list(out.values())


def receipt(
    db: Database, settings: Settings, keyring: Keyring, subject: access.Subject, receipt_id: str
) -> tuple[bytes, str, dict[str, Any]]:
    """A receipt's image for a subject who may see its expense: (bytes, mime, {id,
    expense_id, n}); 404 otherwise (the same answer as for no such receipt)."""
    rows = db.read("expense_receipt", id=receipt_id) if len(receipt_id) <= 64 else []
    if not rows or not access.decide(
        subject, access.EXPENSE_READ, access.ExpenseFacts(rows[0]["expense_id"], rows[0]["username"])
    ):
        raise Refused("not_found", "no such receipt", "receipt_id", (receipt_id,))
    row = rows[0]
    data = filestore.read(settings, keyring, row["file_id"], kind=RECEIPT_KIND, record_id=row["id"])
    return data, row["mime"], {"id": row["id"], "expense_id": row["expense_id"], "n": row["n"]}


def to_approve(db: Database, subject: access.Subject, limit: int = 50) -> list[dict[str, Any]]:
    """The coordinator's desk: submitted expenses the subject may decide (never their own)."""
    if access.in_duress(subject) or not access.role_may(subject, access.EXPENSE_APPROVE):
        return []
    return listing(db, subject, status="submitted", limit=limit, exclude_own=True)


# --- the monthly partner report ---------------------------------------------------------


def _report_subject(db: Database, subject: access.Subject, username: str) -> dict[str, Any]:
    """The account the report is about, when the subject may see it: an account of an
    organisation-scoped role (a partner), the subject themself or for an approver; 404 else."""
    rows = db.read("partner_report_account", username=username) if len(username) <= 64 else []
    role = access.REGISTRY.get(rows[0]["role"]) if rows else None
    if (
        role is None
        or not getattr(role, "org_scoped", False)
        or not access.decide(subject, access.EXPENSE_READ, access.ExpenseFacts(None, username))
    ):
        raise Refused("not_found", "no such partner", "username")
    return rows[0]


def monthly_report(db: Database, subject: access.Subject, username: str, month: str) -> dict[str, Any]:
    """A partner's month: ``{username, org, month, visits: [...], visit_count, households:
    [{household_id, code, visits}], households_unnamed, brought: [...], brought_unnamed,
    materials_given, materials_balance, expenses: [...], totals}``.

    Households (visited, brought in, shared with the partner's organisation) are named (id,
    code) only where the subject may know them: the partner themself (their own visits, their
    organisation's shares), an admin, a coordinator of the household's district; the others
    are counted in ``households_unnamed`` / ``brought_unnamed`` / ``shared_unnamed`` and a
    visit at one shows no household."""
    account = _report_subject(db, subject, username)
    span = month_range(month)
    assert span is not None
    since, until = span
    own = subject.username == username

    def named(district: str | None, women_only: bool) -> bool:
        return own or access.names_person(subject, district, women_only)

    visits_out: list[dict[str, Any]] = []
    households: dict[str, dict[str, Any]] = {}
    unnamed: set[str] = set()
    brought, brought_unnamed = [], 0
    for v in db.read("partner_report_visits", username=username, since=since, until=until):
        shown = named(v["district"], v["women_only"])
        visits_out.append(
            {
                "visit_id": v["visit_id"],
                "visited_on": plain(v["visited_on"]),
                "outcome": v["outcome"],
                "materials": v["materials"],
                "household_id": v["household_id"] if shown else None,
                "code": v["code"] if shown else None,
                # the visit's photos, counted only for whom may see them unsanitized too (the
                # partner who took them, the district's coordinators, admins: access.decide_photo)
                "photos": v["photos"] if shown else None,
                "photos_sanitized": v["photos_sanitized"] if shown else None,
            }
        )
        if shown:
            entry = households.setdefault(
                v["household_id"], {"household_id": v["household_id"], "code": v["code"], "visits": 0}
            )
            entry["visits"] += 1
        else:
            unnamed.add(v["household_id"])
        for b in v["brought"]:
            if named(b["district"], b["women_only"]):
                brought.append({"household_id": b["id"], "code": b["code"], "visit_id": v["visit_id"]})
            else:
                brought_unnamed += 1
    shared, shared_unnamed = [], 0
    for h in db.read("partner_report_shared", org=account["org"]) if account["org"] else []:
        if named(h["district"], h["women_only"]):
            at = h["shared_at"].to_native() if hasattr(h["shared_at"], "to_native") else h["shared_at"]
            shared.append(
                {
                    "household_id": h["household_id"],
                    "code": h["code"],
                    "shared_on": at.date().isoformat() if at else None,
                }
            )
        else:
            shared_unnamed += 1
    expenses = listing(db, subject, username=username, month=month, limit=1000)
    by_status: dict[str, dict[str, int]] = {s: {"count": 0, "amount": 0} for s in STATUSES}
    for e in expenses:
        by_status[e["status"]]["count"] += 1
        by_status[e["status"]]["amount"] += e["amount"]
    materials_given, materials_balance = _materials(db, username, since, until)
    return {
        "username": username,
        "org": account["org"],
        "month": month,
        "since": since.isoformat(),
        "until": (until - dt.timedelta(days=1)).isoformat(),
        "visit_count": len(visits_out),
        "visits": visits_out,
        "households": sorted(households.values(), key=lambda h: h["code"] or ""),
        "households_unnamed": len(unnamed),
        "brought": brought,
        "brought_unnamed": brought_unnamed,
        "shared": shared,  # shared with the partner's organisation now
        "shared_unnamed": shared_unnamed,
        "materials_given": materials_given,
        "materials_balance": materials_balance,
        "materials": _materials_rows(materials_given, materials_balance),
        "expenses": expenses,
        "totals": {
            "by_status": by_status,
            "claimed": sum(v["amount"] for s, v in by_status.items() if s != "rejected"),
            "approved": by_status["approved"]["amount"] + by_status["paid"]["amount"],
            "paid": by_status["paid"]["amount"],
        },
    }


def _materials(
    db: Database, username: str, since: dt.date, until: dt.date
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """Materials given in the month (summed by item) and the holding at the month's end,
    from the materials ledger (graphsvc/materials.py, issue 16 §2); (None, None) while the
    ledger is not part of this build."""
    try:
        from . import materials  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None, None
    last = until - dt.timedelta(days=1)
    given: dict[str, int] = {}
    for row in materials.given(db, holder=username, since=since, until=last):
        given[row["item"]] = given.get(row["item"], 0) + int(row["qty"])
    balance = [{"item": b["item"], "qty": b["qty"]} for b in materials.balances(db, holder=username, on=last)]
    return [{"item": k, "qty": v} for k, v in sorted(given.items())], balance


def _materials_rows(
    given: list[dict[str, Any]] | None, held: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """One row per item: given in the month and held at its end (None without a ledger)."""
    if given is None or held is None:
        return None
    rows: dict[str, dict[str, Any]] = {}
    for m in given:
        rows.setdefault(m["item"], {"item": m["item"], "given": 0, "held": 0})["given"] = m["qty"]
    for m in held:
        rows.setdefault(m["item"], {"item": m["item"], "given": 0, "held": 0})["held"] = m["qty"]
    return [rows[k] for k in sorted(rows)]


CSV_HEADER = ("section", "date", "what", "household", "amount", "status", "detail")


def report_csv(report: Mapping[str, Any]) -> str:
    """The monthly report as CSV (one row per visit, household brought in, material and
    expense, then the totals), written by csvio's writer: every cell formula-safe."""
    out = io.StringIO()
    w = csvio.writer(out, lineterminator="\r\n")

    def row(*cells: Any) -> None:
        w.writerow(cells)

    row(*CSV_HEADER)
    row("partner", report["month"], report["username"], "", "", "", report["org"] or "")
    for v in report["visits"]:
        photos = f"photos={v['photos']} sanitized={v['photos_sanitized']}" if v.get("photos") else ""
        row("visit", v["visited_on"], v["outcome"], v["code"] or "-", "", photos, v["materials"] or "")
    for b in report["brought"]:
        row("brought", "", "", b["code"], "", "", "")
    for h in report["shared"]:
        row("shared", h["shared_on"] or "", "", h["code"], "", "", "")
    for m in report["materials_given"] or []:
        row("material_given", "", m["item"], "", m["qty"], "", "")
    for m in report["materials_balance"] or []:
        row("material_balance", report["until"], m["item"], "", m["qty"], "", "")
    for e in report["expenses"]:
        row("expense", e["spent_on"], e["category"], "", e["amount"], e["status"], e["description"] or "")
    for status, t in report["totals"]["by_status"].items():
        row("total", "", status, "", t["amount"], status, t["count"])
    return out.getvalue()
