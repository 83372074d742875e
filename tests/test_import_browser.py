"""A coordinator imports a small bundle from the page, in a real Chromium (gunicorn serving):
choose the files, read the check's counts, confirm, see the rows in the database."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"


def test_a_coordinator_imports_a_small_bundle_from_the_page(server, browser, db, small, tmp_path):
    import pyotp

    from graphsvc import accounts

    from .helpers import ACTOR, import_folder, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "nowon", "coordinator", ["서울 노원구"], "correct horse battery")
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "nowon", keyring().encrypt(secret, "User", "nowon", "totp_secret"), True)

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "households.csv").write_text(
        "id,code,district,arrived_on,status\nh-200,H-200,서울 노원구,2026-02-01,active\n", encoding="utf-8"
    )
    (bundle / "people.csv").write_text(
        "id,code_name,household_id,phone\np-200,봄바람,h-200,010-7777-8888\np-201,<b>여름</b>,h-200,\n",
        encoding="utf-8",
    )
    (bundle / "introductions.csv").write_text(
        "introducer_id,introduced_id,introduced_on,relation\np-001,p-200,2026-01-30,친구\n", encoding="utf-8"
    )
    (bundle / "visits.csv").write_text("id,household_id,visitor,visited_on,outcome\n", encoding="utf-8")

    page = browser.new_page(locale="ko-KR", viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(server + "/login")
    page.fill("input[name=username]", "nowon")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.click("nav.user >> text=가져오기")  # the nav's link
    page.wait_for_url("**/import")
    assert "서울 노원구" in page.locator("#scope").inner_text()

    page.set_input_files("#files", [str(p) for p in sorted(bundle.iterdir())])
    page.click("#check")
    page.wait_for_selector("#dry-run")
    row = page.locator("#counts tr[data-file=people] td").all_inner_texts()
    assert row == ["people.csv", "2", "0", "0", "0"]  # new, changed, unchanged, possible duplicates
    assert page.locator("#counts tr[data-file=households] td").all_inner_texts() == [
        "households.csv",
        "1",
        "0",
        "0",
        "",
    ]
    assert page.locator("#counts tr[data-file=users]").count() == 0  # no users.csv uploaded
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "import-checked-ko.png"), full_page=True)
    assert db.read("diff_households", ids=["h-200"]) == []  # nothing written by the check

    page.click("#confirm")
    page.wait_for_selector("#imported")
    assert "가져왔습니다" in page.locator("#imported").inner_text()
    page.screenshot(path=str(ARTIFACTS / "import-done-ko.png"), full_page=True)
    people = {r["id"]: r for r in db.read("diff_people", ids=["p-200", "p-201"])}
    assert people["p-201"]["code_name"] == "<b>여름</b>" and people["p-200"]["household_id"] == "h-200"
    assert keyring().decrypt(people["p-200"]["phone"], "Person", "p-200", "phone") == "010-7777-8888"

    assert all(url.startswith(server + "/") for url in requested), requested
    assert not errors, errors
    page.close()
