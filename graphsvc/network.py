"""The rules of the introduction network, as pure functions of plain data (no I/O).

People: a person has at most one introducer and introductions never form a cycle, so
they make a forest. ``would_close_cycle`` is the one walk that checks the second rule,
for the importer and the write service alike.

Households: ``household_forest`` says how each household came in (its parent household,
its chain's root, its wave, the date), the rule of the chain index that
``graphsvc/chains.py`` stores; ``first_entries`` and ``place`` are its two halves, which
the incremental update of the index runs on a part of the network.

>>> f = household_forest([("h2", "h1", None, "b"), ("h3", "h2", None, "c")])
>>> f["h3"]
Placement(parent='h2', chain='h1', wave=2, joined_on=None)
>>> would_close_cycle({"b": "a", "c": "b"}, "c", "a")
['a', 'b', 'c', 'a']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

PersonId = str
HouseholdId = str

#: An introduction that crosses households, as the chain index reads it: (introduced
#: person's household, introducer's household, introduced on, introduced person).
Entry = tuple[HouseholdId, HouseholdId, date | None, PersonId]


# --- people ----------------------------------------------------------------------------


def would_close_cycle(
    introducer_of: Mapping[PersonId, PersonId], introducer: PersonId, introduced: PersonId
) -> list[PersonId] | None:
    """The cycle that ``introducer`` → ``introduced`` would close, else None.

    ``introducer_of`` maps each person to their introducer (everyone's, or as much as
    reaches the people concerned). The edge closes a cycle when ``introduced`` is already
    among the introducers above ``introducer`` (or is ``introducer``). The answer is the
    closed walk in introduction order: ``introduced``, the people it introduced down to
    ``introducer``, and ``introduced`` again. The walk is as long as the introducer's
    chain, and stops on a cycle already in ``introducer_of`` (it does not close this one).

    >>> would_close_cycle({"b": "a"}, "b", "a")
    ['a', 'b', 'a']
    >>> would_close_cycle({"b": "a"}, "b", "c") is None
    True
    >>> would_close_cycle({}, "a", "a")
    ['a', 'a']
    >>> would_close_cycle({"x": "y", "y": "x"}, "x", "c") is None
    True
    """
    up = [introducer]
    seen = {introducer}
    node = introducer
    while node != introduced:
        parent = introducer_of.get(node)
        if parent is None or parent in seen:
            return None
        seen.add(parent)
        up.append(parent)
        node = parent
    return up[::-1] + [introduced]


# --- households: how each one came in ------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a household sits in the household forest (see ``household_forest``)."""

    parent: HouseholdId | None  # the household it came in through; None for a root
    chain: HouseholdId  # the root household of its chain (itself for a root)
    wave: int  # households between it and the root (a root is wave 0)
    joined_on: date | None  # the date of the introduction it came in through


def entry_key(on: date | None, person: PersonId, parent: HouseholdId) -> tuple[bool, date, PersonId, HouseholdId]:
    """The order of the introductions into one household: earliest date first, undated
    ones after dated ones, ties by introduced person, then by introducer's household.

    >>> entry_key(None, "p", "h") > entry_key(date(2030, 1, 1), "p", "h")
    True
    """
    return (on is None, on or date.min, person, parent)


def first_entries(entries: Iterable[Entry]) -> dict[HouseholdId, tuple[HouseholdId, date | None]]:
    """``{household: (parent, joined_on)}``: the introduction each household came in
    through, its *first* one from another household (``entry_key``). Entries within one
    household are ignored; households without any are not in the answer.

    >>> first_entries([("h2", "h1", date(2024, 3, 1), "b"), ("h2", "h3", date(2024, 1, 1), "c"),
    ...                ("h4", "h4", None, "d")])
    {'h2': ('h3', datetime.date(2024, 1, 1))}
    """
    first: dict[HouseholdId, tuple[tuple[bool, date, PersonId, HouseholdId], HouseholdId, date | None]] = {}
    for child, parent, on, person in entries:
        if child == parent:
            continue
        key = entry_key(on, person, parent)
        if child not in first or key < first[child][0]:
            first[child] = (key, parent, on)
    return {child: (parent, on) for child, (_, parent, on) in first.items()}


def cut_loops(parent_of: Mapping[HouseholdId, HouseholdId | None]) -> dict[HouseholdId, HouseholdId | None]:
    """``parent_of`` with every loop cut at its smallest household id (that one's parent
    becomes None). Person-level introductions form a forest, households need not: two
    households can each have introduced a member of the other. One pass: walk up from
    every household; meeting the current walk is a loop.

    >>> cut_loops({"b": "a", "a": "b", "c": "b", "d": None})
    {'b': 'a', 'a': None, 'c': 'b', 'd': None}
    """
    out = dict(parent_of)
    state: dict[HouseholdId, int] = {}  # 1: on the current walk, 2: done
    for start in parent_of:
        walk: list[HouseholdId] = []
        node: HouseholdId | None = start
        while node is not None and node in out and node not in state:
            state[node] = 1
            walk.append(node)
            node = out[node]
        if node is not None and state.get(node) == 1:
            out[min(walk[walk.index(node) :])] = None
        for n in walk:
            state[n] = 2
    return out


def place(
    parent_of: Mapping[HouseholdId, HouseholdId | None],
    anchors: Mapping[HouseholdId, tuple[HouseholdId, int]] | None = None,
) -> dict[HouseholdId, tuple[HouseholdId | None, HouseholdId, int]]:
    """``{household: (parent, chain, wave)}`` for every household of ``parent_of``.

    ``parent_of`` gives each household's parent before loops are cut (None: it came in
    through no other household). A parent outside ``parent_of`` sits at ``anchors[parent]``
    (``(chain, wave)``: the part of the forest that is not recomputed), else it is a root.
    Loops are cut first (``cut_loops``); a root is ``(None, itself, 0)``.

    >>> place({"b": "a", "c": "b"})
    {'b': ('a', 'a', 1), 'c': ('b', 'a', 2)}
    >>> place({"x": "b", "y": None}, anchors={"b": ("a", 1)})
    {'x': ('b', 'a', 2), 'y': (None, 'y', 0)}
    """
    anchors = anchors or {}
    parent = cut_loops(parent_of)
    placed: dict[HouseholdId, tuple[HouseholdId | None, HouseholdId, int]] = {}
    for start in parent:
        path: list[HouseholdId] = []
        node = start
        while node in parent and node not in placed:
            path.append(node)
            up = parent[node]
            if up is None:
                placed[node] = (None, node, 0)
                path.pop()
                break
            node = up
        if node in placed:
            _, chain, wave = placed[node]
        else:  # a parent outside: anchored, or a root that came in through no one
            chain, wave = anchors.get(node, (node, 0))
        for n in reversed(path):
            wave += 1
            up = parent[n]
            assert up is not None
            placed[n] = (up, chain, wave)
    return placed


def household_forest(entries: Iterable[Entry]) -> dict[HouseholdId, Placement]:
    """Each household's place among households: parent, chain root, wave, joined date.

    ``entries`` are the introductions that cross households (``Entry``). A household came
    in through its *first* such introduction (``first_entries``): that introducer's
    household is its parent. Households never introduced from another household are
    roots and are not in the answer (their placement is ``Placement(None, itself, 0,
    None)``); so are households whose loop was cut at them (``cut_loops``).

    >>> f = household_forest([("h2", "h1", date(2024, 1, 5), "b"), ("h3", "h2", None, "c"),
    ...                       ("h3", "h1", date(2024, 2, 1), "d")])
    >>> f["h3"]
    Placement(parent='h1', chain='h1', wave=1, joined_on=datetime.date(2024, 2, 1))
    >>> sorted(household_forest([("a", "b", None, "p"), ("b", "a", None, "q")]).items())
    [('b', Placement(parent='a', chain='a', wave=1, joined_on=None))]
    """
    first = first_entries(entries)
    placed = place({child: parent for child, (parent, _) in first.items()})
    return {
        h: Placement(parent, chain, wave, first[h][1])
        for h, (parent, chain, wave) in placed.items()
        if parent is not None
    }
