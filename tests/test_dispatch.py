"""The coordinator's desk: assignments (they top the visitor's list and open the contact;
409 when held; ineligible visitors refused naming the field; other districts 404;
declines reach the desk; one of two at once wins) and follow-ups (overdue by visitor, the
second reminder, snoozes by the visitor and the coordinator)."""

from __future__ import annotations

import datetime as dt
import re
import threading
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from graphsvc import access, accounts, audit, dispatch, suggest, visits
from graphsvc.errors import Refused
from graphsvc.model import Actor
from web import create_app

from .helpers import ACTOR, PASSWORD, TOTP_SECRET, import_folder, keyring, rewrite, sign_in, snapshot

NOW = dt.datetime.now(dt.UTC)


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Seoul")).date()


COORD = access.Subject("coord1", "coordinator", ("서울 노원구",))


def who(subject: access.Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


@pytest.fixture()
def desk(db, small):
    """The small network (h-001, h-002 active in 노원, h-002 women-only; h-003 in 양천),
    coordinators coord1 (노원) and yeon (양천), visitors mina (f) and jiho (m) of 노원 and
    sora (f) of 양천, an admin."""

    def edit(rows):
        rows[0].append("women_only")
        for r in rows[1:]:
            r.append("true" if r[0] == "h-002" else "")

    rewrite(small, "households", edit)
    assert import_folder(db, small).ok
    suggest.refresh_visit_summary(db)
    ring = keyring()
    accounts.add_user(db, ACTOR, "coord1", "coordinator", ["서울 노원구"], PASSWORD)
    accounts.add_user(db, ACTOR, "yeon", "coordinator", ["서울 양천구"], PASSWORD)
    accounts.add_user(db, ACTOR, "boss", "admin", [], PASSWORD)
    for name in ("coord1", "yeon", "boss"):
        accounts.set_totp(db, ACTOR, name, ring.encrypt(TOTP_SECRET, "User", name, "totp_secret"), True)
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    accounts.add_user(db, ACTOR, "jiho", "visitor", ["서울 노원구"], PASSWORD, "m")
    accounts.add_user(db, ACTOR, "sora", "visitor", ["서울 양천구"], PASSWORD, "f")
    return db


@pytest.fixture()
def app(settings, desk):
    return create_app(settings, TESTING=True)


def bearer(db, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + accounts.create_token(db, ACTOR, username, 1)}


def assign(app, db, household: str, visitor: str, reason: str = "가까운 동네에 삶", by: str = "coord1", **extra):
    return app.test_client().post(
        f"/api/v1/households/{household}/assign",
        json={"visitor": visitor, "reason": reason, **extra},
        headers=bearer(db, by),
    )


def test_an_assignment_tops_the_visitors_list_and_opens_the_contact(app, desk):
    client = app.test_client()
    jiho = bearer(desk, "jiho")
    assert client.get("/api/v1/households/h-001/contact", headers=jiho).status_code == 404
    done = assign(app, desk, "h-001", "jiho")
    assert done.status_code == 200, done.json
    assert done.json["visitor"] == "jiho" and done.json["replaced"] is None
    expires = dt.datetime.fromisoformat(done.json["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)

    # first in the list (API), even with room for one only, with who gave it and why
    first = client.get("/api/v1/suggestions?limit=1&lang=en", headers=jiho).json["suggestions"][0]
    assert first["household_id"] == "h-001" and first["score"] is None
    assert first["assigned"]["by"] == "coord1" and first["assigned"]["reason"] == "가까운 동네에 삶"
    assert first["reasons"] == ["Assigned by coord1: 가까운 동네에 삶"]
    listed = [s["household_id"] for s in client.get("/api/v1/suggestions?limit=20", headers=jiho).json["suggestions"]]
    assert listed.count("h-001") == 1

    # ... and on the page, with a decline form
    page_client = app.test_client()
    sign_in(page_client, "jiho", totp=False)
    page = unescape(page_client.get("/suggestions?lang=ko").get_data(as_text=True))
    cards = re.findall(r'<li class="suggestion( assigned)?">\s*<h2><a href="/households/([^"]+)"', page)
    assert cards[0] == (" assigned", "h-001"), cards
    assert "coord1" in page and "가까운 동네에 삶" in page and "/households/h-001/decline" in page

    # the visitor may see the household and where to go; the grant is audited
    assert client.get("/api/v1/households/h-001", headers=jiho).status_code == 200
    contact = client.get("/api/v1/households/h-001/contact", headers=jiho)
    assert contact.status_code == 200 and contact.json["phone"] == "010-1234-5678"
    event = audit.query(desk, action="household.assign")[0]
    assert event["actor"] == "coord1" and event["targets"] == ["h-001", done.json["claim_id"]]
    assert "to jiho" in event["detail"]


def test_an_assignment_is_not_a_self_claim_and_never_shortens(desk):
    mina = access.Subject("mina", "visitor", ("서울 노원구",), "f")
    dispatch.assign(desk, COORD, who(COORD), "h-001", "mina", "첫 방문", now=NOW)
    # it does not count against the visitor's own claims (a coordinator decided)
    audit.append_now(desk, actor="mina", role="visitor", action=suggest.SHOWN_ACTION, targets=["h-002"])
    assert visits.claim(desk, mina, who(mina), "h-002", now=NOW, max_live=1)
    # claiming the assigned household again keeps the assignment's longer life
    renewed = visits.claim(desk, mina, who(mina), "h-001", now=NOW, max_live=5)
    assert renewed.renewed
    assert visits.live_claims(desk, "mina", NOW)["h-001"] > NOW + dt.timedelta(days=29)


def test_a_held_household_answers_409_naming_the_holder_and_reassigns(app, desk):
    assert assign(app, desk, "h-001", "mina").status_code == 200
    held = assign(app, desk, "h-001", "jiho")
    assert held.status_code == 409 and held.json["code"] == "held"
    assert "mina" in held.json["error"]
    again = assign(app, desk, "h-001", "mina")
    assert again.status_code == 409 and again.json["code"] == "already_assigned"
    moved = assign(app, desk, "h-001", "jiho", replace=True)
    assert moved.status_code == 200 and moved.json["replaced"] == "mina"
    live = desk.read("test_live_claims", household_id="h-001", now=dt.datetime.now(dt.UTC))
    assert [c["username"] for c in live] == ["jiho"]
    # a visitor's own claim holds it too
    mina = access.Subject("mina", "visitor", ("서울 노원구",), "f")
    audit.append_now(desk, actor="mina", role="visitor", action=suggest.SHOWN_ACTION, targets=["h-002"])
    visits.claim(desk, mina, who(mina), "h-002")
    taken = assign(app, desk, "h-002", "sora", by="boss")
    assert taken.status_code == 400  # sora is not of 노원: the visitor is checked first
    taken = assign(app, desk, "h-002", "mina", by="boss")  # her own claim becomes the assignment
    assert taken.status_code == 200 and taken.json["claim_id"] == live_claim(desk, "h-002")


def live_claim(db, household: str) -> str:
    return db.read("test_live_claims", household_id=household, now=dt.datetime.now(dt.UTC))[0]["id"]


@pytest.mark.parametrize(
    "household,body,field,code",
    [
        ("h-001", {"visitor": "sora", "reason": "이웃"}, "visitor", "visitor_district"),  # another district
        ("h-002", {"visitor": "jiho", "reason": "이웃"}, "visitor", "visitor_women_only"),  # a man
        ("h-001", {"visitor": "gone", "reason": "이웃"}, "visitor", "visitor_disabled"),
        ("h-001", {"visitor": "nobody", "reason": "이웃"}, "visitor", "visitor_unknown"),
        ("h-001", {"visitor": "yeon", "reason": "이웃"}, "visitor", "visitor_not_field"),
        ("h-001", {"visitor": "mina", "reason": "  "}, "reason", "invalid"),
        ("h-001", {"visitor": "mina", "reason": "가" * 301}, "reason", "invalid"),
        ("h-001", {"visitor": "mina"}, "reason", "invalid"),
        ("h-001", {"visitor": "mi na", "reason": "이웃"}, "visitor", "invalid"),
        ("h-001", {"visitor": "mina", "reason": "이웃", "extra": 1}, "extra", None),
    ],
)
def test_an_ineligible_visitor_or_bad_reason_is_400_naming_the_field(app, desk, household, body, field, code):
    accounts.add_user(desk, ACTOR, "gone", "visitor", ["서울 노원구"], PASSWORD, "f")
    accounts.set_enabled(desk, ACTOR, "gone", False)
    before = snapshot(desk)
    answer = app.test_client().post(
        f"/api/v1/households/{household}/assign?lang=ko", json=body, headers=bearer(desk, "coord1")
    )
    assert answer.status_code == 400, answer.json
    assert answer.json["field"] == field and answer.json.get("code") == code
    if field == "visitor" and code != "invalid":
        assert answer.json["error"].startswith("방문자")  # in the page's language
    after = snapshot(desk)
    assert [n for n in after["nodes"] if "Claim" in n[0]] == [n for n in before["nodes"] if "Claim" in n[0]]


def test_a_coordinator_of_another_district_gets_404_and_sees_nothing_of_it(app, desk):
    assert assign(app, desk, "h-001", "mina", by="yeon").status_code == 404
    assert assign(app, desk, "h-999", "mina", by="coord1").status_code == 404
    client = app.test_client()
    mine = client.get("/api/v1/dispatch", headers=bearer(desk, "coord1")).json
    assert set(mine["totals"]) == {"서울 노원구"} and mine["districts"] == ["서울 노원구"]
    assert {h["id"] for h in mine["households"]} == {"h-001", "h-002"}
    # the fixture's visitors minji and junho of 노원 too, not sora of 양천
    assert {v["username"] for v in mine["visitors"]} == {"mina", "jiho", "minji", "junho"}
    eligible = {h["id"]: h["eligible"] for h in mine["households"]}
    assert eligible == {"h-001": ["jiho", "junho", "mina", "minji"], "h-002": ["mina"]}  # the women-only rule
    theirs = client.get("/api/v1/dispatch", headers=bearer(desk, "yeon")).json
    assert {h["id"] for h in theirs["households"]} == {"h-003"}
    assert client.get("/api/v1/dispatch?district=서울 노원구", headers=bearer(desk, "yeon")).status_code == 404
    assert client.get("/api/v1/dispatch", headers=bearer(desk, "mina")).status_code == 403
    everything = client.get("/api/v1/dispatch", headers=bearer(desk, "boss")).json
    assert {"h-001", "h-002", "h-003"} <= {h["id"] for h in everything["households"]}
    shown = audit.query(desk, action="dispatch.read", actor="yeon")
    assert shown and "h-001" not in shown[0]["targets"] and "h-003" in shown[0]["targets"]


def test_a_declined_assignment_ends_and_the_coordinator_reads_why(app, desk):
    client = app.test_client()
    jiho = bearer(desk, "jiho")

    def suggested() -> list[str]:
        return [s["household_id"] for s in client.get("/api/v1/suggestions?limit=20", headers=jiho).json["suggestions"]]

    assert "h-001" in suggested()
    done = assign(app, desk, "h-001", "jiho")
    assert client.post("/api/v1/households/h-001/decline", json={"reason": ""}, headers=jiho).json["field"] == "reason"
    assert (
        client.post("/api/v1/households/h-002/decline", json={"reason": "시간 없음"}, headers=jiho).status_code == 404
    )
    answer = client.post("/api/v1/households/h-001/decline", json={"reason": "이번 주는 시험 기간"}, headers=jiho)
    assert answer.status_code == 200 and answer.json["claim_id"] == done.json["claim_id"]
    assert client.get("/api/v1/households/h-001/contact", headers=jiho).status_code == 404
    again = client.post("/api/v1/households/h-001/decline", json={"reason": "다시"}, headers=jiho)
    assert again.status_code == 404  # no longer theirs: not even to see
    assert "h-001" not in suggested()  # declined: not suggested to them again at once
    board = client.get("/api/v1/dispatch", headers=bearer(desk, "coord1")).json
    assert [(d["household_id"], d["username"], d["reason"]) for d in board["declines"]] == [
        ("h-001", "jiho", "이번 주는 시험 기간")
    ]
    event = audit.query(desk, action="household.decline")[0]
    assert event["actor"] == "jiho" and "이번 주" not in (event["detail"] or "")
    page_client = app.test_client()
    sign_in(page_client, "coord1")
    page = unescape(page_client.get("/dispatch?lang=en").get_data(as_text=True))
    assert "이번 주는 시험 기간" in page and "Declined in the last 30 days" in page


def test_release_by_the_coordinator(app, desk):
    client = app.test_client()
    coord = bearer(desk, "coord1")
    assert client.post("/api/v1/households/h-001/unassign", headers=coord).json["code"] == "not_held"
    assign(app, desk, "h-001", "mina")
    released = client.post("/api/v1/households/h-001/unassign", headers=coord)
    assert released.status_code == 200 and released.json["visitor"] == "mina"
    assert not desk.read("test_live_claims", household_id="h-001", now=dt.datetime.now(dt.UTC))
    assert client.post("/api/v1/households/h-001/unassign", headers=bearer(desk, "yeon")).status_code == 404


def test_two_assignments_at_once_one_wins(desk):
    barrier = threading.Barrier(6)
    outcomes: list[object] = [None] * 6

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = dispatch.assign(desk, COORD, who(COORD), "h-001", ("mina", "jiho")[i % 2], "급함")
        except Refused as exc:
            outcomes[i] = exc.code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, dispatch.Assigned)]
    assert len(winners) == 1, outcomes
    assert sorted(o for o in outcomes if isinstance(o, str)) in (
        ["already_assigned", "already_assigned", "held", "held", "held"],
    )
    assert len(desk.read("test_live_claims", household_id="h-001", now=dt.datetime.now(dt.UTC))) == 1


def _report(db, who_: str, household: str, visited: int, follow_up: int) -> None:
    """A visit ``visited`` days ago planning a follow-up ``follow_up`` days ago (by way of
    an assignment, which lets the visitor report)."""
    day = today()
    dispatch.assign(db, COORD, who(COORD), household, who_, "후속 방문")
    subject = access.Subject(who_, "visitor", ("서울 노원구",), "f")
    body = {
        "household_id": household,
        "visited_on": (day - dt.timedelta(days=visited)).isoformat(),
        "outcome": "met",
        "follow_up_on": (day - dt.timedelta(days=follow_up)).isoformat(),
    }
    visits.report(db, keyring(), subject, who(subject), body, today=day)


def test_follow_ups_overdue_by_visitor_reminded_twice_and_snoozed(app, desk):
    _report(desk, "mina", "h-001", visited=20, follow_up=10)  # overdue 10 days: reminded twice
    _report(desk, "mina", "h-002", visited=5, follow_up=2)  # due 2 days
    client = app.test_client()
    board = client.get("/api/v1/dispatch", headers=bearer(desk, "coord1")).json
    [group] = board["follow_ups"]
    assert group["visitor"] == "mina"
    items = {f["household_id"]: (f["days_overdue"], f["reminded_twice"]) for f in group["items"]}
    assert items == {"h-001": (10, True), "h-002": (2, False)}
    assert {h["kind"] for h in board["households"] if h["id"] in items} == {"follow_up_due"}

    # on the visitor's own page
    mina_page = app.test_client()
    sign_in(mina_page, "mina", totp=False)
    page = unescape(mina_page.get("/suggestions?lang=en").get_data(as_text=True))
    assert "Follow-ups due" in page and "Reminded twice" in page

    # snoozes: the visitor who planned it, or the coordinator; nobody else; a date after today
    mina, jiho = bearer(desk, "mina"), bearer(desk, "jiho")
    later = (today() + dt.timedelta(days=3)).isoformat()
    assert client.post("/api/v1/follow-ups/h-001/snooze", json={"until": later}, headers=jiho).status_code == 404
    assert (
        client.post("/api/v1/follow-ups/h-001/snooze", json={"until": later}, headers=bearer(desk, "yeon")).status_code
        == 404
    )
    past = client.post("/api/v1/follow-ups/h-001/snooze", json={"until": today().isoformat()}, headers=mina)
    assert past.status_code == 400 and past.json["field"] == "until" and past.json["code"] == "snooze_past"
    bad = client.post("/api/v1/follow-ups/h-001/snooze", json={"until": "2026-13-01"}, headers=mina)
    assert bad.status_code == 400 and bad.json["field"] == "until"
    done = client.post("/api/v1/follow-ups/h-001/snooze", json={"until": later}, headers=mina)
    assert done.status_code == 200 and done.json["snoozed_until"] == later
    coord_page = app.test_client()
    sign_in(coord_page, "coord1")
    desk_page = coord_page.get("/dispatch")
    page = desk_page.get_data(as_text=True)
    assert desk_page.status_code == 200 and 'id="follow-h-002"' in page  # the follow-ups due, by visitor
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    form = coord_page.post("/follow-ups/h-002/snooze", data={"csrf_token": token, "until": later, "back": "dispatch"})
    assert form.status_code == 302 and "done=snoozed" in form.headers["Location"]
    board = client.get("/api/v1/dispatch", headers=bearer(desk, "coord1")).json
    assert board["follow_ups"] == []
    events = audit.query(desk, action="follow_up.snooze")
    assert {e["actor"] for e in events} == {"mina", "coord1"}
    assert all(e["detail"].startswith("snoozed_until: – → ") for e in events)
    # an assignment tops the list even where nothing would suggest it (she visited it 20 days ago)
    listed = client.get("/api/v1/suggestions?limit=20", headers=mina).json["suggestions"]
    assert "h-001" not in [s["household_id"] for s in listed]
    dispatch.assign(desk, COORD, who(COORD), "h-001", "mina", "한 번 더")
    listed = client.get("/api/v1/suggestions?limit=20", headers=mina).json["suggestions"]
    assert listed[0]["household_id"] == "h-001" and listed[0]["assigned"]["reason"] == "한 번 더"
    # ... and on her page it comes before the follow-ups due (a long list of them pushed it down)
    _report(desk, "mina", "h-002", visited=4, follow_up=3)  # a newer visit: due again
    page = mina_page.get("/suggestions?lang=en").get_data(as_text=True)
    assert 'id="follow-ups-link"' in page
    assert page.index('class="suggestion assigned"') < page.index('id="follow-ups-title"')
    # a household without a follow-up cannot be snoozed
    none = client.post("/api/v1/follow-ups/h-003/snooze", json={"until": later}, headers=bearer(desk, "yeon"))
    assert none.status_code == 409 and none.json["code"] == "no_follow_up"


def test_the_desk_page_assigns_reassigns_and_releases_in_korean_and_english(app, desk):
    client = app.test_client()
    sign_in(client, "coord1")
    page = client.get("/dispatch?lang=ko").get_data(as_text=True)
    assert "<h1>" in page and 'id="need-h-001"' in page and "h-003" not in page
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    bad = client.post(
        "/dispatch/assign", data={"csrf_token": token, "household_id": "h-002", "visitor": "jiho", "reason": "x"}
    )
    assert bad.status_code == 400 and "여성" in unescape(bad.get_data(as_text=True))
    done = client.post(
        "/dispatch/assign", data={"csrf_token": token, "household_id": "h-001", "visitor": "mina", "reason": "가까움"}
    )
    assert done.status_code == 302 and "done=assigned" in done.headers["Location"]
    held = client.post(
        "/dispatch/assign?lang=en",
        data={"csrf_token": token, "household_id": "h-001", "visitor": "jiho", "reason": "x"},
    )
    assert held.status_code == 409 and "mina holds this household" in unescape(held.get_data(as_text=True))
    moved = client.post(
        "/dispatch/assign",
        data={"csrf_token": token, "household_id": "h-001", "visitor": "jiho", "reason": "교대", "replace": "1"},
    )
    assert moved.status_code == 302
    assert client.post("/dispatch/unassign", data={"csrf_token": token, "household_id": "h-001"}).status_code == 302
    assert client.post("/dispatch/unassign", data={"csrf_token": token, "household_id": "h-003"}).status_code == 404
    assert (
        client.post("/dispatch/assign", data={"household_id": "h-001", "visitor": "mina", "reason": "x"}).status_code
        == 400
    )
    visitor = app.test_client()
    sign_in(visitor, "mina", totp=False)
    assert visitor.get("/dispatch").status_code == 403


def test_the_desk_settings_come_from_the_environment():
    from graphsvc.config import load_settings

    s = load_settings({"GRAPHSVC_ASSIGN_DAYS": "10", "GRAPHSVC_FOLLOW_UP_REMINDER_DAYS": "3"})
    assert (s.assign_days, s.follow_up_reminder_days) == (10, 3)
    assert (load_settings({}).assign_days, load_settings({}).follow_up_reminder_days) == (30, 7)
    with pytest.raises(ValueError, match="GRAPHSVC_ASSIGN_DAYS"):
        load_settings({"GRAPHSVC_ASSIGN_DAYS": "a month"})
