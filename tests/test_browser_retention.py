"""Retention as a coordinator sees it: a household whose visit notes were shredded, in a real
headless Chromium (gunicorn serving), in Korean and English, on a desktop and a phone."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.mark.parametrize(
    "lang,viewport,removed,kept_header",
    [
        ("ko", PHONE, "보존 기간 365일이 지나 메모를 삭제했습니다.", "메모"),
        ("en", DESKTOP, "Notes removed after 365 days (retention).", "Notes"),
        ("en", PHONE, "Notes removed after 365 days (retention).", "Notes"),
    ],
)
def test_a_coordinator_sees_that_notes_were_removed(
    server, browser, db, small, settings, lang, viewport, removed, kept_header
):
    import pyotp

    from graphsvc import accounts, retention

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "coord", keyring().encrypt(secret, "User", "coord", "totp_secret"), True)
    # v-001 (2025-02-03) is older than 365 days on 2026-03-01, v-003 (2025-04-01) is not
    retention.run(
        db,
        replace(settings, retain_notes_days=365, retain_audit_detail_days=0),
        now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )

    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport=viewport)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server}/households/h-001?lang={lang}")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/households/h-001**")
    cell = page.locator("td.notes .notes-removed")
    assert cell.inner_text() == removed
    assert cell.is_visible()
    assert kept_header in page.locator("table.events:has(td.notes) thead").inner_text()
    # nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"retention-notes-{lang}-{viewport['width']}.png"), full_page=True)

    page.goto(f"{server}/households/h-002?lang={lang}")  # younger notes are still there
    assert "처음 방문, 차를 대접받음" in page.locator("td.notes").all_inner_texts()
    assert page.locator(".notes-removed").count() == 0
    assert requested and all(url.startswith(server + "/") for url in requested), requested
    context.close()
