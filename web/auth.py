"""Signing in and out: password, then (admins, coordinators, and visitors who chose it) a
TOTP code; enrolment shows the QR code as inline SVG made on the server.

Throttling is decided in graphsvc/accounts.py; this module adds the device cookie
(``gs_device``, OWASP's "device cookies"): after a complete sign-in the browser gets a
random device id signed with the app's secret for that username (the username itself is
not in the cookie). At the next sign-in with that name, the verified id is passed to
``accounts.authenticate``, so that the failures of strangers (without it) do not lock this
browser out, and its own failures lock only it. A refusal before any check is recorded
here (``guard.audit_request``) and answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import secrets
from typing import Any, cast
from urllib.parse import urlsplit

import pyotp
import segno
from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from graphsvc import accounts, duress
from graphsvc.access import Subject
from graphsvc.model import USERNAME_RE

from .args import BadField, takes
from .guard import SESSION_COOKIE, actor, address, audit_request, gate, needs_second_factor, public, signed_in
from .neo import get_db

bp = Blueprint("auth", __name__)
ISSUER = "graphsvc"
DEVICE_COOKIE = "gs_device"
DEVICE_DAYS = 180
DEVICE_MAX = 5  # device ids kept per browser (people sharing a computer)


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


def _settings():
    return current_app.config["GRAPHSVC_SETTINGS"]


def _too_many(seconds: int):
    """429 with Retry-After: the page says how long to wait, in minutes."""
    minutes = max(1, math.ceil(seconds / 60))
    message = ngettext(
        "Too many failed attempts. Try again in %(num)d minute.",
        "Too many failed attempts. Try again in %(num)d minutes.",
        minutes,
    )
    response = make_response(render_template("error.html", status=429, message=message), 429)
    response.headers["Retry-After"] = str(max(1, int(seconds)))
    return response


# --- device cookies ------------------------------------------------------------------------


def _device_sig(username: str, device: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"device|{username}|{device}".encode(), hashlib.sha256).hexdigest()[:32]


def _device_tokens() -> list[str]:
    raw = request.cookies.get(DEVICE_COOKIE, "")[:1024]
    return [t for t in raw.split("~") if t][:DEVICE_MAX]


def _device_for(username: str) -> str | None:
    """The id of this browser's device cookie for ``username`` when its signature holds."""
    for token in _device_tokens():
        device, _sep, sig = token.partition(".")
        if device and len(device) <= 40 and hmac.compare_digest(sig.encode(), _device_sig(username, device).encode()):
            return device
    return None


def _remember_device(response, username: str) -> None:
    """After a complete sign-in: this browser is a known device of ``username``."""
    if _device_for(username):
        return
    device = secrets.token_urlsafe(16)
    tokens = [f"{device}.{_device_sig(username, device)}"] + _device_tokens()
    response.set_cookie(
        DEVICE_COOKIE,
        "~".join(tokens[:DEVICE_MAX]),
        max_age=DEVICE_DAYS * 86400,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )


# --- signing in ------------------------------------------------------------------------------


def _login_page(error: str | None, status: int):
    next_ = request.args.get("next") or request.form.get("next", "")
    return render_template("login.html", error=error, next=next_), status


@bp.route("/login", methods=["GET", "POST"])
@public
@takes("next")
def login():
    if request.method != "POST":
        return _login_page(None, 200)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    ua = (request.headers.get("User-Agent") or "-")[:200]
    typed = username.strip().lower()[:64]
    _safe_next(request.form.get("next"))  # a malformed one answers 400 before anything happens
    result = accounts.authenticate(
        get_db(), username, password, request.remote_addr or "-", ua, device=_device_for(typed)
    )
    if result.locked:
        audit_request(
            "login.throttled",
            [result.username] if USERNAME_RE.match(result.username) else [],
            outcome="denied",
            detail=f"{result.scope} locked",
        )
        return _too_many(result.retry_after)
    if not result.ok:
        gate().failed(address())  # on record already (accounts); it counts against the address's budget
        return _login_page(_("Wrong username or password."), 401)
    db = get_db()
    if g.get("session_id"):
        accounts.end_session(db, g.session_id, actor())
    subject = cast(Subject, result.subject)  # result.ok: SignIn carries the subject
    needs_second = needs_second_factor(subject, result.totp_enabled)
    max_seconds = int(_settings().session_max_hours * 3600)
    sid = accounts.create_session(
        db, subject, request.remote_addr or "-", ua, second_factor=not needs_second, max_seconds=max_seconds
    )
    target = _safe_next(request.form.get("next"))
    if needs_second:
        target = url_for("auth.totp" if result.totp_enabled else "auth.totp_enrol", next=target)
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE, sid, httponly=True, samesite="Strict", secure=request.is_secure, max_age=max_seconds
    )
    if not needs_second:
        _remember_device(response, subject.username)
    return response


def _code_answer(check: accounts.CodeCheck, wrong: str, template: str, **context):
    """The answer to a code that was not accepted."""
    if not check.checked:
        if check.locked:
            audit_request("login.totp_throttled", [g.subject.username], outcome="denied", detail="code attempts locked")
            return _too_many(check.retry_after)
        return _signed_out(_("Sign in again."))
    if check.locked:
        return _too_many(check.retry_after)
    if check.session_ended:
        return _signed_out(_("Too many wrong codes. Sign in again."))
    error = _("That code was already used. Wait for the next code in your app.") if check.replayed else wrong
    return render_template(template, error=error, **context), 401


def _signed_out(message: str):
    """The login page, with the (ended) session's cookie removed."""
    g.session_id = None
    body, status = _login_page(message, 401)
    response = make_response(body, status)
    response.delete_cookie(SESSION_COOKIE, samesite="Strict", httponly=True, secure=request.is_secure)
    return response


def _decrypt_for(username: str):
    return lambda token: _keyring().decrypt(token, "User", username, "totp_secret")


@bp.route("/login/totp", methods=["GET", "POST"])
@signed_in
@takes("next")
def totp():
    db = get_db()
    username = g.subject.username
    user = cast("dict[str, Any]", accounts.get_user(db, username))  # signed in: the account exists
    if not user["totp_enabled"]:
        return redirect(url_for("auth.totp_enrol"))
    if not g.get("second_factor_pending"):
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        check = accounts.check_code(db, g.session_id, actor(), request.form.get("code", ""), _decrypt_for(username))
        if check.ok:
            response = redirect(_safe_next(request.args.get("next")))
            _remember_device(response, username)
            return response
        return _code_answer(check, _("That code is not right. Use the current code from your app."), "totp.html")
    return render_template("totp.html", error=None)


@bp.route("/login/totp/enrol", methods=["GET", "POST"])
@signed_in
@takes("next")
def totp_enrol():
    db = get_db()
    username = g.subject.username
    user = cast("dict[str, Any]", accounts.get_user(db, username))  # signed in: the account exists
    if user["totp_enabled"]:
        if g.get("second_factor_pending"):
            return redirect(url_for("auth.totp"))
        # already on: never replace a working secret from here (an admin resets it)
        return render_template("totp_enrol.html", qr=None, secret=None, error=None, enabled=True)
    decoy = g.subject.duress  # a duress session (graphsvc/duress.py): the same page, nothing stored
    if decoy:
        secret = duress.decoy_secret(current_app.config["SECRET_KEY"], g.session_id)
    elif user["totp_secret"]:
        # a pending enrolment keeps its secret: reloading the page must not void a scanned code
        secret = _keyring().decrypt(user["totp_secret"], "User", username, "totp_secret")
    else:
        secret = pyotp.random_base32()
        accounts.set_totp(
            db, actor(), username, _keyring().encrypt(secret, "User", username, "totp_secret"), enabled=False
        )
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, xmldecl=False, svgns=True, title=_("Sign-in code"))
    qr = Markup(buffer.getvalue().decode())
    if request.method == "POST" and decoy:
        if duress.decoy_code_ok(secret, request.form.get("code", "")):
            return redirect(_safe_next(request.args.get("next")))
        error = _("That code is not right. Scan the code again and enter the current code.")
        return render_template("totp_enrol.html", qr=qr, secret=secret, error=error), 401
    if request.method == "POST" and user["totp_secret"]:
        check = accounts.check_code(
            db, g.session_id, actor(), request.form.get("code", ""), _decrypt_for(username), enrol=True
        )
        if check.ok:
            response = redirect(_safe_next(request.args.get("next")))
            _remember_device(response, username)
            return response
        return _code_answer(
            check,
            _("That code is not right. Scan the code again and enter the current code."),
            "totp_enrol.html",
            qr=qr,
            secret=secret,
        )
    return render_template("totp_enrol.html", qr=qr, secret=secret, error=None)


@bp.post("/session/alive")
@signed_in
def session_alive():
    """A page where someone is typing (the visit report) says so now and then, so that a
    long report does not outlive the 30 idle minutes of its session (web/static/report.js
    calls it only after keystrokes); nothing else."""
    return "", 204


@bp.post("/logout")
@signed_in
def logout():
    accounts.end_session(get_db(), g.session_id, actor()) if g.get("session_id") else None
    response = redirect(url_for("auth.login"))
    response.delete_cookie(SESSION_COOKIE, samesite="Strict", httponly=True, secure=request.is_secure)
    return response
