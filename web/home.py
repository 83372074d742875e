"""The start page."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for

from graphsvc import access

from .guard import public

bp = Blueprint("home", __name__)


def landing() -> str | None:
    """Where a signed-in user starts, by what their role may do (never by its name): field
    workers their next households, those who read the audit log the log, those who assign
    visits the desk."""
    subject = g.get("subject")
    if subject is None or g.get("second_factor_pending"):
        return None
    if access.role_may(subject, access.SUGGESTIONS_READ):
        return url_for("visitor.suggestions_page")
    if access.role_may(subject, access.AUDIT_READ):
        return url_for("admin.audit_page")
    if access.role_may(subject, access.HOUSEHOLD_ASSIGN):
        return url_for("dispatch.desk_page")
    return None


@bp.get("/")
@public
def index():
    """The start page; who is signed in (sign-in lands here) goes straight to their own page."""
    target = landing()
    if target is not None:
        return redirect(target)
    return render_template("index.html")
