"""Issue 16's "done when" in a real Chromium on a phone's screen (gunicorn serving): a partner
reports a visit on a household shared with her organisation, adds a photo to it and submits
the visit's expense with a receipt; a coordinator opens the photo on the review page, finds
the face box suggested, draws two more boxes (one with a finger, one with the mouse) and marks
it sanitized (the kept copy is black where the boxes are), then approves the expense; the
partner's monthly report shows the visit, its sanitized photo and the approved expense; no
request leaves the server.

Chromium is Debian's (/usr/bin/chromium); Playwright drives it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyotp
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"
ORG = "새희망선교회"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


def _sign_in(page, server: str, username: str, totp: bool) -> None:
    from .helpers import PASSWORD, TOTP_SECRET

    page.goto(server + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    if totp:
        page.wait_for_url("**/login/totp**")
        page.fill("input[name=code]", pyotp.TOTP(TOTP_SECRET).now())
        page.click("main button[type=submit]")
    page.wait_for_load_state()


def _watch(page, requested: list[str], errors: list[str]) -> None:
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)


def test_a_partner_reports_a_visit_with_a_photo_and_a_receipt_and_the_coordinator_sanitizes_and_approves(
    server, browser, db, small
):
    from graphsvc import access, sharing
    from graphsvc.model import Actor

    from .helpers import add_partner, import_small, jpeg_with_exif, keyring, photo_with_face

    import_small(db, small, keyring())
    coord_subject = access.Subject("coord", "coordinator", ("서울 노원구",))
    add_partner(db, "hana", ORG)
    sharing.share(db, coord_subject, Actor("coord", "coordinator", "127.0.0.1", "test"), "h-002", ORG)
    requested: list[str] = []
    errors: list[str] = []

    # the partner, on her phone: the report, then "Add a photo" (the camera; here a file)
    partner = browser.new_context(locale="ko-KR", **PHONE)
    page = partner.new_page()
    _watch(page, requested, errors)
    _sign_in(page, server, "hana", totp=True)
    page.goto(server + "/visits/new?household_id=H-002")
    page.check("input[name=outcome][value=met]")
    save = page.get_by_role("button", name="보고 저장")
    for _ in range(6):  # the report's steps (web/static/report.js), to the last
        if save.is_visible():
            break
        page.get_by_role("button", name="다음").locator("visible=true").click()
    save.click()
    page.wait_for_url("**/history?reported=**")
    vid = page.url.split("reported=")[1].split("&")[0]
    page.click("#add-photo")
    page.wait_for_url(f"**/visits/{vid}/photos")
    page.set_input_files(
        "input[name=file]", files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": photo_with_face()}]
    )
    page.click("form.photo-upload button[type=submit]")
    page.wait_for_url("**added=ph-**")
    pid = page.url.split("added=")[1].split("&")[0]
    assert page.locator(".badge.late").count() == 1  # "Unsanitized"
    assert page.locator(f"#photo-{pid} img").evaluate("i => i.naturalWidth") == 800  # she sees her photo
    # and, on the same phone, the expense of that visit with its receipt (a photo of it)
    page.goto(server + "/expenses/new")
    page.fill("input[name=amount]", "32,000")
    page.select_option("select[name=category]", "transport")
    page.fill("textarea[name=description]", "노원구 방문 교통비")
    page.set_input_files(
        "input[name=receipts]", files=[{"name": "영수증.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_exif()}]
    )
    page.click("#submit-expense")
    page.wait_for_url("**/expenses/x-**submitted=1**")
    assert page.locator("#expense-status").inner_text() == "제출됨"
    expense_url = page.url.split("?")[0]

    # the coordinator, on hers: the desk lists it; the review page suggests the face
    coordinator = browser.new_context(locale="ko-KR", **PHONE)
    page = coordinator.new_page()
    _watch(page, requested, errors)
    _sign_in(page, server, "coord", totp=True)
    page.goto(server + "/dispatch")
    page.click(f"a[href='/photos/{pid}/review']")
    page.wait_for_url(f"**/photos/{pid}/review")
    page.wait_for_selector("#box-list li")
    assert page.locator("#box-list li").count() == 1  # the suggested face
    canvas = page.locator("#photo-boxes")
    box = canvas.bounding_box()
    assert box and box["width"] <= 390
    # a finger: touch events (Chromium turns them into pointer events)
    cdp = coordinator.new_cdp_session(page)
    x0, y0 = box["x"] + box["width"] * 0.02, box["y"] + box["height"] * 0.02
    x1, y1 = box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.12
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for k in range(1, 6):
        point = {"x": x0 + (x1 - x0) * k / 5, "y": y0 + (y1 - y0) * k / 5}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function("document.querySelectorAll('#box-list li').length === 2")
    # a mouse
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.85, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] * 0.95, steps=5)
    page.mouse.up()
    page.wait_for_function("document.querySelectorAll('#box-list li').length === 3")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "photo-review-phone.png"), full_page=True)
    page.click("#sanitize-button")
    page.wait_for_url("**done=sanitized**")
    assert page.locator("#sanitized-note").is_visible()

    stored = db.read("photo_get", photo_id=pid)[0]
    assert stored["state"] == "sanitized" and stored["sanitized_by"] == "coord"
    flat = stored["boxes"]
    boxes = [flat[i : i + 4] for i in range(0, len(flat), 4)]
    assert len(boxes) == 3
    answer = page.request.get(f"{server}/api/v1/photos/{pid}?variant=sanitized")
    assert answer.status == 200 and answer.headers["cache-control"].startswith("no-store")
    pixels = np.asarray(Image.open(io.BytesIO(answer.body())).convert("RGB"))
    for x, y, w, h in boxes:
        assert w > 5 and h > 5 and (pixels[y : y + h, x : x + w] == 0).all(), (x, y, w, h)
    # the expense, from the desk: approved
    page.goto(server + "/dispatch")
    page.locator("#desk-expenses tr.expense-row a").first.click()
    page.wait_for_url(expense_url + "**")
    page.fill("#approve-form input[name=reason]", "영수증 확인")
    page.click("#approve")
    page.wait_for_url("**done=approve**")
    assert page.locator("#expense-status").inner_text() == "승인됨"
    coordinator.close()

    # the partner's monthly report shows it all: the visit and its sanitized photo, the expense
    page = partner.new_page()
    _watch(page, requested, errors)
    page.goto(server + "/partners/hana/report")
    visits = page.locator("#report-visits").inner_text()
    assert "H-002" in visits and "1장 (정리됨 1장)" in visits and "met" not in visits, visits
    expenses = page.locator("#report-expenses").inner_text()
    assert "32,000" in expenses and "승인됨" in expenses, expenses
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "partner-month-phone-ko.png"), full_page=True)
    partner.close()

    assert requested and all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
