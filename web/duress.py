"""The duress password (graphsvc/duress.py): a visitor's own page to set, change or remove
it (/account/duress), and the admin's lift of the identity freeze that its use leaves
(a button on /admin/users)."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from graphsvc import access, accounts, duress

from .args import takes
from .guard import actor, allow, audit_request
from .neo import get_db

bp = Blueprint("duress", __name__)

PROBLEMS = {
    "current_wrong": _l("The current password is not right."),
    "password_short": _l("The password needs at least 12 characters."),
    "password_long": _l("The password is too long."),
    "password_username": _l("The password must not contain the username."),
    "password_repetitive": _l("The password is too repetitive."),
    "duress_same": _l("The emergency password must differ from your password."),
    "duress_mismatch": _l("The two emergency passwords are not the same."),
    "not_field_work": _l("Only visitors have an emergency password."),
}
DONE = {
    "set": _l("The emergency password is set."),
    "changed": _l("The emergency password is changed."),
    "removed": _l("The emergency password is removed."),
}
ACTIONS = ("save", "remove")


def _labels() -> dict[str, str]:
    return {
        "current_password": _("Current password"),
        "duress_password": _("Emergency password"),
        "duress_password_again": _("The same again"),
    }


@bp.route("/account/duress", methods=["GET", "POST"])
@allow(access.SELF_READ)
@takes("done")
def duress_page():
    """Set, change or remove the emergency (duress) password, with the current password.
    A problem is shown beside its field, in the page's language; nothing changes then."""
    subject = g.subject
    if not duress.may_have(subject):
        abort(404)
    db = get_db()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        what = request.form.get("action", "save")
        if what not in ACTIONS:
            what = "save"
        new = None if what == "remove" else request.form.get("duress_password", "")[:2048]
        again = None if what == "remove" else request.form.get("duress_password_again", "")[:2048]
        try:
            done = duress.change(db, subject, actor(), request.form.get("current_password", "")[:2048], new, again)
        except duress.DuressProblem as problem:
            if problem.code == "current_wrong":  # a checked guess: on record, and counted against the address
                audit_request("user.duress_password", [subject.username], outcome="denied", detail="wrong password")
            label = _labels().get(problem.field, problem.field)
            errors[problem.field] = _("%(field)s: %(problem)s", field=label, problem=PROBLEMS.get(problem.code, "?"))
            status = 400
        else:
            return redirect(url_for("duress.duress_page", done=done))
    audit_request("self.read", [subject.username], detail="emergency password page")
    state = duress.state(db, subject)
    done_key = request.args.get("done")
    return render_template(
        "duress.html",
        has_duress=state.has_duress,
        errors=errors,
        done=DONE.get(done_key) if done_key else None,
    ), status


@bp.post("/admin/users/<username>/identity/lift")
@allow(access.USERS_MANAGE)
def lift_freeze(username: str):
    """An admin lifts the identity and contact freeze a duress sign-in left (audited)."""
    try:
        duress.lift(get_db(), actor(), username)
    except accounts.AccountError:
        abort(404)
    return redirect(url_for("admin.users_page", done="identity-lift"))
