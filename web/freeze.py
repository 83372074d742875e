"""Emergency controls in the browser and the API (issue 15 §3; graphsvc/freeze.py decides
and writes).

- ``/account``: the signed-in user's own account: their live sessions (device, address,
  started, last seen; this device marked), each with a sign-out, and "sign out everywhere
  else" / "everywhere" (``POST /account/sessions/end``).
- ``/admin/users/<username>/sessions``: the same for any account, for admins.
- ``/users/<username>/freeze``: a confirmation page with the required reason, then the
  freeze (admins: any account; coordinators: a visitor of their districts);
  ``/users/<username>/unfreeze``: the same for admins.
- ``POST /api/v1/users/<username>/freeze`` and ``…/unfreeze`` with ``{"reason": …}``: admins.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from graphsvc import access, accounts, freeze
from graphsvc.errors import Refused
from graphsvc.model import plain

from .args import json_object, takes
from .guard import (
    CLEAR_SITE_DATA,
    REFUSAL_STATUS,
    SESSION_COOKIE,
    actor,
    allow,
    audit_refusal,
    audit_request,
    refusal_message,
    refuse,
    signed_in,
)
from .idem import idempotent
from .neo import get_db

bp = Blueprint("freeze", __name__)

FREEZE_MESSAGES = {
    "own_account": _l("You cannot freeze your own account. Ask another administrator."),
    "not_frozen": _l("This account is not frozen."),
    "no_session": _l("That session has already ended."),
}
DONE = {
    "one": _l("The session was signed out."),
    "others": _l("Every other session was signed out."),
}


def _message(exc: Refused) -> str:
    return str(FREEZE_MESSAGES[exc.code]) if exc.code in FREEZE_MESSAGES else refusal_message(exc)


# --- sessions -----------------------------------------------------------------------------


def _sessions_page(username: str, admin: bool):
    rows = freeze.sessions(get_db(), username, g.get("session_id") if username == g.subject.username else None)
    audit_request("sessions.read", [username], detail=f"{len(rows)} sessions")
    done = request.args.get("done")
    return render_template(
        "account.html",
        username=username,
        sessions=[plain(r) for r in rows],
        admin=admin,
        own=username == g.subject.username,
        done=str(DONE[done]) if done in DONE else None,
        end_url=url_for("freeze.admin_sessions_end", username=username)
        if admin
        else url_for("freeze.account_sessions_end"),
    )


def _end(username: str, back: str):
    """End sessions of ``username`` as the form says: ``scope`` one (``ref``), others or all."""
    scope = request.form.get("scope", "")
    own = username == g.subject.username
    try:
        freeze.end_sessions(
            get_db(),
            g.subject,
            actor(),
            username,
            scope,
            request.form.getlist("ref"),
            g.get("session_id") if own else None,
        )
    except Refused as exc:
        if exc.kind == "not_found" and exc.code != "no_session":
            refuse(exc)
        audit_refusal(exc)
        return render_template("error.html", status=REFUSAL_STATUS[exc.kind], message=_message(exc)), REFUSAL_STATUS[
            exc.kind
        ]
    if own and g.get("session_id") and not accounts.session_user(get_db(), g.session_id):
        # the caller signed this device out too: to the sign-in page, with this site's data cleared
        response = redirect(url_for("auth.login"))
        response.delete_cookie(SESSION_COOKIE, samesite="Strict", httponly=True, secure=request.is_secure)
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
        return response
    done = "one" if scope == "one" else "others"
    if back == "freeze.account_page":
        return redirect(url_for(back, done=done))
    return redirect(url_for(back, username=username, done=done))


@bp.get("/account")
@signed_in
@takes("done")
def account_page():
    return _sessions_page(g.subject.username, admin=False)


@bp.post("/account/sessions/end")
@signed_in
def account_sessions_end():
    return _end(g.subject.username, "freeze.account_page")


@bp.get("/admin/users/<username>/sessions")
@allow(access.USERS_MANAGE)
@takes("done")
def admin_sessions(username: str):
    if accounts.get_user(get_db(), username) is None:
        abort(404)
    return _sessions_page(username, admin=True)


@bp.post("/admin/users/<username>/sessions/end")
@allow(access.USERS_MANAGE)
def admin_sessions_end(username: str):
    return _end(username, "freeze.admin_sessions")


# --- freeze -------------------------------------------------------------------------------


def _account(username: str, verb: str) -> dict[str, Any]:
    """The account the caller may freeze (or, admins, unfreeze); 404 (audited) otherwise."""
    db = get_db()
    user = accounts.get_user(db, username) if len(username) <= 64 else None
    facts = access.AccountFacts(username, user["role"], tuple(user["districts"])) if user else None
    allowed = facts is not None and bool(access.decide(g.subject, access.USER_FREEZE, facts))
    if verb == "unfreeze":
        allowed = allowed and access.role_may(g.subject, access.USERS_MANAGE)
    if not allowed or user is None:
        refuse(Refused("not_found", "not an account the caller may freeze", "username", (username,)))
    return {"username": user["username"], "role": user["role"], "frozen": user["frozen"]}


def _back() -> str:
    return url_for("admin.users_page") if access.role_may(g.subject, access.USERS_MANAGE) else url_for("team.team_page")


def _freeze_page(username: str, verb: str):
    account = _account(username, verb)
    error, status = None, 200
    if request.method == "POST":
        reason = request.form.get("reason", "")
        try:
            if verb == "freeze":
                freeze.freeze(get_db(), g.subject, actor(), username, reason)
            else:
                freeze.unfreeze(get_db(), g.subject, actor(), username, reason)
        except Refused as exc:
            if exc.kind == "not_found":
                refuse(exc)
            audit_refusal(exc)
            error, status = _message(exc), REFUSAL_STATUS[exc.kind]
        else:
            return redirect(_back() + f"?done={verb}")
    else:
        audit_request("users.read", [username])
    body = render_template(
        "freeze.html",
        account=account,
        verb=verb,
        error=error,
        reason=request.form.get("reason", "") if request.method == "POST" else "",
        max_reason=freeze.REASON_MAX,
        back=_back(),
    )
    return make_response(body, status)


@bp.route("/users/<username>/freeze", methods=["GET", "POST"])
@allow(access.USER_FREEZE)
@idempotent
def freeze_page(username: str):
    return _freeze_page(username, "freeze")


@bp.route("/users/<username>/unfreeze", methods=["GET", "POST"])
@allow(access.USERS_MANAGE)
@idempotent
def unfreeze_page(username: str):
    return _freeze_page(username, "unfreeze")


# --- the API --------------------------------------------------------------------------------


@bp.post("/api/v1/users/<username>/freeze")
@allow(access.USERS_MANAGE)
@idempotent
def api_freeze(username: str):
    """Freeze an account now: ``{"reason": "…"}`` (required, at most 300 characters).
    Answers what ended: sessions, tokens, and the households whose claims were released."""
    body = json_object()
    done = freeze.freeze(get_db(), g.subject, actor(), username, body.get("reason"))
    return jsonify(
        username=done.username,
        frozen=True,
        sessions_ended=done.sessions,
        tokens_revoked=done.tokens,
        claims_released=list(done.released),
    )


@bp.post("/api/v1/users/<username>/unfreeze")
@allow(access.USERS_MANAGE)
@idempotent
def api_unfreeze(username: str):
    """Let a frozen account sign in again: ``{"reason": "…"}``. Its tokens stay revoked."""
    body = json_object()
    freeze.unfreeze(get_db(), g.subject, actor(), username, body.get("reason"))
    return jsonify(username=username, frozen=False)
