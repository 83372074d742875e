"""The derived chain index: each household's parent household, chain root, wave and the
date it came in, stored on the household so that maps, overviews and lists are index
lookups instead of graph walks on every request.

It is derived data: ``refresh`` recomputes it from the introductions
(``network.household_forest``) and writes only what changed, so it is idempotent and
safe to run any time (``graphsvc chains refresh``). The importer runs it after every
import; nothing else changes introductions or memberships.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .network import household_forest

BATCH = 10_000


@dataclass(frozen=True)
class RefreshReport:
    households: int  # households placed below a root
    changed: int  # households whose stored placement was written
    seconds: float


def refresh(db, batch: int = BATCH) -> RefreshReport:
    """Recompute every household's placement and store the ones that differ."""
    started = time.perf_counter()
    rows = db.read("chains_cross_introductions")[0]["rows"]
    forest = household_forest((child, parent, _date(on), person) for child, parent, on, person in rows)
    stored = {r[0]: tuple(r[1:]) for r in db.read("chains_stored")[0]["rows"]}
    changes = []
    for hid, p in forest.items():
        want = (p.parent, p.chain, p.wave, p.joined_on)
        have = stored.pop(hid, None)
        if have is None or (have[0], have[1], have[2], _date(have[3])) != want:
            changes.append({"id": hid, "parent": p.parent, "chain": p.chain, "wave": p.wave, "joined_on": p.joined_on})
    # stored placements of households that are roots now
    changes.extend({"id": hid, "parent": None, "chain": None, "wave": None, "joined_on": None} for hid in stored)
    for start in range(0, len(changes), batch):
        db.write("chains_set", rows=changes[start : start + batch])
    return RefreshReport(len(forest), len(changes), time.perf_counter() - started)


def _date(value):
    """Neo4j Date → datetime.date (None stays None)."""
    return value.to_native() if hasattr(value, "to_native") else value
