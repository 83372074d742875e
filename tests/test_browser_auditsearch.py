"""The audit's pages in a real Chromium (gunicorn serving), on a phone (390x844) and a desktop:
no table wider than the screen, rows that name hundreds of records stay short (the records
fold into a <details>), the records open by a click, in Korean and in English."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
PASSWORD = "correct horse battery"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _sign_in(page, server: str, secret: str) -> None:
    import pyotp

    page.goto(server + "/admin/audit")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/admin/audit**")


def _widths(page) -> tuple[int, int, int]:
    """(document width, viewport width, page height) in CSS pixels."""
    return tuple(
        page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth, document.documentElement.scrollHeight]"
        )
    )


def test_audit_pages_fit_a_phone_and_a_desktop(server, browser, db, small):
    import pyotp

    from graphsvc import accounts, audit

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD, adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    many = ["h-001"] + [f"h-{i:06d}" for i in range(400)]  # a network read naming 401 records
    for _ in range(60):
        audit.append_now(db, actor="coord", role="coordinator", action="network.read", targets=many, detail="map")
        audit.append_now(
            db,
            actor="admin",
            role="admin",
            action="household.identity.read",
            targets=["h-001", "p-001"],
            reason="안부 확인 요청이 있어 주소를 확인함",
        )

    signed_in = None
    for lang, viewport, words in (
        ("ko", PHONE, ("기록 401건", "누가 보았나")),
        ("en", PHONE, ("401 records", "Who saw it")),
        ("en", DESKTOP, ("401 records", "Who saw it")),
    ):
        # one sign-in (a TOTP code is taken once), its session reused by the other contexts
        context = browser.new_context(
            locale="ko-KR" if lang == "ko" else "en-US", viewport=viewport, storage_state=signed_in
        )
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
        if signed_in is None:
            _sign_in(page, server, secret)
            signed_in = context.storage_state()

        page.goto(f"{server}/admin/audit?target=H-001&lang={lang}")
        text = page.inner_text("main")
        assert words[0] in text
        width, viewport_width, height = _widths(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"audit-{lang}-{viewport['width']}.png"))
        assert width <= viewport_width, (lang, viewport, width)
        # 50 rows of a few lines each (it was 62,165 px on a desktop and 167,567 px on a phone)
        assert height < (12_000 if viewport is PHONE else 4_000), (lang, viewport, height)
        page.click("details summary:has-text('401') >> nth=0")  # the records open: listed by code, the first 30
        assert page.locator("details[open] ul.records li").count() == 30
        assert "H-001" in page.inner_text("details[open] ul.records")
        assert page.locator("nav.pager a[rel=next]").count() == 2  # older pages, above and below
        page.click("details[open] a.all-records")  # all of them on the event's page
        page.wait_for_url("**/admin/audit/event/**")
        assert page.locator("ul.records.all li").count() == 401
        width, viewport_width, _ = _widths(page)
        assert width <= viewport_width, ("event", lang, viewport, width)

        page.goto(f"{server}/admin/audit/who-saw?target=H-001&lang={lang}")
        assert words[1] in page.inner_text("h1")
        assert "안부 확인 요청이 있어 주소를 확인함" in page.inner_text("main")
        width, viewport_width, _ = _widths(page)
        assert width <= viewport_width, ("who-saw", lang, viewport, width)

        page.goto(f"{server}/admin/audit/user/coord?lang={lang}")
        width, viewport_width, _ = _widths(page)
        assert width <= viewport_width, ("user", lang, viewport, width)
        assert not outside, outside  # nothing from a third party
        context.close()
