"""The audit's questions (issue 15 §1, graphsvc/auditsearch.py, web/auditsearch.py): search by
household code, code name (shared: a choice), id; who saw a household; what a user saw;
keyset pages without duplicates or gaps while events are appended; the API; admins only."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from graphsvc import access, audit, auditsearch, households

from .conftest import KEYRING
from .helpers import ACTOR, api, events, sign_in

ADMIN = access.Subject("admin", "admin")


def _append(db, actor: str, action: str, targets=(), **extra) -> int:
    return audit.append_now(db, actor=actor, action=action, targets=list(targets), **extra)


def _twin(world) -> str:
    """A second 들국화 (the code name of p-001), in household h-002."""
    return households.add_person(
        world, KEYRING, ADMIN, ACTOR, {"id": "p-twin", "code_name": "들국화", "household_id": "h-002"}
    )


# --- resolving what an admin types ---------------------------------------------------------


def test_a_household_code_or_id_resolves_to_the_household_and_its_members(world):
    for text in ("H-001", "h-001", " H-001 "):
        target = auditsearch.resolve(world, text)
        assert (target.kind, target.id, target.label) == ("household", "h-001", "H-001")
        assert target.ids == ("h-001", "p-001", "p-002")


def test_a_code_name_resolves_to_its_person_and_a_shared_one_offers_the_choice(world):
    target = auditsearch.resolve(world, "은행나무")
    assert (target.kind, target.id, target.ids) == ("person", "p-003", ("p-003",))
    _twin(world)
    with pytest.raises(auditsearch.AmbiguousTarget) as shared:
        auditsearch.resolve(world, "들국화")
    assert {(c["id"], c["household_code"]) for c in shared.value.candidates} == {
        ("p-001", "H-001"),
        ("p-twin", "H-002"),
    }
    assert auditsearch.resolve(world, "p-twin").id == "p-twin"  # the choice: by id


def test_an_unknown_code_is_said_so_but_an_id_only_the_log_names_is_found(world):
    with pytest.raises(auditsearch.UnknownTarget):
        auditsearch.resolve(world, "H-999")
    _append(world, "admin", "user.update", ["junho"])
    assert auditsearch.resolve(world, "junho").kind == "id"  # e.g. an erased record's id


# --- search --------------------------------------------------------------------------------


def test_search_by_code_finds_the_events_of_its_id(world):
    mine = _append(world, "coord", "household.read", ["h-001", "p-001"])
    _append(world, "coord", "household.read", ["h-002"])
    _append(world, "coord", "network.read", ["h-0011", "h-00"])  # neither is h-001
    page = auditsearch.search(world, target="H-001")
    assert [e["seq"] for e in page.events] == [e["seq"] for e in events(world, target="h-001")]
    assert mine in [e["seq"] for e in page.events]
    assert all("h-001" in e["targets"] for e in page.events)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"actor": "coord"},
        {"action": "household.read"},
        {"action": "household."},
        {"outcome": "denied"},
        {"actor": "minji", "outcome": "ok"},
        {"action": "household.read", "since": "2000-01-01", "until": "2199-01-01"},
        {"since": dt.date.today() + dt.timedelta(days=2)},
        {"target": "h-002", "action": "household."},
    ],
)
def test_search_answers_as_the_old_query_did(world, filters):
    for i in range(12):
        actor = ("coord", "minji", "admin")[i % 3]
        _append(world, actor, ("household.read", "network.read", "household.claim")[i % 3], [f"h-00{i % 3 + 1}"])
    _append(world, "minji", "household.read", ["h-002"], outcome="denied")
    want = [e["seq"] for e in audit.query(world, limit=5, **filters)]
    assert [e["seq"] for e in auditsearch.search(world, limit=5, **filters).events] == want


def test_keyset_pages_have_no_duplicates_or_gaps_while_events_are_appended(world):
    for _ in range(23):
        _append(world, "coord", "household.read", ["h-001"])
    before = [e["seq"] for e in auditsearch.search(world, target="h-001", limit=100).events]
    seen, older, pages = [], None, 0
    while True:
        page = auditsearch.search(world, target="h-001", limit=5, before_seq=older)
        seen += [e["seq"] for e in page.events]
        _append(world, "coord", "household.read", ["h-001"])  # a new event while paging
        pages += 1
        if page.older is None:
            break
        older = page.older
    assert seen == before and pages == 5  # every event once, newest first, none of the new ones
    # and back towards the newest: after_seq, from the oldest page
    newer, back = before[-1] - 1, []
    while newer is not None:
        page = auditsearch.search(world, target="h-001", limit=5, after_seq=newer)
        back = [e["seq"] for e in page.events] + back
        newer = page.newer
    assert back[-len(before) :] == before and len(back) == len(before) + 5  # the 5 appended meanwhile


def test_search_needs_a_good_page(world):
    seqs = [_append(world, "coord", "household.read", ["h-001"]) for _ in range(6)]
    between = auditsearch.search(world, before_seq=seqs[4], after_seq=seqs[1])  # both: the events between
    assert [e["seq"] for e in between.events] == [seqs[3], seqs[2]]
    with pytest.raises(ValueError):
        auditsearch.search(world, before_seq="5")
    with pytest.raises(ValueError):
        auditsearch.search(world, limit=0)


# --- who saw, what did user Y see ----------------------------------------------------------


def test_who_saw_a_household_has_one_row_per_account(world):
    first = _append(world, "coord", "household.read", ["h-001", "p-001", "p-002"])
    _append(world, "coord", "household.read", ["h-001"], detail="token gs_abcd…")
    _append(world, "admin", "household.identity.read", ["h-001", "p-001"], reason="안부 확인 요청")
    _append(world, "minji", "household.contact.read", ["h-001"])
    _append(world, "minji", "household.read", ["p-002"])  # a member: also the household's
    _append(world, "junho", "household.read", ["h-001"], outcome="denied")  # not shown
    last = _append(world, "coord", "network.read", ["h-003", "h-001"])
    _append(world, "yeon", "household.read", ["h-002"])
    rows = {r["actor"]: r for r in auditsearch.who_saw(world, auditsearch.resolve(world, "H-001"))}
    assert set(rows) == {"coord", "admin", "minji"}
    coord = rows["coord"]
    assert coord["count"] == 3 and coord["first_seq"] == first and coord["last_seq"] == last
    assert coord["actions"] == {"household.read": 2, "network.read": 1} and coord["api"] == 1
    assert coord["identity"] == 0 and coord["reasons"] == []
    assert rows["admin"]["identity"] == 1 and rows["admin"]["reasons"] == ["안부 확인 요청"]
    assert rows["minji"]["contact"] == 1 and rows["minji"]["count"] == 2
    assert coord["first"] < coord["last"]
    person = {r["actor"] for r in auditsearch.who_saw(world, auditsearch.resolve(world, "새벽별"))}
    assert person == {"coord", "minji"}  # p-002 alone
    assert audit.verify(world).ok  # the index beside the chain changes no event


def test_what_a_user_saw(world):
    _append(world, "coord", "household.read", ["h-001", "p-001"])
    _append(world, "coord", "household.read", ["h-001"])
    _append(world, "coord", "household.identity.read", ["h-002", "p-003"], reason="주소 확인")
    _append(world, "coord", "household.read", ["h-003"], outcome="denied")
    _append(world, "minji", "household.read", ["h-004"])
    view = auditsearch.user_view(world, "coord")
    assert view["events"] == 4 and view["total_records"] == 4
    (day,) = view["days"]
    assert (day["events"], day["refused"], day["records"]) == (4, 1, 4)
    records = {r["id"]: r for r in view["records"]}
    assert records["h-001"]["count"] == 2 and records["h-001"]["label"] == "H-001"
    assert records["p-003"]["identity"] and records["p-003"]["label"] == "은행나무"
    assert view["records"][0]["identity"]  # identity first
    assert [(s["action"], s["reason"]) for s in view["sensitive"]] == [("household.identity.read", "주소 확인")]
    past = auditsearch.user_view(world, "coord", since=dt.date(2020, 1, 1), until=dt.date(2020, 1, 31))
    assert past["events"] == 0 and past["records"] == []


# --- the pages -----------------------------------------------------------------------------


@pytest.fixture()
def admin(app):
    client = app.test_client()
    sign_in(client, "admin")
    return client


def test_the_page_searches_by_code_and_lists_records_compactly(app, world, admin):
    api(app, "coord")("/api/v1/households/h-001")
    _append(world, "coord", "network.read", [f"h-00{i}" for i in range(1, 5)])
    page = admin.get("/admin/audit?target=H-001&lang=en").get_data(as_text=True)
    assert "household.read" in page and "network.read" in page
    assert re.search(r"<summary>4 records</summary>", page)
    assert ">H-003</a>" in page  # listed by code
    ko = admin.get("/admin/audit?target=H-001&lang=ko").get_data(as_text=True)
    assert "기록 4건" in ko
    many = _append(world, "coord", "network.read", ["h-001"] + [f"h-x{i}" for i in range(40)])
    page = admin.get("/admin/audit?target=H-001&lang=en").get_data(as_text=True)
    assert "41 records" in page and page.count('<li><a href="/admin/audit?target=h-x') == 29  # the first 30
    assert f'href="/admin/audit/event/{many}"' in page and "All 41 records" in page
    whole = admin.get(f"/admin/audit/event/{many}?lang=en").get_data(as_text=True)
    assert "h-x39" in whole and ">H-001</a>" in whole
    assert admin.get("/admin/audit/event/999999").status_code == 404


def test_the_page_offers_the_choice_for_a_shared_code_name(app, world, admin):
    _twin(world)
    response = admin.get("/admin/audit?target=들국화&lang=en")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Several people have the code name 들국화" in page
    assert "target=p-001" in page and "target=p-twin" in page
    assert "여러 사람" in admin.get("/admin/audit?target=들국화&lang=ko").get_data(as_text=True)


def test_the_page_says_when_no_record_has_the_code(app, world, admin):
    response = admin.get("/admin/audit?target=H-999&lang=en")
    assert response.status_code == 404
    assert "No household or person with the code H-999." in response.get_data(as_text=True)
    ko = admin.get("/admin/audit?target=H-999&lang=ko").get_data(as_text=True)
    assert "H-999 코드의 가구나 사람이 없습니다." in ko


@pytest.mark.parametrize(
    "query, field",
    [
        ("since=2026-13-01", "since"),
        ("outcome=maybe", "outcome"),
        ("action=DROP", "action"),
        ("since=2026-03-02&until=2026-03-01", "until"),
        ("before_seq=abc", "before_seq"),
        ("after_seq=-1", "after_seq"),
    ],
)
def test_bad_arguments_are_named(app, world, admin, query, field):
    response = admin.get(f"/admin/audit?{query}&lang=en")
    assert response.status_code == 400 and field in response.get_data(as_text=True)


def test_the_page_pages_with_seq(app, world, admin):
    for _ in range(60):
        _append(world, "coord", "household.read", ["h-001"])
    page = admin.get("/admin/audit?actor=coord&lang=en").get_data(as_text=True)
    older = re.search(r'href="([^"]*before_seq=(\d+)[^"]*)"', page)
    assert older and "Older" in page and "Newer" not in page
    second = admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Newer" in second
    first_seqs = set(re.findall(r'<td data-label="#">(\d+)</td>', page))
    second_seqs = set(re.findall(r'<td data-label="#">(\d+)</td>', second))
    assert len(first_seqs) == 50 and second_seqs and not first_seqs & second_seqs


def test_who_saw_page(app, world, admin):
    _append(world, "admin", "household.identity.read", ["h-001", "p-001"], reason="안부 확인 요청")
    api(app, "coord")("/api/v1/households/h-001")
    page = admin.get("/admin/audit/who-saw?target=H-001&lang=en").get_data(as_text=True)
    assert "안부 확인 요청" in page and "yes, 1 times" in page and ">coord</a>" in page
    assert "/admin/audit?actor=coord&amp;target=h-001" in page  # the events behind the row
    assert "through the API" in page
    ko = admin.get("/admin/audit/who-saw?target=H-001&lang=ko").get_data(as_text=True)
    assert "누가 보았나" in ko
    assert events(world, action="audit.read", actor="admin", target="h-001")
    unknown = admin.get("/admin/audit/who-saw?target=H-999&lang=en")
    assert unknown.status_code == 404 and "No household or person" in unknown.get_data(as_text=True)


def test_user_page(app, world, admin):
    _append(world, "coord", "household.identity.read", ["h-002", "p-003"], reason="주소 확인")
    page = admin.get("/admin/audit/user/coord?lang=en").get_data(as_text=True)
    assert "What coord saw" in page and "주소 확인" in page and "은행나무" in page
    assert admin.get("/admin/audit/user?actor=coord").headers["Location"].endswith("/admin/audit/user/coord")
    assert "본 것" in admin.get("/admin/audit/user/coord?lang=ko").get_data(as_text=True)
    assert admin.get("/admin/audit/user/coord?since=2026-05-02&until=2026-05-01").status_code == 400


@pytest.mark.parametrize("who", ["coord", "minji"])
def test_non_admins_are_refused(app, world, who):
    client = app.test_client()
    sign_in(client, who)
    for path in (
        "/admin/audit?target=H-001",
        "/admin/audit/who-saw?target=H-001",
        "/admin/audit/user/coord",
        "/admin/audit/event/1",
    ):
        assert client.get(path).status_code == 403, path
    call = api(app, who)
    assert call("/api/v1/audit?target=H-001").status_code == 403
    assert call("/api/v1/audit/who-saw/H-001").status_code == 403


# --- the API -------------------------------------------------------------------------------


def test_api_takes_codes_and_code_names(app, world):
    get = api(app, "admin")
    api(app, "coord")("/api/v1/households/h-001")
    by_code = get("/api/v1/audit?target=H-001").json
    assert by_code["target"] == "h-001" and by_code["events"][0]["action"] == "household.read"
    assert get("/api/v1/audit?target=새벽별").json["target"] == "p-002"
    _twin(world)
    shared = get("/api/v1/audit?target=들국화")
    assert shared.status_code == 409 and shared.json["code"] == "target_ambiguous"
    assert {c["id"] for c in shared.json["candidates"]} == {"p-001", "p-twin"}
    assert get("/api/v1/audit?target=H-999").status_code == 404


def test_api_who_saw_and_pages(app, world):
    get = api(app, "admin")
    api(app, "coord")("/api/v1/households/h-001")
    answer = get("/api/v1/audit/who-saw/H-001").json
    assert answer["target"]["id"] == "h-001" and [a["actor"] for a in answer["accounts"]] == ["coord"]
    coord = answer["accounts"][0]
    assert coord["api"] == coord["count"] >= 1 and "household.read" in coord["actions"]  # all through a token
    assert get("/api/v1/audit/who-saw/H-999").status_code == 404
    first = get("/api/v1/audit?limit=2").json
    older = get(f"/api/v1/audit?limit=2&before_seq={first['next_before_seq']}").json
    assert max(e["seq"] for e in older["events"]) < min(e["seq"] for e in first["events"])
    back = get(f"/api/v1/audit?limit=2&after_seq={older['events'][0]['seq']}").json
    assert [e["seq"] for e in back["events"]][-1] == min(e["seq"] for e in first["events"])
    assert get("/api/v1/audit?outcome=maybe").status_code == 400
    assert events(world, action="audit.read", actor="admin")
