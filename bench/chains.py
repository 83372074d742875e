"""The chain index one change at a time (issue 11 §4): adding a household with its
introduction, index included, against the same write without the index and against a full
``chains.refresh``; and a change that re-homes a big subtree.

The deterministic demo (``demo.generate(N, seed=1, as_of=2026-11-01)``, N = 100,000 by
default) is loaded into a Neo4j instance of the bench's own (``benchchains``, bolt 7722,
heap 1g, page cache 512m; started here and stopped at the end if this script started it;
the schema is applied first, and the demo is loaded only when the instance does not hold
it). Then, each a write transaction timed end to end from the client (``db.write_tx``):

1. *records only*: a new household with one member, introduced by a random existing
   person (``bench_chains_add_household``: one statement, three records);
2. *records + index*: the same and ``chains.update_in_tx`` for the new household and the
   introducer's, in the same transaction (what the write service will do).
   1 and 2 alternate, ``--additions`` of each after 20 of each to warm up; afterwards the
   households of 1 get their index in one untimed update, so that the index stays whole.
   Before 1 and 2 an untimed ``chains.refresh`` makes the index whole (reported).
3. ``chains.refresh`` once: every household recomputed; it must find nothing to change
   (the incremental updates stored what it would: checked, the run fails otherwise).
4. *re-home*: the household at wave 1 with the largest subtree gets its way in from the
   root of another chain (its first introduced member's introducer changes, dated before
   every other), and back, ``--rehomes`` times each way; every household of its subtree
   changes chain. Then ``chains.refresh`` again must find nothing to change.

The bench households (ids ``hb-…``) are removed at the end (leaves: nothing else moves).
Prints a side-by-side table with ratios and PASS/FAIL for the target (p95 of 2 < 50 ms) and
writes the same to bench/out/chains.txt.

    .venv/bin/python bench/chains.py [--households 100000] [--additions 300] [--rehomes 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from common import OUT, connected, instance_settings, pct, say  # noqa: E402  (bench/common.py)
from common import ensure_demo as load_demo  # noqa: E402

from graphsvc import chains  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import to_date  # noqa: E402
from graphsvc.network import first_entries  # noqa: E402

AS_OF = dt.date(2026, 11, 1)
PREFIX = "hb-"
TARGET_P95_MS = 50.0
WARM = 20


def bench_settings():
    return instance_settings("benchchains", 7722)


def ensure_demo(db: Database, households: int) -> str:
    """The demo of ``households`` in the database (bench/common.py), without what an
    interrupted run of this benchmark added."""
    db.apply_schema()
    db.write("bench_chains_remove_added", prefix=PREFIX)
    return load_demo(db, households, AS_OF)


def add(db: Database, i: int, introducer: str, with_index: bool) -> tuple[float, chains.UpdateReport | None]:
    """One new household introduced by ``introducer``, in one transaction; (seconds, report)."""
    params = {
        "household": f"{PREFIX}{i:06d}",
        "code": f"HB-{i:06d}",
        "person": f"pb-{i:06d}",
        "code_name": f"벤치{i}",
        "introducer": introducer,
        "on": AS_OF,
    }

    def work(tx: Any) -> chains.UpdateReport | None:
        rows = db.run_in_tx(tx, "bench_chains_add_household", **params)
        assert rows, f"no introducer {introducer}"
        if not with_index:
            return None
        return chains.update_in_tx(tx, db, [params["household"], rows[0]["introducer_household"]])

    t0 = time.perf_counter()
    report = db.write_tx(work)
    return time.perf_counter() - t0, report


def biggest_wave_one(db: Database) -> tuple[str, int, str, str]:
    """The wave-1 household with the largest subtree: (id, subtree size, its chain, the
    root of the largest other chain)."""
    rows = db.read("chains_stored")[0]["rows"]
    children: dict[str, list[str]] = {}
    for hid, parent, _chain, _wave, _on in rows:
        children.setdefault(parent, []).append(hid)

    def size(h: str) -> int:
        n, todo = 0, [h]
        while todo:
            n += 1
            todo.extend(children.get(todo.pop(), ()))
        return n

    wave_one = [(size(h), h, chain) for h, _, chain, wave, _ in rows if wave == 1]
    n, hid, chain = max(wave_one)
    chain_sizes = Counter(r[2] for r in rows)
    other = max((c for c in chain_sizes if c != chain), key=lambda c: chain_sizes[c])
    return hid, n, chain, other


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--additions", type=int, default=300, help="timed additions of each kind")
    ap.add_argument("--rehomes", type=int, default=3, help="timed re-homes each way")
    args = ap.parse_args()

    with connected(bench_settings()) as (db, started):
        lines = run(db, args, say, started)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "chains.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(db: Database, args: argparse.Namespace, say: Callable[[str], None], started: bool) -> list[str]:
    note = ensure_demo(db, args.households)
    # the index must be whole before the timed part (an interrupted run, or a test of a
    # refresh from nothing, can leave it otherwise): the timed refresh below then checks
    # that the incremental updates kept it whole
    whole = chains.refresh(db)
    note += f"; index made whole first ({whole.changed:,} placements written, {whole.seconds:.1f} s)"
    people = db.read("graph_counts")[0]["people"]
    width = max(6, len(str(people)))
    rnd = random.Random(11)

    def introducer() -> str:
        return f"p-{rnd.randint(1, people):0{width}d}"

    say("warming up")
    n = 0
    for _ in range(WARM):
        for with_index in (False, True):
            n += 1
            add(db, n, introducer(), with_index)
    plain: list[float] = []
    indexed: list[float] = []
    moved: list[int] = []
    unindexed = [f"{PREFIX}{i:06d}" for i in range(1, n + 1, 2)]
    say(f"{args.additions} additions of each kind, alternating")
    for _ in range(args.additions):
        n += 1
        seconds, _ = add(db, n, introducer(), False)
        plain.append(seconds)
        unindexed.append(f"{PREFIX}{n:06d}")
        n += 1
        seconds, report = add(db, n, introducer(), True)
        indexed.append(seconds)
        assert report is not None and report.changed == (f"{PREFIX}{n:06d}",), report
        moved.append(report.candidates)
    db.write_tx(lambda tx: chains.update_in_tx(tx, db, unindexed), cls="batch")

    say("chains.refresh")
    refresh = chains.refresh(db)
    assert refresh.changed == 0, f"the incremental index differs from a full recompute in {refresh.changed}"

    hid, size, chain, other = biggest_wave_one(db)
    around = db.read_tx(lambda tx: db.run_in_tx(tx, "chains_around", ids=[hid]))[0]["rows"]
    into = next(r[6] for r in around if r[0] == hid)
    way_in = first_entries((hid, g, to_date(on), p) for g, on, p, _, _ in into)[hid]
    person = min((p for g, on, p, _, _ in into if g == way_in[0] and to_date(on) == way_in[1]))
    before = db.read("test_person", id=person)[0]
    newcomer = db.read("map_chain_labels", ids=[other])[0]["person_id"]
    say(f"re-homing {hid} ({size:,} households below chain {chain}) to chain {other}, {args.rehomes} times each way")
    rehome: list[float] = []
    back: list[float] = []
    rehome_changed = 0
    for _ in range(args.rehomes):
        for by, on, times in (
            (newcomer, dt.date(2000, 1, 1), rehome),
            (before["introducer"], before["introduced_on"], back),
        ):

            def work(tx: Any, by: str = by, on: Any = on) -> chains.UpdateReport:
                db.run_in_tx(tx, "bench_chains_set_introducer", person=person, introducer=by, on=on)
                return chains.update_in_tx(tx, db, [hid])

            t0 = time.perf_counter()
            report = db.write_tx(work)
            times.append(time.perf_counter() - t0)
            rehome_changed = max(rehome_changed, len(report.changed))
    check = chains.refresh(db)
    assert check.changed == 0, f"after the re-homes the index differs from a full recompute in {check.changed}"
    db.write("bench_chains_remove_added", prefix=PREFIX)

    def row(name: str, values: list[float]) -> str:
        return f"| {name} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {1000 * max(values):.1f} |"

    p95 = pct(indexed, 95)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"bench/chains.py on {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}; instance benchchains (bolt 7722, heap 1g, page cache 512m, "
        f"{'started here' if started else 'already running'}); {note}; load average at the end {load}",
        "",
        "| write transaction | n | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
        row("add household + person + introduction (records only)", plain),
        row("the same + chains.update_in_tx (index included)", indexed),
        row(f"chains.refresh (every household, {refresh.households:,} placed, nothing to change)", [refresh.seconds]),
        row(f"re-home {hid} and its subtree ({size:,} households) to another chain", rehome),
        row(f"re-home it back ({rehome_changed:,} placements written each way)", back),
        "",
        f"- index share of an addition: p50 {pct(indexed, 50) / pct(plain, 50):.2f}x, "
        f"p95 {pct(indexed, 95) / pct(plain, 95):.2f}x the records alone; candidates read per update: "
        f"median {statistics.median(moved):.0f}, max {max(moved)}",
        f"- a full refresh costs {refresh.seconds / statistics.median(indexed):,.0f}x an indexed addition (p50)",
        f"- re-homing {size:,} households: {statistics.median(rehome + back):.2f} s median, "
        f"{refresh.seconds / statistics.median(rehome + back):.1f}x faster than a full refresh",
        f"- target p95 of an indexed addition < {TARGET_P95_MS:.0f} ms: {p95:.1f} ms "
        f"{'PASS' if p95 < TARGET_P95_MS else 'FAIL'}",
    ]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
