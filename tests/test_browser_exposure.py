"""The exposure of an account in a real Chromium (gunicorn serving), Korean and English, at
desktop and phone width: an admin chooses the account and the day in the form, reads the
most exposed first, and nothing is wider than the screen; no request leaves the server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .helpers import past_events

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"


def ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("locale", "width", "words"),
    [
        ("ko-KR", 1280, ("계정의 노출 범위", "연락처 공개됨", "은행나무 님이 소개함")),
        ("en-US", 390, ("Exposure of an account", "Contact revealed", "introduced by 은행나무")),
    ],
)
def test_an_admin_reads_the_exposure_of_a_lost_phone(server, browser, db, small, locale, width, words):
    import pyotp

    from graphsvc import accounts

    from .helpers import ACTOR, PASSWORD, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD, adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    past_events(
        db,
        {"at": ago(3), "actor": "minji", "action": "household.read", "targets": ["h-001", "p-001", "p-002"]},
        {"at": ago(1), "actor": "minji", "action": "household.contact.read", "targets": ["h-002", "p-003"]},
    )

    page = browser.new_page(locale=locale, viewport={"width": width, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    lang = locale[:2]
    page.goto(f"{server}/admin/exposure?lang={lang}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/exposure**")

    page.fill("input[name=user]", "minji")
    page.fill("input[name=since]", (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7)).isoformat())
    page.click("main form button[type=submit]")
    page.wait_for_url("**user=minji**")
    text = " ".join(page.locator("main").inner_text().split())
    for word in words:
        assert word in text, word
    # the most exposed first: 은행나무's household (contact) above 들국화's (shown)
    codes = page.locator("section.exposure-district").first.locator("tbody tr").all_inner_texts()
    assert "H-002" in codes[0] and "H-001" in codes[1]
    assert page.locator(".badge.level-contact").count() >= 2
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow} px wider than the screen"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"exposure-{lang}-{width}.png"), full_page=True)

    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    page.close()
