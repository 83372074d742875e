"""What the app answers before a route runs: a URL too long (414), a header too large (431),
and the redirects Werkzeug makes itself (308: ``/api//v1/network`` → ``/api/v1/network``).

Under ``/api`` every answer is JSON (``{"error", "status"}``, as guard.py answers the
others). Werkzeug's redirects (``RequestRedirect``, raised when routing merges slashes or
adds one) never reach Flask's error handlers, so they are answered here, before the guard:
a 308 with its ``Location`` kept and a JSON body. A client that follows redirects keeps
working (a 308 repeats the method and body); one that does not reads why.

The limits are the app's own and smaller than gunicorn's (``graphsvc serve`` raises
gunicorn's request line to its maximum, 8190 bytes, and its header field to 16 KiB;
graphsvc/cli.py gunicorn_args), so a long URL or a large header is answered here, in JSON
under /api and as the error page elsewhere. Beyond gunicorn's own limits gunicorn answers
itself (plain text/HTML) before the app sees the request.
"""

from __future__ import annotations

from flask import Flask, abort, jsonify, make_response, request
from flask_babel import gettext as _
from werkzeug.routing import RequestRedirect

from .guard import is_api

# The request target (path and query, as sent) and one header line (name and value), in
# bytes. A map's filters or a list's arguments fit in a few hundred; 4 KiB is what
# gunicorn allowed before, and what proxies commonly allow.
MAX_URL_BYTES = 4096
MAX_HEADER_BYTES = 8190
# gunicorn's own limits (graphsvc/cli.py gunicorn_args): above the app's, so the app answers first
GUNICORN_REQUEST_LINE = 8190  # gunicorn's maximum
GUNICORN_FIELD_SIZE = 16384


def request_target(environ: dict) -> str:
    """The path and query as the client sent them (gunicorn: RAW_URI; Werkzeug: REQUEST_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING") or ""
    return str(environ.get("PATH_INFO") or "") + ("?" + query if query else "")


def init_app(app: Flask) -> None:
    """First of every ``before_request``: the limits, then Werkzeug's redirects under /api."""

    def edge():
        if len(request_target(request.environ).encode("latin-1", "replace")) > MAX_URL_BYTES:
            abort(414)
        for name, value in request.headers.items():
            if len(name) + len(value) + 2 > MAX_HEADER_BYTES:
                abort(431)
        redirect = request.routing_exception
        if isinstance(redirect, RequestRedirect) and is_api():
            response = make_response(
                jsonify(error=_("This address has moved: use the one in Location."), status=redirect.code),
                redirect.code,
            )
            response.headers["Location"] = redirect.new_url
            return response
        return None

    app.before_request_funcs.setdefault(None, []).insert(0, edge)
