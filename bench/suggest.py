"""What a visitor's suggestions cost on the 100,000-household demo: p50/p95/p99 latency of
three ways to get a visitor's best 10 households, side by side in one run.

Not a test. Runs against the Neo4j instance ``bench`` (bolt 7689; started here and
stopped at the end only if this script started it), which should hold
``demo.generate(100000, seed=1, as_of=dt.date.today())`` with its derived data (chain
index, visit summary). The script checks the household count and the visit summary; it
refreshes the summary if missing and reloads the demo (wipe + import) only when the
household count is wrong.

Each request is for a random visitor of the biggest district (서울 노원구), limit 10, from
``--clients`` concurrent client threads (default 8) on loopback. The modes run in separate
timed phases (a, b, c: each a warm-up, then its requests), so that the heavy naive mode
does not load the machine while the others are timed:

(a) floor: the candidate Cypher alone: for each visitor, exactly the statements
    ``suggest.suggest`` runs for them, with the same parameters (recorded from one call of
    suggest() per visitor before the timed phases), through one shared Database (driver
    pool). On this demo that is one ``suggest_warm`` per request (the report counts them):
    the warm candidates with their introduction paths, which fill every top 10;
(a2) information, no target: ``suggest_candidates`` alone (the cold candidates, k = limit +
    5), which the earlier runs of this benchmark used as the floor although suggest() did
    not run it for these visitors;
(b) the endpoint: ``GET /api/v1/suggestions?limit=10`` over HTTP to gunicorn
    (``graphsvc serve`` as ``make run`` starts it: one process per core, 2 threads each;
    log in bench/out/suggest-http.log), personal access tokens, one keep-alive http.client
    connection per thread. Includes auth, the whole ``suggest()`` (all its rounds), the
    audit write and JSON;
(c) naive: per request, one Cypher loads the households, members and introductions of
    the visitor's districts, networkx builds the graph, BFS (up to 3 hops) from the
    visitor's anchors, ``suggest.rank`` ranks every candidate.

The visitors' accounts are enabled and given a token for the run; afterwards the tokens
are revoked and accounts that were disabled before are disabled again (audit events of
those account changes stay, as the audit log is append-only).

The one-client rows of (a) and (b) (``--single-requests``) carry no target: they show the
service time of a request without the queueing of 8 clients.
(c) defaults to 160 timed requests: each takes seconds of CPU on a 2-core machine.

    .venv/bin/python bench/suggest.py [--requests 400] [--naive-requests 160] [--clients 8]
                                      [--single-requests 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

import networkx as nx  # noqa: E402
from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import accounts, demo, neo4j_local, suggest  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import cli_actor  # noqa: E402

OUT = ROOT / "bench" / "out"
DISTRICT = "서울 노원구"
HOUSEHOLDS = 100_000
LIMIT = 10
WARMUP = 400  # requests per mode before timing (a fresh JVM is 2-3x slower)
HEAP, PAGECACHE = "1g", "768m"  # when this script starts the instance

NAIVE_LOAD = """
OPTIONAL MATCH (u:User {username: $username})
CALL (u) {
  OPTIONAL MATCH (u)-[:IS]->(p:Person)
  RETURN collect(p.id) AS me
}
CALL (u) {
  OPTIONAL MATCH (u)-[:MADE]->(v:Visit)-[:AT]->(h:Household)
  RETURN collect([h.id, toString(v.on), v.outcome]) AS visits
}
CALL () {
  OPTIONAL MATCH (c:Claim)
  WHERE c.expires_at > $now AND c.ended_at IS NULL AND c.username <> $username
  RETURN collect(c.household_id) AS claimed
}
CALL () {
  MATCH (h:Household) WHERE h.district IN $districts
  OPTIONAL MATCH (h)<-[:MEMBER_OF]-(p:Person)
  WITH h, collect([p.id, p.code_name]) AS members
  RETURN collect([h.id, h.code, h.district, toString(h.arrived_on), toString(h.joined_on),
                  toString(h.last_visit_on), toString(h.follow_up_on), coalesce(h.failed_attempts, 0),
                  h.status, coalesce(h.women_only, false), members]) AS households
}
CALL () {
  MATCH (h:Household)<-[:MEMBER_OF]-(p:Person)-[:INTRODUCED]->(q:Person)
  WHERE h.district IN $districts
  RETURN collect([p.id, q.id]) AS edges
}
RETURN me, visits, claimed, households, edges
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the three modes ------------------------------------------------------------------------


def floor_params(visitor: suggest.Visitor, today: dt.date, w: suggest.Weights) -> dict:
    """As suggest.suggest builds them for its first cold fetch (k = limit + 5)."""
    return {
        "username": visitor.username,
        "districts": list(visitor.districts),
        "gender": visitor.gender,
        "today": today,
        "overdue_before": today - dt.timedelta(days=w.follow_up_days),
        "newcomer_since": today - dt.timedelta(days=w.newcomer_days),
        "follow_up_days": w.follow_up_days,
        "now": dt.datetime.now(dt.UTC),
        "declined_since": dt.datetime.now(dt.UTC) - dt.timedelta(days=suggest.DECLINED_DAYS),
        "k": LIMIT + 5,
    }


def naive(db: Database, visitor: suggest.Visitor, today: dt.date, w: suggest.Weights) -> list:
    """Load the districts' graph, BFS from the anchors in networkx, rank every candidate."""
    with db.driver.session(database=db.database, default_access_mode="READ") as session:
        rec = session.run(
            NAIVE_LOAD,
            username=visitor.username,
            districts=list(visitor.districts),
            now=dt.datetime.now(dt.UTC),
        ).single()
    overdue_before = today - dt.timedelta(days=w.follow_up_days)
    g = nx.Graph()
    household_of: dict[str, str] = {}
    hh: dict[str, list] = {}
    names: dict[str, str] = {}
    for row in rec["households"]:
        hh[row[0]] = row
        for pid, code_name in row[10]:
            if pid is not None:
                g.add_node(pid)
                household_of[pid] = row[0]
                names[pid] = code_name
    g.add_edges_from(rec["edges"])
    recent, met = set(), {}
    for hid, on, outcome in rec["visits"]:
        if hid is None:
            continue
        day = dt.date.fromisoformat(on)
        if day >= overdue_before:
            recent.add(hid)
        if outcome == "met" and (hid not in met or met[hid] < day):
            met[hid] = day
    own = {household_of[p] for p in rec["me"] if p in household_of}
    excluded = recent | own | set(rec["claimed"])
    anchors = [(p, None) for p in rec["me"] if p in g]
    anchors += [
        (p[0], met[hid])
        for hid in sorted(met, key=lambda h: met[h], reverse=True)
        if hid in hh
        for p in hh[hid][10]
        if p[0] is not None
    ]

    candidates = []
    for hid, row in hh.items():
        last_visit = row[5] and dt.date.fromisoformat(row[5])
        follow_up = row[6] and dt.date.fromisoformat(row[6])
        due = last_visit is None or last_visit < overdue_before or (follow_up is not None and follow_up <= today)
        if row[8] == "active" and due and hid not in excluded and (visitor.gender == "f" or not row[9]):
            candidates.append(suggest.Candidate.from_row(row[:8]))
    eligible = {c.household_id for c in candidates}

    # BFS from each anchor (own person first, then the latest visits): shortest path wins
    warm: dict[str, suggest.WarmPath] = {}
    for anchor, visited_on in anchors:
        anchor_household = household_of.get(anchor)
        paths = nx.single_source_shortest_path(g, anchor, cutoff=3)
        for person, path in paths.items():
            hops = len(path) - 1
            hid = household_of.get(person)
            if hops == 0 or hid not in eligible or hid == anchor_household:
                continue
            if hid in warm and warm[hid].hops <= hops:
                continue
            steps = tuple(
                suggest.PathStep(
                    p,
                    names.get(p),
                    household_of.get(p),
                    hh[household_of[p]][1] if p in household_of else None,
                    hh[household_of[p]][2] if p in household_of else None,
                )
                for p in path
            )
            warm[hid] = suggest.WarmPath(hops, visited_on, steps)
    return suggest.rank(candidates, warm, visitor, today, w, LIMIT)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, token: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Connection": "keep-alive"})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closes idle keep-alive connections; reconnect once
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


# --- the run ----------------------------------------------------------------------------


def ensure_demo(db: Database, settings, say) -> str:
    n = db.driver.execute_query("MATCH (h:Household) RETURN count(h) AS n", database_=db.database).records[0]["n"]
    note = f"bench holds {n:,} households"
    if n != HOUSEHOLDS:
        say(f"{note}: reloading the demo (wipe + import)")
        db.apply_schema()
        db.run_autocommit("wipe_all")
        tables = demo.generate(HOUSEHOLDS, seed=1, as_of=dt.date.today())
        assert demo.load(db, tables, load_keyring(), cli_actor()).ok
        note += " -> reloaded"
    summarised = db.driver.execute_query(
        "MATCH (h:Household) WHERE h.unvisited_since IS NOT NULL OR h.last_visit_on IS NOT NULL RETURN count(h) AS n",
        database_=db.database,
    ).records[0]["n"]
    note += f"; visit summary on {summarised:,}"
    if summarised != HOUSEHOLDS:
        say("refreshing the visit summary")
        note += f" -> refreshed {suggest.refresh_visit_summary(db):,}"
    return note


def timed_phase(name: str, plan: list, clients: int, make_state, call, samples: dict) -> float:
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(part: list) -> None:
        state = make_state()
        try:
            for item in part:
                t0 = time.perf_counter()
                call(state, item)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    samples[name].append(elapsed)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(plan[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400, help="timed requests for (a) and (b)")
    ap.add_argument("--naive-requests", type=int, default=160, help="timed requests for (c)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument(
        "--single-requests",
        type=int,
        default=200,
        help="timed requests of the one-client rows of (a) and (b) (information, no target)",
    )
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = settings.with_instance("bench", 7689)
    # as bench/import.py, which fills this instance: the 100k store (~260 MB) fits the page cache
    settings = replace(settings, local=replace(settings.local, heap=HEAP, pagecache=PAGECACHE))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    if started:
        neo4j_local.install(local, say=lambda m: None)
        neo4j_local.start(local, say=lambda m: None)
    try:
        lines = run(settings, args, say, started)
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "suggest.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(settings, args, say, started: bool) -> list[str]:
    db = Database.connect(settings, max_connection_pool_size=max(16, args.clients * 2))
    note = ensure_demo(db, settings, say)
    today = dt.date.today()
    w = suggest.Weights.from_settings(settings)
    rows = db.driver.execute_query(
        "MATCH (u:User {role: 'visitor'}) WHERE $d IN u.districts "
        "RETURN u.username AS username, u.districts AS districts, u.gender AS gender, "
        "coalesce(u.enabled, false) AS enabled ORDER BY username",
        d=DISTRICT,
        database_=db.database,
    ).records
    visitors = [suggest.Visitor(r["username"], tuple(r["districts"]), r["gender"]) for r in rows]
    was_enabled = {r["username"]: r["enabled"] for r in rows}
    say(f"{note}; {len(visitors)} visitors of {DISTRICT}")

    actor = cli_actor()
    tokens: dict[str, str] = {}
    samples: dict[str, list[float]] = {
        "a floor (Cypher)": [],
        "a2 cold candidates (info)": [],
        "b endpoint (HTTP)": [],
        "c naive (networkx)": [],
        "a floor, 1 client": [],
        "b endpoint, 1 client": [],
    }
    walls: dict[str, float] = {}
    log_path = OUT / "suggest-http.log"
    OUT.mkdir(parents=True, exist_ok=True)
    server = None
    sizes: list[int] = []
    try:
        for v in visitors:
            if not was_enabled[v.username]:
                accounts.set_enabled(db, actor, v.username, True)
            tokens[v.username] = accounts.create_token(db, actor, v.username, 1)

        port = free_port()
        env = dict(os.environ)
        for line in subprocess.run(
            [str(ROOT / ".venv/bin/graphsvc"), "neo4j", "--instance", "bench", "env"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines():
            key, _, value = line.partition("=")
            if key.startswith("NEO4J_"):
                env[key] = value
        log = open(log_path, "w", encoding="utf-8")
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/graphsvc"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],  # the workers and threads of `make run`
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        probe_token = tokens[visitors[0].username]
        deadline = time.time() + 60
        while True:
            try:
                status, body = Client(port).get("/api/v1/me", probe_token)
                if status == 200:
                    break
                raise RuntimeError(f"/api/v1/me: {status} {body[:200]!r}")
            except (ConnectionRefusedError, OSError):
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"gunicorn did not come up; see {log_path}") from None
                time.sleep(0.3)
        say(f"gunicorn up on port {port}")

        rng = random.Random(11)

        def plan(n: int) -> list:
            return [rng.choice(visitors) for _ in range(n)]

        # (a) floor: the statements suggest() runs for the visitor, recorded once, replayed
        statements: dict[str, list[tuple[str, dict]]] = {}
        plain_read = db.read
        for v in visitors:
            ran: list[tuple[str, dict]] = []
            db.read = lambda name, **params: (ran.append((name, params)), plain_read(name, **params))[1]
            try:
                suggest.suggest(db, v, today, LIMIT, w)
            finally:
                db.read = plain_read
            statements[v.username] = ran

        def call_a(_state, v):
            for name, params in statements[v.username]:
                db.read(name, **params)

        # (a2) information: the cold candidates alone (the floor of the earlier runs)
        def call_a2(_state, v):
            db.read("suggest_candidates", **floor_params(v, today, w))

        # (b) endpoint
        def call_b(client, v):
            status, body = client.get(f"/api/v1/suggestions?limit={LIMIT}", tokens[v.username])
            assert status == 200, (status, body[:300])
            sizes.append(len(json.loads(body)["suggestions"]))

        # (c) naive
        def call_c(_state, v):
            naive(db, v, today, w)

        phases = [
            ("a floor (Cypher)", lambda: None, call_a, args.requests),
            ("a2 cold candidates (info)", lambda: None, call_a2, args.requests),
            ("b endpoint (HTTP)", lambda: Client(port), call_b, args.requests),
            ("c naive (networkx)", lambda: None, call_c, args.naive_requests),
            # for reading (b): the service time without queueing
            ("a floor, 1 client", lambda: None, call_a, args.single_requests),
            ("b endpoint, 1 client", lambda: Client(port), call_b, args.single_requests),
        ]
        for name, make_state, call, n in phases:
            clients = 1 if "1 client" in name else args.clients
            say(f"{name}: warm-up")
            warm: dict[str, list[float]] = {name: []}
            timed_phase(name, plan(WARMUP if not name.startswith("c") else 16), clients, make_state, call, warm)
            say(f"{name}: {n} timed requests")
            walls[name] = timed_phase(name, plan(n), clients, make_state, call, samples)
            say(f"{name}: {walls[name]:.1f} s")

        # agreement: does the naive ranking give the same households as suggest()?
        same = 0
        check = visitors[:: max(1, len(visitors) // 10)][:10]
        queries: dict[str, int] = {}
        for ran in statements.values():
            for name, _params in ran:
                queries[name] = queries.get(name, 0) + 1
        for v in check:
            fast = [s.household_id for s in suggest.suggest(db, v, today, LIMIT, w)]
            slow = [s.household_id for s in naive(db, v, today, w)]
            same += fast == slow
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        for v in visitors:
            if v.username in tokens:
                accounts.revoke_tokens(db, actor, v.username)
            if not was_enabled.get(v.username, True) and v.username in tokens:
                accounts.set_enabled(db, actor, v.username, False)

    version = db.ping()["version"]
    memory = {r["name"]: r["value"] for r in db.read("bench_server_memory")}
    db.close()
    load = os.getloadavg()
    lines = [
        f"machine: {os.cpu_count()} cores, load {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} at end; Neo4j {version} "
        f"instance bench (bolt 7689, {'started here' if started else 'already running'}, heap "
        f"{memory.get('server.memory.heap.max_size')}, "
        f"page cache {memory.get('server.memory.pagecache.size')}); {note}; "
        f"{len(visitors)} visitors of {DISTRICT}; limit {LIMIT}; {args.clients} client threads on loopback; "
        f"separate timed phases a, b, c, then a and b with 1 client (warm-up each); "
        f"graphsvc serve's defaults ({os.cpu_count()} cores: "
        f"{max(2, os.cpu_count() or 1)} workers x 2 threads); "
        + "; ".join(f"{k} {walls[k]:.1f} s ({len(samples[k]) / walls[k]:.1f} req/s)" for k in samples),
        f"{'mode':<24}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}",
    ]
    for mode, values in samples.items():
        lines.append(
            f"{mode:<24}{len(values):>6}{pct(values, 50):>10.2f}{pct(values, 95):>10.2f}"
            f"{pct(values, 99):>10.2f}{statistics.fmean(values):>10.2f}"
        )
    a95, b95 = pct(samples["a floor (Cypher)"], 95), pct(samples["b endpoint (HTTP)"], 95)
    c95 = pct(samples["c naive (networkx)"], 95)
    lines.append(f"p95 endpoint {b95:.2f} ms  target < 50 ms: {'PASS' if b95 < 50 else 'FAIL'}")
    lines.append(f"p95 endpoint / p95 floor: {b95 / a95:.2f}x  target <= 2x: {'PASS' if b95 <= 2 * a95 else 'FAIL'}")
    cold95 = pct(samples["a2 cold candidates (info)"], 95)
    lines.append(f"p95 endpoint / p95 cold candidates alone (information, the earlier floor): {b95 / cold95:.2f}x")
    lines.append(f"p95 naive / p95 endpoint: {c95 / b95:.1f}x")
    lines.append(
        f"queries suggest() ran for the {len(visitors)} visitors (one call each): "
        + ", ".join(f"{k} {n}" for k, n in sorted(queries.items()))
    )
    lines.append(
        f"endpoint answers with {min(sizes)}..{max(sizes)} suggestions; naive ranking equal to "
        f"suggest() for {same}/{len(check)} visitors checked"
    )
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
