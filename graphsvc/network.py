"""The introduction network as a graph: chains, seeds, waves and summaries, without I/O.

A person may have been introduced by at most one other person, and introductions never
loop, so they form a forest of chains. Each chain starts at a *seed* (a person nobody
introduced); a person's *wave* is their distance from the seed (the seed is wave 0).

Everything here is pure: callers run a named Cypher query and pass its rows in as plain
data (``people``: ``(person_id, household_id)``; ``introductions``:
``(introducer_id, introduced_id, introduced_on | None)``; ``visited``: household ids
with at least one visit). networkx never touches the database.

>>> g = introduction_graph([("a", "h1"), ("b", "h2"), ("c", "h2")],
...                        [("a", "b", None), ("b", "c", None)])
>>> chain_of(g, "c")
Chain(id='c', seed='a', wave=2, path=('a', 'b', 'c'))
>>> [(s.seed, s.people, s.households, s.depth, s.unvisited)
...  for s in chain_summaries(g, visited={"h1"})]
[('a', 3, 2, 2, 1)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date

import networkx as nx

PersonId = Hashable
HouseholdId = Hashable


@dataclass(frozen=True)
class Chain:
    """Where one person sits: their seed, their wave and the path from the seed to them."""

    id: PersonId
    seed: PersonId
    wave: int
    path: tuple[PersonId, ...]  # seed first, the person last


@dataclass(frozen=True)
class ChainSummary:
    """One chain (the people reachable from one seed), in counts.

    ``households`` and ``unvisited`` count distinct households with at least one member
    in this chain; a household whose members sit in two chains counts in both.
    """

    seed: PersonId
    people: int
    households: int
    depth: int  # the largest wave in the chain (0 for a chain of one)
    unvisited: int  # distinct households of the chain not in ``visited``


@dataclass(frozen=True)
class NetworkStats:
    """Figures over the whole network (see ``network_stats``)."""

    chains: int
    waves: dict[int, int]  # wave -> people, by wave
    top_introducers: tuple[tuple[PersonId, int], ...]  # (person, direct introductions)
    households_without_introducer: tuple[HouseholdId, ...]  # no member was introduced
    seed_households: tuple[HouseholdId, ...]  # at least one member is a seed
    introductions_per_month: dict[str, int]  # "YYYY-MM" -> count, by month
    undated: int  # introductions without a date


# --- building --------------------------------------------------------------------------


def introduction_graph(
    people: Iterable[tuple[PersonId, HouseholdId]],
    introductions: Iterable[tuple[PersonId, PersonId, date | None]],
) -> nx.DiGraph:
    """Person nodes (attribute ``household``) and edges introducer -> introduced (``on``).

    Raises ``ValueError`` on a person listed in two households, an introduction naming an
    unknown person, a second introducer, or a cycle. An exact repeat of an introduction
    (same introducer, same date) is accepted once.

    >>> g = introduction_graph([("a", "h1"), ("b", "h1")], [("a", "b", date(2024, 3, 1))])
    >>> g.nodes["b"]["household"], g.edges["a", "b"]["on"]
    ('h1', datetime.date(2024, 3, 1))
    >>> introduction_graph([("a", "h1"), ("b", "h1")], [("a", "b", None), ("b", "a", None)])
    Traceback (most recent call last):
    ...
    ValueError: introductions form a cycle (2 people not reachable from a seed)
    """
    household_of: dict[PersonId, HouseholdId] = {}
    for person, household in people:
        if household_of.setdefault(person, household) != household:
            raise ValueError(f"person {person!r} is in two households")
    introduced_by: dict[PersonId, tuple[PersonId, date | None]] = {}
    for introducer, introduced, on in introductions:
        for p in (introducer, introduced):
            if p not in household_of:
                raise ValueError(f"introduction names unknown person {p!r}")
        if introducer == introduced:
            raise ValueError(f"person {introduced!r} introduced themselves")
        earlier = introduced_by.setdefault(introduced, (introducer, on))
        if earlier[0] != introducer:
            raise ValueError(f"person {introduced!r} has a second introducer {introducer!r}")
        if earlier[1] != on:  # an exact repeat of the row is harmless, not this
            raise ValueError(f"person {introduced!r} is introduced twice, on {earlier[1]} and {on}")
    g = nx.DiGraph()
    g.add_nodes_from((p, {"household": h}) for p, h in household_of.items())
    g.add_edges_from((u, v, {"on": on}) for v, (u, on) in introduced_by.items())
    _forest(g)  # raises on a cycle
    return g


def _forest(g: nx.DiGraph) -> dict[PersonId, tuple[PersonId, int]]:
    """``{person: (seed, wave)}`` by one traversal from every seed; O(people + edges).

    Raises ``ValueError`` when the graph is not a forest of introductions.
    """
    pred, succ = g.pred, g.succ
    out: dict[PersonId, tuple[PersonId, int]] = {}
    for root in g:
        if pred[root]:
            continue
        out[root] = (root, 0)
        layer, wave = [root], 0
        while layer:
            wave += 1
            nxt = []
            for u in layer:
                for v in succ[u]:
                    if v in out or len(pred[v]) > 1:
                        raise ValueError(f"person {v!r} has more than one introducer")
                    out[v] = (root, wave)
                    nxt.append(v)
            layer = nxt
    if len(out) != len(g):
        raise ValueError(f"introductions form a cycle ({len(g) - len(out)} people not reachable from a seed)")
    return out


# --- chains ----------------------------------------------------------------------------


def chain_of(g: nx.DiGraph, person_id: PersonId) -> Chain:
    """The chain of one person, walking introducers back to the seed.

    ``KeyError`` for an unknown person.

    >>> g = introduction_graph([("a", "h1"), ("b", "h2")], [("a", "b", None)])
    >>> chain_of(g, "a")
    Chain(id='a', seed='a', wave=0, path=('a',))
    >>> chain_of(g, "zz")
    Traceback (most recent call last):
    ...
    KeyError: 'zz'
    """
    if person_id not in g:
        raise KeyError(person_id)
    pred = g.pred
    path = [person_id]
    seen = {person_id}
    while pred[path[-1]]:
        (introducer,) = pred[path[-1]]  # ValueError with two introducers
        if introducer in seen:
            raise ValueError(f"introductions form a cycle through {introducer!r}")
        seen.add(introducer)
        path.append(introducer)
    path.reverse()
    return Chain(person_id, path[0], len(path) - 1, tuple(path))


def seeds_and_waves(g: nx.DiGraph) -> dict[PersonId, tuple[PersonId, int]]:
    """``{person: (seed, wave)}`` for everyone, in one pass over the graph.

    >>> g = introduction_graph([("a", 1), ("b", 1), ("c", 2)], [("a", "b", None)])
    >>> sorted(seeds_and_waves(g).items())
    [('a', ('a', 0)), ('b', ('a', 1)), ('c', ('c', 0))]
    """
    return _forest(g)


def chain_summaries(g: nx.DiGraph, visited: Iterable[HouseholdId]) -> list[ChainSummary]:
    """One ``ChainSummary`` per seed, most people first, then by seed.

    A household whose members sit in two chains counts in both chains' ``households``
    (and ``unvisited``). People without a household (``None``) count as people only.

    >>> g = introduction_graph([("a", "h1"), ("b", "h1"), ("c", "h2")], [("a", "b", None)])
    >>> [(s.seed, s.people, s.households, s.depth, s.unvisited)
    ...  for s in chain_summaries(g, {"h2"})]
    [('a', 2, 1, 1, 1), ('c', 1, 1, 0, 0)]
    """
    visited = set(visited)
    nodes = g.nodes
    forest = _forest(g)
    people = Counter(seed for seed, _ in forest.values())
    depth: dict[PersonId, int] = {}
    for seed, wave in forest.values():
        if wave >= depth.get(seed, 0):
            depth[seed] = wave
    pairs = {(seed, nodes[p].get("household")) for p, (seed, _) in forest.items()}
    households = Counter(seed for seed, h in pairs if h is not None)
    unvisited = Counter(seed for seed, h in pairs if h is not None and h not in visited)
    out = [
        ChainSummary(seed, count, households.get(seed, 0), depth[seed], unvisited.get(seed, 0))
        for seed, count in people.items()
    ]
    out.sort(key=lambda s: (-s.people, s.seed))
    return out


# --- whole network ---------------------------------------------------------------------


def network_stats(
    g: nx.DiGraph,
    visited: Iterable[HouseholdId],
    households: Iterable[HouseholdId],
    top: int = 10,
) -> NetworkStats:
    """Counts over the whole network.

    - ``chains``: the number of seeds;
    - ``waves``: ``{wave: people}``;
    - ``top_introducers``: the ``top`` people with the most direct introductions (ties by
      id), people who introduced nobody left out;
    - ``households_without_introducer``: households (of ``households`` and of the graph)
      none of whose members was introduced by anyone. Seeds have no introducer, so their
      households fall here too when no other member was introduced; ``seed_households``
      lists households with at least one seed, so a household without introducer that is
      not a seed household has no people in the graph at all;
    - ``introductions_per_month``: ``{"YYYY-MM": count}`` by month; ``undated`` counts the
      introductions without a date.

    ``visited`` is accepted for symmetry with ``chain_summaries`` and is not used yet.

    >>> g = introduction_graph([("a", "h1"), ("b", "h2")], [("a", "b", date(2024, 5, 2))])
    >>> s = network_stats(g, set(), ["h1", "h2", "h3"])
    >>> s.chains, s.waves, s.top_introducers, s.households_without_introducer
    (1, {0: 1, 1: 1}, (('a', 1),), ('h1', 'h3'))
    >>> s.seed_households, s.introductions_per_month, s.undated
    (('h1',), {'2024-05': 1}, 0)
    """
    forest = _forest(g)
    nodes, pred, succ = g.nodes, g.pred, g.succ
    waves = Counter(wave for _, wave in forest.values())

    introducers = [(p, len(succ[p])) for p in g if succ[p]]
    introducers.sort(key=lambda t: (-t[1], t[0]))

    every = set(households)
    introduced: set = set()
    seeded: set = set()
    for person, data in nodes.items():
        household = data.get("household")
        if household is None:
            continue
        every.add(household)
        if pred[person]:
            introduced.add(household)
        else:
            seeded.add(household)

    months: Counter = Counter()
    undated = 0
    for _, _, on in g.edges(data="on"):
        if on is None:
            undated += 1
        else:
            months[f"{on.year:04d}-{on.month:02d}"] += 1

    return NetworkStats(
        chains=sum(1 for _, wave in forest.values() if wave == 0),
        waves=dict(sorted(waves.items())),
        top_introducers=tuple(introducers[: max(top, 0)]),
        households_without_introducer=tuple(sorted(every - introduced, key=_sort_key)),
        seed_households=tuple(sorted(seeded, key=_sort_key)),
        introductions_per_month=dict(sorted(months.items())),
        undated=undated,
    )


def _sort_key(x):
    return (type(x).__name__, x)


def household_graph(g: nx.DiGraph) -> nx.DiGraph:
    """Households as nodes; A -> B (attribute ``count``) when members of A introduced
    ``count`` members of B. Introductions inside one household are not edges.

    >>> g = introduction_graph([("a", "h1"), ("b", "h1"), ("c", "h2"), ("d", "h2")],
    ...                        [("a", "b", None), ("a", "c", None), ("b", "d", None)])
    >>> sorted(household_graph(g).edges(data="count"))
    [('h1', 'h2', 2)]
    """
    nodes = g.nodes
    counts: Counter = Counter()
    for u, v in g.edges():
        a, b = nodes[u].get("household"), nodes[v].get("household")
        if a is not None and b is not None and a != b:
            counts[a, b] += 1
    h = nx.DiGraph()
    h.add_nodes_from(d["household"] for d in nodes.values() if d.get("household") is not None)
    h.add_edges_from((a, b, {"count": n}) for (a, b), n in counts.items())
    return h


# --- households: how each one came in ------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a household sits in the household forest (see ``household_forest``)."""

    parent: HouseholdId | None  # the household it came in through; None for a root
    chain: HouseholdId  # the root household of its chain (itself for a root)
    wave: int  # households between it and the root (a root is wave 0)
    joined_on: date | None  # the date of the introduction it came in through


def household_forest(
    entries: Iterable[tuple[HouseholdId, HouseholdId, date | None, PersonId]],
) -> dict[HouseholdId, Placement]:
    """Each household's place among households: parent, chain root, wave, joined date.

    ``entries`` are the introductions that cross households, as ``(introduced household,
    introducer household, introduced on, introduced person)``. A household came in through
    its *first* such introduction (earliest date; undated ones after dated ones; ties by
    person id): that introducer's household is its parent. Households never introduced
    from another household are roots and are not in the answer (their placement is
    ``Placement(None, itself, 0, None)``).

    Person-level introductions form a forest, but households need not: two households can
    each have introduced a member of the other. Such a loop is cut at its smallest
    household id, which becomes the root.

    >>> f = household_forest([("h2", "h1", date(2024, 1, 5), "b"), ("h3", "h2", None, "c"),
    ...                       ("h3", "h1", date(2024, 2, 1), "d")])
    >>> f["h3"]
    Placement(parent='h1', chain='h1', wave=1, joined_on=datetime.date(2024, 2, 1))
    >>> sorted(household_forest([("a", "b", None, "p"), ("b", "a", None, "q")]).items())
    [('b', Placement(parent='a', chain='a', wave=1, joined_on=None))]
    """
    first: dict[HouseholdId, tuple] = {}
    for child, parent, on, person in entries:
        if child == parent:
            continue
        key = (on is None, on or date.min, _sort_key(person))
        if child not in first or key < first[child][0]:
            first[child] = (key, parent, on)
    parent_of = {child: parent for child, (_, parent, _) in first.items()}

    # Cut loops: walk up from every household; meeting the current walk is a loop.
    state: dict[HouseholdId, int] = {}
    for start in list(parent_of):
        walk: list[HouseholdId] = []
        node = start
        while node in parent_of and node not in state:
            state[node] = 1
            walk.append(node)
            node = parent_of[node]
        if state.get(node) == 1:
            loop = walk[walk.index(node) :]
            del parent_of[min(loop, key=_sort_key)]
        for n in walk:
            state[n] = 2

    placed: dict[HouseholdId, tuple[HouseholdId, int]] = {}

    def place(h: HouseholdId) -> tuple[HouseholdId, int]:
        path = []
        while h in parent_of and h not in placed:
            path.append(h)
            h = parent_of[h]
        root, wave = placed.get(h, (h, 0))
        for n in reversed(path):
            wave += 1
            placed[n] = (root, wave)
        return root, wave

    out: dict[HouseholdId, Placement] = {}
    for child, parent in parent_of.items():
        root, wave = place(child)
        out[child] = Placement(parent, root, wave, first[child][2])
    return out
