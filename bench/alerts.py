"""The alerts benchmark: what one evaluation of the rules costs on a month of audit events.

    .venv/bin/python bench/alerts.py [--per-day 10000] [--accounts 100] [--households 2000]

Uses the local instance `alerts` (port 7712; GRAPHSVC_BENCH_ALERTS_PORT) and WIPES its
database. Fills 31 days of chained events (visitors' reads of 1 to 3 of their 30 households,
10 coordinators' maps of 300, a few identity
reads, a few denials; one account reads 300 households on the last day, one reads identity
at 23:30, one is denied 15 times in 5 minutes), then times:

- ``alerts.check`` (the rules for today and yesterday, raising the three alerts): the first
  run, then again with the web's memo (nothing new to raise: the cost of the web's
  once-a-minute check in the background) and without it (``graphsvc audit alerts --check``);
- ``alerts.listing`` and ``alerts.open_count`` (what the banner reads on every admin page).

NEO4J_URI and the GRAPHSVC_NEO4J_* variables are ignored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import alerts, audit, neo4j_local  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402

INSTANCE = "alerts"
SEOUL = dt.timezone(dt.timedelta(hours=9))
BATCH = 10_000
COORDINATORS = 10  # user003 … user009 read their district's map (300 households) a few times a day


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def events(per_day: int, accounts: int, households: int, today: dt.date):
    rnd = random.Random(15)
    for back in range(30, -1, -1):
        day = today - dt.timedelta(days=back)
        start = dt.datetime(day.year, day.month, day.day, 8, tzinfo=SEOUL)
        for i in range(per_day):
            when = start + dt.timedelta(seconds=i * 12 * 3600 / per_day)  # 08:00-20:00
            n = rnd.randrange(accounts)
            who = f"user{n:03d}"
            kind = rnd.random()
            if n < COORDINATORS and kind < 0.05:  # a coordinator's map: their district's 300 households
                ids = [f"h-{(n * 300 + k) % households:05d}" for k in range(300)]
                yield {"at": when, "actor": who, "action": "network.read", "targets": ids, "outcome": "ok"}
            elif kind < 0.9:  # a visitor's own households (a pool of 30)
                ids = [f"h-{(n * 30 + rnd.randrange(30)) % households:05d}" for _ in range(rnd.randint(1, 3))]
                yield {"at": when, "actor": who, "action": "household.read", "targets": ids, "outcome": "ok"}
            elif kind < 0.97:
                ids = [f"h-{rnd.randrange(households):05d}"]
                yield {"at": when, "actor": who, "action": "household.identity.read", "targets": ids, "outcome": "ok"}
            else:
                yield {"at": when, "actor": who, "action": "household.read", "targets": [], "outcome": "denied"}
    last = dt.datetime(today.year, today.month, today.day, 21, tzinfo=SEOUL)
    for i in range(60):  # the outlier, a visitor: 300 households in an hour
        ids = [f"h-{(1000 + i * 5 + k) % households:05d}" for k in range(5)]
        yield {"at": last + dt.timedelta(seconds=i), "actor": "user050", "action": "network.read", "targets": ids}
    yield {
        "at": last + dt.timedelta(hours=2, minutes=30),
        "actor": "user001",
        "action": "household.identity.read",
        "targets": ["h-00001"],
    }
    for i in range(15):
        yield {"at": last + dt.timedelta(seconds=20 * i), "actor": "user002", "action": "x.read", "outcome": "denied"}


def fill(db: Database, rows_in) -> int:
    batch: list[dict] = []
    n = 0
    last = None
    for row in audit.chain_events({"outcome": "ok", **e} for e in rows_in):
        batch.append(row)
        last = row
        if len(batch) == BATCH:
            db.write("bench_audit_insert", rows=batch)
            n += len(batch)
            batch = []
    if batch:
        db.write("bench_audit_insert", rows=batch)
        n += len(batch)
    assert last is not None
    db.write("bench_audit_set_head", seq=last["seq"], hash=last["hash"])
    return n


def timed(fn, runs: int = 5) -> tuple[float, float]:
    costs = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        costs.append((time.perf_counter() - t) * 1000)
    return statistics.median(costs), max(costs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-day", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--households", type=int, default=2000)
    args = ap.parse_args()
    port = int(os.environ.get("GRAPHSVC_BENCH_ALERTS_PORT") or 7712)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRAPHSVC_NEO4J"))}
    settings = replace(load_settings(env).with_instance(INSTANCE, port), cypher_extra=CYPHER_EXTRA)
    neo4j_local.install(settings.local, say=say)
    neo4j_local.start(settings.local, say=say)
    today = dt.date(2026, 11, 25)
    now = dt.datetime(2026, 11, 25, 23, 59, tzinfo=SEOUL)
    with Database.connect(settings) as db:
        db.run_autocommit("wipe_all")
        db.apply_schema()
        db.write("test_alerts_households", ids=[f"h-{i:05d}" for i in range(args.households)])
        say("filling …")
        t = time.perf_counter()
        n = fill(db, events(args.per_day, args.accounts, args.households, today))
        say(f"{n:,} events in {time.perf_counter() - t:.0f} s")
        rules = alerts.Rules()
        memo = alerts.Memo()
        t = time.perf_counter()
        raised = alerts.check(db, rules, now, memo)
        first = (time.perf_counter() - t) * 1000
        found = sorted(e["action"] for e in audit.query(db, action="alert."))
        again = timed(lambda: alerts.check(db, rules, now, memo))
        cli = timed(lambda: alerts.check(db, rules, now), runs=2)
        listing = timed(lambda: alerts.listing(db, everything=True))
        banner = timed(lambda: alerts.open_count(db))
    print(f"alerts on {n:,} events ({args.per_day:,} a day for 31 days, {args.accounts} accounts)")
    print(f"  check, first run (raises {len(raised)}: {', '.join(found)}): {first:,.0f} ms")
    print(
        f"  check again, the web's (a memo: habits kept, yesterday settled), median / max of 5: "
        f"{again[0]:,.0f} / {again[1]:,.0f} ms"
    )
    print(f"  check again, the command line's (no memo), median / max of 2: {cli[0]:,.0f} / {cli[1]:,.0f} ms")
    print(f"  listing (open + acknowledged): {listing[0]:,.1f} / {listing[1]:,.1f} ms")
    print(f"  open count (the banner): {banner[0]:,.1f} / {banner[1]:,.1f} ms")
    return 0 if len(raised) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
