"""The visitor's pages and API: suggestions with reasons, claims (20 at once: one wins),
visit reports by form and JSON, history; bad input names the field and changes nothing."""

from __future__ import annotations

import concurrent.futures
import re
from html import unescape

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
        assert set(s) == {
            "household_id",
            "code",
            "district",
            "score",
            "reasons",
            "reason_codes",
            "path",
            "claimed_until",
        }
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


# --- the field loop: where to go, what the visit brought back ------------------------------


def _holding(app, world, username: str = "mina", *households: str):
    """A visitor's API client that was shown its suggestions and claimed ``households``."""
    headers = token(world, username)
    client = app.test_client()
    assert client.get("/api/v1/suggestions", headers=headers).status_code == 200
    for household in households:
        assert client.post(f"/api/v1/households/{household}/claim", headers=headers).status_code == 200
    return client, headers


def test_contact_api_only_while_held_never_stored_and_gone_after_the_report(app, world):
    client, headers = _holding(app, world)
    unheld = client.get("/api/v1/households/h-001/contact", headers=headers)
    assert unheld.status_code == 404 and unheld.json["status"] == 404
    claim = client.post("/api/v1/households/h-001/claim", headers=headers).json
    shown = client.get("/api/v1/households/h-001/contact", headers=headers)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert shown.json == {
        "household_id": "h-001",
        "code": "H-001",
        "contact_code_name": "들국화",
        "address": "서울 노원구 상계로 1",
        "phone": "010-1234-5678",
        "claim_id": claim["claim_id"],
        "claim_expires_at": shown.json["claim_expires_at"],
    }
    read = audit.query(world, action="household.contact.read")
    assert [(e["outcome"], e["targets"]) for e in read] == [
        ("ok", ["h-001", "p-001", claim["claim_id"]]),
        ("denied", ["h-001"]),
    ]
    report = {
        "household_id": "H-001",
        "visited_on": "2026-11-02",
        "outcome": "met",
        "met": ["p-001", "p-002"],
        "new_members": [{"code_name": "아침해", "phone": "010-3333-4444"}],
        "introductions": [
            {"introducer_id": "p-001", "code_name": "들꽃", "relation": "family", "district": "서울 노원구"},
            {"introducer_id": "p-002", "code_name": "솔바람", "relation": "friend", "district": "서울 양천구"},
        ],
    }
    bad = client.post(
        "/api/v1/visits",
        headers=headers,
        json={**report, "introductions": [report["introductions"][0], {**report["introductions"][1], "district": "X"}]},
    )
    assert bad.status_code == 400 and bad.json["field"] == "introductions[1].district"
    assert bad.json["problems"][0]["code"] == "unknown_district"
    done = client.post("/api/v1/visits", headers=headers, json=report)
    assert done.status_code == 201, done.json
    assert done.json["household_id"] == "h-001" and len(done.json["new_members"]) == 1
    assert [set(x) for x in done.json["introductions"]] == [{"household_id", "person_id"}] * 2
    assert client.get("/api/v1/households/h-001/contact", headers=headers).status_code == 404


def test_contacts_over_the_daily_cap_answer_429_and_alert_the_admins(settings, world):
    from dataclasses import replace

    from .helpers import TOTP_SECRET, keyring, sign_in

    app = create_app(replace(settings, contact_reveals_per_day=1), TESTING=True)
    client, headers = _holding(app, world, "mina", "h-001", "h-002")
    assert client.get("/api/v1/households/h-001/contact", headers=headers).status_code == 200
    capped = client.get("/api/v1/households/h-002/contact?lang=ko", headers=headers)
    assert capped.status_code == 429 and capped.json["code"] == "contact_cap"
    assert "코디네이터" in capped.json["error"]
    assert [e["actor"] for e in audit.query(world, action="alert.contact_cap")] == ["mina"]
    accounts.add_user(world, ACTOR, "boss", "admin", [], PASSWORD)
    accounts.set_totp(world, ACTOR, "boss", keyring().encrypt(TOTP_SECRET, "User", "boss", "totp_secret"), True)
    admin = app.test_client()
    assert sign_in(admin, "boss", PASSWORD).status_code == 302
    page = admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "Alerts of the last 7 days" in page and "mina reached the daily number of addresses" in page


def test_live_claims_are_capped_over_http(settings, world):
    from dataclasses import replace

    app = create_app(replace(settings, max_live_claims=1), TESTING=True)
    client, headers = _holding(app, world, "mina", "h-001")
    second = client.post("/api/v1/households/h-002/claim", headers=headers)
    assert second.status_code == 409 and second.json["code"] == "claim_limit"


def test_the_household_page_leads_to_the_next_step_and_forgets_the_address(app, world):
    client = signed_in(app, "mina")
    client.get("/suggestions")
    csrf = csrf_of(client, "/suggestions")
    page = client.get("/households/h-001?lang=en").get_data(as_text=True)
    assert "Claim" in page and "Show address" not in page and "상계로" not in page
    claimed = client.post("/households/h-001/claim", data={"csrf_token": csrf, "back": "household"})
    assert claimed.status_code == 302 and "/households/h-001" in claimed.headers["Location"]
    page = client.get(claimed.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "Show address" in page and "Your claim" in page and "상계로" not in page
    assert 'href="/visits/new?household_id=H-001"' in page
    shown = client.post("/households/h-001/contact", data={"csrf_token": csrf})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert "서울 노원구 상계로 1" in shown.get_data(as_text=True)
    assert client.post("/households/h-001/contact", data={}).status_code == 400  # CSRF
    assert "상계로" not in client.get("/households/h-001").get_data(as_text=True)  # not kept
    cards = client.get("/suggestions?lang=en").get_data(as_text=True)
    assert "Claimed by you until" in cards


def test_the_report_form_takes_the_code_taps_people_and_adds_households(app, world):
    client = signed_in(app, "mina")
    client.get("/suggestions")
    csrf = csrf_of(client, "/suggestions")
    form = client.get("/visits/new?household_id=H-001&lang=ko").get_data(as_text=True)
    assert 'value="p-001"' in form and "들국화" in form and "새벽별" in form  # the people, to tap
    assert "김영희" not in form and "010-1234" not in form  # no identity
    base = {"csrf_token": csrf, "household_id": "H-001", "visited_on": "2026-11-02", "outcome": "met"}
    more = client.post("/visits/new", data={**base, "introductions_count": "1", "add": "introductions"})
    assert more.status_code == 200 and 'name="introductions-1-code_name"' in more.get_data(as_text=True)
    before = snapshot(world)
    bad = client.post(
        "/visits/new?lang=ko",
        data={
            **base,
            "met": ["p-001"],
            "introductions_count": "3",
            "introductions-0-code_name": "",  # an empty row: skipped
            "introductions-1-introducer_id": "p-001",
            "introductions-1-code_name": "들꽃",
            "introductions-1-relation": "family",
            "introductions-1-district": "서울 노원구",
            "introductions-1-phone": "전화 없음",
        },
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and snapshot(world) == before
    assert (
        'name="introductions-1-phone" id="introductions-1-phone" type="tel" inputmode="tel" value="전화 없음"' in html
    )
    assert 'aria-describedby="err-introductions-1-phone"' in html
    assert "전화: '전화 없음'은(는) 전화번호가 아닙니다" in unescape(html)  # the form's words, not the API's field
    assert "introductions[1]" not in html
    done = client.post(
        "/visits/new",
        data={
            **base,
            "met": ["p-001", "p-002"],
            "new_members_count": "1",
            "new_members-0-code_name": "아침해",
            "introductions_count": "2",
            "introductions-0-introducer_id": "p-001",
            "introductions-0-code_name": "들꽃",
            "introductions-0-relation": "family",
            "introductions-0-district": "서울 노원구",
            "introductions-1-introducer_id": "p-002",
            "introductions-1-code_name": "솔바람",
            "introductions-1-relation": "friend",
            "introductions-1-district": "서울 양천구",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    history = client.get("/history?lang=en").get_data(as_text=True)
    assert "들꽃" in history and "waiting for review" in history
    assert "솔바람" not in history and "A household outside your districts" in history
