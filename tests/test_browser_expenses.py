"""Issue 16 §3 in a real Chromium: a partner on a phone submits an expense with a receipt
photo; a coordinator approves it from the desk; the partner's monthly report shows it."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from .helpers import PASSWORD, TOTP_SECRET, add_partner, import_small, jpeg_with_exif, keyring

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
PHONE = {"width": 390, "height": 844}


def _watch(page) -> tuple[list[str], list[str]]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return requested, errors


# the elements that reach past the screen's right edge (what a failed _fits names)
WIDER_THAN_THE_SCREEN = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth)
  .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 10)"""


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _sign_in(page, server: str, username: str, path: str) -> None:
    page.goto(server + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(TOTP_SECRET).now())
    page.click("main button[type=submit]")


def test_a_partner_submits_on_a_phone_and_a_coordinator_approves(server, browser, db, small):
    import_small(db, small, keyring())
    add_partner(db, "hana", "새희망선교회")
    ARTIFACTS.mkdir(exist_ok=True)

    phone = browser.new_context(locale="ko-KR", viewport=PHONE)
    page = phone.new_page()
    requested, errors = _watch(page)
    _sign_in(page, server, "hana", "/expenses/new?lang=ko")
    page.wait_for_url("**/expenses/new**")
    assert page.locator("h1").inner_text() == "새 지출"
    page.fill("input[name=amount]", "32,000")
    page.select_option("select[name=category]", "transport")
    page.fill("textarea[name=description]", "노원구 방문 교통비")
    page.set_input_files(
        "input[name=receipts]", files=[{"name": "영수증.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_exif()}]
    )
    page.screenshot(path=str(ARTIFACTS / "expense-new-phone-ko.png"), full_page=True)
    wide = page.evaluate(WIDER_THAN_THE_SCREEN)
    assert _fits(page), wide
    page.click("#submit-expense")
    page.wait_for_url("**/expenses/x-**submitted=1**")
    assert page.locator("#expense-status").inner_text() == "제출됨"
    assert page.locator("#expense-amount").inner_text() == "32,000"
    receipt = page.locator("ul.receipts img").first
    receipt.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('ul.receipts img').complete")
    assert page.evaluate("document.querySelector('ul.receipts img').naturalWidth") > 0  # the image is served
    assert page.locator("#approve-form").count() == 0  # not hers to decide
    assert _fits(page)
    page.screenshot(path=str(ARTIFACTS / "expense-submitted-phone-ko.png"), full_page=True)
    expense_url = page.url.split("?")[0]

    desk = browser.new_context(locale="ko-KR", viewport=PHONE)
    coord = desk.new_page()
    coord_requested, coord_errors = _watch(coord)
    _sign_in(coord, server, "coord", "/dispatch?lang=ko")
    coord.wait_for_url("**/dispatch**")
    section = coord.locator("#desk-expenses")
    assert "승인할 지출" in section.inner_text() and "hana" in section.inner_text()
    section.locator("tr.expense-row a").first.click()
    coord.wait_for_url(expense_url + "**")
    coord.fill("#approve-form input[name=reason]", "영수증 확인")
    assert _fits(coord)
    coord.click("#approve")
    coord.wait_for_url("**done=approve**")
    assert coord.locator("#expense-status").inner_text() == "승인됨"
    assert "영수증 확인" in coord.locator("#history").inner_text()
    coord.screenshot(path=str(ARTIFACTS / "expense-approved-phone-ko.png"), full_page=True)

    # the partner's monthly report (printable) shows it, approved
    page.goto(server + "/partners/hana/report?lang=ko")
    report = page.locator("#report-expenses").inner_text()
    assert "32,000" in report and "승인됨" in report
    assert _fits(page)
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "partner-report-print-ko.png"), full_page=True)

    for urls in (requested, coord_requested):
        assert urls and all(url.startswith(server + "/") for url in urls), urls
    assert not errors and not coord_errors, (errors, coord_errors)
    phone.close()
    desk.close()
