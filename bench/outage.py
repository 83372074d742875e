"""Neo4j killed under load (issue 14 §2): the web app as it is, and as it was before the
bounded waits, side by side in one run.

Each side: gunicorn (2 workers × 2 threads) on a local instance of the bench's own, eight
clients reporting visits (a moment between two reports), a monitor asking /healthz and
/readyz; the server is killed with SIGKILL after the clients are warm, started again 6 s
later, and the load goes on for ``--after`` seconds once it is ready. Printed: answers by
status, the slowest answer, when /readyz said 503 after the kill, the slowest health
answer, when writes succeeded again after Neo4j was ready, and whether any acknowledged
write was lost or any write answered 503 (or given up by its client) was committed.

"Before" is the same code with the driver's own retries (30 s, backoff to 16 s), no
deadline and no breaker, under gunicorn's plain threaded worker (bench/outage_before.py).
tests/test_outage.py runs the "now" side with its assertions.

    .venv/bin/python bench/outage.py [--after 12] [--deadline 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIENTS = 8


@dataclass
class Answer:
    sent: float
    took: float
    status: int
    body: dict
    retry_after: str | None
    marker: str = ""


@dataclass
class Outage:
    """What one run saw (times: time.monotonic)."""

    killed: float = 0.0
    ready: float = 0.0
    writes: list[Answer] = field(default_factory=list)
    health: list[tuple[str, Answer]] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)

    @property
    def acknowledged(self) -> list[Answer]:
        return [a for a in self.writes if a.status == 201]

    @property
    def refused(self) -> list[Answer]:
        return [a for a in self.writes if a.status == 503]

    def figures(self, client_timeout: float) -> dict[str, float | int | None]:
        ready_503 = [
            a.sent + a.took for p, a in self.health if p == "/readyz" and a.status == 503 and a.sent >= self.killed
        ]
        back = [a.sent + a.took for a in self.acknowledged if a.sent >= self.ready]  # answered
        given_up = {a.marker for a in self.writes if a.status == 0}  # the client's timeout
        return {
            "writes": len(self.writes),
            "201": len(self.acknowledged),
            "503": len(self.refused),
            "other": sum(a.status not in (201, 503, 0) for a in self.writes),
            "client gave up": len(given_up),
            "slowest answer (s)": max(a.took for a in self.writes),
            "/readyz 503 after the kill (s)": min(ready_503) - self.killed if ready_503 else None,
            "slowest health answer (s)": max(a.took for _, a in self.health),
            "first 201 after Neo4j ready (s)": min(back) - self.ready if back else None,
            "acknowledged and lost": len({a.marker for a in self.acknowledged} - self.stored),
            "503 yet committed": len({a.marker for a in self.refused} & self.stored),
            "given up yet committed": len(given_up & self.stored),
        }


def call(
    url: str, method: str = "GET", body: dict | None = None, token: str | None = None, timeout: float = 30
) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    sent = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, retry = response.status, response.read(), response.headers.get("Retry-After")
            ctype = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        status, raw, retry = err.code, err.read(), err.headers.get("Retry-After")
        ctype = err.headers.get("Content-Type", "")
    except OSError:  # the client's own timeout: it gives up, as a phone on a bad line does
        return Answer(sent, time.monotonic() - sent, 0, {}, None)
    took = time.monotonic() - sent
    body_out = json.loads(raw) if ctype.startswith("application/json") else {"html": raw[:200].decode(errors="replace")}
    return Answer(sent, took, status, body_out, retry)


def run(url: str, local, token: str, after: float, client_timeout: float) -> Outage:
    """Load ``url``, kill ``local``'s Neo4j, start it again, load ``after`` more seconds."""
    from graphsvc import neo4j_local
    from tests.helpers import kill_neo4j

    seen = Outage()
    stop = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            marker = f"정전-{n}-{i}"
            body = {
                "household_id": "h-001" if n % 2 else "h-002",
                "visited_on": "2026-11-20",
                "outcome": "met",
                "new_members": [{"code_name": marker}],
            }
            answer = call(url + "/api/v1/visits", "POST", body, token, timeout=client_timeout)
            answer.marker = marker
            with lock:
                seen.writes.append(answer)
            # field workers, not a load generator: a moment between two reports, a little
            # more after a 503 (its Retry-After says 2 s)
            time.sleep(0.5 if answer.status in (0, 503) else 0.2)

    def monitor() -> None:
        while not stop.is_set():
            for path in ("/healthz", "/readyz"):
                answer = call(url + path, timeout=client_timeout)
                with lock:
                    seen.health.append((path, answer))
            time.sleep(0.1)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=monitor))
    for thread in threads:
        thread.start()
    try:
        warm = time.monotonic() + 60  # every worker has connected and written
        while len(seen.acknowledged) < 2 * CLIENTS and time.monotonic() < warm:
            time.sleep(0.2)
        time.sleep(2)
        seen.killed = time.monotonic()
        kill_neo4j(local)
        time.sleep(6)
        neo4j_local.start(local, say=lambda _m: None)
        seen.ready = time.monotonic()
        time.sleep(after)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=client_timeout + 30)
    return seen


def prepare(settings) -> str:
    """An empty database with the small network and its accounts; a token of the visitor."""
    import shutil
    import tempfile

    from graphsvc import accounts
    from graphsvc.db import Database
    from tests.helpers import ACTOR, FIXTURES, empty, import_small, keyring

    with Database.connect(settings) as db, tempfile.TemporaryDirectory() as tmp:
        empty(db)
        db.apply_schema()
        shutil.copytree(FIXTURES / "small", Path(tmp) / "small")
        import_small(db, Path(tmp) / "small", keyring())
        return accounts.create_token(db, ACTOR, "minji", 1)


def stored_markers(settings) -> set[str]:
    from graphsvc.db import Database

    with Database.connect(settings) as db:
        return {row["code_name"] for row in db.read("test_person_code_names")}


@contextmanager
def before_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """gunicorn as `graphsvc serve` ran it before issue 14, on bench/outage_before.py's app."""
    from tests.helpers import free_port

    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    args = [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2"]
    args += ["--worker-class", "gthread", "--no-control-socket", "--pythonpath", str(ROOT / "bench")]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*args, "outage_before:app"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while call(url + "/readyz", timeout=5).status != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the 'before' server did not start:\n" + log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--after", type=float, default=12.0, help="seconds of load once Neo4j is ready again")
    parser.add_argument("--deadline", type=float, default=8.0, help="GRAPHSVC_REQUEST_DEADLINE of the 'now' side")
    parser.add_argument("--client-timeout", type=float, default=30.0, help="seconds a client waits before giving up")
    args = parser.parse_args()
    os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)

    from graphsvc import neo4j_local
    from graphsvc.config import load_settings
    from tests.helpers import CYPHER_EXTRA, serving, test_env

    env = {**test_env(), "GRAPHSVC_NEO4J_INSTANCE": "benchoutage", "GRAPHSVC_NEO4J_PORT": "7691"}
    env.pop("NEO4J_URI", None)
    settings = replace(load_settings(env), cypher_extra=CYPHER_EXTRA)
    if not neo4j_local.is_installed(settings.local):
        neo4j_local.install(settings.local)
    neo4j_local.start(settings.local)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for side in ("before", "now"):
            token = prepare(settings)
            side_env = {**env, "GRAPHSVC_REQUEST_DEADLINE": str(args.deadline)}
            if side == "before":
                context = before_server(side_env, out / "outage-before.log")
            else:
                context = serving(side_env, out / "outage-now.log", "--workers", "2", "--threads", "2")
            with context as url:
                seen = run(url, settings.local, token, args.after, args.client_timeout)
            seen.stored = stored_markers(settings)
            results[side] = seen.figures(args.client_timeout)
            print(f"{side}: done", flush=True)
    finally:
        neo4j_local.stop(settings.local)
    load = Path("/proc/loadavg").read_text().split()[:3]
    title = f"Neo4j killed under 8 writing clients (deadline {args.deadline:g} s"
    print(f"\n{title}, clients wait {args.client_timeout:g} s; load average {' '.join(load)})")
    print(f"{'':36} {'before':>10} {'now':>10}")
    for key in results["now"]:
        row = [results[s][key] for s in ("before", "now")]
        print(f"{key:36} " + " ".join(f"{v:>10.2f}" if isinstance(v, float) else f"{str(v):>10}" for v in row))


if __name__ == "__main__":
    main()
