"""The import benchmark: `graphsvc import` against two baselines, in one run.

    .venv/bin/python bench/import.py [--households 100000] [--sample 10000]

On the demo network (100,000 households by default, written as the usual CSV files with a
UTF-8 BOM), each method imports into an empty database (wiped, schema applied):

  graphsvc      importer.import_folder: validation + batched UNWIND writes (the real thing)
  (a) per row   the same import.cypher statements, one write transaction per row, on a
                proportional sample of the validated rows (first households, their people,
                the introductions among them, their visits, the users those visits need)
  (b) LOAD CSV  Neo4j's own LOAD CSV … CALL { … } IN TRANSACTIONS OF 5000 ROWS, with the
                statements of cypher/bench.cypher (same semantics as import.cypher)

Rows are the rows sent to the statements of importer.WRITE_ORDER (users.csv counts twice:
import_users and import_user_people), the same for every method. After each import the
graph's node and relationship counts are checked against the demo tables, so that a method
that silently wrote nothing cannot look fast.

Targets: graphsvc at least 20x the rows/s of (a), and t_graphsvc / t_loadcsv <= 1.5.

It uses the local Neo4j instance `bench` (port 7689, heap 1g, page cache 768m), never
`dev` or `test`; it starts it when it is not running and stops it at the end if it did.
NEO4J_URI and the GRAPHSVC_NEO4J_* variables are deliberately ignored (a benchmark wipes
its database).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphsvc import csvio, demo, importer, neo4j_local  # noqa: E402
from graphsvc.config import Settings, load_settings  # noqa: E402
from graphsvc.db import Database  # noqa: E402

INSTANCE, PORT = "bench", 7689
HEAP, PAGECACHE = "1g", "768m"
AS_OF = dt.date(2025, 1, 1)  # fixed, so that every run imports the same network

# WRITE_ORDER's import.cypher statements and their LOAD CSV twins in cypher/bench.cypher.
LOAD_CSV = {
    "import_users": "bench_load_users",
    "import_households": "bench_load_households",
    "import_people": "bench_load_people",
    "import_user_people": "bench_load_user_people",
    "import_introductions": "bench_load_introductions",
    "import_visits": "bench_load_visits",
}

TARGET_PER_ROW = 20.0  # graphsvc rows/s ≥ 20 × (a) rows/s
TARGET_LOADCSV = 1.5  # t_graphsvc / t_loadcsv ≤ 1.5


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
    assert settings.uses_local and local.name == INSTANCE and local.bolt_port == PORT
    return settings


def machine() -> dict[str, str]:
    mem = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        mem[key] = value.strip()
    kib = int(mem["MemTotal"].split()[0])
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{kib / 1024 / 1024:.1f} GiB (MemTotal {kib:,} kB)",
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
    }


def write_demo(folder: Path, households: int, seed: int) -> dict[str, list[dict[str, str]]]:
    tables = demo.generate(households, seed=seed, as_of=AS_OF)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in csvio.TABLES.items():
        csvio.write_table(folder / table.filename, table, tables[name])  # with a BOM, like the CLI
    return tables


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
        return "LOAD CSV reads the BOM-prefixed files correctly (first column name intact)"
    for table in csvio.TABLES.values():
        data = (src / table.filename).read_bytes()
        (import_dir / table.filename).write_bytes(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
    still = [n for n, t in csvio.TABLES.items()
             if set(db.read("bench_csv_header", file=t.filename)[0]["columns"]) != set(t.columns)]
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


def graph_counts(db: Database) -> dict[str, int]:
    return {**db.read("graph_counts")[0], **db.read("bench_rel_counts")[0]}


def verify(db: Database, expected: dict[str, int], what: str) -> None:
    got = graph_counts(db)
    if got != expected:
        diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        raise SystemExit(f"{what}: the graph does not hold what was imported (got, expected): {diff}")


def fresh(db: Database) -> None:
    db.run_autocommit("wipe_all")
    db.apply_schema()
    counts = graph_counts(db)
    if any(counts.values()):
        raise SystemExit(f"the database is not empty after wipe_all: {counts}")


def step_rows(rows: dict[str, list]) -> int:
    return sum(len(rows.get(table, ())) for table, _ in importer.WRITE_ORDER)


# --- the methods ------------------------------------------------------------------------


def run_graphsvc(db: Database, folder: Path, batch_size: int) -> tuple[float, importer.Report]:
    fresh(db)
    started = time.perf_counter()
    report = importer.import_folder(db, folder, batch_size=batch_size)
    seconds = time.perf_counter() - started
    if not report.ok or not report.written:
        raise SystemExit("graphsvc refused the demo files:\n" + "\n".join(map(str, report.plan.problems[:20])))
    return seconds, report


def run_profiled(db: Database, folder: Path, batch_size: int) -> tuple[float, dict[str, float]]:
    """import_folder's two halves, timed apart: validation, then each write step."""
    fresh(db)
    started = time.perf_counter()
    plan = importer.validate(folder, importer.DatabaseLookup(db))
    validated = time.perf_counter()
    steps = importer.write(db, plan, batch_size)
    total = time.perf_counter() - started
    return total, {"validate": validated - started, **steps}


def run_load_csv(db: Database) -> tuple[float, dict[str, float]]:
    fresh(db)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    for _table, statement in importer.WRITE_ORDER:
        t = time.perf_counter()
        db.run_autocommit(LOAD_CSV[statement])
        steps[statement] = time.perf_counter() - t
    return time.perf_counter() - started, steps


def sample_rows(rows: dict[str, list[dict[str, Any]]], target: int) -> dict[str, list[dict[str, Any]]]:
    """A proportional sample in which every MATCH finds its nodes.

    The first households (in file order), their people, the introductions among those
    people (an introducer always belongs to an earlier household, so most are kept), their
    visits, and the users who made those visits (and their import_user_people rows).
    """
    fraction = min(1.0, target / max(1, step_rows(rows)))
    k = max(1, round(fraction * len(rows["households"])))
    households = rows["households"][:k]
    hids = {h["id"] for h in households}
    people = [p for p in rows["people"] if p["household_id"] in hids]
    pids = {p["id"] for p in people}
    introductions = [i for i in rows["introductions"] if i["introducer_id"] in pids and i["introduced_id"] in pids]
    visits = [v for v in rows["visits"] if v["household_id"] in hids]
    needed = {v["visitor"] for v in visits}
    users = [u for u in rows["users"] if u["username"] in needed]
    return {"users": users, "households": households, "people": people,
            "introductions": introductions, "visits": visits}


def run_per_row(db: Database, sample: dict[str, list[dict[str, Any]]]) -> tuple[float, int, dict[str, float]]:
    fresh(db)
    steps: dict[str, float] = {}
    sent = 0
    started = time.perf_counter()
    for table, statement in importer.WRITE_ORDER:
        query = db.queries[statement]
        t = time.perf_counter()
        for row in importer._clean(sample.get(table, [])):
            db.write_tx(lambda tx, r: tx.run(query, rows=[r]).consume(), row)
            sent += 1
        steps[statement] = time.perf_counter() - t
    return time.perf_counter() - started, sent, steps


# --- report -----------------------------------------------------------------------------


def fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=10_000, help="rows for (a), one transaction each")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=5000, help="import_folder's batch size (the default)")
    ap.add_argument("--batch-sizes", default="",
                    help="also time import_folder with these batch sizes (e.g. 1000,2000,10000)")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip the extra run that times validation and each write step apart")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the untimed small import (both methods) that warms up the server's JIT")
    ap.add_argument("--extra", default="",
                    help="also time these cypher/bench.cypher statements as a replacement of an import "
                         "step: import_step=bench_name,… (full import_folder run with the step swapped)")
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
        tables = write_demo(folder, args.households, args.seed)
        say(f"  generated and written in {time.perf_counter() - t:.1f} s to {folder}")

        if not neo4j_local.is_installed(local):
            neo4j_local.install(local, say=say)
        started_here = neo4j_local.running_pid(local) is None
        neo4j_local.start(local, say=say)
        db = Database.connect(settings, notifications_min_severity="OFF")
        try:
            return bench(db, args, settings, info, tables, folder, tmp)
        finally:
            db.close()
    finally:
        if started_here:
            neo4j_local.stop(local, say=say)
        shutil.rmtree(tmp, ignore_errors=True)
        for table in csvio.TABLES.values():
            (local.home / "import" / table.filename).unlink(missing_ok=True)


def bench(db: Database, args, settings: Settings, info: dict[str, str], tables, folder: Path, tmp: Path) -> int:
    local = settings.local
    server = db.ping()
    import_dir = local.home / "import"
    expected = expected_counts(tables)

    if not args.no_warmup:
        say("warm-up (untimed): 2,000 households with graphsvc and with LOAD CSV …")
        small = tmp / "warmup"
        small_tables = write_demo(small, 2000, args.seed + 1)
        _s, _r = run_graphsvc(db, small, args.batch_size)
        verify(db, expected_counts(small_tables), "warm-up graphsvc")
        stage_for_load_csv(db, small, import_dir)
        run_load_csv(db)
        verify(db, expected_counts(small_tables), "warm-up LOAD CSV")

    bom_note = stage_for_load_csv(db, folder, import_dir)
    say(bom_note)

    say(f"graphsvc: import_folder(batch_size={args.batch_size}) …")
    t_g, report = run_graphsvc(db, folder, args.batch_size)
    verify(db, expected, "graphsvc")
    rows = report.plan.rows
    n_rows = step_rows(rows)
    say(f"  {t_g:.1f} s")

    say("(b) LOAD CSV … IN TRANSACTIONS OF 5000 ROWS …")
    t_b, steps_b = run_load_csv(db)
    verify(db, expected, "LOAD CSV")
    say(f"  {t_b:.1f} s")

    sample = sample_rows(rows, args.sample)
    say(f"(a) one transaction per row, sample of {step_rows(sample):,} rows …")
    t_a, n_a, steps_a = run_per_row(db, sample)
    verify(db, expected_counts(sample), "one transaction per row")
    say(f"  {t_a:.1f} s")

    profile: dict[str, float] = {}
    t_p = 0.0
    if not args.no_profile:
        say("profile: validate, then write (same work as import_folder, timed apart) …")
        t_p, profile = run_profiled(db, folder, args.batch_size)
        verify(db, expected, "graphsvc (profiled)")

    sweep: list[tuple[int, float]] = []
    for size in [int(x) for x in args.batch_sizes.split(",") if x.strip()]:
        say(f"graphsvc: import_folder(batch_size={size}) …")
        t_s, _ = run_graphsvc(db, folder, size)
        verify(db, expected, f"graphsvc batch {size}")
        sweep.append((size, t_s))

    extra: list[tuple[str, str, float, dict[str, float]]] = []
    for item in [x for x in args.extra.split(",") if x.strip()]:
        step, _, alt = item.partition("=")
        say(f"graphsvc with {step} replaced by {alt} …")
        original = db.queries._all[step]
        db.queries._all[step] = db.queries[alt]  # in this process only; the file is untouched
        try:
            t_x, prof_x = run_profiled(db, folder, args.batch_size)
            verify(db, expected, f"graphsvc with {alt}")
        finally:
            db.queries._all[step] = original
        extra.append((step, alt, t_x, prof_x))

    db.run_autocommit("wipe_all")

    # --- the report
    rate = lambda n, s: n / s if s else float("inf")  # noqa: E731
    r_g, r_a, r_b = rate(n_rows, t_g), rate(n_a, t_a), rate(n_rows, t_b)
    vs_a = r_g / r_a
    vs_b = t_g / t_b
    out = []
    out.append(f"date:      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    out.append(f"machine:   {info['nproc']} cores ({info['cpu']}), {info['memory']}, "
               f"load average before the run {info['loadavg']}")
    out.append(f"neo4j:     {server['name']} {server['version']} {server['edition']}, instance "
               f"'{local.name}' on {local.uri}, heap {local.heap}, page cache {local.pagecache}")
    out.append(f"python:    {info['python']}; command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    c = expected
    out.append(f"data:      demo {args.households:,} households (seed {args.seed}, as of {AS_OF}): "
               f"{c['users']:,} users, {c['households']:,} households, {c['people']:,} people, "
               f"{c['introductions']:,} introductions, {c['visits']:,} visits "
               f"= {n_rows:,} statement rows (users twice)")
    out.append(f"BOM:       {bom_note}")
    s = {k: len(v) for k, v in sample.items()}
    out.append(f"sample (a): {s['users']} users (x2 steps), {s['households']:,} households, {s['people']:,} people, "
               f"{s['introductions']:,} introductions, {s['visits']:,} visits = {n_a:,} rows, "
               "one write_tx each")
    out.append("verified:  graph_counts + relationship counts (MEMBER_OF, IS, AT, MADE) after every import")
    out.append("")
    out.append(fmt_table(
        ["method", "rows", "seconds", "rows/s"],
        [
            [f"graphsvc import_folder (batch {args.batch_size})", f"{n_rows:,}", f"{t_g:.1f}", f"{r_g:,.0f}"],
            ["(a) one transaction per row (sample)", f"{n_a:,}", f"{t_a:.1f}", f"{r_a:,.0f}"],
            ["(b) LOAD CSV IN TRANSACTIONS OF 5000", f"{n_rows:,}", f"{t_b:.1f}", f"{r_b:,.0f}"],
        ],
    ))
    out.append("")
    ok_a = vs_a >= TARGET_PER_ROW
    ok_b = vs_b <= TARGET_LOADCSV
    out.append(f"graphsvc vs (a): {vs_a:,.1f}x the rows/s      target >= {TARGET_PER_ROW:.0f}x   "
               f"{'PASS' if ok_a else 'FAIL'}")
    out.append(f"graphsvc vs (b): t_graphsvc / t_loadcsv = {vs_b:.2f}   target <= {TARGET_LOADCSV}   "
               f"{'PASS' if ok_b else 'FAIL'}")

    out.append("")
    step_names = [st for _t, st in importer.WRITE_ORDER]
    header = ["step (seconds)", "rows"]
    cols: list[tuple[str, dict[str, float]]] = []
    if profile:
        cols.append(("graphsvc", profile))
    cols.append(("LOAD CSV", steps_b))
    cols.append(("(a) sample", steps_a))
    header += [name for name, _ in cols]
    body = []
    table_of = dict((st, t) for t, st in importer.WRITE_ORDER)
    if profile:
        body.append(["validate (read + check)", "", f"{profile['validate']:.1f}", "-", "-"])
    for st in step_names:
        row = [st, f"{len(rows[table_of[st]]):,}"]
        for _name, d in cols:
            row.append(f"{d.get(st, 0.0):.1f}")
        body.append(row)
    total_row = ["total", f"{n_rows:,}"] + [f"{sum(d.values()):.1f}" for _n, d in cols]
    body.append(total_row)
    out.append("per step" + (" (graphsvc: a separate, profiled run of validate + write)" if profile else ""))
    out.append(fmt_table(header, body))

    if sweep:
        out.append("")
        out.append("import_folder by batch size (one run each):")
        all_sizes = [(args.batch_size, t_g)] + sweep
        out.append(fmt_table(["batch size", "seconds", "rows/s", "t / t_loadcsv"],
                             [[f"{b:,}", f"{t:.1f}", f"{rate(n_rows, t):,.0f}", f"{t / t_b:.2f}"]
                              for b, t in sorted(all_sizes)]))
    for step, alt, t_x, prof_x in extra:
        out.append("")
        out.append(f"variant: {step} replaced by {alt}: validate + write {t_x:.1f} s "
                   f"(t / t_loadcsv = {t_x / t_b:.2f}); {step} {prof_x[step]:.1f} s "
                   f"(profiled run: {profile.get(step, float('nan')):.1f} s)")
    print("\n".join(out), flush=True)
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
