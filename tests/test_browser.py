"""The app as a person sees it: gunicorn serving, a real headless Chromium looking.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run); Playwright drives it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"


def _watch(page) -> tuple[list[str], list[str]]:
    """Every URL the page requests, and every console error, as they happen."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return requested, errors


def test_start_page_renders_in_both_languages_and_requests_only_the_server(server, browser):
    page = browser.new_page(locale="ko-KR", viewport={"width": 390, "height": 844})  # a phone
    requested, errors = _watch(page)

    page.goto(server + "/")
    assert page.locator("h1").inner_text() == "방문 네트워크"
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 248, 250)"  # CSS loaded
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "start-ko.png"), full_page=True)

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Visitation network"
    page.screenshot(path=str(ARTIFACTS / "start-en.png"), full_page=True)

    page.goto(server + "/")  # the choice sticks
    assert page.locator("h1").inner_text() == "Visitation network"

    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    page.close()


def test_admin_signs_in_with_totp_and_reads_the_audit_log(server, browser, db, small):
    import pyotp

    from graphsvc import accounts

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)

    page = browser.new_page(locale="ko-KR", viewport={"width": 1280, "height": 900})
    requested, errors = _watch(page)

    page.goto(server + "/admin/audit")  # signed out: sent to sign in
    assert "/login" in page.url
    page.screenshot(path=str(ARTIFACTS / "login-ko.png"))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/audit**")
    assert "체인 정상" in page.locator(".chain").inner_text()
    assert page.locator("table.events tbody tr").count() >= 3  # import, sign-in, second factor
    page.screenshot(path=str(ARTIFACTS / "audit-ko.png"), full_page=True)
    page.click("text=계정 관리")
    page.wait_for_url("**/admin/users")
    assert page.locator("table.events tbody tr").count() >= 4
    page.screenshot(path=str(ARTIFACTS / "users-ko.png"), full_page=True)
    assert all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    page.close()


def _node_click(page, node_id: str) -> None:
    """Click a node of the map where vis-network drew it."""
    page.locator("#map-canvas").scroll_into_view_if_needed()  # the filters above may push it below the screen
    point = page.evaluate(
        "id => { const n = window.graphsvcMap.network; return n.canvasToDOM(n.getPositions([id])[id]); }", node_id
    )
    box = page.locator("#map-canvas").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def test_coordinator_map_draws_clicks_and_requests_only_the_server(server, browser, db, small):
    import pyotp

    from graphsvc import accounts

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord", keyring().encrypt(secret, "User", "coord", "totp_secret"), True)

    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    requested, errors = _watch(page)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(server + "/map")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/map")
    page.wait_for_function("document.body.dataset.mapReady === '1'", timeout=10_000)
    # h-001, h-002, h-005 of 노원, and one placeholder each for the 양천 and 안산 households
    assert page.locator("#map-canvas").get_attribute("data-nodes-drawn") == "5"

    _node_click(page, "h-005")  # its member's code name is an XSS attempt
    page.wait_for_function("document.getElementById('map-canvas').dataset.selected === 'h-005'")
    assert page.locator("#map-details-members li").all_inner_texts() == ["<img src=x onerror=alert(1)>"]
    assert page.locator("#map-details-title").inner_text() == "<img src=x onerror=alert(1)>"
    assert page.locator("main img").count() == 0
    link = page.locator("#map-details-link")
    assert link.get_attribute("href") == "/households/h-005" and link.is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-coordinator.png"), full_page=True)

    placeholder = page.evaluate(
        "Object.entries(JSON.parse(document.getElementById('map-data').textContent).details)"
        ".filter(([k, d]) => d.kind === 'placeholder').map(([k]) => k)[0]"
    )
    _node_click(page, placeholder)
    page.wait_for_function(f"document.getElementById('map-canvas').dataset.selected === '{placeholder}'")
    assert "another district" in page.locator("#map-details-title").inner_text()
    assert not page.locator("#map-details-link").is_visible()

    link.wait_for(state="hidden")
    _node_click(page, "h-005")
    page.wait_for_function("document.getElementById('map-canvas').dataset.selected === 'h-005'")
    page.click("#map-details-link")
    page.wait_for_url("**/households/h-005")
    assert page.locator("h1").inner_text().startswith("<img src=x onerror=alert(1)>")

    assert not dialogs, dialogs
    assert not errors, errors
    assert requested and all(url.startswith(server + "/") for url in requested), [
        u for u in requested if not u.startswith(server + "/")
    ]
    page.close()


WORDS = {
    "ko": {
        "claim": "맡기",
        "show": "주소 보기",
        "report": "방문 보고",
        "next": "다음",
        "add": "+ 가정 하나 더",
        "save": "보고 저장",
        "waiting": "검토 대기",
    },
    "en": {
        "claim": "Claim",
        "show": "Show address",
        "report": "Report a visit",
        "next": "Next",
        "add": "+ another household",
        "save": "Save the report",
        "waiting": "waiting for review",
    },
}


def _step_fits(page, shot: Path) -> None:
    """The visible step of the report fits the phone's screen (no scrolling to its end)."""
    page.screenshot(path=str(shot))
    box = page.locator("fieldset.step:visible").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, (shot.name, box)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_visitor_on_a_phone_walks_the_field_loop(server, browser, db, small, lang):
    """Claim → show the address → report with one new member and two introductions → the
    history shows both pending → the address is gone after the report; at 390×844, with
    every step of the report on one screen, nothing kept in the browser's storage."""
    from graphsvc import accounts

    from .helpers import ACTOR, import_folder

    w = WORDS[lang]
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], "correct horse battery", "f")
    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    requested, errors = _watch(page)
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(server + f"/suggestions?lang={lang}")
    page.fill("input[name=username]", "mina")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/suggestions**")
    page.screenshot(path=str(ARTIFACTS / f"suggestions-phone-{lang}.png"), full_page=True)
    page.locator("li.suggestion h2 a", has_text="H-001").click()
    page.wait_for_url("**/households/h-001**")
    page.get_by_role("button", name=w["claim"]).click()
    page.wait_for_url("**claimed=1**")
    page.get_by_role("button", name=w["show"]).click()
    page.wait_for_load_state()
    contact = page.locator("section.contact")
    assert "서울 노원구 상계로 1" in contact.inner_text() and "010-1234-5678" in contact.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"contact-phone-{lang}.png"), full_page=True)
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("navigator.serviceWorker ? navigator.serviceWorker.controller : null") is None

    page.get_by_role("link", name=w["report"]).first.click()
    page.wait_for_url("**/visits/new?household_id=H-001**")
    page.check("input[name=outcome][value=met]")
    _step_fits(page, ARTIFACTS / f"report-1-phone-{lang}.png")
    page.get_by_role("button", name=w["next"]).locator("visible=true").click()
    page.locator("label.chip", has_text="들국화").click()
    page.fill("input[name=new_members-0-code_name]", "아침해")
    _step_fits(page, ARTIFACTS / f"report-2-phone-{lang}.png")
    page.get_by_role("button", name=w["next"]).locator("visible=true").click()
    page.fill("input[name=materials_bible]", "1")
    _step_fits(page, ARTIFACTS / f"report-3-phone-{lang}.png")
    page.get_by_role("button", name=w["next"]).locator("visible=true").click()
    page.select_option("select[name=introductions-0-introducer_id]", "p-001")
    page.fill("input[name=introductions-0-code_name]", "들꽃")
    page.select_option("select[name=introductions-0-relation]", "family")
    page.fill("input[name=introductions-0-district]", "서울 노원구")
    _step_fits(page, ARTIFACTS / f"report-4-phone-{lang}.png")
    page.get_by_role("button", name=w["add"]).click()  # the page comes back at this step with one more row
    page.wait_for_selector("select[name=introductions-1-introducer_id]:visible")
    assert page.input_value("input[name=introductions-0-code_name]") == "들꽃"
    page.select_option("select[name=introductions-1-introducer_id]", "p-002")
    page.fill("input[name=introductions-1-code_name]", "솔바람")
    page.select_option("select[name=introductions-1-relation]", "friend")
    page.fill("input[name=introductions-1-district]", "서울 노원구")
    page.get_by_role("button", name=w["next"]).locator("visible=true").click()
    page.fill("textarea[name=notes]", "잘 지내심")
    _step_fits(page, ARTIFACTS / f"report-5-phone-{lang}.png")
    # the other language, mid-form: the same report comes back in it, nothing typed lost
    other = "en" if lang == "ko" else "ko"
    page.click(f"nav.lang a[data-lang={other}]")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.lang") == other
    assert page.input_value("textarea[name=notes]") == "잘 지내심"
    assert page.input_value("input[name=introductions-1-code_name]") == "솔바람"
    assert page.is_checked("input[name=met][value=p-001]")
    for _ in range(4):
        page.get_by_role("button", name=WORDS[other]["next"]).locator("visible=true").click()
    page.get_by_role("button", name=WORDS[other]["save"]).click()
    page.wait_for_url("**/history**")
    brought = page.locator("li.brought")
    assert brought.count() == 2
    text = " ".join(brought.all_inner_texts())
    assert "들꽃" in text and "솔바람" in text and text.count(WORDS[other]["waiting"]) == 2
    page.screenshot(path=str(ARTIFACTS / f"history-phone-{lang}.png"), full_page=True)

    page.goto(server + "/households/h-001")
    assert "상계로" not in page.content()  # the claim ended with the report: no address, no button
    assert page.get_by_role("button", name=WORDS[other]["show"]).count() == 0
    page.go_back()
    assert not errors, errors
    assert all(url.startswith(server + "/") for url in requested), requested
    context.close()
