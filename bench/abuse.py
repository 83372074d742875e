"""What one hostile client and one heavy user can cost everyone else, against a real server.

Two measurements, each side by side with the protections off ("unprotected": no failure
budget, no folding, no heavy-request slots; the code is the same, only the settings
differ) and on ("protected": the defaults), in one run:

1. **Audit events a hostile client adds per minute.** Four threads from one address, for
   ``--hostile-seconds``, without an account: API calls without a token (a different
   household id each time), calls with a bad token, form posts without a CSRF token, pages
   that need a session. Every event the server recorded is counted after the journal is
   shipped; the rate is scaled to a minute.
2. **A light read while 8 heavy maps run.** Another coordinator's household read
   (``GET /api/v1/households/<id>``, one client, 50 ms between reads): its p50/p95 on the
   idle server, then while 8 threads of one coordinator ask for heavy maps of the whole
   network (``/api/v1/network?max_nodes=10000``), the people view and the household map of
   its biggest chain, and the chain list (and honour ``Retry-After`` when refused).
   Target: the loaded p95 at most 3x the idle p95.

The server is ``graphsvc serve`` (gunicorn, ``--workers 2 --threads 2`` as ``make run`` on
this machine) on a Neo4j instance of its own (``benchabuse``, port 7695) holding the demo
network of ``--households`` (30,000 by default, as the assessors had; loaded once, kept
for the next run). Not a test: absolute times are noisy here, the ratios are the result.

    .venv/bin/python bench/abuse.py [--households 30000] [--hostile-seconds 60] [--load-seconds 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_ENV = {
    "GRAPHSVC_DATA_KEY": "kbench:" + "B" * 43,
    "GRAPHSVC_SECRET_KEY": "bench-secret-key",
    "GRAPHSVC_AUDIT_JOURNAL_KEY": "J" * 43,
    "GRAPHSVC_AUDIT_CHECKPOINT_KEY": "C" * 43,
    "GRAPHSVC_NEO4J_INSTANCE": "benchabuse",
    "GRAPHSVC_NEO4J_PORT": "7695",
}
for key, value in BENCH_ENV.items():
    os.environ.setdefault(key, value)

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import accounts, audit, demo, neo4j_local  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

OUT = ROOT / "bench" / "out"
ACTOR = Actor("bench", "admin", "127.0.0.1", "bench")
PASSWORD = "bench password 12345"
UNPROTECTED = {"GRAPHSVC_FAILURES_PER_MINUTE": "0", "GRAPHSVC_FOLD_SECONDS": "0", "GRAPHSVC_HEAVY_PER_USER": "0"}
PROTECTED: dict[str, str] = {}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- the network --------------------------------------------------------------------------


def prepare(settings, n: int) -> dict:
    """The demo of ``n`` households (loaded unless already there) and two coordinators with
    tokens: ``heavy`` (every district) and ``reader`` (one district), and a household of it."""
    with Database.connect(settings) as db:
        db.apply_schema()
        have = db.read("graph_counts")[0]["households"]
        tables = demo.generate(n, seed=1, as_of=dt.date(2026, 11, 1))
        if have != n:
            say(f"loading the demo of {n:,} households (once; kept for the next run) …")
            db.run_autocommit("wipe_all")
            started = time.perf_counter()
            assert demo.load(db, tables, load_keyring(), ACTOR, batch_size=settings.batch_size).ok
            say(f"  loaded in {time.perf_counter() - started:.0f} s")
        districts = sorted({h["district"] for h in tables["households"]})
        mine = districts[0]
        ids = [h["id"] for h in tables["households"] if h["district"] == mine][:200]
        tokens = {}
        for name, role_districts in (("bench-heavy", districts), ("bench-reader", [mine])):
            try:
                accounts.add_user(db, ACTOR, name, "coordinator", role_districts, PASSWORD)
            except accounts.AccountError:
                pass  # there from an earlier run
            tokens[name] = accounts.create_token(db, ACTOR, name, 1)
        biggest = db.read(
            "map_groups",
            districts=None,
            chains=None,
            classes=None,
            wave_min=None,
            wave_max=None,
            joined_since=None,
            joined_until=None,
            overdue_before=dt.date.today() - dt.timedelta(days=90),
        )[0]["rows"]
        chain = max(biggest, key=lambda r: r[2])
    return {"tokens": tokens, "reader_ids": ids, "big_chain_sample": chain[6], "big_chain_households": chain[2]}


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(extra_env: dict[str, str], label: str) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, **BENCH_ENV, **extra_env}
    for key in [k for k in env if k.startswith("NEO4J_")]:
        env.pop(key)
    OUT.mkdir(parents=True, exist_ok=True)
    log = (OUT / f"abuse-{label}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "graphsvc"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--threads",
            "2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"the server did not start: see {log.name}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        if own:
            conn.close()


# --- 1. a hostile client ------------------------------------------------------------------


def hostile(port: int, seconds: float, settings) -> dict:
    with Database.connect(settings) as db:
        audit.flush(db)
        before = db.read("bench_audit_count")[0]["n"]
    stop = time.monotonic() + seconds
    sent = [0]
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def attack(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.monotonic() < stop:
            n += 1
            kind = n % 4
            try:
                if kind == 0:
                    status = request(port, "GET", f"/api/v1/households/h-{k}{n:06d}", conn=conn)[0]
                elif kind == 1:
                    status = request(port, "GET", "/api/v1/me", {"Authorization": f"Bearer gs_{k}x{n}"}, conn=conn)[0]
                elif kind == 2:
                    status = request(
                        port,
                        "POST",
                        "/login",
                        {"Content-Type": "application/x-www-form-urlencoded"},
                        b"username=admin&password=guess",
                        conn=conn,
                    )[0]
                else:
                    status = request(port, "GET", f"/map?district=d{n}", conn=conn)[0]
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = -1
            with lock:
                sent[0] += 1
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=attack, args=(k,)) for k in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    time.sleep(1.5)  # the shippers' last batch
    with Database.connect(settings) as db:
        audit.flush(db)
        after = db.read("bench_audit_count")[0]["n"]
    return {
        "requests": sent[0],
        "seconds": took,
        "events": after - before,
        "events_per_minute": (after - before) / took * 60,
        "statuses": dict(sorted(statuses.items())),
    }


# --- 2. a light read under heavy maps -------------------------------------------------------


def light_reads(port: int, token: str, ids: list[str], seconds: float, gap: float = 0.05) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    out = []
    stop = time.monotonic() + seconds
    rng = random.Random(7)
    while time.monotonic() < stop:
        path = f"/api/v1/households/{rng.choice(ids)}"
        t0 = time.perf_counter()
        status = request(port, "GET", path, {"Authorization": f"Bearer {token}"}, conn=conn)[0]
        out.append(time.perf_counter() - t0)
        assert status == 200, status
        time.sleep(gap)
    conn.close()
    return out


def heavy_paths(sample: str) -> list[str]:
    return [
        "/api/v1/network?max_nodes=10000",
        f"/api/v1/network?view=people&chain_of={sample}&max_nodes=10000",
        "/api/v1/chains",
        f"/api/v1/network?chain_of={sample}&max_nodes=10000",
    ]


def heavy_load(port: int, token: str, sample: str, stop: threading.Event, result: dict) -> None:
    paths = heavy_paths(sample)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    k = 0
    while not stop.is_set():
        path = paths[k % len(paths)]
        k += 1
        t0 = time.perf_counter()
        try:
            status, headers, _ = request(port, "GET", path, {"Authorization": f"Bearer {token}"}, conn=conn)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            continue
        took = time.perf_counter() - t0
        with result["lock"]:
            result.setdefault(status, []).append(took)
        if status == 429:
            stop.wait(float(headers.get("Retry-After", "3")))


def under_load(port: int, info: dict, idle_seconds: float, load_seconds: float) -> dict:
    token = info["tokens"]["bench-reader"]
    for path in heavy_paths(info["big_chain_sample"]):  # warm up: every heavy answer once, then reads
        request(port, "GET", path, {"Authorization": f"Bearer {info['tokens']['bench-heavy']}"})
    light_reads(port, token, info["reader_ids"], 5)
    idle = light_reads(port, token, info["reader_ids"], idle_seconds)
    stop = threading.Event()
    heavy: dict = {"lock": threading.Lock()}
    threads = [
        threading.Thread(
            target=heavy_load, args=(port, info["tokens"]["bench-heavy"], info["big_chain_sample"], stop, heavy)
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(3)  # let the heavy requests fill the server
    loaded = light_reads(port, token, info["reader_ids"], load_seconds)
    stop.set()
    for t in threads:
        t.join()
    heavy.pop("lock")
    return {
        "idle": idle,
        "loaded": loaded,
        "heavy": {status: (len(v), statistics.median(v)) for status, v in sorted(heavy.items())},
    }


# --- the report -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=30_000)
    ap.add_argument("--hostile-seconds", type=float, default=60)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--load-seconds", type=float, default=60)
    args = ap.parse_args()
    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = replace(settings, local=replace(settings.local, heap="1g", pagecache="512m"))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    neo4j_local.install(local, say=lambda m: None)
    neo4j_local.start(local, say=lambda m: None)
    try:
        info = prepare(settings, args.households)
        results = {}
        for label, env in (("unprotected", UNPROTECTED), ("protected", PROTECTED)):
            with server(env, label) as port:
                say(f"{label}: a hostile client for {args.hostile_seconds:.0f} s …")
                results[label] = {"hostile": hostile(port, args.hostile_seconds, settings)}
            with server(env, label + "-load") as port:  # a fresh server: the hostile budget is spent
                say(f"{label}: a light read, idle then under 8 heavy maps …")
                results[label]["load"] = under_load(port, info, args.idle_seconds, args.load_seconds)
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)
    lines = report(results, args, info)
    text = "\n".join(lines)
    print(text)
    (OUT / "abuse.txt").write_text(text + "\n", encoding="utf-8")


def report(results: dict, args, info: dict) -> list[str]:
    u, p = results["unprotected"], results["protected"]
    lines = [
        f"machine: {os.cpu_count()} cores; demo {args.households:,} households (the biggest chain "
        f"{info['big_chain_households']:,}); graphsvc serve --workers 2 --threads 2; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        "1. audit events one hostile client adds (4 threads, one address, no account)",
        "| | unprotected | protected | ratio |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("requests", "requests sent"),
        ("events", "events recorded"),
        ("events_per_minute", "events per minute"),
    ):
        a, b = u["hostile"][key], p["hostile"][key]
        lines.append(f"| {label} | {a:,.0f} | {b:,.0f} | {b / a if a else float('nan'):.4f} |")
    lines.append(f"| answers | {json.dumps(u['hostile']['statuses'])} | {json.dumps(p['hostile']['statuses'])} | |")
    lines += [
        "",
        "2. a light read (GET /api/v1/households/<id>, another coordinator) idle and under 8 heavy "
        "map requests of one coordinator",
        "| | unprotected | protected |",
        "|---|---|---|",
    ]
    for r in (u, p):
        r["ms"] = {
            k: (1000 * pct(r["load"][k], 50), 1000 * pct(r["load"][k], 95), len(r["load"][k]))
            for k in ("idle", "loaded")
        }
    for k in ("idle", "loaded"):
        lines.append(
            f"| {k}: p50 / p95 ms (reads) | "
            + " | ".join(f"{r['ms'][k][0]:.1f} / {r['ms'][k][1]:.1f} ({r['ms'][k][2]})" for r in (u, p))
            + " |"
        )
    ratios = [r["ms"]["loaded"][1] / r["ms"]["idle"][1] for r in (u, p)]
    lines.append(f"| loaded p95 / idle p95 (target <= 3) | {ratios[0]:.1f} | {ratios[1]:.1f} |")
    lines.append(
        "| heavy answers: status (count, median s) | "
        + " | ".join(", ".join(f"{s}: {n} × {m:.2f} s" for s, (n, m) in r["load"]["heavy"].items()) for r in (u, p))
        + " |"
    )
    lines.append("")
    lines.append(
        f"verdict: hostile events per minute {u['hostile']['events_per_minute']:,.0f} → "
        f"{p['hostile']['events_per_minute']:,.0f}; light p95 under load {ratios[1]:.1f}x idle "
        f"({'meets' if ratios[1] <= 3 else 'MISSES'} the 3x target)"
    )
    return lines


if __name__ == "__main__":
    main()
