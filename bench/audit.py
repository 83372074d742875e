"""The audit log benchmark: verify() over a large log, and the cost of one append.

    .venv/bin/python bench/audit.py [--events 1000000] [--appends 2000] [--keep]

1. Empties the database of the local instance `audit` (port 7692, heap 1g, page cache 512m;
   started here and stopped at the end), applies the schema.
2. Fills it with --events valid chained events: the chain is computed in Python
   (audit.chain_events, the same sealing code as append) and inserted with
   `UNWIND $rows … CREATE` in batches of 10,000 (the statement bench_audit_insert), then the
   head is set (bench_audit_set_head).
3. Times audit.verify over the whole log (twice: the first run after the fill, then again).
   Target: under 20 s for one million events.
4. Times --appends calls of audit.append_now() one after another (each its own transaction,
   like a request that logs one read) and prints p50/p95/max in ms; then verifies again,
   so that the appended events are checked to continue the inserted chain.
5. Times a few audit.query() calls on the full log.

NEO4J_URI and the GRAPHSVC_NEO4J_* variables are ignored: this wipes its database.
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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import audit, neo4j_local  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402

INSTANCE, PORT = "audit", 7692
HEAP, PAGECACHE = "1g", "512m"
BATCH = 10_000
TARGET_VERIFY_SECONDS = 20.0  # for one million events

ACTIONS = [
    ("household.read", 40),
    ("person.read", 20),
    ("network.read", 15),
    ("visit.create", 8),
    ("person.identity.read", 4),
    ("login.password", 5),
    ("login.failure", 2),
    ("session.start", 4),
    ("export", 1),
    ("import", 1),
]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fake_events(n: int, seed: int = 7):
    """n plausible events (ids only), one every ~30 s from 2025-01-01, deterministic."""
    rng = random.Random(seed)
    users = (
        [(f"visitor{i:03d}", "visitor") for i in range(120)]
        + [(f"coord{i:02d}", "coordinator") for i in range(15)]
        + [("admin1", "admin"), ("admin2", "admin")]
    )
    names = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "graphsvc-cli",
    ]
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for _ in range(n):
        when += dt.timedelta(microseconds=rng.randrange(1, 60_000_000))
        user, role = rng.choice(users)
        action = rng.choices(names, weights)[0]
        k = 0 if action.startswith("login") else rng.choice((1, 1, 1, 2, 3))
        targets = [f"H{rng.randrange(100_000):06d}" for _ in range(k)]
        yield {
            "at": audit.timestamp(when),
            "actor": user,
            "role": role,
            "action": action,
            "targets": targets,
            "outcome": "ok" if rng.random() < 0.97 else "denied",
            "ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            "user_agent": rng.choice(agents),
            "reason": "welfare check requested by district office" if action == "person.identity.read" else None,
            "detail": f"{rng.randrange(1, 500)} rows" if action in ("export", "import") else None,
        }


def fill(db: Database, n: int) -> tuple[int, str, float, float]:
    """Insert n chained events; return (last seq, last hash, seconds chaining, seconds writing)."""
    chain_s = write_s = 0.0
    batch: list[dict] = []
    last_seq, last_hash = 0, audit.ZERO_HASH
    t = time.perf_counter()
    for row in audit.chain_events(fake_events(n)):
        batch.append(row)
        if len(batch) == BATCH:
            t1 = time.perf_counter()
            chain_s += t1 - t
            db.write("bench_audit_insert", rows=batch)
            t = time.perf_counter()
            write_s += t - t1
            last_seq, last_hash = batch[-1]["seq"], batch[-1]["hash"]
            batch = []
            if last_seq % 100_000 == 0:
                say(f"  … {last_seq:,} events")
    chain_s += time.perf_counter() - t
    if batch:
        t1 = time.perf_counter()
        db.write("bench_audit_insert", rows=batch)
        write_s += time.perf_counter() - t1
        last_seq, last_hash = batch[-1]["seq"], batch[-1]["hash"]
    db.write("bench_audit_set_head", seq=last_seq, hash=last_hash)
    return last_seq, last_hash, chain_s, write_s


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--page", type=int, default=audit.VERIFY_PAGE)
    parser.add_argument("--keep", action="store_true", help="do not stop the server at the end")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRAPHSVC_NEO4J"))}
    settings = load_settings(env).with_instance(INSTANCE, PORT)
    settings = replace(settings, local=replace(settings.local, heap=HEAP, pagecache=PAGECACHE))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    local = settings.local
    failed = False
    try:
        neo4j_local.install(local, say=say)
        neo4j_local.start(local, say=say)
        with Database.connect(settings) as db:
            server = db.ping()
            say(f"emptying '{INSTANCE}' …")
            db.run_autocommit("wipe_all")
            db.apply_schema()

            say(f"filling {args.events:,} chained events …")
            t0 = time.perf_counter()
            last_seq, _last_hash, chain_s, write_s = fill(db, args.events)
            fill_s = time.perf_counter() - t0

            runs = []
            for i in range(2):
                say(f"verify run {i + 1} …")
                runs.append(audit.verify(db, page=args.page))
            for r in runs:
                if not r.ok or r.count != args.events:
                    failed = True
                    say(f"verify FAILED on a valid log: {r}")

            say(f"{args.appends} record() calls …")
            costs = []
            for i in range(args.appends):
                t = time.perf_counter()
                audit.append_now(
                    db,
                    actor=f"visitor{i % 50:03d}",
                    role="visitor",
                    action="household.read",
                    targets=[f"H{i:06d}"],
                    outcome="ok",
                    ip="127.0.0.1",
                    user_agent="bench",
                )
                costs.append((time.perf_counter() - t) * 1000)
            after = audit.verify(db, page=args.page)
            if not after.ok or after.count != args.events + args.appends:
                failed = True
                say(f"verify FAILED after the appends: {after}")

            queries = {
                "newest 500": {},
                "actor (index)": {"actor": "coord03"},
                "target": {"target": "H012345"},
                "action prefix": {"action": "person."},
                "one day": {"since": dt.date(2025, 3, 1), "until": dt.date(2025, 3, 1)},
                "rare: denied identity reads": {"action": "person.identity.read", "outcome": "denied"},
            }
            query_ms = {}
            for label, filters in queries.items():
                audit.query(db, **filters)  # plan once
                t = time.perf_counter()
                rows = audit.query(db, **filters)
                query_ms[label] = ((time.perf_counter() - t) * 1000, len(rows))

        first, second = runs
        per_s = args.events / second.seconds
        print(
            f"audit benchmark — Neo4j {server['version']} {server['edition']}, heap {HEAP}, page cache "
            f"{PAGECACHE}; Python {platform.python_version()}, {os.cpu_count()} CPUs"
        )
        print(
            f"fill      {args.events:>10,} events in {fill_s:6.1f} s  (chain in Python {chain_s:.1f} s, "
            f"UNWIND CREATE batches of {BATCH:,} {write_s:.1f} s)"
        )
        print(
            f"verify    {args.events:>10,} events in {first.seconds:6.2f} s (first run), "
            f"{second.seconds:6.2f} s (second run)  = {per_s:,.0f} events/s  "
            f"[target < {TARGET_VERIFY_SECONDS:.0f} s per 1M: "
            f"{'ok' if second.seconds * 1_000_000 / args.events < TARGET_VERIFY_SECONDS else 'MISSED'}]"
        )
        print(
            f"append    {args.appends:>10,} record() calls: p50 {statistics.median(costs):.2f} ms, "
            f"p95 {pct(costs, 95):.2f} ms, max {max(costs):.2f} ms"
        )
        print(
            f"verify    {after.count:>10,} events after the appends in {after.seconds:6.2f} s: "
            f"{'ok' if after.ok else after.problem}"
        )
        for label, (ms, n) in query_ms.items():
            print(f"query     {label:<28} {ms:8.1f} ms  ({n} rows)")
    finally:
        if not args.keep:
            neo4j_local.stop(local, say=say)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
