"""Partners (issue 16 §1): sharing a household with a partner organisation, as a form on the
coordinator's household page and in the API, and the household page's "Shared with" box.

The service is graphsvc/sharing.py (lock → decide → validate → write → audit); a household
the caller may not share answers 404 like an unknown id (web/guard.py audits it); an unknown
organisation answers 400 naming the field ``org``; nothing is written then.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from graphsvc import access, households, orgs, sharing
from graphsvc.errors import Refused

from . import answers, deskpage
from .args import json_object
from .guard import actor, allow, audit_shown, refusal_message
from .idem import idempotent
from .neo import get_db

bp = Blueprint("partners", __name__)
api_bp = Blueprint("partners_api", __name__, url_prefix="/api/v1")

DONE = {
    "shared": _l("Shared with the organisation: its partners may see and visit this household."),
    "unshared": _l("No longer shared: the organisation's partners' claims on it have ended."),
}


def share_box(h: dict[str, Any]) -> dict[str, Any]:
    """The household page's "Shared with" box, for a subject who may share this household
    (a coordinator of its district, an admin): the organisations it is shared with and the
    others it may be shared with. Nothing for anyone else."""
    if "id" not in h or not access.role_may(g.subject, access.HOUSEHOLD_SHARE):
        return {}
    found = households.facts(get_db(), g.subject, h["id"])
    if found is None or not access.decide(g.subject, access.HOUSEHOLD_SHARE, found):
        return {}
    shared = sharing.shares_of(get_db(), h["id"])
    names = {s["org"] for s in shared}
    done = request.args.get("done")
    return {
        "shares": {
            "shared": shared,
            "others": [o["name"] for o in orgs.list_orgs(get_db()) if o["name"] not in names],
            "done": str(DONE[done]) if done in DONE else None,
        }
    }


# --- the household page's form ----------------------------------------------------------------


def _form_act(household_id: str, work, done: str):
    try:
        work()
    except Refused as refused:
        if refused.kind != "invalid":
            raise  # not found (or not the caller's to share): the guard answers 404, audited
        shown = answers.household(household_id)
        return deskpage.render(shown, 400, error=refusal_message(refused))
    return redirect(url_for("coordinator.household_page", household_id=household_id, done=done))


@bp.post("/households/<household_id>/share")
@allow(access.HOUSEHOLD_SHARE)
@idempotent
def share_form(household_id: str):
    org = request.form.get("org", "")
    return _form_act(household_id, lambda: sharing.share(get_db(), g.subject, actor(), household_id, org), "shared")


@bp.post("/households/<household_id>/unshare")
@allow(access.HOUSEHOLD_SHARE)
def unshare_form(household_id: str):
    org = request.form.get("org", "")
    return _form_act(household_id, lambda: sharing.unshare(get_db(), g.subject, actor(), household_id, org), "unshared")


# --- the API ----------------------------------------------------------------------------------


@api_bp.post("/households/<household_id>/share")
@allow(access.HOUSEHOLD_SHARE)
@idempotent
def share(household_id: str):
    """``{"org": name}`` → 201 ``{household_id, org, shared: true, created: true}`` (200 with
    created false when it was shared already)."""
    org = sharing.org_of_body(json_object())
    out = sharing.share(get_db(), g.subject, actor(), household_id, org)
    return jsonify(household_id=out["household_id"], org=out["org"], shared=True, created=out["created"]), (
        201 if out["created"] else 200
    )


@api_bp.delete("/households/<household_id>/share/<org>")
@allow(access.HOUSEHOLD_SHARE)
def unshare(household_id: str, org: str):
    """→ 200 ``{household_id, org, shared: false, removed, ended_claims}`` (removed false:
    it was not shared; nothing changed); 404 for an organisation that does not exist."""
    out = sharing.unshare(get_db(), g.subject, actor(), household_id, org)
    return jsonify(
        household_id=out["household_id"],
        org=out["org"],
        shared=False,
        removed=out["removed"],
        ended_claims=out["ended_claims"],
    )


# --- the coordinator's desk: "Partners" (web/templates/_desk_partner.html) -----------------------


@bp.app_template_global()
def partner_desk() -> dict[str, Any]:
    """The desk's "Partners" section (graphsvc/sharing.py partner_board), audited with every
    id it shows; called by the desk's template (one include line): ``{orgs, outcomes}``."""
    board = sharing.partner_board(get_db(), g.subject, answers.today())
    if board:
        audit_shown("partners.read", board, detail=f"{len(board)} organisations")
    return {"orgs": board, "outcomes": answers.outcome_names()}
