"""The coordinator's household desk (issue 13 §3): /households/<id> for staff and its API
twins. Read with notes and identity behind an audited POST; correct status (with a reason),
women_only, arrived_on; transfer (it leaves the sender's view; both sides see it on
/transfers); add, correct and move members; set, change and remove introducers (409 naming
only the people the caller may know; the map follows at once); create a household. Other
districts' coordinators get 404, visitors 403/404, bad input 400 with nothing changed.

The small network (tests/fixtures/small): coord holds 서울 노원구 (h-001, h-002, h-005),
yeon 서울 양천구 (h-003); introductions p-001 → p-003 → p-004 (양천) → p-006 (h-005).
"""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from graphsvc import audit

from .helpers import api, app_db, csrf, events, sign_in, snapshot

NOWON, YANGCHEON = "서울 노원구", "서울 양천구"
IDENTITY_VALUES = ("김영희", "010-1234-5678", "상계로", "이순자", "최민수")


def signed(app, username: str):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def post_form(client, page: str, action: str, data: dict):
    token = csrf(client, page)
    return client.post(action, data={**data, "csrf_token": token})


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def all_events(db) -> list[dict]:
    return audit.query(db, limit=5000)


# --- reading -------------------------------------------------------------------------------------


def test_the_desk_shows_members_and_notes_to_the_coordinator_audited(app):
    client = signed(app, "coord")
    page = text(client.get("/households/h-001"))
    assert "들국화" in page and "새벽별" in page
    assert "아이들이 학교에 잘 적응하고 있음" in page  # the visit's notes, decrypted for the coordinator
    assert "bible:1;hymnal:1" in page  # materials
    assert not any(v in page for v in IDENTITY_VALUES)  # identity only behind "Show identity"
    assert 'action="/households/h-001/identity"' in page and 'method="post"' in page
    notes = events(app_db(app), action="visit.notes.read", actor="coord")
    assert notes and "v-001" in notes[0]["targets"]


def test_a_visitor_sees_no_notes_and_no_desk(app):
    call = api(app, "minji")
    body = call("/api/v1/households/h-001").json  # she visited it
    assert "visits" not in body and "members" not in body
    page = text(signed(app, "minji").get("/households/h-001"))
    assert "아이들이" not in page and "/identity" not in page and "/transfer" not in page


def test_show_identity_is_a_post_audited_without_values(app):
    client = signed(app, "coord")
    assert client.get("/households/h-001/identity").status_code == 405  # never a link
    response = post_form(client, "/households/h-001", "/households/h-001/identity", {})
    page = text(response)
    assert response.status_code == 200 and "김영희" in page and "010-1234-5678" in page
    read = events(app_db(app), action="household.identity.read", actor="coord")[0]
    assert {"h-001", "p-001", "p-002"} <= set(read["targets"])
    dumped = json.dumps(all_events(app_db(app)), ensure_ascii=False, default=str)
    assert not any(v in dumped for v in IDENTITY_VALUES)
    assert "김영희" not in text(client.get("/households/h-001"))  # not shown again


def test_an_admin_states_a_reason_for_identity(app):
    client = signed(app, "admin")
    refused = post_form(client, "/households/h-001", "/households/h-001/identity", {"reason": "ㅇㅇ"})
    assert refused.status_code == 400 and "김영희" not in text(refused)
    done = post_form(client, "/households/h-001", "/households/h-001/identity", {"reason": "방문 전 주소 확인"})
    assert done.status_code == 200 and "김영희" in text(done)
    read = events(app_db(app), action="household.identity.read", actor="admin")[0]
    assert read["reason"] == "방문 전 주소 확인"


# --- the household -------------------------------------------------------------------------------


def test_status_needs_a_reason_and_is_audited_old_to_new(app):
    call = api(app, "coord")
    before = snapshot(app_db(app))
    refused = call("/api/v1/households/h-002", "PATCH", json={"status": "moved"})
    assert refused.status_code == 400 and refused.json["field"] == "status_reason"
    assert snapshot(app_db(app)) == before
    done = call(
        "/api/v1/households/h-002",
        "PATCH",
        json={"status": "이사", "status_reason": "부산으로 이사함", "women_only": True, "arrived_on": "2019-11-21"},
    )
    assert done.status_code == 200, done.json
    assert done.json["changed"]["status"] == "moved" and done.json["changed"]["women_only"] is True
    shown = call("/api/v1/households/h-002").json
    assert (shown["status"], shown["status_reason"], shown["arrived_on"]) == ("moved", "부산으로 이사함", "2019-11-21")
    detail = events(app_db(app), action="household.update")[0]["detail"]
    assert "status: active → moved" in detail and "status_reason: – → 부산으로 이사함" in detail
    assert "women_only: False → True" in detail


def test_the_status_form_keeps_what_it_does_not_change(app):
    client = signed(app, "coord")
    response = post_form(
        client,
        "/households/h-001",
        "/households/h-001/edit",
        {"status": "do_not_visit", "status_reason": "방문 거절 의사", "arrived_on": "2015-03-02"},
    )
    assert response.status_code == 302 and "done=saved" in response.headers["Location"]
    page = text(client.get(response.headers["Location"]))
    assert "방문 거절 의사" in page
    refused = post_form(client, "/households/h-001", "/households/h-001/edit", {"status": "closed"})
    assert refused.status_code == 400 and "status_reason" in text(refused)


def test_a_transfer_leaves_the_senders_view_and_both_sides_see_it(app):
    coord, yeon = api(app, "coord"), api(app, "yeon")
    assert yeon("/api/v1/households/h-002").status_code == 404
    done = coord("/api/v1/households/h-002/transfer", "POST", json={"district": YANGCHEON, "reason": "이사"})
    assert done.status_code == 200 and done.json == {"id": "h-002", "code": "H-002", "from": NOWON, "to": YANGCHEON}
    assert coord("/api/v1/households/h-002").status_code == 404  # out of the sender's view
    assert yeon("/api/v1/households/h-002").json["district"] == YANGCHEON
    event = events(app_db(app), action="household.transfer")[0]
    assert event["detail"] == f"district: {NOWON} → {YANGCHEON}; code: H-002" and event["targets"] == ["h-002"]
    # the sender: the code and the date, no way in; the receiver: a link to it
    sent = text(signed(app, "coord").get("/transfers"))
    assert "H-002" in sent and "/households/h-002" not in sent
    received = text(signed(app, "yeon").get("/transfers"))
    assert "/households/h-002" in received
    # a third district sees nothing of it
    assert events(app_db(app), action="household.transfers.read", actor="yeon")[0]["targets"] == ["h-002"]


def test_a_transfer_goes_to_a_known_other_district_only(app):
    coord = api(app, "coord")
    before = snapshot(app_db(app))
    for body, field in (
        ({"district": "부산 해운대구"}, "district"),
        ({"district": NOWON}, "district"),
        ({}, "district"),
        ({"district": YANGCHEON, "to": 1}, "to"),
    ):
        refused = coord("/api/v1/households/h-001/transfer", "POST", json=body)
        assert refused.status_code == 400 and refused.json["field"] == field, (body, refused.json)
    assert snapshot(app_db(app)) == before


def test_the_transfer_form_lands_on_the_list(app):
    client = signed(app, "coord")
    response = post_form(client, "/households/h-005", "/households/h-005/transfer", {"district": YANGCHEON})
    assert response.status_code == 302 and "/transfers" in response.headers["Location"]
    assert "H-005" in text(client.get(response.headers["Location"]))
    assert client.get("/households/h-005").status_code == 404


# --- members ----------------------------------------------------------------------------------------


def test_add_correct_and_move_a_member(app):
    call = api(app, "coord")
    added = call(
        "/api/v1/households/h-001/members",
        "POST",
        json={"code_name": "진달래", "legal_name": "김진아", "phone": "010-9999-8888"},
    )
    assert added.status_code == 201, added.json
    pid = added.json["id"]
    created = events(app_db(app), action="person.create")[0]
    assert "legal_name" in created["detail"] and "김진아" not in created["detail"]
    fixed = call(f"/api/v1/people/{pid}", "PATCH", json={"code_name": "철쭉", "address": "서울 노원구 어딘가 5"})
    assert fixed.status_code == 200 and set(fixed.json["changed"]) == {"code_name", "address"}
    update = events(app_db(app), action="person.update")[0]["detail"]
    assert "code_name: 진달래 → 철쭉" in update and "어딘가" not in update
    moved = call(f"/api/v1/people/{pid}/move", "POST", json={"household": "H-002"})
    assert moved.status_code == 200 and moved.json["household_id"] == "h-002"
    assert "철쭉" in [m["code_name"] for m in call("/api/v1/households/h-002").json["members"]]
    # both households must be the caller's: h-003 is 양천구
    before = snapshot(app_db(app))
    assert call(f"/api/v1/people/{pid}/move", "POST", json={"household": "h-003"}).status_code == 404
    assert call(f"/api/v1/people/{pid}/move", "POST", json={"household": "H-999"}).status_code == 404
    assert snapshot(app_db(app)) == before


def test_member_forms_on_the_page(app):
    client = signed(app, "coord")
    response = post_form(client, "/households/h-001", "/households/h-001/members", {"code_name": "목련"})
    assert response.status_code == 302
    assert "목련" in text(client.get("/households/h-001"))
    bad = post_form(client, "/households/h-001", "/households/h-001/members", {"code_name": "", "phone": "abc"})
    assert bad.status_code == 400 and "code_name" in text(bad)
    pid = "p-002"
    moved = post_form(
        client, "/households/h-001", f"/people/{pid}/move", {"household": "h-001", "household_to": "H-005"}
    )
    assert moved.status_code == 302
    assert "새벽별" in text(client.get("/households/h-005"))


# --- introducers ---------------------------------------------------------------------------------------


def test_a_cycle_answers_409_naming_the_people(app):
    call = api(app, "coord")
    before = snapshot(app_db(app))
    refused = call("/api/v1/people/p-001/introducer", "PUT", json={"introducer": "p-003", "relation": "friend"})
    assert refused.status_code == 409 and refused.json["code"] == "cycle"
    assert "들국화 (p-001)" in refused.json["error"] and "은행나무 (p-003)" in refused.json["error"]
    assert refused.json["field"] == "introducer"
    assert snapshot(app_db(app)) == before


def test_a_cycle_through_another_district_names_only_whom_the_caller_may_know(app):
    call = api(app, "coord")
    # p-001 → p-003 → p-004 (양천구: not coord's) → p-006: p-006 introducing p-001 closes it
    refused = call("/api/v1/people/p-001/introducer", "PUT", json={"introducer": "p-006", "relation": "friend"})
    assert refused.status_code == 409
    body = json.dumps(refused.json, ensure_ascii=False)
    assert "p-004" not in body and "푸른솔" not in body and "someone" in body
    assert "들국화 (p-001)" in body
    denied = events(app_db(app), action="household.write", outcome="denied")[0]
    assert "p-004" not in denied["targets"] and "p-004" not in (denied["detail"] or "")


def test_a_second_introducer_answers_409_unless_replaced_on_purpose(app):
    call = api(app, "coord")
    before = snapshot(app_db(app))
    refused = call("/api/v1/people/p-003/introducer", "PUT", json={"introducer": "p-002", "relation": "friend"})
    assert refused.status_code == 409 and refused.json["code"] == "second_introducer"
    assert "들국화 (p-001)" in refused.json["error"] and "은행나무 (p-003)" in refused.json["error"]
    assert snapshot(app_db(app)) == before
    done = call(
        "/api/v1/people/p-003/introducer",
        "PUT",
        json={"introducer": "p-002", "relation": "family", "on": "2020-01-11", "replaces": "p-001"},
    )
    assert done.status_code == 200 and done.json == {"id": "p-003", "introducer": "p-002"}


def test_the_map_follows_an_introducer_change_at_once(app):
    call = api(app, "coord")
    assert call("/api/v1/people/p-003/chain").json["path"][0] == "p-001"
    assert "h-002" not in {c["seed"] for c in call("/api/v1/chains").json["chains"]}
    edges = call("/api/v1/network?root=h-002&depth=2").json["edges"]
    assert any(e["from"] == "h-001" and e["to"] == "h-002" for e in edges), edges
    removed = call("/api/v1/people/p-003/introducer", "PUT", json={"introducer": None})
    assert removed.status_code == 200
    assert call("/api/v1/people/p-003/chain").json["path"] == ["p-003"]  # its own seed now
    # the stored chain index followed in the same transaction: h-002 heads a chain of its own
    assert "h-002" in {c["seed"] for c in call("/api/v1/chains").json["chains"]}
    network = call("/api/v1/network?root=h-002&depth=2").json
    assert not any(e["from"] == "h-001" and e["to"] == "h-002" for e in network["edges"]), network["edges"]
    again = call("/api/v1/people/p-003/introducer", "PUT", json={"introducer": "p-002", "relation": "friend"})
    assert again.status_code == 200
    assert call("/api/v1/people/p-003/chain").json["path"] == ["p-002", "p-003"]


def test_the_introducer_form(app):
    client = signed(app, "coord")
    response = post_form(
        client,
        "/households/h-002",
        "/people/p-003/introducer",
        {"household": "h-002", "introducer": "p-002", "relation": "friend", "replaces": "p-001"},
    )
    assert response.status_code == 302 and "introducer_saved" in response.headers["Location"]
    assert "p-002" in text(client.get("/households/h-002"))
    cycle = post_form(
        client,
        "/households/h-001",
        "/people/p-002/introducer",
        {"household": "h-001", "introducer": "p-003", "relation": "friend"},
    )
    assert cycle.status_code == 409 and "새벽별 (p-002)" in text(cycle)
    removed = post_form(client, "/households/h-002", "/people/p-003/introducer", {"household": "h-002", "remove": "1"})
    assert removed.status_code == 302


# --- a new household -----------------------------------------------------------------------------------


def test_create_a_household_with_the_next_free_code(app):
    call = api(app, "coord")
    made = call("/api/v1/households", "POST", json={"district": NOWON, "arrived_on": "2026-10-01"})
    assert made.status_code == 201 and made.json["code"] == "H-006"
    assert call(f"/api/v1/households/{made.json['id']}").json["status"] == "active"
    again = call("/api/v1/households", "POST", json={"district": NOWON, "code": "H-006"})
    assert again.status_code == 409 and again.json["field"] == "code"
    outside = call("/api/v1/households", "POST", json={"district": YANGCHEON})
    assert outside.status_code == 400 and outside.json["field"] == "district"


def test_the_new_household_form_with_a_first_member(app):
    client = signed(app, "coord")
    response = post_form(
        client,
        "/households/new",
        "/households/new",
        {"district": NOWON, "code": "", "member_code_name": "해바라기", "member_phone": "010-5555-1212"},
    )
    assert response.status_code == 302, text(response)[:500]
    page = text(client.get(response.headers["Location"]))
    assert "해바라기" in page and "H-006" in page
    before = snapshot(app_db(app))
    bad = post_form(
        client, "/households/new", "/households/new", {"district": NOWON, "member_code_name": "x", "member_phone": "1"}
    )
    assert bad.status_code == 400 and "member_phone" in text(bad)
    assert snapshot(app_db(app)) == before


# --- who may not ------------------------------------------------------------------------------------------


WRITES = [
    ("PATCH", "/api/v1/households/h-001", {"status": "closed", "status_reason": "확인 필요함"}),
    ("POST", "/api/v1/households/h-001/transfer", {"district": YANGCHEON}),
    ("POST", "/api/v1/households/h-001/members", {"code_name": "들꽃"}),
    ("PATCH", "/api/v1/people/p-001", {"code_name": "들꽃"}),
    ("POST", "/api/v1/people/p-001/move", {"household": "h-002"}),
    ("PUT", "/api/v1/people/p-003/introducer", {"introducer": None}),
]


@pytest.mark.parametrize("method,path,body", WRITES)
def test_another_districts_coordinator_gets_404_and_a_visitor_403(app, method, path, body):
    yeon, minji = api(app, "yeon"), api(app, "minji")
    before = snapshot(app_db(app))
    assert yeon(path, method, json=body).status_code == 404
    assert minji(path, method, json=body).status_code == 403
    assert snapshot(app_db(app)) == before
    assert signed(app, "yeon").get("/households/h-001").status_code == 404


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/v1/households/h-001", {"colour": "red"}, "colour"),
        ("/api/v1/households/h-001", {"status": "pending", "status_reason": "검토 중임"}, "status"),
        ("/api/v1/households/h-001", {"women_only": {"deep": [1]}}, "women_only"),
        ("/api/v1/households/h-001", {"arrived_on": "2026-02-30"}, "arrived_on"),
        ("/api/v1/households/h-001", {"status": "moved", "status_reason": "a\u0000b"}, "status_reason"),
        ("/api/v1/households/h-001", {"code": "H-777"}, "code"),
        ("/api/v1/households/h-001/members", {"code_name": "별", "phone": "공일공"}, "phone"),
        ("/api/v1/households/h-001/members", {"code_name": ["별"]}, "code_name"),
        ("/api/v1/households/h-001/members", {"code_name": "별", "household_id": "h-002"}, "household_id"),
        ("/api/v1/people/p-001", {"code_name": "\u200b" * 50}, "code_name"),
        ("/api/v1/people/p-001/move", {"household": "h 1"}, "household"),
        ("/api/v1/people/p-003/introducer", {"introducer": "p-002"}, "relation"),
        ("/api/v1/people/p-003/introducer", {"introducer": "p-002", "relation": "friend", "on": 20200101}, "on"),
        ("/api/v1/people/p-003/introducer", {"relation": "friend"}, "introducer"),
        ("/api/v1/people/p-003/introducer", {"introducer": "p-003", "relation": "friend"}, "introducer"),
        ("/api/v1/households", {"district": NOWON, "status": "rejected"}, "status"),
        ("/api/v1/households", {"code": "H-1"}, "district"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(app, path, body, field):
    method = {"households/h-001": "PATCH", "people/p-001": "PATCH", "introducer": "PUT"}
    verb = next((m for k, m in method.items() if path.endswith(k)), "POST")
    call = api(app, "coord")
    before = snapshot(app_db(app))
    response = call(path, verb, json=body)
    assert response.status_code == 400, response.json
    assert response.json["field"] == field, response.json
    assert snapshot(app_db(app)) == before


def test_a_body_that_is_not_an_object_is_400(app):
    call = api(app, "coord")
    for body in ("[1]", '"x"', "{", "null"):
        response = call("/api/v1/households/h-001", "PATCH", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and re.search(r"body", response.json.get("field") or "body")
