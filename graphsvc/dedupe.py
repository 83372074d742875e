"""Duplicate candidates of a household: the households of its district that are likely the
same family, scored on blind indexes (graphsvc/blindindex.py) and on the graph around it,
without decrypting anything.

``candidates(db, household_id)`` scores one household (in practice one that is pending:
brought back from a visit) against the households of its district: not itself, not
``rejected`` ones; other pending households count. A person of the scored household and a
person of the candidate give a reason when they have

========================  ======  ===================================================
reason                    weight  what
========================  ======  ===================================================
``phone``                 0.70    the same phone number (blind index)
``address``               0.45    the same home address (blind index)
``name``                  0.30    the same full name in the same district (blind index;
                                  swapped two-part names too; a surname alone never)
``code_name``             0.35    the same code name, one introduction away
``same_introducer``       0.20    introduced by the same person (context)
``introducer_household``  0.20    the candidate is the introducer's own household (context)
========================  ======  ===================================================

The score combines the reasons' kinds as independent evidence, ``1 - Π(1 - w)`` (each kind
counted once however many people share it), so it stays below 1 and grows with every
kind. A name with graph context (one of the last two, or ``code_name``) is strong: the name's
weight is then 0.60 instead of 0.30 (Korean names repeat, but rarely within one family's
circle). Context alone (a fellow introducee, the introducer's household) is no candidate:
introducers bring several households by design; a candidate needs a phone, an address, a
name or a code name.

Examples (score): phone alone 0.70; name alone 0.30; name + same introducer 0.68; name +
phone 0.79; phone + address + name 0.84.

Who may see the candidates is the caller's to decide (the intake review, graphsvc/access.py
``INTAKE_REVIEW``): they are all in the scored household's district.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import neo4j

    from .db import Database

#: reason kind → its weight (see the module's docstring)
WEIGHTS: dict[str, float] = {
    "phone": 0.70,
    "address": 0.45,
    "name": 0.30,
    "code_name": 0.35,
    "same_introducer": 0.20,
    "introducer_household": 0.20,
}
#: the weight of a name when the graph agrees (same introducer, introducer's household, code name)
NAME_WITH_CONTEXT = 0.60
#: the reasons that make a candidate on their own; the others only add to one
IDENTIFYING = frozenset({"phone", "address", "name", "code_name"})
CONTEXT = frozenset({"same_introducer", "introducer_household", "code_name"})
# the order in which reasons are listed (strongest first)
_ORDER = {
    kind: i
    for i, kind in enumerate(("phone", "address", "name", "code_name", "same_introducer", "introducer_household"))
}


@dataclass(frozen=True)
class Reason:
    """Why a household is a candidate: ``kind`` ("phone" | "name" | "address" |
    "same_introducer" | "introducer_household" | "code_name"), between ``person_id`` (of the
    household scored) and ``other_person_id`` (the existing person it matches)."""

    kind: str
    person_id: str | None
    other_person_id: str | None


@dataclass(frozen=True)
class Candidate:
    """A household that may be the same as the one scored, with its score (0-1) and reasons."""

    household_id: str
    code: str
    district: str
    score: float
    reasons: tuple[Reason, ...]


def score(kinds: set[str] | frozenset[str]) -> float:
    """The score of a candidate with these reason kinds (see the module's docstring).

    >>> score({"phone"}), score({"name"}), score({"name", "same_introducer"}), score({"same_introducer"})
    (0.7, 0.3, 0.68, 0.0)
    """
    if not kinds & IDENTIFYING:
        return 0.0
    miss = 1.0
    for kind in kinds:
        weight = WEIGHTS[kind]
        if kind == "name" and kinds & CONTEXT:
            weight = NAME_WITH_CONTEXT
        miss *= 1.0 - weight
    return round(1.0 - miss, 4)


def _rank(rows: list[dict[str, Any]], limit: int) -> list[Candidate]:
    found: dict[str, dict[str, Any]] = {}
    reasons: dict[str, set[Reason]] = defaultdict(set)
    for row in rows:
        found[row["household_id"]] = row
        reasons[row["household_id"]].add(Reason(row["kind"], row["person_id"], row["other_person_id"]))
    out = []
    for hid, row in found.items():
        kinds = {r.kind for r in reasons[hid]}
        value = score(kinds)
        if value <= 0:
            continue
        listed = sorted(reasons[hid], key=lambda r: (_ORDER[r.kind], r.person_id or "", r.other_person_id or ""))
        out.append(Candidate(hid, row["code"], row["district"], value, tuple(listed)))
    out.sort(key=lambda c: (-c.score, c.code, c.household_id))
    return out[: max(limit, 0)]


def candidates(db: Database, household_id: str, limit: int = 5) -> list[Candidate]:
    """The duplicate candidates of ``household_id``, best first, at most ``limit`` ([] for
    an unknown household). Reads blind indexes and edges only: nothing is decrypted."""
    return _rank(db.read("dedupe_matches", household_id=household_id), limit)


def candidates_in_tx(tx: neo4j.ManagedTransaction, db: Database, household_id: str, limit: int = 5) -> list[Candidate]:
    """``candidates`` inside a transaction (e.g. the intake review's, after its lock)."""
    return _rank(db.run_in_tx(tx, "dedupe_matches", household_id=household_id), limit)
