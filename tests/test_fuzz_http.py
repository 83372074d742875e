"""The last fuzz 500s of issue 14 (§3), part two: every answer under /api is JSON
(``{"error", "status"}``), the ones Werkzeug and gunicorn make before a route runs too:
308 (Werkzeug merges slashes: ``/api//v1/network``; Location kept), 414 (a URL longer
than the app's limit, below gunicorn's), 431 (a header too large), 404, 405, 413. Checked
with Flask's client and through gunicorn (the ``server`` fixture)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from graphsvc.cli import gunicorn_args
from web import edge

from .helpers import api, sign_in

LONG = "a" * (edge.MAX_URL_BYTES + 100)


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    body = response.json
    assert set(body) >= {"error", "status"} and body["status"] == status and body["error"]
    return body


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("GET", "/api//v1/network", "/api/v1/network"),
        ("GET", "/api/v1//network?district=서울 노원구", "/api/v1/network?district="),
        ("POST", "/api/v1//visits", "/api/v1/visits"),
        ("GET", "/api/v1/households//h-001", "/api/v1/households/h-001"),
    ],
)
def test_a_werkzeug_redirect_under_api_is_json_with_its_location(app, method, path, location):
    call = api(app, "admin")
    response = call(path, method=method)
    _json_error(response, 308)
    assert location in response.headers["Location"]
    # and without a token too: the redirect says nothing the address did not
    _json_error(app.test_client().open(path, method=method), 308)


def test_a_long_url_under_api_is_json_414_and_a_page_elsewhere(app):
    call = api(app, "admin")
    assert "주소가 너무 깁니다" in _json_error(call(f"/api/v1/network?district={LONG}"), 414)["error"]
    assert "too long" in _json_error(call(f"/api/v1/network?district={LONG}&lang=en"), 414)["error"]
    _json_error(app.test_client().get(f"/api/v1/network?q={LONG}"), 414)  # before sign-in is checked
    # the limit is on the URL as sent: one just under it passes on to the route
    short = "가" * ((edge.MAX_URL_BYTES - 100) // 9)  # percent-encoded: 9 bytes a syllable
    passed = call(f"/api/v1/network?district={short}")
    assert passed.status_code == 400 and passed.json["field"] == "district"  # the route's own answer
    client = app.test_client()
    sign_in(client, "admin")
    page = client.get(f"/map?district={LONG}")
    assert page.status_code == 414 and page.mimetype == "text/html"
    assert "주소가 너무 깁니다" in page.get_data(as_text=True)


def test_a_too_large_header_under_api_is_json_431(app):
    call = api(app, "admin")
    body = _json_error(call("/api/v1/network?lang=en", headers={"X-Filler": "x" * edge.MAX_HEADER_BYTES}), 431)
    assert "headers are too large" in body["error"]
    assert call("/api/v1/network", headers={"X-Filler": "x" * 4000}).status_code == 200


def test_other_werkzeug_errors_under_api_are_json(app):
    call = api(app, "admin")
    allowed = _json_error(call("/api/v1/network", method="DELETE"), 405)
    assert allowed["error"] and "GET" in call("/api/v1/network", method="DELETE").headers["Allow"]
    visitor = api(app, "minji")
    big = b"x" * (1024 * 1024 + 1)
    _json_error(visitor("/api/v1/visits", method="POST", data=big, content_type="application/json"), 413)
    _json_error(call("/api/v1/nothing-here"), 404)
    _json_error(call("/api"), 404)
    _json_error(call("/api/"), 404)
    _json_error(call("/api/v1/network", method="TRACE"), 405)


def test_gunicorn_lets_the_app_answer_first():
    """gunicorn's own limits are above the app's: the app answers 414/431 (JSON under /api)."""
    args = gunicorn_args("127.0.0.1", 1, 1, 1)
    line = int(args[args.index("--limit-request-line") + 1])
    field = int(args[args.index("--limit-request-field_size") + 1])
    assert line == edge.GUNICORN_REQUEST_LINE and field == edge.GUNICORN_FIELD_SIZE
    assert line > edge.MAX_URL_BYTES + len("DELETE  HTTP/1.1") and field > edge.MAX_HEADER_BYTES


def _raw(server: str, method: str, target: str, headers: dict[str, str] | None = None):
    where = urlsplit(server)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return (
            response.status,
            response.getheader("Content-Type") or "",
            response.getheader("Location"),
            response.read(),
        )
    finally:
        conn.close()


def test_through_gunicorn_every_answer_under_api_is_json(server, world):
    cases = [
        ("GET", "/api//v1/network", {}, 308),
        ("GET", f"/api/v1/network?q={LONG}", {}, 414),
        ("GET", "/api/v1/network", {"X-Filler": "x" * (edge.MAX_HEADER_BYTES + 10)}, 431),
        ("DELETE", "/api/v1/network", {}, 405),
        ("GET", "/api", {}, 404),
    ]
    for method, target, headers, status in cases:
        got, ctype, location, raw = _raw(server, method, target, headers)
        assert (got, ctype.split(";")[0]) == (status, "application/json"), (target[:60], got, raw[:200])
        body = json.loads(raw)
        assert body["status"] == status and body["error"]
        if status == 308:
            assert location.endswith("/api/v1/network")
    # beyond gunicorn's own request line, gunicorn answers itself (still a 414, not JSON:
    # the app never sees the request); web/edge.py says so
    got, _ctype, _loc, _raw_body = _raw(server, "GET", "/api/v1/network?q=" + "a" * edge.GUNICORN_REQUEST_LINE)
    assert got == 414
