"""The introduction network by hand-built forests (no database).

The main forest, people as ``person@household``:

    chain A:  a1@H1 ── a2@H2 ─┬─ a3@H2          (a2 -> a3 is inside H2)
                              └─ a4@H3 ── a5@H4
                       a1 ──── a6@H5
    chain B:  b1@H4 ── b2@H6
    chain C:  c1@H7                              (isolated: a chain of one)

H4 has members in chains A (a5) and B (b1). Visited: H1, H4, H6.
"""

from __future__ import annotations

from datetime import date

import networkx as nx
import pytest

from graphsvc import network as n

PEOPLE = [
    ("a1", "H1"),
    ("a2", "H2"),
    ("a3", "H2"),
    ("a4", "H3"),
    ("a5", "H4"),
    ("a6", "H5"),
    ("b1", "H4"),
    ("b2", "H6"),
    ("c1", "H7"),
]
INTRODUCTIONS = [
    ("a1", "a2", date(2023, 1, 15)),
    ("a2", "a3", date(2023, 1, 20)),
    ("a2", "a4", date(2023, 3, 2)),
    ("a4", "a5", None),
    ("a1", "a6", date(2023, 3, 31)),
    ("b1", "b2", date(2022, 12, 1)),
]
VISITED = {"H1", "H4", "H6"}


@pytest.fixture
def g():
    return n.introduction_graph(PEOPLE, INTRODUCTIONS)


# --- introduction_graph ----------------------------------------------------------------


def test_graph_has_people_households_and_dated_edges(g):
    assert g.number_of_nodes() == 9
    assert g.number_of_edges() == 6
    assert g.nodes["a4"]["household"] == "H3"
    assert g.nodes["c1"]["household"] == "H7"
    assert g.has_edge("a2", "a4") and not g.has_edge("a4", "a2")
    assert g.edges["a2", "a4"]["on"] == date(2023, 3, 2)
    assert g.edges["a4", "a5"]["on"] is None


def test_second_introducer_is_refused():
    with pytest.raises(ValueError, match="second introducer"):
        n.introduction_graph([("x", "H"), ("y", "H"), ("z", "H")], [("x", "z", None), ("y", "z", None)])


def test_same_introduction_twice_is_not_a_second_introducer():
    g = n.introduction_graph([("x", "H"), ("z", "H")], [("x", "z", date(2024, 1, 1)), ("x", "z", date(2024, 1, 1))])
    assert list(g.edges) == [("x", "z")]


def test_cycle_is_refused():
    with pytest.raises(ValueError, match="cycle"):
        # s is a seed, so the check is not just "no seed at all".
        n.introduction_graph(
            [("x", "H"), ("y", "H"), ("z", "H"), ("s", "H")], [("x", "y", None), ("y", "z", None), ("z", "x", None)]
        )


def test_self_introduction_of_a_person_is_refused():
    with pytest.raises(ValueError):
        n.introduction_graph([("x", "H")], [("x", "x", None)])


def test_unknown_person_and_two_households_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        n.introduction_graph([("x", "H")], [("x", "ghost", None)])
    with pytest.raises(ValueError, match="two households"):
        n.introduction_graph([("x", "H"), ("x", "K")], [])


# --- chains ----------------------------------------------------------------------------


def test_chain_of(g):
    assert n.chain_of(g, "a5") == n.Chain("a5", "a1", 3, ("a1", "a2", "a4", "a5"))
    assert n.chain_of(g, "a3") == n.Chain("a3", "a1", 2, ("a1", "a2", "a3"))
    assert n.chain_of(g, "b2") == n.Chain("b2", "b1", 1, ("b1", "b2"))
    assert n.chain_of(g, "a1") == n.Chain("a1", "a1", 0, ("a1",))


def test_isolated_person_is_a_seed_of_a_chain_of_one(g):
    assert n.chain_of(g, "c1") == n.Chain("c1", "c1", 0, ("c1",))
    assert n.seeds_and_waves(g)["c1"] == ("c1", 0)


def test_chain_of_unknown_person_is_key_error(g):
    with pytest.raises(KeyError):
        n.chain_of(g, "nobody")


def test_seeds_and_waves(g):
    assert n.seeds_and_waves(g) == {
        "a1": ("a1", 0),
        "a2": ("a1", 1),
        "a3": ("a1", 2),
        "a4": ("a1", 2),
        "a5": ("a1", 3),
        "a6": ("a1", 1),
        "b1": ("b1", 0),
        "b2": ("b1", 1),
        "c1": ("c1", 0),
    }


def test_seeds_and_waves_agrees_with_chain_of(g):
    for person, (seed, wave) in n.seeds_and_waves(g).items():
        chain = n.chain_of(g, person)
        assert (chain.seed, chain.wave) == (seed, wave)


def test_seeds_and_waves_refuses_a_cyclic_graph_built_by_hand():
    g = nx.DiGraph([("x", "y"), ("y", "x")])
    with pytest.raises(ValueError, match="cycle"):
        n.seeds_and_waves(g)


def test_chain_summaries(g):
    # A: 6 people; households H1 H2 H3 H4 H5 (H2 twice); depth 3; unvisited H2 H3 H5.
    # B: 2 people; H4 H6; depth 1; both visited.
    # C: 1 person; H7; depth 0; unvisited H7.
    assert n.chain_summaries(g, VISITED) == [
        n.ChainSummary("a1", people=6, households=5, depth=3, unvisited=3),
        n.ChainSummary("b1", people=2, households=2, depth=1, unvisited=0),
        n.ChainSummary("c1", people=1, households=1, depth=0, unvisited=1),
    ]


def test_household_in_two_chains_counts_in_both(g):
    by_seed = {s.seed: s for s in n.chain_summaries(g, visited=set())}
    # H4 (a5 in A, b1 in B) is unvisited in both chains.
    assert by_seed["a1"].unvisited == 5
    assert by_seed["b1"].unvisited == 2
    by_seed = {s.seed: s for s in n.chain_summaries(g, visited={"H4"})}
    assert by_seed["a1"].unvisited == 4
    assert by_seed["b1"].unvisited == 1


def test_chain_summaries_ties_sorted_by_seed():
    g = n.introduction_graph([("z", "H1"), ("y", "H2"), ("m", "H3"), ("k", "H3")], [("z", "m", None), ("y", "k", None)])
    assert [s.seed for s in n.chain_summaries(g, set())] == ["y", "z"]


# --- network_stats ---------------------------------------------------------------------


def test_network_stats(g):
    s = n.network_stats(g, VISITED, households=["H1", "H2", "H8"])
    assert s.chains == 3
    assert s.waves == {0: 3, 1: 3, 2: 2, 3: 1}
    assert list(s.waves) == [0, 1, 2, 3]
    # a1: a2 a6; a2: a3 a4; a4: a5; b1: b2 -> ties 2 by id, then 1 by id.
    assert s.top_introducers == (("a1", 2), ("a2", 2), ("a4", 1), ("b1", 1))
    # Introduced members: H2 (a2 a3), H3 (a4), H4 (a5), H5 (a6), H6 (b2).
    # Left: H1, H7 (seeds only) and H8 (no people at all).
    assert s.households_without_introducer == ("H1", "H7", "H8")
    # Seeds a1 b1 c1: H4 has a seed but also an introduced member (a5).
    assert s.seed_households == ("H1", "H4", "H7")
    assert s.introductions_per_month == {"2022-12": 1, "2023-01": 2, "2023-03": 2}
    assert list(s.introductions_per_month) == ["2022-12", "2023-01", "2023-03"]
    assert s.undated == 1


def test_top_introducers_is_cut_at_top(g):
    assert n.network_stats(g, VISITED, [], top=3).top_introducers == (("a1", 2), ("a2", 2), ("a4", 1))
    assert n.network_stats(g, VISITED, [], top=0).top_introducers == ()


# --- household_graph -------------------------------------------------------------------


def test_household_graph(g):
    h = n.household_graph(g)
    assert set(h.nodes) == {"H1", "H2", "H3", "H4", "H5", "H6", "H7"}
    assert sorted(h.edges(data="count")) == [
        ("H1", "H2", 1),
        ("H1", "H5", 1),
        ("H2", "H3", 1),
        ("H3", "H4", 1),
        ("H4", "H6", 1),
    ]
    assert not h.has_edge("H2", "H2")  # a2 -> a3 is inside H2


def test_household_graph_counts_and_skips_self_introductions():
    g = n.introduction_graph(
        [("p", "A"), ("q", "A"), ("r", "B"), ("s", "B"), ("t", "A")],
        [("p", "q", None), ("p", "r", None), ("q", "s", None), ("s", "t", None)],
    )
    h = n.household_graph(g)
    assert sorted(h.edges(data="count")) == [("A", "B", 2), ("B", "A", 1)]
    assert h.number_of_edges() == 2


def test_top_introducer_ties_go_by_id_not_by_input_order():
    # Listed z before m before b: the ties (2 each) must still come out b, m, z.
    people = [("z", "H"), ("m", "H"), ("b", "H")] + [(f"x{i}", "K") for i in range(7)]
    intros = [
        ("z", "x0", None),
        ("z", "x1", None),
        ("m", "x2", None),
        ("m", "x3", None),
        ("b", "x4", None),
        ("b", "x5", None),
        ("x5", "x6", None),
    ]
    s = n.network_stats(n.introduction_graph(people, intros), set(), [])
    assert s.top_introducers == (("b", 2), ("m", 2), ("z", 2), ("x5", 1))


def test_introduced_twice_on_different_dates_is_refused():
    with pytest.raises(ValueError, match="introduced twice"):
        n.introduction_graph([("x", "H"), ("z", "H")], [("x", "z", date(2024, 1, 1)), ("x", "z", date(2024, 2, 1))])
