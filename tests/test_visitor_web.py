"""The visitor's pages and API: suggestions with reasons, claims (20 at once: one wins),
visit reports by form and JSON, history; bad input names the field and changes nothing."""

from __future__ import annotations

import concurrent.futures
import re

import pytest

from graphsvc import accounts, audit
from web import create_app

from .helpers import ACTOR, import_folder, rewrite, snapshot

PASSWORD = "correct horse battery"


@pytest.fixture()
def world(db, small):
    """The small network; visitors mina (f) and jiho (m) in 노원; h-002 is women-only."""

    def edit(rows):
        rows[0].append("women_only")
        for r in rows[1:]:
            r.append("true" if r[0] == "h-002" else "")

    rewrite(small, "households", edit)
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    accounts.add_user(db, ACTOR, "jiho", "visitor", ["서울 노원구"], PASSWORD, "m")
    return db


@pytest.fixture()
def app(settings, world):
    return create_app(settings, TESTING=True)


def token(db, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + accounts.create_token(db, ACTOR, username, 1)}


def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf}).status_code == 302
    )
    return client


def csrf_of(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_suggestions_api_lists_reasons_and_is_audited(app, world):
    body = app.test_client().get("/api/v1/suggestions?limit=5&lang=en", headers=token(world, "mina")).json
    found = body["suggestions"]
    assert found, body
    ids = [s["household_id"] for s in found]
    assert "h-005" not in ids  # do not visit
    for s in found:
        assert set(s) == {"household_id", "code", "district", "score", "reasons", "reason_codes", "path"}
        assert s["district"] == "서울 노원구" and s["reasons"] and all(isinstance(r, str) for r in s["reasons"])
    event = audit.query(world, action="suggestions.read", actor="mina", limit=1)[0]
    assert set(ids) <= set(event["targets"])
    korean = app.test_client().get("/api/v1/suggestions?limit=5&lang=ko", headers=token(world, "mina")).json
    assert [s["household_id"] for s in korean["suggestions"]] == ids
    assert all(re.search("[가-힣]", r) for s in korean["suggestions"] for r in s["reasons"])
    assert korean["suggestions"][0]["reasons"] != found[0]["reasons"]
    men = app.test_client().get("/api/v1/suggestions", headers=token(world, "jiho")).json["suggestions"]
    assert "h-002" not in [s["household_id"] for s in men]  # women only


def test_claims_over_http_twenty_at_once_one_wins(app, world):
    headers = []
    for i in range(20):
        name = f"v{i:02d}"
        accounts.add_user(world, ACTOR, name, "visitor", ["서울 노원구"], PASSWORD, "f")
        headers.append(token(world, name))
        client = app.test_client()
        assert client.get("/api/v1/suggestions?limit=10", headers=headers[-1]).status_code == 200
    first = app.test_client().get("/api/v1/suggestions?limit=10", headers=headers[0]).json["suggestions"]
    target = first[0]["household_id"]

    def claim(h):
        return app.test_client().post(f"/api/v1/households/{target}/claim", headers=h).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(claim, headers))
    assert sorted(codes) == [200] + [409] * 19, codes


def test_visit_report_api_201_and_bad_input_changes_nothing(app, world):
    headers = token(world, "mina")
    client = app.test_client()
    found = client.get("/api/v1/suggestions", headers=headers).json["suggestions"]
    household = found[0]["household_id"]
    before = snapshot(world)
    bad = client.post(
        "/api/v1/visits",
        headers=headers,
        json={"household_id": household, "visited_on": "2999-01-01", "outcome": "met"},
    )
    assert bad.status_code == 400 and bad.json["field"] == "visited_on"
    other = client.post(
        "/api/v1/visits", headers=headers, json={"household_id": "h-004", "visited_on": "2026-01-01", "outcome": "met"}
    )
    assert other.status_code == 404  # another district
    assert client.post("/api/v1/visits", headers=headers, data="not json").status_code == 400
    assert snapshot(world) == before
    ok = client.post(
        "/api/v1/visits",
        headers=headers,
        json={
            "household_id": household,
            "visited_on": "2026-11-01",
            "outcome": "not_home",
            "materials": "bible:1",
            "notes": "문이 잠겨 있었음",
            "follow_up_on": "2026-12-01",
        },
    )
    assert ok.status_code == 201 and ok.json["id"].startswith("v-")
    denied = audit.query(world, action="visit.report", outcome="denied")
    assert [e["targets"] for e in denied] == [["h-004"]]


def test_phone_pages_claim_report_and_history(app, world):
    client = signed_in(app, "mina")
    page = client.get("/suggestions?lang=ko")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    household = re.search(r'/households/([^/"]+)/claim', html).group(1)
    assert "다음 방문 가정" in html
    csrf = csrf_of(client, "/suggestions")
    assert client.post(f"/households/{household}/claim", data={}).status_code == 400  # no CSRF token
    response = client.post(f"/households/{household}/claim", data={"csrf_token": csrf})
    assert response.status_code == 302 and "claimed=1" in response.headers["Location"]
    form = client.get(f"/visits/new?household_id={household}").get_data(as_text=True)
    assert 'name="visited_on"' in form
    bad = client.post(
        "/visits/new",
        data={"csrf_token": csrf, "household_id": household, "visited_on": "2999-01-01", "outcome": "met"},
    )
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    done = client.post(
        "/visits/new",
        data={
            "csrf_token": csrf,
            "household_id": household,
            "visited_on": "2026-11-02",
            "outcome": "met",
            "materials_bible": "1",
            "notes": "<b>잘 지냄</b>",
        },
    )
    assert done.status_code == 302 and "/history" in done.headers["Location"]
    history = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "2026-11-02" in history and "<b>잘 지냄</b>" not in history


def test_routes_for_visitors_only(app, world):
    accounts.add_user(world, ACTOR, "boss", "admin", [], PASSWORD)
    headers = token(world, "boss")
    client = app.test_client()
    assert client.get("/api/v1/suggestions", headers=headers).status_code == 403
    assert client.post("/api/v1/households/h-001/claim", headers=headers).status_code == 403
    assert client.post("/api/v1/visits", headers=headers, json={}).status_code == 403
