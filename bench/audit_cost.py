"""What auditing costs a read: p95 latency of GET /api/v1/households/<id> with and without
the audit write, side by side in one run.

Three modes, interleaved at random: "with audit" is the application as it is (the event
made durable in the audit journal before the answer, and shipped into the chain by the
process's shipper thread, which runs throughout); "without audit" replaces the view's
audit call by a no-op; "direct append" (information, no target) appends each event to the
chain in a Neo4j write transaction of its own before the answer, as the app did before
the journal (graphsvc/journal.py). After the run every journal event is shipped and the
chain is verified: each audited request left exactly one event.

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
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import accounts, audit, demo, journal, neo4j_local, shown  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

WITH, WITHOUT, FSYNC, DIRECT = "with audit", "without audit", "with audit, fsync", "direct append"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=600, help="requests per mode")
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=600, help="untimed requests per mode first")
    ap.add_argument("--clients", type=int, default=1, help="concurrent client threads")
    args = ap.parse_args()

    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = settings.with_instance("benchaudit", 7694)
    settings = replace(settings, local=replace(settings.local, heap="512m", pagecache="256m"))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
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
    import web.answers
    import web.guard
    from web import create_app

    db = Database.connect(settings)
    db.apply_schema()
    db.run_autocommit("wipe_all")
    actor = Actor("bench", "admin", "127.0.0.1", "bench")
    tables = demo.generate(args.households, seed=1, as_of=dt.date(2026, 11, 1))
    assert demo.load(db, tables, load_keyring(), actor).ok
    coordinator = next(u for u in tables["users"] if u["role"] == "coordinator")
    districts = set(coordinator["districts"].split(";"))
    ids = [h["id"] for h in tables["households"] if h["district"] in districts]
    # an imported account has no password and cannot sign in until it is given one
    accounts.add_user(
        db, actor, coordinator["username"], "coordinator", sorted(districts), "bench password 12345", adopt=True
    )
    token = accounts.create_token(db, actor, coordinator["username"], 1)

    app = create_app(settings)
    audited = web.answers.audit_shown  # what the household view audits with
    plain = db.without_journal()  # record() appends at once
    local_state = threading.local()
    call_ms: dict[str, list[float]] = {}  # the audit call alone, by mode

    def direct(action, answer, outcome="ok", **extra):
        audit.append_now(
            plain, **web.guard.actor().event(), action=action, targets=shown.ids_in(answer), outcome=outcome, **extra
        )

    def switched(*a, **kw):  # the view's audit call, per request and thread by mode
        mode = getattr(local_state, "mode", WITH)
        if mode.startswith(WITHOUT):
            return None
        t0 = time.perf_counter()
        try:
            if mode == DIRECT:
                return direct(*a, **kw)
            audited(*a, **kw)
            if mode == FSYNC:  # as GRAPHSVC_AUDIT_DURABILITY=fsync does (for this request only)
                db.journal.wait_synced()
        finally:
            call_ms.setdefault(mode, []).append((time.perf_counter() - t0) * 1000)

    def one(mode: str, household: str, client) -> float:
        local_state.mode = mode
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/households/{household}", headers={"Authorization": f"Bearer {token}"})
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, response.get_data(as_text=True)
        return elapsed

    def phase(modes: list[str]) -> tuple[dict[str, list[float]], float]:
        """The modes interleaved at random over ``args.clients`` threads."""
        samples: dict[str, list[float]] = {m: [] for m in modes}
        lock = threading.Lock()
        rng = random.Random(7)
        plan = [m for _ in range(args.requests) for m in rng.sample(modes, len(modes))]

        def worker(part: list[str], seed: int) -> None:
            client = app.test_client()
            r = random.Random(seed)
            for mode in part:
                elapsed = one(mode, r.choice(ids), client)
                with lock:
                    samples[mode].append(elapsed * 1000)

        threads = [threading.Thread(target=worker, args=(plan[i :: args.clients], i)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return samples, time.perf_counter() - t0

    web.answers.audit_shown = switched
    warm = app.test_client()
    for i in range(args.warmup):  # Neo4j's JIT and caches warm before anything is timed
        for mode in (WITH, WITHOUT, FSYNC, DIRECT):
            one(mode, ids[i % len(ids)], warm)
    audit.flush(db)  # the warm-up's events
    events_before = db.read("bench_audit_count")[0]["n"]
    # Phase 1 (the target): the app with and without its audit call. Phase 2 (information):
    # the direct append against none, in a phase of its own so that its heavier commits do
    # not disturb phase 1.
    main_samples, main_wall = phase([WITH, WITHOUT])
    info_samples, info_wall = phase([FSYNC, DIRECT, WITHOUT + " (2)"])
    web.answers.audit_shown = audited
    journal.stop_shippers()  # the app's shipper: what it holds goes into the chain now
    audit.flush(db)
    written = db.read("bench_audit_count")[0]["n"] - events_before
    expected = len(main_samples[WITH]) + len(info_samples[FSYNC]) + len(info_samples[DIRECT])
    assert written == expected, (written, expected)
    check = audit.verify(db)
    assert check.ok, check.problem

    print(
        f"machine: {os.cpu_count()} cores; Neo4j {db.ping()['version']} (heap {settings.local.heap}, "
        f"page cache {settings.local.pagecache}); demo {args.households} households; "
        f"{args.clients} client thread(s); {args.requests} requests per mode, interleaved; "
        f"phase 1 {main_wall:.1f} s, phase 2 {info_wall:.1f} s"
    )
    print(f"{'mode':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for samples in (main_samples, info_samples):
        for mode, values in samples.items():
            print(
                f"{mode:<22}{len(values):>6}{pct(values, 50):>10.2f}{pct(values, 95):>10.2f}"
                f"{pct(values, 99):>10.2f}{statistics.fmean(values):>10.2f}"
            )
    ratio = pct(main_samples[WITH], 95) / pct(main_samples[WITHOUT], 95)
    print(
        f"p95 with / without audit: {ratio:.2f}x ({(ratio - 1) * 100:+.0f}%)  target <= 1.10x: "
        f"{'PASS' if ratio <= 1.10 else 'FAIL'}"
    )
    p50 = statistics.median(main_samples[WITH]) / statistics.median(main_samples[WITHOUT])
    print(f"p50 with / without audit: {p50:.2f}x (information)")
    for mode in (FSYNC, DIRECT):
        ratio2 = pct(info_samples[mode], 95) / pct(info_samples[WITHOUT + " (2)"], 95)
        print(f"p95 {mode} / without (information): {ratio2:.2f}x")
    for mode in (WITH, FSYNC, DIRECT):
        values = call_ms[mode][-args.requests :]
        print(f"the audit call alone, {mode}: p50 {pct(values, 50):.2f} ms, p95 {pct(values, 95):.2f} ms")
    print(
        f"audit events written during the run: {written} (one per audited request); "
        f"verify over the chain: ok, {check.count} events"
    )
    db.close()


if __name__ == "__main__":
    main()
