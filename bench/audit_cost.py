"""What auditing costs a read: p95 latency of GET /api/v1/households/<id> with and without
the audit write, side by side in one run.

Not a test. The app runs in-process (Flask's test client: no network, no gunicorn, so the
audit's share is if anything over-stated) against a Neo4j instance of its own holding a
demo network. Requests alternate between the two modes in random order, so that drift
and noise fall on both alike. "Without" replaces the view's audit call by a no-op in this
process only; the application has no switch to turn auditing off.

    .venv/bin/python bench/audit_cost.py [--requests 600] [--households 2000] [--clients 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from graphsvc import accounts, csvio, demo, importer, neo4j_local  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=600, help="requests per mode")
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=1, help="concurrent client threads")
    args = ap.parse_args()

    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = settings.with_instance("benchaudit", 7694)
    settings = replace(settings, local=replace(settings.local, heap="512m", pagecache="256m"))
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    neo4j_local.install(local, say=lambda m: None)
    neo4j_local.start(local, say=lambda m: None)
    try:
        run(settings, args)
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)


def run(settings, args) -> None:
    import web.views
    from web import create_app

    db = Database.connect(settings)
    db.apply_schema()
    db.run_autocommit("wipe_all")
    actor = Actor("bench", "admin", "127.0.0.1", "bench")
    tables = demo.generate(args.households, seed=1, as_of=dt.date(2026, 11, 1))
    with tempfile.TemporaryDirectory() as tmp:
        for name, table in csvio.TABLES.items():
            csvio.write_table(Path(tmp) / table.filename, table, tables[name])
        assert importer.import_folder(db, Path(tmp), load_keyring(), actor).ok
    coordinator = next(u for u in tables["users"] if u["role"] == "coordinator")
    districts = set(coordinator["districts"].split(";"))
    ids = [h["id"] for h in tables["households"] if h["district"] in districts]
    # an imported account has no password and cannot sign in until it is given one
    accounts.add_user(db, actor, coordinator["username"], "coordinator", sorted(districts), "bench password 12345")
    token = accounts.create_token(db, actor, coordinator["username"], 1)

    app = create_app(settings)
    audited = web.views.record
    lock = threading.Lock()
    samples: dict[str, list[float]] = {"with audit": [], "without audit": []}
    rng = random.Random(7)
    plan = [m for _ in range(args.requests) for m in rng.sample(["with audit", "without audit"], 2)]

    def one(mode: str, household: str, client) -> float:
        # the switch is per request and per thread: a no-op audit only for "without" requests
        local_state.skip = mode == "without audit"
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/households/{household}", headers={"Authorization": f"Bearer {token}"})
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, response.get_data(as_text=True)
        return elapsed

    local_state = threading.local()

    def maybe_record(*a, **kw):
        if getattr(local_state, "skip", False):
            return None
        return audited(*a, **kw)

    web.views.record = maybe_record
    warm = app.test_client()
    for household in ids[:50]:
        one("with audit", household, warm)
        one("without audit", household, warm)

    events_before = db.read("bench_audit_count")[0]["n"]

    def worker(part: list[str], seed: int) -> None:
        client = app.test_client()
        r = random.Random(seed)
        for mode in part:
            elapsed = one(mode, r.choice(ids), client)
            with lock:
                samples[mode].append(elapsed * 1000)

    chunks = [plan[i::args.clients] for i in range(args.clients)]
    threads = [threading.Thread(target=worker, args=(chunk, i)) for i, chunk in enumerate(chunks)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    web.views.record = audited
    written = db.read("bench_audit_count")[0]["n"] - events_before
    assert written == len(samples["with audit"]), (written, len(samples["with audit"]))

    print(f"machine: {os.cpu_count()} cores; Neo4j {db.ping()['version']} (heap {settings.local.heap}, "
          f"page cache {settings.local.pagecache}); demo {args.households} households; "
          f"{args.clients} client thread(s); {args.requests} requests per mode, interleaved; {wall:.1f} s")
    print(f"{'mode':<16}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for mode, values in samples.items():
        print(f"{mode:<16}{len(values):>6}{pct(values, 50):>10.2f}{pct(values, 95):>10.2f}"
              f"{pct(values, 99):>10.2f}{statistics.fmean(values):>10.2f}")
    with_p95, without_p95 = pct(samples["with audit"], 95), pct(samples["without audit"], 95)
    ratio = with_p95 / without_p95
    print(f"p95 with / without audit: {ratio:.2f}x (+{(ratio - 1) * 100:.0f}%)  target <= 1.10x: "
          f"{'PASS' if ratio <= 1.10 else 'FAIL'}")
    print(f"audit events written during the run: {written} (one per audited request)")
    db.close()


if __name__ == "__main__":
    main()
