"""The audit journal (graphsvc/journal.py): durable before the answer, shipped into the chain
exactly once, in order, from threads and processes at once; damaged lines kept on record;
its lines chained with a MAC, so that a line edited, deleted, reordered, inserted or replayed
before it ships is named in the chain."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from graphsvc import audit, journal
from graphsvc.db import Database

from . import conftest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_other_shipper():
    """These tests ship the journal themselves: a shipper thread left by an earlier test's
    web app (one per journal and process; it ships every second) would race them."""
    journal.stop_shippers()


def chain(db):
    return list(reversed(audit.query(db, limit=100_000)))


def log(db, n: int, actor: str = "coord", action: str = "household.read") -> None:
    for i in range(n):
        audit.to_journal(db, actor=actor, role="coordinator", action=action, targets=[f"h-{i}"], ip="127.0.0.1")


def without_journal(db) -> Database:
    """The same database, read without flushing the journal first."""
    return db.without_journal()


def lines(db) -> list[dict]:
    """The journal's events (not its anchor line)."""
    path = db.journal.path
    parsed = [json.loads(x) for x in path.read_bytes().splitlines() if x.strip()] if path.exists() else []
    return [x for x in parsed if "anchor" not in x]


def test_an_event_is_in_the_journal_before_log_returns_and_in_the_chain_after_a_flush(db):
    audit.to_journal(
        db,
        actor="coord",
        role="coordinator",
        action="household.read",
        targets=["h-1", "p-1"],
        ip="10.0.0.1",
        user_agent="phone",
    )
    [line] = lines(db)
    assert line["targets"] == ["h-1", "p-1"] and line["action"] == "household.read"
    assert len(line["id"]) == 24 and line["at"].endswith("Z")
    assert not audit.query(without_journal(db), limit=10)  # not in the chain yet
    assert audit.flush(db) == 1
    [event] = chain(db)
    assert event["targets"] == ["h-1", "p-1"] and event["at"] == line["at"] and event["seq"] == 1
    assert db.journal.pending_bytes() == 0
    assert audit.verify(db).ok
    assert audit.flush(db) == 0


def test_the_journal_is_private(db):
    log(db, 1)
    path = db.journal.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_journal_and_direct_appends_share_one_chain(db):
    log(db, 3)
    audit.append_now(db, actor="tester", action="export")  # a direct append in between
    log(db, 2)
    events = chain(db)
    assert [e["action"] for e in events] == ["household.read"] * 3 + ["export"] + ["household.read"] * 2
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert audit.verify(db).ok


def test_concurrent_threads_and_a_shipper_deliver_every_event_once_in_order(db, settings):
    shipper = journal.Shipper(db.journal, lambda: Database.connect(settings), audit.flush)
    shipper.start()
    try:
        threads = [threading.Thread(target=log, args=(db, 60, f"user{t}")) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        shipper.stop()
    audit.flush(db)
    events = chain(db)
    assert len(events) == 360
    for t in range(6):  # each writer's events in its own order
        mine = [e["targets"][0] for e in events if e["actor"] == f"user{t}"]
        assert mine == [f"h-{i}" for i in range(60)]
    times = [e["at"] for e in events]
    assert times == sorted(times)  # journal order is time order
    assert audit.verify(db).ok and db.journal.pending_bytes() == 0
    assert not damage(events)  # the threads chained their lines one after the other


WRITER = """
import os, sys
sys.path.insert(0, {root!r})
from graphsvc import audit
from graphsvc.config import load_settings
from graphsvc.db import Database
db = Database.connect(load_settings())
for i in range(80):
    audit.to_journal(db, actor="proc" + sys.argv[1], action="household.read", targets=["h-%d" % i])
    if i % 20 == 19:
        audit.flush(db)
db.close()
"""


def test_several_processes_append_and_ship_the_same_journal(db, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)))
    env = dict(conftest.test_env())
    procs = [subprocess.Popen([sys.executable, str(script), str(n)], env=env) for n in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    audit.flush(db)
    events = chain(db)
    assert len(events) == 240
    for n in range(3):
        assert [e["targets"][0] for e in events if e["actor"] == f"proc{n}"] == [f"h-{i}" for i in range(80)]
    assert audit.verify(db).ok
    assert not damage(events)  # each process chained to the others' lines, across shipments


def shipment(db, lo: int, hi: int) -> journal.Shipment:
    """Lines lo…hi of the journal as the shipper reads them."""
    raw = [x for x in db.journal.path.read_bytes().splitlines() if x.strip()]
    return journal.Shipment([journal.read_line(x, db.journal.key()) for x in raw], lo, hi)


def test_lines_shipped_just_before_a_crash_are_not_shipped_again(db):
    log(db, 3)
    audit._deliver(db, shipment(db, 0, 2))  # committed, but the process died before dropping them
    log(db, 1)
    assert audit.flush(db) == 4  # four lines read, two of them taken already
    assert [e["targets"][0] for e in chain(db)] == ["h-0", "h-1", "h-2", "h-0"]
    assert audit.verify(db).ok
    log(db, 1)
    audit._deliver(db, shipment(db, 1, 2))  # and once more, with the anchor before them
    assert audit.flush(db) == 1
    assert [e["targets"][0] for e in chain(db)] == ["h-0", "h-1", "h-2", "h-0", "h-0"]
    assert not damage(chain(db))


def test_appends_during_a_shipment_stay_for_the_next(db):
    log(db, 2)

    def deliver(batch):
        anchor = audit._deliver(db, batch)
        log(db, 1, actor="late")  # appended while the batch commits
        return anchor

    assert db.journal.ship(deliver) == 2
    assert [x["actor"] for x in lines(db)] == ["late"]
    log(db, 1, actor="later")  # the writer reopens the journal that replaced the old one
    audit.flush(db)
    assert [e["actor"] for e in chain(db)] == ["coord", "coord", "late", "later"]


def test_an_append_from_another_thread_while_the_shipped_lines_are_dropped_is_kept(db, monkeypatch):
    # Dropping shipped lines writes the unshipped tail to a new file that replaces the
    # journal. A thread of the same process appending meanwhile must wait (flock alone does
    # not exclude threads that share the lock's file description), or its line is lost.
    log(db, 2)
    real_replace = os.replace
    during = []

    def replace_slowly(src, dst):
        writer = threading.Thread(target=log, args=(db, 1, "during"))
        writer.start()
        writer.join(0.3)  # without the mutex it has written to the old file by now
        during.append(writer)
        real_replace(src, dst)

    def deliver(batch):
        anchor = audit._deliver(db, batch)
        log(db, 1, actor="late")  # so that a tail is left and the file is replaced
        return anchor

    monkeypatch.setattr(journal.os, "replace", replace_slowly)
    assert db.journal.ship(deliver) == 2
    monkeypatch.undo()
    during[0].join()
    audit.flush(db)
    assert [e["actor"] for e in chain(db)] == ["coord", "coord", "late", "during"]


def test_a_torn_line_becomes_a_damage_event_and_the_next_line_survives(db):
    log(db, 1)
    with open(db.journal.path, "ab") as fh:
        fh.write(b'{"id":"abc","actor":"co')  # a crash in the middle of a write
    log(db, 1, actor="after")
    audit.flush(db)
    events = chain(db)
    assert [e["action"] for e in events] == ["household.read", "audit.journal_damaged", "household.read"]
    assert events[1]["outcome"] == "error" and "23 bytes" in events[1]["detail"]
    assert events[2]["actor"] == "after"
    assert audit.verify(db).ok


def test_a_line_with_unknown_or_bad_fields_is_kept_as_damage_not_as_an_event(db):
    with open(db.journal.path, "ab") as fh:
        fh.write(json.dumps({"id": "x1", "at": "yesterday", "actor": "a", "action": "household.read"}).encode() + b"\n")
        fh.write(
            json.dumps(
                {"id": "x2", "at": audit.timestamp(), "actor": "a", "action": "x", "legal_name": "홍길동"}
            ).encode()
            + b"\n"
        )
    audit.flush(db)
    events = chain(db)
    assert [e["action"] for e in events] == ["audit.journal_damaged"] * 2
    assert "홍길동" not in json.dumps(events, ensure_ascii=False)


def test_a_blocked_chain_keeps_the_events_and_a_full_journal_fails_closed(db, monkeypatch):
    log(db, 1)
    audit.flush(db)  # the chain has a head now
    log(db, 2)
    db.write("test_block_audit")  # an event squats on the next seq
    with pytest.raises(audit.AuditError):
        audit.flush(db)
    assert len(lines(db)) == 2  # nothing lost
    monkeypatch.setattr(db.journal, "max_bytes", db.journal.pending_bytes() - 1)
    with pytest.raises(audit.AuditError, match="stalled"):
        log(db, 1)
    assert len(lines(db)) == 2  # and nothing half-written


def test_the_shipper_thread_ships_without_being_asked(db, settings):
    shipper = journal.Shipper(db.journal, lambda: Database.connect(settings), audit.flush)
    shipper.start()
    try:
        log(db, 1)
        deadline = time.monotonic() + 5
        while db.journal.pending_bytes() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert db.journal.pending_bytes() == 0
        assert len(audit.query(without_journal(db), limit=10)) == 1
    finally:
        shipper.stop()


def damage(events) -> list[str]:
    return [e["detail"] for e in events if e["action"] == "audit.journal_damaged"]


def raw_lines(db) -> list[bytes]:
    return [x for x in db.journal.path.read_bytes().splitlines() if x.strip()]


def rewrite(db, raws: list[bytes]) -> None:
    """Write the journal anew with these lines, as someone with access to the file would."""
    db.journal.path.write_bytes(b"".join(x + b"\n" for x in raws))


def edited(raw: bytes, **changes) -> bytes:
    line = json.loads(raw)
    line.update(changes)
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()


def canonical_mac(key: bytes, line: dict) -> str:
    """The documented MAC: HMAC-SHA256(key, prev + canonical(the line without mac))."""
    body = {k: v for k, v in line.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, (line["prev"] + text).encode("utf-8"), hashlib.sha256).hexdigest()


def test_the_lines_are_chained_with_a_mac_and_the_chain_goes_on_across_shipments(db):
    log(db, 3)
    a, b, c = lines(db)
    assert a["prev"] == "0" * 64 and b["prev"] == a["mac"] and c["prev"] == b["mac"]
    for line in (a, b, c):
        assert line["mac"] == canonical_mac(db.journal.key(), line)
    assert audit.flush(db) == 3
    # The shipped lines are gone; an anchor line says what the next line chains to, and the
    # head keeps the same (the shipper checks against the head, not against the file).
    assert json.loads(db.journal.path.read_bytes()) == {"anchor": c["id"], "mac": c["mac"]}
    assert db.journal.pending_bytes() == 0 and audit.flush(db) == 0
    records, _, _ = db.driver.execute_query(
        "MATCH (h:AuditHead) RETURN h.journal AS id, h.journal_mac AS mac", database_=db.database
    )
    assert (records[0]["id"], records[0]["mac"]) == (c["id"], c["mac"])
    log(db, 1)
    assert lines(db)[0]["prev"] == c["mac"]
    audit.flush(db)
    assert len(chain(db)) == 4 and not damage(chain(db)) and audit.verify(db).ok


def _swap(r):
    return [r[0], r[2], r[1], r[3]]


def _insert_forged(r):
    forged = edited(r[1], id="f" * 24, targets=["h-x"], mac="f" * 64)
    return [r[0], r[1], forged, r[2], r[3]]


def _insert_without_mac(r):
    line = {k: v for k, v in json.loads(r[1]).items() if k not in ("prev", "mac")}
    line.update(id="e" * 24, targets=["h-x"])
    return [r[0], r[1], json.dumps(line).encode(), r[2], r[3]]


def _other_key(r):
    line = json.loads(r[1])
    line["targets"] = ["h-9"]
    line["mac"] = canonical_mac(b"k" * 32, line)  # a well-made MAC, under a key that is not the journal's
    return [r[0], json.dumps(line).encode(), r[2], r[3]]


# Four lines h-0…h-3 are pending after a first shipment ("before"); each tampering names the
# line (by its id: L0…L3) and every line's event is still shipped.
JOURNAL_TAMPERING = {
    "edit a line": (
        lambda r: [r[0], edited(r[1], targets=["h-9"]), r[2], r[3]],
        ["h-0", "!", "h-9", "h-2", "h-3"],
        ["L1: edited or forged: its MAC does not match its content; its event is 4"],
    ),
    "edit a line and give it a MAC under another key": (  # the original line is gone: two notices
        _other_key,
        ["h-0", "!", "h-9", "!", "h-2", "h-3"],
        ["L1: edited or forged", "L2: the line(s) written before it are missing (deleted): it does not follow line L1"],
    ),
    "delete a line": (
        lambda r: [r[0], r[2], r[3]],
        ["h-0", "!", "h-2", "h-3"],
        ["L2: the line(s) written before it are missing (deleted): it does not follow line L0"],
    ),
    "delete the first line after the shipment": (
        lambda r: [r[1], r[2], r[3]],
        ["!", "h-1", "h-2", "h-3"],
        ["L1: the line(s) written before it are missing (deleted): it does not follow the last line shipped"],
    ),
    "swap two lines": (
        _swap,
        ["h-0", "!", "h-2", "!", "h-1", "!", "h-3"],
        [
            "L2: out of order: it was written right after line L1",
            "L1: out of order: it was written right after line L0",
            "L3: out of order: it was written right after line L2",
        ],
    ),
    "insert a forged line": (
        _insert_forged,
        ["h-0", "h-1", "!", "h-x", "h-2", "h-3"],
        ["ffffffffffffffffffffffff: inserted: its MAC is wrong and the next line follows the line before it"],
    ),
    "insert a line without a MAC": (
        _insert_without_mac,
        ["h-0", "h-1", "!", "h-x", "h-2", "h-3"],
        ["eeeeeeeeeeeeeeeeeeeeeeee: has no MAC"],
    ),
}


@pytest.mark.parametrize("kind", list(JOURNAL_TAMPERING))
def test_a_journal_line_tampered_with_before_it_ships_is_named_and_everything_still_ships(db, kind):
    tamper, shipped, notices = JOURNAL_TAMPERING[kind]
    log(db, 1, actor="before")
    audit.flush(db)
    log(db, 4)
    raws = raw_lines(db)
    ids = {f"L{i}": json.loads(raws[i + 1])["id"] for i in range(4)}
    rewrite(db, [raws[0]] + tamper(raws[1:]))
    audit.flush(db)
    events = chain(db)[1:]
    assert [e["targets"][0] if e["targets"] else "!" for e in events] == shipped
    found = damage(events)
    assert [e["action"] for e in events if not e["targets"]] == ["audit.journal_damaged"] * len(notices)
    for detail, notice in zip(found, notices):
        for name, line_id in ids.items():
            notice = notice.replace(name, line_id)
        assert detail.startswith("journal line " + notice), (detail, notice)
    assert all(e["outcome"] == "error" and e["actor"] == "system" for e in events if not e["targets"])
    assert audit.verify(db).ok
    log(db, 1, actor="after")  # the chain goes on from there, without more notices
    audit.flush(db)
    assert damage(chain(db)[1:]) == found and chain(db)[-1]["actor"] == "after"


def test_a_line_garbled_after_the_next_was_chained_to_it_is_one_notice(db):
    # A disk error in the middle of a line: it cannot be read, but the line after it was
    # chained to its mac, which is intact at its end: one notice, not two.
    log(db, 3)
    raws = raw_lines(db)
    rewrite(db, [raws[0], raws[1][:20] + b"\xff\x00{" + raws[1][23:], raws[2]])
    audit.flush(db)
    events = chain(db)
    assert [e["targets"][0] if e["targets"] else "!" for e in events] == ["h-0", "!", "h-2"]
    assert events[1]["detail"].startswith("an unreadable journal line of")


def test_a_shipment_in_several_batches_checks_each_against_the_head(db, monkeypatch):
    monkeypatch.setattr(journal, "BATCH_LINES", 3)
    log(db, 1, actor="before")
    audit.flush(db)
    log(db, 10)
    raws = raw_lines(db)
    # garbage ends the first batch (the head keeps the id of h-0); h-6 is deleted in the third
    rewrite(db, raws[:2] + [b"garbage"] + raws[2:7] + raws[8:])
    assert audit.flush(db) == 10  # ten lines after the anchor, in four transactions
    events = chain(db)
    assert [e["targets"][0] if e["targets"] else "!" for e in events[1:]] == [
        "h-0",
        "!",
        "h-1",
        "h-2",
        "h-3",
        "h-4",
        "h-5",
        "!",
        "h-7",
        "h-8",
        "h-9",
    ]
    assert damage(events) == [
        "an unreadable journal line of 7 bytes",  # once: the second batch does not take it again
        f"journal line {json.loads(raws[8])['id']}: the line(s) written before it are missing "
        f"(deleted): it does not follow line {json.loads(raws[6])['id']}; its event is 10",
    ]


def test_a_journal_emptied_before_it_ships_is_noticed_with_the_next_line(db):
    log(db, 1, actor="before")
    audit.flush(db)
    log(db, 3)
    db.journal.path.write_bytes(b"")  # every pending line and the anchor deleted
    log(db, 1, actor="after")
    audit.flush(db)
    events = chain(db)
    assert [e["actor"] for e in events] == ["before", "system", "after"]
    assert "missing (deleted): it does not follow the last line shipped" in events[1]["detail"]


def test_a_replayed_line_is_named_and_not_shipped_twice(db):
    log(db, 1, actor="before")
    [copy] = [x for x in raw_lines(db)]
    audit.flush(db)
    log(db, 2)
    with open(db.journal.path, "ab") as fh:
        fh.write(copy + b"\n")  # a line shipped before, written again
    audit.flush(db)
    events = chain(db)
    assert [e["actor"] for e in events] == ["before", "coord", "coord", "system"]
    assert "a copy of a line shipped or read before" in events[-1]["detail"]


def test_a_replayed_last_line_cannot_make_the_lines_before_it_look_shipped(db):
    # The head keeps the id of the last line it took, and the shipper skips the lines up to
    # it (they shipped just before a crash). A copy of that line put after new lines, without
    # the anchor, must not make the new lines look shipped.
    log(db, 1, actor="before")
    [copy] = raw_lines(db)
    audit.flush(db)
    log(db, 2, actor="new")
    rewrite(db, raw_lines(db)[1:] + [copy])
    audit.flush(db)
    events = chain(db)
    assert [e["actor"] for e in events] == ["before", "new", "new", "system"]
    assert "a copy of a line" in events[-1]["detail"]


def test_an_older_versions_journal_still_ships_once_unauthenticated(db):
    audit.append_now(db, actor="tester", action="export")  # a head, without a journal mac
    old = [
        {
            "id": f"old{i}",
            "at": audit.timestamp(),
            "actor": "coord",
            "action": "household.read",
            "outcome": "ok",
            "targets": [f"h-{i}"],
        }
        for i in range(2)
    ]
    db.journal.path.parent.mkdir(parents=True, exist_ok=True)
    db.journal.path.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in old))
    log(db, 1, actor="new")  # the new version writes on
    assert lines(db)[-1]["prev"] == "0" * 64  # no line with a mac before it
    audit.flush(db)
    events = chain(db)
    assert [e["action"] for e in events] == [
        "export",
        "audit.journal_unauthenticated",
        "household.read",
        "household.read",
        "household.read",
    ]
    assert events[1]["detail"].startswith("the next 2 journal line(s) were written by an older version")
    assert [e["actor"] for e in events[2:]] == ["coord", "coord", "new"] and not damage(events)
    # Once the chain has begun, a line without a MAC is no older version's any more.
    with open(db.journal.path, "ab") as fh:
        fh.write(json.dumps({**old[0], "id": "old9"}).encode() + b"\n")
    audit.flush(db)
    assert damage(chain(db)) == [
        f"journal line old9: has no MAC (inserted, or written by an older version "
        f"after the chain began); its event is {len(events) + 2}"
    ]


def test_an_append_reads_the_file_only_when_another_writer_changed_it(tmp_path, monkeypatch):
    reads: list[int] = []
    real = journal._last_mac
    monkeypatch.setattr(journal, "_last_mac", lambda fd, size: reads.append(size) or real(fd, size))
    path = tmp_path / "journal.jsonl"
    mine, other = journal.Journal(path), journal.Journal(path)  # two processes' views of one file
    for _ in range(3):
        mine.append(EVENT)
    assert len(reads) == 1  # the first append: the file was new to it
    other.append(EVENT)
    assert len(reads) == 2
    mine.append(EVENT)
    mine.append(EVENT)
    assert len(reads) == 3  # once after the other's line, then from memory again
    parsed = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert [x["prev"] for x in parsed] == ["0" * 64] + [x["mac"] for x in parsed[:-1]]


def test_log_refuses_bad_fields_before_writing(db):
    with pytest.raises(ValueError):
        audit.to_journal(db, actor="", action="household.read")
    with pytest.raises(TypeError):
        audit.to_journal(db, actor="a", action="household.read", legal_name="홍길동")
    assert not lines(db)
    assert os.path.exists(db.journal.path) is False or db.journal.pending_bytes() == 0


# --- the syncer: what an append waits for, group commit, a failing disk -----------------------


def _slow_fdatasync(monkeypatch, seconds: float, calls: list, fail: bool = False):
    real = os.fdatasync

    def fdatasync(fd):
        calls.append(fd)
        time.sleep(seconds)
        if fail:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(journal.os, "fdatasync", fdatasync)


EVENT = {"id": "x", "actor": "coord", "action": "household.read", "targets": ["h-1"]}


def test_an_fsync_append_returns_once_its_line_is_on_disk_and_a_write_append_at_once(tmp_path, monkeypatch):
    calls: list = []
    _slow_fdatasync(monkeypatch, 0.3, calls)
    j = journal.Journal(tmp_path / "j" / "journal.jsonl", durability="fsync")
    t0 = time.perf_counter()
    j.append(EVENT)
    assert time.perf_counter() - t0 >= 0.3 and len(calls) == 1 and j._synced == j._written == 1
    j.durability = "write"
    t0 = time.perf_counter()
    j.append(EVENT)
    assert time.perf_counter() - t0 < 0.2  # written, not waited for
    j.wait_synced()  # the syncer puts it on disk right after
    assert len(calls) == 2 and j._synced == 2
    assert len(j.path.read_bytes().splitlines()) == 2


def test_concurrent_fsync_appends_share_fdatasyncs(tmp_path, monkeypatch):
    calls: list = []
    _slow_fdatasync(monkeypatch, 0.02, calls)
    j = journal.Journal(tmp_path / "journal.jsonl", durability="fsync")

    def writer():
        for _ in range(10):
            j.append(EVENT)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert j._synced == 80 and len(j.path.read_bytes().splitlines()) == 80
    assert len(calls) <= 40  # one fdatasync covers the lines of several requests


@pytest.mark.parametrize("durability", ["fsync", "write"])
def test_a_failed_fdatasync_fails_closed_from_then_on(tmp_path, monkeypatch, durability):
    calls: list = []
    _slow_fdatasync(monkeypatch, 0.0, calls, fail=True)
    j = journal.Journal(tmp_path / "journal.jsonl", durability=durability)
    if durability == "fsync":
        with pytest.raises(audit.AuditError, match="could not be put on disk"):
            j.append(EVENT)  # its request fails
    else:
        j.append(EVENT)  # written; the syncer fails after
        with pytest.raises(audit.AuditError):
            j.wait_synced()
    with pytest.raises(audit.AuditError, match="could not be put on disk"):
        j.append(EVENT)  # and every later request fails: the disk may have dropped pages
    assert len(j.path.read_bytes().splitlines()) == 1


def test_the_durability_setting(tmp_path):
    from graphsvc.config import load_settings

    assert load_settings({}).audit_durability == "write"
    assert load_settings({"GRAPHSVC_AUDIT_DURABILITY": "fsync"}).audit_durability == "fsync"
    with pytest.raises(ValueError, match="GRAPHSVC_AUDIT_DURABILITY"):
        load_settings({"GRAPHSVC_AUDIT_DURABILITY": "sometimes"})
    assert journal.at(tmp_path / "a.jsonl", "fsync").durability == "fsync"
