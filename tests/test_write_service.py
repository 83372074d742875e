"""The write service for the graph (graphsvc/households.py): lock → decide → validate → write →
refresh the chain index and visit summaries → audit, in one transaction; one introducer per
person and no cycle, also under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from graphsvc import access, audit, chains, households, personkeys
from graphsvc.errors import Refused

from .helpers import ACTOR, events, keyring, snapshot

COORD = access.Subject("coord", "coordinator", ("서울 노원구",))
YEON = access.Subject("yeon", "coordinator", ("서울 양천구",))
ADMIN = access.Subject("admin", "admin")
VISITOR = access.Subject("minji", "visitor", ("서울 노원구",))


def placements(db) -> dict:
    """The stored chain index, by household."""
    return {r[0]: tuple(r[1:]) for r in db.read("chains_stored")[0]["rows"]}


def recomputed(db) -> dict:
    """What a full refresh stores (run on the same data; it writes only what differs)."""
    chains.refresh(db)
    return placements(db)


def test_create_and_correct_a_household(world):
    hid = households.create_household(
        world, COORD, ACTOR, {"code": "H-100", "district": "서울 노원구", "status": "활동", "arrived_on": "2026-01-05"}
    )
    row = world.read("household_view", id=hid, username="coord", now=dt.datetime.now(dt.UTC))[0]
    assert (row["code"], row["status"], row["district"]) == ("H-100", "active", "서울 노원구")
    created = events(world, action="household.create")[0]
    assert created["targets"] == [hid] and "code: – → H-100" in created["detail"]
    summary = world.read("test_suggest_visit_summary", id=hid)[0]
    assert summary["unvisited_since"].iso_format() == "2026-01-05"  # the visit summary came with it
    changed = households.update_household(world, COORD, ACTOR, hid, {"status": "closed", "code": "H-100"})
    assert changed == {"status": "closed"}
    assert events(world, action="household.update")[0]["detail"] == "status: active → closed"


@pytest.mark.parametrize(
    "subject,data,kind,field",
    [
        (YEON, {"code": "H-101", "district": "서울 노원구", "status": "active"}, "not_found", None),
        (VISITOR, {"code": "H-101", "district": "서울 노원구", "status": "active"}, "not_found", None),
        (COORD, {"code": "H-101", "district": "서울 노원구", "status": "gone"}, "invalid", "status"),
        (COORD, {"code": "H-001", "district": "서울 노원구", "status": "active"}, "conflict", "code"),
        (COORD, {"code": "H-101", "district": "서울 노원구", "status": "active", "color": "red"}, "invalid", "color"),
    ],
)
def test_a_refused_write_changes_nothing(world, subject, data, kind, field):
    before = snapshot(world)
    with pytest.raises(Refused) as e:
        households.create_household(world, subject, ACTOR, data)
    assert e.value.kind == kind and e.value.field == field
    assert snapshot(world) == before


def test_moving_a_household_needs_both_districts(world):
    with pytest.raises(Refused) as e:
        households.update_household(world, COORD, ACTOR, "h-001", {"district": "서울 양천구"})
    assert e.value.kind == "not_found"
    assert households.update_household(world, ADMIN, ACTOR, "h-001", {"district": "서울 양천구"}) == {
        "district": "서울 양천구"
    }


def test_a_person_is_added_with_identity_sealed_and_named_not_shown_in_the_audit(world):
    pid = households.add_person(
        world,
        keyring(),
        COORD,
        ACTOR,
        {"household_id": "h-001", "code_name": "봄비", "legal_name": "김봄비", "phone": "010-9999-8888"},
    )
    raw = world.read("test_person_raw", id=pid)[0]
    assert (  # sealed under the person's own key (graphsvc/personkeys.py), v1 keys read it not
        raw["legal_name"].startswith("enc:p1:")
        and personkeys.reader(world, keyring()).decrypt(raw["legal_name"], "Person", pid, "legal_name") == "김봄비"
    )
    event = events(world, action="person.create")[0]
    assert "legal_name" in event["detail"] and "김봄비" not in str(event) and "9999" not in str(event)
    households.update_person(world, keyring(), COORD, ACTOR, pid, {"phone": "010-1111-2222", "code_name": "여름비"})
    event = events(world, action="person.update")[0]
    assert "phone" in event["detail"] and "1111" not in str(event) and "봄비 → 여름비" in event["detail"]


def test_an_introduction_replaces_the_old_one_and_the_index_follows(world):
    assert placements(world)["h-002"][0] == "h-001"  # p-001 (h-001) introduced p-003 (h-002)
    households.set_introducer(world, ADMIN, ACTOR, "p-003", "p-005", "2020-02-01", "family")  # p-005: h-004
    assert world.read("test_person", id="p-003")[0]["introducer"] == "p-005"
    assert placements(world) == recomputed(world)
    assert placements(world)["h-002"][0] == "h-004"
    households.set_introducer(world, ADMIN, ACTOR, "p-003", None)
    assert world.read("test_person", id="p-003")[0]["introducer"] is None
    assert placements(world) == recomputed(world)
    assert events(world, action="introduction.set")[0]["detail"].startswith("introducer: p-005 → –")


def test_a_cycle_is_refused_naming_it(world):
    # p-001 → p-003 → p-004 → p-006: p-006 introducing p-001 would close it
    before = snapshot(world)
    with pytest.raises(Refused) as e:
        households.set_introducer(world, ADMIN, ACTOR, "p-001", "p-006", None, "friend")
    assert e.value.kind == "conflict" and e.value.code == "cycle"
    assert e.value.why == "introduction cycle: p-001 → p-003 → p-004 → p-006 → p-001"
    assert snapshot(world) == before


def test_two_introductions_that_together_close_a_cycle_never_both_commit(world):
    """x and y in two households, nobody introduced either: "x introduced y" and "y introduced
    x" run at once, again and again; every time one commits and the other is refused."""
    for round_ in range(8):
        x = households.add_person(world, keyring(), ADMIN, ACTOR, {"household_id": "h-001", "code_name": f"x{round_}"})
        y = households.add_person(world, keyring(), ADMIN, ACTOR, {"household_id": "h-003", "code_name": f"y{round_}"})
        start = threading.Barrier(2)
        outcome: dict[str, str] = {}

        def introduce(a: str, b: str) -> None:
            start.wait()
            try:
                households.set_introducer(world, ADMIN, ACTOR, b, a, None, "friend")
                outcome[b] = "ok"
            except Refused as exc:
                outcome[b] = exc.code or exc.kind

        threads = [threading.Thread(target=introduce, args=pair) for pair in ((x, y), (y, x))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcome.values()) == ["cycle", "ok"], outcome
        introducers = {p: world.read("test_person", id=p)[0]["introducer"] for p in (x, y)}
        assert sorted(v for v in introducers.values() if v) in ([x], [y])
    assert placements(world) == recomputed(world)
    assert audit.verify(world).ok


def test_moving_a_person_moves_the_index(world):
    households.move_person(world, ADMIN, ACTOR, "p-003", "h-005")  # p-003 introduced p-004 (h-003)
    assert placements(world) == recomputed(world)
    with pytest.raises(Refused) as e:
        households.move_person(world, COORD, ACTOR, "p-004", "h-001")  # p-004 lives in 양천
    assert e.value.kind == "not_found"
