"""Signing in and out: password, then (admins, coordinators, and visitors who chose it) a
TOTP code; enrolment shows the QR code as inline SVG made on the server."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pyotp
import segno
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from graphsvc import accounts
from graphsvc.access import Subject

from .guard import SESSION_COOKIE, SECOND_FACTOR_ROLES, actor, public, signed_in
from .neo import get_db
from .args import BadField, takes

bp = Blueprint("auth", __name__)
ISSUER = "graphsvc"


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after sign-in."""
    if not target:
        return url_for("home.index")
    if any(ord(c) < 33 or ord(c) == 127 for c in target) or len(target) > 2000:
        raise BadField("next", _("a path on this site"))  # a line break would split the redirect's header
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    return target


def _keyring():
    return current_app.extensions["graphsvc_keyring"]


@bp.route("/login", methods=["GET", "POST"])
@public
@takes("next")
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        ua = (request.headers.get("User-Agent") or "-")[:200]
        _safe_next(request.form.get("next"))  # a malformed one answers 400 before anything happens
        result = accounts.authenticate(get_db(), username, password, request.remote_addr or "-", ua)
        if result.locked:
            abort(429)
        if not result.ok:
            error = _("Wrong username or password.")
        else:
            db = get_db()
            if g.get("session_id"):
                accounts.end_session(db, g.session_id, actor())
            subject: Subject = result.subject
            needs_second = subject.role in SECOND_FACTOR_ROLES or result.totp_enabled
            sid = accounts.create_session(db, subject, request.remote_addr or "-", ua,
                                          second_factor=not needs_second)
            target = _safe_next(request.form.get("next"))
            if needs_second:
                target = url_for("auth.totp" if result.totp_enabled else "auth.totp_enrol", next=target)
            response = redirect(target)
            response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict",
                                secure=request.is_secure, max_age=accounts.IDLE_SECONDS * 16)
            return response
    status = 200 if error is None else 401
    return render_template("login.html", error=error, next=request.args.get("next") or request.form.get("next", "")), status


@bp.route("/login/totp", methods=["GET", "POST"])
@signed_in
@takes("next")
def totp():
    db = get_db()
    user = accounts.get_user(db, g.subject.username)
    if not user["totp_enabled"]:
        return redirect(url_for("auth.totp_enrol"))
    error = None
    if request.method == "POST":
        secret = _keyring().decrypt(user["totp_secret"], "User", g.subject.username, "totp_secret")
        if pyotp.TOTP(secret).verify(request.form.get("code", "").strip(), valid_window=1):
            accounts.complete_second_factor(db, g.session_id, actor())
            return redirect(_safe_next(request.args.get("next")))
        if accounts.second_factor_failed(db, actor()):
            abort(429)
        error = _("That code is not right. Use the current code from your app.")
    return render_template("totp.html", error=error), 200 if error is None else 401


@bp.route("/login/totp/enrol", methods=["GET", "POST"])
@signed_in
@takes("next")
def totp_enrol():
    db = get_db()
    username = g.subject.username
    user = accounts.get_user(db, username)
    if user["totp_enabled"]:
        if g.get("second_factor_pending"):
            return redirect(url_for("auth.totp"))
        # already on: never replace a working secret from here (an admin resets it)
        return render_template("totp_enrol.html", qr=None, secret=None, error=None, enabled=True)
    error = None
    if request.method == "POST" and user["totp_secret"]:
        secret = _keyring().decrypt(user["totp_secret"], "User", username, "totp_secret")
        if pyotp.TOTP(secret).verify(request.form.get("code", "").strip(), valid_window=1):
            accounts.set_totp(db, actor(), username, user["totp_secret"], enabled=True)
            accounts.complete_second_factor(db, g.session_id, actor())
            return redirect(_safe_next(request.args.get("next")))
        error = _("That code is not right. Scan the code again and enter the current code.")
    elif user["totp_secret"] and not user["totp_enabled"]:
        # a pending enrolment keeps its secret: reloading the page must not void a scanned code
        secret = _keyring().decrypt(user["totp_secret"], "User", username, "totp_secret")
    else:
        secret = pyotp.random_base32()
        accounts.set_totp(db, actor(), username, _keyring().encrypt(secret, "User", username, "totp_secret"),
                          enabled=False)
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, xmldecl=False, svgns=True,
                                    title=_("Sign-in code"))
    qr = Markup(buffer.getvalue().decode())
    return render_template("totp_enrol.html", qr=qr, secret=secret, error=error), 200 if error is None else 401


@bp.post("/logout")
@signed_in
def logout():
    accounts.end_session(get_db(), g.session_id, actor()) if g.get("session_id") else None
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE, samesite="Strict", httponly=True)
    return response
