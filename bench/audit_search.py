"""The audit search benchmark (graphsvc/auditsearch.py): filtered pages over a million events.

    .venv/bin/python bench/audit_search.py [--events 1000000] [--households 100000]
                                           [--instance auditsearch --port 7721] [--reuse] [--keep]

1. Empties the database of its local instance (default `auditsearch`, port 7721, heap 1g,
   page cache 1g; started here, stopped at the end unless --keep), applies the schema.
   --reuse keeps a database that already holds the same numbers of events and households.
2. Creates --households households (codes ``H-1`` …, ids ``h-000001`` …) with one or two
   members each (code names shared by a few people, as real ones are), then --events valid
   chained events (audit.chain_events, inserted in batches of 10,000 with bench_audit_insert):
   137 accounts, household reads naming the household and its members, identity reads with
   a reason, contact reveals, network reads naming 20 to 300 ids, sign-ins with none.
3. Times filtered pages of 50 events, each query run --runs times after one warm-up run,
   and prints p50/p95 for the new search (auditsearch.search) beside the old path
   (audit.query with the same filters, limit 50) and their ratio: by household code, by
   actor, by action and one day, a deep page (before_seq a third of the way down), the
   newest page, "who saw" a household and "what did user Y see".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import audit, auditsearch, neo4j_local  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402

HEAP, PAGECACHE = "1g", "1g"
BATCH = 10_000
PAGE = 50
TARGET_P95_MS = 300.0
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NAMES = ["해바라기", "진달래", "소나무", "무궁화", "개나리", "민들레", "코스모스", "백합", "동백", "목련"]
REASON = "welfare check requested by district office"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hid(n: int) -> str:
    return f"h-{n:06d}"


def people_of(n: int) -> list[str]:
    return [f"p-{n:06d}-1"] + ([f"p-{n:06d}-2"] if n % 2 == 0 else [])


def households(n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {
            "id": hid(i),
            "code": f"H-{i}",
            "district": f"서울 {i % 25}구",
            # a code name is shared by about three people (a name of ten and a number)
            "people": [
                {"id": pid, "code_name": f"{NAMES[j % 10]}-{(i + j) // 30}"} for j, pid in enumerate(people_of(i))
            ],
        }


def fake_events(n: int, n_households: int, seed: int = 15) -> Iterator[dict[str, Any]]:
    """n plausible events (ids only), one every ~30 s from 2025-01-01, deterministic."""
    rng = random.Random(seed)
    users = (
        [(f"visitor{i:03d}", "visitor") for i in range(120)]
        + [(f"coord{i:02d}", "coordinator") for i in range(15)]
        + [("admin1", "admin"), ("admin2", "admin")]
    )
    actions = [
        ("household.read", 40),
        ("household.identity.read", 4),
        ("household.contact.read", 6),
        ("network.read", 5),
        ("visit.report", 10),
        ("household.claim", 8),
        ("login.password", 12),
        ("login.failure", 2),
        ("suggestions.read", 10),
        ("audit.read", 2),
        ("export", 1),
    ]
    names = [a for a, _ in actions]
    weights = [w for _, w in actions]
    when = START
    for _ in range(n):
        when += dt.timedelta(microseconds=rng.randrange(1, 60_000_000))
        user, role = rng.choice(users)
        action = rng.choices(names, weights)[0]
        if action.startswith("login") or action == "audit.read":
            targets: list[str] = []
        elif action in ("network.read", "export", "suggestions.read"):
            k = rng.randrange(20, 300) if action != "suggestions.read" else rng.randrange(5, 15)
            picked = rng.sample(range(1, n_households + 1), k)
            targets = [hid(h) for h in picked] + [p for h in picked[: k // 3] for p in people_of(h)]
        else:
            h = rng.randrange(1, n_households + 1)
            targets = [hid(h)] + (people_of(h) if action != "household.claim" else [])
        yield {
            "at": audit.timestamp(when),
            "actor": user,
            "role": role,
            "action": action,
            "targets": targets,
            "outcome": "ok" if rng.random() < 0.97 else "denied",
            "ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
            "reason": REASON if action == "household.identity.read" else None,
            "detail": f"{len(targets)} rows" if action in ("export", "network.read") else None,
        }


def fill(db: Database, n_events: int, n_households: int) -> float:
    t0 = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for row in households(n_households):
        batch.append(row)
        if len(batch) == BATCH:
            db.write("bench_auditsearch_households", rows=batch)
            batch = []
    if batch:
        db.write("bench_auditsearch_households", rows=batch)
    say(f"  {n_households:,} households in {time.perf_counter() - t0:.1f} s")
    batch, last_seq, last_hash = [], 0, audit.ZERO_HASH
    for row in audit.chain_events(fake_events(n_events, n_households)):
        batch.append(row)
        if len(batch) == BATCH:
            db.write("bench_audit_insert", rows=batch)
            last_seq, last_hash = batch[-1]["seq"], batch[-1]["hash"]
            batch = []
            if last_seq % 100_000 == 0:
                say(f"  … {last_seq:,} events ({time.perf_counter() - t0:.0f} s)")
    if batch:
        db.write("bench_audit_insert", rows=batch)
        last_seq, last_hash = batch[-1]["seq"], batch[-1]["hash"]
    db.write("bench_audit_set_head", seq=last_seq, hash=last_hash)
    db.run_autocommit("bench_auditsearch_await")
    return time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(call: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    call()  # plan and warm once
    costs, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = call()
        costs.append((time.perf_counter() - t) * 1000)
    return costs, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--instance", default="auditsearch")
    parser.add_argument("--port", type=int, default=7721)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database already filled with these numbers (or a few more events)"
    )
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument(
        "--append-cost",
        type=int,
        default=0,
        metavar="N",
        help="also time N appends with and without the full-text index of targets (rebuilds it: minutes)",
    )
    parser.add_argument("--keep", action="store_true", help="do not stop the server at the end")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRAPHSVC_NEO4J"))}
    settings = load_settings(env).with_instance(args.instance, args.port)
    settings = replace(settings, local=replace(settings.local, heap=HEAP, pagecache=PAGECACHE))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    local = settings.local
    failed = False
    try:
        neo4j_local.install(local, say=say)
        neo4j_local.start(local, say=say)
        with Database.connect(settings) as db:
            server = db.ping()
            db.apply_schema()
            counts = db.read("bench_auditsearch_count")[0]
            if args.reuse and counts["events"] >= args.events and counts["households"] == args.households:
                say(f"reusing {args.events:,} events over {args.households:,} households")
                fill_s = None
            else:
                say(f"emptying '{args.instance}' …")
                db.run_autocommit("wipe_all")
                db.apply_schema()
                say(f"filling {args.households:,} households and {args.events:,} events …")
                fill_s = fill(db, args.events, args.households)
            db.run_autocommit("bench_auditsearch_await")  # every index online before timing
            if args.fill_only:
                return 0
            failed = run_queries(db, server, args, fill_s)
            if args.append_cost:
                append_cost(db, args.append_cost)
    finally:
        if not args.keep:
            neo4j_local.stop(local, say=say)
    return 1 if failed else 0


def run_queries(db: Database, server: dict[str, Any], args: argparse.Namespace, fill_s: float | None) -> bool:
    deep = args.events * 2 // 3
    day = (START + dt.timedelta(days=120)).date()
    code = "H-12345"
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        # label, new search's filters, old audit.query's filters (None: the old path cannot)
        ("target: household code", {"target": code}, {"target": hid(12345)}),
        ("target: code, deep page", {"target": code, "before_seq": deep}, {"target": hid(12345), "before_seq": deep}),
        ("actor", {"actor": "coord03"}, {"actor": "coord03"}),
        ("actor, deep page", {"actor": "coord03", "before_seq": deep}, {"actor": "coord03", "before_seq": deep}),
        (
            "action + one day",
            {"action": "household.identity.read", "since": day, "until": day},
            {"action": "household.identity.read", "since": day, "until": day},
        ),
        ("action prefix", {"action": "household."}, {"action": "household."}),
        ("rare action", {"action": "export"}, {"action": "export"}),
        ("outcome denied, deep", {"outcome": "denied", "before_seq": deep}, {"outcome": "denied", "before_seq": deep}),
        ("newest page", {}, {}),
        ("deep page (before_seq)", {"before_seq": deep}, {"before_seq": deep}),
    ]
    failed = False
    lines = []
    for label, new, old in cases:
        new_costs, page = timed(lambda new=new: auditsearch.search(db, limit=PAGE, **new), args.runs)
        old_costs, rows = timed(lambda old=old: audit.query(db, limit=PAGE, **old), max(3, args.runs // 4))
        if [e["seq"] for e in page.events] != [e["seq"] for e in rows]:
            failed = True
            say(f"MISMATCH for {label}: the new search and audit.query disagree")
        p95 = pct(new_costs, 95)
        failed |= p95 > TARGET_P95_MS
        lines.append(
            f"{label:<26} {len(page.events):>3} rows  new p50 {pct(new_costs, 50):7.1f} ms  p95 {p95:7.1f} ms"
            f"   old p50 {pct(old_costs, 50):8.1f} ms  p95 {pct(old_costs, 95):8.1f} ms"
            f"   old/new p50 ×{pct(old_costs, 50) / max(pct(new_costs, 50), 0.01):.1f}"
        )
    page = auditsearch.search(db, target=code, limit=PAGE)
    label_costs, named = timed(lambda: auditsearch.page_labels(db, page).labels, args.runs)
    lines.append(
        f"{'codes for a page':<26} {len(named):>4} ids  new p50 {pct(label_costs, 50):7.1f} ms"
        f"  p95 {pct(label_costs, 95):7.1f} ms  (the records of the 50 rows above, listed by code)"
    )
    who_costs, rows = timed(lambda: auditsearch.who_saw(db, auditsearch.resolve(db, code)), args.runs)
    lines.append(
        f"{'who saw ' + code:<26} {len(rows):>3} users new p50 {pct(who_costs, 50):7.1f} ms"
        f"  p95 {pct(who_costs, 95):7.1f} ms"
    )
    user_costs, view = timed(
        lambda: auditsearch.user_view(db, "coord03", since=day, until=day + dt.timedelta(days=29)), args.runs
    )
    lines.append(
        f"{'user coord03, 30 days':<26} {view['events']:>4} evts new p50 {pct(user_costs, 50):7.1f} ms"
        f"  p95 {pct(user_costs, 95):7.1f} ms"
    )
    print(
        f"audit search benchmark — Neo4j {server['version']} {server['edition']}, heap {HEAP}, page cache "
        f"{PAGECACHE}; Python {platform.python_version()}, {os.cpu_count()} CPUs; {args.events:,} events over "
        f"{args.households:,} households; pages of {PAGE}, {args.runs} runs each after a warm-up "
        f"(the old path {max(3, args.runs // 4)} runs)"
    )
    if fill_s is not None:
        print(f"fill: {fill_s:.0f} s")
    for line in lines:
        print(line)
    print(f"target: filtered page p95 < {TARGET_P95_MS:.0f} ms: {'MISSED' if failed else 'ok'}")
    return failed


def append_cost(db: Database, n: int) -> None:
    """p50/p95 of append_now with 3 targets (a household read) and 300 (a map), with the
    full-text index of targets and without it; the index is made again at the end."""

    def appends(k: int) -> list[float]:
        targets = [hid(h) for h in range(1, k + 1)]
        costs = []
        for _ in range(n):
            t = time.perf_counter()
            audit.append_now(db, actor="bench", role="admin", action="household.read", targets=targets)
            costs.append((time.perf_counter() - t) * 1000)
        return costs

    with_index = {k: appends(k) for k in (3, 300)}
    db.run_autocommit("bench_auditsearch_drop_targets")
    without = {k: appends(k) for k in (3, 300)}
    for k in (3, 300):
        print(
            f"append_now, {k:>3} targets ({n} calls): with the targets index p50 {pct(with_index[k], 50):6.2f} ms"
            f" p95 {pct(with_index[k], 95):6.2f} ms; without p50 {pct(without[k], 50):6.2f} ms"
            f" p95 {pct(without[k], 95):6.2f} ms"
        )
    t = time.perf_counter()
    db.apply_schema()
    db.run_autocommit("bench_auditsearch_await")
    print(f"the targets index made again over {args_events(db):,} events in {time.perf_counter() - t:.0f} s")
    if not audit.verify(db).ok:
        print("verify FAILED after the appends")


def args_events(db: Database) -> int:
    return int(db.read("bench_auditsearch_count")[0]["events"])


if __name__ == "__main__":
    sys.exit(main())
