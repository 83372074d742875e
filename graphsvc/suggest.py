"""The visitor's suggestions: which households to visit next, best first, and why.

No Flask here. ``suggest`` runs the named Cypher of ``cypher/suggest.cypher`` and ranks
with the pure ``rank``; the web layer words the structured reasons in the page's language.

**Candidates** are the active households of the visitor's districts that were never
visited, whose last visit is older than the follow-up interval (``follow_up_days``), or
whose follow-up date (set at their latest visit) has come. **Never suggested**: a
household with a live claim of another visitor; moved, closed or do_not_visit; outside
the visitor's districts; visited by this visitor within the interval; ``women_only``
unless the visitor's gender is ``'f'``; the visitor's own household.

**Score** (``Weights``; every weight can be set by a ``GRAPHSVC_SUGGEST_*`` variable)::

    warmth          one_hop | two_hops | three_hops | 0     (default 120 | 80 | 40 | 0)
  + newcomer        if it arrived within newcomer_days       (default 15)
  + waiting · d / (d + waiting_half_days)                    (default 20 · d / (d + 365))
  - failed_attempt · min(failed attempts, failed_cap)        (default 8 · min(n, 3))
  + personal · a stable hash of (visitor, household) in [0, 1)  (default 0.5)

- *Warmth* is the introduction distance (either direction, at most 3) from the visitor's
  anchors to a member of the household: the visitor's own person (a visitor who is in
  the network) and the members of households where they met someone. With the default
  weights a warmer household is always ahead (the other terms add less than 40), unless
  failed attempts pull it back.
- *d*, the days waited: never visited — since it came in through an introduction
  (``joined_on``), else since it arrived; visited — since it became due: its follow-up
  date, or the day its last visit became older than the interval. The term grows with the
  wait and never passes ``waiting``: half of it after ``waiting_half_days``.
- *Failed attempts*: visits with outcome not_home or refused since the last 'met'.
- *Personal*: breaks near-ties differently for each visitor, so that two visitors of one
  district do not get the same list (their warmth differs too).

**Reasons** are structured, in this order: ``warm`` (``hops``, ``via_code_name`` and
``via_household_code`` of the anchor, ``visited_on``: when the visitor met them, None for
the visitor's own person), ``never_visited``, ``follow_up_due`` (``since``), ``overdue``
(``last_visit``), ``newcomer`` (``arrived_on``), ``waiting`` (``days``, never visited
only), ``failed_attempts`` (``count``). Dates are ISO strings. ``path`` is the person ids
from the anchor to the member of the household; a person of a household outside the
visitor's districts (other than the anchor) is ``None`` there and is not named.

**How it stays cheap** on a large network: the visit summary is stored on each household
(``refresh_visit_summary``); the warm query walks one introduction out from the anchors
and returns only the few households with the best upper bound; the candidate query reads
a few candidates per district from indexes in the order of their wait (streams).
``suggest`` asks for more (more households, one hop further, more of each stream) only
while a household it has not seen could still beat the last one it would return, so its
answer is the one ``rank`` gives over every candidate — usually after one query.

>>> today = dt.date(2026, 11, 25)
>>> me = Visitor("minji", ("노원",), "f")
>>> cold = Candidate("h1", "H-1", "노원", arrived_on=dt.date(2010, 1, 1))
>>> warm = Candidate("h2", "H-2", "노원", arrived_on=dt.date(2010, 1, 1),
...                  last_visit_on=dt.date(2026, 1, 5))
>>> path = WarmPath(1, dt.date(2026, 10, 3), (
...     PathStep("p1", "목련", "h9", "H-9", "노원"), PathStep("p2", "들국화", "h2", "H-2", "노원")))
>>> [(s.household_id, [r["kind"] for r in s.reasons]) for s in rank([cold, warm], {"h2": path}, me, today)]
[('h2', ['warm', 'overdue']), ('h1', ['never_visited', 'waiting'])]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from . import access
from .model import to_date

if TYPE_CHECKING:
    import neo4j

    from .db import Database

HOPS = (1, 2, 3)  # the warm query looks this far from the anchors
DEEP_BELOW = 8  # a visitor with at most this many anchors gets all three hops at once
DECLINED_DAYS = 30  # a household the visitor declined stays out of their suggestions this long
MAX_ROUNDS = 10  # queries per suggest() at most (each fetches more; the last answer stands)
EPSILON = 1e-9  # Cypher and Python may round the same bound differently
REFRESH_BATCH = 5000
STREAMS = ("never", "overdue", "follow_up", "newcomers")
# The audit action of an answer that showed suggestions: its events' targets are what was
# suggested to whom, and "suggested to the visitor" (the right to open a household,
# cypher/visits.cypher) is read from them. One constant for the writer and the reader.
SHOWN_ACTION = "suggestions.read"
#: Suggestions shown within this many days (a claim's life) still count as "suggested to".
SUGGESTED_DAYS = 14


# --- settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """The weights of the score and the two windows it uses.

    >>> Weights().hop_weight(2), Weights().hop_weight(None)
    (80.0, 0.0)
    >>> Weights.from_env({"GRAPHSVC_SUGGEST_NEWCOMER": "30"}, follow_up_days=60).newcomer
    30.0
    """

    one_hop: float = 120.0
    two_hops: float = 80.0
    three_hops: float = 40.0
    newcomer: float = 15.0
    waiting: float = 20.0
    waiting_half_days: float = 365.0
    failed_attempt: float = 8.0
    failed_cap: int = 3
    personal: float = 0.5
    follow_up_days: int = 90  # Settings.follow_up_days (GRAPHSVC_FOLLOW_UP_DAYS), as the map
    newcomer_days: int = 180  # Settings.newcomer_days (GRAPHSVC_NEWCOMER_DAYS), as the map

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"suggestion weight {f.name} must be a number >= 0, not {value!r}")
        if self.waiting_half_days <= 0:
            raise ValueError("suggestion weight waiting_half_days must be > 0")

    def hop_weight(self, hops: int | None) -> float:
        by_hops: dict[int | None, float] = {1: self.one_hop, 2: self.two_hops, 3: self.three_hops}
        return by_hops.get(hops, 0.0)

    @property
    def max_rest(self) -> float:
        """An upper bound of the score of any household, but for its warmth."""
        return self.newcomer + self.waiting + self.personal

    @classmethod
    def from_env(cls, env: Mapping[str, str], follow_up_days: int = 90, newcomer_days: int = 180) -> Weights:
        """``GRAPHSVC_SUGGEST_<FIELD>`` (e.g. ``GRAPHSVC_SUGGEST_ONE_HOP``) for each weight; the
        two windows are the settings' (config.Settings.follow_up_days, newcomer_days: read
        once, in graphsvc/config.py, so that the map and the suggestions cannot disagree)."""
        values: dict[str, Any] = {"follow_up_days": follow_up_days, "newcomer_days": newcomer_days}
        for f in fields(cls):
            if f.name in values:
                continue
            name = f"GRAPHSVC_SUGGEST_{f.name.upper()}"
            raw = env.get(name)
            if raw in (None, ""):
                continue
            kind = int if f.type in ("int", int) else float
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not a {'whole ' if kind is int else ''}number") from None
        return cls(**values)

    @classmethod
    def from_settings(cls, settings: Any) -> Weights:
        """The weights of these settings (``suggest_env``) with their two windows."""
        return cls.from_env(dict(settings.suggest_env), settings.follow_up_days, settings.newcomer_days)


@dataclass(frozen=True)
class Visitor:
    """Who asks (``graphsvc.access.Subject`` has the same attributes)."""

    username: str
    districts: tuple[str, ...]
    gender: str | None = None


# --- what the queries return ---------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A household the queries found eligible, with what the score needs."""

    household_id: str
    code: str
    district: str
    arrived_on: dt.date | None = None
    joined_on: dt.date | None = None
    last_visit_on: dt.date | None = None
    follow_up_on: dt.date | None = None
    failed_attempts: int = 0

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Candidate:
        """``[id, code, district, arrived_on, joined_on, last_visit_on, follow_up_on,
        failed_attempts, …]`` with ISO dates (as the queries return them)."""
        return cls(
            row[0], row[1], row[2], to_date(row[3]), to_date(row[4]), to_date(row[5]), to_date(row[6]), row[7] or 0
        )


@dataclass(frozen=True)
class PathStep:
    """One person on an introduction path."""

    person_id: str
    code_name: str | None
    household_id: str | None
    household_code: str | None
    district: str | None
    women_only: bool = False  # of the person's household


@dataclass(frozen=True)
class WarmPath:
    """The shortest introduction path from an anchor (``people[0]``) to a member of the
    household (``people[-1]``); ``visited_on`` None when the anchor is the visitor."""

    hops: int
    visited_on: dt.date | None
    people: tuple[PathStep, ...]


@dataclass(frozen=True)
class Suggestion:
    household_id: str
    code: str
    district: str
    score: float
    reasons: tuple[dict[str, Any], ...]
    path: tuple[str | None, ...]


# --- ranking (pure) --------------------------------------------------------------------


def personal(username: str, household_id: str) -> float:
    """A number in [0, 1) fixed for one visitor and one household.

    >>> personal("minji", "h1") == personal("minji", "h1") != personal("junho", "h1")
    True
    """
    digest = hashlib.blake2b(f"{username}\x1f{household_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def waiting_since(c: Candidate, today: dt.date, w: Weights) -> dt.date | None:
    """Since when the household waits for a visit (None: unknown, counted as no wait).

    >>> c = Candidate("h", "H", "d", last_visit_on=dt.date(2026, 1, 1), follow_up_on=dt.date(2026, 2, 1))
    >>> waiting_since(c, dt.date(2026, 11, 1), Weights())  # follow-up before the interval ran out
    datetime.date(2026, 2, 1)
    """
    if c.last_visit_on is None:
        return c.joined_on or c.arrived_on
    dues = []
    if c.follow_up_on is not None and c.follow_up_on <= today:
        dues.append(c.follow_up_on)
    overdue_on = c.last_visit_on + dt.timedelta(days=w.follow_up_days)
    if overdue_on < today:
        dues.append(overdue_on)
    return min(dues) if dues else None


def wait_points(days: int, w: Weights) -> float:
    """The waiting term: grows with the days waited, half of ``w.waiting`` at ``waiting_half_days``.

    >>> wait_points(0, Weights()), wait_points(365, Weights())
    (0.0, 10.0)
    """
    days = max(days, 0)
    return w.waiting * days / (days + w.waiting_half_days)


def rest_score(c: Candidate, visitor: Any, today: dt.date, w: Weights) -> float:
    """Everything of the score but warmth."""
    since = waiting_since(c, today, w)
    score = wait_points((today - since).days, w) if since is not None else 0.0
    if c.arrived_on is not None and c.arrived_on >= today - dt.timedelta(days=w.newcomer_days):
        score += w.newcomer
    score -= w.failed_attempt * min(c.failed_attempts, w.failed_cap)
    return score + w.personal * personal(visitor.username, c.household_id)


def _named(step: PathStep, index: int, path: WarmPath, visitor: Any) -> bool:
    """Whether the visitor may be told who ``step`` is: the visitor's own person always;
    the anchor of a visit (someone they met) unless the women-only rule hides them; anyone
    else by access.names_person (their districts, the women-only rule)."""
    if index == 0:
        return path.visited_on is None or access.names_person(visitor, step.district, step.women_only, met=True)
    return access.names_person(visitor, step.district, step.women_only)


def reasons(
    c: Candidate, path: WarmPath | None, today: dt.date, w: Weights, visitor: Any = None
) -> tuple[dict[str, Any], ...]:
    """Why ``c`` is suggested, as data (see the module docstring). An anchor the visitor
    may not be told of (``_named``) is "someone": its code name, household code and id None."""
    out: list[dict[str, Any]] = []
    if path is not None:
        anchor = path.people[0]
        named = visitor is None or _named(anchor, 0, path, visitor)
        out.append(
            {
                "kind": "warm",
                "hops": path.hops,
                "via_code_name": anchor.code_name if named else None,
                "via_household_code": anchor.household_code if named else None,
                "via_household_id": anchor.household_id if named else None,
                "visited_on": _iso(path.visited_on),
            }
        )
    if c.last_visit_on is None:
        out.append({"kind": "never_visited"})
    else:
        if c.follow_up_on is not None and c.follow_up_on <= today:
            out.append({"kind": "follow_up_due", "since": _iso(c.follow_up_on)})
        if c.last_visit_on < today - dt.timedelta(days=w.follow_up_days):
            out.append({"kind": "overdue", "last_visit": _iso(c.last_visit_on)})
    if c.arrived_on is not None and c.arrived_on >= today - dt.timedelta(days=w.newcomer_days):
        out.append({"kind": "newcomer", "arrived_on": _iso(c.arrived_on)})
    if c.last_visit_on is None:
        since = c.joined_on or c.arrived_on
        if since is not None and since < today:
            # since the introduction, or (a household nobody introduced) since it arrived
            kind = "introduction" if c.joined_on else "arrival"
            out.append({"kind": "waiting", "days": (today - since).days, "since": kind})
    if c.failed_attempts:
        out.append({"kind": "failed_attempts", "count": c.failed_attempts})
    return tuple(out)


def shown_path(path: WarmPath | None, visitor: Any) -> tuple[str | None, ...]:
    """The person ids of ``path``; people the visitor may not be told of (``_named``: of
    households outside their districts, or of women-only households for a visitor who is
    not a woman) are None.

    >>> p = WarmPath(2, None, (PathStep("a", "A", "h1", "H1", "x"), PathStep("b", "B", "h2", "H2", "far"),
    ...                        PathStep("c", "C", "h3", "H3", "x")))
    >>> shown_path(p, Visitor("v", ("x",)))
    ('a', None, 'c')
    >>> p = WarmPath(2, dt.date(2026, 1, 1), (PathStep("a", "A", "h1", "H1", "x", women_only=True),
    ...                                      PathStep("b", "B", "h2", "H2", "x", women_only=True),
    ...                                      PathStep("c", "C", "h3", "H3", "x")))
    >>> shown_path(p, Visitor("v", ("x",), "m")), shown_path(p, Visitor("v", ("x",), "f"))
    ((None, None, 'c'), ('a', 'b', 'c'))
    """
    if path is None:
        return ()
    return tuple(p.person_id if _named(p, i, path, visitor) else None for i, p in enumerate(path.people))


@dataclass(frozen=True)
class _Scored:
    score: float
    rest: float
    candidate: Candidate
    path: WarmPath | None


def _score_all(
    candidates: Iterable[Candidate], warm: Mapping[str, WarmPath], visitor: Any, today: dt.date, w: Weights
) -> list[_Scored]:
    out = []
    for c in candidates:
        path = warm.get(c.household_id)
        rest = rest_score(c, visitor, today, w)
        out.append(_Scored(rest + (w.hop_weight(path.hops) if path else 0.0), rest, c, path))
    out.sort(key=lambda s: (-s.score, s.candidate.household_id))
    return out


def _suggestion(s: _Scored, visitor: Any, today: dt.date, w: Weights) -> Suggestion:
    c = s.candidate
    return Suggestion(
        c.household_id, c.code, c.district, s.score, reasons(c, s.path, today, w, visitor), shown_path(s.path, visitor)
    )


def rank(
    candidates: Iterable[Candidate],
    warm: Mapping[str, WarmPath],
    visitor: Any,
    today: dt.date,
    weights: Weights | None = None,
    limit: int | None = None,
) -> list[Suggestion]:
    """Score every candidate and return them best first (ties: by household id).

    ``warm`` maps a household id to its shortest path from one of the visitor's anchors.

    >>> today = dt.date(2026, 11, 25)
    >>> me = Visitor("v", ("d",))
    >>> new = Candidate("new", "N", "d", arrived_on=dt.date(2026, 10, 1))
    >>> old = Candidate("old", "O", "d", arrived_on=dt.date(2026, 1, 1))
    >>> failing = Candidate("failing", "F", "d", arrived_on=dt.date(2025, 1, 1),
    ...                     last_visit_on=dt.date(2026, 1, 1), failed_attempts=3)
    >>> [s.household_id for s in rank([failing, old, new], {}, me, today)]
    ['new', 'old', 'failing']
    """
    w = weights or Weights()
    scored = _score_all(candidates, warm, visitor, today, w)
    return [_suggestion(s, visitor, today, w) for s in scored[:limit]]


# --- when to stop fetching (pure) --------------------------------------------------------


def _stream_bound(stream: str, key: dt.date | None, today: dt.date, w: Weights) -> float:
    """The most the rest of the score can be for a candidate a stream has not returned yet,
    given the key of the last one it did return."""
    if key is None:
        return w.max_rest
    due = key + dt.timedelta(days=w.follow_up_days) if stream == "overdue" else key
    bound = wait_points((today - due).days, w) + w.personal
    return bound + w.newcomer if stream == "newcomers" else bound


def cold_bound(streams: Sequence[Sequence[Any]], k: int, today: dt.date, w: Weights) -> float:
    """The most the (warmth-less) score can be for a candidate that ``suggest_candidates``
    did not return, from its streams ([district, never, overdue, follow_up, newcomers]);
    ``-inf`` when every stream ran out (it returned every candidate).

    >>> w = Weights(personal=0)
    >>> rows = [["h1", "H1", "d", None, None, None, None, 0, "2025-11-25"]]
    >>> cold_bound([["d", rows, [], [], []]], 1, dt.date(2026, 11, 25), w)  # one year: half of 20
    10.0
    >>> cold_bound([["d", rows, [], [], []]], 2, dt.date(2026, 11, 25), w)
    -inf
    """
    bound = -math.inf
    for entry in streams:
        for name, rows in zip(STREAMS, entry[1:]):
            if len(rows) >= k:
                bound = max(bound, _stream_bound(name, to_date(rows[-1][8]), today, w))
    return bound


def _next_fetch(
    scored: list[_Scored], limit: int, depth: int, warm_left: float, cold_left: float, w: Weights
) -> str | None:
    """None when the first ``limit`` of ``scored`` are final; else what to fetch next:
    'warm' (more of the warm households found so far), 'deeper' (one hop further) or
    'cold' (more of each stream).

    ``depth``: the warm query looked that many hops out; ``warm_left``: the most the score
    of a warm household it left out can be; ``cold_left``: the most the rest of the score
    (all but warmth) can be for a candidate the candidate query did not return
    (``w.max_rest`` before it ran).

    >>> w = Weights()
    >>> s = [_Scored(130.0, 10.0, None, "path"), _Scored(125.0, 5.0, None, "path")]
    >>> _next_fetch(s, 2, 1, -math.inf, w.max_rest, w)  # two hops can give at most 80 + 35.5
    >>> _next_fetch(s, 2, 1, 126.0, w.max_rest, w)
    'warm'
    >>> _next_fetch(s[:1], 2, 1, -math.inf, w.max_rest, w)
    'deeper'
    >>> _next_fetch(s[:1], 2, 3, -math.inf, w.max_rest, w)
    'cold'
    """
    last = scored[limit - 1].score if len(scored) >= limit else -math.inf
    if warm_left > -math.inf and warm_left >= last:
        return "warm"
    if depth < HOPS[-1]:
        further = max(w.hop_weight(h) for h in HOPS if h > depth)
        if further > 0:
            if any(s.path is None for s in scored[:limit]):
                return "deeper"  # a household in the list may be warmer than we know yet
            best_cold = max((s.rest for s in scored if s.path is None), default=-math.inf)
            if further + max(best_cold, cold_left) >= last:
                return "deeper"
    if cold_left > -math.inf and cold_left >= last:
        return "cold"
    return None


# --- the database ------------------------------------------------------------------------


def _warm_path(row: Sequence[Any]) -> WarmPath:
    return WarmPath(row[8], to_date(row[9]), tuple(PathStep(*p) for p in row[10]))


def suggest(
    db: Database,
    visitor: Any,
    today: dt.date,
    limit: int = 10,
    weights: Weights | None = None,
    now: dt.datetime | None = None,
) -> list[Suggestion]:
    """The visitor's best ``limit`` households to visit next (see the module docstring).

    Reads ``suggest_warm`` (one hop out first, the best few) and, only while a household
    it has not seen could still make the list, more of them, more hops (each time from
    the first), and the streams of ``suggest_candidates``.
    """
    w = weights or Weights()
    if getattr(access.role_of(visitor), "org_scoped", False):  # a partner (issue 16): what is shared with them
        from . import sharing

        return sharing.suggestions(db, visitor, today, limit, w, now)
    districts = list(getattr(visitor, "districts", None) or ())
    if limit <= 0 or not districts or access.in_duress(visitor):  # a duress session: nothing (graphsvc/duress.py)
        return []
    params = {
        "username": visitor.username,
        "districts": districts,
        "gender": getattr(visitor, "gender", None),
        "today": today,
        "overdue_before": today - dt.timedelta(days=w.follow_up_days),
        "newcomer_since": today - dt.timedelta(days=w.newcomer_days),
        "follow_up_days": w.follow_up_days,
        "now": now or dt.datetime.now(dt.UTC),
        "declined_since": (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=DECLINED_DAYS),
    }
    warm_params = {
        "hop_weights": [0.0, w.one_hop, w.two_hops, w.three_hops],
        "newcomer": w.newcomer,
        "waiting": w.waiting,
        "waiting_half_days": w.waiting_half_days,
        "deep_below": DEEP_BELOW,
        **params,
    }
    found: dict[str, Candidate] = {}
    warm: dict[str, WarmPath] = {}
    depth, m, k = 0, 3 * limit + 10, 0
    warm_left = cold_left = w.max_rest
    scored: list[_Scored] = []
    for _ in range(MAX_ROUNDS):
        need = "deeper" if depth == 0 else _next_fetch(scored, limit, depth, warm_left, cold_left, w)
        if need is None:
            break
        if need in ("warm", "deeper"):
            if need == "warm":
                m *= 4  # the same hops, more households
            else:
                depth += 1
            record = db.read("suggest_warm", hops=depth, m=m, **warm_params)[0]
            # every call looks at all hops up to its depth: its hops are each household's distance
            for row in record["rows"]:
                warm[row[0]] = _warm_path(row)
                found[row[0]] = Candidate.from_row(row)
            warm_left = -math.inf if record["bound"] is None else record["bound"] + w.personal + EPSILON
            depth = record["depth"]
        else:
            k = k * 4 if k else limit + 5
            streams = db.read("suggest_candidates", k=k, **params)[0]["streams"]
            for entry in streams:
                for rows in entry[1:]:
                    for row in rows:
                        if row[0] not in found:
                            found[row[0]] = Candidate.from_row(row)
            cold_left = cold_bound(streams, k, today, w)
        scored = _score_all(found.values(), warm, visitor, today, w)
    return [_suggestion(s, visitor, today, w) for s in scored[:limit]]


def refresh_visit_summary_in_tx(tx: neo4j.ManagedTransaction, db: Database, household_ids: Sequence[str]) -> int:
    """Recompute the stored visit summary of these households inside the caller's
    transaction (a visit report runs it with the visit it writes)."""
    rows = db.run_in_tx(tx, "visit_summary_refresh", ids=list(household_ids))
    return rows[0]["households"] if rows else 0


def refresh_visit_summary(db: Database, household_ids: Sequence[str] | None = None, batch: int = REFRESH_BATCH) -> int:
    """Recompute the stored visit summary of these households (None: all), ``batch`` per
    transaction; return how many households were refreshed. Idempotent; run it after an
    import (after the chain index) and whenever visits change outside a visit report."""
    ids = list(household_ids) if household_ids is not None else db.read("visit_summary_household_ids")[0]["ids"]
    done = 0
    for start in range(0, len(ids), batch):
        done += db.write_tx(refresh_visit_summary_in_tx, db, ids[start : start + batch], cls="batch")
    return done


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def suggested_since(db: Database, now: dt.datetime, days: int = SUGGESTED_DAYS) -> str:
    """Suggestions shown since then still count as "suggested to" the visitor.

    They are read from the audit log, so the audit journal is shipped first: a list the
    visitor was shown a moment ago must count. Call it before the transaction that reads
    the window."""
    from . import audit

    audit.flush(db)
    return audit.timestamp(now - dt.timedelta(days=days))
