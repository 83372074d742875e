"""Issue 15 §3 in a real Chromium: the account's sessions on a phone (Korean), an admin's
freeze at desktop size (English) and on a phone, and the frozen phone's next page: sent to
sign in with this site's cookies and storage cleared (Clear-Site-Data)."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from graphsvc import accounts

from .helpers import ACTOR, PASSWORD, import_folder, keyring

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _fits(page) -> bool:
    """No horizontal scrolling: nothing is wider than the screen."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _sign_in(page, server: str, username: str, path: str, secret: str | None = None) -> None:
    page.goto(server + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if secret:
        page.wait_for_url("**/login/totp**")
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("main button[type=submit]")


def test_sessions_on_a_phone_and_a_freeze_that_clears_the_phone(server, browser, db, small):
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD, "f", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    ARTIFACTS.mkdir(exist_ok=True)

    phone = browser.new_context(locale="ko-KR", viewport=PHONE)
    other = browser.new_context(locale="ko-KR", viewport=PHONE)  # the same visitor on a second device
    page, second = phone.new_page(), other.new_page()
    _sign_in(second, server, "minji", "/suggestions?lang=ko")
    _sign_in(page, server, "minji", "/suggestions?lang=ko")
    page.wait_for_url("**/suggestions**")
    page.click("header a.who")  # the account, from the header
    page.wait_for_url("**/account")
    assert page.locator("li.session").count() == 2
    assert page.locator("li.session.current .badge").inner_text() == "이 기기"
    assert _fits(page)
    page.screenshot(path=str(ARTIFACTS / "account-phone-ko.png"), full_page=True)
    page.get_by_role("button", name="다른 곳에서 모두 로그아웃").click()
    page.wait_for_url("**/account?done=others")
    assert page.locator("li.session").count() == 1
    second.goto(server + "/suggestions")
    assert "/login" in second.url  # the other device was signed out
    page.evaluate("localStorage.setItem('draft', '메모')")

    desk = browser.new_context(locale="en-US", viewport=DESKTOP)
    admin = desk.new_page()
    _sign_in(admin, server, "admin", "/admin/users?lang=en", secret)
    admin.wait_for_url("**/admin/users**")
    admin.locator("tr", has_text="minji").get_by_role("link", name="Freeze…").click()
    admin.wait_for_url("**/users/minji/freeze")
    assert _fits(admin)
    admin.screenshot(path=str(ARTIFACTS / "freeze-desktop-en.png"), full_page=True)
    admin.set_viewport_size(PHONE)
    admin.goto(server + "/users/minji/freeze?lang=ko")
    assert _fits(admin) and "계정 동결" in admin.locator("h1").inner_text()
    admin.screenshot(path=str(ARTIFACTS / "freeze-phone-ko.png"), full_page=True)
    admin.fill("textarea[name=reason]", "휴대폰 분실 신고")
    admin.get_by_role("button", name="지금 동결").click()
    admin.wait_for_url("**/admin/users**")
    assert "동결됨" in admin.locator("tr", has_text="minji").inner_text()

    page.goto(server + "/account")  # the frozen phone's next page
    assert "/login" in page.url
    assert not [c for c in phone.cookies() if c["name"] == "gs_session"]
    assert page.evaluate("localStorage.getItem('draft')") is None  # Clear-Site-Data: storage
    page.fill("input[name=username]", "minji")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("p.error").inner_text() == "사용자 이름 또는 비밀번호가 잘못되었습니다."
    for context in (phone, other, desk):
        context.close()
