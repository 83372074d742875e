"""The coordinator's intake: households that visitors brought back, reviewed.

``/intake`` (coordinators: their districts; admins: all) shows one card per pending
household (who brought it in, from which visit, the introducer's household, its people and
its duplicate candidates with their reasons in words) and three forms: confirm, merge into
(a candidate or a typed code), reject with a reason. After an action the page comes back
with a confirmation line; a refusal is shown on the card in the page's language.

The JSON twins: ``GET /api/v1/intake``, ``POST /api/v1/intake/<id>/confirm``,
``…/merge`` ``{"into": "<household id or code>"}``, ``…/reject`` ``{"reason": "…"}``.
All of them call graphsvc/intake.py; every answer is audited with the ids it shows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NoReturn

from flask import Blueprint, abort, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from graphsvc import access, intake
from graphsvc.errors import Refused

from .args import json_object, takes
from .guard import REFUSAL_STATUS, actor, allow, audit_refusal, audit_shown, problem_text
from .idem import idempotent
from .neo import get_db

bp = Blueprint("intake", __name__)
api_bp = Blueprint("intake_api", __name__, url_prefix="/api/v1")

ACTIONS = ("confirmed", "merged", "rejected")


# --- words --------------------------------------------------------------------------------


def reason_text(kind: str, code: str) -> str:
    """One reason of a duplicate candidate in plain words, in the page's language."""
    if kind == "phone":
        return _("same phone as %(code)s", code=code)
    if kind == "name":
        return _("same name as someone of %(code)s", code=code)
    if kind == "address":
        return _("same home address as %(code)s", code=code)
    if kind == "same_introducer":
        return _("introduced by the same person as someone of %(code)s", code=code)
    if kind == "introducer_household":
        return _("its introducer belongs to %(code)s", code=code)
    if kind == "code_name":
        return _("same code name as someone of %(code)s, one introduction away", code=code)
    return _("similar to %(code)s", code=code)


def with_words(card: dict[str, Any]) -> dict[str, Any]:
    """A card of the API's answer with each candidate's reasons in words (``reasons_text``)."""
    for c in card["candidates"]:
        c["reasons_text"] = list(dict.fromkeys(reason_text(r["kind"], c["code"]) for r in c["reasons"]))
    return card


def field_labels() -> dict[str, str]:
    """What the forms call each field, in the page's language."""
    return {"into": _("Household to merge into"), "reason": _("Reason")}


def refusal_text(refused: Refused, labels: dict[str, str] | None = None) -> str:
    """A refusal of an intake action in the page's language (``labels``: the form's words
    for the fields a problem names)."""
    if refused.problems:
        problem = refused.problems[0]
        return problem_text(replace(problem, field=(labels or {}).get(problem.field, problem.field)))
    if isinstance(refused, intake.MergeConflict):
        c = refused.conflict
        person = c["code_name"] or _("someone")
        introducer = c["introducer_code_name"] or _("someone you may not see")
        path = " → ".join(code or _("a household you may not see") for code in c["path"])
        if c["kind"] == "self":
            return _(
                "“%(introducer)s” of %(code)s introduced “%(person)s”: merged there, the household would "
                "introduce itself. Confirm it instead, or choose another household.",
                introducer=introducer,
                code=path,
                person=person,
            )
        return _(
            "“%(introducer)s” introduced “%(person)s”, and %(path)s already leads to the introducer's household: "
            "the merge would close a circle of introductions.",
            introducer=introducer,
            person=person,
            path=path,
        )
    if refused.code == "already_reviewed":
        return _("This household has already been reviewed.")
    if refused.code == "merge_into_itself":
        return _("A household cannot be merged into itself.")
    if refused.code == "merge_target_status":
        return _("Merge into a household that has been reviewed (not pending, rejected or merged).")
    if refused.kind == "not_found" and refused.field == "into":
        return _("No household with this code that you may merge into.")
    if refused.kind == "not_found":
        return _("Not found.")
    return refused.why


def _action() -> str:
    """The audit's name of the action the current route runs (``intake.confirm`` …)."""
    verb = (request.endpoint or "-").rsplit("_", 1)[-1]
    return f"intake.{verb}"


def _api_refuse(refused: Refused) -> NoReturn:
    """The API's answer to a refusal: audited, then ``{error, status, field, code}`` (and
    ``problems``, or the ``conflict`` of a merge), as every other route answers."""
    audit_refusal(refused, _action())
    status = REFUSAL_STATUS[refused.kind]
    body: dict[str, Any] = {
        "error": refusal_text(refused),
        "status": status,
        "field": refused.field,
        "code": refused.code or refused.kind,
    }
    if refused.problems:
        body["problems"] = [{"field": p.field, "code": p.code, "message": problem_text(p)} for p in refused.problems]
    if isinstance(refused, intake.MergeConflict):
        body["conflict"] = refused.conflict
    abort(make_response(jsonify(body), status))


# --- the page -----------------------------------------------------------------------------


def _cards() -> list[dict[str, Any]]:
    cards = [with_words(c) for c in intake.pending(get_db(), g.subject)]
    audit_shown("intake.read", cards, detail=f"{len(cards)} pending")
    return cards


def _page(error: dict[str, str] | None = None, status: int = 200, values: dict[str, str] | None = None):
    done = request.args.get("done")
    notice = None
    if done in ACTIONS:
        code = (request.args.get("code") or "")[:64]
        into = (request.args.get("into") or "")[:64]
        if done == "confirmed":
            notice = _("Confirmed: the household is active as %(code)s.", code=code)
        elif done == "merged":
            notice = _("Merged into %(code)s.", code=into)
        else:
            notice = _("Rejected. The reason is kept with the household.")
    cards = _cards()
    total = intake.pending_count(get_db(), g.subject) if len(cards) >= intake.DEFAULT_LIMIT else len(cards)
    page = render_template(
        "intake.html", cards=cards, total=total, notice=notice, error=error or {}, values=values or {}
    )
    return page, status


@bp.get("/intake")
@allow(access.INTAKE_REVIEW)
@takes("done", "code", "into")
def intake_page():
    return _page()


def _act(household_id: str, run) -> Any:
    """Run one action of a form; back to /intake with a confirmation line, or the page
    again with the refusal on the card (400/409; 404 for a household out of reach)."""
    try:
        done = run()
    except Refused as refused:
        audit_refusal(refused, _action())
        if refused.kind == "not_found" and refused.field != "into":
            abort(404)
        values = {k: v for k, v in request.form.items() if k in ("into", "reason")}
        message = refusal_text(refused, field_labels())
        return _page({"id": household_id, "message": message}, REFUSAL_STATUS[refused.kind], values)
    args: dict[str, Any] = {"done": {"active": "confirmed", "merged": "merged", "rejected": "rejected"}[done.status]}
    if done.status == "active":
        args["code"] = done.code
    if done.status == "merged":
        args["into"] = done.into_code or ""
    return redirect(url_for("intake.intake_page", **args))


@bp.post("/intake/<household_id>/confirm")
@allow(access.INTAKE_REVIEW)
@idempotent
def intake_confirm(household_id: str):
    return _act(household_id, lambda: intake.confirm(get_db(), g.subject, actor(), household_id))


@bp.post("/intake/<household_id>/merge")
@allow(access.INTAKE_REVIEW)
@idempotent
def intake_merge(household_id: str):
    """``into`` (a typed code) wins over ``candidate`` (a picked one)."""
    typed = (request.form.get("into") or "").strip()
    picked = (request.form.get("candidate") or "").strip()

    def run():
        target = intake.parse_merge({"into": typed or picked})
        return intake.merge(get_db(), g.subject, actor(), household_id, target)

    return _act(household_id, run)


@bp.post("/intake/<household_id>/reject")
@allow(access.INTAKE_REVIEW)
@idempotent
def intake_reject(household_id: str):
    def run():
        reason = intake.parse_reject({"reason": request.form.get("reason")})
        return intake.reject(get_db(), g.subject, actor(), household_id, reason)

    return _act(household_id, run)


# --- the API ------------------------------------------------------------------------------


def _answer(done: intake.Reviewed) -> dict[str, Any]:
    return {
        "id": done.household_id,
        "status": done.status,
        "code": done.code,
        "merged_into": done.into,
        "merged_into_code": done.into_code,
        "person_ids": list(done.people),
    }


def _body() -> Any:
    """The request's JSON object; an empty body is an empty object (a confirmation)."""
    if not request.get_data(cache=True):
        return {}
    return json_object()


@api_bp.get("/intake")
@allow(access.INTAKE_REVIEW)
def api_intake():
    """The pending households the caller may review, the longest waiting first."""
    return jsonify(households=_cards())


def _api_act(run) -> Any:
    try:
        return jsonify(_answer(run()))
    except Refused as refused:
        _api_refuse(refused)


@api_bp.post("/intake/<household_id>/confirm")
@allow(access.INTAKE_REVIEW)
@idempotent
def api_intake_confirm(household_id: str):
    body = _body()

    def run():
        intake.parse_confirm(body)
        return intake.confirm(get_db(), g.subject, actor(), household_id)

    return _api_act(run)


@api_bp.post("/intake/<household_id>/merge")
@allow(access.INTAKE_REVIEW)
@idempotent
def api_intake_merge(household_id: str):
    body = _body()

    def run():
        return intake.merge(get_db(), g.subject, actor(), household_id, intake.parse_merge(body))

    return _api_act(run)


@api_bp.post("/intake/<household_id>/reject")
@allow(access.INTAKE_REVIEW)
@idempotent
def api_intake_reject(household_id: str):
    body = _body()

    def run():
        return intake.reject(get_db(), g.subject, actor(), household_id, intake.parse_reject(body))

    return _api_act(run)
