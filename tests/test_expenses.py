"""Expenses with receipts and the monthly partner report (issue 16 §3, graphsvc/expenses.py).

A partner (tests/helpers.py add_partner) submits through the API and the form; coordinators
and admins decide; receipts go through the upload pipeline (Seam F) and are seen by the
submitter, the approvers and admins only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from graphsvc import access, audit, expenses, sharing
from graphsvc.config import load_settings
from graphsvc.storage import files_dir

from .helpers import ACTOR, add_partner, api, app_db, csrf, events, jpeg_with_exif, pdf_bytes, photo_with_face, sign_in
from .helpers import test_env as environment  # (a name pytest would collect as a test)

ORG = "새희망선교회"
# today as the app counts it: in the network's time zone (GRAPHSVC_TIMEZONE), not the machine's
TODAY = dt.datetime.now(ZoneInfo(load_settings(environment()).timezone)).date()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()


def _form(receipts=None, **fields):
    body = {"amount": "32000", "spent_on": YESTERDAY, "category": "transport", "description": "노원구 방문 교통비"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    files = [jpeg_with_exif()] if receipts is None else receipts
    body["receipts"] = [(io.BytesIO(data), f"영수증{i}.jpg") for i, data in enumerate(files)]
    return body


def _submit(caller, receipts=None, **fields):
    return caller("/api/v1/expenses", method="POST", data=_form(receipts, **fields), content_type="multipart/form-data")


def _counts(db) -> dict:
    return db.read("test_expenses_counts")[0]


def _stored(settings) -> set[str]:
    folder = files_dir(settings)
    return {p.name for p in folder.rglob("*") if p.is_file()}


@pytest.fixture()
def people(app, world):
    """hana and dami, partners of one organisation (with a session and a token each), and the
    API callers of the coordinator (노원구), the other coordinator (양천구), the admin and
    the visitor of the small network."""
    hana = add_partner(world, "hana", ORG, app=app)
    dami = add_partner(world, "dami", ORG, app=app)
    return {
        "hana": hana,
        "dami": dami,
        "coord": api(app, "coord"),
        "yeon": api(app, "yeon"),
        "admin": api(app, "admin"),
        "minji": api(app, "minji"),
    }


# --- the policy ------------------------------------------------------------------------


def test_the_policy_of_expenses():
    hana, dami = access.Subject("hana", "partner", org=ORG), access.Subject("dami", "partner", org=ORG)
    coord, admin = access.Subject("coord", "coordinator", ("서울 노원구",)), access.Subject("admin", "admin")
    minji = access.Subject("minji", "visitor", ("서울 노원구",))
    mine = access.ExpenseFacts("x-1", "hana")
    assert [bool(access.decide(s, access.EXPENSE_SUBMIT)) for s in (hana, coord, admin, minji)] == [
        True,
        False,
        False,
        False,
    ]
    assert [bool(access.decide(s, access.EXPENSE_READ, mine)) for s in (hana, dami, coord, admin, minji)] == [
        True,
        False,
        True,
        True,
        False,
    ]
    assert [bool(access.decide(s, access.EXPENSE_APPROVE, mine)) for s in (hana, dami, coord, admin, minji)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    # nobody decides their own: not even an approver (an admin's own expense, were there one)
    assert not access.decide(admin, access.EXPENSE_APPROVE, access.ExpenseFacts("x-2", "admin"))
    assert not access.decide(coord, access.EXPENSE_APPROVE, access.ExpenseFacts("x-3", "coord"))
    # a duress session sees and decides nothing
    assert not access.decide(
        access.Subject("coord", "coordinator", ("서울 노원구",), duress=True), access.EXPENSE_READ, mine
    )


# --- the status machine and its history ------------------------------------------------------


def test_submit_approve_pay_with_history_and_audit(people, world):
    hana, coord, admin = people["hana"], people["coord"], people["admin"]
    answer = _submit(hana.api)
    assert answer.status_code == 201, answer.get_json()
    e = answer.get_json()
    assert (e["status"], e["amount"], e["category"], e["org"], e["username"]) == (
        "submitted",
        32000,
        "transport",
        ORG,
        "hana",
    )
    assert len(e["receipts"]) == 1 and e["receipts"][0]["mime"] == "image/jpeg"
    assert [(s["from_status"], s["to_status"], s["by"]) for s in e["history"]] == [(None, "submitted", "hana")]

    # the submitter cannot decide it (not an approver: the route refuses her role)
    assert hana.api(f"/api/v1/expenses/{e['id']}/approve", method="POST", json={}).status_code == 403
    # paid before approved: 409 naming the state
    early = coord(f"/api/v1/expenses/{e['id']}/paid", method="POST", json={"paid_on": YESTERDAY})
    assert early.status_code == 409 and early.get_json()["code"] == "expense_submitted"

    ok = coord(f"/api/v1/expenses/{e['id']}/approve", method="POST", json={"reason": "확인함"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"
    again = admin(f"/api/v1/expenses/{e['id']}/approve", method="POST", json={})
    assert again.status_code == 409 and again.get_json()["code"] == "expense_approved"
    rejected_late = admin(f"/api/v1/expenses/{e['id']}/reject", method="POST", json={"reason": "늦음"})
    assert rejected_late.status_code == 409

    # paid: a date is required, not in the future, not before the expense's date
    for body, field in (
        ({}, "paid_on"),
        ({"paid_on": (TODAY + dt.timedelta(days=1)).isoformat()}, "paid_on"),
        ({"paid_on": (TODAY - dt.timedelta(days=30)).isoformat()}, "paid_on"),
        ({"paid_on": "2026-13-01"}, "paid_on"),
    ):
        bad = admin(f"/api/v1/expenses/{e['id']}/paid", method="POST", json=body)
        assert bad.status_code == 400 and bad.get_json()["field"] == field, (body, bad.get_json())
    paid = admin(f"/api/v1/expenses/{e['id']}/paid", method="POST", json={"paid_on": TODAY.isoformat()})
    assert paid.status_code == 200
    done = paid.get_json()
    assert (done["status"], done["paid_on"]) == ("paid", TODAY.isoformat())
    assert [(s["from_status"], s["to_status"], s["by"]) for s in done["history"]] == [
        (None, "submitted", "hana"),
        ("submitted", "approved", "coord"),
        ("approved", "paid", "admin"),
    ]
    assert done["history"][1]["reason"] == "확인함" and done["history"][2]["paid_on"] == TODAY.isoformat()
    final = coord(f"/api/v1/expenses/{e['id']}/approve", method="POST", json={})
    assert final.status_code == 409 and final.get_json()["code"] == "expense_paid"

    # every step on record, in the write's own transaction, naming the expense
    audit.flush(world)
    steps = {(ev["action"], ev["actor"]) for ev in events(world, target=e["id"]) if ev["outcome"] == "ok"}
    assert {("expense.submit", "hana"), ("expense.approve", "coord"), ("expense.paid", "admin")} <= steps
    submitted = events(world, action="expense.submit")[0]
    assert e["receipts"][0]["id"] in submitted["targets"] and "32000 KRW" in submitted["detail"]
    paid_event = events(world, action="expense.paid")[0]
    assert paid_event["detail"] == f"status: approved → paid; paid_on: {TODAY.isoformat()}"


def test_reject_needs_a_reason_which_the_history_keeps(people):
    hana, coord = people["hana"], people["coord"]
    e = _submit(hana.api, amount="15,000", category="food").get_json()
    assert e["amount"] == 15000
    for body in ({}, {"reason": "   "}):
        bad = coord(f"/api/v1/expenses/{e['id']}/reject", method="POST", json=body)
        assert bad.status_code == 400 and bad.get_json()["field"] == "reason"
    assert coord(f"/api/v1/expenses/{e['id']}", method="GET").get_json()["status"] == "submitted"
    done = coord(f"/api/v1/expenses/{e['id']}/reject", method="POST", json={"reason": "영수증이 흐립니다"})
    assert done.status_code == 200
    last = done.get_json()["history"][-1]
    assert (last["from_status"], last["to_status"], last["by"], last["reason"]) == (
        "submitted",
        "rejected",
        "coord",
        "영수증이 흐립니다",
    )
    late = coord(f"/api/v1/expenses/{e['id']}/paid", method="POST", json={"paid_on": TODAY.isoformat()})
    assert late.status_code == 409 and late.get_json()["code"] == "expense_rejected"


def test_two_approvers_at_once_one_wins_the_other_is_told_the_state(people, app):
    """Three pairs of simultaneous decisions (approve against reject): each time one wins
    and the other is answered 409 (without the expense's lock both could pass)."""
    hana = people["hana"]
    callers = [api(app, "coord"), api(app, "admin")]
    for _ in range(3):
        e = _submit(hana.api).get_json()
        answers: list[int] = []
        start = threading.Barrier(2)

        def decide(caller, step, body, expense_id=e["id"], answers=answers, start=start):
            start.wait()
            answers.append(caller(f"/api/v1/expenses/{expense_id}/{step}", method="POST", json=body).status_code)

        threads = [
            threading.Thread(target=decide, args=(callers[0], "approve", {})),
            threading.Thread(target=decide, args=(callers[1], "reject", {"reason": "중복 청구"})),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(answers) == [200, 409], answers
        found = callers[0](f"/api/v1/expenses/{e['id']}").get_json()
        assert len(found["history"]) == 2 and found["status"] in ("approved", "rejected")


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "receipts", "field"),
    [
        ({"amount": "0"}, None, "amount"),
        ({"amount": "삼만원"}, None, "amount"),
        ({"amount": "1.5"}, None, "amount"),
        ({"amount": str(expenses.records.EXPENSE_MAX_AMOUNT + 1)}, None, "amount"),
        ({"amount": None}, None, "amount"),
        ({"spent_on": (TODAY + dt.timedelta(days=1)).isoformat()}, None, "spent_on"),
        ({"spent_on": "2026-02-30"}, None, "spent_on"),
        ({"category": "taxi"}, None, "category"),
        ({}, [], "receipts"),
        ({}, [b"MZ\x90\x00 not an image at all"], "receipts[0]"),
        ({}, [b"%PDF-1.4 truncated"], "receipts[0]"),
        ({"description": "x" * 201}, None, "description"),
        ({"colour": "red"}, None, "colour"),
    ],
)
def test_bad_submissions_are_refused_naming_the_field_and_write_nothing(
    people, world, settings, fields, receipts, field
):
    before = _stored(settings)
    answer = _submit(people["hana"].api, receipts, **fields)
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["field"] == field
    assert _counts(world) == {"expenses": 0, "receipts": 0, "steps": 0}
    assert _stored(settings) == before  # no file left behind


def test_a_good_image_and_a_bad_file_together_store_nothing(people, world, settings):
    before = _stored(settings)
    answer = _submit(people["hana"].api, [jpeg_with_exif(), b"GIF89a not really"])
    assert answer.status_code == 400 and answer.get_json()["field"] == "receipts[1]"
    assert _counts(world)["expenses"] == 0 and _stored(settings) == before


def test_only_partners_submit(people):
    for who in ("coord", "admin", "minji"):
        assert _submit(people[who]).status_code == 403


def test_someone_elses_expense_is_not_found(people):
    e = _submit(people["hana"].api).get_json()
    dami = people["dami"]
    for path in (f"/api/v1/expenses/{e['id']}", f"/api/v1/expenses/receipts/{e['receipts'][0]['id']}"):
        assert dami.api(path).status_code == 404
    # ... the same answer as for no such expense
    assert dami.api("/api/v1/expenses/x-0000000000000000").status_code == 404
    # her list and totals hold her own only; naming another is refused as unknown
    assert dami.api("/api/v1/expenses").get_json() == {"expenses": []}
    assert dami.api("/api/v1/expenses?username=hana").status_code == 404
    assert people["hana"].api("/api/v1/expenses").get_json()["expenses"][0]["id"] == e["id"]
    assert people["minji"](f"/api/v1/expenses/{e['id']}").status_code == 403  # visitors: no expenses at all
    assert people["coord"]("/api/v1/expenses/nope/approve", method="POST", json={}).status_code == 404


# --- receipts ----------------------------------------------------------------------------------


def test_receipt_access_matrix(people, world):
    e = _submit(people["hana"].api).get_json()
    rid = e["receipts"][0]["id"]
    path = f"/api/v1/expenses/receipts/{rid}"
    expected = {"hana": 200, "dami": 404, "minji": 403, "coord": 200, "yeon": 200, "admin": 200}
    for who, status in expected.items():
        caller = people[who].api if who in ("hana", "dami") else people[who]
        answer = caller(path)
        assert answer.status_code == status, who
        if status == 200:
            assert answer.mimetype == "image/jpeg"
            assert answer.headers["Cache-Control"] == "no-store"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            image = Image.open(io.BytesIO(answer.get_data()))
            assert not image.getexif()  # the camera's EXIF (GPS, make, date) is gone
            assert b"GPS" not in answer.get_data() and b"Exif" not in answer.get_data()
    # the page route answers the same for a signed-in partner of the same organisation
    assert people["dami"].client.get(f"/expenses/receipts/{rid}").status_code == 404
    assert people["hana"].client.get(f"/expenses/receipts/{rid}").status_code == 200
    audit.flush(world)
    reads = [ev for ev in events(world, action="expense.receipt.read") if ev["outcome"] == "ok"]
    assert {ev["actor"] for ev in reads} == {"hana", "coord", "yeon", "admin"}
    assert all(rid in ev["targets"] and e["id"] in ev["targets"] for ev in reads)
    denied = [ev for ev in events(world, target=rid) if ev["outcome"] == "denied"]
    assert denied  # dami's refused read is on record


def test_a_pdf_receipt_is_stored_as_images_of_its_pages_only(people, world, settings):
    before = _stored(settings)
    e = _submit(people["hana"].api, [pdf_bytes(pages=2), jpeg_with_exif()]).get_json()
    assert len(e["receipts"]) == 3  # two pages and the photo
    for r in e["receipts"]:
        data = people["coord"](f"/api/v1/expenses/receipts/{r['id']}").get_data()
        assert not data.startswith(b"%PDF") and b"%PDF" not in data
        Image.open(io.BytesIO(data)).verify()
    stored = [p for p in files_dir(settings).rglob("*") if p.is_file() and p.name not in before]
    assert len(stored) == 3
    assert all(b"%PDF" not in p.read_bytes() for p in stored)  # ciphertext, and no PDF was kept


# --- lists, totals, the desk, the pages ----------------------------------------------------------


def test_totals_per_month_and_partner(people):
    hana, dami, coord = people["hana"], people["dami"], people["coord"]
    a = _submit(hana.api, amount="10000").get_json()
    _submit(hana.api, amount="5000").get_json()
    c = _submit(hana.api, amount="7000").get_json()
    _submit(dami.api, amount="2000")
    coord(f"/api/v1/expenses/{a['id']}/approve", method="POST", json={})
    coord(f"/api/v1/expenses/{c['id']}/reject", method="POST", json={"reason": "중복"})
    month = YESTERDAY[:7]
    rows = {r["username"]: r for r in coord(f"/api/v1/expenses/totals?month={month}").get_json()["totals"]}
    assert rows["hana"]["amount"] == 15000 and rows["hana"]["count"] == 2  # the rejected one aside
    assert rows["hana"]["by_status"] == {
        "approved": {"count": 1, "amount": 10000},
        "submitted": {"count": 1, "amount": 5000},
        "rejected": {"count": 1, "amount": 7000},
    }
    assert rows["dami"]["amount"] == 2000
    # a partner sees her own totals only
    assert [r["username"] for r in hana.api("/api/v1/expenses/totals").get_json()["totals"]] == ["hana"]
    assert coord("/api/v1/expenses/totals?month=2026-13").status_code == 400


def test_pages_form_desk_and_decision(people, app):
    hana = people["hana"]
    client = hana.client
    mine = client.get("/expenses?lang=ko").get_data(as_text=True)
    assert 'href="/partners/hana/report"' in mine and "내 월간 보고서" in mine
    form = client.get("/expenses/new?lang=ko").get_data(as_text=True)
    assert 'accept="image/*,application/pdf"' in form and "multiple" in form
    token = csrf(client, "/expenses/new")
    bad = client.post(
        "/expenses?lang=ko",
        data={**_form(amount="abc"), "csrf_token": token, "idempotency_key": "k-bad-1"},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400
    assert "원 단위의 정수가 아닙니다" in bad.get_data(as_text=True)
    good = client.post(
        "/expenses",
        data={**_form(description="<script>alert(1)</script>"), "csrf_token": token, "idempotency_key": "k-good-1"},
        content_type="multipart/form-data",
    )
    assert good.status_code == 302, good.get_data(as_text=True)[:500]
    page = client.get(good.headers["Location"]).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'id="approve-form"' not in page  # not hers to decide

    coord = app.test_client()
    assert sign_in(coord, "coord").status_code == 302
    desk = coord.get("/dispatch").get_data(as_text=True)
    assert 'id="desk-expenses"' in desk and "hana" in desk and "32,000" in desk
    expense_id = good.headers["Location"].split("/expenses/")[1].split("?")[0]
    audit.flush(app_db(app))
    shown = [ev for ev in events(app_db(app), action="expense.read") if ev["actor"] == "coord"]
    assert shown and expense_id in shown[0]["targets"]  # the desk's section is audited with what it showed
    shown = coord.get(f"/expenses/{expense_id}").get_data(as_text=True)
    assert 'id="approve-form"' in shown
    decided = coord.post(
        f"/expenses/{expense_id}/reject", data={"reason": "", "csrf_token": csrf(coord, f"/expenses/{expense_id}")}
    )
    assert decided.status_code == 400  # a reason is required
    decided = coord.post(f"/expenses/{expense_id}/approve", data={"csrf_token": csrf(coord, f"/expenses/{expense_id}")})
    assert decided.status_code == 302
    assert "expense-row" not in coord.get("/dispatch").get_data(as_text=True)  # nothing left to approve


# --- the monthly partner report ----------------------------------------------------------------


def _last_month() -> tuple[str, dt.date]:
    first = TODAY.replace(day=1) - dt.timedelta(days=1)
    return first.strftime("%Y-%m"), first.replace(day=1)


def test_the_monthly_report_of_a_scripted_month(people, world, app):
    month, first = _last_month()
    before = first - dt.timedelta(days=2)  # the month before: left out
    sharing.share(world, access.Subject("admin", "admin"), ACTOR, "h-001", ORG)
    for vid, hid, on, materials, brought in (
        ("v-x0", "h-001", before, "bible:1", None),
        ("v-x2", "h-001", first + dt.timedelta(days=19), None, None),
        ("v-x3", "h-003", first + dt.timedelta(days=11), "hymnal:1", "h-004"),
    ):
        world.write(
            "test_expenses_visit",
            username="hana",
            household_id=hid,
            id=vid,
            on=on,
            outcome="met",
            materials=materials,
            brought=brought,
        )
    # the ledger: 10 Bibles and 4 hymnals in stock, 5 and 3 issued to hana; at a visit she
    # reports (h-001, shared with her organisation) she gives 2 Bibles
    for body in (
        {"kind": "received", "item": "bible", "qty": 10, "on": first.isoformat()},
        {"kind": "received", "item": "hymnal", "qty": 4, "on": first.isoformat()},
        {"kind": "issued", "item": "bible", "qty": 5, "holder": "hana", "on": first.isoformat()},
        {"kind": "issued", "item": "hymnal", "qty": 3, "holder": "hana", "on": first.isoformat()},
    ):
        moved = people["coord"]("/api/v1/materials/movements", method="POST", json=body)
        assert moved.status_code == 201, moved.get_json()
    reported = people["hana"].api(
        "/api/v1/visits",
        method="POST",
        json={
            "household_id": "h-001",
            "visited_on": (first + dt.timedelta(days=2)).isoformat(),
            "outcome": "met",
            "materials": "bible:2",
        },
    )
    assert reported.status_code == 201, reported.get_json()
    v1 = reported.get_json()["id"]
    hana, coord, admin = people["hana"], people["coord"], people["admin"]
    # two photos of that visit, one sanitized by the coordinator: counted on the report for whom
    # may see them unsanitized (hana, the district's coordinator, admins), for nobody else
    photo_ids = []
    for _ in range(2):
        up = hana.api(
            f"/api/v1/visits/{v1}/photos",
            method="POST",
            data={"file": (io.BytesIO(photo_with_face()), "IMG_0001.jpg")},
            content_type="multipart/form-data",
        )
        assert up.status_code == 201, up.get_json()
        photo_ids.append(up.get_json()["id"])
    done = coord(f"/api/v1/photos/{photo_ids[0]}/sanitize", method="POST", json={"boxes": [[0, 0, 100, 100]]})
    assert done.status_code == 200, done.get_json()
    day = (first + dt.timedelta(days=5)).isoformat()
    made = {
        name: _submit(hana.api, amount=str(amount), spent_on=day, category=category).get_json()
        for name, amount, category in (
            ("paid", 32000, "transport"),
            ("rejected", 15000, "food"),
            ("approved", 50000, "materials"),
            ("submitted", 8000, "other"),
        )
    }
    _submit(hana.api, amount="20000", spent_on=before.isoformat())  # last month's: not in the report
    coord(f"/api/v1/expenses/{made['paid']['id']}/approve", method="POST", json={})
    coord(f"/api/v1/expenses/{made['paid']['id']}/paid", method="POST", json={"paid_on": TODAY.isoformat()})
    coord(f"/api/v1/expenses/{made['rejected']['id']}/reject", method="POST", json={"reason": "개인 식사"})
    admin(f"/api/v1/expenses/{made['approved']['id']}/approve", method="POST", json={})

    path = f"/api/v1/partners/hana/report?month={month}"
    own = hana.api(path).get_json()
    assert own["visit_count"] == 3 and own["org"] == ORG
    assert [(h["code"], h["visits"]) for h in own["households"]] == [("H-001", 2), ("H-003", 1)]
    assert [b["code"] for b in own["brought"]] == ["H-004"]
    assert [s["code"] for s in own["shared"]] == ["H-001"]
    assert own["totals"]["by_status"] == {
        "submitted": {"count": 1, "amount": 8000},
        "approved": {"count": 1, "amount": 50000},
        "rejected": {"count": 1, "amount": 15000},
        "paid": {"count": 1, "amount": 32000},
    }
    assert (own["totals"]["claimed"], own["totals"]["approved"], own["totals"]["paid"]) == (90000, 82000, 32000)
    assert sorted(e["id"] for e in own["expenses"]) == sorted(e["id"] for e in made.values())
    assert own["materials_given"] == [{"item": "bible", "qty": 2}]
    photos = {v["visit_id"]: (v["photos"], v["photos_sanitized"]) for v in own["visits"]}
    assert photos == {v1: (2, 1), "v-x2": (0, 0), "v-x3": (0, 0)}
    assert own["materials"] == [{"item": "bible", "given": 2, "held": 3}, {"item": "hymnal", "given": 0, "held": 3}]

    # a coordinator of 노원구 sees the households of 노원구 by code; the others counted only
    body = coord(path).get_data(as_text=True)
    seen = coord(path).get_json()
    assert [(h["code"], h["visits"]) for h in seen["households"]] == [("H-001", 2)]
    assert (seen["households_unnamed"], seen["brought_unnamed"], seen["visit_count"]) == (1, 1, 3)
    for hidden in ("h-003", "H-003", "h-004", "H-004"):
        assert hidden not in body
    assert [(v["photos"], v["photos_sanitized"]) for v in seen["visits"] if v["visit_id"] == v1] == [(2, 1)]
    other = people["yeon"](path).get_json()
    assert [v["photos"] for v in other["visits"] if v["visit_id"] == v1] == [None]
    assert [h["code"] for h in other["households"]] == ["H-003"] and other["shared_unnamed"] == 1
    assert [h["code"] for h in admin(path).get_json()["households"]] == ["H-001", "H-003"]
    # not another partner of the organisation, not a visitor; an unknown or non-partner account: 404
    assert people["dami"].api(path).status_code == 404
    assert people["minji"](path).status_code == 403
    assert coord("/api/v1/partners/minji/report").status_code == 404
    assert coord("/api/v1/partners/nobody/report").status_code == 404
    assert coord("/api/v1/partners/hana/report?month=2026-1").status_code == 400

    # audited with the ids that left: visits and expenses (and the households named)
    audit.flush(world)
    read = [
        ev for ev in events(world, action="partner.report.read") if ev["actor"] == "coord" and ev["outcome"] == "ok"
    ][0]
    assert {v1, "v-x2", "v-x3", "h-001", made["paid"]["id"]} <= set(read["targets"])
    assert "h-003" not in read["targets"]

    # the page (printable) and the CSV
    page = hana.client.get(f"/partners/hana/report?month={month}&lang=ko").get_data(as_text=True)
    assert "월간 보고서" in page and "H-003" in page and "90,000" in page
    assert "2장 (정리됨 1장)" in page
    csv_answer = hana.client.get(f"/partners/hana/report.csv?month={month}")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == list(expenses.CSV_HEADER)
    assert sum(1 for r in rows if r[0] == "visit") == 3 and sum(1 for r in rows if r[0] == "expense") == 4
    assert ["material_balance", own["until"], "bible", "", "3", "", ""] in rows
    assert [r[5] for r in rows if r[0] == "visit" and r[3] == "H-001" and r[5]] == ["photos=2 sanitized=1"]


def test_the_csv_is_formula_safe():
    report = {
        "month": "2026-11",
        "username": "hana",
        "org": "=cmd|' /C calc'!A0",
        "visits": [],
        "brought": [],
        "shared": [],
        "materials_given": None,
        "materials_balance": None,
        "until": "2026-11-30",
        "expenses": [
            {
                "spent_on": "2026-11-02",
                "category": "other",
                "amount": 1,
                "status": "submitted",
                "description": "@SUM(A1)",
            },
            {"spent_on": "2026-11-03", "category": "other", "amount": 2, "status": "submitted", "description": "-2+3"},
        ],
        "totals": {"by_status": {}},
    }
    rows = list(csv.reader(io.StringIO(expenses.report_csv(report))))
    cells = [c for r in rows for c in r]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells
    assert not any(c[:1] in ("=", "+", "-", "@") for c in cells)


def test_a_retried_submission_is_saved_once(people, world):
    hana = people["hana"]
    headers = {"Idempotency-Key": "영수증-재전송-1".encode().hex()}
    first = hana.api(
        "/api/v1/expenses", method="POST", data=_form(), content_type="multipart/form-data", headers=headers
    )
    again = hana.api(
        "/api/v1/expenses", method="POST", data=_form(), content_type="multipart/form-data", headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json()["id"] == again.get_json()["id"]
    assert _counts(world)["expenses"] == 1
    other = hana.api(
        "/api/v1/expenses", method="POST", data=_form(amount="999"), content_type="multipart/form-data", headers=headers
    )
    assert other.status_code == 422  # the same key with another body
