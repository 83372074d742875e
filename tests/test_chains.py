"""The derived chain index: a first import places households itself, later imports and
`graphsvc chains refresh` recompute it, both agree with a hand-drawn forest, and the
incremental update (``chains.update_in_tx``) stores what a full recompute would, after
every edit of random sequences (a real Neo4j)."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from graphsvc import chains, importer, suggest
from graphsvc.db import Queries
from graphsvc.network import household_forest, would_close_cycle

from .helpers import ACTOR, empty, keyring, rewrite, snapshot

KEYRING = keyring()

ROOT = Path(__file__).resolve().parent.parent

# The small fixture, drawn by hand:
#   h-001 ─p-001→p-003─ h-002 ─p-003→p-004─ h-003 ─p-004→p-006─ h-005
#     └──────p-001→p-005 (undated)────────── h-004
SMALL = {
    "h-001": (None, None, None, None),
    "h-002": ("h-001", "h-001", 1, dt.date(2020, 1, 10)),
    "h-003": ("h-002", "h-001", 2, dt.date(2021, 7, 1)),
    "h-004": ("h-001", "h-001", 1, None),
    "h-005": ("h-003", "h-001", 3, dt.date(2026, 9, 15)),
}


def stored(db) -> dict:
    rows = db.read("test_household_placements")
    return {
        r["id"]: (r["parent"], r["chain"], r["wave"], r["joined_on"].to_native() if r["joined_on"] else None)
        for r in rows
    }


def test_first_import_places_households_without_a_refresh(db, small):
    report = importer.import_folder(db, small, KEYRING, ACTOR)
    assert report.ok and report.plan.placed
    assert stored(db) == SMALL
    assert chains.refresh(db).changed == 0  # the refresh agrees with the importer
    # so does the visit summary the importer wrote with the households
    before = snapshot(db)
    assert suggest.refresh_visit_summary(db) == 5
    assert snapshot(db) == before


def test_later_import_refreshes_and_refresh_repairs(db, small):
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok

    # a second import moves p-004 (introduced from h-002 on 2021-07-01) into h-004: h-003
    # has nobody left and is a root; h-004 came in through that dated introduction now
    # (dated before undated), and h-005 hangs below h-004
    def move(rows):
        for r in rows:
            if r[0] == "p-004":
                r[2] = "h-004"

    rewrite(small, "people", move)
    report = importer.import_folder(db, small, KEYRING, ACTOR)
    assert report.ok and not report.plan.placed
    want = dict(
        SMALL,
        **{
            "h-003": (None, None, None, None),
            "h-004": ("h-002", "h-001", 2, dt.date(2021, 7, 1)),
            "h-005": ("h-004", "h-001", 3, dt.date(2026, 9, 15)),
        },
    )
    assert stored(db) == want
    db.write("test_set_household_wave", id="h-005", wave=9)  # damage the index
    assert chains.refresh(db).changed == 1
    assert stored(db) == want


# --- one change at a time ------------------------------------------------------------


def recomputed(db, households=None) -> dict:
    """What a full recompute (``refresh``) would store for every household, without
    writing it."""
    rows = db.read("chains_cross_introductions")[0]["rows"]
    forest = household_forest((c, p, on.to_native() if on else None, who) for c, p, on, who in rows)
    return {
        h: ((f.parent, f.chain, f.wave, f.joined_on) if (f := forest.get(h)) else chains.ROOT)
        for h in (households if households is not None else stored(db))
    }


def change(db, edits: list[tuple[str, dict]], households: list[str]) -> chains.UpdateReport:
    """The edits and the index update in one write transaction, as the write service does."""

    def work(tx):
        for name, params in edits:
            db.run_in_tx(tx, name, **params)
        return chains.update_in_tx(tx, db, households)

    return db.write_tx(work)


def household(hid: str, *people: str) -> list[tuple[str, dict]]:
    return [("test_chains_add_household", {"household": hid})] + [
        ("test_chains_add_person", {"household": hid, "person": p}) for p in people
    ]


def introduce(introducer: str | None, person: str, on: dt.date | None = None) -> tuple[str, dict]:
    return ("bench_chains_set_introducer", {"person": person, "introducer": introducer, "on": on})


def test_a_new_household_is_placed_below_its_introducer_and_nothing_else_is_written(db, small):
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    on = dt.date(2026, 10, 1)
    report = change(db, household("h-100", "p-100") + [introduce("p-006", "p-100", on)], ["h-100"])
    assert report.changed == ("h-100",) and report.rejoined == ("h-100",)
    assert stored(db) == dict(SMALL, **{"h-100": ("h-005", "h-001", 4, on)})
    assert chains.refresh(db).changed == 0
    # the same household again: nothing to do, nothing written
    assert change(db, [], ["h-100", "h-005"]).changed == ()


def test_a_new_introduction_moves_the_whole_subtree(db, small):
    # h-003 (with h-005 below it) came in through h-002 on 2021-07-01; an earlier
    # introduction into h-003 from the root h-001 re-homes both, one wave higher
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    on = dt.date(2019, 1, 1)
    report = change(
        db,
        [("test_chains_add_person", {"household": "h-003", "person": "p-103"}), introduce("p-001", "p-103", on)],
        ["h-003"],
    )
    assert set(report.changed) == {"h-003", "h-005"} and report.rejoined == ("h-003",)
    assert report.moved == 2
    assert stored(db) == dict(
        SMALL, **{"h-003": ("h-001", "h-001", 1, on), "h-005": ("h-003", "h-001", 2, dt.date(2026, 9, 15))}
    )
    assert stored(db) == recomputed(db)


def test_a_new_date_of_the_introduction_a_household_came_in_through_changes_its_date_alone(db, small):
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    on = dt.date(2020, 2, 1)  # was 2020-01-10, still before h-002's other ways in
    report = change(db, [introduce("p-001", "p-003", on)], ["h-002"])
    assert report.changed == report.rejoined == ("h-002",) and report.moved == 0
    assert stored(db) == dict(SMALL, **{"h-002": ("h-001", "h-001", 1, on)})


def test_a_loop_of_households_is_cut_and_mended_one_change_at_a_time(db):
    # hA and hB introduce each other: the loop is cut at the smaller id (hA)
    change(db, household("hA", "a1", "a2") + household("hB", "b1", "b2") + household("hC", "c1"), ["hA", "hB", "hC"])
    change(db, [introduce("a1", "b1")], ["hB"])
    change(db, [introduce("b2", "a2")], ["hA"])
    assert stored(db) == {"hA": chains.ROOT, "hB": ("hA", "hA", 1, None), "hC": chains.ROOT}
    # hA also came in through hC, earlier: the loop is broken at hA, hB follows it down
    report = change(
        db,
        [("test_chains_add_person", {"household": "hA", "person": "a3"}), introduce("c1", "a3", dt.date(2020, 1, 1))],
        ["hA"],
    )
    assert stored(db) == {"hA": ("hC", "hC", 1, dt.date(2020, 1, 1)), "hB": ("hA", "hC", 2, None), "hC": chains.ROOT}
    assert set(report.changed) == {"hA", "hB"}
    # that introduction goes again: the loop is back, cut at hA
    change(db, [introduce(None, "a3")], ["hA"])
    assert stored(db) == {"hA": chains.ROOT, "hB": ("hA", "hA", 1, None), "hC": chains.ROOT}
    # b1's introducer goes: hB has no way in but the loop's; hA comes in through hB
    change(db, [introduce(None, "b1")], ["hB"])
    assert stored(db) == {"hA": ("hB", "hB", 1, None), "hB": chains.ROOT, "hC": chains.ROOT}
    assert stored(db) == recomputed(db)


def test_a_loop_broken_below_its_root_moves_the_root(db):
    # hA → hB → hC → hA, cut at hA; then hB comes in through hD instead: the loop is
    # broken at hB, which is passed; hA (not passed, and nobody of hB introduced into it)
    # comes in through hC again, below hD
    change(
        db,
        household("hA", "a1", "a2") + household("hB", "b1", "b2") + household("hC", "c1", "c2") + household("hD", "d1"),
        ["hA", "hB", "hC", "hD"],
    )
    for by, who, hid in (("a1", "b1", "hB"), ("b2", "c1", "hC"), ("c2", "a2", "hA")):
        change(db, [introduce(by, who, dt.date(2024, 5, 1))], [hid])
    on = dt.date(2024, 5, 1)
    assert stored(db) == {"hA": chains.ROOT, "hB": ("hA", "hA", 1, on), "hC": ("hB", "hA", 2, on), "hD": chains.ROOT}
    report = change(db, [introduce("d1", "b1", on)], ["hB"])
    assert stored(db) == {
        "hA": ("hC", "hD", 3, on),
        "hB": ("hD", "hD", 1, on),
        "hC": ("hB", "hD", 2, on),
        "hD": chains.ROOT,
    }
    assert set(report.changed) == {"hA", "hB", "hC"}


def test_a_person_moving_household_changes_both_and_the_households_they_introduced(db, small):
    # as test_later_import_refreshes_and_refresh_repairs, one move through the update
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    report = change(db, [("test_chains_move_person", {"person": "p-004", "household": "h-004"})], ["h-003", "h-004"])
    assert stored(db) == dict(
        SMALL,
        **{
            "h-003": (None, None, None, None),
            "h-004": ("h-002", "h-001", 2, dt.date(2021, 7, 1)),
            "h-005": ("h-004", "h-001", 3, dt.date(2026, 9, 15)),
        },
    )
    assert set(report.changed) == {"h-003", "h-004", "h-005"}


def test_a_change_waits_for_another_that_moves_what_it_reads(db, small):
    """Two writers at once: the first re-homes h-003 and h-005 (one wave up) and has not
    committed yet; the second adds a household below h-005 meanwhile. Without a lock it
    would read h-005's old wave and store its own one wave too deep; it waits for the
    first to commit, then reads the new wave."""
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    updated, release = threading.Event(), threading.Event()
    second_done = threading.Event()

    def first(tx):
        db.run_in_tx(tx, "test_chains_add_person", household="h-003", person="p-103")
        name, params = introduce("p-001", "p-103", dt.date(2019, 1, 1))
        db.run_in_tx(tx, name, **params)
        chains.update_in_tx(tx, db, ["h-003"])
        updated.set()
        release.wait(10)

    def second(tx):
        db.run_in_tx(
            tx,
            "bench_chains_add_household",
            household="h-200",
            code="H-200",
            person="p-200",
            code_name="새벽",
            introducer="p-006",
            on=dt.date(2026, 10, 1),
        )
        chains.update_in_tx(tx, db, ["h-200", "h-005"])

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(db.write_tx, first)
        assert updated.wait(10)
        two = pool.submit(lambda: (db.write_tx(second), second_done.set()))
        waited = not second_done.wait(1.5)  # the second is still waiting for the lock
        release.set()
        one.result(timeout=20)
        two.result(timeout=20)
    assert waited
    assert stored(db)["h-200"] == ("h-005", "h-001", 3, dt.date(2026, 10, 1))
    assert stored(db) == recomputed(db)


def test_a_refresh_waits_for_a_change_in_progress(db, small):
    """A full refresh while a writer's change (h-003 and h-005 one wave up) is not
    committed: without the lock it would read the introductions without the change and
    could write the old placements over the new ones after the writer commits; it waits
    for the writer, then finds nothing to change."""
    assert importer.import_folder(db, small, KEYRING, ACTOR).ok
    updated, release, refreshed = threading.Event(), threading.Event(), threading.Event()

    def first(tx):
        db.run_in_tx(tx, "test_chains_add_person", household="h-003", person="p-103")
        name, params = introduce("p-001", "p-103", dt.date(2019, 1, 1))
        db.run_in_tx(tx, name, **params)
        chains.update_in_tx(tx, db, ["h-003"])
        updated.set()
        release.wait(10)

    def refresh():
        report = chains.refresh(db)
        refreshed.set()
        return report

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(db.write_tx, first)
        assert updated.wait(10)
        two = pool.submit(refresh)
        waited = not refreshed.wait(1.5)  # the refresh is still waiting for the lock
        release.set()
        one.result(timeout=20)
        report = two.result(timeout=20)
    assert waited
    assert report.changed == 0
    assert stored(db)["h-005"] == ("h-003", "h-001", 2, dt.date(2026, 9, 15))
    assert stored(db) == recomputed(db)


# sequences of edits the property test tries (GRAPHSVC_CHAINS_EXAMPLES: more for a long run)
EXAMPLES = int(os.environ.get("GRAPHSVC_CHAINS_EXAMPLES", "30"))
DATES = [None, dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2023, 6, 1)]


def test_random_edits_keep_the_index_equal_to_a_full_recompute(db):
    """Random sequences of the write service's edits on a few households with many
    introductions between them (loops of households are frequent), each edit and its
    index update in one transaction, passing only what the module's text says to pass;
    after each, the stored index equals a full recompute."""

    class Edits(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            empty(db)
            self.household_of: dict[str, str] = {}
            self.introducer_of: dict[str, str] = {}
            self.households: list[str] = []

        def pick(self, items, i: int):
            return sorted(items)[i % len(items)]

        def new_person(self) -> str:
            return f"p{len(self.household_of):02d}"

        @precondition(lambda self: len(self.households) < 6)
        @rule(introducer=st.integers(0, 99), introduced=st.booleans(), on=st.sampled_from(DATES))
        def add_household(self, introducer, introduced, on):
            hid, person = f"h{len(self.households)}", self.new_person()
            edits = household(hid, person)
            if introduced and self.household_of:
                by = self.pick(self.household_of, introducer)
                edits.append(introduce(by, person, on))
                self.introducer_of[person] = by
            change(db, edits, [hid])
            self.households.append(hid)
            self.household_of[person] = hid

        @precondition(lambda self: self.households)
        @rule(where=st.integers(0, 99), introducer=st.integers(0, 99), on=st.sampled_from(DATES))
        def add_person(self, where, introducer, on):
            hid, person = self.pick(self.households, where), self.new_person()
            edits = [("test_chains_add_person", {"household": hid, "person": person})]
            by = self.pick(self.household_of, introducer) if self.household_of else None
            if by is not None:
                edits.append(introduce(by, person, on))
                self.introducer_of[person] = by
            change(db, edits, [hid])
            self.household_of[person] = hid

        @precondition(lambda self: len(self.household_of) > 1)
        @rule(who=st.integers(0, 99), introducer=st.integers(-1, 99), on=st.sampled_from(DATES))
        def set_introducer(self, who, introducer, on):
            """Add, change, re-date or remove one person's introducer (never a cycle)."""
            person = self.pick(self.household_of, who)
            by = None if introducer < 0 else self.pick(self.household_of, introducer)
            if by is not None and would_close_cycle(self.introducer_of, by, person):
                return
            change(db, [introduce(by, person, on)], [self.household_of[person]])
            if by is None:
                self.introducer_of.pop(person, None)
            else:
                self.introducer_of[person] = by

        @precondition(lambda self: len(self.households) > 1)
        @rule(who=st.integers(0, 99), where=st.integers(0, 99))
        def move_person(self, who, where):
            person, hid = self.pick(self.household_of, who), self.pick(self.households, where)
            change(
                db,
                [("test_chains_move_person", {"person": person, "household": hid})],
                [self.household_of[person], hid],
            )
            self.household_of[person] = hid

        @precondition(lambda self: len(self.households) > 1)
        @rule(source=st.integers(0, 99), into=st.integers(0, 99))
        def merge(self, source, into):
            """Every person of one household moves into another (a merge of duplicates)."""
            a, b = self.pick(self.households, source), self.pick(self.households, into)
            moving = [p for p, h in self.household_of.items() if h == a]
            change(db, [("test_chains_move_person", {"person": p, "household": b}) for p in moving], [a, b])
            self.household_of.update({p: b for p in moving})

        @invariant()
        def equals_a_full_recompute(self):
            index = stored(db)
            assert index == recomputed(db, index)

    run_state_machine_as_test(
        Edits,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_the_application_never_runs_the_test_and_bench_statements():
    production = set(Queries(ROOT / "graphsvc" / "cypher").by_file["chains"])
    assert not {n for n in production if n.startswith(("test_", "bench_"))}
    extra = Queries(ROOT / "tests" / "cypher", ROOT / "bench" / "cypher").by_file
    only = set(extra["testing_chains"]) | set(extra["bench_chains"])
    used = set()
    for path in list((ROOT / "graphsvc").rglob("*.py")) + list((ROOT / "web").rglob("*.py")):
        used |= set(re.findall(r"\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert only and not only & used
    assert {"chains_around", "chains_children", "chains_place"} <= used
