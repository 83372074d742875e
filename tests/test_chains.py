"""The derived chain index: a first import places households itself, later imports and
`graphsvc chains refresh` recompute it, and both agree with a hand-drawn forest."""

from __future__ import annotations

import datetime as dt

from graphsvc import chains, importer, suggest
from graphsvc.network import Placement, household_forest

from .conftest import ACTOR, KEYRING, snapshot
from .test_import import rewrite

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


def test_forest_by_hand_first_entry_wins_and_loops_are_cut():
    d = dt.date
    entries = [
        ("b", "a", d(2024, 3, 1), "b1"),
        ("b", "c", d(2024, 1, 1), "b2"),  # earlier: b came in through c
        ("c", "a", None, "c1"),
        ("d", "d", d(2020, 1, 1), "d1"),  # inside one household: not an edge
        ("x", "y", None, "x1"),
        ("y", "x", None, "y1"),  # a loop of households
    ]
    f = household_forest(entries)
    assert f["b"] == Placement("c", "a", 2, d(2024, 1, 1))
    assert f["c"] == Placement("a", "a", 1, None)
    assert "d" not in f and "a" not in f
    assert f["y"] == Placement("x", "x", 1, None) and "x" not in f  # cut at the smaller id


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
