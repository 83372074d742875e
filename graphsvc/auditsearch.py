"""Questions the audit answers: search by code, "who saw X", "what did user Y see".

The audit log (graphsvc/audit.py) names records by id (``h-000363``, ``p-…``); an admin knows
them by household code (``H-363``) and person code name. This module turns what an admin
types into ids (``resolve``), finds pages of events through the index that fits the filters
(``search``: keyset paging on ``seq``, never SKIP), and folds events into answers:
``who_saw`` (one row per account) and ``user_view`` (what one account was shown).

Indexes (cypher/schema.cypher): a target is a member of the list property ``targets``,
which a range or text index cannot index; the full-text index ``audit_event_targets``
(keyword analyser: each id one exact term) can. It is eventually consistent (a transactional
one cost every append ~50 ms at a million events): the searches add the newest TAIL events
by a scan of the seq index. Events are never changed, their hashes stay as they are. One account's
or one action's events are read through the composite indexes (actor, seq) and (action,
seq) in index order. A time range is turned into a seq range through the ``at`` index
(widened: a journal's late lines carry earlier times, graphsvc/journal.py) and filtered on
``at`` exactly.

    >>> lucene(["h-000363", 'p-"x'])
    '"h-000363" OR "p-\\\\"x"'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neo4j.exceptions import ClientError

from . import audit

if TYPE_CHECKING:
    from .db import Database

PAGE = 50
MAX_PAGE = 1000
MAX_LABELS = 5000  # ids labelled with codes at once (beyond: shown as ids)
ROW_RECORDS = 30  # records a page lists in a row's <details> (all of them: the event's own page)
USER_RECORDS = 1000  # records listed on "what did user Y see" (the total is counted)
USER_SENSITIVE = 200  # identity reads and contact reveals listed there
USER_DAYS = 30  # the default range of "what did user Y see"
TAIL = 2_000  # the newest events searched by a scan beside the (eventually consistent) index
SEQ_MARGIN = 10_000  # how far a seq range found through times is widened on each side
_NO_SEQ = 2**62

#: Actions that show a person's identity (an admin's reveal with a stated reason) and the
#: field-work contact reveal (address and phone while a household is claimed).
IDENTITY_ACTIONS = ("household.identity.read",)
CONTACT_ACTIONS = ("household.contact.read",)
SENSITIVE_ACTIONS = IDENTITY_ACTIONS + CONTACT_ACTIONS


class UnknownTarget(ValueError):
    """No household or person has that code, code name or id, and no event names it."""

    def __init__(self, text: str):
        super().__init__(f"no household or person with the code {text!r}")
        self.text = text


class AmbiguousTarget(ValueError):
    """A code name shared by several people: the caller offers the choice."""

    def __init__(self, text: str, candidates: list[dict[str, Any]]):
        super().__init__(f"{len(candidates)} people have the code name {text!r}")
        self.text = text
        self.candidates = candidates  # [{id, code_name, household_id, household_code}]


@dataclass(frozen=True)
class Target:
    """What a typed target stands for: ``kind`` household, person or id (an id that only the
    log still names), its ``id``, the admin's ``label`` (code or code name), and ``ids``,
    the ids whose events answer "who saw it" (a household's: its own and its members')."""

    kind: str
    id: str
    label: str
    ids: tuple[str, ...]
    household: dict[str, Any] | None = None


@dataclass
class Page:
    """Events newest first; ``older``: before_seq of the next older page (None: no more);
    ``newer``: after_seq of the next newer page (None: this is the newest)."""

    events: list[dict[str, Any]]
    older: int | None
    newer: int | None
    labels: dict[str, str] = field(default_factory=dict)


def _by_ids(db: Database, ids: Iterable[str]) -> dict[str, Any]:
    """The parameters of a search for events naming any of ``ids``: the full-text query, and
    the ids and the seq above which the newest events are scanned (the index is updated just
    after each commit: an event appended a moment ago may not be in it yet)."""
    ids = list(ids)
    head = db.read("audit_head")
    return {"lucene": lucene(ids), "ids": ids, "tail": max(0, (head[0]["seq"] if head else 0) - TAIL)}


def lucene(ids: Iterable[str]) -> str:
    """A full-text query for events naming any of ``ids`` (each an exact, quoted term)."""
    terms = []
    for i in ids:
        escaped = i.replace("\\", "\\\\").replace('"', '\\"')
        terms.append(f'"{escaped}"')
    if not terms:
        raise ValueError("auditsearch: no ids to search for")
    return " OR ".join(terms)


def resolve(db: Database, text: str) -> Target:
    """The record ``text`` names: a household id or code, a person id or code name, or else an
    id that events still name (an erased or deleted record, a username, a visit). Raises
    AmbiguousTarget for a code name of several people, UnknownTarget when nothing matches."""
    text = text.strip()
    if not audit.is_target(text):
        raise UnknownTarget(text[:40])
    found = db.read("auditsearch_household", text=text, code=text.upper())
    if found:
        h = found[0]
        members = db.read("auditsearch_members", id=h["id"])
        return Target("household", h["id"], h["code"] or h["id"], (h["id"], *(m["id"] for m in members)), h)
    people = db.read("auditsearch_person", text=text)
    exact = [p for p in people if p["id"] == text]
    if exact:
        people = exact
    if len(people) > 1:
        raise AmbiguousTarget(text, people)
    if people:
        p = people[0]
        return Target("person", p["id"], p["code_name"] or p["id"], (p["id"],))
    if _named(db, [text]):
        return Target("id", text, text, (text,))
    raise UnknownTarget(text)


def _named(db: Database, ids: list[str]) -> bool:
    audit._flush_for_reading(db)
    try:
        return bool(db.read("auditsearch_target_exists", **_by_ids(db, ids))[0]["n"])
    except ClientError:  # the index is still being built (a first start on a large log)
        return bool(audit.query(db, target=ids[0], limit=1))


def search(
    db: Database,
    actor: str | None = None,
    target: str | Target | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.date | dt.datetime | str | None = None,
    until: dt.date | dt.datetime | str | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = PAGE,
) -> Page:
    """One page of events, newest first, all given filters combined with AND (as
    audit.query: ``action`` exact or a prefix ending in a dot; ``since`` inclusive, ``until``
    exclusive, a date its whole day). ``target``: a Target, or text that ``resolve`` turns
    into one (household code, code name, id; it may raise). Paging: ``before_seq`` gives the
    page older than it, ``after_seq`` the page newer than it; both: the newest events between."""
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"auditsearch: limit must be a whole number from 1 to {MAX_PAGE}")
    for name, value in (("before_seq", before_seq), ("after_seq", after_seq)):
        if value is not None and type(value) is not int:
            raise ValueError(f"auditsearch: {name} must be a whole number")
    if isinstance(target, str):
        target = resolve(db, target)
    params = audit._filters(actor, None, action, outcome, since, until)
    audit._flush_for_reading(db)
    newer_first = after_seq is None or before_seq is not None  # both: the events between, newest first
    params.update(
        before_seq=_NO_SEQ if before_seq is None else before_seq,
        after_seq=0 if after_seq is None else after_seq,
        limit=limit + 1,
    )
    direction = "desc" if newer_first else "asc"
    if params["since"] is not None or params["until"] is not None:
        _narrow(db, params)
    if params["after_seq"] + 1 >= params["before_seq"]:
        rows = []  # nothing in that time
    elif target is not None:
        rows = _by_target(db, target, direction, params)
    elif actor is not None:
        rows = db.read(f"auditsearch_actor_{direction}", **params)
    elif params["action"] is not None:
        rows = db.read(f"auditsearch_action_{direction}", **params)
    else:
        rows = db.read(f"auditsearch_seq_{direction}", **params)
    events = [audit._row(r["event"]) for r in rows]
    more = len(events) > limit
    events = events[:limit]
    if not newer_first:
        events.reverse()
    if not events:  # past either end: the way back
        return Page([], None if after_seq is None else after_seq + 1, None if before_seq is None else before_seq - 1)
    if newer_first:
        older = events[-1]["seq"] if more else None
        newer = events[0]["seq"] if before_seq is not None else None
    else:
        older = events[-1]["seq"]
        newer = events[0]["seq"] if more else None
    return Page(events, older, newer)


def _by_target(db: Database, target: Target, direction: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        return db.read(f"auditsearch_target_{direction}", **_by_ids(db, [target.id]), **params)
    except ClientError:  # the full-text index is still being built: the old scan
        rows = audit.query(
            db,
            **{k: params[k] for k in ("actor", "outcome")},
            action=params["action"] or params["action_prefix"],
            target=target.id,
            since=params["since"],
            until=params["until"],
            limit=params["limit"],
            before_seq=params["before_seq"],
        )
        rows = [r for r in rows if r["seq"] > params["after_seq"]]
        return [{"event": r} for r in (rows if direction == "desc" else rows[::-1])]


def _narrow(db: Database, params: dict[str, Any]) -> None:
    """Narrow the seq range to the events of the time range (widened by SEQ_MARGIN)."""
    row = db.read(
        "auditsearch_seq_range",
        since=params["since"] or "",
        until=params["until"] or "9999",
    )[0]
    low, high = row["low"], row["high"]
    if low is None or high is None:
        params["before_seq"] = params["after_seq"]  # nothing in that time
        return
    params["after_seq"] = max(params["after_seq"], low - SEQ_MARGIN - 1)
    params["before_seq"] = min(params["before_seq"], high + SEQ_MARGIN + 1)


def labels(db: Database, ids: Iterable[str]) -> dict[str, str]:
    """Household codes and person code names of the ids that are records (the first
    MAX_LABELS distinct ids; the rest, and ids of no record, are left out)."""
    wanted = list(dict.fromkeys(ids))[:MAX_LABELS]
    if not wanted:
        return {}
    return {r["id"]: r["label"] for r in db.read("auditsearch_labels", ids=wanted) if r["label"] is not None}


def page_labels(db: Database, page: Page) -> Page:
    """Codes for the records a page lists: the first ROW_RECORDS of each row."""
    page.labels = labels(db, (t for e in page.events for t in (e["targets"] or ())[:ROW_RECORDS]))
    return page


def event(db: Database, seq: int) -> dict[str, Any] | None:
    """One event (a dict of audit.FIELDS) with ``labels`` for its records, or None."""
    audit._flush_for_reading(db)
    rows = db.read("auditsearch_event", seq=seq)
    if not rows:
        return None
    found = audit._row(rows[0]["event"])
    found["labels"] = labels(db, found["targets"] or ())
    return found


def who_saw(db: Database, target: Target) -> list[dict[str, Any]]:
    """One row per account that was shown ``target`` (events with outcome ok naming its ids):
    ``actor``, ``role``, ``count``, ``first``/``last`` (times) and ``first_seq``/``last_seq``,
    ``actions`` ({action: count}), ``api`` (how many through a token), ``identity`` and
    ``contact`` (how many identity reads / contact reveals), ``reasons`` (the stated ones);
    the most recent first."""
    audit._flush_for_reading(db)
    rows = db.read("auditsearch_who_saw", **_by_ids(db, target.ids))
    people: dict[str, dict[str, Any]] = {}
    for r in rows:
        p = people.setdefault(
            r["actor"],
            {
                "actor": r["actor"],
                "role": r["role"],
                "count": 0,
                "first": r["first"],
                "last": r["last"],
                "first_seq": r["first_seq"],
                "last_seq": r["last_seq"],
                "actions": {},
                "api": 0,
                "identity": 0,
                "contact": 0,
                "reasons": [],
            },
        )
        p["count"] += r["count"]
        p["role"] = p["role"] or r["role"]
        p["first"], p["first_seq"] = min((p["first"], p["first_seq"]), (r["first"], r["first_seq"]))
        p["last"], p["last_seq"] = max((p["last"], p["last_seq"]), (r["last"], r["last_seq"]))
        p["actions"][r["action"]] = p["actions"].get(r["action"], 0) + r["count"]
        if r["api"]:
            p["api"] += r["count"]
        if r["action"] in IDENTITY_ACTIONS:
            p["identity"] += r["count"]
        if r["action"] in CONTACT_ACTIONS:
            p["contact"] += r["count"]
        p["reasons"] = sorted(set(p["reasons"]) | set(r["reasons"]))
    out = sorted(people.values(), key=lambda p: p["last_seq"], reverse=True)
    for p in out:
        p["actions"] = dict(sorted(p["actions"].items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def user_view(
    db: Database,
    username: str,
    since: dt.date | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """What ``username`` was shown from ``since`` to ``until`` (dates, both inclusive; by
    default the last USER_DAYS days): ``records`` (each id with its ``label``, ``kind``,
    ``count``, ``first``, ``last``, ``identity``, ``contact``; identity and contact first, then
    the most recent, at most USER_RECORDS) and ``total_records``; ``days`` (per day: events,
    refused, distinct records shown); ``sensitive`` (identity reads and contact reveals with
    their reasons, newest first); ``events`` (how many)."""
    today = today or dt.datetime.now(dt.UTC).date()
    until = until or today
    since = since or until - dt.timedelta(days=USER_DAYS - 1)
    if since > until:
        raise ValueError("auditsearch: since is after until")
    bounds: dict[str, Any] = {"since": audit._bound(since, end=False), "until": audit._bound(until, end=True)}
    audit._flush_for_reading(db)
    bounds.update(after_seq=0, before_seq=_NO_SEQ)
    _narrow(db, bounds)
    bounds["until"] = bounds["until"] or "9999"
    days = db.read("auditsearch_user_days", actor=username, **bounds)
    rec: Any = db.read(
        "auditsearch_user_records",
        actor=username,
        identity_actions=list(IDENTITY_ACTIONS),
        contact_actions=list(CONTACT_ACTIONS),
        limit=USER_RECORDS,
        **bounds,
    ) or [{"total": 0, "rows": []}]
    rec = rec[0]
    sensitive = db.read(
        "auditsearch_user_identity",
        actor=username,
        sensitive_actions=list(SENSITIVE_ACTIONS),
        limit=USER_SENSITIVE,
        **bounds,
    )
    records = rec["rows"]
    named = {r["id"]: r for r in db.read("auditsearch_labels", ids=[r["id"] for r in records])}
    for r in records:
        r["label"] = named.get(r["id"], {}).get("label")
        r["kind"] = named.get(r["id"], {}).get("kind")
    return {
        "actor": username,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "days": days,
        "events": sum(d["events"] for d in days),
        "records": records,
        "total_records": rec["total"],
        "sensitive": sensitive,
    }
