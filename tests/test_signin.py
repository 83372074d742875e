"""Sign-in under attack (issue 10, §2): the second factor's lockout and throttles, codes used
once, throttles that neither tell which usernames exist nor let a stranger lock a user out
of their own browser, the sessions' absolute lifetime, a reset of the codes ending sessions,
the language cookie over HTTPS, and a real reason for an admin's identity read."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

import pyotp
import pytest

from graphsvc import accounts, audit, importer
from graphsvc.access import Subject
from graphsvc.config import load_settings
from graphsvc.model import Actor
from web import create_app

from .helpers import ACTOR, FIXTURES, keyring, snapshot

PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()
WRONG = ("000001", "000002", "000003", "000004", "000005", "000006")
STRANGER = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture()
def world(db):
    """The small network; coord and admin have codes on, minji (a visitor) has none."""
    assert importer.import_folder(db, FIXTURES / "small", keyring(), ACTOR).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD, adopt=True)
    for name in ("admin", "coord"):
        accounts.set_totp(db, ACTOR, name, keyring().encrypt(SECRET, "User", name, "totp_secret"), True)
    return db


@pytest.fixture()
def app(settings, world):
    return create_app(settings, TESTING=True)


def csrf(client, path="/login", **kw) -> str:
    page = client.get(path, follow_redirects=True, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def password(client, username, pw=PASSWORD, **kw):
    return client.post("/login", data={"username": username, "password": pw, "csrf_token": csrf(client, **kw)}, **kw)


def code(client, value, path="/login/totp"):
    return client.post(path, data={"code": value, "csrf_token": csrf(client, path)})


def now_code(offset_steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(time.time(), counter_offset=offset_steps)


def signed_in(client) -> bool:
    return client.get("/api/v1/me").status_code == 200


def state(db, username="coord") -> dict:
    return db.read("test_sign_in_state", username=username)[0]


def neo4j_state(db) -> tuple:
    """Everything in Neo4j, the audit log's newest event included: for "this wrote nothing"."""
    return snapshot(db), audit.query(db, limit=1)[0]["seq"]


# --- the second factor ---------------------------------------------------------------------------


def test_the_assessors_sequence_five_wrong_codes_then_the_right_one_is_refused(app):
    client = app.test_client()
    assert "/login/totp" in password(client, "coord").headers["Location"]
    answers = [code(client, wrong).status_code for wrong in WRONG[:5]]
    assert answers == [401, 401, 401, 302, 302]  # the 3rd ends the session; then: sign in first
    right = code(client, now_code())
    assert right.status_code == 302 and right.headers["Location"].startswith("/login")
    assert not signed_in(client)


def test_a_pending_session_has_three_tries_then_ends(app, world):
    client = app.test_client()
    password(client, "coord")
    sid = client.get_cookie("gs_session").value
    assert code(client, WRONG[0]).status_code == 401
    assert code(client, WRONG[1]).status_code == 401
    third = code(client, WRONG[2])
    assert third.status_code == 401 and "다시 로그인하세요" in third.get_data(as_text=True)
    assert "gs_session=;" in " ".join(third.headers.getlist("Set-Cookie"))
    assert state(world)["sessions"] == 0  # ended on the server
    replay = app.test_client()
    replay.set_cookie("gs_session", sid)
    assert code(replay, now_code()).headers["Location"].startswith("/login")
    assert not signed_in(replay) and not signed_in(client)
    ended = audit.query(world, action="login.totp_failure", target="coord")[0]
    assert "session ended" in ended["detail"]


def test_code_failures_lock_the_account_and_then_even_the_right_code_is_refused(app, world, monkeypatch):
    first, second = app.test_client(), app.test_client()
    password(first, "coord")
    for wrong in WRONG[:3]:
        code(first, wrong)  # this pending session is spent
    password(second, "coord")
    assert code(second, WRONG[3]).status_code == 401
    locking = code(second, WRONG[4])  # the 5th failure of the account
    assert locking.status_code == 429 and int(locking.headers["Retry-After"]) > 0

    before = snapshot(world)
    refused = code(second, now_code())
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= accounts.LOCK_SECONDS + 1
    assert re.search(r"[12]분 뒤에 다시 시도하세요", refused.get_data(as_text=True))
    assert not signed_in(second)
    assert snapshot(world) == before  # refused unchecked: nothing written to Neo4j
    assert audit.query(world, action="login.totp_throttled", target="coord")  # recorded by the web layer

    third = app.test_client()  # a new password sign-in does not help: the account takes no code
    password(third, "coord")
    assert code(third, now_code()).status_code == 429 and not signed_in(third)

    world.write("test_end_code_lock", username="coord")  # the lock's time runs out
    assert code(third, now_code()).status_code == 302 and signed_in(third)
    assert state(world)["code_failures"] == 0


def test_code_locks_grow_with_further_failures(world):
    who = Actor("coord", "coordinator", "127.0.0.1", "t")
    decrypt = lambda token: keyring().decrypt(token, "User", "coord", "totp_secret")  # noqa: E731
    waits = []
    for _ in range(accounts.MAX_CODE_FAILURES + 2):
        sid = accounts.create_session(
            world, Subject("coord", "coordinator", ("서울 노원구",)), "127.0.0.1", "t", second_factor=False
        )
        check = accounts.check_code(world, sid, who, "999999", decrypt)
        assert check.checked and not check.ok
        waits.append(check.retry_after)
        world.write("test_end_code_lock", username="coord")
    assert waits[:4] == [0, 0, 0, 0]
    assert accounts.LOCK_SECONDS - 2 <= waits[4] <= accounts.LOCK_SECONDS + 1
    assert 2 * accounts.LOCK_SECONDS - 2 <= waits[5] <= 2 * accounts.LOCK_SECONDS + 1
    assert 4 * accounts.LOCK_SECONDS - 2 <= waits[6] <= 4 * accounts.LOCK_SECONDS + 1


def test_a_code_is_accepted_once_per_account(app, world):
    first = app.test_client()
    password(first, "coord")
    used = now_code()
    assert code(first, used).status_code == 302 and signed_in(first)
    for _ in range(2):  # the assessors signed in three times with one code
        again = app.test_client()
        password(again, "coord")
        refused = code(again, used)
        assert refused.status_code == 401 and not signed_in(again)
        assert "이미 사용한 코드" in refused.get_data(as_text=True)
    failure = audit.query(world, action="login.totp_failure", target="coord")[0]
    assert failure["detail"].startswith("code already used")
    later = app.test_client()  # the next time step's code is fine (within the window)
    password(later, "coord")
    at = time.time()
    assert code(later, pyotp.TOTP(SECRET).at(at, counter_offset=1)).status_code == 302 and signed_in(later)
    assert state(world)["totp_last_step"] == pyotp.TOTP(SECRET).timecode(at) + 1


def test_the_enrolment_code_is_used_up_too(app, world):
    accounts.set_totp(world, ACTOR, "coord", None, False)
    client = app.test_client()
    assert "/login/totp/enrol" in password(client, "coord").headers["Location"]
    page = client.get("/login/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    enrolled = pyotp.TOTP(secret).now()
    assert code(client, enrolled, "/login/totp/enrol").status_code == 302
    assert accounts.get_user(world, "coord")["totp_enabled"] and signed_in(client)
    again = app.test_client()
    password(again, "coord")
    assert code(again, enrolled).status_code == 401 and not signed_in(again)


def test_one_code_sent_twice_at_once_signs_in_once(world):
    """Two pending sessions send the same code at the same moment: exactly one is accepted
    (the user node is locked before the last accepted step is read)."""
    who = Actor("coord", "coordinator", "127.0.0.1", "t")
    subject = Subject("coord", "coordinator", ("서울 노원구",))
    decrypt = lambda token: keyring().decrypt(token, "User", "coord", "totp_secret")  # noqa: E731
    start = time.time()
    for round_ in range(4):
        at = start + 30 * (round_ + 1)  # a later time step each round
        value = pyotp.TOTP(SECRET).at(at)
        sids = [accounts.create_session(world, subject, "127.0.0.1", "t", second_factor=False) for _ in range(4)]
        barrier = threading.Barrier(len(sids))
        results = []

        def attempt(sid):
            barrier.wait()
            results.append(accounts.check_code(world, sid, who, value, decrypt, at=at))

        threads = [threading.Thread(target=attempt, args=(sid,)) for sid in sids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.ok for r in results) == [False, False, False, True], round_
        assert sum(r.replayed for r in results) == 3
        world.write("test_end_code_lock", username="coord")


# --- the password step: enumeration and targeted lock-out ---------------------------------------


def _strip(response) -> str:
    return re.sub(r'value="[0-9a-f]+"', "", response.get_data(as_text=True))


def test_unknown_and_real_names_answer_alike_also_when_throttled(app):
    answers = {}
    for name in ("minji", "nobody"):
        client = app.test_client()
        answers[name] = [password(client, name, "wrong password!!") for _ in range(accounts.MAX_FAILURES + 1)]
    real, unknown = answers["minji"], answers["nobody"]
    assert [r.status_code for r in real] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert all(_strip(a) == _strip(b) for a, b in zip(real, unknown))
    assert abs(int(real[-1].headers["Retry-After"]) - int(unknown[-1].headers["Retry-After"])) <= 1


def test_a_stranger_cannot_lock_a_user_out_of_their_own_browser(app, world):
    own, second = app.test_client(), app.test_client()
    first = password(own, "minji")  # a complete sign-in: this browser is a known device now
    device = next(c for c in first.headers.getlist("Set-Cookie") if c.startswith("gs_device="))
    assert "HttpOnly" in device and "SameSite=Strict" in device and "minji" not in device
    assert password(second, "minji").status_code == 302  # the user's second browser

    stranger = app.test_client()
    for _ in range(accounts.MAX_FAILURES):
        assert password(stranger, "minji", "guess guess guess", environ_base=STRANGER).status_code == 401
    locked = password(stranger, "minji", environ_base=STRANGER)  # even the right password
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert password(app.test_client(), "minji").status_code == 429  # any browser without the cookie
    forged = app.test_client()
    forged.set_cookie("gs_device", own.get_cookie("gs_device").value.replace(".", ".0", 1))
    assert password(forged, "minji").status_code == 429  # a forged cookie is no device
    assert password(own, "minji").status_code == 302 and signed_in(own)  # but the user's own is fine

    # a device's own failures lock only that device
    for _ in range(accounts.MAX_FAILURES):
        assert password(own, "minji", "oops oops oops!").status_code == 401
    assert password(own, "minji").status_code == 429
    assert password(second, "minji").status_code == 302 and signed_in(second)

    world.write("test_end_throttle_locks")  # the locks run out: a new browser may sign in
    assert password(app.test_client(), "minji").status_code == 302
    throttled = audit.query(world, action="login.throttled", target="minji")
    assert {e["detail"] for e in throttled} == {"username locked", "device locked"}


def test_a_cookie_of_another_user_does_not_vouch(app, world):
    client = app.test_client()
    assert password(client, "minji").status_code == 302  # a device cookie for minji
    for _ in range(accounts.MAX_FAILURES):
        password(client, "admin", "not the password", environ_base=STRANGER)
    # the failures counted against the name admin (for browsers unknown to admin) ...
    assert password(app.test_client(), "admin", environ_base=STRANGER).status_code == 429
    # ... and not against this browser, which is still a known device of minji
    assert password(client, "minji").status_code == 302


def test_untrusted_locks_grow_and_reset_password_lifts_them(world):
    waits = []
    for n in range(accounts.MAX_FAILURES + 3):
        result = accounts.authenticate(world, "minji", "wrong password!!", f"198.51.100.{n}", "t")
        assert not result.ok and not result.locked
        after = accounts.authenticate(world, "minji", PASSWORD, "192.0.2.1", "t")
        assert after.ok == (n < accounts.MAX_FAILURES - 1)
        waits.append(after.retry_after)
        world.write("test_end_throttle_locks")
    assert waits[:4] == [0, 0, 0, 0]
    assert [round(w / accounts.LOCK_SECONDS) for w in waits[4:]] == [1, 2, 4, 8]
    for _ in range(accounts.MAX_FAILURES):
        accounts.authenticate(world, "minji", "wrong password!!", "198.51.100.1", "t")
    assert accounts.authenticate(world, "minji", PASSWORD, "192.0.2.2", "t").locked
    accounts.reset_password(world, ACTOR, "minji", "a brand new password")
    assert accounts.authenticate(world, "minji", "a brand new password", "192.0.2.3", "t").ok


def test_the_address_limit_holds_and_bounds_the_records(world):
    for n in range(accounts.IP_MAX_FAILURES):
        assert not accounts.authenticate(world, f"name{n}", "wrong password!!", "198.51.100.7", "t").locked
    before = neo4j_state(world)
    for n in range(5):  # refused before any check, whatever the name, and nothing written
        refused = accounts.authenticate(world, f"other{n}", "wrong password!!", "198.51.100.7", "t")
        assert refused.locked and refused.scope == "address" and refused.retry_after > 0
    assert accounts.authenticate(world, "minji", PASSWORD, "198.51.100.7", "t").locked
    assert neo4j_state(world) == before
    assert state(world)["throttles"] == accounts.IP_MAX_FAILURES + 1
    assert accounts.authenticate(world, "minji", PASSWORD, "198.51.100.8", "t").ok  # another address
    # IPv6: one /64 is one address
    for n in range(accounts.IP_MAX_FAILURES):
        accounts.authenticate(world, f"v6name{n}", "wrong password!!", f"2001:db8:0:1::{n:x}", "t")
    assert accounts.authenticate(world, "minji", PASSWORD, "2001:db8:0:1:ffff::1", "t").scope == "address"
    # spent records are purged by the next checked failure
    world.write("test_expire_throttles")
    accounts.authenticate(world, "someone", "wrong password!!", "198.51.100.9", "t")
    assert state(world)["throttles"] == 2  # the new address and the new name


# --- sessions, the codes' reset, the language cookie -----------------------------------------------


def test_sessions_end_after_their_lifetime_even_while_active(app, world):
    client = app.test_client()
    password(client, "minji")
    assert signed_in(client)
    world.write("test_age_session_lifetime", hours=11)
    assert signed_in(client)
    world.write("test_age_session_lifetime", hours=2)  # 13 hours old, seen just now
    assert not signed_in(client)


def test_the_session_lifetime_is_configurable(settings, world):
    assert load_settings({}).session_max_hours == 12
    assert load_settings({"GRAPHSVC_SESSION_MAX_HOURS": "0.5"}).session_max_hours == 0.5
    for bad in ("0", "-1", "soon", "1000"):
        with pytest.raises(ValueError, match="GRAPHSVC_SESSION_MAX_HOURS"):
            load_settings({"GRAPHSVC_SESSION_MAX_HOURS": bad})
    app = create_app(replace(settings, session_max_hours=0.5), TESTING=True)
    client = app.test_client()
    response = password(client, "minji")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("gs_session="))
    assert "Max-Age=1800" in cookie
    world.write("test_age_session_lifetime", hours=0.4)
    assert signed_in(client)
    world.write("test_age_session_lifetime", hours=0.2)
    assert not signed_in(client)


def test_resetting_the_codes_ends_the_users_sessions(app, world):
    coord = app.test_client()
    password(coord, "coord")
    code(coord, now_code())
    assert signed_in(coord)
    admin = app.test_client()
    password(admin, "admin")
    assert code(admin, now_code(+1)).status_code == 302
    assert (
        admin.post(
            "/admin/users/coord/reset-totp", data={"csrf_token": csrf(admin, "/admin/users"), "confirm": "yes"}
        ).status_code
        == 302
    )
    assert not signed_in(coord)
    assert signed_in(admin)
    assert "/login/totp/enrol" in password(coord, "coord").headers["Location"]  # enrols anew


def test_the_language_cookie_is_secure_over_https(app):
    client = app.test_client()
    over_https = client.get("/login?lang=en", base_url="https://localhost")
    lang = next(c for c in over_https.headers.getlist("Set-Cookie") if c.startswith("lang="))
    assert "Secure" in lang and "HttpOnly" in lang
    plain = next(c for c in client.get("/login?lang=en").headers.getlist("Set-Cookie") if c.startswith("lang="))
    assert "Secure" not in plain


# --- an admin's reason for reading identity -----------------------------------------------------------


def test_an_admin_must_state_a_real_reason(app, world):
    token = accounts.create_token(world, ACTOR, "admin", 1)
    client = app.test_client()

    def get(query):
        return client.get(f"/api/v1/households/h-002?identity=1&{query}", headers={"Authorization": f"Bearer {token}"})

    for bad in ("reason=.", "reason=a", "reason=ㅇㅇ", "reason=%20%20", ""):
        refused = get(bad + "&lang=en")
        assert refused.status_code == 400 and refused.json["field"] == "reason", bad
        assert refused.json["error"].startswith("reason: ")
    assert "two words and six letters" in get("reason=.&lang=en").json["error"]
    assert "두 단어" in get("reason=.&lang=ko").json["error"]
    assert not audit.query(world, action="household.identity.read")
    shown = get("reason=방문 전 주소 확인")
    assert shown.status_code == 200 and shown.json["members"][0]["legal_name"] == "이순자"
    assert audit.query(world, action="household.identity.read")[0]["reason"] == "방문 전 주소 확인"
