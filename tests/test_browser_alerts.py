"""The alerts in a real Chromium (gunicorn serving), Korean and English, desktop and phone:
an admin sees the banner on another admin page, follows it, acknowledges the alert with a
note, and the banner is gone; nothing is wider than the screen; no request leaves the server.

Chromium is Debian's (/usr/bin/chromium); Playwright drives it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
WORDS = {
    "ko": {
        "banner": "확인하지 않은 경고: 2건",
        "rule": "반복된 거부 요청",
        "button": "확인 처리",
        "done": "확인 처리했습니다.",
    },
    "en": {
        "banner": "Open alerts: 2",
        "rule": "Repeated denied requests",
        "button": "Acknowledge",
        "done": "Acknowledged.",
    },
}


def _sign_in(page, server: str) -> None:
    import pyotp

    from .helpers import PASSWORD, TOTP_SECRET

    page.goto(server + "/admin/users")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(TOTP_SECRET).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/users")


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_banner_leads_to_the_alerts_and_leaves_after_acknowledgement(server, browser, db, tmp_path, lang, size):
    from graphsvc import audit

    from .helpers import FIXTURES, import_small, keyring

    folder = tmp_path / "small"
    shutil.copytree(FIXTURES / "small", folder)
    import_small(db, folder, keyring())
    first = audit.append_now(db, actor="minji", action="alert.denials", detail="2026-11-25: 10 denied requests")
    audit.append_now(db, actor="coord", action="alert.off_hours", detail="2026-11-25: 1 identity read(s)")
    words = WORDS[lang]

    context = browser.new_context(locale="ko-KR", viewport=SIZES[size])
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, server)
    page.goto(f"{server}/admin/users?lang={lang}")
    banner = page.locator("#alert-banner")
    assert banner.is_visible() and words["banner"] in banner.inner_text()
    _fits(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"alerts-banner-{lang}-{size}.png"))
    banner.locator("a").click()
    page.wait_for_url("**/admin/alerts")
    item = page.locator(f"#alert-{first}")
    assert words["rule"] in item.inner_text() and "minji" in item.inner_text()
    _fits(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"alerts-{lang}-{size}.png"), full_page=True)
    item.locator("input[name=note]").fill("전화로 확인함")
    item.locator(f"button:has-text('{words['button']}')").click()
    page.wait_for_url("**/admin/alerts?done=ack")
    assert words["done"] in page.locator("#alerts-notice").inner_text()
    assert "전화로 확인함" in page.locator(f"#alert-{first}").inner_text()
    page.goto(f"{server}/admin/users")
    assert words["banner"].replace("2", "1") in page.locator("#alert-banner").inner_text()
    [ack] = audit.query(db, action="alert.ack")
    assert ack["targets"] == [str(first)] and ack["actor"] == "admin"
    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    context.close()
