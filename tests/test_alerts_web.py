"""The alerts for admins on the web (web/alerts.py): the banner on every page an admin sees
(and only theirs) until the alert is acknowledged, the alerts page and its form, the API."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from graphsvc import alerts, audit

from .helpers import api, csrf, sign_in


def _signed_in(app, username: str):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def _get(client, path: str):
    """GET, again on a 503: on a starved machine a page may answer past the request deadline."""
    for _ in range(3):
        page = client.get(path)
        if page.status_code != 503:
            break
        time.sleep(1)
    return page


def _alert(db, action: str = "alert.contact_cap", actor: str = "minji") -> int:
    return audit.append_now(db, actor=actor, action=action, outcome="denied", targets=["h-001"], detail="11 households")


def test_the_banner_shows_admins_open_alerts_on_every_page_until_acknowledged(app, world):
    seq = _alert(world)
    admin = _signed_in(app, "admin")
    for path in ("/admin/users?lang=en", "/admin/audit?lang=en", "/map?lang=en", "/households/h-001?lang=en"):
        page = _get(admin, path)
        assert page.status_code == 200, path
        assert 'id="alert-banner"' in page.get_data(as_text=True), path
        assert "Open alerts: 1" in page.get_data(as_text=True)
    korean = admin.get("/admin/users?lang=ko").get_data(as_text=True)
    assert "확인하지 않은 경고: 1" in korean
    # not for coordinators or visitors
    for name, path in (("coord", "/map"), ("minji", "/suggestions")):
        other = _signed_in(app, name)
        page = _get(other, path + "?lang=en")
        assert page.status_code == 200 and "alert-banner" not in page.get_data(as_text=True)
        assert other.get("/admin/alerts").status_code in (403, 404)
    # acknowledged (with CSRF): the banner goes; the acknowledgement is an audited event
    page = admin.get("/admin/alerts?lang=en").get_data(as_text=True)
    assert "Over the daily number of addresses" in page and f'id="alert-{seq}"' in page
    token = csrf(admin, "/admin/alerts")
    assert admin.post(f"/admin/alerts/{seq}/ack", data={"note": "전화로 확인"}).status_code == 400  # no CSRF
    done = admin.post(f"/admin/alerts/{seq}/ack", data={"note": "전화로 확인", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/alerts?done=ack")
    [ack] = audit.query(world, action="alert.ack")
    assert ack["actor"] == "admin" and ack["targets"] == [str(seq)] and ack["reason"] == "전화로 확인"
    assert "alert-banner" not in admin.get("/admin/users?lang=en").get_data(as_text=True)
    page = admin.get("/admin/alerts?done=ack&lang=en").get_data(as_text=True)
    assert "Acknowledged." in page and "No open alert." in page and "Acknowledged by admin" in page
    assert "전화로 확인" in page
    # the page's reading is audited with the accounts it names
    read = audit.query(world, action="alerts.read", limit=1)[0]
    assert read["actor"] == "admin" and read["targets"] == ["minji"]


def test_the_form_refuses_a_second_acknowledgement_a_long_note_and_no_alert(app, world):
    seq = _alert(world)
    admin = _signed_in(app, "admin")
    token = csrf(admin, "/admin/alerts")
    long_note = admin.post(f"/admin/alerts/{seq}/ack?lang=ko", data={"note": "가" * 301, "csrf_token": token})
    assert long_note.status_code == 400 and "메모" in long_note.get_data(as_text=True)
    assert audit.query(world, action="alert.ack") == []
    assert admin.post(f"/admin/alerts/{seq}/ack", data={"csrf_token": token}).status_code == 302
    again = admin.post(f"/admin/alerts/{seq}/ack?lang=en", data={"csrf_token": token})
    assert again.status_code == 409 and "acknowledged already" in again.get_data(as_text=True)
    assert admin.post("/admin/alerts/12345/ack", data={"csrf_token": token}).status_code == 404
    assert admin.post("/admin/alerts/abc/ack", data={"csrf_token": token}).status_code == 404
    assert len(audit.query(world, action="alert.ack")) == 1


def test_the_page_escapes_what_it_shows(app, world):
    audit.append_now(world, actor="<b>x</b>", action="alert.denials", detail="<script>alert(1)</script>")
    page = _signed_in(app, "admin").get("/admin/alerts?lang=en").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page


def test_an_admin_page_evaluates_the_rules_in_the_background(settings, world):
    """The web process checks the rules (at most every minute, in a thread of its own) when
    an admin's page is served; the tests' settings turn that off, this test on."""
    from dataclasses import replace

    from web import create_app

    app = create_app(replace(settings, alert_env=(("GRAPHSVC_ALERT_CHECK_SECONDS", "60"),)), TESTING=True)
    for _ in range(12):
        audit.append_now(world, actor="minji", action="household.read", outcome="denied", targets=["h-009"])
    admin = _signed_in(app, "admin")
    assert _get(admin, "/admin/users").status_code == 200  # starts the check; does not wait for it
    for _ in range(100):
        found = audit.query(world, action=alerts.DENIALS)
        if found:
            break
        time.sleep(0.2)
    assert [e["actor"] for e in found] == ["minji"]
    page = _get(admin, "/admin/alerts?lang=en").get_data(as_text=True)
    assert "Repeated denied requests" in page
    # within the minute no second check begins
    assert app.extensions["graphsvc_alerts_checked"].running is False
    checked = app.extensions["graphsvc_alerts_checked"].last
    _get(admin, "/admin/users")
    assert app.extensions["graphsvc_alerts_checked"].last == checked


def test_the_api_lists_and_acknowledges(app, world):
    seq = _alert(world)
    call = api(app, "admin")
    listed = call("/api/v1/alerts")
    assert listed.status_code == 200 and listed.json["open"] == 1
    [view] = listed.json["alerts"]
    assert view["id"] == seq and view["rule"] == "contact_cap" and view["account"] == "minji"
    assert view["acknowledged"] is None
    done = call(f"/api/v1/alerts/{seq}/ack", method="POST", json={"note": "확인"})
    assert done.status_code == 200 and done.json["alert"]["acknowledged"]["by"] == "admin"
    assert call("/api/v1/alerts").json == {"alerts": [], "open": 0}
    everything = call("/api/v1/alerts?all=1").json
    assert everything["open"] == 0 and everything["alerts"][0]["acknowledged"]["note"] == "확인"
    again = call(f"/api/v1/alerts/{seq}/ack", method="POST")
    assert again.status_code == 409 and again.json["code"] == "already_acknowledged"
    missing = call("/api/v1/alerts/999999/ack", method="POST", json={})
    assert missing.status_code == 404 and missing.json["code"] == "no_alert"
    bad = call(f"/api/v1/alerts/{seq}/ack", method="POST", json={"nope": 1})
    assert bad.status_code == 400 and bad.json["field"] == "nope"
    assert call("/api/v1/alerts?all=maybe").status_code == 400
    assert len(audit.query(world, action="alert.ack")) == 1


@pytest.mark.parametrize("name", ["coord", "minji"])
def test_the_api_is_for_admins(app, world, name):
    seq = _alert(world)
    call = api(app, name)
    assert call("/api/v1/alerts").status_code in (403, 404)
    assert call(f"/api/v1/alerts/{seq}/ack", method="POST", json={}).status_code in (403, 404)
    assert audit.query(world, action="alert.ack") == []


def test_korean_and_english_pages(app, world):
    _alert(world, "alert.off_hours", "coord")
    admin = _signed_in(app, "admin")
    ko = unescape(admin.get("/admin/alerts?lang=ko").get_data(as_text=True))
    en = unescape(admin.get("/admin/alerts?lang=en").get_data(as_text=True))
    assert "업무 시간 외 신원 정보 열람" in ko and "확인 처리" in ko
    assert "Identity read outside working hours" in en and "Acknowledge" in en
    assert re.search(r"<h1>경고</h1>", ko) and "<h1>Alerts</h1>" in en


def test_the_contact_cap_of_the_field_loop_is_one_of_the_alerts(settings, world):
    """A visitor over the daily number of addresses (graphsvc/visits.py raises the alert at
    the refusal): the admins' banner and list show it, and it is acknowledged like the rest."""
    from dataclasses import replace

    from graphsvc import accounts, visits
    from graphsvc.access import Subject
    from web import create_app

    from .helpers import ACTOR

    app = create_app(replace(settings, contact_reveals_per_day=1), TESTING=True)
    call = api(app, "minji")
    visitor = Subject("minji", "visitor", tuple(accounts.get_user(world, "minji")["districts"]))
    for household in ("h-001", "h-002"):
        visits.claim(world, visitor, ACTOR, household)
    assert call("/api/v1/households/h-001/contact").status_code == 200
    assert call("/api/v1/households/h-002/contact").status_code == 429
    admin = _signed_in(app, "admin")
    assert "Open alerts: 1" in _get(admin, "/admin/users?lang=en").get_data(as_text=True)
    [view] = api(app, "admin")("/api/v1/alerts").json["alerts"]
    assert (view["rule"], view["account"]) == ("contact_cap", "minji")
