"""The materials ledger in a real Chromium, on a phone: a coordinator records stock coming in
and Bibles issued to a visitor through the form, reads the balances, and the visitor sees her
own materials on her page; nothing wider than the screen, nothing requested elsewhere."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from graphsvc import accounts, suggest

from .helpers import ACTOR, PASSWORD, import_folder, keyring

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"
PHONE = {"width": 390, "height": 844}


def _sign_in(page, server: str, path: str, username: str, secret: str | None = None) -> None:
    page.goto(server + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    if secret:
        page.wait_for_url("**/login/totp**")
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("main button[type=submit]")
    page.wait_for_url(f"**{path}**")


def test_a_coordinator_keeps_the_ledger_on_a_phone(server, browser, db, small):
    assert import_folder(db, small).ok
    suggest.refresh_visit_summary(db)
    accounts.add_user(db, ACTOR, "coord1", "coordinator", ["서울 노원구"], PASSWORD)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord1", keyring().encrypt(secret, "User", "coord1", "totp_secret"), True)
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(locale="ko-KR", viewport=PHONE)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _sign_in(page, server, "/materials", "coord1", secret)
    assert page.locator("h1").inner_text() == "자료"
    form = page.locator("#movement-form")
    form.locator("select[name=kind]").select_option("received")
    form.locator("select[name=item]").select_option("bible")
    form.locator("input[name=qty]").fill("12")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**done=recorded**")
    assert "기록했습니다" in page.locator("#materials-notice").inner_text()
    form = page.locator("#movement-form")
    form.locator("select[name=kind]").select_option("issued")
    form.locator("select[name=item]").select_option("bible")
    form.locator("input[name=qty]").fill("5")
    form.locator("select[name=holder]").select_option("mina")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**done=recorded**")
    assert page.locator('#stock tr[data-item="bible"] td.qty').inner_text() == "7"
    assert "5" in page.locator('#holders tr[data-holder="mina"] td[data-item="bible"]').inner_text()
    # a write-off without a reason: refused in Korean, naming the field, nothing recorded
    form = page.locator("#movement-form")
    form.locator("select[name=kind]").select_option("written_off")
    form.locator("input[name=qty]").fill("1")
    form.locator("button[type=submit]").click()
    assert "reason" in page.locator("#materials-error").inner_text()
    assert "사유" in page.locator("#materials-error").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.goto(server + "/materials")
    assert page.locator('#stock tr[data-item="bible"] td.qty').inner_text() == "7"
    page.screenshot(path=str(ARTIFACTS / "materials-ko.png"), full_page=True)

    field = browser.new_page(locale="ko-KR", viewport=PHONE)
    field.on("request", lambda request: requested.append(request.url))
    _sign_in(field, server, "/suggestions", "mina")
    mine = field.locator("#my-materials").inner_text()
    assert "내 자료" in mine and "성경: 5" in mine
    assert field.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert all(url.startswith(server) for url in requested), [u for u in requested if not u.startswith(server)]
