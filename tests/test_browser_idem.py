"""The phone's visit report on a flaky connection (issue 14 §1), in Chromium at 390×844
against gunicorn: the answer to the first save is lost after the server stored it, the page
sends it again with the same Idempotency-Key, and one visit is stored; with no connection
at all it says so in the page's language and keeps the report; a double tap sends once."""

from __future__ import annotations

import pytest

from graphsvc import accounts, audit

from .helpers import ACTOR, import_folder

PASSWORD = "correct horse battery"
OFFLINE = {"ko": "보내지 못했습니다: 연결이 없습니다", "en": "Not sent: no connection"}
SAVE = {"ko": "보고 저장", "en": "Save the report"}


def _visits(db) -> int:
    return db.read("test_count_visits")[0]["n"]


def _report_page(server, browser, db, small, lang: str):
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    context = browser.new_context(locale="ko-KR" if lang == "ko" else "en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(server + f"/suggestions?lang={lang}")
    page.fill("input[name=username]", "mina")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/suggestions**")
    page.goto(server + "/visits/new?household_id=H-001")
    page.check("input[name=outcome][value=met]")
    for _ in range(4):  # to the last step, where the notes and the save button are
        page.locator("fieldset.step:visible button.next").click()
    page.fill("textarea[name=notes]", "잘 지내심")
    return context, page


@pytest.mark.parametrize("lang", ["ko"])
def test_a_lost_answer_is_sent_again_with_the_same_key_and_stored_once(server, browser, db, small, lang):
    context, page = _report_page(server, browser, db, small, lang)
    base = _visits(db)
    sent: list[str] = []

    def lose_the_first_answer(route):
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.post_data or "")
        if len(sent) == 1:
            route.fetch(max_redirects=0)  # the server handles it (and stores the visit) …
            route.abort("connectionreset")  # … and the phone never hears the answer
        else:
            route.continue_()

    page.route("**/visits/new**", lose_the_first_answer)
    page.get_by_role("button", name=SAVE[lang]).dblclick()  # a double tap, too
    page.wait_for_url("**/history?reported=**")
    assert len(sent) == 2, len(sent)
    assert _form_key(sent[0]) == _form_key(sent[1]) != ""  # sent again with the same key
    assert _visits(db) == base + 1
    audit.flush(db)
    assert [e["outcome"] for e in audit.query(db, action="idempotent.replay")] == ["ok"]
    context.close()


def _form_key(body: str) -> str:
    """The idempotency_key field of a multipart form body."""
    after = body.split('name="idempotency_key"', 1)[1]
    return after.split("\r\n\r\n", 1)[1].split("\r\n", 1)[0]


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_with_no_connection_it_says_so_and_keeps_the_report(server, browser, db, small, lang):
    context, page = _report_page(server, browser, db, small, lang)
    base = _visits(db)
    tries: list[str] = []

    def offline(route):
        if route.request.method == "POST":
            tries.append(_form_key(route.request.post_data or ""))
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/visits/new**", offline)
    page.get_by_role("button", name=SAVE[lang]).click()
    status = page.locator("#send-status")
    status.filter(has_text=OFFLINE[lang]).wait_for(timeout=20_000)
    assert len(tries) == 4 and len(set(tries)) == 1  # a bounded number of times, one key
    assert page.input_value("textarea[name=notes]") == "잘 지내심"
    assert page.get_by_role("button", name=SAVE[lang]).is_enabled()
    page.unroute("**/visits/new**")
    page.get_by_role("button", name=SAVE[lang]).click()  # online again: saved, once
    page.wait_for_url("**/history?reported=**")
    assert _visits(db) == base + 1
    context.close()
