"""Partners on the web (issue 16 §1): sharing from the household page and the API, and a
partner's field work through the visitor's pages and API on shared households."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from graphsvc import orgs

from .helpers import ACTOR, add_partner, api, csrf, events, sign_in

ORG, OTHER = "새희망선교회", "빛된교회"


@pytest.fixture()
def net(app, world):
    partner = add_partner(world, app=app)
    orgs.add_org(world, ACTOR, OTHER)
    return partner


def test_share_api_by_role(app, net):
    coord, yeon, minji = api(app, "coord"), api(app, "yeon"), api(app, "minji")
    made = coord("/api/v1/households/h-002/share", method="POST", json={"org": ORG})
    assert made.status_code == 201 and made.json == {
        "household_id": "h-002",
        "org": ORG,
        "shared": True,
        "created": True,
    }
    again = coord("/api/v1/households/h-002/share", method="POST", json={"org": ORG})
    assert again.status_code == 200 and again.json["created"] is False
    # a coordinator of another district: 404 like an unknown id; a visitor and a partner: 403 (the role)
    assert yeon("/api/v1/households/h-002/share", method="POST", json={"org": OTHER}).status_code == 404
    assert yeon("/api/v1/households/h-404/share", method="POST", json={"org": OTHER}).status_code == 404
    assert minji("/api/v1/households/h-002/share", method="POST", json={"org": OTHER}).status_code == 403
    assert net.api("/api/v1/households/h-002/share", method="POST", json={"org": OTHER}).status_code == 403
    unknown = coord("/api/v1/households/h-001/share", method="POST", json={"org": "없는선교회"})
    assert unknown.status_code == 400 and unknown.json["field"] == "org" and unknown.json["code"] == "no_org"
    extra = coord("/api/v1/households/h-001/share", method="POST", json={"org": ORG, "until": "2027-01-01"})
    assert extra.status_code == 400 and extra.json["field"] == "until"
    assert coord("/api/v1/households/h-001/share", method="POST", json=[ORG]).status_code == 400
    assert coord("/api/v1/households/h-001/share", method="POST", json={}).json["field"] == "org"
    # the partner sees h-002 now, not h-001
    assert net.api("/api/v1/households/h-002").status_code == 200
    assert net.api("/api/v1/households/h-001").status_code == 404
    # a claim, then the share is revoked: the claim ends, the household is gone for her
    assert net.api("/api/v1/households/h-002/claim", method="POST").status_code == 200
    assert yeon(f"/api/v1/households/h-002/share/{ORG}", method="DELETE").status_code == 404
    gone = coord(f"/api/v1/households/h-002/share/{ORG}", method="DELETE")
    assert gone.status_code == 200 and gone.json == {
        "household_id": "h-002",
        "org": ORG,
        "shared": False,
        "removed": True,
        "ended_claims": 1,
    }
    assert coord(f"/api/v1/households/h-002/share/{ORG}", method="DELETE").json["removed"] is False
    unknown = coord("/api/v1/households/h-002/share/없는곳", method="DELETE")
    assert unknown.status_code == 404 and unknown.json["field"] == "org" and unknown.json["code"] == "no_org"
    assert net.api("/api/v1/households/h-002").status_code == 404
    assert net.api("/api/v1/households/h-002/contact").status_code == 404
    assert len(events(app_db(app), action="household.share", outcome="ok")) == 2
    denied = events(app_db(app), action="household.share", outcome="denied")
    assert {e["actor"] for e in denied} == {"yeon", "minji", "hana", "coord"}  # coord: the unknown org's stop
    assert [e["targets"] for e in denied if e["actor"] == "yeon"] == [["h-002"], ["h-404"], ["h-002"]]


def app_db(app):
    from .helpers import app_db as get

    return get(app)


def test_share_form_on_the_household_page(app, net):
    client = app.test_client()
    sign_in(client, "coord")
    page = client.get("/households/h-002?lang=ko").get_data(as_text=True)
    assert "협력 단체와 공유" in page and f'<option value="{ORG}">' in page
    token = csrf(client, "/households/h-002")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', client.get("/households/h-002").get_data(as_text=True))
    done = client.post(
        "/households/h-002/share", data={"org": ORG, "csrf_token": token, "idempotency_key": key.group(1)}
    )
    assert done.status_code == 302 and "done=shared" in done.headers["Location"]
    page = client.get(done.headers["Location"] + "&lang=ko").get_data(as_text=True)
    assert "공유 중지" in page
    bad = client.post("/households/h-002/share?lang=ko", data={"org": "없는곳", "csrf_token": token})
    assert bad.status_code == 400 and "그런 협력 단체가 없습니다" in bad.get_data(as_text=True)
    no_csrf = client.post("/households/h-002/unshare", data={"org": ORG})
    assert no_csrf.status_code in (400, 403)
    stop = client.post("/households/h-002/unshare", data={"org": ORG, "csrf_token": token})
    assert stop.status_code == 302
    assert "공유 중지" not in client.get("/households/h-002?lang=ko").get_data(as_text=True)
    # a coordinator of another district sees no box and may not post it
    other = app.test_client()
    sign_in(other, "yeon")
    assert (
        other.post("/households/h-002/share", data={"org": ORG, "csrf_token": csrf(other, "/login")}).status_code == 404
    )
    # a partner's page of a shared household has no box
    api(app, "coord")("/api/v1/households/h-002/share", method="POST", json={"org": ORG})
    mine = net.client.get("/households/h-002?lang=ko").get_data(as_text=True)
    assert "협력 단체와 공유" not in mine and ORG not in mine


def test_a_partner_does_field_work_on_shared_households(app, net):
    coord = api(app, "coord")
    assert net.api("/api/v1/suggestions").json["suggestions"] == []
    coord("/api/v1/households/h-002/share", method="POST", json={"org": ORG})
    listed = net.api("/api/v1/suggestions")
    assert [s["household_id"] for s in listed.json["suggestions"]] == ["h-002"]
    assert all(s["path"] == [] for s in listed.json["suggestions"])
    shown = net.api("/api/v1/households/h-002").json
    assert set(shown) <= {"id", "code", "district", "introducer", "last_visit", "claim"}
    assert shown["introducer"] == {"id": None, "code_name": None}  # p-001 of h-001: "someone"
    assert net.api("/api/v1/households/h-002/contact").status_code == 404  # no claim yet
    assert net.api("/api/v1/households/h-002/claim", method="POST").status_code == 200
    contact = net.api("/api/v1/households/h-002/contact")
    assert contact.status_code == 200 and contact.json["address"]
    report = net.api(
        "/api/v1/visits",
        method="POST",
        json={
            "household_id": "h-002",
            "visited_on": dt.date.today().isoformat(),
            "outcome": "met",
            "notes": "성경 공부를 함께 함",
            "introductions": [{"introducer_id": "p-003", "code_name": "진달래", "district": "서울 노원구",
                               "relation": "friend"}],
        },
    )  # fmt: skip
    assert report.status_code == 201, report.get_data(as_text=True)
    brought = report.json["introductions"][0]["household_id"]
    assert net.api(f"/api/v1/households/{brought}").status_code == 200
    history = net.client.get("/history?lang=ko").get_data(as_text=True)
    assert "진달래" in history
    # never the map; other households answer 404 on every field route
    assert net.api("/api/v1/network").status_code == 403
    for path in ("/api/v1/households/h-001", "/api/v1/households/H-001", "/api/v1/households/h-003/contact"):
        assert net.api(path).status_code == 404, path
    assert net.api("/api/v1/households/h-001/claim", method="POST").status_code == 404
    elsewhere = {"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met"}
    assert net.api("/api/v1/visits", method="POST", json=elsewhere).status_code == 404
    # another organisation's partner sees none of it
    other = add_partner(app_db(app), "bora", OTHER, app=app)
    assert other.api("/api/v1/suggestions").json["suggestions"] == []
    assert other.api("/api/v1/households/h-002").status_code == 404
    assert other.api(f"/api/v1/households/{brought}").status_code == 404


def test_the_desk_shows_each_partner_s_households_and_visits(app, net):
    coord = api(app, "coord")
    coord("/api/v1/households/h-002/share", method="POST", json={"org": ORG})
    made = net.api(
        "/api/v1/visits",
        method="POST",
        json={"household_id": "h-002", "visited_on": dt.date.today().isoformat(), "outcome": "not_home"},
    )
    assert made.status_code == 201
    add_partner(app_db(app), "bora", OTHER)
    client = app.test_client()
    sign_in(client, "coord")
    page = client.get("/dispatch?lang=ko").get_data(as_text=True)
    section = page[page.index('id="partners"') :]
    assert ORG in section and OTHER in section and "hana" in section and "bora" in section
    assert "H-002" in section
    mine = re.search(r"<td>hana</td>\s*<td>(\d+)</td>", section)
    assert mine and mine.group(1) == "1"
    shown = events(app_db(app), action="partners.read")
    assert shown and "h-002" in shown[0]["targets"] and made.json["id"] in shown[0]["targets"]
    # a coordinator of another district sees the organisations, not 노원's households or visits
    other = app.test_client()
    sign_in(other, "yeon")
    section = other.get("/dispatch?lang=ko").get_data(as_text=True)
    section = section[section.index('id="partners"') :]
    assert ORG in section and "H-002" not in section and made.json["id"] not in section
    assert re.search(r"<td>hana</td>\s*<td>0</td>", section)


def test_admin_adds_a_partner_with_an_organisation(app, net):
    client = app.test_client()
    sign_in(client, "admin")
    page = client.get("/admin/users?lang=ko").get_data(as_text=True)
    assert f"partner · {ORG}" in page and "소속 단체 (협력 사역자만)" in page

    def add(**fields):
        token = csrf(client, "/admin/users")
        data = {"username": "sena", "role": "partner", "password": "correct horse battery", "csrf_token": token}
        return client.post("/admin/users?lang=ko", data={**data, **fields})

    assert "협력 사역자에게는 소속 단체가 필요합니다" in add().get_data(as_text=True)
    assert "그런 협력 단체가 없습니다" in add(org="없는곳").get_data(as_text=True)
    assert "협력 사역자만 단체에 속합니다" in add(role="visitor", districts="서울 노원구", org=ORG).get_data(
        as_text=True
    )
    assert add(org=OTHER).status_code == 302
    assert f"partner · {OTHER}" in client.get("/admin/users").get_data(as_text=True)
    account = client.get("/team/sena?lang=ko").get_data(as_text=True)
    assert "소속 단체" in account and OTHER in account
    # a partner becomes no other role, and no account becomes a partner
    change = api(app, "admin")(
        "/api/v1/users/sena", method="PATCH", json={"role": "visitor", "districts": ["서울 노원구"]}
    )
    assert change.status_code == 400 and change.json["field"] == "role"
    change = api(app, "admin")("/api/v1/users/minji", method="PATCH", json={"role": "partner"})
    assert change.status_code == 400 and change.json["field"] == "role"
    change = api(app, "admin")("/api/v1/users/sena", method="PATCH", json={"districts": ["서울 노원구"]})
    assert change.status_code == 400 and change.json["field"] == "districts"
