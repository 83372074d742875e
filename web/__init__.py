"""The Flask app: ``create_app()`` builds it; one blueprint per area.

A request flows one way: route → access check → named Cypher (graphsvc.db) → networkx →
template or JSON. This module wires the pieces: settings, the one Neo4j driver of the
process, languages (Korean and English) and the security headers of every response.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, g, request
from flask_babel import Babel, get_locale

from graphsvc.config import Settings, load_settings

LANGUAGES = ("ko", "en")
LANG_COOKIE = "lang"


def select_locale() -> str:
    """?lang= first, then the language cookie, then the browser's preference; Korean by default."""
    asked = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES) or "ko"


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        GRAPHSVC_SETTINGS=settings or load_settings(),
        BABEL_DEFAULT_LOCALE="ko",
        BABEL_TRANSLATION_DIRECTORIES="translations",
        JSON_AS_ASCII=False,
    )
    app.config.update(config)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale

    from . import health, home, neo

    neo.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)

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
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="Strict", httponly=True)
        return response

    return app
