"""What the benchmarks on the 100,000-household demo share: their instance's settings, the
demo loaded when it is not, the instance started (and stopped) around a run, percentiles.

Each benchmark runs on a local instance of its own (bench/chains.py: ``benchchains``,
bench/report.py: ``benchreport``), so that what one writes never changes another's data.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import demo, neo4j_local  # noqa: E402
from graphsvc.config import Settings, load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

OUT = ROOT / "bench" / "out"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values`` (seconds), in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def instance_settings(name: str, port: int) -> Settings:
    """The settings of a benchmark's own local instance (heap 1g, page cache 512m), with
    the benchmarks' and the tests' statements (bench/cypher, tests/cypher)."""
    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = replace(settings.with_instance(name, port), cypher_extra=CYPHER_EXTRA)
    return replace(settings, local=replace(settings.local, heap="1g", pagecache="512m"))


@contextmanager
def connected(settings: Settings) -> Iterator[tuple[Database, bool]]:
    """A connection to the instance, started first when it is not running (and then
    stopped afterwards); (database, whether this run started it)."""
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    if started:
        neo4j_local.install(local, say=lambda m: None)
        neo4j_local.start(local, say=lambda m: None)
    try:
        with Database.connect(settings) as db:
            yield db, started
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)


def ensure_demo(db: Database, households: int, as_of, report: Callable[[str], None] = say) -> str:
    """The demo of ``households`` (seed 1, ``as_of``) in the database, loaded when the
    household count says it is not; a note of which."""
    db.apply_schema()
    counts = db.read("graph_counts")[0]
    if counts["households"] == households:
        return f"demo of {households:,} households already loaded"
    report(f"the instance holds {counts['households']:,} households: loading the demo of {households:,}")
    db.run_autocommit("wipe_all")
    t0 = time.perf_counter()
    tables = demo.generate(households, seed=1, as_of=as_of)
    loaded = demo.load(db, tables, load_keyring(), Actor("bench", "admin", "127.0.0.1", "bench"))
    assert loaded.ok, loaded
    return f"demo of {households:,} households loaded in {time.perf_counter() - t0:.0f} s"
