"""The Flask app: ``create_app()`` builds it; one blueprint per area.

A request flows one way: route → access check → named Cypher (graphsvc.db) → networkx →
template or JSON. This module wires the pieces: settings, the one Neo4j driver of the
process, languages (Korean and English) and the security headers of every response.
"""

from __future__ import annotations

import getpass
import os
import secrets
import tempfile
from typing import Any

from flask import Flask, g, request
from flask_babel import Babel, get_locale

from graphsvc import crypto
from graphsvc.config import Settings, load_settings
from graphsvc.floodgate import Gate
from graphsvc.slots import Slots

LANGUAGES = ("ko", "en")
LANG_COOKIE = "lang"


def select_locale() -> str:
    """?lang= first, then the language cookie, then the browser's preference; Korean by default."""
    asked = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or "ko"


def lang_url(code: str) -> str:
    """The link to this page in another language: the same path with its arguments (a GET),
    or, for the answer to a form, the page the form belongs to (web/static/report.js posts
    the report itself there, keeping what was typed)."""
    from urllib.parse import urlencode

    from flask import url_for

    if request.method == "GET":
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
        return request.path + "?" + urlencode([*args, ("lang", code)])
    if request.endpoint == "visitor.contact_form" and request.view_args:
        return url_for("coordinator.household_page", household_id=request.view_args["household_id"], lang=code)
    return request.path + "?" + urlencode([("lang", code)])


def _web_secret(settings: Settings) -> str:
    """GRAPHSVC_SECRET_KEY, else a random secret kept in the key folder's web-secret (mode
    0600; crypto.web_secret_path)."""
    if settings.secret_key:
        return settings.secret_key
    path = crypto.web_secret_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    except FileExistsError:
        pass
    return path.read_text().strip()


class StartupError(RuntimeError):
    """The app cannot serve safely with these settings; the message says what to change."""


def check_audit_journal(settings: Settings) -> None:
    """Refuse to start when the audit journal cannot be written (StartupError).

    Every audited request writes its event to the journal before its answer leaves and
    fails when it cannot (graphsvc/journal.py): a server whose journal is not writable
    would answer every such request with 500. So the start fails instead, with the reason.
    Checked for real: the folder is created (0700), the journal opened for appending
    (created 0600 when missing) and a file made and removed in its folder (the journal's
    lock files and the shipper's replacement file live there).
    """
    path = settings.audit_journal
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no name for this uid (a container's user)
            user = f"uid {os.geteuid()}"
        raise StartupError(
            f"the audit journal {path} cannot be written by {user} ({exc.strerror or exc}): "
            "every audited request would fail, so the server does not start. Set "
            "GRAPHSVC_STATE_DIR (or GRAPHSVC_AUDIT_JOURNAL) to a folder this user can write; "
            "with Docker, give that folder a volume (see docker-compose.yml)"
        ) from None
    try:  # the key that chains the journal's lines: without it no line can be written either
        crypto.journal_key()
    except (crypto.CryptoError, OSError) as exc:
        raise StartupError(
            f"the audit journal's key cannot be read or made: {exc}. Set "
            f"{crypto.ENV_JOURNAL_KEY} (with Docker: in .env, see docker-compose.yml)"
        ) from None


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    app = Flask(__name__)
    settings = settings or load_settings()
    check_audit_journal(settings)
    app.config.update(
        GRAPHSVC_SETTINGS=settings,
        SECRET_KEY=_web_secret(settings),
        MAX_CONTENT_LENGTH=1024 * 1024,
        BABEL_DEFAULT_LOCALE="ko",
        BABEL_TRANSLATION_DIRECTORIES="translations",
        JSON_AS_ASCII=False,
    )
    app.config.update(config)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to wrap its WSGI app; mypy sees wsgi_app as a method
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["lang_url"] = lang_url

    from . import (
        admin,
        api,
        auth,
        coordinator,
        desk,
        desk_api,
        edge,
        freeze,
        guard,
        health,
        home,
        idem,
        intake,
        neo,
        openapi,
        team,
        transfer,
        visitor,
    )
    from . import alerts as alerts_web
    from . import dispatch as dispatch_web
    from . import duress as duress_web
    from . import erasure as erasure_web

    app.extensions["graphsvc_keyring"] = crypto.load_keyring()
    app.extensions["graphsvc_gate"] = Gate(per_minute=settings.failures_per_minute, window=settings.fold_seconds)
    app.extensions["graphsvc_slots"] = Slots(
        settings.state_dir / "slots", settings.heavy_per_user, settings.heavy_total
    )
    neo.init_app(app)
    transfer.init_app(app)  # before the guard: the import's upload limit applies when it reads the form
    from . import expenses as expenses_web  # issue 16 §3: expenses, receipts, the monthly partner report

    expenses_web.init_app(app)
    from . import filesend  # issue 16: upload routes' size limit (before the guard), private files' headers

    filesend.init_app(app)
    guard.init_app(app)
    edge.init_app(app)  # first of the before_request hooks: 414, 431, and JSON redirects under /api
    idem.init_app(app)  # the forms' Idempotency-Key (issue 14)
    blueprints = (health.bp, home.bp, auth.bp, api.bp, openapi.bp, admin.bp, coordinator.bp, visitor.bp)
    # the coordinator's desk (issue 13): intake, the household desk, dispatch, accounts (team),
    # import and export
    desks = (intake.bp, intake.api_bp, desk.bp, desk_api.bp, dispatch_web.bp, dispatch_web.api_bp, team.bp, transfer.bp)
    emergency = (duress_web.bp, freeze.bp)  # issue 15 §3: the duress sign-in; freeze and sessions
    for blueprint in blueprints + desks + emergency:
        app.register_blueprint(blueprint)
    alerts_web.init_app(app)  # issue 15: the alerts' page, API and the admins' banner
    from . import exposure as exposure_web  # issue 15 §4: the exposure of an account

    app.register_blueprint(exposure_web.bp)
    app.register_blueprint(exposure_web.api_bp)
    # retention (graphsvc/retention.py) once at start, in a thread of its own: never delays serving
    if app.config.get("GRAPHSVC_RETENTION_AT_START", settings.retention_at_start):
        from graphsvc import retention

        app.extensions["graphsvc_retention"] = retention.start_in_background(settings)
    from . import auditsearch as auditsearch_web  # issue 15 §1: who saw X, what did user Y see

    app.register_blueprint(auditsearch_web.bp)
    app.register_blueprint(auditsearch_web.api_bp)
    app.register_blueprint(erasure_web.bp)  # the admin's erasure page (issue 15 §5)
    from . import materials as materials_web  # issue 16 §2: the materials ledger

    app.register_blueprint(materials_web.bp)
    app.register_blueprint(materials_web.api_bp)
    from . import photos as photos_web  # issue 16 §5: visit photos, sanitizing, the newsletter export

    photos_web.init_app(app)

    from . import partners as partners_web  # issue 16 §1: sharing households with partner organisations

    app.register_blueprint(partners_web.bp)
    app.register_blueprint(partners_web.api_bp)

    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response):
        nonce = getattr(g, "csp_nonce", "")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        asked = request.args.get("lang")
        if asked in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE, asked, max_age=365 * 86400, samesite="Strict", httponly=True, secure=request.is_secure
            )
        return response

    return app
