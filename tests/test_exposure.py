"""The exposure of a lost phone or a compromised account (issue 15 §4): graphsvc/exposure.py,
web/exposure.py.

The small network (tests/fixtures/small): h-001 (노원구: 들국화 p-001, 새벽별 p-002),
h-002 (노원구: 은행나무 p-003), h-003 (양천구: 푸른솔 p-004), h-004 (안산시: 작은샘 p-005),
h-005 (노원구: p-006); introductions p-001→p-003, p-003→p-004, p-001→p-005, p-004→p-006.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from graphsvc import exposure
from graphsvc.errors import Refused

from .helpers import PASSWORD, api, app_db, events, past_events, sign_in

NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def by_id(answer: dict) -> tuple[dict, dict]:
    """Households and people of a report by id."""
    households = {h["id"]: h for g in answer["districts"] for h in g["households"]}
    people = {p["id"]: p for h in households.values() for p in h["people"]}
    return households, people


# --- the core ------------------------------------------------------------------------------


def test_direct_and_one_hop(world):
    """A plain read of h-002 (and its person): shown; its introducer 들국화 (p-001), whom
    it introduced (p-004), are linked, and so are the people of the same household as 들국화
    not shown (none here but 새벽별, who is not one hop from p-003: not listed)."""
    past_events(world, {"at": ago(2), "actor": "minji", "action": "household.read", "targets": ["h-002", "p-003"]})
    answer = exposure.report(world, "minji", TODAY - dt.timedelta(days=7))
    households, people = by_id(answer)
    assert people["p-003"]["level"] == "shown" and households["h-002"]["level"] == "shown"
    assert households["h-002"]["shown"] and households["h-002"]["times"] == 1
    assert people["p-001"]["level"] == "linked"
    assert people["p-001"]["via"] == [{"via_id": "p-003", "relation": "introducer"}]
    assert people["p-004"]["via"] == [{"via_id": "p-003", "relation": "introduced"}]
    assert households["h-001"]["level"] == "linked" and not households["h-001"]["shown"]
    assert households["h-003"]["district"] == "서울 양천구"
    assert "p-002" not in people  # two steps away (introducer's household): not counted
    assert "p-006" not in people
    assert answer["events"] == 1 and answer["user"] == "minji"


def test_same_household_and_household_only(world):
    """A person shown: the others of their household are linked; a household shown without
    its people: its people are linked to it."""
    past_events(
        world,
        {"at": ago(1), "actor": "minji", "action": "household.read", "targets": ["p-001"]},
        {"at": ago(1), "actor": "minji", "action": "network.unvisited", "targets": ["h-005"]},
    )
    households, people = by_id(exposure.report(world, "minji", TODAY - dt.timedelta(days=3)))
    assert {"via_id": "p-001", "relation": "household"} in people["p-002"]["via"]
    assert people["p-006"]["via"] == [{"via_id": "h-005", "relation": "household"}]
    assert households["h-005"]["level"] == "shown"
    # 들국화's household is exposed through her (shown), though its id was not a target
    assert households["h-001"]["level"] == "shown" and not households["h-001"]["shown"]


def test_identity_and_contact_marked(world):
    """Contact before identity before plain reads; an identity read's other targets (an
    introducer of another household on the page) stay "shown"."""
    past_events(
        world,
        {"at": ago(3), "actor": "coord", "action": "household.read", "targets": ["h-003", "p-004"]},
        {
            "at": ago(2),
            "actor": "coord",
            "action": "household.identity.read",
            "targets": ["h-001", "p-001", "p-002", "p-003"],
        },
        {"at": ago(1), "actor": "coord", "action": "household.contact.read", "targets": ["h-002", "p-003", "c-1"]},
    )
    answer = exposure.report(world, "coord", TODAY - dt.timedelta(days=10))
    households, people = by_id(answer)
    assert households["h-002"]["level"] == "contact" and people["p-003"]["level"] == "contact"
    assert households["h-001"]["level"] == "identity"
    assert people["p-001"]["level"] == people["p-002"]["level"] == "identity"
    assert households["h-003"]["level"] == "shown"
    noh = next(g for g in answer["districts"] if g["district"] == "서울 노원구")
    assert [h["id"] for h in noh["households"]][:2] == ["h-002", "h-001"]  # most exposed first
    assert answer["totals"]["contact"] == 1 and answer["totals"]["identity"] == 1
    # the identity read of p-003 (an introducer beside h-001) did not make it identity: it
    # was contact anyway; p-003 on its own page is what the contact event raised
    past_events(
        world,
        {"at": ago(1), "actor": "yeon", "action": "household.identity.read", "targets": ["h-003", "p-004", "p-003"]},
    )
    _, people = by_id(exposure.report(world, "yeon", TODAY - dt.timedelta(days=10)))
    assert people["p-004"]["level"] == "identity" and people["p-003"]["level"] == "shown"


def test_since_and_other_accounts_and_outcomes(world):
    past_events(
        world,
        {"at": ago(20), "actor": "minji", "action": "household.read", "targets": ["h-003", "p-004"]},
        {"at": ago(2), "actor": "minji", "action": "household.read", "targets": ["h-002", "p-003"]},
        {"at": ago(2), "actor": "minji", "action": "household.read", "targets": ["h-005"], "outcome": "denied"},
        {"at": ago(1), "actor": "coord", "action": "household.contact.read", "targets": ["h-004", "p-005"]},
    )
    households, people = by_id(exposure.report(world, "minji", TODAY - dt.timedelta(days=5)))
    assert {h for h, row in households.items() if row["shown"]} == {"h-002"}
    assert people["p-004"]["level"] == "linked"  # shown 20 days ago: before since, linked only now
    assert "h-005" not in households and "p-005" not in people  # denied; coord's event
    households, _ = by_id(exposure.report(world, "minji", TODAY - dt.timedelta(days=30)))
    assert households["h-003"]["shown"] and households["h-003"]["last_shown"].startswith(ago(20).date().isoformat())


def test_grouped_by_district_most_exposed_first(world):
    """Districts by their contact reveals, then identity, shown, linked (not by name)."""
    past_events(
        world,
        {"at": ago(1), "actor": "coord", "action": "household.read", "targets": ["h-001", "p-001", "p-002"]},
        {"at": ago(1), "actor": "coord", "action": "household.contact.read", "targets": ["h-003", "p-004"]},
    )
    answer = exposure.report(world, "coord", TODAY - dt.timedelta(days=3))
    districts = [g["district"] for g in answer["districts"]]
    assert districts == ["서울 양천구", "서울 노원구", "경기 안산시"]
    noh = answer["districts"][1]
    # h-001 shown; h-002 (p-003: introduced by 들국화, introduced 푸른솔) and h-005 (p-006) linked
    assert noh["counts"]["shown"] == 1 and noh["counts"]["linked"] == 2
    assert noh["counts"]["people_shown"] == 2 and noh["counts"]["households"] == 3
    assert answer["districts"][2]["counts"] == {
        **noh["counts"],
        "shown": 0,
        "linked": 1,
        "households": 1,
        "people": 1,
        "people_shown": 0,
        "people_linked": 1,
    }


def test_last_shown_is_the_newest(world):
    past_events(
        world,
        {"at": ago(4), "actor": "minji", "action": "household.read", "targets": ["h-002", "p-003"]},
        {"at": ago(1), "actor": "minji", "action": "suggestions.read", "targets": ["h-002"]},
    )
    households, people = by_id(exposure.report(world, "minji", TODAY - dt.timedelta(days=7)))
    assert households["h-002"]["times"] == 2
    assert households["h-002"]["last_shown"].startswith(ago(1).date().isoformat())
    assert people["p-003"]["last_shown"].startswith(ago(4).date().isoformat())


def test_refusals(world):
    with pytest.raises(Refused) as e:
        exposure.report(world, "nobody", TODAY)
    assert e.value.kind == "not_found" and e.value.field == "user"
    for bad in ("", None, "A B", "x" * 40, "관리자"):
        with pytest.raises(Refused) as e:
            exposure.report(world, bad, TODAY)
        assert e.value.kind == "invalid" and e.value.field == "user"
    # a day to come is no error (the API's dates are plain dates): nothing was shown since
    assert exposure.report(world, "minji", TODAY + dt.timedelta(days=1))["events"] == 0


def test_csv_rows_every_person(world):
    past_events(world, {"at": ago(1), "actor": "minji", "action": "household.read", "targets": ["h-002", "p-003"]})
    rows = exposure.csv_rows(exposure.report(world, "minji", TODAY - dt.timedelta(days=3)))
    assert {r[5] for r in rows} == {"p-003", "p-001", "p-004"}
    linked = next(r for r in rows if r[5] == "p-001")
    assert linked[6] == "linked" and linked[9] == "introducer:은행나무"


# --- the web: page, CSV, API ----------------------------------------------------------------


def _admin(app):
    client = app.test_client()
    assert sign_in(client, "admin").status_code == 302
    return client


def test_page_admin_audited_with_ids_shown(app):
    db = app_db(app)
    past_events(db, {"at": ago(1), "actor": "minji", "action": "household.contact.read", "targets": ["h-002", "p-003"]})
    client = _admin(app)
    since = (TODAY - dt.timedelta(days=3)).isoformat()
    page = client.get(f"/admin/exposure?user=minji&since={since}&lang=ko")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "H-002" in text and "은행나무" in text and "들국화" in text
    assert "연락처" in text  # the level, in Korean
    event = events(db, actor="admin", action=exposure.ACTION)[0]
    assert set(event["targets"]) == {"h-002", "p-003", "h-001", "p-001", "h-003", "p-004"}
    english = " ".join(client.get(f"/admin/exposure?user=minji&since={since}&lang=en").get_data(as_text=True).split())
    assert "Contact revealed" in english and "introduced by 은행나무" in english and "introduced 은행나무" in english


def test_page_without_user_is_the_form(app):
    client = _admin(app)
    page = client.get("/admin/exposure")
    assert page.status_code == 200 and 'name="user"' in page.get_data(as_text=True)


def test_bad_input_names_the_field(app):
    client = _admin(app)
    for query, field in (
        ("user=A%20B", "user"),
        ("user=minji&since=2026-13-01", "since"),
        ("user=minji&since=yesterday", "since"),
        ("user=minji&since=2026-02-30", "since"),
    ):
        for lang in ("en", "ko"):
            answer = client.get(f"/admin/exposure?{query}&lang={lang}")
            assert answer.status_code == 400, query
            assert f"{field}:" in answer.get_data(as_text=True)
    ko = client.get("/admin/exposure?user=A%20B&lang=ko").get_data(as_text=True)
    assert "사용자 이름" in ko
    unknown = client.get("/admin/exposure?user=nobody&lang=ko")
    assert unknown.status_code == 404 and "찾을 수 없" in unknown.get_data(as_text=True)
    assert client.get("/admin/exposure?user=nobody&lang=en").status_code == 404


def test_csv_formula_safe_and_audited(app):
    db = app_db(app)
    # a code name that a spreadsheet would run (data comes from imports and visits)
    db.write("test_exposure_code_name", person_id="p-003", code_name='=HYPERLINK("http://x")')
    past_events(db, {"at": ago(1), "actor": "minji", "action": "household.read", "targets": ["h-002", "p-003"]})
    client = _admin(app)
    since = (TODAY - dt.timedelta(days=3)).isoformat()
    answer = client.get(f"/admin/exposure.csv?user=minji&since={since}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == list(exposure.CSV_COLUMNS)
    cells = [c for r in rows for c in r]
    assert '\'=HYPERLINK("http://x")' in cells
    assert not any(c[:1] in "=+-@" for c in cells if c)
    event = events(db, actor="admin", action=exposure.EXPORT_ACTION)[0]
    assert set(event["targets"]) == {"h-002", "p-003", "h-001", "p-001", "h-003", "p-004"}


def test_api(app):
    db = app_db(app)
    past_events(
        db, {"at": ago(1), "actor": "minji", "action": "household.identity.read", "targets": ["h-001", "p-001"]}
    )
    call = api(app, "admin")
    since = (TODAY - dt.timedelta(days=3)).isoformat()
    answer = call(f"/api/v1/exposure?user=minji&since={since}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["user"] == "minji" and body["since"] == since and body["totals"]["identity"] == 1
    assert body["districts"][0]["district"] == "서울 노원구"
    assert events(db, actor="admin", action=exposure.ACTION)[0]["targets"]
    bad = call("/api/v1/exposure?user=minji&since=2026-02-30&lang=ko")
    assert bad.status_code == 400 and bad.get_json()["field"] == "since"
    missing = call("/api/v1/exposure")
    assert missing.status_code == 400 and missing.get_json()["field"] == "user"
    unknown = call("/api/v1/exposure?user=nobody")
    assert unknown.status_code == 404 and unknown.get_json()["status"] == 404


def test_non_admins_refused(app):
    for name in ("coord", "minji"):
        client = app.test_client()
        sign_in(client, name, PASSWORD)
        assert client.get("/admin/exposure?user=minji").status_code == 403
        assert client.get("/admin/exposure.csv?user=minji").status_code == 403
        assert api(app, name)("/api/v1/exposure?user=minji").status_code == 403
    db = app_db(app)
    assert not events(db, action=exposure.ACTION)
    assert events(db, actor="minji", outcome="denied", action="audit.read")


def test_bulk_exports_listed_apart(world):
    """A full export names no records: the report lists it apart, so that it is not missed."""
    past_events(
        world,
        {"at": ago(1), "actor": "coord", "action": "export", "targets": [], "detail": "households 5, people 6"},
        {"at": ago(9), "actor": "coord", "action": "export", "targets": []},
    )
    answer = exposure.report(world, "coord", TODAY - dt.timedelta(days=3))
    assert [(b["action"], b["detail"]) for b in answer["bulk"]] == [("export", "households 5, people 6")]
    assert answer["events"] == 1 and answer["districts"] == []


def test_the_page_escapes_code_names(app):
    """p-006's code name is markup (tests/fixtures/small): shown as text, never run."""
    db = app_db(app)
    past_events(db, {"at": ago(1), "actor": "minji", "action": "network.unvisited", "targets": ["h-005"]})
    client = _admin(app)
    page = client.get(f"/admin/exposure?user=minji&since={(TODAY - dt.timedelta(days=2)).isoformat()}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
