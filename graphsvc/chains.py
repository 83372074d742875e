"""The derived chain index: each household's parent household, chain root, wave and the
date it came in, stored on the household so that maps, overviews and lists are index
lookups instead of graph walks on every request.

**The rule** (``network.household_forest``): a household came in through its earliest
introduction from another household (undated after dated, ties by introduced person);
that household is its parent. Households that came in through each other (a loop) are cut
at the smallest id, which becomes a root. ``chain`` is the root reached through parents,
``wave`` the number of parents on the way, ``joined_on`` the date of that introduction;
roots store none of the four.

It is derived data, kept two ways that store the same thing:

- ``refresh`` recomputes every household from all introductions and writes what differs
  (idempotent; ``graphsvc chains refresh``, and every import after the first).
- ``update_in_tx`` follows one change inside the writer's own transaction: the write
  service calls it after it wrote a household, a membership or an introduction, with the
  ids of the households it touched, and it reads and writes only what can move.

Both first take the index's lock (``chains_lock``: a write on the one ``ChainIndexLock``
node, held until the transaction ends), so changes of the index run one after another:
under read-committed isolation a second writer would otherwise read the stored chain and
wave of a household that a first, uncommitted change is moving, and store a placement
derived from the old one; and a refresh could read the introductions before a change
and write its placements after it.

**What to pass to ``update_in_tx``**: the households whose *introductions into them*
changed, i.e.

- a new household: its id (with no members yet nothing moves);
- a person added, moved or removed: every household they left or joined (a move: both);
  the households of the people they introduced follow by themselves (they are found
  through the person's household after the change);
- an introduction added, removed, re-dated or given another introducer: the household of
  the introduced person (the introducer's households may be passed too; they are not
  needed);
- a person or household deleted: before deleting, read the households that the deleted
  people introduced someone into and pass those too (after the delete nothing leads to
  them).

Passing more is harmless (a household whose way in did not change costs one read).

**What moves** (the "affected" set, so that the update reads no more than it must): let
*candidates* be the passed households and those their members introduced someone into.
A candidate's way in (its first introduction from another household) is re-read; it is
*re-homed* when that gives another parent than the stored one (a root that now came in
through someone counts as re-homed). Only the subtrees (by stored parents) below the
re-homed households can move, plus one case: a loop of households cut at its root r, which
a change on the loop breaks (r then comes in through its own first introduction again),
moves r's whole chain. These households are placed again (``network.place``) with every
parent outside them at its stored place; a candidate that is not re-homed but came in on
another date only gets its ``joined_on``. What differs from the stored index is written.
That equals ``refresh``: every household outside those subtrees walks up to the same root
as before through parents that did not change (tests/test_chains.py checks it against
``refresh`` after random edits).

Cost: one read of the candidates (and their chain roots), one read per level of the
moved subtrees (through the index on ``parent``; none below a household with nothing
placed below it), one write of what changed. A new household is a leaf: two statements.
Moving a household near the root of a big chain re-places its whole subtree
(bench/RESULTS.md).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import neo4j

from .db import Database
from .model import to_date
from .network import Entry, HouseholdId, first_entries, household_forest, place

BATCH = 10_000

#: A stored placement: (parent, chain, wave, joined_on); a root stores four nulls.
Stored = tuple[HouseholdId | None, HouseholdId | None, int | None, dt.date | None]
ROOT: Stored = (None, None, None, None)


@dataclass(frozen=True)
class RefreshReport:
    households: int  # households placed below a root
    changed: int  # households whose stored placement was written
    seconds: float


@dataclass(frozen=True)
class UpdateReport:
    """What ``update_in_tx`` did."""

    candidates: int  # households whose way in was read again
    moved: int  # households placed again (the re-homed ones and their subtrees)
    changed: tuple[HouseholdId, ...]  # households whose stored placement was written
    rejoined: tuple[HouseholdId, ...]  # of those, the ones whose joined_on changed: their
    # visit summary waits since another date (suggest.refresh_visit_summary_in_tx)


def refresh(db: Database, batch: int = BATCH) -> RefreshReport:
    """Recompute every household's placement and store the ones that differ, in one
    transaction that holds the index's lock (writers of single changes wait for it)."""
    started = time.perf_counter()

    def work(tx: neo4j.ManagedTransaction) -> tuple[int, int]:
        db.run_in_tx(tx, "chains_lock")
        rows = db.run_in_tx(tx, "chains_cross_introductions")[0]["rows"]
        forest = household_forest((child, parent, to_date(on), person) for child, parent, on, person in rows)
        stored = {r[0]: tuple(r[1:]) for r in db.run_in_tx(tx, "chains_stored")[0]["rows"]}
        changes = []
        for hid, p in forest.items():
            want = (p.parent, p.chain, p.wave, p.joined_on)
            have = stored.pop(hid, None)
            if have is None or (have[0], have[1], have[2], to_date(have[3])) != want:
                changes.append(_row(hid, want))
        # stored placements of households that are roots now
        changes.extend(_row(hid, ROOT) for hid in stored)
        for start in range(0, len(changes), batch):
            db.run_in_tx(tx, "chains_set", rows=changes[start : start + batch])
        return len(forest), len(changes)

    placed, changed = db.write_tx(work, cls="batch")
    return RefreshReport(placed, changed, time.perf_counter() - started)


def update_in_tx(tx: neo4j.ManagedTransaction, db: Database, household_ids: Iterable[HouseholdId]) -> UpdateReport:
    """Bring the index up to date after a change to the households ``household_ids``
    (see the module's text for what to pass), inside the caller's transaction: afterwards
    the stored index equals what ``refresh`` would store."""
    given = sorted(set(household_ids))
    if not given:
        return UpdateReport(0, 0, (), ())
    db.run_in_tx(tx, "chains_lock")  # held until the caller's transaction ends
    stored: dict[HouseholdId, Stored] = {}
    first: dict[HouseholdId, tuple[HouseholdId, dt.date | None] | None] = {}
    anchors: dict[HouseholdId, tuple[HouseholdId, int]] = {}  # stored (chain, wave) of introducers' households
    candidates: set[HouseholdId] = set()
    leaves: set[HouseholdId] = set()  # nothing is placed below them
    for hid, candidate, parent, chain, wave, joined_on, into, above in db.run_in_tx(tx, "chains_around", ids=given)[0][
        "rows"
    ]:
        stored[hid] = (parent, chain, wave, to_date(joined_on))
        if not above:
            leaves.add(hid)
        entries: list[Entry] = []
        for introducer_household, on, person, its_chain, its_wave in into:
            entries.append((hid, introducer_household, to_date(on), person))
            anchors[introducer_household] = (its_chain, its_wave)
        first[hid] = first_entries(entries).get(hid)
        if candidate:
            candidates.add(hid)

    def parent_now(h: HouseholdId) -> HouseholdId | None:
        way_in = first[h]
        return way_in[0] if way_in else None

    rehomed = sorted(c for c in candidates if parent_now(c) != stored[c][0])
    moved: dict[HouseholdId, Stored] = {h: stored[h] for h in rehomed}
    _add_subtrees(tx, db, [h for h in rehomed if h not in leaves], moved)
    # A loop cut at its root r (r ∉ candidates: its way in is the one it always had) is
    # broken when a re-homed household lies on it, i.e. r's own parent sits in that
    # household's subtree: then r comes in through that parent and its chain moves.
    broken = sorted(
        {
            chain
            for h in rehomed
            if (chain := stored[h][1]) is not None
            and stored[h][0] is not None
            and chain not in candidates
            and chain in first
            and (way_in := first[chain]) is not None
            and way_in[0] in moved
        }
    )
    moved.update({r: stored[r] for r in broken if r not in moved})
    _add_subtrees(tx, db, broken, moved)

    known = candidates | set(broken)  # ways in read now; the others did not change
    parent_of: dict[HouseholdId, HouseholdId | None] = {}
    joined: dict[HouseholdId, dt.date | None] = {}
    for h, (parent, _, _, on) in moved.items():
        if h in known:
            way_in = first[h]
            parent_of[h], joined[h] = way_in if way_in else (None, None)
        else:
            parent_of[h], joined[h] = parent, on
    changes: list[tuple[HouseholdId, Stored, Stored]] = []
    for h, (parent, chain, wave) in place(parent_of, anchors).items():
        want: Stored = ROOT if parent is None else (parent, chain, wave, joined[h])
        if want != moved[h]:
            changes.append((h, moved[h], want))
    for c in sorted(candidates - moved.keys()):  # same parent: at most another date
        have = stored[c]
        way_in = first[c]
        if have[0] is not None and way_in is not None and way_in[1] != have[3]:
            changes.append((c, have, (have[0], have[1], have[2], way_in[1])))
    if changes:
        db.run_in_tx(tx, "chains_place", rows=[_row(h, want) for h, _, want in changes])
    return UpdateReport(
        len(candidates),
        len(moved),
        tuple(h for h, _, _ in changes),
        tuple(h for h, have, want in changes if have[3] != want[3]),
    )


def _add_subtrees(
    tx: neo4j.ManagedTransaction, db: Database, tops: list[HouseholdId], into: dict[HouseholdId, Stored]
) -> None:
    """Add the stored placements of every household below ``tops`` (by stored parents) to
    ``into``, one level per statement."""
    level = tops
    while level:
        below = db.run_in_tx(tx, "chains_children", ids=level)[0]["rows"]
        level = []
        for hid, parent, chain, wave, joined in below:
            if hid not in into:
                into[hid] = (parent, chain, wave, to_date(joined))
                level.append(hid)


def _row(hid: HouseholdId, placement: Stored) -> dict[str, Any]:
    parent, chain, wave, joined_on = placement
    return {"id": hid, "parent": parent, "chain": chain, "wave": wave, "joined_on": joined_on}
