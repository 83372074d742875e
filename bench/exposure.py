"""The exposure of a lost phone (issue 15 §4): an account with 5,000 read events over the
100,000-household demo, reported by ``graphsvc.exposure.report`` (target: under 2 s),
side by side with a naive baseline that looks up each event's targets one event at a time.

Not a test. Runs against a Neo4j instance of its own (``benchexposure``, bolt 7726 unless
``--instance``/``--port`` say otherwise; started here and stopped at the end only if this
script started it), holding ``demo.generate(100000, seed=1, as_of=2026-11-01)`` (loaded
when the household count is wrong).

Each run makes an account of its own (``lost-<time>``, a visitor of the demo's largest
district) and inserts, chained after the log's head as bench/audit.py does: ``--events``
events of that account over the last 60 days (reads of ``--households`` households of its
district with their people, 3 % of them identity reads and 2 % contact reveals, as the pages
record them), and ``--noise`` events of other accounts among them, so that the account's
events are a few among many.

    .venv/bin/python bench/exposure.py [--events 5000] [--households 1500] [--noise 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from common import connected, ensure_demo, instance_settings, say  # noqa: E402  (bench/common.py)

from graphsvc import audit, exposure  # noqa: E402
from graphsvc.db import Database  # noqa: E402

AS_OF = dt.date(2026, 11, 1)
HOUSEHOLDS = 100_000
TARGET_S = 2.0
BATCH = 5_000


def make_events(username: str, households: list[list], n: int, noise: int, seed: int = 15) -> list[dict]:
    """The account's ``n`` events and ``noise`` events of others, in time order, over the
    last 60 days."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=60)
    rows = []
    others = [f"visitor{i:03d}" for i in range(200)]
    mine = set(rng.sample(range(n + noise), n))
    for i in range(n + noise):
        hid, people = households[rng.randrange(len(households))]
        roll = rng.random()
        action = "household.read"
        targets = [hid, *people]
        if roll < 0.02:
            action, targets = "household.contact.read", [hid, people[0], f"c-{i}"]
        elif roll < 0.05:
            action = "household.identity.read"
        elif roll < 0.35:
            action, targets = "suggestions.read", [hid]
        rows.append(
            {
                "at": start + dt.timedelta(seconds=rng.uniform(0, 60 * 86400)),
                "actor": username if i in mine else rng.choice(others),
                "role": "visitor",
                "action": action,
                "targets": targets,
                "outcome": "ok",
            }
        )
    rows.sort(key=lambda r: r["at"])
    return rows


def insert(db: Database, rows: list[dict]) -> int:
    """Chain ``rows`` after the head and insert them; the number inserted."""
    audit.flush(db)
    head = db.read("audit_head")
    seq, digest = (head[0]["seq"], head[0]["hash"]) if head else (0, audit.ZERO_HASH)
    batch: list[dict] = []
    last = None
    for sealed in audit.chain_events(rows, start_seq=seq + 1, prev=digest):
        batch.append(sealed)
        last = sealed
        if len(batch) == BATCH:
            db.write("bench_audit_insert", rows=batch)
            batch = []
    if batch:
        db.write("bench_audit_insert", rows=batch)
    assert last is not None
    db.write("bench_audit_set_head", seq=last["seq"], hash=last["hash"])
    return len(rows)


def naive(db: Database, username: str, since: dt.date) -> dict[str, int]:
    """The baseline: the account's events read (audit.query, the actor index), then each
    event's targets and their neighbours looked up with one query per event."""
    found: dict[str, dict] = {}
    linked: set[str] = set()
    for event in audit.query(db, actor=username, outcome="ok", since=since, limit=audit.MAX_LIMIT):
        for row in db.read("bench_exposure_naive_targets", ids=list(event["targets"])):
            found.setdefault(row["id"], row)
            linked.update(row["linked"], row["housemates"], row["members"])
    return {"records": sum(1 for r in found.values() if r["code"] or r["code_name"]), "linked": len(linked)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5_000, help="the account's events")
    ap.add_argument("--households", type=int, default=1_500, help="distinct households among them")
    ap.add_argument("--noise", type=int, default=100_000, help="events of other accounts")
    ap.add_argument("--repeat", type=int, default=5, help="timed reports (after one untimed)")
    ap.add_argument("--instance", default="benchexposure")
    ap.add_argument("--port", type=int, default=7726)
    args = ap.parse_args()
    settings = instance_settings(args.instance, args.port)
    with connected(settings) as (db, started):
        note = ensure_demo(db, HOUSEHOLDS, AS_OF)
        say(note)
        district = db.read("bench_exposure_first_district")[0]["district"]
        username = f"lost-{int(time.time()) % 10**8}"
        db.write("bench_exposure_account", username=username, district=district)
        households = db.read("bench_exposure_households", district=district, n=args.households)[0]["households"]
        t0 = time.perf_counter()
        n = insert(db, make_events(username, households, args.events, args.noise))
        say(f"{n:,} events inserted in {time.perf_counter() - t0:.1f} s ({username}: {args.events:,})")
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=61)).date()
        first = time.perf_counter()
        answer = exposure.report(db, username, since)
        first_s = time.perf_counter() - first
        assert answer["events"] == args.events, answer["events"]
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            exposure.report(db, username, since)
            times.append(time.perf_counter() - t)
        say(f"report: first {first_s:.2f} s, median {statistics.median(times):.2f} s; the baseline next")
        t = time.perf_counter()
        base = naive(db, username, since)
        naive_s = time.perf_counter() - t
        totals = answer["totals"]
        median = statistics.median(times)
        load = os.getloadavg()
        print(
            f"bench/exposure.py, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; instance {args.instance} "
            f"(bolt {args.port}{', started here' if started else ', already running'}); {note}"
        )
        print(
            f"account {username} (district {district}): {answer['events']:,} events since {since} among "
            f"{args.noise:,} events of others; {totals['households']:,} households "
            f"({totals['contact']} contact, {totals['identity']} identity, {totals['shown']} shown, "
            f"{totals['linked']} linked), {totals['people_shown']:,} people shown, "
            f"{totals['people_linked']:,} people linked, in {len(answer['districts'])} districts"
        )
        print(f"{'':28}{'seconds':>10}")
        print(f"{'exposure.report, first':28}{first_s:>10.2f}")
        print(f"{'exposure.report, median':28}{median:>10.2f}   (of {args.repeat}; max {max(times):.2f})")
        found = f"({base['records']:,} records, {base['linked']:,} linked)"
        print(f"{'naive, one query per event':28}{naive_s:>10.2f}   {found}")
        print(f"ratio naive / report (median): {naive_s / median:.1f}x")
        verdict = "PASS" if median < TARGET_S else "FAIL"
        loads = " / ".join(f"{x:.1f}" for x in load)
        print(f"target: under {TARGET_S:.0f} s: {verdict} ({median:.2f} s); load average {loads}")
        return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
