"""The materials ledger (graphsvc/materials.py): a scripted month gives the balances counted
by hand; a visit report's materials leave the reporter's holding in its own transaction and
are flagged when the reporter held less; two reports of one holder at once cannot both pass
unflagged; every refusal names its field and writes nothing; who may see and do what; the
audit of each movement."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from graphsvc import access, accounts, audit, materials, visits
from graphsvc.errors import Refused
from graphsvc.model import Actor

from .helpers import ACTOR, PASSWORD, api, keyring, sign_in, snapshot

NOW = dt.datetime(2026, 10, 31, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
NOWON, YANG = "서울 노원구", "서울 양천구"
COORD = access.Subject("coord", "coordinator", (NOWON,))
ADMIN = access.Subject("admin", "admin")
MINJI = access.Subject("minji", "visitor", (NOWON,), "f")


def who(subject: access.Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


def d(day: int) -> dt.date:
    return dt.date(2026, 10, day)


def move(db, subject=COORD, **body):
    return materials.record(db, subject, who(subject), {k: v for k, v in body.items()}, TODAY, now=NOW)


def report(db, subject, household: str, on: dt.date, given: str | None):
    audit.append_now(db, actor=subject.username, role=subject.role, action="suggestions.read", targets=[household])
    body = {"household_id": household, "visited_on": on.isoformat(), "outcome": "met", "materials": given}
    return visits.report(db, keyring(), subject, who(subject), body, now=NOW)


def holding(db, holder: str | None, on: dt.date | None = None) -> dict[str, int]:
    rows = materials.balances(db, holder=holder, on=on)
    return {r["item"]: r["qty"] for r in rows if r["holder"] == holder and r["qty"]}


@pytest.fixture()
def ledger(world):
    """The small network (coord keeps 노원구's visitors; yeon 양천구's), with sora, a
    visitor of 양천구."""
    accounts.add_user(world, ACTOR, "sora", "visitor", [YANG], PASSWORD, "f")
    return world


def test_a_scripted_month_gives_the_balances_counted_by_hand(ledger):
    move(ledger, kind="received", item="bible", qty=50, on="2026-10-01")
    move(ledger, kind="received", item="찬송가", qty=20, on="2026-10-01")  # the Korean label names the item
    move(ledger, kind="issued", item="bible", qty=10, holder="minji", on="2026-10-03")
    move(ledger, kind="issued", item="hymnal", qty=5, holder="minji", on="2026-10-03")
    first = report(ledger, MINJI, "h-002", d(5), "bible:2;찬송가:1")
    assert [(m["item"], m["qty"], m["discrepancy"]) for m in first.materials] == [
        ("bible", 2, False),
        ("hymnal", 1, False),
    ]
    second = report(ledger, MINJI, "h-001", d(12), "성경:3")
    move(ledger, kind="returned", item="bible", qty=2, holder="minji", on="2026-10-15")
    move(ledger, kind="written_off", item="hymnal", qty=3, reason="비에 젖음", on="2026-10-20")
    move(ledger, ADMIN, kind="written_off", item="hymnal", qty=1, holder="minji", reason="분실", on="2026-10-22")
    wrong = move(ledger, kind="issued", item="bible", qty=1, holder="minji", on="2026-10-25")
    fix = move(ledger, kind="correction", corrects=wrong["id"], reason="잘못 기록함", on="2026-10-26")
    assert fix["item"] == "bible" and fix["qty"] == 1 and fix["holder"] == "minji"

    # counted by hand, day by day
    expected = {
        d(2): ({"bible": 50, "hymnal": 20}, {}),
        d(3): ({"bible": 40, "hymnal": 15}, {"bible": 10, "hymnal": 5}),
        d(5): ({"bible": 40, "hymnal": 15}, {"bible": 8, "hymnal": 4}),
        d(14): ({"bible": 40, "hymnal": 15}, {"bible": 5, "hymnal": 4}),
        d(21): ({"bible": 42, "hymnal": 12}, {"bible": 3, "hymnal": 4}),
        d(25): ({"bible": 41, "hymnal": 12}, {"bible": 4, "hymnal": 3}),
        d(31): ({"bible": 42, "hymnal": 12}, {"bible": 3, "hymnal": 3}),
    }
    for day, (stock, minji) in expected.items():
        assert holding(ledger, None, day) == stock, day
        assert holding(ledger, "minji", day) == minji, day
    assert holding(ledger, None, d(1) - dt.timedelta(days=1)) == {}
    # the contract of the monthly report (graphsvc/expenses.py reads these)
    assert materials.given(ledger, holder="minji", since=d(1), until=d(31)) == [
        {"item": "bible", "qty": 2, "visit_id": first.visit_id, "on": d(5)},
        {"item": "hymnal", "qty": 1, "visit_id": first.visit_id, "on": d(5)},
        {"item": "bible", "qty": 3, "visit_id": second.visit_id, "on": d(12)},
    ]
    assert materials.given(ledger, holder="minji", since=d(6), until=d(11)) == []
    assert materials.discrepancies(ledger, None) == []
    # every movement is on record, with its id (and the visit and household of a given one)
    moves = audit.query(ledger, action="materials.move")
    assert len(moves) == 11  # 9 recorded by hand, one event per visit report (two)
    by_report = [e for e in moves if first.visit_id in e["targets"]]
    assert len(by_report) == 1 and "h-002" in by_report[0]["targets"]
    assert {m["id"] for m in first.materials} <= set(by_report[0]["targets"])
    assert any(fix["id"] in e["targets"] and wrong["id"] in e["targets"] for e in moves)


def test_a_report_that_gives_more_than_held_is_accepted_and_flagged(ledger):
    move(ledger, kind="received", item="bible", qty=5, on="2026-10-01")
    move(ledger, kind="issued", item="bible", qty=1, holder="minji", on="2026-10-02")
    done = report(ledger, MINJI, "h-002", d(4), "bible:3")
    (given,) = done.materials
    assert given["discrepancy"] and given["held"] == 1
    assert holding(ledger, "minji") == {"bible": -2}
    (listed,) = materials.discrepancies(ledger, [NOWON])
    assert listed["id"] == given["id"] and listed["household_id"] == "h-002" and listed["now_holds"] == -2
    assert materials.discrepancies(ledger, [YANG]) == []  # not a household of 양천구
    # a visit before the issue: not held on that day
    move(ledger, kind="issued", item="bible", qty=4, holder="minji", on="2026-10-10")
    assert materials.discrepancies(ledger, [NOWON]) == []  # settled: she holds 2 now
    early = report(ledger, MINJI, "h-001", d(3), "bible:1").materials[0]
    assert early["discrepancy"]  # held −2 from the 3rd on (the 4th)
    # an unknown item refuses the report whole
    before = snapshot(ledger)
    with pytest.raises(Refused) as e:
        report(ledger, MINJI, "h-002", d(5), "rice:2")
    assert e.value.kind == "invalid" and e.value.field == "materials" and "rice" in e.value.why
    after = snapshot(ledger)
    assert after == before


@pytest.fixture()
def crowd(db, small):
    """The small network with six more households of 노원구 (h-101 … h-106), and their
    suggestion to minji: reports on different households are not serialised by a household's lock."""
    from .helpers import append, import_small

    append(small, "households", *([f"h-10{i}", f"H-10{i}", NOWON, "2020-01-01", "active"] for i in range(1, 7)))
    import_small(db, small, keyring())
    ids = [f"h-10{i}" for i in range(1, 7)]
    audit.append_now(db, actor="minji", role="visitor", action="suggestions.read", targets=ids)
    return db, ids


def test_reports_of_one_holder_at_once_cannot_overdraw_unflagged(crowd):
    """Six reports of one holder at once, each giving 2 of the 6 Bibles she holds: they are
    counted one after the other (the holder's lock), so exactly three pass unflagged."""
    db, households = crowd
    move(db, kind="received", item="bible", qty=10, on="2026-10-01")
    move(db, kind="issued", item="bible", qty=6, holder="minji", on="2026-10-02")
    barrier = threading.Barrier(len(households))
    done: list[object] = [None] * len(households)

    def go(i: int) -> None:
        body = {"household_id": households[i], "visited_on": "2026-10-05", "outcome": "met", "materials": "bible:2"}
        barrier.wait()
        try:
            done[i] = visits.report(db, keyring(), MINJI, who(MINJI), body, now=NOW)
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            done[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(households))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(x, visits.Reported) for x in done), done
    flags = sorted(x.materials[0]["discrepancy"] for x in done)  # type: ignore[union-attr]
    assert flags == [False, False, False, True, True, True]
    assert sorted(x.materials[0]["held"] for x in done) == [-4, -2, 0, 2, 4, 6]  # type: ignore[union-attr]
    assert holding(db, "minji") == {"bible": 6 - 12}
    assert len(materials.discrepancies(db, [NOWON])) == 3


REFUSED = [
    ({"kind": "received", "item": "rice", "qty": 1}, "item", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 0}, "qty", "invalid"),
    ({"kind": "received", "item": "bible", "qty": -3}, "qty", "invalid"),
    ({"kind": "received", "item": "bible", "qty": "two"}, "qty", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 1.5}, "qty", "invalid"),
    ({"kind": "received", "item": "bible", "qty": True}, "qty", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 10_001}, "qty", "invalid"),
    ({"kind": "received", "item": "bible"}, "qty", "invalid"),
    ({"kind": "issued", "item": "bible", "qty": 1, "holder": "nobody"}, "holder", "invalid"),
    ({"kind": "issued", "item": "bible", "qty": 1, "holder": "yeon"}, "holder", "invalid"),  # a coordinator
    ({"kind": "issued", "item": "bible", "qty": 1, "holder": "sora"}, "holder", "invalid"),  # not coord's district
    ({"kind": "issued", "item": "bible", "qty": 1}, "holder", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 1, "holder": "minji"}, "holder", "invalid"),
    ({"kind": "written_off", "item": "bible", "qty": 1}, "reason", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 1, "on": "2026-11-01"}, "on", "invalid"),  # in the future
    ({"kind": "received", "item": "bible", "qty": 1, "on": "2026-02-30"}, "on", "invalid"),
    ({"kind": "given", "item": "bible", "qty": 1, "holder": "minji"}, "kind", "invalid"),
    ({"kind": "stolen", "item": "bible", "qty": 1}, "kind", "invalid"),
    ({"item": "bible", "qty": 1}, "kind", "invalid"),
    ({"kind": "received", "item": "bible", "qty": 1, "colour": "red"}, "colour", "invalid"),
    ({"kind": "correction", "corrects": "mm-nothing", "reason": "잘못 기록함"}, "corrects", "invalid"),
    ({"kind": "correction", "corrects": "MINE", "reason": "잘못 기록함", "on": "2026-09-30"}, "on", "invalid"),
    ({"kind": "correction", "corrects": "MINE"}, "reason", "invalid"),
    ({"kind": "issued", "item": "bible", "qty": 6, "holder": "minji"}, "qty", "conflict"),  # the stock holds 5
    ({"kind": "returned", "item": "bible", "qty": 3, "holder": "minji"}, "qty", "conflict"),  # she holds 2
    ({"kind": "written_off", "item": "hymnal", "qty": 1, "reason": "분실"}, "qty", "conflict"),
    ({"kind": "issued", "item": "bible", "qty": 1, "holder": "minji", "on": "2026-10-01"}, "qty", "conflict"),
]


@pytest.mark.parametrize("body,field,kind", REFUSED)
def test_bad_movements_name_the_field_and_write_nothing(ledger, body, field, kind):
    move(ledger, kind="received", item="bible", qty=7, on="2026-10-02")
    mine = move(ledger, kind="issued", item="bible", qty=2, holder="minji", on="2026-10-03")
    body = {k: (mine["id"] if v == "MINE" else v) for k, v in body.items()}
    before = snapshot(ledger)
    with pytest.raises(Refused) as e:
        move(ledger, **body)
    assert (e.value.kind, e.value.field) == (kind, field), e.value.why
    assert snapshot(ledger) == before


def test_a_correction_is_once_and_never_of_a_correction(ledger):
    first = move(ledger, kind="received", item="bible", qty=7, on="2026-10-02")
    fix = move(ledger, kind="correction", corrects=first["id"], reason="두 번 기록함")
    assert holding(ledger, None) == {}
    with pytest.raises(Refused) as e:
        move(ledger, kind="correction", corrects=first["id"], reason="두 번 기록함")
    assert (e.value.kind, e.value.field) == ("conflict", "corrects")
    with pytest.raises(Refused) as e:
        move(ledger, kind="correction", corrects=fix["id"], reason="다시 고침")
    assert (e.value.kind, e.value.field) == ("invalid", "corrects")
    # a coordinator of another district may not correct (nor learn of) 노원구's visitor's movements
    given = move(ledger, kind="received", item="bible", qty=7, on="2026-10-02")
    issue = move(ledger, kind="issued", item="bible", qty=1, holder="minji")
    yeon = access.Subject("yeon", "coordinator", (YANG,))
    with pytest.raises(Refused) as e:
        move(ledger, yeon, kind="correction", corrects=issue["id"], reason="잘못 기록함")
    assert (e.value.kind, e.value.field) == ("invalid", "corrects")
    assert move(ledger, yeon, kind="correction", corrects=given["id"], reason="잘못 기록함")["kind"] == "correction"


def test_items_an_admin_adds_are_named_in_reports(ledger):
    added = materials.add_item(ledger, ADMIN, who(ADMIN), {"key": "tract", "label_en": "Tract", "label_ko": "전도지"})
    assert added["key"] == "tract"
    for body, field in (
        ({"key": "Bible", "label_en": "Book", "label_ko": "책"}, "key"),  # the same key (case-insensitive)
        ({"key": "book", "label_en": "Book", "label_ko": "성경"}, "label_ko"),  # a name of bible
        ({"key": "b", "label_en": "B", "label_ko": "비"}, "key"),
        ({"key": "rice", "label_en": "Rice"}, "label_ko"),
    ):
        with pytest.raises(Refused) as e:
            materials.add_item(ledger, ADMIN, who(ADMIN), body)
        assert e.value.field == field
    with pytest.raises(Refused) as e:
        materials.add_item(ledger, COORD, who(COORD), {"key": "rice", "label_en": "Rice", "label_ko": "쌀"})
    assert e.value.kind == "forbidden"
    assert [i["key"] for i in materials.items(ledger)] == ["bible", "hymnal", "tract"]
    done = report(ledger, MINJI, "h-002", d(5), "전도지:4")
    assert [(m["item"], m["qty"]) for m in done.materials] == [("tract", 4)]
    assert [e["detail"] for e in audit.query(ledger, action="materials.item.add")] == ["item tract"]


# --- the web: pages and API by role ---------------------------------------------------------


def test_api_records_and_answers_balances_by_role(app, ledger):
    coord, admin, minji, yeon = (api(app, n) for n in ("coord", "admin", "minji", "yeon"))
    posted = coord("/api/v1/materials/movements", "POST", json={"kind": "received", "item": "bible", "qty": 9})
    assert posted.status_code == 201 and posted.get_json()["qty"] == 9
    issued = coord(
        "/api/v1/materials/movements",
        "POST",
        json={"kind": "issued", "item": "bible", "qty": 4, "holder": "minji"},
        headers={"Idempotency-Key": "issue-minji-1"},
    )
    again = coord(
        "/api/v1/materials/movements",
        "POST",
        json={"kind": "issued", "item": "bible", "qty": 4, "holder": "minji"},
        headers={"Idempotency-Key": "issue-minji-1"},
    )
    assert issued.status_code == again.status_code == 201 and issued.get_json()["id"] == again.get_json()["id"]
    bad = coord(
        "/api/v1/materials/movements", "POST", json={"kind": "issued", "item": "bible", "qty": 0, "holder": "minji"}
    )
    assert (
        bad.status_code == 400 and bad.get_json()["field"] == "qty" and bad.get_json()["problems"][0]["field"] == "qty"
    )
    short = coord(
        "/api/v1/materials/movements", "POST", json={"kind": "issued", "item": "bible", "qty": 6, "holder": "minji"}
    )
    assert short.status_code == 409 and short.get_json()["field"] == "qty"
    assert (
        minji("/api/v1/materials/movements", "POST", json={"kind": "received", "item": "bible", "qty": 1}).status_code
        == 403
    )
    # balances: the keeper's stock and holders; a visitor her own; another district's coordinator not minji's
    rows = coord("/api/v1/materials/balances").get_json()["balances"]
    assert {"holder": None, "item": "bible", "qty": 5} in rows and {
        "holder": "minji",
        "item": "bible",
        "qty": 4,
    } in rows
    assert coord("/api/v1/materials/balances?holder=minji").get_json()["balances"] == [
        {"holder": "minji", "item": "bible", "qty": 4}
    ]
    assert coord("/api/v1/materials/balances?holder=sora").status_code == 400
    assert coord("/api/v1/materials/balances?on=2099-01-01").status_code == 400
    assert coord("/api/v1/materials/balances?on=2000-01-01").get_json()["balances"][0]["qty"] == 0
    assert all(r["holder"] is None for r in yeon("/api/v1/materials/balances").get_json()["balances"])
    assert yeon("/api/v1/materials/balances?holder=minji").status_code == 400
    assert minji("/api/v1/materials/balances").get_json()["balances"] == [
        {"holder": "minji", "item": "bible", "qty": 4}
    ]
    assert minji("/api/v1/materials/balances?holder=coord").status_code == 404
    assert admin("/api/v1/materials/balances?holder=minji").status_code == 200
    reads = audit.query(ledger, action="materials.read")
    assert reads and all(e["actor"] in ("coord", "yeon", "minji", "admin") for e in reads)


def test_pages_by_role_and_the_forms(app, ledger):
    move(ledger, kind="received", item="bible", qty=3, on="2026-10-01")
    move(ledger, kind="issued", item="bible", qty=1, holder="minji", on="2026-10-02")
    report(ledger, MINJI, "h-002", d(4), "bible:2")  # one more than she held: a discrepancy
    coord = app.test_client()
    sign_in(coord, "coord")
    page = coord.get("/materials?lang=ko")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "자료" in html and "성경" in html and 'data-holder="minji"' in html and 'name="csrf_token"' in html
    assert "H-" in html  # the household of the discrepancy (coord's district)
    desk = coord.get("/dispatch").get_data(as_text=True)
    assert 'id="desk-ledger"' in desk and "minji" in desk.split('id="desk-ledger"')[1]
    shown = audit.query(ledger, action="materials.discrepancies.read")
    assert shown and "h-002" in shown[0]["targets"] and shown[0]["actor"] == "coord"
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "kind": "received", "item": "hymnal", "qty": "4", "on": "", "holder": "", "reason": ""}
    done = coord.post("/materials/movements", data=form)
    assert done.status_code == 302 and holding(ledger, None)["hymnal"] == 4
    refused = coord.post("/materials/movements?lang=ko", data={**form, "qty": "0"})
    assert refused.status_code == 400 and "qty" in refused.get_data(as_text=True)
    assert coord.post("/materials/movements", data={**form, "csrf_token": "x"}).status_code == 400
    assert coord.post("/materials/items", data={"csrf_token": token, "key": "tract"}).status_code == 403
    # a visitor: her own holding on her page, not the ledger
    minji = app.test_client()
    sign_in(minji, "minji")
    assert minji.get("/materials").status_code == 403
    mine = minji.get("/suggestions").get_data(as_text=True)
    assert 'id="my-materials"' in mine and 'data-item="bible"' in mine and "<strong>-1</strong>" in mine
    admin = app.test_client()
    sign_in(admin, "admin")
    page = admin.get("/materials").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    added = admin.post(
        "/materials/items", data={"csrf_token": token, "key": "tract", "label_en": "Tract", "label_ko": "전도지"}
    )
    assert added.status_code == 302 and "전도지" in admin.get("/materials?lang=ko").get_data(as_text=True)


def test_a_partner_holds_materials_and_gives_them_at_visits_of_shared_households(app, ledger):
    """A partner (Seam P) is a holder every coordinator keeps (partners work in no district):
    issued to, given from at a report on a household shared with her organisation, seen on
    her own page and in the API as her own."""
    from graphsvc import sharing

    from .helpers import add_partner

    hana = add_partner(ledger, "hana", "새희망선교회", app=app)
    sharing.share(ledger, COORD, who(COORD), "h-002", "새희망선교회")
    move(ledger, kind="received", item="bible", qty=5, on="2026-10-01")
    move(ledger, kind="issued", item="bible", qty=2, holder="hana", on="2026-10-02")
    partner = access.Subject("hana", "partner", (), "f", org="새희망선교회")
    body = {"household_id": "h-002", "visited_on": "2026-10-06", "outcome": "met", "materials": "성경:3"}
    done = visits.report(ledger, keyring(), partner, who(partner), body, now=NOW)
    (given,) = done.materials
    assert given["holder"] == "hana" and given["discrepancy"] and given["held"] == 2
    assert holding(ledger, "hana") == {"bible": -1}
    # yeon keeps no visitor of 노원구, but a partner's materials, yes; the household of the
    # discrepancy is 노원구's: on coord's desk, not on yeon's
    yeon = access.Subject("yeon", "coordinator", (YANG,))
    assert materials.balances_for(ledger, yeon, "hana", None) == [{"holder": "hana", "item": "bible", "qty": -1}]
    assert [d["holder"] for d in materials.discrepancies(ledger, [NOWON])] == ["hana"]
    assert materials.discrepancies(ledger, [YANG]) == []
    # the ledger page: yeon sees hana's movement, not the household (nor the visit) of 노원구
    (seen,) = [m for m in materials.ledger(ledger, yeon, None)["recent"] if m["kind"] == "given"]
    assert seen["holder"] == "hana" and (seen["household_id"], seen["code"], seen["visit_id"]) == (None, None, None)
    assert materials.ledger(ledger, yeon, None)["discrepancies"] == []
    (mine,) = [m for m in materials.ledger(ledger, COORD, None)["recent"] if m["kind"] == "given"]
    assert (mine["household_id"], mine["code"]) == ("h-002", "H-002")
    assert hana.api("/api/v1/materials/balances").get_json()["balances"] == [
        {"holder": "hana", "item": "bible", "qty": -1}
    ]
    assert hana.api("/api/v1/materials/balances?holder=minji").status_code == 404
    assert (
        hana.api(
            "/api/v1/materials/movements", "POST", json={"kind": "received", "item": "bible", "qty": 1}
        ).status_code
        == 403
    )
    assert hana.client.get("/materials").status_code == 403
    page = hana.client.get("/suggestions").get_data(as_text=True)
    assert 'id="my-materials"' in page and "<strong>-1</strong>" in page
    # on the ledger page of a coordinator, among the holders
    coord_page = app.test_client()
    sign_in(coord_page, "coord")
    assert 'data-holder="hana"' in coord_page.get("/materials").get_data(as_text=True)


def test_the_command_line_adds_and_lists_items_and_shows_balances(ledger, cli_env):
    from click.testing import CliRunner

    from graphsvc.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    added = run("materials", "items", "add", "tract", "--label-en", "Tract", "--label-ko", "전도지")
    assert added.exit_code == 0 and "tract" in added.output
    again = run("materials", "items", "add", "leaflet", "--label-en", "Leaflet", "--label-ko", "전도지")
    assert again.exit_code == 1 and "label_ko" in again.output
    assert run("materials", "items", "list").output.splitlines() == [
        "bible\tBible\t성경",
        "hymnal\tHymnal\t찬송가",
        "tract\tTract\t전도지",
    ]
    move(ledger, kind="received", item="tract", qty=30, on="2026-10-01")
    move(ledger, kind="issued", item="전도지", qty=10, holder="minji", on="2026-10-05")
    shown = run("materials", "balances", "--on", "2026-10-04").output.splitlines()
    assert "-\ttract\t30" in shown and not any(line.startswith("minji") for line in shown)
    assert "minji\ttract\t10" in run("materials", "balances", "--holder", "minji").output
    assert [e["actor"].startswith("cli:") for e in audit.query(ledger, action="materials.item.add")] == [True]


def test_a_duress_session_sees_no_materials_and_records_none(ledger):
    move(ledger, kind="received", item="bible", qty=4, on="2026-10-01")
    move(ledger, kind="issued", item="bible", qty=2, holder="minji", on="2026-10-02")
    before = snapshot(ledger)
    for subject in (
        access.Subject("coord", "coordinator", (NOWON,), duress=True),
        access.Subject("admin", "admin", duress=True),
    ):
        with pytest.raises(Refused) as e:
            move(ledger, subject, kind="received", item="bible", qty=1)
        assert e.value.kind == "forbidden"
        assert materials.balances_for(ledger, subject, None, None) == []
        assert materials.holders(ledger, subject) == []
    assert snapshot(ledger) == before
    hidden = access.Subject("minji", "visitor", (NOWON,), "f", duress=True)
    assert materials.own_holding(ledger, hidden) == [] and materials.balances_for(ledger, hidden, None, None) == []
    assert materials.own_holding(ledger, MINJI) == [{"item": "bible", "qty": 2}]


def test_the_report_form_names_an_unknown_item_and_records_nothing(app, ledger):
    """The visitor's report page: the "other" materials field with a name that is no item is
    answered on that field, in Korean, and nothing is written; a known one is given."""
    audit.append_now(ledger, actor="minji", role="visitor", action="suggestions.read", targets=["h-002"])
    client = app.test_client()
    sign_in(client, "minji")
    form = client.get("/visits/new?household_id=h-002&lang=ko").get_data(as_text=True)
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    body = {"csrf_token": token, "household_id": "h-002", "visited_on": "2026-11-02", "outcome": "met"}
    before = snapshot(ledger)
    bad = client.post("/visits/new?lang=ko", data={**body, "materials_other": "쌀:2"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "자료 장부의 품목이 아닙니다" in page and "쌀" in page
    assert snapshot(ledger) == before
    done = client.post("/visits/new", data={**body, "materials_bible": "1", "materials_other": "찬송가:1"})
    assert done.status_code == 302
    assert holding(ledger, "minji") == {"bible": -1, "hymnal": -1}
