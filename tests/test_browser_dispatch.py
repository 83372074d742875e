"""The coordinator's desk in a real Chromium, on a phone: assign a household, see it top the
visitor's list, the visitor declines it, the desk shows why; nothing requested elsewhere."""

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


def _watch(page) -> tuple[list[str], list[str]]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return requested, errors


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


def test_a_coordinator_assigns_on_a_phone_and_it_tops_the_visitors_list(server, browser, db, small):
    assert import_folder(db, small).ok
    suggest.refresh_visit_summary(db)
    accounts.add_user(db, ACTOR, "coord1", "coordinator", ["서울 노원구"], PASSWORD)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord1", keyring().encrypt(secret, "User", "coord1", "totp_secret"), True)
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    ARTIFACTS.mkdir(exist_ok=True)

    desk = browser.new_page(locale="ko-KR", viewport=PHONE)
    requested, errors = _watch(desk)
    _sign_in(desk, server, "/dispatch", "coord1", secret)
    assert desk.locator("h1").inner_text() == "방문 배정"
    row = desk.locator("#need-h-001")
    row.locator("select[name=visitor]").select_option("mina")
    row.locator("input[name=reason]").fill("집이 가까움")
    row.locator("button[type=submit]", has_text="배정").click()
    desk.wait_for_url("**done=assigned**")
    assert "배정했습니다" in desk.locator("p.note").inner_text()
    assert "mina" in desk.locator("#need-h-001").inner_text()
    # usable on a phone: nothing wider than the screen
    assert desk.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    desk.screenshot(path=str(ARTIFACTS / "dispatch-ko.png"), full_page=True)

    field = browser.new_page(locale="ko-KR", viewport=PHONE)
    field_requested, field_errors = _watch(field)
    _sign_in(field, server, "/suggestions", "mina")
    first = field.locator("li.suggestion").first
    assert "H-001" in first.locator("h2").inner_text()
    assert "coord1" in first.inner_text() and "집이 가까움" in first.inner_text()
    field.screenshot(path=str(ARTIFACTS / "suggestions-assigned-ko.png"), full_page=True)
    first.locator("summary").click()
    first.locator("input[name=reason]").fill("이번 주는 시험 기간")
    first.locator("details button[type=submit]").click()
    field.wait_for_url("**declined=1**")
    assert "거절했습니다" in field.locator("p.note").inner_text()

    desk.goto(server + "/dispatch?lang=en")
    declined = desk.locator("tr.decline-row").first.inner_text()
    assert "mina" in declined and "이번 주는 시험 기간" in declined
    desk.screenshot(path=str(ARTIFACTS / "dispatch-en.png"), full_page=True)

    for urls in (requested, field_requested):
        assert urls and all(url.startswith(server + "/") for url in urls), urls
    assert not errors and not field_errors, errors + field_errors
    desk.close()
    field.close()
