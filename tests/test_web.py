"""The web app so far: liveness, readiness against the real Neo4j, the start page, headers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from web import create_app


@pytest.fixture()
def client(settings):
    return create_app(settings, TESTING=True).test_client()


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_answers_when_neo4j_does(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready" and response.json["neo4j"].startswith("5.26.")


def test_readyz_is_503_when_neo4j_is_unreachable(settings):
    down = replace(settings, neo4j_uri="bolt://127.0.0.1:1", neo4j_password="x")
    client = create_app(down, TESTING=True).test_client()
    assert client.get("/no-such-page").status_code == 404  # routing errors need no database
    assert client.post("/healthz").status_code == 405
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "neo4j": "unreachable"}
    assert b"127.0.0.1:1" not in response.data  # no internals in the answer


@pytest.mark.parametrize("lang,heading", [("ko", "방문 네트워크"), ("en", "Visitation network")])
def test_start_page_in_korean_and_english(client, lang, heading):
    response = client.get(f"/?lang={lang}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"<h1>{heading}</h1>" in page and f'<html lang="{lang}">' in page
    # the choice is remembered
    again = client.get("/").get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in again


def test_language_follows_the_browser_and_defaults_to_korean(client):
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "<h1>Visitation network</h1>" in english
    assert "<h1>방문 네트워크</h1>" in client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_security_headers_on_every_response(client):
    for path in ("/", "/healthz", "/readyz", "/static/app.css"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_pages_reference_nothing_outside_the_server(client):
    page = client.get("/").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("<!doctype", "")


def test_the_app_applies_the_schema_on_first_connection(db, settings):
    db.write("test_drop_constraint_household_code")
    assert "household_code" not in {r["name"] for r in db.read("test_schema_objects")}
    assert create_app(settings, TESTING=True).test_client().get("/readyz").status_code == 200
    assert "household_code" in {r["name"] for r in db.read("test_schema_objects")}
