"""The visitor's pages, phone first: next households with reasons, claims, visit reports,
and their own history. The JSON twins are in api.py; both call graphsvc.suggest and
graphsvc.visits through web/answers.py, and every answer is audited with the ids it showed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from graphsvc import access, visits
from graphsvc.errors import Refused

from . import answers
from .args import takes
from .guard import actor, allow, audit_refusal, audit_shown, problem_text, refusal_message
from .neo import get_db

bp = Blueprint("visitor", __name__)


@bp.get("/suggestions")
@allow(access.SUGGESTIONS_READ)
@takes("claimed", "released", "error")
def suggestions_page():
    found = answers.suggestions(g.subject, 20)
    notice = None
    if request.args.get("claimed"):
        notice = _("Claimed: it is yours for %(days)d days, until you report the visit.", days=visits.CLAIM_DAYS)
    elif request.args.get("released"):
        notice = _("Released: others may visit it now.")
    return render_template("suggestions.html", suggestions=found, notice=notice, error=request.args.get("error"))


@bp.post("/households/<household_id>/claim")
@allow(access.HOUSEHOLD_CLAIM)
def claim_form(household_id: str):
    try:
        visits.claim(get_db(), g.subject, actor(), household_id)
    except Refused as refused:
        audit_refusal(refused)
        if refused.kind == "not_found":
            abort(404)
        return redirect(url_for("visitor.suggestions_page", error=refused.code or refused.kind))
    return redirect(url_for("visitor.suggestions_page", claimed=1))


@bp.post("/households/<household_id>/release")
@allow(access.HOUSEHOLD_CLAIM)
def release_form(household_id: str):
    try:
        visits.release(get_db(), g.subject, actor(), household_id)
    except Refused as refused:
        audit_refusal(refused, "household.release")
        abort(404)
    return redirect(url_for("visitor.history_page", released=1))


OUTCOMES = ("met", "not_home", "refused", "moved")
MATERIALS = ("bible", "hymnal")


def _form_body(form) -> tuple[dict[str, Any], str | None]:
    """The form's fields as a report body (the same names as the JSON API), and the form
    field at fault when a count is not a whole number."""
    counts = {}
    for name in MATERIALS:
        raw = (form.get(f"materials_{name}") or "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                return {}, f"materials_{name}"
            if int(raw):
                counts[name] = int(raw)
    other = (form.get("materials_other") or "").strip()
    body = {
        k: (form.get(k) or "").strip() or None
        for k in ("household_id", "visited_on", "outcome", "follow_up_on", "notes")
    }
    text = ";".join(f"{k}:{v}" for k, v in counts.items())
    if other:
        text = f"{text};{other}" if text else other
    body["materials"] = text or None
    return body, None


# A report's field → the form field that holds it (the form splits materials in three).
FORM_FIELDS = {"materials": "materials_other"}


@bp.route("/visits/new", methods=["GET", "POST"])
@allow(access.VISIT_REPORT)
@takes("household_id")
def report_page():
    values: dict[str, Any] = {
        "household_id": request.args.get("household_id", ""),
        "visited_on": dt.date.today().isoformat(),
    }
    error = field = None
    if request.method == "POST":
        values = request.form.to_dict()
        body, bad_count = _form_body(request.form)
        if bad_count:
            error, field = _("%(field)s: a whole number", field=bad_count.removeprefix("materials_")), bad_count
        else:
            try:
                visit_id = visits.report(get_db(), current_app.extensions["graphsvc_keyring"], g.subject, actor(), body)
            except Refused as refused:
                audit_refusal(refused, "visit.report")
                if refused.kind == "not_found":
                    abort(404)
                error = problem_text(refused.problems[0]) if refused.problems else refusal_message(refused)
                field = FORM_FIELDS.get(refused.field or "", refused.field)
            else:
                return redirect(url_for("visitor.history_page", reported=visit_id))
    status = 400 if error else 200
    return render_template(
        "report.html",
        values=values,
        error=error,
        field=field,
        outcomes=answers.outcome_names(),
        materials=MATERIALS,
        today=dt.date.today().isoformat(),
    ), status


@bp.get("/history")
@allow(access.VISIT_REPORT)
@takes("reported", "released")
def history_page():
    data = visits.history(get_db(), g.subject.username)
    audit_shown("history.read", data, detail=f"{len(data['visits'])} visits, {len(data['claims'])} claims")
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "history.html",
        visits=data["visits"],
        claims=data["claims"],
        now=now,
        outcomes=answers.outcome_names(),
        reported=request.args.get("reported"),
        released=request.args.get("released"),
    )
