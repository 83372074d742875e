"""The start page."""

from __future__ import annotations

from flask import Blueprint, render_template

from .guard import public

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index():
    return render_template("index.html")
