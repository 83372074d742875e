"""How readable the coordinator's default map is, before and after a change, in one run.

Loads the deterministic demo (``demo.generate(N, seed=1, as_of=2026-11-01)``, 400 households
by default) into a local instance (``--instance``/``--port``; default ``benchlayout`` on
bolt 7696, started and stopped here when it was not running), then for every coordinator
of the demo builds the map they open on (``mapping.build`` with no filter) and measures its
drawing with ``netmap.layout_measures``: edges that cross, mean edge length and edges longer
than four columns (units of ``netmap.X_STEP``), the drawing's width and height, and the zoom
vis-network's "fit" gives on a 900 × 640 px canvas.

``--base PATH`` adds the same maps as laid out by the code in PATH (another checkout; run in
a child process that imports graphsvc from there and prints positions and edges), measured
the same way, side by side, with ratios.

    .venv/bin/python bench/map_layout.py [--households 400] [--base /tmp/map-base]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANVAS = (900.0, 640.0)  # px: the map's canvas at 1280 × 900 (75vh, the side panel beside it)
AS_OF = dt.date(2026, 11, 1)


def _code_path() -> None:
    """``--code PATH`` (the child of ``--base``): import graphsvc from PATH."""
    if "--code" in sys.argv:
        sys.path.insert(0, sys.argv[sys.argv.index("--code") + 1])
    else:
        sys.path.insert(0, str(ROOT))


_code_path()
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)

from graphsvc import access, demo, mapping, neo4j_local, netmap  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402


def settings_for(instance: str, port: int):
    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    return settings.with_instance(instance, port)


def coordinators(tables) -> list[access.Subject]:
    out = []
    for row in tables["users"]:
        if row["role"] in ("coordinator", "코디네이터"):
            out.append(access.Subject(row["username"], "coordinator", tuple(row["districts"].split(";"))))
    return out


def maps(db: Database, subjects) -> dict[str, dict]:
    """Each coordinator's default map: positions and edges."""
    out = {}
    for s in subjects:
        result = mapping.build(db, s, mapping.MapFilters(), 30, today=AS_OF)
        if result.graph is None:
            continue
        out[s.username] = {
            "positions": {n: list(p) for n, p in result.positions.items()},
            "edges": [[u, v] for u, v in result.graph.edges()],
            "households": sum(1 for _n, d in result.graph.nodes(data=True) if d["kind"] == "household"),
        }
    return out


def fit_scale(m: dict) -> float:
    """The zoom of vis-network's fit for a drawing of this size (units of X_STEP)."""
    w = (m["width"] + 1) * netmap.X_STEP
    h = (m["height"] + 1) * netmap.X_STEP
    return min(CANVAS[0] / w, CANVAS[1] / h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=400)
    ap.add_argument("--instance", default="benchlayout")
    ap.add_argument("--port", type=int, default=7696)
    ap.add_argument("--base", help="another checkout whose layout to compare with")
    ap.add_argument("--code", help=argparse.SUPPRESS)  # the child of --base
    ap.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    settings = settings_for(args.instance, args.port)
    tables = demo.generate(args.households, seed=1, as_of=AS_OF)
    subjects = coordinators(tables)
    if args.dump:
        with Database.connect(settings) as db:
            print(json.dumps(maps(db, subjects)))
        return
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    neo4j_local.install(local, say=lambda m: None)
    neo4j_local.start(local, say=lambda m: None)
    try:
        with Database.connect(settings) as db:
            db.apply_schema()
            have = db.read("map_districts")
            count = sum(r[2] for r in db.read("map_groups", **_all())[0]["rows"]) if have else 0
            if count != args.households:
                db.run_autocommit("wipe_all") if count else None
                report = demo.load(db, tables, load_keyring(), Actor("bench", "admin", "127.0.0.1", "bench"))
                assert report.ok, report
            new = maps(db, subjects)
        base = {}
        if args.base:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--dump",
                    "--code",
                    args.base,
                    "--households",
                    str(args.households),
                    "--instance",
                    args.instance,
                    "--port",
                    str(args.port),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=str(ROOT),
                env={**os.environ, "GRAPHSVC_NEO4J_DIR": str(local.base)},
            )
            base = json.loads(child.stdout)
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)
    print(
        f"demo {args.households:,} households (seed 1); each coordinator's default map; lengths in columns "
        f"({netmap.X_STEP} px at zoom 1); fit: vis-network's zoom on a {CANVAS[0]:.0f}x{CANVAS[1]:.0f} px canvas"
    )
    head = (
        f"{'coordinator':12} {'code':5} {'households':>10} {'nodes':>6} {'edges':>6} {'crossings':>9} "
        f"{'mean len':>8} {'long':>5} {'width':>6} {'height':>6} {'fit':>5}"
    )
    print(head)
    totals: dict[str, dict[str, float]] = {}
    for user, m in new.items():
        for name, data in (("base", base.get(user)), ("new", m)):
            if data is None:
                continue
            pos = {n: tuple(p) for n, p in data["positions"].items()}
            meas = netmap.layout_measures(pos, [tuple(e) for e in data["edges"]])
            t = totals.setdefault(name, {"crossings": 0, "mean_length": 0.0, "long": 0, "fit": 0.0, "n": 0})
            for k in ("crossings", "mean_length", "long"):
                t[k] += meas[k]
            t["fit"] += fit_scale(meas)
            t["n"] += 1
            print(
                f"{user:12} {name:5} {data['households']:>10} {len(pos):>6} {len(data['edges']):>6} "
                f"{meas['crossings']:>9} {meas['mean_length']:>8.2f} {meas['long']:>5} {meas['width']:>6} "
                f"{meas['height']:>6} {fit_scale(meas):>5.2f}"
            )
    if "base" in totals:
        b, n = totals["base"], totals["new"]
        print(
            "new / base, summed over the coordinators: "
            f"crossings {n['crossings']}/{b['crossings']} = {n['crossings'] / max(1, b['crossings']):.2f}; "
            f"mean edge length {n['mean_length'] / max(1e-9, b['mean_length']):.2f}; "
            f"long edges {n['long']}/{b['long']}; mean fit zoom {n['fit'] / n['n']:.2f} vs {b['fit'] / b['n']:.2f}"
        )


def _all() -> dict:
    return {
        "districts": None,
        "chains": None,
        "classes": None,
        "wave_min": None,
        "wave_max": None,
        "joined_since": None,
        "joined_until": None,
        "overdue_before": AS_OF,
    }


if __name__ == "__main__":
    main()
