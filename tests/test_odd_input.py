"""Odd input never answers 500: it answers 400 naming the field, and changes nothing."""

from __future__ import annotations

import pytest

from .helpers import PASSWORD, api, csrf, events, sign_in


def test_unicode_digits_in_a_number_argument(app):
    call = api(app, "coord")
    for value in ("²", "١٢", "５"):
        response = call(f"/api/v1/unvisited?limit={value}")
        assert response.status_code == 400 and response.json["field"] == "limit", value


def test_a_date_at_the_end_of_time(app):
    response = api(app, "admin")("/api/v1/audit?until=9999-12-31")
    assert response.status_code == 400 and response.json["field"] == "until"


def test_deeply_nested_json(app, world):
    body = "[" * 100_000 + "]" * 100_000
    response = api(app, "minji")("/api/v1/visits", method="POST", data=body,
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_lone_surrogate_in_notes(app, world):
    body = '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "a\\ud800b"}'
    response = api(app, "minji")("/api/v1/visits", method="POST", data=body,
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["field"] == "notes"


def test_a_nul_in_notes_is_refused_as_the_importer_refuses_it(app, world):
    response = api(app, "minji")("/api/v1/visits", method="POST", json={
        "household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "a\x00b"})
    assert response.status_code == 400 and response.json["field"] == "notes"


def test_a_line_break_in_next(app, world):
    client = app.test_client()
    response = client.post("/login?lang=en", data={"username": "minji", "password": PASSWORD,
                                                   "next": "/map\r\nSet-Cookie: x=1", "csrf_token": csrf(client)})
    assert response.status_code == 400 and "next" in response.get_data(as_text=True)
    assert not events(world, action="session.start") and not events(world, action="login.password")


def test_an_argument_the_page_does_not_take(app):
    client = app.test_client()
    sign_in(client, "admin")
    assert client.get("/admin/audit?fmt=x").status_code == 400
    assert client.get("/admin/audit?_method=POST").status_code == 400
