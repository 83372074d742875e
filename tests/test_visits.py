"""Claims and visit reports: atomic claims, expiry and release, validated reports that
change nothing when refused, the women-only rule, and the audit of each."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from graphsvc import access, accounts, audit, visits
from graphsvc.errors import Refused
from graphsvc.model import Actor

from .helpers import ACTOR, import_folder, keyring, rewrite

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def visitor(name: str, gender: str | None = "f", districts=("서울 노원구",)) -> access.Subject:
    return access.Subject(name, "visitor", tuple(districts), gender)


def who(subject: access.Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


def suggested(db, subject: access.Subject, *household_ids: str) -> None:
    """What /suggestions records when it shows households to a visitor."""
    audit.append_now(db, actor=subject.username, role="visitor", action="suggestions.read", targets=list(household_ids))


@pytest.fixture()
def field(db, small):
    """The small network; h-003 is 노원's women-only household for these tests (moved there)."""

    def edit(rows):
        rows[0].append("women_only")
        for r in rows[1:]:
            if r[0] == "h-003":
                r[2] = "서울 노원구"
            r.append("true" if r[0] == "h-003" else "")

    rewrite(small, "households", edit)
    assert import_folder(db, small).ok
    for name, gender in (("mina", "f"), ("jiho", "m"), ("sora", "f")):
        accounts.add_user(db, ACTOR, name, "visitor", ["서울 노원구"], "correct horse battery", gender)
    return db


def test_claim_needs_a_suggestion_and_is_exclusive(field):
    mina, sora = visitor("mina"), visitor("sora")
    with pytest.raises(Refused) as e:
        visits.claim(field, mina, who(mina), "h-002", now=NOW)  # never suggested to her
    assert e.value.kind == "not_found"
    suggested(field, mina, "h-002")
    suggested(field, sora, "h-002")
    first = visits.claim(field, mina, who(mina), "h-002", now=NOW)
    assert first.expires_at == NOW + dt.timedelta(days=visits.CLAIM_DAYS) and not first.renewed
    with pytest.raises(Refused) as e:
        visits.claim(field, sora, who(sora), "h-002", now=NOW)
    assert e.value.kind == "conflict"
    assert visits.claim(field, mina, who(mina), "h-002", now=NOW + dt.timedelta(days=1)).renewed
    # it expires: after 14 days without a report, sora may have it
    later = NOW + dt.timedelta(days=visits.CLAIM_DAYS + 2)
    assert visits.claim(field, sora, who(sora), "h-002", now=later).claim_id != first.claim_id
    # the core's refusal writes nothing: the web layer's guard records the one denied event
    # (issue 14: it was written twice, once in the transaction and once by the guard)
    assert audit.query(field, action="household.claim", outcome="denied") == []


def test_twenty_simultaneous_claims_exactly_one_wins(field):
    subjects = []
    for i in range(20):
        name = f"v{i:02d}"
        accounts.add_user(field, ACTOR, name, "visitor", ["서울 노원구"], "correct horse battery", "f")
        subjects.append(visitor(name))
        suggested(field, subjects[-1], "h-002")
    barrier = threading.Barrier(20)
    outcomes: list[object] = [None] * 20

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = visits.claim(field, subjects[i], who(subjects[i]), "h-002", now=NOW)
        except Refused as exc:
            outcomes[i] = {"not_found": 404, "conflict": 409}.get(exc.kind, 400)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, visits.ClaimResult)]
    assert len(winners) == 1 and sorted(o for o in outcomes if isinstance(o, int)) == [409] * 19
    live = field.read("test_live_claims", household_id="h-002", now=NOW)
    assert len(live) == 1


def test_release_and_what_cannot_be_claimed(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002", "h-005")
    visits.claim(field, mina, who(mina), "h-002", now=NOW)
    visits.release(field, mina, who(mina), "h-002", now=NOW)
    with pytest.raises(Refused) as e:
        visits.release(field, mina, who(mina), "h-002", now=NOW)
    assert e.value.kind == "not_found"
    with pytest.raises(Refused) as e:  # do_not_visit: never suggested, not claimable
        visits.claim(field, mina, who(mina), "h-005", now=NOW)
    assert e.value.kind == "not_found"


def test_women_only_households_are_not_for_men(field):
    jiho, mina = visitor("jiho", "m"), visitor("mina", "f")
    suggested(field, jiho, "h-003")
    suggested(field, mina, "h-003")
    with pytest.raises(Refused) as e:
        visits.claim(field, jiho, who(jiho), "h-003", now=NOW)
    assert e.value.kind == "not_found"
    unknown = visitor("sora", None)
    suggested(field, unknown, "h-003")
    with pytest.raises(Refused):
        visits.claim(field, unknown, who(unknown), "h-003", now=NOW)
    assert visits.claim(field, mina, who(mina), "h-003", now=NOW)


REPORT = {
    "household_id": "h-002",
    "visited_on": "2026-11-19",
    "outcome": "met",
    "materials": {"bible": 1, "hymnal": 2},
    "notes": "아이들과 이야기함",
    "follow_up_on": "2026-12-20",
}


def test_report_records_the_visit_ends_the_claim_and_encrypts_notes(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002")
    claim = visits.claim(field, mina, who(mina), "h-002", now=NOW)
    visit_id = visits.report(field, keyring(), mina, who(mina), REPORT, now=NOW).visit_id
    stored = field.read("test_visit", id=visit_id)[0]
    assert stored["outcome"] == "met" and stored["materials"] == "bible:1;hymnal:2"
    assert (
        stored["notes"].startswith("enc:")
        and keyring().decrypt(stored["notes"], "Visit", visit_id, "notes") == REPORT["notes"]
    )
    assert stored["visitor"] == "mina" and stored["follow_up_on"].iso_format() == "2026-12-20"
    assert not field.read("test_live_claims", household_id="h-002", now=NOW)
    event = audit.query(field, action="visit.report", limit=1)[0]
    assert set(event["targets"]) == {"h-002", visit_id, claim.claim_id}
    assert REPORT["notes"] not in str(event)
    history = visits.history(field, mina)
    assert [v["id"] for v in history["visits"]] == [visit_id]
    assert history["claims"][0]["ended_by"] == "visit"


def test_a_moved_report_sets_the_household_status(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002")
    visits.report(field, keyring(), mina, who(mina), dict(REPORT, outcome="moved", follow_up_on=None), now=NOW)
    assert field.read("test_household_status", id="h-002")[0]["status"] == "moved"


@pytest.mark.parametrize(
    "change,field_name",
    [
        ({"visited_on": "2026-11-21"}, "visited_on"),  # in the future
        ({"visited_on": "2026-02-30"}, "visited_on"),
        ({"visited_on": None}, "visited_on"),
        ({"outcome": "partied"}, "outcome"),
        ({"materials": "bible:0"}, "materials"),
        ({"materials": {"bible": "two"}}, "materials"),
        ({"follow_up_on": "2026-11-01"}, "follow_up_on"),  # before the visit
        ({"notes": "x" * 4001}, "notes"),
        ({"household_id": ""}, "household_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_reports_name_the_field_and_change_nothing(field, change, field_name):
    from .helpers import snapshot

    mina = visitor("mina")
    suggested(field, mina, "h-002")
    before = snapshot(field)
    with pytest.raises(Refused) as e:
        visits.report(field, keyring(), mina, who(mina), {**REPORT, **change}, now=NOW)
    assert e.value.kind == "invalid" and e.value.field == field_name
    assert snapshot(field) == before


def test_reports_on_households_the_visitor_may_not_see_change_nothing(field):
    from .helpers import snapshot

    mina, sora = visitor("mina"), visitor("sora")
    before = snapshot(field)
    for household, status in (("h-002", 404), ("h-404", 404), ("h-004", 404)):  # not suggested; unknown; elsewhere
        with pytest.raises(Refused) as e:
            visits.report(field, keyring(), mina, who(mina), dict(REPORT, household_id=household), now=NOW)
        assert {"not_found": 404, "conflict": 409, "invalid": 400}[e.value.kind] == status
    assert snapshot(field) == before
    suggested(field, mina, "h-002")
    suggested(field, sora, "h-002")
    visits.claim(field, sora, who(sora), "h-002", now=NOW)
    with pytest.raises(Refused) as e:  # another visitor's claim
        visits.report(field, keyring(), mina, who(mina), REPORT, now=NOW)
    assert e.value.kind == "conflict"


# --- the field loop: where to go, what a visit brings back ---------------------------------


def reveal(db, subject, household_id, per_day=10, now=NOW):
    return visits.contact(db, keyring(), subject, who(subject), household_id, per_day, now=now)


def test_the_contact_shows_only_while_the_household_is_held(field):
    from .helpers import snapshot

    mina, sora = visitor("mina"), visitor("sora")
    suggested(field, mina, "h-002")
    before = snapshot(field)
    with pytest.raises(Refused) as e:  # suggested is not enough: held
        reveal(field, mina, "h-002")
    assert e.value.kind == "not_found"
    assert snapshot(field) == before
    claim = visits.claim(field, mina, who(mina), "h-002", now=NOW)
    found = reveal(field, mina, "h-002")
    assert found == {
        "household_id": "h-002",
        "code": "H-002",
        "contact_code_name": "은행나무",
        "address": "서울 노원구 동일로 200, 3동 101호",
        "phone": "010-2222-3333",
        "claim_id": claim.claim_id,
        "claim_expires_at": claim.expires_at.isoformat(),
    }
    event = audit.query(field, action="household.contact.read", limit=1)[0]
    assert event["actor"] == "mina" and set(event["targets"]) == {"h-002", "p-003", claim.claim_id}
    assert "010-2222-3333" not in str(event) and "동일로" not in str(event)
    suggested(field, sora, "h-002")
    with pytest.raises(Refused):  # another visitor: not theirs
        reveal(field, sora, "h-002")
    with pytest.raises(Refused):  # the claim expired
        reveal(field, mina, "h-002", now=NOW + dt.timedelta(days=visits.CLAIM_DAYS, seconds=1))
    visits.release(field, mina, who(mina), "h-002", now=NOW)
    with pytest.raises(Refused) as e:  # released
        reveal(field, mina, "h-002")
    assert e.value.kind == "not_found"
    visits.claim(field, mina, who(mina), "h-002", now=NOW)
    visits.report(field, keyring(), mina, who(mina), REPORT, now=NOW)
    with pytest.raises(Refused):  # reported: the claim ended with the visit
        reveal(field, mina, "h-002")
    coordinator = access.Subject("coord", "coordinator", ("서울 노원구",))
    with pytest.raises(Refused):  # not a field worker's reveal
        visits.contact(field, keyring(), coordinator, who(coordinator), "h-002", now=NOW)


def test_contacts_are_capped_a_day_with_one_alert(field):
    mina = visitor("mina")
    suggested(field, mina, "h-001", "h-002")
    visits.claim(field, mina, who(mina), "h-001", now=NOW)
    visits.claim(field, mina, who(mina), "h-002", now=NOW)
    assert reveal(field, mina, "h-001", per_day=1)["contact_code_name"] == "들국화"
    for _ in range(2):
        with pytest.raises(Refused) as e:
            reveal(field, mina, "h-002", per_day=1)
        assert e.value.kind == "busy" and e.value.code == "contact_cap"
    assert reveal(field, mina, "h-001", per_day=1)  # the same household again: not another one
    alerts = audit.query(field, action=visits.CONTACT_ALERT)
    assert len(alerts) == 1 and alerts[0]["actor"] == "mina" and alerts[0]["targets"] == ["h-002"]
    assert len(audit.query(field, action="household.contact.read")) == 2  # the refused reveals: none
    # 24 hours after the reveals (their events carry the clock's time): counted afresh
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=24, minutes=5)
    visits.claim(field, mina, who(mina), "h-002", now=later)  # the claim of NOW has expired by the clock's day
    assert reveal(field, mina, "h-002", per_day=1, now=later)["phone"] == "010-2222-3333"


def test_live_claims_are_capped(field):
    mina = visitor("mina")
    suggested(field, mina, "h-001", "h-002")
    visits.claim(field, mina, who(mina), "h-001", now=NOW, max_live=1)
    with pytest.raises(Refused) as e:
        visits.claim(field, mina, who(mina), "h-002", now=NOW, max_live=1)
    assert e.value.kind == "conflict" and e.value.code == "claim_limit"
    assert visits.claim(field, mina, who(mina), "h-001", now=NOW, max_live=1).renewed  # renewing is not another
    visits.release(field, mina, who(mina), "h-001", now=NOW)
    assert visits.claim(field, mina, who(mina), "h-002", now=NOW, max_live=1)


FIELD_REPORT = {
    "household_id": "H-001",  # the code, as the visitor sees it
    "visited_on": "2026-11-19",
    "outcome": "met",
    "met": ["p-001"],
    "new_members": [{"code_name": "아침해", "legal_name": "김하나", "phone": "+82 10 5555 1234"}],
    "introductions": [
        {
            "introducer_id": "p-001",
            "code_name": "들꽃",
            "relation": "family",
            "district": "서울 노원구",
            "phone": "010-7777-8888",
            "address": "서울 노원구 상계로 9",
            "note": "언니의 딸",
        },
        {"introducer_id": "p-002", "code_name": "솔바람", "relation": "friend", "district": "서울 양천구"},
    ],
}


def test_a_report_brings_back_people_and_introduced_households_in_one_go(field):
    mina = visitor("mina")
    suggested(field, mina, "h-001")
    done = visits.report(field, keyring(), mina, who(mina), FIELD_REPORT, now=NOW)
    assert done.household_id == "h-001" and len(done.new_members) == 1 and len(done.introductions) == 2
    people = {
        p["id"]: p for p in field.read("test_people_of", ids=[*done.new_members, *(p for _, p in done.introductions)])
    }
    new_member = people[done.new_members[0]]
    assert new_member["household_id"] == "h-001" and new_member["code_name"] == "아침해"
    assert new_member["phone"].startswith("enc:") and "5555" not in str(new_member)
    assert keyring().decrypt(new_member["phone"], "Person", new_member["id"], "phone") == "+82 10 5555 1234"
    (h1, p1), (h2, p2) = done.introductions
    for hid, pid, introducer, district in ((h1, p1, "p-001", "서울 노원구"), (h2, p2, "p-002", "서울 양천구")):
        row = people[pid]
        assert row["household_id"] == hid and row["status"] == "pending" and row["district"] == district
        assert row["introducer_id"] == introducer and row["introduced_on"].iso_format() == "2026-11-19"
        assert row["code"].startswith("N-") and row["brought_by_visit"] == done.visit_id
        assert row["parent"] == "h-001"  # the chain index follows in the same transaction
    assert keyring().decrypt(people[p1]["address"], "Person", p1, "address") == "서울 노원구 상계로 9"
    stored = field.read("test_visit", id=done.visit_id)[0]
    assert "[N-" in keyring().decrypt(stored["notes"], "Visit", done.visit_id, "notes")  # the note, encrypted
    assert sorted(field.read("test_visit_met", id=done.visit_id)[0]["ids"]) == sorted(["p-001", *done.new_members])
    event = audit.query(field, action="visit.report", limit=1)[0]
    assert {h1, p1, h2, p2, "p-001", *done.new_members} <= set(event["targets"])
    assert "김하나" not in str(event) and "010-7777" not in str(event)
    # pending: never suggested, never claimable; the history says where each stands
    suggested(field, mina, h1)
    with pytest.raises(Refused):
        visits.claim(field, mina, who(mina), h1, now=NOW)
    brought = {b["code_name"]: b for b in visits.history(field, mina)["brought"]}
    assert brought["들꽃"]["status"] == "pending" and brought["들꽃"]["household_id"] == h1
    outside = [b for b in visits.history(field, mina)["brought"] if b["code_name"] is None]
    assert len(outside) == 1 and outside[0] == {
        "visit_id": done.visit_id,
        "visited_on": outside[0]["visited_on"],
        "status": "pending",
        "household_id": None,
        "code": None,
        "code_name": None,
        "district": None,
    }


@pytest.mark.parametrize(
    "change,field_name",
    [
        (
            {"introductions": [{**FIELD_REPORT["introductions"][0], "introducer_id": "p-003"}]},
            "introductions[0].introducer_id",
        ),
        (
            {
                "introductions": [
                    FIELD_REPORT["introductions"][0],
                    {**FIELD_REPORT["introductions"][1], "district": "부산 해운대구"},
                ]
            },
            "introductions[1].district",
        ),
        ({"introductions": [{**FIELD_REPORT["introductions"][0], "phone": "010-12"}]}, "introductions[0].phone"),
        ({"introductions": [{**FIELD_REPORT["introductions"][0], "code_name": " "}]}, "introductions[0].code_name"),
        (
            {"introductions": [{**FIELD_REPORT["introductions"][0], "code_name": "가" * 41}]},
            "introductions[0].code_name",
        ),
        ({"introductions": [{**FIELD_REPORT["introductions"][0], "relation": "cousin"}]}, "introductions[0].relation"),
        ({"introductions": [{**FIELD_REPORT["introductions"][0], "colour": "red"}]}, "introductions[0].colour"),
        (
            {"introductions": [FIELD_REPORT["introductions"][0]] * 2},
            "introductions[1].code_name",
        ),  # a second introducer
        ({"introductions": ["들꽃"]}, "introductions[0]"),
        ({"introductions": {"code_name": "들꽃"}}, "introductions"),
        ({"new_members": [{"code_name": "아침해", "phone": "call me"}]}, "new_members[0].phone"),
        ({"new_members": [{"legal_name": "김하나"}]}, "new_members[0].code_name"),
        ({"met": ["p-003"]}, "met[0]"),  # not of this household
        ({"met": ["p-001", "p-001"]}, "met[1]"),
        ({"met": "p-001"}, "met"),
        ({"met": [f"p-{i}" for i in range(21)]}, "met"),
    ],
)
def test_a_report_with_a_bad_part_is_refused_whole(field, change, field_name):
    from .helpers import snapshot

    mina = visitor("mina")
    suggested(field, mina, "h-001")
    before = snapshot(field)
    with pytest.raises(Refused) as e:
        visits.report(field, keyring(), mina, who(mina), {**FIELD_REPORT, **change}, now=NOW)
    assert e.value.kind == "invalid" and e.value.field == field_name, e.value
    assert snapshot(field) == before  # no visit, no person, no household, no edge


def test_reports_of_one_household_at_once_all_land_once(field):
    """Visitors who met one household report at the same moment (with what the visit
    brought back): each report lands exactly once, with its people and households, and the
    household's summary is of the latest visit (the driver retries what Neo4j breaks as a
    deadlock: the transaction function writes the same ids again)."""
    names = [f"w{i}" for i in range(6)]
    subjects = []
    for name in names:
        accounts.add_user(field, ACTOR, name, "visitor", ["서울 노원구"], "correct horse battery", "f")
        subjects.append(visitor(name))
        suggested(field, subjects[-1], "h-001")
    barrier = threading.Barrier(len(subjects))
    done: list[object] = [None] * len(subjects)

    def attempt(i: int) -> None:
        body = {
            **FIELD_REPORT,
            "visited_on": f"2026-11-{10 + i:02d}",
            "new_members": [],
            "introductions": [{**FIELD_REPORT["introductions"][1], "code_name": f"솔바람{i}"}],
        }
        barrier.wait()
        done[i] = visits.report(field, keyring(), subjects[i], who(subjects[i]), body, now=NOW)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(subjects))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(d, visits.Reported) for d in done), done
    brought = field.read("test_people_of", ids=[d.introductions[0][1] for d in done])
    assert sorted(p["code_name"] for p in brought) == sorted(f"솔바람{i}" for i in range(6))
    assert len(audit.query(field, action="visit.report")) == 6
    assert field.read("test_household_summary", id="h-001")[0]["last_visit_on"].iso_format() == "2026-11-15"


def test_what_a_report_derives_is_what_a_full_refresh_derives(field):
    """The chain index and the visit summaries a report writes (incrementally, in its
    transaction) are what chains.refresh and suggest.refresh_visit_summary derive from
    scratch: nothing left to change."""
    from graphsvc import chains, suggest

    from .helpers import snapshot

    mina = visitor("mina")
    suggested(field, mina, "h-001")
    visits.report(field, keyring(), mina, who(mina), FIELD_REPORT, now=NOW)
    before = snapshot(field)
    assert chains.refresh(field).changed == 0
    suggest.refresh_visit_summary(field)
    assert snapshot(field) == before
