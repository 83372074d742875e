"""The duress sign-in (issue 15 §3): a visitor's emergency password opens an ordinary
looking but empty view, silently freezes the account's identity and contact reveals in
every session and token, alerts the admins, and cannot be told from a normal sign-in."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from html import unescape

import pyotp
import pytest

from graphsvc import accounts, audit, duress, visits
from graphsvc.access import Subject

from .helpers import ACTOR, PASSWORD, TOTP_SECRET, csrf, keyring, sign_in

DURESS = "파란 우산 아래 서 있다"  # the emergency password (Korean, 12+ characters)
MINJI = Subject("minji", "visitor", ("서울 노원구",))


@pytest.fixture()
def app(settings, world):
    """The web app on the small network, with a request deadline long enough for a machine
    shared by many test runs (the deadline is not what these tests are about)."""
    from web import create_app

    return create_app(replace(settings, request_deadline=60.0), TESTING=True)


@pytest.fixture()
def armed(world):
    """The small network; minji (a visitor of 노원구) holds a claim on h-001 and has an
    emergency password."""
    visits.claim(world, MINJI, ACTOR, "h-001")
    assert duress.change(world, MINJI, ACTOR, PASSWORD, DURESS, DURESS) == "set"
    return world


def _client(app, password: str, username: str = "minji"):
    client = app.test_client()
    response = sign_in(client, username, password)
    assert response.status_code == 302, response.status_code
    return client


def _text(response) -> str:
    return unescape(response.get_data(as_text=True))


def _contact(client) -> int:
    token = csrf(client, "/suggestions")
    return client.post("/households/h-001/contact", data={"csrf_token": token}).status_code


# --- the empty view ----------------------------------------------------------------------------


def test_duress_sign_in_opens_an_empty_view_on_every_visitor_page_and_api(app, armed):
    normal = _client(app, PASSWORD)
    forced = _client(app, DURESS)

    # the real session sees its claim, its history, the household, its contact
    assert "H-001" in _text(normal.get("/suggestions?lang=en"))
    history = _text(normal.get("/history?lang=en"))
    assert "H-001" in history and "No claims yet." not in history
    assert normal.get("/households/h-001").status_code == 200
    assert normal.get("/api/v1/suggestions").json["suggestions"]

    # the duress session: the same pages in their "nothing here yet" states, not errors
    page = forced.get("/suggestions?lang=en")
    assert page.status_code == 200
    text = _text(page)
    assert "Nothing to suggest right now." in text and "H-00" not in text
    page = forced.get("/history?lang=en")
    assert page.status_code == 200
    text = _text(page)
    assert "No claims yet." in text and "H-00" not in text
    assert forced.get("/api/v1/suggestions").json["suggestions"] == []
    me = forced.get("/api/v1/me").json
    assert me == {"username": "minji", "role": "visitor", "districts": ["서울 노원구"]}  # as ever
    # no household is within reach: its page, its contact, a claim, the report form
    assert forced.get("/households/h-001").status_code == 404
    assert forced.get("/api/v1/households/h-001").status_code == 404
    assert forced.get("/api/v1/households/h-001/contact").status_code == 404
    assert _contact(forced) == 404
    report = forced.get("/visits/new?household_id=h-001")
    assert report.status_code == 404
    assert forced.get("/visits/new").status_code == 200  # the empty form renders
    token = csrf(forced, "/suggestions")
    sent = forced.post(
        "/api/v1/visits",
        json={"household_id": "h-001", "visited_on": "2026-01-05", "outcome": "met"},
        headers={"X-CSRF-Token": token, "Idempotency-Key": "duress-report-1"},
    )
    assert sent.status_code == 404
    claims = visits.history(armed, MINJI)["claims"]
    assert [c["household_id"] for c in claims] == ["h-001"]  # the real claim is untouched


def test_the_duress_event_is_in_nothing_the_duress_session_sees(app, armed):
    forced = _client(app, DURESS)
    for path in ("/suggestions", "/history", "/visits/new", "/account/duress", "/api/v1/me", "/api/v1/suggestions"):
        for lang in ("en", "ko"):
            body = forced.get(f"{path}?lang={lang}").get_data(as_text=True)
            for word in ("alert.duress", "frozen", "동결", "freeze"):
                assert word not in body, (path, word)
    page = _text(forced.get("/account/duress?lang=en"))
    assert "You have no emergency password yet." in page  # the duress session is told there is none


# --- the freeze and the alert ------------------------------------------------------------------


def test_duress_sign_in_freezes_contact_in_every_session_and_token_and_alerts(app, armed):
    earlier = _client(app, PASSWORD)  # a session of the real account, opened before
    api_token = accounts.create_token(armed, ACTOR, "minji", 1)
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert _contact(earlier) == 200
    assert app.test_client().get("/api/v1/households/h-001/contact", headers=bearer).status_code == 200
    seq_before = audit.query(armed, limit=1)[0]["seq"]

    _client(app, DURESS)

    assert _contact(earlier) == 404  # the same answer as for a household out of reach
    assert app.test_client().get("/api/v1/households/h-001/contact", headers=bearer).status_code == 404
    later = _client(app, PASSWORD)  # a new normal session: frozen too
    assert _contact(later) == 404
    assert later.get("/households/h-001").status_code == 200  # only identity and contact stop
    alerts = [e for e in audit.query(armed, action="alert.duress") if e["seq"] > seq_before]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["actor"] == "minji" and alert["targets"] == ["minji"]
    assert "password" not in (alert.get("detail") or "") and DURESS not in str(alert)
    assert accounts.get_user(armed, "minji")["duress_hash"].startswith("$argon2id$")


def test_an_admin_lifts_the_freeze_from_the_accounts_page(app, armed):
    earlier = _client(app, PASSWORD)
    _client(app, DURESS)
    assert _contact(earlier) == 404
    admin = _client(app, PASSWORD, "admin")
    page = _text(admin.get("/admin/users?lang=en"))
    assert "Addresses and identity frozen after an emergency sign-in" in page
    assert "주소와 신원 정보" in _text(admin.get("/admin/users?lang=ko"))
    token = csrf(admin, "/admin/users")
    lifted = admin.post("/admin/users/minji/identity/lift", data={"csrf_token": token})
    assert lifted.status_code == 302
    assert _contact(earlier) == 200
    event = audit.query(armed, action="user.identity_unfreeze", limit=1)[0]
    assert event["actor"] == "admin" and event["targets"] == ["minji"]
    assert admin.post("/admin/users/nobody/identity/lift", data={"csrf_token": token}).status_code == 404
    visitor = _client(app, PASSWORD)
    token = csrf(visitor, "/history")
    assert visitor.post("/admin/users/minji/identity/lift", data={"csrf_token": token}).status_code == 403


def test_a_normal_sign_in_is_unaffected(app, armed):
    client = _client(app, PASSWORD)
    assert "H-001" in _text(client.get("/history"))
    assert _contact(client) == 200
    assert not audit.query(armed, action="alert.duress")
    assert not accounts.get_user(armed, "minji").get("identity_frozen")
    assert sign_in(app.test_client(), "minji", "wrong password here").status_code == 401


# --- indistinguishable -------------------------------------------------------------------------


def _cookie_shape(response) -> list[tuple[str, int, str]]:
    """Each Set-Cookie: its name, its value's length, its attributes (without Expires)."""
    shape = []
    for header in response.headers.getlist("Set-Cookie"):
        name, _eq, rest = header.partition("=")
        value, _sep, attrs = rest.partition(";")
        parts = [a.strip() for a in attrs.split(";")]
        kept = sorted(a.split("=")[0] if a.startswith("Expires") else a for a in parts)
        shape.append((name, len(value), ";".join(kept)))
    return sorted(shape)


def _login(app, password: str, username: str = "minji"):
    client = app.test_client()
    token = csrf(client)
    started = time.perf_counter()
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    return response, time.perf_counter() - started, client


def test_duress_and_normal_sign_ins_answer_alike(app, armed):
    normal, _t, normal_client = _login(app, PASSWORD)
    forced, _t, forced_client = _login(app, DURESS)
    assert normal.status_code == forced.status_code == 302
    assert normal.headers["Location"] == forced.headers["Location"]
    assert _cookie_shape(normal) == _cookie_shape(forced)
    assert sorted(normal.headers.keys()) == sorted(forced.headers.keys())
    # the pages after it: the same templates, the same size within the data they show
    for path in ("/suggestions", "/history", "/account/duress", "/visits/new"):
        a, b = normal_client.get(path), forced_client.get(path)
        assert a.status_code == b.status_code == 200, path
        assert sorted(a.headers.keys()) == sorted(b.headers.keys()), path
        assert re.findall(r"<h1>.*?</h1>", a.get_data(as_text=True)) == re.findall(
            r"<h1>.*?</h1>", b.get_data(as_text=True)
        )


def test_duress_and_normal_sign_ins_take_as_long(app, armed):
    normal, forced = [], []
    for _ in range(20):  # interleaved, so that the machine's load falls on both alike
        response, seconds, _c = _login(app, PASSWORD)
        assert response.status_code == 302
        normal.append(seconds)
        response, seconds, _c = _login(app, DURESS)
        assert response.status_code == 302
        forced.append(seconds)
    ratio = statistics.median(forced) / statistics.median(normal)
    print(f"median sign-in: normal {statistics.median(normal):.3f} s, duress {statistics.median(forced):.3f} s")
    assert 0.67 < ratio < 1.5, ratio


def test_every_sign_in_checks_both_passwords(world, monkeypatch):
    """The same work for every sign-in: two argon2 verifications, with or without a duress
    password, for a known or an unknown name, right or wrong."""
    calls = []
    real = duress._verify
    monkeypatch.setattr(duress, "_verify", lambda stored, pw: calls.append(stored is not None) or real(stored, pw))
    for username, password in (("minji", PASSWORD), ("minji", "wrong password here"), ("nobody", PASSWORD)):
        calls.clear()
        accounts.authenticate(world, username, password, "192.0.2.1", "pytest")
        assert len(calls) == 1, (username, calls)  # the duress check runs once, on a dummy hash at least


def test_with_sign_in_codes_the_duress_path_asks_for_the_code_too(app, armed):
    accounts.set_totp(armed, ACTOR, "minji", keyring().encrypt(TOTP_SECRET, "User", "minji", "totp_secret"), True)
    normal, _t, normal_client = _login(app, PASSWORD)
    forced, _t, forced_client = _login(app, DURESS)
    assert normal.status_code == forced.status_code == 302
    assert normal.headers["Location"] == forced.headers["Location"]
    assert "/login/totp" in forced.headers["Location"]
    assert _cookie_shape(normal) == _cookie_shape(forced)
    # before the code, the freeze is on already (the password step did it)
    assert accounts.get_user(armed, "minji") is not None
    token = csrf(forced_client, "/login/totp")
    done = forced_client.post("/login/totp", data={"code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": token})
    assert done.status_code == 302
    assert "Nothing to suggest right now." in _text(forced_client.get("/suggestions?lang=en"))
    assert audit.query(armed, action="alert.duress")


# --- setting, changing, removing ---------------------------------------------------------------


def _post(client, lang="en", **form):
    token = csrf(client, "/account/duress")
    return client.post(f"/account/duress?lang={lang}", data={"csrf_token": token, **form})


def test_setting_changing_and_removing_the_emergency_password(app, world):
    client = _client(app, PASSWORD)
    page = client.get("/account/duress?lang=en")
    assert page.status_code == 200 and "You have no emergency password yet." in _text(page)

    cases = [
        ({"current_password": "not my password x"}, "current_password", "The current password is not right."),
        ({"duress_password": "짧다"}, "duress_password", "at least 12 characters"),
        ({"duress_password": PASSWORD, "duress_password_again": PASSWORD}, "duress_password", "must differ"),
        ({"duress_password_again": "다른 비밀번호 입니다 예"}, "duress_password_again", "not the same"),
        ({"duress_password": "minji 비밀 번호 입니다"}, "duress_password", "must not contain the username"),
    ]
    for changes, field, words in cases:
        form = {"current_password": PASSWORD, "duress_password": DURESS, "duress_password_again": DURESS}
        form.update(changes)
        if "duress_password" in changes and "duress_password_again" not in changes:
            form["duress_password_again"] = changes["duress_password"]
        answer = _post(client, **form)
        assert answer.status_code == 400, changes
        text = _text(answer)
        assert f'id="error-{field}"' in text and words in text, (changes, text[:3000])
        assert accounts.get_user(world, "minji")["duress_hash"] is None  # nothing changed
    korean = _text(_post(client, "ko", current_password="not my password x", duress_password=DURESS))
    assert "현재 비밀번호" in korean

    done = _post(client, current_password=PASSWORD, duress_password=DURESS, duress_password_again=DURESS)
    assert done.status_code == 302 and "done=set" in done.headers["Location"]
    stored = accounts.get_user(world, "minji")["duress_hash"]
    assert stored.startswith("$argon2id$") and DURESS not in stored
    assert "You have an emergency password." in _text(client.get("/account/duress?lang=en"))
    event = audit.query(world, action="user.duress_password", limit=1)[0]
    assert event["detail"] == "set" and DURESS not in str(event) and event["targets"] == ["minji"]

    other = "새 비상 비밀번호 두 번째"
    done = _post(client, current_password=PASSWORD, duress_password=other, duress_password_again=other)
    assert "done=changed" in done.headers["Location"]
    assert sign_in(app.test_client(), "minji", DURESS).status_code == 401  # the old one is gone
    done = _post(client, current_password=PASSWORD, action="remove")
    assert "done=removed" in done.headers["Location"]
    assert accounts.get_user(world, "minji")["duress_hash"] is None
    assert sign_in(app.test_client(), "minji", other).status_code == 401
    assert not audit.query(world, action="alert.duress")


def test_a_duress_session_changes_nothing_on_the_emergency_page(app, armed):
    stored = accounts.get_user(armed, "minji")["duress_hash"]
    forced = _client(app, DURESS)
    other = "새 비상 비밀번호 두 번째"
    wrong = _post(forced, current_password=PASSWORD, duress_password=other, duress_password_again=other)
    assert wrong.status_code == 400  # the real password is not what this session knows
    done = _post(forced, current_password=DURESS, duress_password=other, duress_password_again=other)
    assert done.status_code == 302 and "done=set" in done.headers["Location"]
    assert accounts.get_user(armed, "minji")["duress_hash"] == stored


def test_only_visitors_have_an_emergency_password(app, world):
    coord = _client(app, PASSWORD, "coord")
    assert coord.get("/account/duress").status_code == 404
    with pytest.raises(duress.DuressProblem):
        duress.change(world, Subject("coord", "coordinator", ("서울 노원구",)), ACTOR, PASSWORD, DURESS, DURESS)


def test_a_duress_session_enrols_no_sign_in_codes_on_the_account(app, armed):
    forced = _client(app, DURESS)
    page = forced.get("/login/totp/enrol?lang=en")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.get_data(as_text=True)).group(1)
    assert secret in forced.get("/login/totp/enrol").get_data(as_text=True)  # the same on a reload
    token = csrf(forced, "/login/totp/enrol")
    assert forced.post("/login/totp/enrol", data={"code": "000000", "csrf_token": token}).status_code == 401
    done = forced.post("/login/totp/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 302
    user = accounts.get_user(armed, "minji")
    assert user["totp_secret"] is None and not user["totp_enabled"]  # nothing stored on the account


def _shape(html: str, username: str) -> str:
    """A page without what differs from account to account: the user's name and districts,
    the CSRF token, the forms' idempotency keys."""
    html = html.replace(username, "USER")
    for district in ("서울 노원구", "부산 해운대구"):  # the report form offers the user's own districts
        html = html.replace(district, "DISTRICT")
    return re.sub(r'name="(csrf_token|idempotency_key)" value="[^"]*"', r'name="\1" value="-"', html)


def test_the_duress_pages_are_those_of_an_account_with_nothing_yet(app, armed):
    """Byte for byte (but for the name and the tokens), the duress session's pages are the
    pages of a new visitor whose district has nothing to visit yet."""
    accounts.add_user(armed, ACTOR, "sora", "visitor", ["부산 해운대구"], PASSWORD, "f")
    forced = _client(app, DURESS)
    fresh = _client(app, PASSWORD, "sora")
    for path in ("/suggestions", "/history", "/visits/new", "/account/duress"):
        for lang in ("ko", "en"):
            a = _shape(forced.get(f"{path}?lang={lang}").get_data(as_text=True), "minji")
            b = _shape(fresh.get(f"{path}?lang={lang}").get_data(as_text=True), "sora")
            assert a == b, (path, lang)
