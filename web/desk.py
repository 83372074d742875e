"""The coordinator's household desk: the forms of ``/households/<id>`` (show identity,
correct, transfer, add, correct and move members, introducers), a new household, and the
transfers into and out of the caller's districts.

Each form calls one service of graphsvc/desk.py and goes back to the household's page
(post/redirect/get) with a note of what was done; a refusal shows the page again with the
message in its language (400 for bad input, 409 for a conflict; nothing changed). A
household or person the caller may not correct answers 404 (web/guard.py audits it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from graphsvc import access, desk
from graphsvc.errors import Refused

from . import answers, deskpage
from .args import takes
from .guard import actor, allow, audit_refusal, audit_shown, refusal_message
from .idem import idempotent
from .neo import get_db

bp = Blueprint("desk", __name__)

REFUSED_STATUS = {"invalid": 400, "conflict": 409, "forbidden": 403}


def _keyring():
    return current_app.extensions["graphsvc_keyring"]


def _form(*names: str) -> dict[str, Any]:
    """The named fields of the form that were sent (a field left out is not a change)."""
    return {n: request.form[n] for n in names if n in request.form}


def _back(household_id: str, done: str):
    return redirect(url_for("coordinator.household_page", household_id=household_id, done=done))


def _act(household_id: str, work: Callable[[], Any], done: str):
    """Run a form's work; back to the household with ``done``, or the page again with why
    not. Not found (or not the caller's) goes up to the guard: 404, audited."""
    try:
        work()
    except Refused as refused:
        if refused.kind not in REFUSED_STATUS:
            raise
        audit_refusal(refused)
        shown = answers.household(household_id)
        return deskpage.render(shown, REFUSED_STATUS[refused.kind], error=refusal_message(refused))
    return _back(household_id, done)


def _household_of_form() -> str:
    """The household a person's form came from (where to go back to)."""
    ref = (request.form.get("household") or "").strip()[:64]
    return ref or "-"


# --- the household ---------------------------------------------------------------------------


@bp.post("/households/<household_id>/identity")
@allow(access.HOUSEHOLD_IDENTITY_READ)
def identity_form(household_id: str):
    """ "Show identity": an explicit action (a form, never a link a browser might prefetch),
    audited as an identity read; an admin states a reason. The page that answers is not
    stored (no-store) and the next visit of the page does not show it again."""
    reason = (request.form.get("reason") or "").strip()[:300] or None
    try:
        shown = answers.household(household_id, True, reason)
    except Refused as refused:
        if refused.kind != "invalid":
            raise
        audit_refusal(refused)
        return deskpage.render(answers.household(household_id), 400, error=refusal_message(refused), reason=reason)
    return deskpage.render(shown, identity=True)


@bp.post("/households/<household_id>/edit")
@allow(access.HOUSEHOLD_WRITE)
def edit_form(household_id: str):
    data = _form("status", "status_reason", "arrived_on")
    data["women_only"] = "true" if request.form.get("women_only") else "false"
    return _act(household_id, lambda: desk.edit_household(get_db(), g.subject, actor(), household_id, data), "saved")


@bp.post("/households/<household_id>/transfer")
@allow(access.HOUSEHOLD_WRITE)
def transfer_form(household_id: str):
    data = _form("district", "reason")
    try:
        done = desk.transfer(get_db(), g.subject, actor(), household_id, data)
    except Refused as refused:
        if refused.kind not in REFUSED_STATUS:
            raise
        audit_refusal(refused)
        shown = answers.household(household_id)
        return deskpage.render(shown, REFUSED_STATUS[refused.kind], error=refusal_message(refused))
    # it may have left the caller's view: the list of transfers says where it went
    return redirect(url_for("desk.transfers_page", done=done["code"]))


@bp.post("/households/<household_id>/members")
@allow(access.HOUSEHOLD_WRITE)
@idempotent
def add_member_form(household_id: str):
    data = _form("code_name", "legal_name", "phone", "address")
    return _act(
        household_id,
        lambda: desk.add_member(get_db(), _keyring(), g.subject, actor(), household_id, data),
        "member_added",
    )


# --- people ------------------------------------------------------------------------------------


@bp.post("/people/<person_id>/edit")
@allow(access.HOUSEHOLD_WRITE)
def edit_member_form(person_id: str):
    data = {k: v for k, v in _form("code_name", "legal_name", "phone", "address").items() if v.strip()}
    return _act(
        _household_of_form(),
        lambda: desk.edit_member(get_db(), _keyring(), g.subject, actor(), person_id, data),
        "member_saved",
    )


@bp.post("/people/<person_id>/move")
@allow(access.HOUSEHOLD_WRITE)
def move_member_form(person_id: str):
    data = _form("household_to")
    body = {"household": data.get("household_to", "")}
    return _act(
        _household_of_form(), lambda: desk.move_member(get_db(), g.subject, actor(), person_id, body), "member_moved"
    )


@bp.post("/people/<person_id>/introducer")
@allow(access.HOUSEHOLD_WRITE)
def introducer_form(person_id: str):
    form = _form("introducer", "on", "relation", "replaces")
    remove = request.form.get("remove") is not None
    body = {
        "introducer": None if remove else form.get("introducer", "").strip(),
        "on": form.get("on") or None,
        "relation": form.get("relation") or None,
        "replaces": form.get("replaces") or None,
    }
    if not remove and not body["introducer"]:
        body["introducer"] = "-"  # an empty field is not "remove": the record layer says what is wrong
    return _act(
        _household_of_form(),
        lambda: desk.change_introducer(get_db(), g.subject, actor(), person_id, body),
        "introducer_saved",
    )


# --- a new household, and the transfers ---------------------------------------------------------


@bp.route("/households/new", methods=["GET", "POST"])
@allow(access.HOUSEHOLD_WRITE)
@idempotent
def new_household_page():
    """A household a coordinator learns of (by phone): its district (theirs), a code (or the
    next free one), and its first member (optional: code name, identity encrypted)."""
    scope = access.scope_districts(g.subject)
    choices = list(scope) if scope is not None else desk.districts(get_db())
    values: dict[str, str] = {}
    error = None
    if request.method == "POST":
        values = request.form.to_dict()
        data = _form("code", "district", "arrived_on")
        data["women_only"] = "true" if request.form.get("women_only") else "false"
        person = {k: values.get(f"member_{k}", "") for k in ("code_name", "legal_name", "phone", "address")}
        try:
            if person["code_name"].strip():
                # the member is checked before the household is made: both or neither
                desk.check_member(person, "member_")
            made = desk.create_household(get_db(), g.subject, actor(), data)
            if person["code_name"].strip():
                desk.add_member(get_db(), _keyring(), g.subject, actor(), made["id"], person)
            return _back(made["id"], "created")
        except Refused as refused:
            if refused.kind not in REFUSED_STATUS:
                raise
            audit_refusal(refused)
            error = refusal_message(refused)
    return render_template("household_new.html", districts=choices, values=values, error=error), (400 if error else 200)


@bp.get("/transfers")
@allow(access.HOUSEHOLD_WRITE)
@takes("done")
def transfers_page():
    """Households transferred into and out of the caller's districts in the last 90 days
    (from the audit log): incoming ones open; outgoing ones only as they were sent."""
    rows = desk.recent_transfers(get_db(), g.subject)
    shown = [{"id": r.household_id} for r in rows if r.household_id]
    audit_shown("household.transfers.read", shown, detail=f"{len(rows)} transfers")
    done = (request.args.get("done") or "")[:64]
    return render_template("transfers.html", rows=rows, done=done, days=desk.TRANSFER_DAYS)
