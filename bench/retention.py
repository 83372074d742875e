"""Retention's cost to `audit verify`, side by side in one run, and the cost of the removal.

    .venv/bin/python bench/retention.py [--events 200000] [--instance NAME --port PORT] [--keep]

On a local instance (default `retention`, port 7717; it is EMPTIED), the same
plausible events (bench/audit.py fake_events: ids only, one every ~30 s from 2025-01-01):

1. sealed as format 1 (the code before retention: main's graphsvc/audit.py, loaded from git)
   and verified by that old code and by the new one;
2. sealed as format 2 (salted digests of ip, user_agent and detail) and verified by the new
   code;
3. their details removed by retention (graphsvc/retention.py, all events older than the
   limit, batches of 1,000) and verified again.

Prints seconds and events/s of each verify (the better of two runs) and the ratios to the
old code on format 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from audit import BATCH, fake_events  # noqa: E402  (bench/audit.py)
from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402

from graphsvc import audit, neo4j_local, retention  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def old_code(root: Path, where: Path) -> tuple[ModuleType, Path]:
    """main's graphsvc/audit.py (as module graphsvc.audit_before) and its cypher folder."""
    cypher = where / "cypher"
    cypher.mkdir()
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", "main", "graphsvc/cypher/"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        text = subprocess.run(["git", "show", f"main:{name}"], cwd=root, capture_output=True, text=True, check=True)
        (cypher / Path(name).name).write_text(text.stdout, encoding="utf-8")
    source = subprocess.run(
        ["git", "show", "main:graphsvc/audit.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    path = where / "audit_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("graphsvc.audit_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["graphsvc.audit_before"] = module
    spec.loader.exec_module(module)
    return module, cypher


def fill(db: Database, rows) -> int:
    batch: list[dict] = []
    last = None
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            db.write("bench_audit_insert", rows=batch)
            last, batch = batch[-1], []
    if batch:
        db.write("bench_audit_insert", rows=batch)
        last = batch[-1]
    assert last is not None
    db.write("bench_audit_set_head", seq=last["seq"], hash=last["hash"])
    return int(last["seq"])


def best(verify, db: Database, n: int) -> float:
    runs = []
    for _ in range(2):
        result = verify(db)
        if not result.ok or result.count != n:
            raise SystemExit(f"verify FAILED on a valid log: {result}")
        runs.append(result.seconds)
    return min(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--instance", default="retention")
    parser.add_argument("--port", type=int, default=7717)
    parser.add_argument("--keep", action="store_true", help="do not stop the server at the end")
    args = parser.parse_args()
    n = args.events

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "GRAPHSVC_NEO4J"))}
    settings = load_settings(env).with_instance(args.instance, args.port)
    settings = replace(settings, local=replace(settings.local, heap="512m", pagecache="256m"))
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)
    local = settings.local
    with tempfile.TemporaryDirectory() as tmp:
        before, before_cypher = old_code(HERE.parent, Path(tmp))
        neo4j_local.install(local, say=say)
        neo4j_local.start(local, say=say)
        try:
            with (
                Database.connect(settings) as db,
                Database.connect(replace(settings, cypher_dir=before_cypher)) as db_before,
            ):
                server = db.ping()
                times: dict[str, float] = {}

                say(f"format 1: filling {n:,} events …")
                db.run_autocommit("wipe_all")
                db.apply_schema()
                fill(db, before.chain_events(fake_events(n)))
                say("verify (code before retention) …")
                times["format 1, code before"] = best(before.verify, db_before, n)
                say("verify (new code) …")
                times["format 1, new code"] = best(audit.verify, db, n)

                say(f"format 2: filling {n:,} events …")
                db.run_autocommit("wipe_all")
                db.apply_schema()
                fill(db, audit.chain_events(fake_events(n)))
                times["format 2, new code"] = best(audit.verify, db, n)

                say("retention: removing the details of every event …")
                t = time.perf_counter()
                removed, _ = retention.remove_audit_details(db, 30, now=dt.datetime.now(dt.UTC))
                removal = time.perf_counter() - t
                times["format 2 after retention"] = best(audit.verify, db, n + 1)  # + its event
        finally:
            if not args.keep:
                neo4j_local.stop(local, say=say)

    base = times["format 1, code before"]
    print(
        f"retention benchmark — Neo4j {server['version']} {server['edition']}, heap {local.heap}, page cache "
        f"{local.pagecache}; Python {platform.python_version()}, {os.cpu_count()} CPUs; {n:,} events"
    )
    for label, seconds in times.items():
        print(f"verify  {label:<26} {seconds:6.2f} s = {n / seconds:>9,.0f} events/s   ×{seconds / base:.2f}")
    print(f"removal of the details of {removed:,} events (batches of {retention.BATCH:,}): {removal:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
