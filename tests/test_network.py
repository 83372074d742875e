"""The rules of the introduction network as pure functions (no database): the cycle walk
and the household forest."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from graphsvc.network import Placement, cut_loops, household_forest, place, would_close_cycle

# --- would_close_cycle ---------------------------------------------------------------


def ancestors(introducer_of: dict[str, str], person: str) -> list[str]:
    """``person`` and everyone above them, by brute force (no cycle in the input)."""
    out = [person]
    while out[-1] in introducer_of:
        out.append(introducer_of[out[-1]])
    return out


@st.composite
def forests(draw: st.DrawFn) -> tuple[list[str], dict[str, str]]:
    """Up to 12 people and a random forest of introductions among them: each person's
    introducer is one of the people before them, or nobody."""
    people = [f"p{i}" for i in range(draw(st.integers(1, 12)))]
    introducer_of = {}
    for i, person in enumerate(people[1:], 1):
        j = draw(st.integers(-1, i - 1))
        if j >= 0:
            introducer_of[person] = people[j]
    return people, introducer_of


@settings(max_examples=300, deadline=None)
@given(forests(), st.data())
def test_would_close_cycle_is_exactly_introduced_above_introducer(forest, data):
    people, introducer_of = forest
    a = data.draw(st.sampled_from(people), "introducer")
    b = data.draw(st.sampled_from(people), "introduced")
    path = would_close_cycle(introducer_of, a, b)
    if b not in ancestors(introducer_of, a):
        assert path is None
        return
    # the closed walk, in introduction order: b ... a b, every step an introduction
    assert path is not None and path[0] == path[-1] == b and path[-2] == a
    steps = list(itertools.pairwise(path))
    assert all(introducer_of.get(v) == u for u, v in steps[:-1])
    assert len(set(path[:-1])) == len(path) - 1


def test_would_close_cycle_names_the_loop_in_order():
    introducer_of = {"b": "a", "c": "b", "d": "c", "x": "a"}
    assert would_close_cycle(introducer_of, "d", "b") == ["b", "c", "d", "b"]
    assert would_close_cycle(introducer_of, "d", "x") is None  # a sibling branch
    assert would_close_cycle(introducer_of, "a", "d") is None  # downwards is fine


# --- the household forest ------------------------------------------------------------


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


def test_ties_go_by_introduced_person_then_dated_before_undated():
    d = dt.date(2024, 5, 1)
    f = household_forest([("h", "a", d, "p2"), ("h", "b", d, "p1"), ("h", "c", None, "p0")])
    assert f["h"] == Placement("b", "b", 1, d)


def test_a_loop_of_three_is_cut_at_its_smallest_id_and_hangs_below_it():
    f = household_forest([("b", "c", None, "1"), ("c", "a", None, "2"), ("a", "b", None, "3"), ("z", "c", None, "4")])
    assert "a" not in f
    assert f["b"] == Placement("c", "a", 2, None)
    assert f["c"] == Placement("a", "a", 1, None)
    assert f["z"] == Placement("c", "a", 2, None)


def test_cut_loops_leaves_trees_alone_and_cuts_each_loop_once():
    assert cut_loops({"b": "a", "c": "b"}) == {"b": "a", "c": "b"}
    assert cut_loops({"q": "p", "p": "q", "y": "x", "x": "y", "z": "y"}) == {
        "q": "p",
        "p": None,
        "y": "x",
        "x": None,
        "z": "y",
    }


def test_place_hangs_a_part_of_the_forest_below_its_anchors():
    # the part {m, n} is placed again; its parent k sits at wave 3 of chain r
    assert place({"m": "k", "n": "m"}, anchors={"k": ("r", 3)}) == {"m": ("k", "r", 4), "n": ("m", "r", 5)}
    # a parent outside without an anchor is a root
    assert place({"m": "k"}) == {"m": ("k", "k", 1)}
