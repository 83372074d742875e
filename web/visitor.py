"""The visitor's pages, phone first: next households with reasons, claims, visit reports,
and their own history. The JSON twins are in api.py; both call graphsvc.suggest and
graphsvc.visits through web/answers.py, and every answer is audited with the ids it showed."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from graphsvc import access, dispatch, visits
from graphsvc.errors import Refused
from graphsvc.records import Problem

from . import answers, mapview
from .args import takes
from .guard import actor, allow, audit_refusal, audit_shown, problem_text, refusal_message
from .idem import idempotent
from .neo import get_db

bp = Blueprint("visitor", __name__)


@bp.get("/suggestions")
@allow(access.SUGGESTIONS_READ)
@takes("claimed", "released", "error", "declined", "snoozed")
def suggestions_page():
    found = answers.suggestions(g.subject, 20)
    follow_ups = dispatch.follow_ups_due(get_db(), g.subject, answers.today(), _reminder_days())
    if follow_ups:
        audit_shown("follow_ups.read", follow_ups, detail=f"{len(follow_ups)} follow-ups due")
    notice = None
    if request.args.get("declined"):
        notice = _("Declined: your coordinator sees why.")
    elif request.args.get("snoozed"):
        notice = _("Follow-up snoozed.")
    elif request.args.get("claimed"):
        notice = _("Claimed: it is yours for %(days)d days, until you report the visit.", days=visits.CLAIM_DAYS)
    elif request.args.get("released"):
        notice = _("Released: others may visit it now.")
    return render_template(
        "suggestions.html",
        suggestions=found,
        follow_ups=follow_ups,
        notice=notice,
        error=request.args.get("error"),
        tomorrow=(answers.today() + dt.timedelta(days=1)).isoformat(),
    )


def _reminder_days() -> int:
    return current_app.config["GRAPHSVC_SETTINGS"].follow_up_reminder_days


def _back(household_id: str, **notice):
    """After a claim or a release: back to the household's page when the form came from
    there, else to the suggestions."""
    if request.form.get("back") == "household":
        return redirect(url_for("coordinator.household_page", household_id=household_id, **notice))
    return redirect(url_for("visitor.suggestions_page", **notice))


@bp.post("/households/<household_id>/claim")
@allow(access.HOUSEHOLD_CLAIM)
@idempotent
def claim_form(household_id: str):
    try:
        answers.claim(household_id)
    except Refused as refused:
        audit_refusal(refused)
        if refused.kind == "not_found":
            abort(404)
        return _back(household_id, error=refused.code or refused.kind)
    return _back(household_id, claimed=1)


@bp.post("/households/<household_id>/release")
@allow(access.HOUSEHOLD_CLAIM)
def release_form(household_id: str):
    try:
        visits.release(get_db(), g.subject, actor(), household_id)
    except Refused as refused:
        audit_refusal(refused, "household.release")
        abort(404)
    if request.form.get("back") == "household":
        return _back(household_id, released=1)
    return redirect(url_for("visitor.history_page", released=1))


@bp.post("/households/<household_id>/contact")
@allow(access.HOUSEHOLD_CONTACT_READ)
def contact_form(household_id: str):
    """ "Show the address": an explicit tap (a form, never a link that a browser might
    prefetch); the page that answers is never stored (no-store), and the next time the
    household's page is opened the address is not on it."""
    shown = answers.household(household_id)
    try:
        found, error = answers.contact(household_id), None
    except Refused as refused:
        if refused.kind != "busy":
            raise
        audit_refusal(refused, access.HOUSEHOLD_CONTACT_READ.value)
        found, error = None, refusal_message(refused)
    return render_template("household.html", h=shown, contact=found, error=error, classes=mapview.class_names()), (
        429 if error else 200
    )


MATERIALS = ("bible", "hymnal")
NEW_MEMBER_FIELDS = ("code_name", "legal_name", "phone")
INTRODUCTION_FIELDS = ("introducer_id", "code_name", "relation", "district", "women_only", "phone", "address", "note")
MAX_ROWS = 20
REPEATED = ("new_members", "introductions")


def _rows(form, name: str, fields: tuple[str, ...]) -> tuple[list[dict[str, str]], list[int]]:
    """The repeated rows of the form (``name-<i>-<field>``) that have something in them,
    and the form index of each (a problem of the report names the body's index)."""
    count = min(_count(form, f"{name}_count"), MAX_ROWS)
    rows, where = [], []
    for i in range(count):
        row = {f: (form.get(f"{name}-{i}-{f}") or "").strip() for f in fields}
        if any(v for k, v in row.items() if k != "women_only"):
            rows.append({k: v for k, v in row.items() if v})
            where.append(i)
    return rows, where


def _count(form, name: str) -> int:
    raw = (form.get(name) or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 3 else 0


def _form_body(form) -> tuple[dict[str, Any], str | None, dict[str, list[int]]]:
    """The form's fields as a report body (the same names as the JSON API), the form field
    at fault when a count is not a whole number, and where each repeated row came from."""
    counts = {}
    for name in MATERIALS:
        raw = (form.get(f"materials_{name}") or "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                return {}, f"materials_{name}", {}
            if int(raw):
                counts[name] = int(raw)
    other = (form.get("materials_other") or "").strip()
    body: dict[str, Any] = {
        k: (form.get(k) or "").strip() or None
        for k in ("household_id", "visited_on", "outcome", "follow_up_on", "notes")
    }
    text = ";".join(f"{k}:{v}" for k, v in counts.items())
    if other:
        text = f"{text};{other}" if text else other
    body["materials"] = text or None
    body["met"] = [m for m in form.getlist("met") if m]
    body["new_members"], members_at = _rows(form, "new_members", NEW_MEMBER_FIELDS)
    body["introductions"], intros_at = _rows(form, "introductions", INTRODUCTION_FIELDS)
    for intro in body["introductions"]:
        intro["women_only"] = intro.get("women_only") == "true"
    return body, None, {"new_members": members_at, "introductions": intros_at}


LIST_FIELD = re.compile(r"^(new_members|introductions)\[(\d+)\]\.(\w+)$")


def _form_field(field: str | None, origin: dict[str, list[int]]) -> str | None:
    """A report's field (``introductions[1].district``) → the form field that holds it
    (``introductions-3-district`` when empty rows came before it)."""
    if field is None:
        return None
    if field == "materials":
        return "materials_other"  # the form splits materials in three
    found = LIST_FIELD.match(field)
    if found:
        name, index, part = found.group(1), int(found.group(2)), found.group(3)
        rows = origin.get(name, [])
        return f"{name}-{rows[index] if index < len(rows) else index}-{part}"
    if field.startswith("met["):
        return "met"
    return field


def field_labels() -> dict[str, str]:
    """What the report form calls each field, in the page's language (a problem is shown
    beside its field with these words, never the API's names like ``introductions[0].district``)."""
    return {
        "household_id": _("Household"),
        "visited_on": _("Date of the visit"),
        "outcome": _("How it went"),
        "met": _("Who was there"),
        "materials": _("Materials"),
        "follow_up_on": _("Next follow-up"),
        "notes": _("Notes"),
        "code_name": _("Code name"),
        "legal_name": _("Legal name"),
        "phone": _("Phone"),
        "address": _("Home address"),
        "district": _("District"),
        "relation": _("Relation"),
        "introducer_id": _("Introduced by"),
        "women_only": _("Women visitors only"),
        "note": _("Note about them"),
    }


def _said(problem: Problem, labels: dict[str, str]) -> str:
    """A report's problem in the form's words: its field named as the form names it."""
    last = re.sub(r"\[\d+\]$", "", problem.field.rsplit(".", 1)[-1])
    return problem_text(replace(problem, field=labels.get(last, problem.field)))


@bp.route("/visits/new", methods=["GET", "POST"])
@allow(access.VISIT_REPORT)
@idempotent
@takes("household_id")
def report_page():
    """The report, phone first: one step a screen (web/static/report.js; without scripts,
    one long form): outcome and date, who was met, materials, households introduced at
    the visit (repeatable), notes. Opened from a card with the household filled in (its id
    or code); every problem shown next to its field in the page's language, all of them at
    once where they can be known without the database."""
    today = answers.today()
    values: dict[str, Any] = {
        "household_id": request.args.get("household_id", ""),
        "visited_on": today.isoformat(),
        "new_members_count": "1",
        "introductions_count": "1",
    }
    errors: dict[str, str] = {}
    met: list[str] = []
    saving = focus = None
    labels = field_labels()
    if request.method == "POST":
        values = request.form.to_dict()
        met = request.form.getlist("met")
        adding = request.form.get("add")
        if adding in REPEATED:  # one more row, the cursor in it; nothing is saved
            count = min(_count(request.form, f"{adding}_count") + 1, MAX_ROWS)
            values[f"{adding}_count"] = str(count)
            focus = f"{adding}-{count - 1}-code_name"
        elif adding is None:
            saving = True
            body, bad_count, origin = _form_body(request.form)
            try:
                if bad_count:  # said with the record's own problems, not in a round of its own
                    item = {"materials_bible": _("Bibles"), "materials_hymnal": _("Hymnals")}[bad_count]
                    errors[bad_count] = _("%(field)s: a whole number", field=item)
                    visits.parse_report({**body, "materials": None}, today)
                else:
                    done = answers.report(body)
                    return redirect(url_for("visitor.history_page", reported=done.visit_id))
            except Refused as refused:
                audit_refusal(refused, "visit.report")
                if refused.kind == "not_found":
                    abort(404)
                for problem in refused.problems or ():
                    errors.setdefault(_form_field(problem.field, origin) or "", _said(problem, labels))
                if not refused.problems:
                    errors[_form_field(refused.field, origin) or ""] = refusal_message(refused)
    household = None
    ref = (values.get("household_id") or "").strip()
    if ref:
        try:
            household = answers.report_form(ref)
        except Refused as refused:
            if request.method == "GET" or refused.kind != "not_found":
                raise
            audit_refusal(refused, "visit.report.form")
            errors.setdefault("household_id", _("No household with this code that you may report on."))
    return render_template(
        "report.html",
        values=values,
        met=met,
        errors=errors,
        saving=saving,
        focus=focus,
        household=household,
        outcomes=answers.outcome_names(),
        relations=answers.relation_names(),
        materials=MATERIALS,
        today=today.isoformat(),
        rows={name: range(max(1, min(_count(values, f"{name}_count"), MAX_ROWS))) for name in REPEATED},
    ), (400 if errors else 200)


@bp.get("/history")
@allow(access.VISIT_REPORT)
@takes("reported", "released")
def history_page():
    data = visits.history(get_db(), g.subject)
    audit_shown("history.read", data, detail=f"{len(data['visits'])} visits, {len(data['claims'])} claims")
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "history.html",
        visits=data["visits"],
        claims=data["claims"],
        brought=data["brought"],
        now=now,
        outcomes=answers.outcome_names(),
        reported=request.args.get("reported"),
        released=request.args.get("released"),
    )
