"""Expenses with receipts and the monthly partner report (issue 16 §3): pages and API.

Pages: ``/expenses`` (a partner's own, an approver's every partner's, with totals per month
and partner), ``/expenses/new`` (the phone-friendly form: amount, date, category,
description, receipts as photos or PDFs), ``/expenses/<id>`` (receipts, history, and for an
approver the approve / reject / paid forms), ``/expenses/receipts/<id>`` (a receipt's image:
access checked, audited, ``no-store``), ``/partners/<username>/report?month=YYYY-MM`` (a
printable page) and ``.csv``. API twins under ``/api/v1/expenses`` and
``/api/v1/partners/<username>/report``. Thin: every rule is in graphsvc/expenses.py.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from graphsvc import access, expenses
from graphsvc.errors import Refused

from . import answers
from .args import json_object, takes, text_arg
from .filesend import private_file, upload_limit
from .guard import actor, allow, audit_refusal, audit_request, audit_shown, problem_text, refusal_message
from .idem import idempotent
from .neo import get_db

bp = Blueprint("expenses", __name__)
api_bp = Blueprint("expenses_api", __name__, url_prefix="/api/v1")

RECEIPT_FIELD = "receipts"


def init_app(app: Flask) -> None:
    """Register the pages and API, and the desk's section (``desk_expenses`` in templates)."""
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)

    @app.context_processor
    def _desk_expenses() -> dict[str, Any]:
        return {"desk_expenses": desk_expenses}


def _settings():
    return current_app.config["GRAPHSVC_SETTINGS"]


def _keyring():
    return current_app.extensions["graphsvc_keyring"]


FORM_ONLY = ("csrf_token", "idempotency_key")  # a page's fields that are not the expense's


def _body_of_form() -> dict[str, str]:
    """The expense's fields as sent (an unknown one is named by the record layer)."""
    return {k: request.form.get(k, "") for k in request.form if k not in FORM_ONLY}


def _files() -> list[bytes]:
    return [f.read() for f in request.files.getlist(RECEIPT_FIELD) if f.filename or f.content_length]


def _submit() -> dict[str, Any]:
    return expenses.submit(
        get_db(), _settings(), _keyring(), g.subject, actor(), _body_of_form(), _files(), answers.today()
    )


def categories() -> dict[str, str]:
    return {k: _(expenses.CATEGORY_LABELS[k]) for k in expenses.CATEGORIES}


def statuses() -> dict[str, str]:
    return {k: _(expenses.STATUS_LABELS[k]) for k in expenses.STATUSES}


def field_labels() -> dict[str, str]:
    return {
        "amount": _("Amount (won)"),
        "spent_on": _("Date spent"),
        "category": _("Category"),
        "description": _("Description"),
        "receipts": _("Receipts"),
        "reason": _("Reason"),
        "paid_on": _("Date paid"),
        "month": _("Month"),
    }


def _errors(refused: Refused) -> dict[str, str]:
    """A refusal's problems by form field (a file's problem, ``receipts[1]``, under receipts)."""
    if not refused.problems:
        return {(refused.field or "").split("[")[0]: refusal_message(refused)}
    out: dict[str, str] = {}
    for p in refused.problems:
        out.setdefault(p.field.split("[")[0], problem_text(p))
    return out


# --- pages -----------------------------------------------------------------------------


@bp.get("/expenses")
@allow(access.EXPENSE_READ)
@takes("month", "username", "status", "submitted")
def list_page():
    month, username, status = text_arg("month", 7), text_arg("username", 64), text_arg("status", 20)
    error: str | None = None
    try:
        found = expenses.listing(get_db(), g.subject, username=username, month=month, status=status)
        sums = expenses.totals(get_db(), g.subject, username=username, month=month)
    except Refused as refused:
        if refused.kind != "invalid":
            raise
        found, sums, error = [], [], refusal_message(refused)
    audit_shown("expense.read", found, detail=f"{len(found)} expenses")
    return render_template(
        "expenses.html",
        expenses=found,
        totals=sums,
        month=month,
        username=username,
        status=status,
        error=error,
        categories=categories(),
        statuses=statuses(),
        today=answers.today(),
    ), (400 if error else 200)


@bp.get("/expenses/new")
@allow(access.EXPENSE_SUBMIT)
def new_page():
    return _form_page({}, {})


def _form_page(values: dict[str, str], errors: dict[str, str], status: int = 200):
    return render_template(
        "expense_new.html",
        values=values,
        errors=errors,
        labels=field_labels(),
        categories=categories(),
        today=answers.today().isoformat(),
        max_files=expenses.MAX_RECEIPT_FILES,
    ), status


@bp.post("/expenses")
@allow(access.EXPENSE_SUBMIT)
@upload_limit(files=expenses.MAX_RECEIPT_FILES)
@idempotent
def submit_form():
    try:
        done = _submit()
    except Refused as refused:
        if refused.kind != "invalid":
            raise
        return _form_page(_body_of_form(), _errors(refused), 400)
    return redirect(url_for("expenses.expense_page", expense_id=done["id"], submitted=1))


def _notice(key: str | None) -> str | None:
    texts = {
        "submitted": _("Submitted: a coordinator will approve it."),
        "approve": _("Approved."),
        "reject": _("Rejected."),
        "paid": _("Recorded as paid."),
    }
    return texts.get(key or "")


@bp.get("/expenses/<expense_id>")
@allow(access.EXPENSE_READ)
@takes("submitted", "done")
def expense_page(expense_id: str):
    return _expense_page(
        expense_id, notice=_notice("submitted" if request.args.get("submitted") else request.args.get("done"))
    )


def _expense_page(
    expense_id: str,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    step: str | None = None,
    status: int = 200,
):
    found = expenses.get(get_db(), g.subject, expense_id)
    audit_shown("expense.read", found)
    return render_template(
        "expense.html",
        e=found,
        notice=notice,
        errors=errors or {},
        step=step,
        categories=categories(),
        statuses=statuses(),
        labels=field_labels(),
        today=answers.today().isoformat(),
    ), status


@bp.post("/expenses/<expense_id>/<any(approve, reject, paid):step>")
@allow(access.EXPENSE_APPROVE)
def step_form(expense_id: str, step: str):
    body = {k: request.form.get(k, "") for k in ("reason", "paid_on") if request.form.get(k, "").strip()}
    if step == "reject" and "reason" not in body:
        body["reason"] = ""
    try:
        expenses.decide_step(get_db(), g.subject, actor(), expense_id, step, body, answers.today())
    except Refused as refused:
        if refused.kind == "not_found":
            raise
        audit_refusal(refused, f"expense.{step}")
        status = {"invalid": 400, "conflict": 409, "forbidden": 403}.get(refused.kind, 400)
        return _expense_page(
            expense_id, errors=_errors(refused) or {"": refusal_message(refused)}, step=step, status=status
        )
    return redirect(url_for("expenses.expense_page", expense_id=expense_id, done=step))


@bp.get("/expenses/receipts/<receipt_id>")
@allow(access.EXPENSE_READ)
def receipt_page(receipt_id: str):
    return _receipt(receipt_id)


def _receipt(receipt_id: str) -> Response:
    data, mime, info = expenses.receipt(get_db(), _settings(), _keyring(), g.subject, receipt_id)
    audit_shown("expense.receipt.read", info)
    return private_file(data, mime)  # inline: the page shows it in an <img>


@bp.get("/partners/<username>/report")
@allow(access.EXPENSE_READ)
@takes("month")
def report_page(username: str):
    month = text_arg("month", 7) or answers.today().strftime("%Y-%m")
    found = expenses.monthly_report(get_db(), g.subject, username, month)
    audit_shown("partner.report.read", found, detail=f"{username} {month}")
    return render_template(
        "partner_report.html",
        r=found,
        categories=categories(),
        statuses=statuses(),
        outcomes=answers.outcome_names(),
        month=month,
    )


@bp.get("/partners/<username>/report.csv")
@allow(access.EXPENSE_READ)
@takes("month")
def report_csv(username: str):
    month = text_arg("month", 7) or answers.today().strftime("%Y-%m")
    found = expenses.monthly_report(get_db(), g.subject, username, month)
    audit_shown("partner.report.read", found, detail=f"{username} {month}; csv")
    response = Response("\ufeff" + expenses.report_csv(found), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="report-{username}-{month}.csv"'
    return response


def desk_expenses() -> list[dict[str, Any]]:
    """The coordinator's desk section "Expenses to approve" (web/templates/_desk_expenses.html):
    submitted expenses the subject may decide, audited with their ids."""
    subject = g.get("subject")
    if subject is None or not access.role_may(subject, access.EXPENSE_APPROVE):
        return []
    found = expenses.to_approve(get_db(), subject)
    if found:
        audit_shown("expense.read", found, detail=f"desk: {len(found)} expenses to approve")
    return found


# --- the API ---------------------------------------------------------------------------


@api_bp.post("/expenses")
@allow(access.EXPENSE_SUBMIT)
@upload_limit(files=expenses.MAX_RECEIPT_FILES)
@idempotent
def submit():
    """Multipart: amount, spent_on, category, description, and ``receipts`` (one or more
    files: images or PDFs) → 201 with the expense."""
    return jsonify(_submit()), 201


@api_bp.get("/expenses")
@allow(access.EXPENSE_READ)
@takes("month", "username", "status")
def list_api():
    found = expenses.listing(
        get_db(),
        g.subject,
        username=text_arg("username", 64),
        month=text_arg("month", 7),
        status=text_arg("status", 20),
    )
    audit_shown("expense.read", found, detail=f"{len(found)} expenses")
    return jsonify(expenses=found)


@api_bp.get("/expenses/totals")
@allow(access.EXPENSE_READ)
@takes("month", "username")
def totals_api():
    found = expenses.totals(get_db(), g.subject, username=text_arg("username", 64), month=text_arg("month", 7))
    audit_request("expense.totals.read", detail=f"{len(found)} rows")
    return jsonify(totals=found)


@api_bp.get("/expenses/<expense_id>")
@allow(access.EXPENSE_READ)
def expense_api(expense_id: str):
    found = expenses.get(get_db(), g.subject, expense_id)
    audit_shown("expense.read", found)
    return jsonify(found)


def _step_api(expense_id: str, step: str):
    body = json_object() if request.get_data(cache=True) else {}
    return jsonify(expenses.decide_step(get_db(), g.subject, actor(), expense_id, step, body, answers.today()))


@api_bp.post("/expenses/<expense_id>/approve")
@allow(access.EXPENSE_APPROVE)
def approve_api(expense_id: str):
    """Approve a submitted expense (JSON, optional ``reason``)."""
    return _step_api(expense_id, "approve")


@api_bp.post("/expenses/<expense_id>/reject")
@allow(access.EXPENSE_APPROVE)
def reject_api(expense_id: str):
    """Reject a submitted expense (JSON ``reason``, required)."""
    return _step_api(expense_id, "reject")


@api_bp.post("/expenses/<expense_id>/paid")
@allow(access.EXPENSE_APPROVE)
def paid_api(expense_id: str):
    """Record an approved expense as paid (JSON ``paid_on``: YYYY-MM-DD)."""
    return _step_api(expense_id, "paid")


@api_bp.get("/expenses/receipts/<receipt_id>")
@allow(access.EXPENSE_READ)
def receipt_api(receipt_id: str):
    return _receipt(receipt_id)


@api_bp.get("/partners/<username>/report")
@allow(access.EXPENSE_READ)
@takes("month")
def report_api(username: str):
    month = text_arg("month", 7) or answers.today().strftime("%Y-%m")
    found = expenses.monthly_report(get_db(), g.subject, username, month)
    audit_shown("partner.report.read", found, detail=f"{username} {month}")
    return jsonify(found)
