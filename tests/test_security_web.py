"""Accounts and access through the web app: sign-in, lockout, sessions, CSRF, TOTP, tokens,
object-level checks (IDOR), every route ruled, every access audited, fail closed."""

from __future__ import annotations

import json
import re

import pyotp
import pytest

from graphsvc import accounts, audit
from graphsvc.db import Database
from web import create_app

from .helpers import ACTOR, PASSWORD, TOTP_SECRET, api, csrf, events, sign_in

# --- every route has a rule -------------------------------------------------------------------


def test_every_route_declares_an_access_rule(app):
    from web.guard import rule_of

    missing = [r.endpoint for r in app.url_map.iter_rules() if rule_of(app, r.endpoint) is None]
    assert not missing, f"routes without an access rule: {missing}"
    assert len(list(app.url_map.iter_rules())) >= 12


@pytest.mark.parametrize(
    "path,visitor,coordinator,admin",
    [
        ("/admin/audit", 403, 403, 200),
        ("/admin/users", 403, 403, 200),
        ("/api/v1/audit", 403, 403, 200),
        ("/api/v1/audit/verify", 403, 403, 200),
        ("/api/v1/me", 200, 200, 200),
    ],
)
def test_roles_by_routes(app, path, visitor, coordinator, admin):
    for username, expected in (("minji", visitor), ("coord", coordinator), ("admin", admin)):
        client = app.test_client()
        assert sign_in(client, username).status_code == 302
        assert client.get(path).status_code == expected, (username, path)


def test_signed_out_requests_go_to_sign_in_or_401(app, world):
    client = app.test_client()
    assert client.get("/admin/audit").status_code == 302
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json["error"]
    denied = events(world, action="access.unauthenticated")
    assert [e["detail"] for e in denied] == ["/api/v1/me", "/admin/audit"]


# --- sign-in ------------------------------------------------------------------------------------


def test_sign_in_needs_csrf(app, world):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "minji", "password": PASSWORD})
    assert response.status_code == 400
    assert events(world, action="csrf.rejected")


def test_same_answer_for_unknown_user_and_wrong_password(app):
    client = app.test_client()
    unknown = client.post("/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": csrf(client)})
    wrong = client.post(
        "/login", data={"username": "minji", "password": "wrong password!!", "csrf_token": csrf(client)}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong username or password." in client.post(
        "/login?lang=en", data={"username": "nobody", "password": PASSWORD, "csrf_token": csrf(client)}
    ).get_data(as_text=True)
    strip = lambda r: re.sub(r'value="[0-9a-f]+"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(unknown) == strip(wrong)


def test_lockout_after_repeated_failures(app, world):
    client = app.test_client()
    for _ in range(accounts.MAX_FAILURES):
        assert (
            client.post(
                "/login", data={"username": "minji", "password": "wrong password!!", "csrf_token": csrf(client)}
            ).status_code
            == 401
        )
    locked = client.post("/login", data={"username": "minji", "password": PASSWORD, "csrf_token": csrf(client)})
    assert locked.status_code == 429
    assert events(world, action="login.throttled", target="minji")
    assert len(events(world, action="login.failure", target="minji")) == accounts.MAX_FAILURES


def test_session_cookie_is_strict_and_new_at_each_sign_in(app):
    client = app.test_client()
    first = sign_in(client, "minji")
    cookie = first.headers.getlist("Set-Cookie")
    session = next(c for c in cookie if c.startswith("gs_session="))
    assert "HttpOnly" in session and "SameSite=Strict" in session
    old = client.get_cookie("gs_session").value
    sign_in(client, "minji")
    assert client.get_cookie("gs_session").value != old


def test_logout_ends_the_session_on_the_server(app):
    client = app.test_client()
    sign_in(client, "minji")
    sid = client.get_cookie("gs_session").value
    token = csrf(client, "/suggestions")  # a visitor's start page (/ sends them there)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("gs_session", sid)
    assert replay.get("/api/v1/me").status_code == 401


def test_idle_sessions_expire_after_30_minutes(app, world):
    client = app.test_client()
    sign_in(client, "minji")
    assert client.get("/api/v1/me").status_code == 200
    world.write("test_age_sessions", minutes=31)
    assert client.get("/api/v1/me").status_code == 401


def test_coordinators_need_the_second_factor(app):
    client = app.test_client()
    response = sign_in(client, "coord", totp=False)
    assert response.headers["Location"].startswith("/login/totp")
    assert client.get("/api/v1/me").status_code in (302, 401)  # not before the code
    token = csrf(client, "/login/totp")
    bad = client.post("/login/totp", data={"code": "000000", "csrf_token": token})
    assert bad.status_code == 401
    good = client.post("/login/totp", data={"code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": token})
    assert good.status_code == 302
    assert client.get("/api/v1/me").json["role"] == "coordinator"


def test_enrolment_shows_an_inline_svg_qr_code(app, world):
    accounts.set_totp(world, ACTOR, "coord", None, False)
    client = app.test_client()
    response = sign_in(client, "coord", totp=False)
    assert response.headers["Location"].startswith("/login/totp/enrol")
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    assert "<svg" in page and "<img" not in page
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    done = client.post(
        "/login/totp/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf(client, "/login/totp/enrol")}
    )
    assert done.status_code == 302
    assert accounts.get_user(world, "coord")["totp_enabled"]
    before = accounts.get_user(world, "coord")["totp_secret"]
    again = client.get("/login/totp/enrol").get_data(as_text=True)  # on: nothing is replaced
    assert "<svg" not in again and accounts.get_user(world, "coord")["totp_secret"] == before


def test_visitors_may_turn_on_sign_in_codes(app, world):
    client = app.test_client()
    assert sign_in(client, "minji").headers["Location"] == "/"  # no second factor asked
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    client.post(
        "/login/totp/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf(client, "/login/totp/enrol")}
    )
    assert accounts.get_user(world, "minji")["totp_enabled"]
    fresh = app.test_client()
    assert "/login/totp" in sign_in(fresh, "minji", totp=False).headers["Location"]


# --- tokens -----------------------------------------------------------------------------------


def test_tokens_authenticate_expire_and_revoke(app, world, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(accounts, "_clock", lambda: clock[0])
    token = accounts.create_token(world, ACTOR, "minji", 30)
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json == {"username": "minji", "role": "visitor", "districts": ["서울 노원구"]}
    assert me.headers["Cache-Control"] == "no-store"
    used = events(world, action="me.read", actor="minji")
    assert used and token[:7] in used[0]["detail"]
    stored = world.read("test_token_hashes", username="minji")
    assert stored and all(token not in str(row) for row in stored)  # only its hash is kept
    accounts.revoke_tokens(world, ACTOR, "minji")
    denied = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 401 and denied.json["error"]
    assert events(world, action="token.invalid")
    expiring = accounts.create_token(world, ACTOR, "minji", 1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {expiring}"}).status_code == 200
    world.write("test_expire_tokens", username="minji")
    clock[0] += accounts.TOKEN_CACHE_SECONDS  # the lookup this process remembers runs out
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {expiring}"}).status_code == 401


def test_a_token_lookup_is_remembered_for_seconds_and_forgotten_at_a_revocation(app, world, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(accounts, "_clock", lambda: clock[0])
    lookups = []
    read = Database.read

    def counting(self, name, **params):
        lookups.append(name)
        return read(self, name, **params)

    monkeypatch.setattr(Database, "read", counting)
    client = app.test_client()

    def me(token):
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code

    token = accounts.create_token(world, ACTOR, "minji", 30)
    assert me(token) == 200 and me(token) == 200
    assert lookups.count("token_user") == 1  # the second request did not ask Neo4j
    assert len(events(world, action="me.read", actor="minji")) == 2  # but both are on record
    world.write("test_revoke_tokens_directly", username="minji")  # as another process revokes
    clock[0] += accounts.TOKEN_CACHE_SECONDS - 0.1
    assert me(token) == 200  # remembered: other processes may answer for these seconds
    clock[0] += 0.1
    assert me(token) == 401  # and no longer
    again = accounts.create_token(world, ACTOR, "minji", 30)
    assert me(again) == 200
    accounts.revoke_tokens(world, ACTOR, "minji")  # in this process: forgotten at once
    assert me(again) == 401
    disabled = accounts.create_token(world, ACTOR, "minji", 30)
    assert me(disabled) == 200
    accounts.set_enabled(world, ACTOR, "minji", False)
    assert me(disabled) == 401


def test_a_bad_token_is_401_json_without_a_trace(app):
    response = app.test_client().get("/api/v1/households/h-001", headers={"Authorization": "Bearer gs_nope"})
    assert response.status_code == 401
    assert set(response.json) == {"error", "status"} and "Traceback" not in response.get_data(as_text=True)


# --- object-level access ---------------------------------------------------------------------


def test_coordinator_sees_only_their_districts(app, world):
    get = api(app, "coord")
    mine = get("/api/v1/households/h-001")
    assert mine.status_code == 200 and mine.json["code"] == "H-001"
    assert "legal_name" not in str(mine.json)  # code names by default
    other = get("/api/v1/households/h-003")  # 서울 양천구
    missing = get("/api/v1/households/h-999")
    assert other.status_code == missing.status_code == 404
    assert other.json == missing.json  # the same answer: existence is not revealed
    denied = events(world, action="household.read", outcome="denied", actor="coord")
    assert {e["targets"][0] for e in denied} == {"h-003", "h-999"}


def test_coordinator_identity_on_request_and_audited(app, world):
    get = api(app, "coord")
    shown = get("/api/v1/households/h-001?identity=1").json
    names = {m["id"]: m["legal_name"] for m in shown["members"]}
    assert names == {"p-001": "김영희", "p-002": "박철수"}
    event = events(world, action="household.identity.read", actor="coord")[0]
    assert set(event["targets"]) >= {"h-001", "p-001", "p-002", "v-001"}
    assert "김영희" not in str(event)


def test_admin_reads_identity_only_with_a_reason(app, world):
    get = api(app, "admin")
    assert get("/api/v1/households/h-002?identity=1").status_code == 400
    shown = get("/api/v1/households/h-002?identity=1&reason=가족 연락 확인").json
    assert shown["members"][0]["legal_name"] == "이순자"
    assert events(world, action="household.identity.read", actor="admin")[0]["reason"] == "가족 연락 확인"


def test_visitor_sees_minimal_fields_of_visited_households_only(app, world):
    get = api(app, "minji")
    visited = get("/api/v1/households/h-001")
    assert visited.status_code == 200
    assert set(visited.json) == {"id", "code", "district", "introducer", "last_visit", "claim"}
    assert get("/api/v1/households/h-005").status_code == 404  # same district, never visited
    assert get("/api/v1/households/h-001?identity=1").status_code == 403


# --- audit: the trail and failing closed -------------------------------------------------------


def test_reads_are_audited_with_the_ids_shown(app, world):
    api(app, "coord")("/api/v1/households/h-001")
    event = events(world, action="household.read", actor="coord", outcome="ok")[0]
    assert event["targets"] == ["h-001", "p-001", "p-002", "v-001"]
    assert event["ip"] == "127.0.0.1" and event["role"] == "coordinator"


def test_a_read_fails_when_its_audit_event_cannot_be_written(app, world):
    get = api(app, "coord")
    assert get("/api/v1/households/h-001").status_code == 200
    journal = world.journal
    audit.flush(world)
    journal.path.unlink()
    journal.path.mkdir()  # the journal's place cannot take a line any more
    try:
        response = get("/api/v1/households/h-001")
        assert response.status_code == 500
        assert "H-001" not in response.get_data(as_text=True)
    finally:
        journal.path.rmdir()


def test_reads_fail_closed_when_the_chain_stops_taking_the_journal(app, world, monkeypatch):
    get = api(app, "coord")
    world.write("test_block_audit")  # an event squats on the next seq: the chain takes nothing
    assert get("/api/v1/households/h-001").status_code == 200  # on record in the journal
    line = json.loads(world.journal.path.read_bytes().splitlines()[-1])
    assert line["action"] == "household.read" and line["targets"] == ["h-001", "p-001", "p-002", "v-001"]
    with pytest.raises(audit.AuditError):
        audit.flush(world)
    assert not audit.verify(world).ok  # the walk names the squatter
    monkeypatch.setattr(world.journal, "max_bytes", world.journal.pending_bytes() - 1)
    response = get("/api/v1/households/h-001")  # the backlog is over its limit: fail closed
    assert response.status_code == 500 and "H-001" not in response.get_data(as_text=True)


def test_admin_audit_page_filters_and_exports(app, world):
    api(app, "coord")("/api/v1/households/h-001")
    client = app.test_client()
    sign_in(client, "admin")
    page = client.get("/admin/audit?target=h-001&lang=en").get_data(as_text=True)
    assert "household.read" in page and "Chain intact" in page
    page = client.get("/admin/audit?target=h-001&lang=ko").get_data(as_text=True)
    assert "household.read" in page and "체인 정상" in page
    exported = client.get("/admin/audit/export.csv?actor=coord")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "household.read" in exported.get_data(as_text=True)
    assert events(world, action="audit.export", actor="admin")
    lines = client.get("/admin/audit/export.jsonl").get_data(as_text=True).splitlines()
    assert lines and all(line.startswith("{") for line in lines)


def test_admin_verify_endpoint_names_tampering(app, world):
    client = app.test_client()
    sign_in(client, "admin")
    assert client.get("/api/v1/audit/verify").json["ok"] is True
    assert "Chain intact" in client.get("/admin/audit?lang=en").get_data(as_text=True)
    world.write("test_tamper_audit", seq=3)
    result = client.get("/api/v1/audit/verify").json
    assert result["ok"] is False and result["first_bad_seq"] == 3
    cached = client.get("/admin/audit?lang=en").get_data(as_text=True)  # the page's result is a few minutes old
    assert "Chain intact" in cached and "Check now" in cached
    fresh = client.get("/admin/audit?lang=en&verify=1").get_data(as_text=True)
    assert "Chain broken at event 3" in fresh


def test_disabling_a_user_ends_sessions_and_tokens(app, world):
    client = app.test_client()
    sign_in(client, "minji")
    token = accounts.create_token(world, ACTOR, "minji", 5)
    accounts.set_enabled(world, ACTOR, "minji", False)
    assert client.get("/api/v1/me").status_code == 401
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_admin_creates_and_disables_accounts_on_the_users_page(app, world):
    client = app.test_client()
    sign_in(client, "admin")
    token = csrf(client, "/admin/users")
    weak = client.post(
        "/admin/users",
        data={
            "username": "jiwoo",
            "role": "visitor",
            "districts": "서울 노원구",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert weak.status_code == 400 and "12" in weak.get_data(as_text=True)
    assert "12자 이상" in client.post(
        "/admin/users?lang=ko",
        data={"username": "jiwoo", "role": "visitor", "districts": "x", "password": "short", "csrf_token": token},
    ).get_data(as_text=True)
    assert accounts.get_user(world, "jiwoo") is None
    made = client.post(
        "/admin/users",
        data={
            "username": "jiwoo",
            "role": "visitor",
            "districts": "서울 노원구",
            "password": "a fine first password",
            "csrf_token": token,
        },
    )
    assert made.status_code == 302
    assert accounts.authenticate(world, "jiwoo", "a fine first password", "1.1.1.1", "t").ok
    forged = client.post("/admin/users/jiwoo/disable", data={})  # no CSRF token
    assert forged.status_code == 400 and accounts.get_user(world, "jiwoo")["enabled"]
    assert client.post("/admin/users/jiwoo/disable", data={"csrf_token": token, "confirm": "yes"}).status_code == 302
    assert not accounts.get_user(world, "jiwoo")["enabled"]
    assert {"user.create", "user.disable"} <= {e["action"] for e in events(world, target="jiwoo")}


def test_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    response = client.post(
        "/login", base_url="https://localhost", data={"username": "minji", "password": PASSWORD, "csrf_token": token}
    )
    session = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("gs_session="))
    assert "Secure" in session


def test_audit_api_filters_and_pages(app, world):
    get = api(app, "admin")
    api(app, "coord")("/api/v1/households/h-001")
    page = get("/api/v1/audit?actor=coord&action=household.&limit=1")
    assert page.status_code == 200
    assert [e["action"] for e in page.json["events"]] == ["household.read"]
    everything = get("/api/v1/audit?limit=3").json
    older = get(f"/api/v1/audit?limit=3&before_seq={everything['next_before_seq']}").json
    assert max(e["seq"] for e in older["events"]) < min(e["seq"] for e in everything["events"])
    for bad in ("limit=0", "limit=abc", "since=2025-13-01", "before_seq=-1"):
        response = get(f"/api/v1/audit?{bad}")
        assert response.status_code == 400 and response.json["error"], bad


def test_client_address_behind_a_trusted_proxy(settings, world):
    from dataclasses import replace

    direct = create_app(settings, TESTING=True).test_client()
    proxied = create_app(replace(settings, proxy_hops=1), TESTING=True).test_client()
    token = accounts.create_token(world, ACTOR, "minji", 1)
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.7"}
    direct.get("/api/v1/me", headers=headers)  # not trusted: the header is ignored
    proxied.get("/api/v1/me", headers=headers)
    ips = [e["ip"] for e in events(world, action="me.read", actor="minji")]
    assert ips == ["203.0.113.7", "127.0.0.1"]  # newest first
