"""What a visit report costs when it brings back two introduced households, side by side
with a plain report, on the 100,000-household demo under 8 concurrent visitors.

Not a test. Runs against a Neo4j instance of its own (``benchreport``, bolt 7723; started
here and stopped at the end only if this script started it), holding
``demo.generate(100000, seed=1, as_of=2026-11-01)`` (loaded when the household count is
wrong).

Both kinds call the write service as the API does (``graphsvc.visits.report``: parse,
policy, one transaction with the household's lock, the visit, the audit event, the visit
summary), from ``--clients`` processes (default 8; each its own driver, as gunicorn's
workers), each a visitor of the demo reporting on households of their own in their
districts, shown to them (an audit event of the suggestions,
as /suggestions records it). The report with introductions also writes two pending
households, their first people (identity encrypted), the two introductions dated the
visit's day, and updates the chain index incrementally (``chains.update_in_tx``), all in
the same transaction.

The two kinds run in alternating timed phases (plain, introductions, plain,
introductions), each after a warm-up; the p95 of each kind is over all its timed reports.
Everything the run wrote (visits, households, people) is deleted at the end; its audit
events stay (the log is append-only).

One visitor alone then reports ``--single`` times of each kind: the service time of a
report without queueing (information, no target).

    .venv/bin/python bench/report.py [--clients 8] [--reports 25] [--rounds 2] [--single 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from common import OUT, connected, ensure_demo, instance_settings, pct, say  # noqa: E402  (bench/common.py)

from graphsvc import access, audit, visits  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402
from graphsvc.suggest import SHOWN_ACTION  # noqa: E402

AS_OF = dt.date(2026, 11, 1)
HOUSEHOLDS = 100_000
TARGET_RATIO = 2.0
TARGET_P95_MS = 100.0
WARM = 5  # reports per client before each timed phase


def bench_settings():
    return instance_settings("benchreport", 7723)


class Client:
    """One visitor: their households (id, a person of it, district), used in turn."""

    def __init__(self, username: str, districts: list[str], households: list[list[str]]) -> None:
        self.subject = access.Subject(username, "visitor", tuple(districts), "f")
        self.actor = Actor(username, "visitor", "127.0.0.1", "bench")
        self.households = households
        self.next = 0

    def body(self, introductions: bool, n: int) -> dict[str, Any]:
        household_id, person, district = self.households[self.next % len(self.households)]
        self.next += 1
        body: dict[str, Any] = {
            "household_id": household_id,
            "visited_on": dt.date.today().isoformat(),
            "outcome": "met",
            "materials": "bible:1",
            "notes": "벤치마크 방문 메모",
            "met": [person],
        }
        if introductions:
            body["introductions"] = [
                {
                    "introducer_id": person,
                    "code_name": f"벤치{n}-{k}",
                    "relation": "friend" if k else "family",
                    "district": district,
                    "phone": f"010-{1000 + n % 9000:04d}-{1000 + k:04d}",
                    "address": f"{district} 벤치로 {n}",
                }
                for k in range(2)
            ]
        return body


_WORKER: dict[str, Any] = {}


def _worker_start() -> None:
    """A client process: its own driver and keyring, as each gunicorn worker has."""
    _WORKER["db"] = Database.connect(bench_settings())
    _WORKER["keyring"] = load_keyring()


def _client_phase(job: tuple[Client, bool, int, int]) -> tuple[list[float], list[str]]:
    """One client's reports of a phase, one after another: (seconds of each, visit ids)."""
    client, introductions, reports, base = job
    db, keyring = _WORKER["db"], _WORKER["keyring"]
    times, ids = [], []
    for i in range(reports):
        body = client.body(introductions, base + i)
        t0 = time.perf_counter()
        done = visits.report(db, keyring, client.subject, client.actor, body)
        times.append(time.perf_counter() - t0)
        ids.append(done.visit_id)
    return times, ids


def phase(
    pool: Any, clients: list[Client], introductions: bool, reports: int, written: list[str], at: int
) -> list[float]:
    """Every client reports ``reports`` times at once, each client a process of its own
    (no client waits for another's Python); the seconds of each report. ``at``: where the
    clients are in their household lists."""
    for c in clients:
        c.next = at
    jobs = [(c, introductions, reports, (index + 1) * 1_000_000 + at) for index, c in enumerate(clients)]
    times: list[float] = []
    for spent, ids in pool.map(_client_phase, jobs):
        times += spent
        written += ids
    return times


def run(db: Database, args: argparse.Namespace) -> list[str]:
    note = ensure_demo(db, HOUSEHOLDS, AS_OF)
    now = dt.datetime.now(dt.UTC)
    db.write("bench_report_ensure_women", visitors=args.clients)
    rows = db.read("bench_report_visitors", visitors=args.clients, households=40 * args.clients, now=now)
    # each visitor on households of their own (visitors of one district otherwise share them)
    taken: set[str] = set()
    clients = []
    for r in rows:
        mine = [h for h in r["households"] if h[0] not in taken][:40]
        taken.update(h[0] for h in mine)
        clients.append(Client(r["username"], r["districts"], mine))
    assert len(clients) == args.clients and all(c.households for c in clients), "not enough visitors"
    for c in clients:  # shown to them, as /suggestions records it
        audit.append_now(
            db, actor=c.subject.username, role="visitor", action=SHOWN_ACTION, targets=[h[0] for h in c.households]
        )
    since = dt.datetime.now(dt.UTC)
    written: list[str] = []
    timed: dict[bool, list[float]] = {False: [], True: []}
    alone: dict[bool, list[float]] = {False: [], True: []}
    at = 0
    context = multiprocessing.get_context("spawn")  # a fresh process: no driver state copied
    try:
        with context.Pool(len(clients), initializer=_worker_start) as pool:
            for r in range(args.rounds):
                for kind in (False, True):
                    phase(pool, clients, kind, WARM, written, at)
                    at += WARM
                    say(f"round {r + 1}: {'introductions' if kind else 'plain'}")
                    timed[kind] += phase(pool, clients, kind, args.reports, written, at)
                    at += args.reports
            # information, no target: one visitor alone (the service time, without queueing)
            for kind in (False, True):
                alone[kind] += phase(pool, clients[:1], kind, args.single, written, at)
                at += args.single
    finally:
        removed = db.write("bench_report_cleanup", since=since, visits=written)
        say(f"cleaned up what the run wrote: {removed.get('nodes_deleted', 0):,} nodes")

    plain, intro = timed[False], timed[True]
    ratio = pct(intro, 95) / pct(plain, 95)
    load = os.getloadavg()
    lines = [
        f"date:      {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"machine:   {os.cpu_count()} cores; load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"data:      {note}",
        f"command:   .venv/bin/python bench/report.py --clients {args.clients} --reports {args.reports}"
        f" --rounds {args.rounds} --single {args.single}",
        f"clients:   {args.clients} visitors at once, each a process (own driver) on households of their own",
        "",
        f"{'report':<48} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}",
        f"{'-' * 48} {'-' * 5} {'-' * 8} {'-' * 8} {'-' * 8} {'-' * 8}",
    ]
    rows = [
        (f"plain (visit, met, materials, notes), {args.clients} at once", plain),
        (f"with two introductions, {args.clients} at once", intro),
        ("plain, one visitor alone (information)", alone[False]),
        ("with two introductions, one alone (information)", alone[True]),
    ]
    for name, values in rows:
        lines.append(
            f"{name:<48} {len(values):>5} {pct(values, 50):>8.1f} {pct(values, 95):>8.1f} {pct(values, 99):>8.1f}"
            f" {1000 * statistics.mean(values):>8.1f}"
        )
    p95 = pct(intro, 95)
    lines += [
        "",
        f"p95 with introductions / p95 plain = {ratio:.2f}   target <= {TARGET_RATIO:.0f}x   "
        + ("PASS" if ratio <= TARGET_RATIO else "FAIL"),
        f"p95 with introductions = {p95:.1f} ms   target < {TARGET_P95_MS:.0f} ms   "
        + ("PASS" if p95 < TARGET_P95_MS else "FAIL"),
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--reports", type=int, default=25, help="timed reports per client and phase")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two kinds")
    ap.add_argument("--single", type=int, default=40, help="reports of each kind by one visitor alone")
    args = ap.parse_args()

    with connected(bench_settings()) as (db, _started):
        lines = run(db, args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
