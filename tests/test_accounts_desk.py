"""Accounts that a coordinator and an admin can run (issue 13 §6): ``users add`` refuses an
existing account and names the commands that change one (``users set``, ``users passwd``,
``users reset-link``); the account pages (gender, districts, role; audited field by field;
bad input named); a coordinator runs the visitors of their districts only; a one-time
password-reset link that expires; a confirmation before disable, revoke and reset; each role
lands on its own page after sign-in; ``PATCH /api/v1/users/<name>``."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from graphsvc import accounts, team
from graphsvc.access import Subject
from graphsvc.cli import main
from graphsvc.errors import Refused
from graphsvc.model import to_datetime

from .helpers import ACTOR, PASSWORD, api, csrf, events, sign_in

NOWON, YANGCHEON, ANSAN = "서울 노원구", "서울 양천구", "경기 안산시"
ADMIN = Subject("tester", "admin")
NEW_PASSWORD = "새 비밀번호는 충분히 길다"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def user(db, name: str) -> dict:
    found = accounts.get_user(db, name)
    assert found is not None
    return found


def state(db, name: str) -> tuple:
    u = user(db, name)
    return (u["role"], tuple(u["districts"]), u["gender"], u["enabled"], u["password_hash"])


# --- the command line ------------------------------------------------------------------------


def test_users_add_refuses_an_existing_account_and_changes_nothing(world, cli_env):
    # junho came with the network's users.csv: a visitor of two districts, no password yet
    before = state(world, "junho")
    assert before[1] == (NOWON, ANSAN) and before[4] is None
    refused = run("users", "add", "junho", "--role", "visitor", "--district", NOWON, "--password-stdin", input=PASSWORD)
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    assert lines[0].startswith("error: user junho already exists") and "nothing changed" in lines[0]
    assert "no password yet" in lines[0]
    for command in (
        "users set junho --district",
        "users passwd junho",
        "users reset-link junho",
        "users disable junho",
    ):
        assert command in refused.output, command
    assert state(world, "junho") == before  # the districts were replaced by one before
    assert not events(world, action="user.create", target="junho")
    # an account with a password is refused the same way, and so is the library call
    assert run("users", "add", "minji", "--role", "admin", "--password-stdin", input=PASSWORD).exit_code == 1
    assert user(world, "minji")["role"] == "visitor"
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.add_user(world, ACTOR, "junho", "visitor", [NOWON], PASSWORD)
    assert state(world, "junho") == before


def test_users_set_passwd_and_reset_link_change_an_account_audited(world, cli_env):
    done = run("users", "set", "junho", "--gender", "f", "--add-district", YANGCHEON, "--remove-district", ANSAN)
    assert done.exit_code == 0, done.output
    assert "gender: — → f" in done.output
    assert (user(world, "junho")["gender"], user(world, "junho")["districts"]) == ("f", [NOWON, YANGCHEON])
    detail = events(world, action="user.update", target="junho")[0]["detail"]
    assert "gender: — → f" in detail and f"districts: {NOWON};{ANSAN} → {NOWON};{YANGCHEON}" in detail

    assert run("users", "set", "junho", "--district", ANSAN).exit_code == 0  # replaces
    assert user(world, "junho")["districts"] == [ANSAN]
    unknown = run("users", "set", "junho", "--add-district", "서울 없는구")
    assert unknown.exit_code == 1 and "not a district of this network" in unknown.output
    assert "--allow-new-district" in unknown.output and user(world, "junho")["districts"] == [ANSAN]
    assert run("users", "set", "junho", "--add-district", "서울 없는구", "--allow-new-district").exit_code == 0
    assert user(world, "junho")["districts"] == [ANSAN, "서울 없는구"]
    none_left = run("users", "set", "junho", "--remove-district", ANSAN, "--remove-district", "서울 없는구")
    assert none_left.exit_code == 1 and "at least one district" in none_left.output
    assert run("users", "set", "junho", "--gender", "none").exit_code == 0
    assert user(world, "junho")["gender"] is None
    same = run("users", "set", "junho", "--district", ANSAN, "--district", "서울 없는구")
    assert same.exit_code == 0 and "nothing changed" in same.output
    assert run("users", "set", "nobody").exit_code == 1  # nothing to change
    assert run("users", "set", "nobody", "--gender", "f").exit_code == 1

    # the role: the account's sessions end and its tokens are revoked
    token = accounts.create_token(world, ACTOR, "minji", 1)
    assert run("users", "set", "minji", "--role", "coordinator").exit_code == 0
    assert accounts.token_subject(world, token) is None

    assert run("users", "passwd", "junho", "--password-stdin", input=NEW_PASSWORD + "\n").exit_code == 0
    assert accounts.authenticate(world, "junho", NEW_PASSWORD, "1.2.3.4", "t").ok
    link = run("users", "reset-link", "junho", "--base-url", "https://graphsvc.example/")
    assert link.exit_code == 0
    assert re.search(r"^https://graphsvc\.example/reset/gr_[A-Za-z0-9_-]{40,}$", link.output, re.M)
    assert events(world, action="user.reset_link", target="junho")


# --- the pages: an admin -----------------------------------------------------------------------


def test_admin_edits_gender_districts_and_role_on_the_account_page(app, world):
    client = app.test_client()
    sign_in(client, "admin")
    listing = client.get("/admin/users?lang=en").get_data(as_text=True)
    assert "never gets women-only households" in listing  # junho and minji have no gender
    page = client.get("/team/junho?lang=en").get_data(as_text=True)
    assert "never gets women-only households" in page
    for district in (NOWON, YANGCHEON, ANSAN):  # the districts of this network, to choose among
        assert f'value="{district}"' in page
    token = csrf(client, "/team/junho")
    form = {"csrf_token": token, "districts_shown": "1", "role": "visitor", "gender": "f"}
    saved = client.post("/team/junho", data={**form, "districts": [NOWON, YANGCHEON]})
    assert saved.status_code == 302
    assert (user(world, "junho")["gender"], user(world, "junho")["districts"]) == ("f", [NOWON, YANGCHEON])
    detail = events(world, action="user.update", target="junho")[0]
    assert detail["actor"] == "admin" and f"districts: {NOWON};{ANSAN} → {NOWON};{YANGCHEON}" in detail["detail"]

    before = state(world, "junho")
    for data, field, words in (
        ({**form, "districts": [NOWON, "서울 없는구"]}, "districts", "is not a district of this network"),
        ({**form, "districts": []}, "districts", "at least one district"),
        ({**form, "gender": "x", "districts": [NOWON]}, "gender", "is not one of"),
        ({**form, "role": "boss", "districts": [NOWON]}, "role", "is not one of"),
    ):
        bad = client.post("/team/junho?lang=en", data=data)
        text = bad.get_data(as_text=True)
        assert bad.status_code == 400 and field in text and words in text, (field, text[:2000])
    korean = client.post("/team/junho?lang=ko", data={**form, "districts": []}).get_data(as_text=True)
    assert "구역" in korean  # the page's language
    assert state(world, "junho") == before

    own = client.post("/team/admin?lang=en", data={"csrf_token": token, "role": "visitor"})
    assert own.status_code == 409 and "your own role" in own.get_data(as_text=True)
    assert user(world, "admin")["role"] == "admin"
    # the account page of one's own sends one's role as it is: that is no change of it
    assert client.post("/team/admin", data={"csrf_token": token, "role": "admin", "gender": "f"}).status_code == 302
    assert user(world, "admin")["gender"] == "f"


# --- the pages: a coordinator --------------------------------------------------------------------


def test_a_coordinator_runs_the_visitors_of_their_districts_only(app, world):
    accounts.add_user(world, ACTOR, "sora", "visitor", [YANGCHEON], PASSWORD, "f")
    client = app.test_client()
    sign_in(client, "coord")  # 서울 노원구
    listing = client.get("/team?lang=en").get_data(as_text=True)
    assert "minji" in listing and "junho" in listing
    assert "sora" not in listing and "yeon" not in listing and "admin" not in listing
    assert "other districts: 1" in listing and ANSAN not in listing  # junho's other district: a count
    page = client.get("/team/junho?lang=en").get_data(as_text=True)
    assert ANSAN not in page and YANGCHEON not in page and 'name="role"' not in page
    for name in ("sora", "yeon", "admin", "coord", "nobody"):
        assert client.get(f"/team/{name}").status_code == 404, name
    assert events(world, action="team.manage", outcome="denied")

    token = csrf(client, "/team/junho")
    form = {"csrf_token": token, "districts_shown": "1", "gender": "m"}
    assert client.post("/team/junho", data={**form, "districts": [NOWON]}).status_code == 302
    assert (user(world, "junho")["gender"], user(world, "junho")["districts"]) == ("m", [NOWON, ANSAN])
    assert events(world, action="user.update", target="junho")[0]["actor"] == "coord"

    before = state(world, "junho")
    outside = client.post("/team/junho?lang=en", data={**form, "gender": "f", "districts": [NOWON, YANGCHEON]})
    assert outside.status_code == 400 and "is not one of your districts" in outside.get_data(as_text=True)
    # a role in the form is not the coordinator's to change: ignored, and refused by the API
    assert client.post("/team/junho", data={**form, "role": "admin", "districts": [NOWON]}).status_code == 302
    assert state(world, "junho") == before
    for name in ("sora", "yeon"):
        assert client.post(f"/team/{name}", data={**form, "districts": [NOWON]}).status_code == 404
        assert client.post(f"/team/{name}/reset-link", data={"csrf_token": token, "confirm": "yes"}).status_code == 404
    assert user(world, "sora")["gender"] == "f" and user(world, "yeon")["districts"] == [YANGCHEON]

    # taking their district away from a visitor of two: the visitor leaves the coordinator's team
    assert client.post("/team/junho", data=form).headers["Location"] == "/team?done=saved"
    assert user(world, "junho")["districts"] == [ANSAN]
    assert client.get("/team/junho").status_code == 404


def test_the_api_changes_an_account_as_the_policy_allows(app, world):
    admin, coord = api(app, "admin"), api(app, "coord")
    done = admin("/api/v1/users/junho", method="PATCH", json={"gender": "f", "add_districts": [YANGCHEON]})
    assert done.status_code == 200, done.json
    assert done.json["districts"] == [NOWON, ANSAN, YANGCHEON] and done.json["gender"] == "f"
    assert done.json["changed"] and events(world, action="user.update", target="junho")
    for body, field in (
        ({"gender": "x"}, "gender"),
        ({"districts": ["서울 없는구"]}, "districts"),
        ({"districts": []}, "districts"),
        ({"districts": "서울 노원구"}, "districts"),
        ({"enabled": None}, "enabled"),
        ({"nickname": "x"}, "nickname"),
    ):
        bad = admin("/api/v1/users/junho", method="PATCH", json=body)
        assert bad.status_code == 400 and bad.json["field"] == field, (body, bad.json)
    assert admin("/api/v1/users/admin", method="PATCH", json={"role": "visitor"}).json["code"] == "own_account"
    assert admin("/api/v1/users/nobody", method="PATCH", json={"gender": "f"}).status_code == 404

    mine = coord("/api/v1/users/junho", method="PATCH", json={"gender": "m"})
    assert mine.status_code == 200 and mine.json["districts"] == [NOWON] and mine.json["other_districts"] == 2
    assert coord("/api/v1/users/junho", method="PATCH", json={"role": "admin"}).status_code == 403
    assert coord("/api/v1/users/yeon", method="PATCH", json={"gender": "f"}).status_code == 404
    assert user(world, "junho")["role"] == "visitor"

    # disabling (admins): sessions and tokens end at once
    minji = api(app, "minji")
    assert minji("/api/v1/me").status_code == 200
    assert admin("/api/v1/users/minji", method="PATCH", json={"enabled": False}).status_code == 200
    assert minji("/api/v1/me").status_code == 401


# --- reset links -------------------------------------------------------------------------------


def _link(client, username: str) -> str:
    token = csrf(client, "/admin/users")
    page = client.post(f"/team/{username}/reset-link", data={"csrf_token": token, "confirm": "yes"})
    assert page.status_code == 200
    return re.search(r"/reset/(gr_[A-Za-z0-9_-]+)", page.get_data(as_text=True)).group(1)


def test_a_reset_link_sets_a_password_once_then_signs_in_with_the_code(app, world):
    admin = app.test_client()
    sign_in(admin, "admin")
    asked = admin.post("/team/coord/reset-link?lang=en", data={"csrf_token": csrf(admin, "/admin/users")})
    assert asked.status_code == 200 and "Yes, do it" in asked.get_data(as_text=True)  # a confirmation first
    assert not events(world, action="user.reset_link")
    token = _link(admin, "coord")
    assert events(world, action="user.reset_link", target="coord")
    assert token not in str([e["detail"] for e in events(world)])

    user_client = app.test_client()
    form = user_client.get(f"/reset/{token}?lang=en")
    assert form.status_code == 200 and "coord" in form.get_data(as_text=True)
    csrf_token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.get_data(as_text=True)).group(1)
    answer = user_client.post(
        f"/reset/{token}?lang=en",
        data={"csrf_token": csrf_token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD + "!"},
    )
    assert answer.status_code == 400 and "password_confirm" in answer.get_data(as_text=True)
    short = user_client.post(
        f"/reset/{token}?lang=en", data={"csrf_token": csrf_token, "password": "short", "password_confirm": "short"}
    )
    assert short.status_code == 400 and "12" in short.get_data(as_text=True)
    done = user_client.post(
        f"/reset/{token}", data={"csrf_token": csrf_token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert not accounts.authenticate(world, "coord", PASSWORD, "1.2.3.4", "t").ok
    signed = sign_in(app.test_client(), "coord", NEW_PASSWORD, totp=False)
    assert "/login/totp" in signed.headers["Location"]  # the second factor as usual
    assert events(world, action="user.password_reset", target="coord")[0]["detail"] == "by reset link"

    again = user_client.get(f"/reset/{token}?lang=en")
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    reused = user_client.post(
        f"/reset/{token}", data={"csrf_token": csrf_token, "password": PASSWORD + "x", "password_confirm": PASSWORD}
    )
    assert reused.status_code == 410 and accounts.authenticate(world, "coord", NEW_PASSWORD, "1.2.3.4", "t").ok
    wrong = user_client.get("/reset/gr_" + "A" * 43 + "?lang=en")
    assert wrong.status_code == 404 and "not valid" in wrong.get_data(as_text=True)
    assert user_client.get("/reset/x").status_code == 404
    assert events(world, action="user.reset_link_refused", outcome="denied")


def test_a_reset_link_expires_and_a_newer_one_voids_it(app, world):
    client = app.test_client()
    expired, _ = team.create_reset_link(world, ADMIN, ACTOR, "minji", 0)
    page = client.get(f"/reset/{expired}?lang=en")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    first, _ = team.create_reset_link(world, ADMIN, ACTOR, "minji", 3600)
    second, _ = team.create_reset_link(world, ADMIN, ACTOR, "minji", 3600)
    assert client.get(f"/reset/{first}").status_code == 404
    assert client.get(f"/reset/{second}").status_code == 200
    with pytest.raises(Refused, match="reset link unknown"):
        team.use_reset_link(world, first, NEW_PASSWORD, "1.2.3.4", "t")
    # the default lifetime is GRAPHSVC_RESET_LINK_HOURS (24)
    admin = app.test_client()
    sign_in(admin, "admin")
    _link(admin, "junho")
    until = to_datetime(team.get_account(world, ADMIN, "junho")["reset_until"])
    assert until is not None and 23.9 < (until - dt.datetime.now(dt.UTC)).total_seconds() / 3600 <= 24


# --- confirmation and landing -------------------------------------------------------------------


def test_disable_revoke_and_reset_ask_for_a_confirmation_first(app, world):
    client = app.test_client()
    sign_in(client, "admin")
    token = csrf(client, "/admin/users")
    minji_token = accounts.create_token(world, ACTOR, "minji", 1)
    for verb in ("disable", "revoke-tokens", "reset-totp"):
        for name in ("minji", "coord"):
            asked = client.post(f"/admin/users/{name}/{verb}?lang=en", data={"csrf_token": token})
            page = asked.get_data(as_text=True)
            assert asked.status_code == 200 and 'name="confirm" value="yes"' in page and name in page
    assert user(world, "minji")["enabled"] and user(world, "coord")["totp_enabled"]
    assert accounts.token_subject(world, minji_token) is not None
    assert (
        client.post("/admin/users/minji/revoke-tokens", data={"csrf_token": token, "confirm": "yes"}).status_code == 302
    )
    assert accounts.token_subject(world, minji_token) is None
    assert client.post("/admin/users/minji/disable", data={"csrf_token": token, "confirm": "yes"}).status_code == 302
    assert not user(world, "minji")["enabled"]
    assert client.post("/admin/users/minji/enable", data={"csrf_token": token}).status_code == 302  # not destructive
    assert user(world, "minji")["enabled"]


@pytest.mark.parametrize(
    "username,landing", [("admin", "/admin/audit"), ("coord", "/dispatch"), ("minji", "/suggestions")]
)
def test_each_role_lands_on_its_own_page_after_sign_in(app, world, username, landing):
    client = app.test_client()
    signed = sign_in(client, username)
    assert signed.status_code == 302 and signed.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == landing
    # an explicit next still wins, and a pending second factor lands nowhere yet
    pending = app.test_client()
    first = sign_in(pending, username, totp=False)
    if "/login/totp" in first.headers["Location"]:
        assert pending.get("/").status_code == 200


# --- in a real Chromium ------------------------------------------------------------------------

CHROMIUM = os.environ.get("GRAPHSVC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"


@pytest.mark.browser
def test_a_coordinator_sets_a_visitors_gender_and_hands_over_a_reset_link_in_chromium(server, db, small):
    """The coordinator signs in (lands on the desk's path), opens their team, gives junho a
    gender and a reset link (after a confirmation); junho opens the link on a phone, sets a
    password, signs in and lands on their next households."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    import pyotp
    from playwright.sync_api import sync_playwright

    from .helpers import import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "coord", "coordinator", [NOWON], PASSWORD, adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord", keyring().encrypt(secret, "User", "coord", "totp_secret"), True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = chromium.new_page(locale="ko-KR")
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server + "/login")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/login/totp**")
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("main button[type=submit]")
        page.wait_for_url("**/dispatch")  # the desk (another part of issue 13 builds the page)
        page.goto(server + "/team")
        assert "미지정: 여성 전용 가정을 받지 못함" in page.locator("main").inner_text()
        page.click("a[href='/team/junho']")
        page.check("input[name=gender][value=m]")
        page.click("main form.card button[type=submit]")
        page.wait_for_url("**/team/junho?done=saved")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "team-account-ko.png"), full_page=True)
        page.click("text=비밀번호 재설정 링크 만들기")
        page.wait_for_selector("text=예, 진행합니다")  # the confirmation, nothing made yet
        assert not events(db, action="user.reset_link")
        page.click("text=예, 진행합니다")
        page.screenshot(path=str(ARTIFACTS / "reset-link-ko.png"), full_page=True)
        link = page.locator("#reset-link").inner_text()
        assert link.startswith(server + "/reset/gr_")
        assert user(db, "junho")["gender"] == "m"

        phone = chromium.new_context(locale="ko-KR", viewport={"width": 390, "height": 844}).new_page()
        phone.goto(link)
        phone.fill("input[name=password]", NEW_PASSWORD)
        phone.fill("input[name=password_confirm]", NEW_PASSWORD)
        phone.click("main button[type=submit]")
        phone.wait_for_selector("text=비밀번호가 설정되었습니다")
        phone.click("main a.button")
        phone.fill("input[name=username]", "junho")
        phone.fill("input[name=password]", NEW_PASSWORD)
        phone.click("main button[type=submit]")
        phone.wait_for_url("**/suggestions")
        phone.goto(link)
        assert "이미 사용된 링크입니다" in phone.locator("main").inner_text()
        chromium.close()
    assert all(url.startswith(server + "/") for url in requested), requested
