"""The start page."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for

from graphsvc import access

from .guard import public

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index():
    """The start page; a field worker who is signed in goes straight to their next households."""
    if access.role_may(g.get("subject"), access.SUGGESTIONS_READ):
        return redirect(url_for("visitor.suggestions_page"))
    return render_template("index.html")
