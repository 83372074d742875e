"""The emergency (duress) password in a real Chromium, served by gunicorn: a visitor sets
it on their account page, then signing in with it shows the ordinary pages, empty; in
Korean and English, at desktop and phone width, nothing wider than the screen."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
PASSWORD = "correct horse battery"
DURESS = "파란 우산 아래 서 있다"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
WORDS = {
    "en": {"set": "Set the emergency password", "has": "You have an emergency password.", "none": "Nothing to suggest"},
    "ko": {"set": "비상 비밀번호 정하기", "has": "비상 비밀번호가 있습니다.", "none": "지금은 추천할 가정이 없습니다"},
}


def _sign_in(page, server: str, lang: str, password: str) -> None:
    page.goto(server + f"/login?lang={lang}")
    page.fill("input[name=username]", "mina")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/suggestions**")


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_setting_the_emergency_password_and_signing_in_with_it(server, browser, db, small, lang, size):
    from graphsvc import accounts, audit

    from .helpers import ACTOR, import_folder

    w = WORDS[lang]
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    ARTIFACTS.mkdir(exist_ok=True)
    requested: list[str] = []
    errors: list[str] = []

    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport=SIZES[size])
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, server, lang, PASSWORD)
    assert page.locator("li.suggestion").count() > 0  # the real account has suggestions
    page.click("a[href='/account/duress']")
    page.wait_for_url("**/account/duress**")
    _fits(page)
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=duress_password]", "짧다")
    page.fill("input[name=duress_password_again]", "짧다")
    page.evaluate("document.querySelectorAll('input').forEach(i => i.removeAttribute('minlength'))")
    page.get_by_role("button", name=w["set"]).click()
    page.wait_for_load_state()
    assert page.locator("#error-duress_password").is_visible()  # named beside its field
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"duress-error-{size}-{lang}.png"), full_page=True)
    errors.clear()  # the refused form is answered 400 on purpose, which Chromium logs
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=duress_password]", DURESS)
    page.fill("input[name=duress_password_again]", DURESS)
    page.get_by_role("button", name=w["set"]).click()
    page.wait_for_url("**done=set**")
    assert w["has"] in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"duress-set-{size}-{lang}.png"), full_page=True)
    context.close()

    # someone else's hands: the emergency password, a fresh browser
    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport=SIZES[size])
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    _sign_in(page, server, lang, DURESS)
    assert page.locator("li.suggestion").count() == 0
    assert w["none"] in page.locator("main").inner_text()
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"duress-empty-{size}-{lang}.png"), full_page=True)
    page.click("a[href='/history']")
    page.wait_for_url("**/history**")
    assert page.locator("li.suggestion").count() == 0
    _fits(page)
    context.close()

    assert audit.query(db, action="alert.duress")
    assert requested and all(url.startswith(server + "/") for url in requested)
    assert not errors, errors
