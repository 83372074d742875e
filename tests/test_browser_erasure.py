"""The erasure page (web/erasure.py) in a real Chromium: Korean at desktop width, English
on a phone; refused without a good reason, then done; no table or form wider than the screen."""

from __future__ import annotations

import pytest

from .test_browser import ARTIFACTS, _watch

pytestmark = pytest.mark.browser


def _sign_in(page, server: str, path: str, secret: str) -> None:
    import pyotp

    page.goto(server + path)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**" + path.split("?")[0] + "**")


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize(
    "lang,viewport,kind,record_id,words",
    [
        ("ko", {"width": 1280, "height": 900}, "household", "h-001", ("가정 삭제", "사유", "삭제했습니다")),
        ("en", {"width": 390, "height": 844}, "person", "p-003", ("Erase a person", "Reason", "Erased.")),
    ],
)
def test_an_admin_erases_from_the_confirmation_page(server, browser, db, small, lang, viewport, kind, record_id, words):
    import pyotp

    from graphsvc import accounts, audit

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport=viewport)
    page = context.new_page()
    requested, errors = _watch(page)
    path = f"/admin/erase/{kind}/{record_id}?lang={lang}"
    _sign_in(page, server, path, secret)
    title, reason_label, done = words
    assert title in page.locator("h1").inner_text()
    assert reason_label in page.locator("form.erase label").inner_text()
    assert _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"erase-{lang}-{viewport['width']}.png"), full_page=True)
    # too short a reason: refused, the form again with the reason named, nothing erased
    page.fill("textarea[name=reason]", "삭제")
    page.click("form.erase button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#reason-error").is_visible() and _fits(page)
    assert not audit.query(db, action="erased")
    page.fill("textarea[name=reason]", "본인이 삭제를 요청함")
    page.click("form.erase button[type=submit]")
    page.wait_for_load_state()
    assert done in page.locator("main").inner_text() and _fits(page)
    page.screenshot(path=str(ARTIFACTS / f"erased-{lang}-{viewport['width']}.png"), full_page=True)
    assert [e["targets"] for e in audit.query(db, action="erased")][0][0] in (record_id, "p-001")
    assert all(url.startswith(server + "/") for url in requested), requested
    assert not [e for e in errors if "status of 400" not in e], errors  # the refused reason's 400 only
    context.close()
