"""The household desk in a real Chromium (gunicorn serving): a coordinator removes an
introducer on the desk and the map no longer draws that introduction; sets it again and the
map draws it; reveals identity by the button (never a link); no request leaves the server.

Chromium is Debian's (/usr/bin/chromium); Playwright drives it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"


def _map_edges(page, server: str, root: str) -> list[tuple[str, str]]:
    page.goto(f"{server}/map?root={root}&hops=2")
    # a selector, not wait_for_function: the page's CSP forbids the eval that a predicate needs
    page.wait_for_selector("body[data-map-ready='1']", state="attached", timeout=10_000)
    return [tuple(e) for e in page.evaluate("window.graphsvcMap.edges.get().map(e => [e.from, e.to])")]


def test_a_coordinator_corrects_an_introducer_and_the_map_follows(server, browser, db, small):
    import pyotp

    from graphsvc import accounts

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord", keyring().encrypt(secret, "User", "coord", "totp_secret"), True)

    page = browser.new_page(locale="ko-KR", viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(server + "/households/h-002")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/households/h-002")
    assert ("h-001", "h-002") in _map_edges(page, server, "h-002")  # 들국화 (h-001) introduced 은행나무

    page.goto(server + "/households/h-002")
    page.click("summary:has-text('은행나무 수정')")
    page.click("button:has-text('소개자 삭제')")
    page.wait_for_url("**done=introducer_saved**")
    assert "지도에 바로 반영됩니다" in page.locator("[role=status]").inner_text()
    assert ("h-001", "h-002") not in _map_edges(page, server, "h-002")

    page.goto(server + "/households/h-002")
    page.click("summary:has-text('은행나무 수정')")
    page.fill("details[open] input[name=introducer]", "p-001")
    page.select_option("details[open] select[name=relation]", "friend")
    page.click("details[open] button:has-text('소개자 저장')")
    page.wait_for_url("**done=introducer_saved**")
    assert ("h-001", "h-002") in _map_edges(page, server, "h-002")

    page.goto(server + "/households/h-001")
    assert "김영희" not in page.content()
    page.click("button:has-text('신원 정보 보기')")
    page.wait_for_load_state()
    assert "김영희" in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-identity.png"), full_page=True)

    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    page.close()
