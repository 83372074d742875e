"""A partner in a real Chromium (issue 16 §1): a coordinator shares a household with the
partner's organisation from its page; the partner, on a phone, signs in with her second
factor, finds it among her next households, claims it, sees the address, reports the visit;
the coordinator's desk then shows her visit. Every request stays on the server."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from graphsvc import accounts

from .helpers import ACTOR, PASSWORD, TOTP_SECRET, add_partner, import_folder, keyring

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
ORG = "새희망선교회"


def _watch(page) -> tuple[list[str], list[str]]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return requested, errors


def _sign_in(page, server: str, path: str, username: str) -> None:
    page.goto(server + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(TOTP_SECRET).now())
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}**")


def test_a_partner_on_a_phone_claims_a_shared_household_and_reports_a_visit(server, browser, db, small):
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], PASSWORD, adopt=True)
    accounts.set_totp(db, ACTOR, "coord", keyring().encrypt(TOTP_SECRET, "User", "coord", "totp_secret"), True)
    add_partner(db, "hana", ORG)
    ARTIFACTS.mkdir(exist_ok=True)

    # the coordinator shares H-002 from its page
    desk = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    coord = desk.new_page()
    coord_requests, coord_errors = _watch(coord)
    _sign_in(coord, server, "/households/h-002", "coord")
    coord.select_option("#shares select[name=org]", ORG)
    coord.locator("#shares").get_by_role("button", name="공유", exact=True).click()
    coord.wait_for_url("**done=shared**")
    assert ORG in coord.locator("#shares li").inner_text()
    coord.screenshot(path=str(ARTIFACTS / "partner-share-ko.png"), full_page=True)

    # the partner, on a phone
    phone = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844})
    page = phone.new_page()
    requested, errors = _watch(page)
    _sign_in(page, server, "/suggestions", "hana")
    nav = page.locator("nav.user").inner_text()
    assert "다음 방문 가정" in nav and "네트워크 지도" not in nav and "계정 관리" not in nav
    cards = page.locator("li.suggestion h2 a")
    assert cards.all_inner_texts() == ["H-002"]  # only what is shared with her organisation
    page.screenshot(path=str(ARTIFACTS / "partner-suggestions-phone-ko.png"), full_page=True)
    cards.first.click()
    page.wait_for_url("**/households/h-002**")
    page.get_by_role("button", name="맡기").click()
    page.wait_for_url("**claimed=1**")
    page.get_by_role("button", name="주소 보기").click()
    page.wait_for_load_state()
    assert "서울 노원구 동일로 200" in page.locator("section.contact").inner_text()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0

    page.get_by_role("link", name="방문 보고").first.click()
    page.wait_for_url("**/visits/new?household_id=H-002**")
    page.check("input[name=outcome][value=met]")
    page.get_by_role("button", name="다음").locator("visible=true").click()
    page.locator("label.chip", has_text="은행나무").click()
    page.get_by_role("button", name="다음").locator("visible=true").click()
    page.fill("input[name=materials_bible]", "1")
    page.get_by_role("button", name="다음").locator("visible=true").click()
    page.get_by_role("button", name="다음").locator("visible=true").click()
    page.fill("textarea[name=notes]", "함께 성경을 읽음")
    page.screenshot(path=str(ARTIFACTS / "partner-report-phone-ko.png"), full_page=True)
    page.get_by_role("button", name="보고 저장").click()
    page.wait_for_url("**/history**")
    assert "H-002" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "partner-history-phone-ko.png"), full_page=True)
    assert not errors, errors  # (the refusals below are logged by the browser as failed loads)
    # never the map, never a household that is not shared with her
    assert page.goto(server + "/map").status == 403
    assert page.goto(server + "/households/h-001").status == 404

    # the coordinator's desk shows her visit
    coord.goto(server + "/dispatch")
    section = coord.locator("#partners").inner_text()
    assert ORG in section and "hana" in section and "H-002" in section
    coord.screenshot(path=str(ARTIFACTS / "partner-desk-ko.png"), full_page=True)

    for urls in (requested, coord_requests):
        assert all(url.startswith(server + "/") for url in urls), urls
    assert not coord_errors, coord_errors
    phone.close()
    desk.close()
