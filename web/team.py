"""Running accounts from the browser and the API (graphsvc/team.py decides and writes).

- ``/team``: the accounts the caller runs: a coordinator, the visitors of their districts;
  an admin, every visitor (``/admin/users`` lists every account).
- ``/team/<username>``: one account: gender, districts (checkboxes among the districts the
  caller may give), role (admins); changes are audited field by field.
- ``/team/<username>/reset-link``: a one-time password-reset link, after a confirmation.
- ``/reset/<token>``: where the user sets a new password (public; the token is the key).
- ``PATCH /api/v1/users/<username>``: the same change as JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from graphsvc import access, team
from graphsvc.errors import Refused
from graphsvc.model import plain

from .admin import ACCOUNT_ERRORS
from .args import json_object, takes
from .guard import REFUSAL_STATUS, actor, allow, audit_refusal, audit_request, public, refusal_message, refuse
from .idem import idempotent
from .neo import get_db

bp = Blueprint("team", __name__)

TEAM_MESSAGES = {
    "own_account": _l("You cannot change your own role or disable your own account."),
    "account_field": _l("You may not change this of that account."),
    "account_disabled": _l("The account is disabled: enable it first."),
    "password_mismatch": _l("The two passwords differ."),
}
RESET_PAGES = {
    "used": (410, _l("This link was already used. Ask for a new one if you still need it.")),
    "expired": (410, _l("This link has expired. Ask your coordinator or administrator for a new one.")),
    "disabled": (410, _l("This account is disabled. Ask your administrator.")),
    "unknown": (404, _l("This link is not valid. Check that it was copied whole, or ask for a new one.")),
}


def _message(exc: Refused) -> str:
    if exc.code in TEAM_MESSAGES:
        return str(TEAM_MESSAGES[exc.code])
    if exc.code in ACCOUNT_ERRORS:
        return str(ACCOUNT_ERRORS[exc.code])
    return refusal_message(exc)


def _account(username: str) -> dict[str, Any]:
    """The account as the caller may see it, or 404 (audited) when they may not run it."""
    try:
        return team.get_account(get_db(), g.subject, username)
    except Refused as exc:
        refuse(exc)


def _choices(account: dict[str, Any]) -> list[str]:
    """The districts offered on the form: those the caller may give, and the account's own."""
    known = team.known_districts(get_db(), g.subject)
    return sorted(set(known) | set(account["districts"]))


def _fields(account: dict[str, Any]) -> frozenset[str]:
    facts = access.AccountFacts(account["username"], account["role"], tuple(account["districts"]))
    return access.decide(g.subject, access.TEAM_MANAGE, facts).fields


@bp.get("/team")
@allow(access.TEAM_MANAGE)
@takes("done")
def team_page():
    rows = team.team(get_db(), g.subject)
    audit_request("users.read", [r["username"] for r in rows])
    return render_template("team.html", rows=[plain(r) for r in rows], done=request.args.get("done"))


@bp.route("/team/<username>", methods=["GET", "POST"])
@allow(access.TEAM_MANAGE)
@takes("done")
def account_page(username: str):
    account = _account(username)
    fields = _fields(account)
    error, status, form = None, 200, None
    if request.method == "POST":
        form = request.form
        data: dict[str, Any] = {}
        if "role" in fields and form.get("role"):
            data["role"] = form["role"]
        if "gender" in fields and "gender" in form:
            data["gender"] = form.get("gender", "")
        if "districts" in fields and form.get("districts_shown"):
            data["districts"] = form.getlist("districts")
        try:
            change = team.change_account(get_db(), g.subject, actor(), username, data)
        except Refused as exc:
            if exc.kind == "not_found":
                refuse(exc)
            audit_refusal(exc)
            error, status = _message(exc), REFUSAL_STATUS[exc.kind]
        else:
            after = change.account
            facts = access.AccountFacts(username, after["role"], tuple(after["districts"]))
            if not access.decide(g.subject, access.TEAM_MANAGE, facts):  # it left the caller's districts
                return redirect(url_for("team.team_page", done="saved"))
            return redirect(url_for("team.account_page", username=username, done="saved" if change.changed else "same"))
    audit_request("users.read", [username])
    return render_template(
        "team_account.html",
        account=plain(account),
        fields=fields,
        choices=_choices(account),
        roles=access.REGISTRY.values(),
        error=error,
        done=request.args.get("done"),
        form=form,
    ), status


@bp.post("/team/<username>/reset-link")
@allow(access.TEAM_MANAGE)
@idempotent(secret=True)
def reset_link(username: str):
    """A one-time reset link, shown once to the caller who hands it over: only after an
    explicit confirmation (``confirm=yes``); a POST without it shows the confirmation."""
    account = _account(username)
    if request.form.get("confirm") != "yes":
        audit_request("users.read", [username])
        return render_template(
            "confirm.html",
            account=plain(account),
            verb="reset-link",
            action=url_for("team.reset_link", username=username),
            back=url_for("team.account_page", username=username),
        )
    hours = current_app.config["GRAPHSVC_SETTINGS"].reset_link_hours
    try:
        token, expires_at = team.create_reset_link(get_db(), g.subject, actor(), username, int(hours * 3600))
    except Refused as exc:
        if exc.kind == "not_found":
            refuse(exc)
        audit_refusal(exc)
        return render_template("error.html", status=409, message=_message(exc)), REFUSAL_STATUS[exc.kind]
    link = request.host_url.rstrip("/") + url_for("team.reset_password", token=token)
    return render_template(
        "reset_link.html", account=plain(account), link=link, expires_at=f"{expires_at:%Y-%m-%d %H:%M} UTC"
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    """Set a new password through a one-time link; then sign in as usual (with the code)."""
    db = get_db()
    state = team.reset_link_state(db, token)
    if state["state"] != "ok":
        audit_request("user.reset_link_refused", outcome="denied", detail=f"link {state['state']}")
        status, message = RESET_PAGES[state["state"]]
        return render_template("reset_password.html", invalid=message, username=None, error=None), status
    username = state["username"]
    if request.method != "POST":
        return render_template("reset_password.html", invalid=None, username=username, error=None)
    password = request.form.get("password", "")
    if password != request.form.get("password_confirm", ""):
        error = f"password_confirm: {TEAM_MESSAGES['password_mismatch']}"
        return render_template("reset_password.html", invalid=None, username=username, error=error), 400
    ua = (request.headers.get("User-Agent") or "-")[:200]
    try:
        team.use_reset_link(db, token, password, request.remote_addr or "-", ua)
    except Refused as exc:
        if exc.kind == "invalid":
            error = f"password: {_message(exc)}"
            return render_template("reset_password.html", invalid=None, username=username, error=error), 400
        audit_request("user.reset_link_refused", outcome="denied", detail=exc.why)
        status, message = RESET_PAGES["used"]
        return render_template("reset_password.html", invalid=message, username=None, error=None), status
    return render_template("reset_password.html", invalid=None, username=username, error=None, done=True)


@bp.patch("/api/v1/users/<username>")
@allow(access.TEAM_MANAGE)
def api_user_change(username: str):
    """Change an account: ``{role?, districts?, add_districts?, remove_districts?, gender?,
    enabled?}`` (graphsvc/records.py user_change); admins: any account and field;
    coordinators: a visitor of their districts, its gender and districts among theirs.
    Answers the account as the caller may see it, with the fields changed."""
    change = team.change_account(get_db(), g.subject, actor(), username, json_object())
    account = team.scoped(g.subject, change.account)  # also when it has just left the caller's reach
    if not change.changed:
        audit_request("users.read", [username])
    return jsonify(
        username=account["username"],
        role=account["role"],
        districts=account["districts"],
        other_districts=account["other_districts"],
        gender=account["gender"],
        enabled=account["enabled"],
        changed=list(change.changed),
    )
