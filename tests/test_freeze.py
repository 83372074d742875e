"""Issue 15 §3: freeze an account now (sessions and tokens end in every process, claims
released, sign-in refused until an admin unfreezes), sign out everywhere (the sessions of an
account, one by one), and Clear-Site-Data on a revoked session's next request."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from graphsvc import accounts, audit, freeze, visits
from graphsvc.access import Subject
from graphsvc.cli import main
from graphsvc.errors import Refused
from web import create_app

from .helpers import ACTOR, PASSWORD, api, csrf, events, serving, sign_in
from .helpers import test_env as server_env

MINJI = Subject("minji", "visitor", ("서울 노원구",))
COORD = Subject("coord", "coordinator", ("서울 노원구",))
YEON = Subject("yeon", "coordinator", ("서울 양천구",))
ADMIN = Subject("admin", "admin")
REASON = "휴대폰 분실 신고"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36"
)
DESK_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def signed_in_client(app, username: str, ua: str = DESK_UA):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = ua
    assert sign_in(client, username).status_code == 302
    return client


def live(client) -> bool:
    """Whether the client's session still opens a page (its own account page)."""
    return client.get("/account").status_code == 200


def claimed(db, username: str, household: str) -> str:
    """``username`` was shown ``household`` (as /suggestions records it) and claims it."""
    audit.append_now(db, actor=username, role="visitor", action="suggestions.read", targets=[household])
    subject = Subject(username, "visitor", ("서울 노원구",))
    return visits.claim(db, subject, ACTOR, household).claim_id


# --- the rule, in the core ----------------------------------------------------------------------


def test_freeze_ends_sessions_and_tokens_releases_claims_and_is_audited(app, world):
    client = signed_in_client(app, "minji")
    token = accounts.create_token(world, ACTOR, "minji", 30)
    claim_id = claimed(world, "minji", "h-001")
    assert visits.live_claims(world, "minji")
    done = freeze.freeze(world, ADMIN, ACTOR, "minji", f"  {REASON} ")
    assert (done.sessions, done.tokens, done.released) == (1, 1, ("h-001",))
    assert not live(client)
    assert accounts.token_subject(world, token) is None
    assert visits.live_claims(world, "minji") == {}  # the household is back in the pool
    event = events(world, action="user.freeze")[0]
    assert event["targets"] == ["minji", "h-001", claim_id] and event["actor"] == ACTOR.username
    assert f"reason: {REASON};" in event["detail"] and "1 claims released" in event["detail"]
    # another visitor may claim it now
    accounts.add_user(world, ACTOR, "sora", "visitor", ["서울 노원구"], PASSWORD, "f")
    assert claimed(world, "sora", "h-001")


def test_a_reason_is_required_and_at_most_300_characters(app, world):
    client = signed_in_client(app, "minji")
    for reason in (None, "", "   ", "가" * 301, 7):
        with pytest.raises(Refused) as refused:
            freeze.freeze(world, ADMIN, ACTOR, "minji", reason)
        assert refused.value.kind == "invalid" and refused.value.field == "reason"
    assert live(client) and not events(world, action="user.freeze")  # nothing changed
    assert freeze.freeze(world, ADMIN, ACTOR, "minji", "가" * 300).sessions == 1
    with pytest.raises(Refused) as refused:
        freeze.unfreeze(world, ADMIN, ACTOR, "minji", "")
    assert refused.value.field == "reason" and accounts.get_user(world, "minji")["frozen"]


def test_sign_in_is_refused_like_a_wrong_password_until_an_admin_unfreezes(app, world):
    freeze.freeze(world, ADMIN, ACTOR, "minji", REASON)
    client = app.test_client()
    wrong = sign_in(client, "minji", "not the password at all")
    frozen = sign_in(client, "minji")
    assert frozen.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[0-9a-f]{64}"|value="[A-Za-z0-9_-]{24}"')
    assert strip.sub("", frozen.get_data(as_text=True)) == strip.sub("", wrong.get_data(as_text=True))
    refused = events(world, action="login.frozen")
    assert [e["detail"].split("; ")[1] for e in refused] == ["right password", "wrong password"]
    assert all(e["outcome"] == "failure" and e["targets"] == ["minji"] for e in refused)
    assert not events(world, action="session.start", actor="minji")
    with pytest.raises(Refused):  # a coordinator may freeze a visitor, never unfreeze
        freeze.unfreeze(world, COORD, ACTOR, "minji", REASON)
    freeze.unfreeze(world, ADMIN, ACTOR, "minji", "찾았음 본인 확인")
    assert "찾았음 본인 확인" in events(world, action="user.unfreeze")[0]["detail"]
    assert sign_in(client, "minji").status_code == 302 and live(client)
    with pytest.raises(Refused) as again:
        freeze.unfreeze(world, ADMIN, ACTOR, "minji", REASON)
    assert again.value.code == "not_frozen"


def test_coordinators_freeze_only_visitors_of_their_districts(app, world):
    assert freeze.freeze(world, COORD, ACTOR, "minji", REASON)
    for subject, target in ((YEON, "minji"), (COORD, "yeon"), (COORD, "admin"), (MINJI, "coord"), (COORD, "nobody")):
        with pytest.raises(Refused) as refused:
            freeze.freeze(world, subject, ACTOR, target, REASON)
        assert refused.value.kind == "not_found"
    with pytest.raises(Refused) as own:
        freeze.freeze(world, ADMIN, ACTOR, "admin", REASON)
    assert own.value.code == "own_account"
    assert [e["targets"][0] for e in events(world, action="user.freeze")] == ["minji"]
    # over the pages: the confirmation, then the freeze; another district's coordinator: 404
    coord = signed_in_client(app, "coord")
    form = coord.get("/users/minji/freeze?lang=ko")
    assert form.status_code == 200 and "사유" in form.get_data(as_text=True)
    yeon = signed_in_client(app, "yeon")
    assert yeon.get("/users/minji/freeze").status_code == 404
    token = csrf(yeon, "/account")
    assert yeon.post("/users/minji/freeze", data={"csrf_token": token, "reason": REASON}).status_code == 404
    assert coord.get("/users/minji/unfreeze").status_code == 403  # only admins unfreeze
    accounts.add_user(world, ACTOR, "sora", "visitor", ["서울 노원구"], PASSWORD, "f")
    assert signed_in_client(app, "sora").get("/users/coord/freeze").status_code == 403


def test_the_freeze_page_asks_for_a_reason_then_freezes(app, world):
    minji = signed_in_client(app, "minji")
    admin = signed_in_client(app, "admin")
    users = admin.get("/admin/users?lang=en").get_data(as_text=True)
    assert "/users/minji/freeze" in users and "/users/admin/freeze" not in users
    token = csrf(admin, "/users/minji/freeze")
    empty = admin.post("/users/minji/freeze?lang=ko", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 400 and "reason" in empty.get_data(as_text=True) and live(minji)
    done = admin.post("/users/minji/freeze", data={"csrf_token": token, "reason": REASON})
    assert done.status_code == 302 and "/admin/users" in done.headers["Location"]
    assert not live(minji)
    users = admin.get("/admin/users?lang=ko").get_data(as_text=True)
    assert "/users/minji/unfreeze" in users and "동결" in users
    token = csrf(admin, "/users/minji/unfreeze")
    assert admin.post("/users/minji/unfreeze", data={"csrf_token": token, "reason": REASON}).status_code == 302
    assert not accounts.get_user(world, "minji")["frozen"]


# --- every process ------------------------------------------------------------------------------


def test_another_process_forgets_a_remembered_token_at_the_revocation_mark(app, world):
    """The cache of token lookups (accounts.TOKEN_CACHE_SECONDS) is per process: a process
    that revokes writes a new mark, and the others forget at their next request."""
    token = accounts.create_token(world, ACTOR, "minji", 30)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # remembered now
    world.write("test_revoke_tokens_directly", username="minji")  # as another process revokes…
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # …this one still remembers
    accounts._bump_mark(accounts._mark_path(world))  # …and writes a new mark
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_freeze_ends_sessions_and_tokens_in_every_gunicorn_worker(world, tmp_path):
    """Two gunicorn workers that both remember the token and hold the session; the freeze
    runs in this process (as the CLI would): the next request to any worker is refused."""
    token = accounts.create_token(world, ACTOR, "minji", 30)
    sid = accounts.create_session(world, MINJI, "127.0.0.1", DESK_UA, second_factor=True)
    with serving(server_env(), tmp_path / "gunicorn.log", "--workers", "2") as url:

        def get(path: str, **headers: str) -> tuple[int, dict[str, str]]:
            request = urllib.request.Request(url + path, headers=headers)

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):
                    return None

            opener = urllib.request.build_opener(NoRedirect)
            try:
                with opener.open(request, timeout=20) as answer:
                    return answer.status, dict(answer.headers)
            except urllib.error.HTTPError as error:
                return error.code, dict(error.headers)

        bearer = {"Authorization": f"Bearer {token}"}
        cookie = {"Cookie": f"gs_session={sid}"}
        # many requests: both workers answer some, and remember the token
        assert {get("/api/v1/me", **bearer)[0] for _ in range(12)} == {200}
        assert {get("/account", **cookie)[0] for _ in range(4)} == {200}
        freeze.freeze(world, ADMIN, ACTOR, "minji", REASON)
        assert {get("/api/v1/me", **bearer)[0] for _ in range(12)} == {401}
        status, headers = get("/account", **cookie)
        assert status == 302 and "/login" in headers["Location"]
        assert headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'


# --- the command line and the API -----------------------------------------------------------------


def test_cli_freezes_and_unfreezes(app, world, cli_env):
    client = signed_in_client(app, "minji")
    run = CliRunner().invoke
    missing = run(main, ["users", "freeze", "minji"])
    assert missing.exit_code != 0 and "--reason" in missing.output and live(client)
    bad = run(main, ["users", "freeze", "minji", "--reason", " "])
    assert bad.exit_code == 1 and "--reason" in bad.output and live(client)
    done = run(main, ["users", "freeze", "minji", "--reason", REASON])
    assert done.exit_code == 0 and "minji frozen: 1 sessions ended" in done.output
    assert not live(client)
    assert "frozen" in run(main, ["users", "list"]).output
    assert events(world, action="user.freeze")[0]["actor"].startswith("cli:")
    assert run(main, ["users", "freeze", "nobody", "--reason", REASON]).exit_code == 1
    assert run(main, ["users", "unfreeze", "minji", "--reason", REASON]).exit_code == 0
    assert run(main, ["users", "unfreeze", "minji", "--reason", REASON]).exit_code == 1  # not frozen
    assert sign_in(client, "minji").status_code == 302


def test_api_freeze_for_admins(app, world):
    as_admin, as_coord = api(app, "admin"), api(app, "coord")
    minji = api(app, "minji")
    assert minji("/api/v1/me").status_code == 200
    assert as_coord("/api/v1/users/minji/freeze", "POST", json={"reason": REASON}).status_code == 403
    bad = as_admin("/api/v1/users/minji/freeze", "POST", json={})
    assert bad.status_code == 400 and bad.json["field"] == "reason"
    assert bad.json["problems"][0]["field"] == "reason"
    assert as_admin("/api/v1/users/nobody/freeze", "POST", json={"reason": REASON}).status_code == 404
    done = as_admin("/api/v1/users/minji/freeze", "POST", json={"reason": REASON})
    assert done.status_code == 200
    assert done.json == {
        "username": "minji",
        "frozen": True,
        "sessions_ended": 0,
        "tokens_revoked": 1,
        "claims_released": [],
    }
    assert minji("/api/v1/me").status_code == 401  # at once
    again = as_admin("/api/v1/users/minji/unfreeze", "POST", json={"reason": REASON})
    assert again.status_code == 200 and again.json == {"username": "minji", "frozen": False}
    twice = as_admin("/api/v1/users/minji/unfreeze", "POST", json={"reason": REASON})
    assert twice.status_code == 409 and twice.json["code"] == "not_frozen"
    assert minji("/api/v1/me").status_code == 401  # tokens stay revoked


# --- sessions ---------------------------------------------------------------------------------------


def test_the_account_page_lists_sessions_and_signs_them_out_one_by_one(app, world):
    desk = signed_in_client(app, "minji", DESK_UA)
    phone = signed_in_client(app, "minji", PHONE_UA)
    tablet = signed_in_client(app, "minji", "pytest")
    page = desk.get("/account?lang=ko").get_data(as_text=True)
    assert page.count('class="session') == 3 and page.count('class="badge">이 기기<') == 1
    assert "Firefox 121 · Linux" in page and "Samsung Internet 24 · Android" in page and "알 수 없는 기기" in page
    assert "127.0.0.1" in page
    rows = freeze.sessions(world, "minji")
    assert all(
        len(r["ref"]) == 16 and r["ref"] not in str(world.read("user_sessions", username="minji", idle_seconds=60))
        for r in rows
    )
    phone_ref = next(r["ref"] for r in rows if r["device"].startswith("Samsung"))
    token = csrf(desk, "/account")
    one = desk.post("/account/sessions/end", data={"csrf_token": token, "scope": "one", "ref": phone_ref})
    assert one.status_code == 302 and live(desk) and live(tablet)
    gone = phone.get("/suggestions")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert gone.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert "gs_session=;" in gone.headers["Set-Cookie"]
    # a ref of another account's session ends nothing
    other = signed_in_client(app, "coord")
    coord_ref = freeze.sessions(world, "coord")[0]["ref"]
    assert (
        desk.post("/account/sessions/end", data={"csrf_token": token, "scope": "one", "ref": coord_ref}).status_code
        == 404
    )
    assert live(other)
    others = desk.post("/account/sessions/end", data={"csrf_token": token, "scope": "others"})
    assert others.status_code == 302 and live(desk) and not live(tablet)
    everywhere = desk.post("/account/sessions/end", data={"csrf_token": token, "scope": "all"})
    assert everywhere.status_code == 302 and "/login" in everywhere.headers["Location"]
    assert everywhere.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    assert freeze.sessions(world, "minji") == []
    assert [e["detail"] for e in events(world, action="session.end", actor="minji")] == [
        "all: 1 sessions",
        "others: 1 sessions",
        "one: 1 sessions",
    ]


def test_admins_sign_out_any_account_others_cannot(app, world):
    minji = signed_in_client(app, "minji")
    admin = signed_in_client(app, "admin")
    page = admin.get("/admin/users/minji/sessions?lang=en").get_data(as_text=True)
    assert "Sessions of minji" in page and "this device" not in page
    token = csrf(admin, "/admin/users/minji/sessions")
    done = admin.post("/admin/users/minji/sessions/end", data={"csrf_token": token, "scope": "all"})
    assert done.status_code == 302 and "/admin/users/minji/sessions" in done.headers["Location"]
    assert not live(minji) and live(admin)
    coord = signed_in_client(app, "coord")
    assert coord.get("/admin/users/minji/sessions").status_code == 403
    with pytest.raises(Refused):
        freeze.end_sessions(world, COORD, ACTOR, "minji", "all")
    assert admin.get("/admin/users/nobody/sessions").status_code == 404


def test_clear_site_data_only_for_a_dead_session_cookie(app, world):
    fresh = app.test_client()
    first = fresh.get("/suggestions")
    assert first.status_code == 302 and "Clear-Site-Data" not in first.headers  # an ordinary first visit
    client = signed_in_client(app, "minji")
    assert "Clear-Site-Data" not in client.get("/suggestions").headers  # a live session
    freeze.freeze(world, ADMIN, ACTOR, "minji", REASON)
    api_answer = client.get("/api/v1/me")
    assert api_answer.status_code == 401 and api_answer.headers["Clear-Site-Data"]
    # the cookie is gone from the client now; a dead cookie on the sign-in form is only removed
    # (its CSRF token rests on the pre-session cookie, which Clear-Site-Data would drop too)
    client.set_cookie("gs_session", "a-session-that-ended")
    login = client.get("/login")
    assert login.status_code == 200 and "Clear-Site-Data" not in login.headers
    assert "gs_session=;" in login.headers["Set-Cookie"]
    freeze.unfreeze(world, ADMIN, ACTOR, "minji", REASON)
    client.set_cookie("gs_session", "a-session-that-ended")
    again = sign_in(client, "minji")  # a sign-in over a dead cookie keeps its new session
    assert again.status_code == 302 and "Clear-Site-Data" not in again.headers and live(client)


def test_the_account_is_reached_from_the_nav_in_both_languages(app, world):
    client = signed_in_client(app, "minji")
    for lang, words in (
        ("ko", ("내 계정", "다른 곳에서 모두 로그아웃")),
        ("en", ("My account", "Sign out everywhere else")),
    ):
        home = client.get(f"/suggestions?lang={lang}").get_data(as_text=True)
        assert 'href="/account"' in home
        page = client.get(f"/account?lang={lang}").get_data(as_text=True)
        assert all(w in page for w in words), lang


def test_a_second_app_on_the_same_database_sees_the_freeze(settings, app, world):
    other = create_app(settings, TESTING=True)  # another app instance, as another process
    client = signed_in_client(other, "minji")
    assert live(client)
    freeze.freeze(world, ADMIN, ACTOR, "minji", REASON)
    answer = client.get("/account")
    assert answer.status_code == 302 and answer.headers["Clear-Site-Data"]
    assert json.loads(json.dumps(accounts.get_user(world, "minji")["frozen"])) is True
