"""The audit log: a valid chain, every kind of tampering named, serialised appends, filters.

Tampering is done the way an intruder with database access would: Cypher sent straight to
the server (db.driver.execute_query), never through graphsvc.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
from pathlib import Path

import pytest

from graphsvc import audit
from graphsvc.db import Queries, parse_cypher

ROOT = Path(__file__).resolve().parent.parent


# --- helpers -------------------------------------------------------------------------------


def cypher(db, text: str, **params):
    """Run raw Cypher (tests only: this is how tampering is simulated)."""
    records, _, _ = db.driver.execute_query(text, params, database_=db.database)
    return [r.data() for r in records]


def fill(db, n: int) -> None:
    """n events appended through record(), alternating actors and actions."""
    for i in range(1, n + 1):
        audit.append_now(
            db,
            actor=f"user{i % 3}",
            role="visitor",
            action="household.read",
            targets=[f"H{i:03d}"],
            ip="127.0.0.1",
            user_agent="pytest",
        )


def fill_fast(db, n: int) -> None:
    """n events sealed like append does, inserted in one transaction (fixture speed)."""
    now = dt.datetime.now(dt.UTC)
    insert(
        db,
        [
            dict(
                at=now + dt.timedelta(seconds=i),
                actor=f"user{i % 3}",
                role="visitor",
                action="household.read",
                targets=[f"H{i:03d}"],
                outcome="ok",
                ip="127.0.0.1",
                user_agent="pytest",
            )
            for i in range(1, n + 1)
        ],
    )


def props(db, seq: int) -> dict:
    return cypher(db, "MATCH (e:AuditEvent {seq: $seq}) RETURN properties(e) AS p", seq=seq)[0]["p"]


def head(db) -> dict | None:
    rows = cypher(db, "MATCH (h:AuditHead) RETURN h.seq AS seq, h.hash AS hash")
    assert len(rows) <= 1
    return rows[0] if rows else None


def event_count(db) -> int:
    return cypher(db, "MATCH (e:AuditEvent) RETURN count(e) AS n")[0]["n"]


def insert(db, events: list[dict]) -> list[dict]:
    """Insert ready-made events with chosen times (fixture path of the benchmark)."""
    rows = list(audit.chain_events(events))
    db.write("bench_audit_insert", rows=rows)
    db.write("bench_audit_set_head", seq=rows[-1]["seq"], hash=rows[-1]["hash"])
    return rows


# --- a valid chain -------------------------------------------------------------------------


def test_empty_log_verifies(db):
    result = audit.verify(db)
    assert result.ok and result.count == 0 and result.first_bad_seq is None and result.problem is None


def test_chain_is_valid_after_appends_and_follows_the_documented_hash(db):
    fill(db, 5)
    seq = audit.append_now(
        db,
        actor="-",
        action="login.failure",
        outcome="failure",
        ip="10.0.0.1",
        user_agent="curl/8",
        detail="unknown user",
    )
    assert seq == 6
    seq = audit.append_now(
        db,
        actor="admin1",
        role="admin",
        action="person.identity.read",
        targets=["P1", "P2"],
        reason="safety check 소망",
        ip="10.0.0.2",
        user_agent="firefox",
    )
    assert seq == 7
    result = audit.verify(db)
    assert result.ok, result.problem
    assert (result.count, result.head_seq) == (7, 7)

    # Recompute the chain independently, exactly as the module docstring defines it.
    prev = "0" * 64
    for seq in range(1, 8):
        event = props(db, seq)
        stored = event.pop("hash")
        assert event["prev"] == prev and event["seq"] == seq
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["at"])
        # format 2: the removable values and their salt sit beside their salted digests,
        # which the hash covers instead of them
        assert event["format"] == 2
        salt = event.pop("salt")
        assert re.fullmatch(r"[0-9a-f]{32}", salt)
        for name in ("ip", "user_agent", "detail"):
            if name in event:
                value = event.pop(name)
                assert event[f"{name}_digest"] == hashlib.sha256(f"{salt}\x1f{name}\x1f{value}".encode()).hexdigest()
            else:
                assert f"{name}_digest" not in event
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert stored == hashlib.sha256((prev + text).encode("utf-8")).hexdigest()
        prev = stored
    assert head(db) == {"seq": 7, "hash": prev}
    assert props(db, 7)["reason"] == "safety check 소망"
    assert "reason" not in props(db, 6) and props(db, 6)["targets"] == []


@pytest.mark.parametrize(
    "content",
    [
        {
            "seq": 1,
            "at": "2026-11-25T01:02:03.123456Z",
            "actor": "kim",
            "action": "household.read",
            "targets": ["H1", "H2"],
            "outcome": "ok",
            "prev": "0" * 64,
        },
        {
            "seq": 2**53 + 1,
            "actor": '들국화-2 "quoted" \\ back',
            "targets": [],
            "detail": "tab\there\nnew line",
            "reason": "emoji 🙂 and \u2028 and \x00 nul",
            "role": "",
            "ip": "::1",
        },
        {"z": 1, "a": [1, "x", None], "m": "ß"},
    ],
)
def test_canonical_form_is_exactly_the_documented_json(content):
    documented = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert audit.canonical(content) == documented
    assert audit.event_hash("ab" * 32, content) == hashlib.sha256(("ab" * 32 + documented).encode()).hexdigest()


def test_malformed_events_are_refused_and_write_nothing(db):
    fill(db, 1)
    bad = [
        dict(actor="a", action="Household Read"),
        dict(actor="a", action="household.read", outcome="maybe"),
        dict(actor="", action="household.read"),
        dict(actor="a", action="household.read", targets="H1"),
        dict(actor="a", action="household.read", targets=[1]),
        dict(actor="a", action="person.identity.read", reason="x" * 2000),
    ]
    for event in bad:
        with pytest.raises(ValueError):
            audit.append_now(db, **event)
    with pytest.raises(TypeError):
        audit.append_now(db, actor="a", action="household.read", legal_name="홍길동")
    assert event_count(db) == 1 and head(db)["seq"] == 1
    # Values a client controls are cut, not refused (an odd header must not break the audit).
    seq = audit.append_now(db, actor="x" * 500, action="login.failure", outcome="failure", user_agent="u" * 5000)
    assert len(props(db, seq)["user_agent"]) == audit.MAX_USER_AGENT
    assert audit.verify(db).ok


# --- tampering -----------------------------------------------------------------------------

N = 20


def swap_contents(db, a: int, b: int) -> None:
    """Exchange everything but the seq of two events (the seq is unique at every step)."""
    pa, pb = props(db, a), props(db, b)
    pa["seq"], pb["seq"] = b, a
    cypher(
        db,
        """MATCH (x:AuditEvent {seq: $a}), (y:AuditEvent {seq: $b})
                  SET x = $pb, y = $pa""",
        a=a,
        b=b,
        pa=pa,
        pb=pb,
    )


def edit_and_rehash(db, seq: int) -> None:
    event = props(db, seq)
    event["actor"] = "nobody"
    event["hash"] = audit.event_hash(event["prev"], event)
    cypher(db, "MATCH (e:AuditEvent {seq: $seq}) SET e += $p", seq=seq, p=event)


TAMPERING = {
    "edit a field": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 7}) SET e.actor = 'nobody'"),
        7,
        "event 7 was edited (its hash does not match its content)",
    ),
    "edit the targets": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 12}) SET e.targets = []"),
        12,
        "event 12 was edited",
    ),
    "add a field": (lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 3}) SET e.note = 'x'"), 3, "event 3 was edited"),
    "remove an optional field": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 4}) REMOVE e.ip"),
        4,
        "event 4 was edited",
    ),
    "edit a field and recompute that event's hash": (
        lambda db: edit_and_rehash(db, 7),
        7,
        "event 7 was edited (its hash was recomputed",
    ),
    "edit the newest event and recompute its hash": (
        lambda db: edit_and_rehash(db, N),
        N,
        f"event {N} was edited (its hash does not match the head's)",
    ),
    "delete a middle event": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 9}) DETACH DELETE e"),
        9,
        "event 9 is missing (sequence jumps from 8 to 10)",
    ),
    "delete three middle events": (
        lambda db: cypher(db, "MATCH (e:AuditEvent) WHERE 9 <= e.seq <= 11 DETACH DELETE e"),
        9,
        "events 9 to 11 are missing (sequence jumps from 8 to 12)",
    ),
    "delete the first event": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 1}) DETACH DELETE e"),
        1,
        "event 1 is missing (the log starts at event 2)",
    ),
    "delete the newest event": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: $n}) DETACH DELETE e", n=N),
        N,
        f"the newest event(s) after {N - 1} were deleted (the head says {N})",
    ),
    "delete the two newest events": (
        lambda db: cypher(db, "MATCH (e:AuditEvent) WHERE e.seq >= $n - 1 DETACH DELETE e", n=N),
        N - 1,
        f"the newest event(s) after {N - 2} were deleted (the head says {N})",
    ),
    "delete every event": (
        lambda db: cypher(db, "MATCH (e:AuditEvent) DETACH DELETE e"),
        1,
        f"the newest event(s) after 0 were deleted (the head says {N})",
    ),
    "swap the contents of two neighbours": (
        lambda db: swap_contents(db, 5, 6),
        5,
        "events out of order at 5 (its prev does not match event 4's hash)",
    ),
    "swap the contents of two distant events": (
        lambda db: swap_contents(db, 8, 15),
        8,
        "events out of order at 8 (its prev does not match event 7's hash)",
    ),
    "swap the seqs of two events": (
        lambda db: cypher(
            db,
            """MATCH (x:AuditEvent {seq: 10}), (y:AuditEvent {seq: 11})
                                 SET x.seq = -1 SET y.seq = 10 SET x.seq = 11""",
        ),
        10,
        "events out of order at 10",
    ),
    "delete an event and renumber the rest down": (
        lambda db: cypher(
            db,
            """MATCH (e:AuditEvent {seq: 10}) DETACH DELETE e WITH count(*) AS done
                                 MATCH (e:AuditEvent) WHERE e.seq > 10
                                 WITH e ORDER BY e.seq SET e.seq = e.seq - 1""",
        ),
        10,
        "events out of order at 10 (its prev does not match event 9's hash)",
    ),
    "renumber events up": (
        lambda db: cypher(
            db,
            """MATCH (e:AuditEvent) WHERE e.seq >= 14
                                 WITH e ORDER BY e.seq DESC SET e.seq = e.seq + 1""",
        ),
        14,
        "event 14 is missing (sequence jumps from 13 to 15)",
    ),
    "renumber one event to a string": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 6}) SET e.seq = '6'"),
        6,
        "event 6 is missing (sequence jumps from 5 to 7)",
    ),
    "renumber one event to a float": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 6}) SET e.seq = 6.0"),
        6,
        "event 6 was renumbered or edited",
    ),
    "rewrite a prev": (
        lambda db: cypher(db, "MATCH (e:AuditEvent {seq: 16}) SET e.prev = $z", z="1" * 64),
        16,
        "events out of order at 16",
    ),
    "delete the head": (lambda db: cypher(db, "MATCH (h:AuditHead) DELETE h"), None, "the head is missing"),
    "move the head back": (
        lambda db: cypher(db, "MATCH (h:AuditHead) SET h.seq = h.seq - 1"),
        N,
        f"event {N} is not covered by the head",
    ),
    "move the head far ahead": (
        lambda db: cypher(db, "MATCH (h:AuditHead) SET h.seq = 1000000000000"),
        N + 1,
        f"the newest event(s) after {N} were deleted (the head says 1000000000000)",
    ),
    "add a forged event without a seq": (
        lambda db: cypher(db, "CREATE (:AuditEvent {actor: 'x', action: 'household.read'})"),
        None,
        "1 audit event node(s) are outside the sequence",
    ),
    "two edits: the first is named": (
        lambda db: cypher(db, "MATCH (e:AuditEvent) WHERE e.seq IN [15, 4] SET e.outcome = 'denied'"),
        4,
        "event 4 was edited",
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_found_and_the_first_bad_event_named(db, kind):
    tamper, bad_seq, problem = TAMPERING[kind]
    fill_fast(db, N)
    assert audit.verify(db).ok
    tamper(db)
    result = audit.verify(db)
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result.problem
    assert result.problem.startswith(problem), result.problem


def test_verify_notes_the_hashes_of_the_events_asked_for_that_it_passed_intact(db):
    fill_fast(db, 12)
    rows = {e["seq"]: e["hash"] for e in cypher(db, "MATCH (e:AuditEvent) RETURN e.seq AS seq, e.hash AS hash")}
    result = audit.verify(db, page=5, seqs=[3, 7, 12, 40])
    assert result.ok and {s: result.hashes[s] for s in (3, 7, 12)} == {s: rows[s] for s in (3, 7, 12)}
    assert 40 not in result.hashes  # there is no such event
    cypher(db, "MATCH (e:AuditEvent {seq: 9}) SET e.detail = 'x'")
    broken = audit.verify(db, page=5, seqs=[3, 7, 9, 12])
    assert not broken.ok and broken.first_bad_seq == 9
    assert set(broken.hashes) == {3, 7}  # only what the walk passed through before the damage


def test_verify_reads_in_pages_across_page_boundaries(db):
    fill_fast(db, 23)
    assert audit.verify(db, page=5).ok and audit.verify(db, page=5).count == 23
    fill(db, 2)  # appended through record(): they continue the inserted chain
    assert audit.verify(db, page=5).count == 25
    cypher(db, "MATCH (e:AuditEvent {seq: 11}) SET e.detail = 'x'")
    result = audit.verify(db, page=5)
    assert (result.ok, result.first_bad_seq, result.count) == (False, 11, 11)
    cypher(db, "MATCH (e:AuditEvent) WHERE 6 <= e.seq <= 10 DETACH DELETE e")  # one whole page
    result = audit.verify(db, page=5)
    assert (result.first_bad_seq, result.problem) == (6, "events 6 to 10 are missing (sequence jumps from 5 to 11)")


def test_a_broken_log_fails_closed_on_append(db):
    fill(db, 3)
    cypher(db, "MATCH (h:AuditHead) DELETE h")
    with pytest.raises(audit.AuditError, match="head is missing or behind"):
        audit.append_now(db, actor="a", action="household.read")
    assert event_count(db) == 3


# --- transactions and concurrency ----------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize("before", [0, 3])
def test_append_in_a_failing_transaction_leaves_no_trace(db, before):
    fill(db, before)
    state = (event_count(db), head(db))

    def work(tx):
        seq = audit.append_in_tx(tx, db, actor="admin1", role="admin", action="user.create", targets=["kim"])
        assert seq == before + 1
        raise Boom()

    with pytest.raises(Boom):
        db.write_tx(work)
    assert (event_count(db), head(db)) == state
    assert audit.verify(db).ok


def test_append_in_a_transaction_commits_with_it(db):
    fill(db, 2)

    def work(tx):
        first = audit.append_in_tx(tx, db, actor="admin1", action="user.create", targets=["kim"])
        second = audit.append_in_tx(tx, db, actor="admin1", action="user.enable", targets=["kim"])
        return first, second

    assert db.write_tx(work) == (3, 4)
    assert head(db)["seq"] == 4 and audit.verify(db).ok


THREADS, PER_THREAD = 10, 8


def _hammer(db, n: int, barrier: threading.Barrier, seqs: list, errors: list, name: str) -> None:
    try:
        barrier.wait()
        for i in range(n):
            seqs.append(audit.append_now(db, actor=name, action="household.read", targets=[f"{name}-{i}"]))
    except Exception as exc:  # reported by the test
        errors.append(exc)


@pytest.mark.parametrize("prefilled", [0, 5], ids=["empty log", "existing log"])
def test_concurrent_appends_give_a_gapless_valid_chain(db, prefilled):
    fill(db, prefilled)
    barrier = threading.Barrier(THREADS)
    seqs: list[int] = []
    errors: list[Exception] = []
    threads = [
        threading.Thread(target=_hammer, args=(db, PER_THREAD, barrier, seqs, errors, f"t{k}")) for k in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = prefilled + THREADS * PER_THREAD
    assert sorted(seqs) == list(range(prefilled + 1, total + 1))
    result = audit.verify(db)
    assert result.ok, result.problem
    assert result.count == total and head(db)["seq"] == total
    # Each thread's events appear in its own order.
    for k in range(THREADS):
        mine = audit.query(db, actor=f"t{k}", limit=100)
        assert [e["targets"][0] for e in reversed(mine)] == [f"t{k}-{i}" for i in range(PER_THREAD)]


def test_verify_while_events_are_appended(db):
    fill(db, 30)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            audit.append_now(db, actor="w", action="household.read")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [audit.verify(db, page=7) for _ in range(4)]
    finally:
        stop.set()
        thread.join()
    assert all(r.ok for r in results), [r.problem for r in results]
    assert audit.verify(db).ok


def test_verify_reads_events_committed_after_the_page_beyond_the_head_was_read(db, monkeypatch):
    # The last range verify reads reaches past the head it read first; events committed just
    # after that range was read must be read by the keyset paging that follows, not skipped
    # ("event 11 is missing").
    fill_fast(db, 10)
    real = audit._Pages._fetch
    appended = []

    def fetch(self, after, before):
        events = real(self, after, before)
        if before > 11 and not appended:
            appended.append(True)
            fill(db, 6)  # events 11 … 16, after the range (7, 15) was read
        return events

    monkeypatch.setattr(audit._Pages, "_fetch", fetch)
    result = audit.verify(db, page=7)
    assert appended and result.ok, result.problem
    assert result.count == 16


# --- query and export ----------------------------------------------------------------------


def day(d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, d, h, 0, tzinfo=dt.UTC)


EVENTS = [
    dict(at=day(1, 9), actor="kim", role="visitor", action="household.read", targets=["H1"], outcome="ok"),
    dict(at=day(1, 23), actor="lee", role="coordinator", action="household.list", targets=["H1", "H2"], outcome="ok"),
    dict(at=day(2, 0), actor="kim", role="visitor", action="person.read", targets=["P7"], outcome="denied"),
    dict(at=day(2, 8), actor="-", role=None, action="login.failure", targets=[], outcome="failure"),
    dict(
        at=day(3, 10),
        actor="admin1",
        role="admin",
        action="person.identity.read",
        targets=["P7", "H2"],
        outcome="ok",
        reason="court request",
    ),
    dict(at=day(4, 10), actor="kim", role="visitor", action="household.read", targets=["H2"], outcome="ok"),
    dict(at=day(5, 10), actor="lee", role="coordinator", action="householder.read", targets=["H9"], outcome="error"),
]


def seqs(rows) -> list[int]:
    return [r["seq"] for r in rows]


def test_query_filters_and_newest_first(db):
    insert(db, EVENTS)
    assert audit.verify(db).ok
    assert seqs(audit.query(db)) == [7, 6, 5, 4, 3, 2, 1]
    assert seqs(audit.query(db, actor="kim")) == [6, 3, 1]
    assert seqs(audit.query(db, target="H2")) == [6, 5, 2]
    assert seqs(audit.query(db, target="H")) == []
    assert seqs(audit.query(db, action="household.")) == [6, 2, 1]  # prefix: not householder.read
    assert seqs(audit.query(db, action="household.read")) == [6, 1]
    assert seqs(audit.query(db, action="household")) == []  # no dot: exact
    assert seqs(audit.query(db, outcome="denied")) == [3]
    assert seqs(audit.query(db, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 3))) == [5, 4, 3]
    assert seqs(audit.query(db, since=day(1, 23), until=day(2, 8))) == [3, 2]  # until exclusive
    assert seqs(audit.query(db, since="2026-03-04")) == [7, 6]
    assert seqs(audit.query(db, until="2026-03-01")) == [2, 1]
    naive = dt.datetime(2026, 3, 2, 0, 0)  # taken as UTC
    seoul = dt.timezone(dt.timedelta(hours=9))
    assert seqs(audit.query(db, since=naive, until=dt.datetime(2026, 3, 2, 10, 0, tzinfo=seoul))) == [3]
    assert seqs(
        audit.query(
            db,
            actor="kim",
            target="H1",
            action="household.",
            outcome="ok",
            since=dt.date(2026, 3, 1),
            until=dt.date(2026, 3, 1),
        )
    ) == [1]
    assert seqs(audit.query(db, actor="kim", outcome="ok", since=dt.date(2026, 3, 2))) == [6]
    assert seqs(audit.query(db, limit=2)) == [7, 6]
    assert seqs(audit.query(db, limit=2, before_seq=6)) == [5, 4]
    assert seqs(audit.query(db, actor="lee", before_seq=7)) == [2]
    row = audit.query(db, action="person.identity.read")[0]
    assert set(row) == set(audit.FIELDS)
    assert row["reason"] == "court request" and row["targets"] == ["P7", "H2"] and row["ip"] is None
    assert row["at"] == "2026-03-03T10:00:00.000000Z"


def test_query_refuses_bad_arguments(db):
    with pytest.raises(ValueError):
        audit.query(db, limit=0)
    with pytest.raises(ValueError):
        audit.query(db, since="yesterday")


def test_export_rows_oldest_first_with_filters(db):
    insert(db, EVENTS)
    assert seqs(audit.export_rows(db)) == [1, 2, 3, 4, 5, 6, 7]
    assert seqs(audit.export_rows(db, actor="kim", since=dt.date(2026, 3, 2))) == [3, 6]
    assert seqs(audit.export_rows(db, target="P7")) == [3, 5]
    rows = list(audit.export_rows(db, action="login."))
    assert seqs(rows) == [4] and list(rows[0]) == list(audit.FIELDS)


# --- no code path updates or deletes events -------------------------------------------------

_CLAUSE_END = re.compile(
    r"\b(WITH|RETURN|MATCH|OPTIONAL|MERGE|CREATE|DELETE|DETACH|REMOVE|SET|UNWIND|CALL|FOREACH|WHERE|"
    r"ORDER|LIMIT|SKIP|UNION|ON|YIELD|FINISH)\b|[;})|]",
    re.I,
)


def _clauses(text: str, keyword: str) -> list[str]:
    """The item lists of every ``keyword`` clause (SET, REMOVE) in a statement."""
    out = []
    for match in re.finditer(rf"\b{keyword}\b", text, re.I):
        rest = text[match.end() :]
        end = _CLAUSE_END.search(rest)
        out.append(rest[: end.start()] if end else rest)
    return out


def audit_event_writes(statement: str) -> list[str]:
    """Why a statement may update or delete AuditEvent nodes (empty: it does not).

    Heuristic on the text: the variables bound to ``:AuditEvent`` (and their ``AS`` aliases)
    must not appear in SET or REMOVE items, no statement that binds one may DELETE anything,
    and no SET may add the label to another node.
    """
    text = re.sub(r"//[^\n]*", "", statement)
    names = set(re.findall(r"\(\s*(\w+)\s*(?::\s*`?\w+`?\s*)*:\s*`?AuditEvent\b", text))
    for name in list(names):
        names |= set(re.findall(rf"\b{name}\s+AS\s+(\w+)", text, re.I))
    problems = []
    if names and re.search(r"\bDELETE\b", text, re.I):
        problems.append(f"deletes while matching AuditEvent ({', '.join(sorted(names))})")
    for keyword in ("SET", "REMOVE"):
        for items in _clauses(text, keyword):
            if re.search(r":\s*`?AuditEvent\b", items):
                problems.append(f"{keyword} gives a node the AuditEvent label")
            for name in names:
                if re.search(rf"(^|,)\s*{name}\s*(\.|=|\+=|:)", items):
                    problems.append(f"{keyword} on AuditEvent variable {name}: {items.strip()}")
    return problems


@pytest.mark.parametrize(
    "statement,bad",
    [
        ("MATCH (e:AuditEvent {seq: 1}) SET e.actor = 'x'", True),
        ("MATCH (e:AuditEvent) WHERE e.seq = 1 SET e += $p", True),
        ("MATCH (ev:AuditEvent) SET ev = {}", True),
        ("MATCH (h:AuditHead), (x:AuditEvent) SET h.seq = 1, x.hash = ''", True),
        ("MATCH (e:AuditEvent) REMOVE e.reason", True),
        ("MATCH (e:AuditEvent) REMOVE e:AuditEvent", True),
        ("MATCH (e:AuditEvent) DETACH DELETE e", True),
        ("MATCH (e:AuditEvent) WITH e AS old SET old.actor = 'x'", True),
        ("MATCH (n:Household) SET n:AuditEvent", True),
        ("MATCH (e:AuditEvent) WHERE e.seq = $s RETURN e.hash", False),
        ("MATCH (h:AuditHead {id: 'head'}) CREATE (e:AuditEvent $event) SET h.seq = $event.seq RETURN e.seq", False),
        ("MATCH (h:Household {id: $id}) SET h.status = 'x'", False),
    ],
)
def test_the_scan_recognises_writes_to_events(statement, bad):
    assert bool(audit_event_writes(statement)) is bad


# The one statement allowed to change an event: retention's removal of a format-2 event's
# removable values and salt (graphsvc/audit.py "Removable details"; tests/test_retention.py
# checks that it removes exactly those).
RETENTION_REMOVAL = ("retention.cypher", "audit_retain_details")


def test_no_statement_updates_or_deletes_audit_events():
    offenders = []
    allowed = []
    # every file but tests/cypher/testing.cypher, the only one allowed to delete events
    for path in [
        *sorted((ROOT / "graphsvc" / "cypher").glob("*.cypher")),
        *sorted((ROOT / "bench" / "cypher").glob("*.cypher")),
    ]:
        for name, statement in parse_cypher(path.read_text(encoding="utf-8"), path.name).items():
            why = audit_event_writes(statement)
            if (path.name, name) == RETENTION_REMOVAL:
                allowed += why
                continue
            offenders += [f"{path.name}: {name}: {w}" for w in why]
    assert not offenders
    assert allowed == ["REMOVE on AuditEvent variable e: e.ip, e.user_agent, e.detail, e.salt"]


def test_only_the_append_creates_events_and_bench_statements_stay_out_of_the_app():
    creating = []
    queries = Queries(ROOT / "graphsvc" / "cypher", ROOT / "bench" / "cypher")
    for file, statements in queries.by_file.items():
        for name, statement in statements.items():
            creates = re.search(r"\b(CREATE|MERGE)\s*\(\s*\w*\s*(:\s*\w+\s*)*:\s*AuditEvent\b", statement)
            if creates and file != "testing":
                creating.append(name)
    assert sorted(creating) == ["audit_append_after", "audit_append_batch", "audit_append_event", "bench_audit_insert"]
    for path in list((ROOT / "graphsvc").rglob("*.py")) + list((ROOT / "web").rglob("*.py")):
        assert "bench_audit_" not in path.read_text(encoding="utf-8"), path
