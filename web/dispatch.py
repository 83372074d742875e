"""The coordinator's desk (/dispatch) and its JSON twins: assign, reassign and release
households, read declines, keep follow-ups; the visitor's decline and snooze.

Thin: each view parses its form or body, calls graphsvc/dispatch.py, records what its
answer shows (guard.audit_shown) and renders. A refusal of the core is answered like every
other (web/guard.py), in the page's language; a household held by someone else names who
holds it (the caller is a coordinator or an admin of its district).
"""

from __future__ import annotations

from dataclasses import replace as with_field
from typing import Any, NoReturn

from flask import Blueprint, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from graphsvc import access, dispatch, intake
from graphsvc.errors import Refused
from graphsvc.model import plain

from . import answers, guard
from .args import json_object, takes, text_arg
from .guard import actor, allow, audit_refusal, audit_shown, heavy, problem_text, signed_in
from .idem import idempotent
from .neo import get_db

bp = Blueprint("dispatch", __name__)
api_bp = Blueprint("dispatch_api", __name__, url_prefix="/api/v1")

# The desk's refusals, in the page's language (web/guard.py words every other one).
MESSAGES = {
    "visitor_unknown": _l("Visitor: there is no such account."),
    "visitor_not_field": _l("Visitor: this account is not a visitor."),
    "visitor_disabled": _l("Visitor: this account is disabled."),
    "visitor_district": _l("Visitor: not a visitor of this household's district."),
    "visitor_women_only": _l("Visitor: this household is for women visitors only."),
    "already_assigned": _l("This household is already assigned to that visitor."),
    "not_held": _l("Nobody holds this household."),
    "no_assignment": _l("You hold no assignment on this household."),
    "no_follow_up": _l("No follow-up is planned for this household."),
    "snooze_past": _l("Until: a date after today."),
    "snooze_far": _l("Until: at most 180 days from today."),
}
guard.REFUSAL_MESSAGES.update(MESSAGES)
FIELD_LABELS = {"visitor": _l("Visitor"), "reason": _l("Reason"), "until": _l("Until")}


def _settings():
    return current_app.config["GRAPHSVC_SETTINGS"]


def message(refused: Refused) -> str:
    """A refusal of the desk in the page's language; a held household names its holder."""
    if isinstance(refused, dispatch.Held) and refused.holder:
        until = refused.until.date().isoformat() if refused.until else "?"
        return _(
            "%(visitor)s holds this household until %(date)s. Reassign it to give it to someone else.",
            visitor=refused.holder,
            date=until,
        )
    if refused.problems:
        first = refused.problems[0]
        label = FIELD_LABELS.get(first.field)
        return problem_text(with_field(first, field=str(label)) if label else first)
    return guard.refusal_message(refused)


def _refuse_api(refused: Refused) -> NoReturn:
    """The API's answer to a refusal (as web/guard.py refuse, with the desk's wording)."""
    audit_refusal(refused)
    status = guard.REFUSAL_STATUS[refused.kind]
    body: dict[str, Any] = {
        "error": message(refused),
        "status": status,
        "field": refused.field,
        "code": refused.code or refused.kind,
    }
    if refused.problems:
        body["problems"] = [{"field": p.field, "code": p.code, "message": problem_text(p)} for p in refused.problems]
    abort(make_response(jsonify(body), status))


# --- the desk ------------------------------------------------------------------------------


def _board(district: str | None) -> dict[str, Any]:
    settings = _settings()
    found = dispatch.board(
        get_db(),
        g.subject,
        answers.today(),
        follow_up_days=settings.follow_up_days,
        reminder_days=settings.follow_up_reminder_days,
        district=district,
    )
    detail = f"{len(found['households'])} households, {len(found['visitors'])} visitors"
    audit_shown("dispatch.read", found, detail=detail)
    return found


DONE = {
    "assigned": _l("Assigned: it is the visitor's now, at the top of their list."),
    "reassigned": _l("Reassigned."),
    "released": _l("Released: others may claim it now."),
    "snoozed": _l("Follow-up snoozed."),
}


def _desk(error: str | None = None, status: int = 200, form: dict[str, str] | None = None):
    district = text_arg("district") if request.method == "GET" else (request.form.get("district") or None)
    found = _board(district)
    done = request.args.get("done") if request.method == "GET" else None
    return render_template(
        "dispatch.html",
        board=found,
        district=district,
        notice=DONE.get(done or ""),
        error=error,
        form=form or {},
        reminder_days=_settings().follow_up_reminder_days,
        # what visitors brought back and waits for review (a count of the subject's districts)
        pending=intake.pending_count(get_db(), g.subject),
        kinds={
            "never_visited": _("Never visited"),
            "follow_up_due": _("Follow-up due"),
            "overdue": _("Overdue"),
        },
    ), status


@bp.get("/dispatch")
@allow(access.HOUSEHOLD_ASSIGN)
@takes("district", "done")
@heavy
def desk_page():
    return _desk()


def _back(done: str):
    district = request.form.get("district") or None
    return redirect(url_for("dispatch.desk_page", done=done, district=district))


def _form_refused(refused: Refused):
    audit_refusal(refused)
    if refused.kind == "not_found":
        abort(404)
    return _desk(message(refused), guard.REFUSAL_STATUS[refused.kind], request.form.to_dict())


@bp.post("/dispatch/assign")
@allow(access.HOUSEHOLD_ASSIGN)
@idempotent
def assign_form():
    """Assign (or, with ``replace``, reassign) the household of the form to a visitor."""
    replace = request.form.get("replace") == "1"
    try:
        dispatch.assign(
            get_db(),
            g.subject,
            actor(),
            (request.form.get("household_id") or "").strip(),
            (request.form.get("visitor") or "").strip(),
            request.form.get("reason"),
            days=_settings().assign_days,
            replace=replace,
        )
    except Refused as refused:
        return _form_refused(refused)
    return _back("reassigned" if replace else "assigned")


@bp.post("/dispatch/unassign")
@allow(access.HOUSEHOLD_ASSIGN)
def unassign_form():
    try:
        dispatch.unassign(get_db(), g.subject, actor(), (request.form.get("household_id") or "").strip())
    except Refused as refused:
        return _form_refused(refused)
    return _back("released")


@bp.post("/follow-ups/<household_id>/snooze")
@signed_in
@idempotent
def snooze_form(household_id: str):
    """Snooze a follow-up: from the desk (a coordinator) or the visitor's own list."""
    from_desk = request.form.get("back") == "dispatch"
    try:
        dispatch.snooze(
            get_db(), g.subject, actor(), household_id, {"until": request.form.get("until") or ""}, answers.today()
        )
    except Refused as refused:
        if from_desk and refused.kind != "not_found":
            return _form_refused(refused)
        audit_refusal(refused)
        if refused.kind == "not_found":
            abort(404)
        return redirect(url_for("visitor.suggestions_page", error=refused.code or refused.kind))
    if from_desk:
        return _back("snoozed")
    return redirect(url_for("visitor.suggestions_page", snoozed=1))


@bp.post("/households/<household_id>/decline")
@allow(access.HOUSEHOLD_CLAIM)
@idempotent
def decline_form(household_id: str):
    """The visitor gives an assignment back, with a reason."""
    try:
        dispatch.decline(get_db(), g.subject, actor(), household_id, request.form.get("reason"))
    except Refused as refused:
        audit_refusal(refused)
        if refused.kind == "not_found":
            abort(404)
        return redirect(url_for("visitor.suggestions_page", error="decline_reason"))
    return redirect(url_for("visitor.suggestions_page", declined=1))


# --- the API -------------------------------------------------------------------------------

ASSIGN_FIELDS = frozenset({"visitor", "reason", "replace"})


def _only(body: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            abort(
                make_response(
                    jsonify(
                        error=_("%(field)s: %(problem)s", field=key[:40], problem=_("no such field")),
                        status=400,
                        field=key[:40],
                    ),
                    400,
                )
            )


@api_bp.post("/households/<household_id>/assign")
@allow(access.HOUSEHOLD_ASSIGN)
@idempotent
def assign(household_id: str):
    """``{"visitor": …, "reason": …, "replace": false}`` → the assignment; 409 when someone
    else holds it (``held``, the holder named in ``error``) unless ``replace``."""
    body = json_object()
    _only(body, ASSIGN_FIELDS)
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        abort(
            make_response(
                jsonify(
                    error=_("%(field)s: %(problem)s", field="replace", problem=_("true or false")),
                    status=400,
                    field="replace",
                ),
                400,
            )
        )
    try:
        done = dispatch.assign(
            get_db(),
            g.subject,
            actor(),
            household_id,
            body.get("visitor"),
            body.get("reason"),
            days=_settings().assign_days,
            replace=replace,
        )
    except Refused as refused:
        _refuse_api(refused)
    return jsonify(
        household_id=done.household_id,
        claim_id=done.claim_id,
        visitor=done.visitor,
        expires_at=done.expires_at.isoformat(),
        replaced=done.replaced,
    )


@api_bp.post("/households/<household_id>/unassign")
@allow(access.HOUSEHOLD_ASSIGN)
def unassign(household_id: str):
    """End the live claim or assignment on the household, whoever holds it."""
    try:
        claim_id, visitor = dispatch.unassign(get_db(), g.subject, actor(), household_id)
    except Refused as refused:
        _refuse_api(refused)
    return jsonify(household_id=household_id, claim_id=claim_id, visitor=visitor, released=True)


@api_bp.post("/households/<household_id>/decline")
@allow(access.HOUSEHOLD_CLAIM)
@idempotent
def decline(household_id: str):
    """The visitor gives an assignment back: ``{"reason": …}``."""
    body = json_object()
    _only(body, frozenset({"reason"}))
    try:
        claim_id = dispatch.decline(get_db(), g.subject, actor(), household_id, body.get("reason"))
    except Refused as refused:
        _refuse_api(refused)
    return jsonify(household_id=household_id, claim_id=claim_id, declined=True)


@api_bp.get("/dispatch")
@allow(access.HOUSEHOLD_ASSIGN)
@takes("district")
@heavy
def desk():
    """The desk as data (graphsvc.dispatch.board)."""
    try:
        return jsonify(plain(_board(text_arg("district"))))
    except Refused as refused:
        _refuse_api(refused)


@api_bp.post("/follow-ups/<household_id>/snooze")
@signed_in
@idempotent
def snooze(household_id: str):
    """``{"until": "YYYY-MM-DD"}``: the follow-up is due again on that day."""
    body = json_object()
    try:
        done = dispatch.snooze(get_db(), g.subject, actor(), household_id, body, answers.today())
    except Refused as refused:
        _refuse_api(refused)
    return jsonify(done)
