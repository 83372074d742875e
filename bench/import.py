"""The import benchmark: `graphsvc import` against two baselines, in one run.

    .venv/bin/python bench/import.py [--households 100000] [--sample 10000] [--repeat 3]

On the demo network (100,000 households by default, written as the usual CSV files with a
UTF-8 BOM), each method imports into an empty database (wipe_all, schema applied, query
plan cache cleared, so that each method plans its statements against the data it writes):

  graphsvc      importer.import_folder: validation + batched UNWIND writes (the real thing)
  (a) per row   the same import.cypher statements, one write transaction per row, on a
                proportional sample of the validated rows (first households, their people,
                the introductions among them, their visits, the users those visits need)
  (b) LOAD CSV  Neo4j's own LOAD CSV … CALL { … } IN TRANSACTIONS OF 5000 ROWS, with the
                statements of bench/cypher/bench.cypher (same semantics as import.cypher)

graphsvc and LOAD CSV run --repeat times, alternating; the table gives the median. Rows are
the rows sent to the statements of importer.WRITE_ORDER (users.csv counts twice:
import_users and import_user_people), the same for every method. After each import the
graph's node and relationship counts are checked against the demo tables, so that a method
that silently wrote nothing cannot look fast. graphsvc's time is split into validation and
write steps by timing importer.validate and importer.write inside import_folder (wrappers
in this process; the measured code is unchanged).

Targets: graphsvc at least 20x the rows/s of (a), and t_graphsvc / t_loadcsv <= 1.5.

It uses the local Neo4j instance `bench` (port 7689, heap 1g, page cache 768m), never
`dev` or `test`; it starts it when it is not running and stops it at the end if it did.
NEO4J_URI and the GRAPHSVC_NEO4J_* variables are deliberately ignored (a benchmark wipes
its database).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import inspect
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import csvio, demo, importer, neo4j_local  # noqa: E402
from graphsvc.config import Settings, load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402

INSTANCE, PORT = "bench", 7689
HEAP, PAGECACHE = "1g", "768m"
AS_OF = dt.date(2025, 1, 1)  # fixed, so that every run imports the same network
WARMUP_HOUSEHOLDS = 2000

# WRITE_ORDER's import.cypher statements and their LOAD CSV twins in bench/cypher/bench.cypher.
LOAD_CSV = {
    "import_users": "bench_load_users",
    "import_households": "bench_load_households",
    "import_people": "bench_load_people",
    "import_user_people": "bench_load_user_people",
    "import_introductions": "bench_load_introductions",
    "import_visits": "bench_load_visits",
}
STEPS = [statement for _table, statement in importer.WRITE_ORDER]
TABLE_OF = {statement: table for table, statement in importer.WRITE_ORDER}

TARGET_PER_ROW = 20.0  # graphsvc rows/s ≥ 20 × (a) rows/s
TARGET_LOADCSV = 1.5  # t_graphsvc / t_loadcsv ≤ 1.5
SLOW_USER_PEOPLE = 2.0  # seconds: import_user_people slower than this ran the index-scan plan


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- set-up -----------------------------------------------------------------------------


def bench_settings() -> Settings:
    env = {"GRAPHSVC_NEO4J_INSTANCE": INSTANCE, "GRAPHSVC_NEO4J_PORT": str(PORT)}
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    settings = load_settings(env).with_instance(INSTANCE, PORT)
    local = dataclasses.replace(settings.local, heap=HEAP, pagecache=PAGECACHE)
    settings = dataclasses.replace(settings, local=local)
    settings = dataclasses.replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    assert settings.uses_local and local.name == INSTANCE and local.bolt_port == PORT
    return settings


def machine() -> dict[str, str]:
    mem = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    kib = int(mem["MemTotal"].split()[0])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{kib / 1024 / 1024:.1f} GiB (MemTotal {kib:,} kB)",
        "python": platform.python_version(),
    }


class CpuMeter:
    """CPU seconds used on the machine by others than this process and the bench server."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        hz = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        total = (user + nice + system + irq + softirq + steal) / hz
        try:
            stat = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
            server = (int(stat[11]) + int(stat[12])) / hz
        except (FileNotFoundError, IndexError):
            server = 0.0
        own = sum(os.times()[:2])
        return total, server, own

    def report(self) -> str:
        total, server, own = (b - a for a, b in zip(self.start, self._sample()))
        others = max(0.0, total - server - own)
        return (
            f"CPU seconds during the run: bench server {server:.0f}, this script {own:.0f}, "
            f"other processes {others:.0f}"
        )


def write_demo(folder: Path, households: int, seed: int) -> dict[str, int]:
    """Write the demo's CSV files (with a BOM, like the CLI); return the expected graph counts."""
    tables = demo.generate(households, seed=seed, as_of=AS_OF)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in csvio.TABLES.items():
        csvio.write_table(folder / table.filename, table, tables[name])
    return expected_counts(tables)


def stage_for_load_csv(db: Database, src: Path, import_dir: Path) -> str:
    """Copy the CSV files into the server's import dir; BOM-less copies if LOAD CSV trips on the BOM."""
    import_dir.mkdir(parents=True, exist_ok=True)
    for table in csvio.TABLES.values():
        shutil.copyfile(src / table.filename, import_dir / table.filename)
    bad = []
    for name, table in csvio.TABLES.items():
        got = db.read("bench_csv_header", file=table.filename)
        columns = got[0]["columns"] if got else []
        if set(columns) != set(table.columns) or got[0]["first"].get(table.columns[0]) is None:
            bad.append(name)
    if not bad:
        return "LOAD CSV reads the BOM-prefixed files as they are (first column name intact)"
    for table in csvio.TABLES.values():
        data = (src / table.filename).read_bytes()
        (import_dir / table.filename).write_bytes(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
    still = [
        n
        for n, t in csvio.TABLES.items()
        if set(db.read("bench_csv_header", file=t.filename)[0]["columns"]) != set(t.columns)
    ]
    if still:
        raise SystemExit(f"LOAD CSV cannot read the headers of {still} even without a BOM")
    return f"LOAD CSV misread the BOM in the header of {bad}: it reads BOM-less copies"


# --- checks -----------------------------------------------------------------------------


def expected_counts(tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """What the graph must hold after importing these (validated or raw) rows."""
    users = tables["users"]
    people = {p["id"] for p in tables["people"]}
    return {
        "households": len(tables["households"]),
        "people": len(tables["people"]),
        "introductions": len(tables["introductions"]),
        "visits": len(tables["visits"]),
        "users": len(users),
        "member_of": len(tables["people"]),
        "is_person": sum(1 for u in users if u.get("person_id") and u["person_id"] in people),
        "at": len(tables["visits"]),
        "made": len(tables["visits"]),
    }


def statement_rows(counts: dict[str, int]) -> int:
    """Rows sent to the WRITE_ORDER statements (users twice)."""
    return sum(counts[TABLE_OF[st]] for st in STEPS)


def graph_counts(db: Database) -> dict[str, int]:
    return {**db.read("graph_counts")[0], **db.read("bench_rel_counts")[0]}


def verify(db: Database, expected: dict[str, int], what: str) -> None:
    got = graph_counts(db)
    if got != expected:
        diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        raise SystemExit(f"{what}: the graph does not hold what was imported (got, expected): {diff}")


def fresh(db: Database) -> None:
    """An empty database with the schema, no cached plans, and a moment to settle."""
    db.run_autocommit("wipe_all")
    db.apply_schema()
    counts = graph_counts(db)
    if any(counts.values()):
        raise SystemExit(f"the database is not empty after wipe_all: {counts}")
    db.write("bench_clear_query_caches")
    gc.collect()
    time.sleep(3)


# --- the methods ------------------------------------------------------------------------


@contextlib.contextmanager
def phases(db: Database) -> Iterator[dict[str, Any]]:
    """Time import_folder's validate and write calls, and note the Person(id) index sample
    that import_user_people is planned with."""
    record: dict[str, Any] = {}
    validate, write = importer.validate, importer.write

    def timed_validate(*args, **kwargs):
        started = time.perf_counter()
        try:
            return validate(*args, **kwargs)
        finally:
            record["validate"] = time.perf_counter() - started

    def timed_write(*args, **kwargs):
        started = time.perf_counter()
        steps = write(*args, **kwargs)
        record["write"] = time.perf_counter() - started
        record.update(steps)
        # write() also prepares the rows before its first step (e.g. encrypts identity fields)
        record["prepare"] = record["write"] - sum(steps.values())
        return steps

    importer.validate, importer.write = timed_validate, timed_write
    try:
        yield record
    finally:
        importer.validate, importer.write = validate, write


def index_probe(db: Database, record: dict[str, Any]):
    """A progress callback: after the last people batch, read the Person(id) index sample."""

    def progress(statement: str, done: int, total: int) -> None:
        if statement == "import_people" and done == total:
            record["person_index"] = db.read("bench_person_index_stats")[0]

    return progress


def import_context() -> tuple[dict[str, Any], str]:
    """What import_folder needs besides the database and folder, as the CLI gives it: a
    keyring (here a fresh in-memory key) and the actor for the audit log."""
    params = inspect.signature(importer.import_folder).parameters
    given: dict[str, Any] = {}
    notes = []
    if "keyring" in params:
        from graphsvc import crypto

        given["keyring"] = crypto.Keyring.generate()
        fields = getattr(crypto, "IDENTITY_FIELDS", {})
        notes.append(
            "encrypts " + ", ".join(f"{label}.{f}" for label, fs in fields.items() for f in fs) + " (in-memory key)"
        )
    if "actor" in params:
        from graphsvc.model import Actor

        given["actor"] = Actor("bench", "operator", "local", "bench/import.py")
        notes.append("appends an audit event per batch")
    return given, "; ".join(notes)


def run_graphsvc(
    db: Database, folder: Path, batch_size: int, expected: dict[str, int], keep_rows: bool = False
) -> dict[str, Any]:
    fresh(db)
    given, _notes = import_context()
    with phases(db) as record:
        started = time.perf_counter()
        report = importer.import_folder(
            db,
            folder,
            batch_size=batch_size,
            progress=index_probe(db, record),
            allow_duplicates=True,  # the demo's random names and phones repeat (graphsvc/dedupe.py)
            **given,
        )
        record["total"] = time.perf_counter() - started
    if not report.ok or not report.written:
        raise SystemExit("graphsvc refused the demo files:\n" + "\n".join(map(str, report.plan.problems[:20])))
    verify(db, expected, f"graphsvc (batch {batch_size})")
    if keep_rows:
        record["rows"] = report.plan.rows
    return record


def run_load_csv(db: Database, expected: dict[str, int]) -> dict[str, Any]:
    fresh(db)
    record: dict[str, Any] = {}
    started = time.perf_counter()
    for statement in STEPS:
        t = time.perf_counter()
        db.run_autocommit(LOAD_CSV[statement])
        record[statement] = time.perf_counter() - t
    record["total"] = time.perf_counter() - started
    verify(db, expected, "LOAD CSV")
    return record


def sample_rows(rows: dict[str, list[dict[str, Any]]], target: int) -> dict[str, list[dict[str, Any]]]:
    """A proportional sample of about ``target`` statement rows in which every MATCH finds its nodes.

    The first households (in file order), their people, the introductions among those
    people (an introducer always belongs to an earlier household, so most are kept), their
    visits, and the users who made those visits (with their import_user_people rows).
    """

    def take(k: int) -> dict[str, list[dict[str, Any]]]:
        households = rows["households"][:k]
        hids = {h["id"] for h in households}
        people = [p for p in rows["people"] if p["household_id"] in hids]
        pids = {p["id"] for p in people}
        introductions = [i for i in rows["introductions"] if i["introducer_id"] in pids and i["introduced_id"] in pids]
        visits = [v for v in rows["visits"] if v["household_id"] in hids]
        needed = {v["visitor"] for v in visits}
        users = [u for u in rows["users"] if u["username"] in needed]
        return {
            "users": users,
            "households": households,
            "people": people,
            "introductions": introductions,
            "visits": visits,
        }

    size = lambda s: sum(len(s[TABLE_OF[st]]) for st in STEPS)  # noqa: E731
    k = max(1, round(target / size(rows) * len(rows["households"])))
    sample = take(k)
    # The users a sample needs do not shrink with it: aim the rest at the target.
    fixed = 2 * len(sample["users"])
    k = max(1, round(k * max(1, target - fixed) / max(1, size(sample) - fixed)))
    return take(k)


def run_per_row(db: Database, sample: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fresh(db)
    record: dict[str, Any] = {"rows": 0}
    started = time.perf_counter()
    for statement in STEPS:
        query = db.queries[statement]
        t = time.perf_counter()
        for row in importer._clean(sample[TABLE_OF[statement]]):
            db.write_tx(lambda tx, r: tx.run(query, rows=[r]).consume(), row)
            record["rows"] += 1
        record[statement] = time.perf_counter() - t
    record["total"] = time.perf_counter() - started
    counts = {k: len(v) for k, v in sample.items()}
    verify(db, expected_counts(sample), "one transaction per row")
    record["counts"] = counts
    return record


class SwappedQueries:
    """db.queries with one statement replaced by another (in this process only)."""

    def __init__(self, queries, step: str, alt: str):
        self.queries, self.step, self.alt = queries, step, alt

    def __getitem__(self, name: str) -> str:
        return self.queries[self.alt if name == self.step else name]

    def __contains__(self, name: str) -> bool:
        return name in self.queries

    def __getattr__(self, attr: str):
        return getattr(self.queries, attr)


def plan_check(db: Database, folder: Path, batch_size: int) -> list[tuple[str, float]]:
    """import_user_people on its index-scan plan (forced by a hint) and bench_alt_user_people,
    each on the full users table, after users, households and people are written."""
    fresh(db)
    plan = importer.validate(folder, importer.DatabaseLookup(db))
    rows = {t: importer._clean(r) for t, r in plan.rows.items()}
    for statement in STEPS[:3]:
        query = db.queries[statement]
        for i in range(0, len(rows[TABLE_OF[statement]]), batch_size):
            db.write_tx(lambda tx, b: tx.run(query, rows=b).consume(), rows[TABLE_OF[statement]][i : i + batch_size])
    out = []
    for name in ("import_user_people", "bench_alt_user_people", "bench_user_people_index_scan"):
        db.run_autocommit("bench_unlink_users")
        query = db.queries[name]
        started = time.perf_counter()
        db.write_tx(lambda tx, b: tx.run(query, rows=b).consume(), rows["users"])
        out.append((name, time.perf_counter() - started))
        if graph_counts(db)["is_person"] != sum(1 for u in rows["users"] if u["person_id"]):
            raise SystemExit(f"{name} did not link the users to their people")
    return out


# --- report -----------------------------------------------------------------------------


def fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(r: list[str]) -> str:
        return "  ".join(
            str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["total"])[(len(runs) - 1) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=10_000, help="rows for (a), one transaction each")
    ap.add_argument("--repeat", type=int, default=3, help="runs of graphsvc and LOAD CSV, alternating")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=5000, help="import_folder's batch size (its default)")
    ap.add_argument(
        "--batch-sizes",
        default="",
        help="also time import_folder once with each of these batch sizes (e.g. 1000,2000,10000)",
    )
    ap.add_argument(
        "--no-warmup",
        action="store_true",
        help=f"skip the untimed {WARMUP_HOUSEHOLDS:,}-household import (both methods) that warms up the JIT",
    )
    ap.add_argument(
        "--extra",
        default="",
        help="also time import_folder with an import step replaced by a bench/cypher/bench.cypher "
        "statement: import_step=bench_name[,…]",
    )
    ap.add_argument(
        "--plan-check",
        action="store_true",
        help="time import_user_people on its index-scan plan (forced) vs bench_alt_user_people "
        "(the forced plan takes about two minutes at 100,000 households)",
    )
    args = ap.parse_args()

    settings = bench_settings()
    local = settings.local
    info = machine()
    say(f"demo network: {args.households:,} households, seed {args.seed}, as of {AS_OF}")
    tmp = Path(tempfile.mkdtemp(prefix="graphsvc-bench-"))
    started_here = False
    try:
        t = time.perf_counter()
        folder = tmp / "demo"
        expected = write_demo(folder, args.households, args.seed)
        say(f"  generated and written in {time.perf_counter() - t:.1f} s to {folder}")

        if not neo4j_local.is_installed(local):
            neo4j_local.install(local, say=say)
        started_here = neo4j_local.running_pid(local) is None
        pid = neo4j_local.start(local, say=say)
        db = Database.connect(settings, notifications_min_severity="OFF")
        try:
            return bench(db, args, settings, info, expected, folder, tmp, pid)
        finally:
            db.close()
    finally:
        if started_here:
            neo4j_local.stop(local, say=say)
        shutil.rmtree(tmp, ignore_errors=True)
        for table in csvio.TABLES.values():
            (local.home / "import" / table.filename).unlink(missing_ok=True)


def bench(
    db: Database,
    args,
    settings: Settings,
    info: dict[str, str],
    expected: dict[str, int],
    folder: Path,
    tmp: Path,
    server_pid: int,
) -> int:
    local = settings.local
    server = db.ping()
    import_dir = local.home / "import"
    n_rows = statement_rows(expected)
    meter = CpuMeter(server_pid)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    if not args.no_warmup:
        say(f"warm-up (untimed): {WARMUP_HOUSEHOLDS:,} households with graphsvc and with LOAD CSV …")
        small = tmp / "warmup"
        small_expected = write_demo(small, WARMUP_HOUSEHOLDS, args.seed + 1)
        run_graphsvc(db, small, args.batch_size, small_expected)
        stage_for_load_csv(db, small, import_dir)
        run_load_csv(db, small_expected)

    bom_note = stage_for_load_csv(db, folder, import_dir)
    say(bom_note)

    g_runs: list[dict[str, Any]] = []
    b_runs: list[dict[str, Any]] = []
    sample: dict[str, list[dict[str, Any]]] = {}
    for i in range(args.repeat):
        say(f"run {i + 1}/{args.repeat}: graphsvc import_folder(batch_size={args.batch_size}) …")
        run = run_graphsvc(db, folder, args.batch_size, expected, keep_rows=(i == 0))
        if i == 0:
            sample = sample_rows(run.pop("rows"), args.sample)
        g_runs.append(run)
        say(f"  {run['total']:.1f} s (validate {run['validate']:.1f} s, write {run['write']:.1f} s)")
        say(f"run {i + 1}/{args.repeat}: (b) LOAD CSV … IN TRANSACTIONS OF 5000 ROWS …")
        b_runs.append(run_load_csv(db, expected))
        say(f"  {b_runs[-1]['total']:.1f} s")

    say(f"(a) one transaction per row, sample of {sum(len(sample[TABLE_OF[s]]) for s in STEPS):,} rows …")
    a_run = run_per_row(db, sample)
    say(f"  {a_run['total']:.1f} s")

    sweep: list[tuple[int, float]] = []
    for size in [int(x) for x in args.batch_sizes.split(",") if x.strip()]:
        say(f"graphsvc: import_folder(batch_size={size}) …")
        sweep.append((size, run_graphsvc(db, folder, size, expected)["total"]))
        say(f"  {sweep[-1][1]:.1f} s")

    extra: list[tuple[str, str, dict[str, Any]]] = []
    for item in [x for x in args.extra.split(",") if x.strip()]:
        step, _, alt = item.partition("=")
        if step not in STEPS or alt not in db.queries:
            raise SystemExit(f"--extra {item}: expected import_step=bench_statement")
        say(f"graphsvc with {step} replaced by {alt} …")
        original = db.queries
        db.queries = SwappedQueries(original, step, alt)
        try:
            extra.append((step, alt, run_graphsvc(db, folder, args.batch_size, expected)))
        finally:
            db.queries = original
        say(f"  {extra[-1][2]['total']:.1f} s")

    checked: list[tuple[str, float]] = []
    if args.plan_check:
        say("plan check: import_user_people on the index-scan plan vs bench_alt_user_people …")
        checked = plan_check(db, folder, args.batch_size)

    db.run_autocommit("wipe_all")
    cpu_note = meter.report()

    # --- the report
    t_g = statistics.median(r["total"] for r in g_runs)
    t_b = statistics.median(r["total"] for r in b_runs)
    t_a, n_a = a_run["total"], a_run["rows"]
    r_g, r_a, r_b = n_rows / t_g, n_a / t_a, n_rows / t_b
    vs_a, vs_b = r_g / r_a, t_g / t_b
    ok_a, ok_b = vs_a >= TARGET_PER_ROW, vs_b <= TARGET_LOADCSV
    runs_note = f"median of {args.repeat}" if args.repeat > 1 else "one run"
    c, s = expected, a_run["counts"]
    out = [
        f"date:      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:   {info['nproc']} cores ({info['cpu']}), {info['memory']}; load average before: {load_before}",
        f"neo4j:     {server['name']} {server['version']} {server['edition']}, instance "
        f"'{local.name}' on {local.uri}, heap {local.heap}, page cache {local.pagecache}",
        f"command:   {os.path.relpath(sys.executable)} {' '.join(sys.argv)}   (Python {info['python']})",
        f"data:      demo {args.households:,} households (seed {args.seed}, as of {AS_OF}): "
        f"{c['users']:,} users, {c['households']:,} households, {c['people']:,} people, "
        f"{c['introductions']:,} introductions, {c['visits']:,} visits "
        f"= {n_rows:,} statement rows (users.csv twice)",
        f"BOM:       {bom_note}",
        f"sample (a): {s['users']} users (x2 steps), {s['households']:,} households, {s['people']:,} people, "
        f"{s['introductions']:,} introductions, {s['visits']:,} visits = {n_a:,} rows, one write_tx each",
        "each run:  wipe_all + schema + plan cache cleared first; afterwards graph_counts and the "
        "MEMBER_OF/IS/AT/MADE counts checked",
        f"graphsvc:  {import_context()[1] or 'as in import.cypher'}; LOAD CSV and (a) do neither",
        f"           {cpu_note}",
        "",
        fmt_table(
            ["method", "rows", "seconds", "rows/s"],
            [
                [
                    f"graphsvc import_folder, batch {args.batch_size} ({runs_note})",
                    f"{n_rows:,}",
                    f"{t_g:.1f}",
                    f"{r_g:,.0f}",
                ],
                ["(a) one transaction per row (sample)", f"{n_a:,}", f"{t_a:.1f}", f"{r_a:,.0f}"],
                [f"(b) LOAD CSV IN TRANSACTIONS OF 5000 ({runs_note})", f"{n_rows:,}", f"{t_b:.1f}", f"{r_b:,.0f}"],
            ],
        ),
        "",
        f"graphsvc vs (a): {vs_a:,.1f}x the rows/s             target >= {TARGET_PER_ROW:.0f}x   "
        f"{'PASS' if ok_a else 'FAIL'}",
        f"graphsvc vs (b): t_graphsvc / t_loadcsv = {vs_b:.2f}   target <= {TARGET_LOADCSV}   "
        f"{'PASS' if ok_b else 'FAIL'}",
    ]
    if args.repeat > 1:
        g_all = ", ".join(f"{r['total']:.1f}" for r in g_runs)
        b_all = ", ".join(f"{r['total']:.1f}" for r in b_runs)
        out.append(f"all runs (s): graphsvc {g_all}; LOAD CSV {b_all}")

    g, b = median_run(g_runs), median_run(b_runs)
    body = [["validate (read + check + lookups)", "", f"{g['validate']:.1f}", "-", "-"]]
    if g.get("prepare", 0) >= 0.05:
        body.append(["write: before the first step", "", f"{g['prepare']:.1f}", "-", "-"])
    for st in STEPS:
        body.append([st, f"{c[TABLE_OF[st]]:,}", f"{g[st]:.1f}", f"{b[st]:.1f}", f"{a_run[st]:.1f}"])
    body.append(["total", f"{n_rows:,}", f"{g['total']:.1f}", f"{b['total']:.1f}", f"{t_a:.1f}"])
    out += [
        "",
        "seconds per step (the median runs; (a) on its sample)",
        fmt_table(["step", "rows", "graphsvc", "LOAD CSV", "(a)"], body),
    ]
    out.append(
        "graphsvc import_user_people per run: "
        + ", ".join(
            f"{r['import_user_people']:.2f} s (Person(id) index last sampled at "
            f"{(r.get('person_index') or {}).get('sampled_size')} entries)"
            for r in g_runs
        )
    )
    slow = [r for r in g_runs if r["import_user_people"] > SLOW_USER_PEOPLE]
    if slow:
        out.append(
            f"  {len(slow)} run(s) planned import_user_people as a Person(id) index scan per user "
            "(stale index statistics): see --plan-check"
        )

    if sweep:
        out += ["", "import_folder by batch size (one run each; the default's is its median):"]
        rows = sorted([(args.batch_size, t_g)] + sweep)
        out.append(
            fmt_table(
                ["batch size", "seconds", "rows/s", "t / t_loadcsv"],
                [[f"{bs:,}", f"{t:.1f}", f"{n_rows / t:,.0f}", f"{t / t_b:.2f}"] for bs, t in rows],
            )
        )
    for step, alt, run in extra:
        out.append("")
        out.append(
            f"variant: {step} replaced by {alt}: import_folder {run['total']:.1f} s "
            f"(t / t_loadcsv = {run['total'] / t_b:.2f}); the step {run[step]:.2f} s "
            f"(median run with {step}: {g[step]:.2f} s)"
        )
    if checked:
        out += ["", f"plan check: linking {c['users']} users after {c['people']:,} people were written"]
        out.append(fmt_table(["statement", "seconds"], [[n, f"{t:.2f}"] for n, t in checked]))
    print("\n".join(out), flush=True)
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
