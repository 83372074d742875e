"""The coordinator's pages: the network map, the unvisited list (and its CSV), one household.

Admins see every district; coordinators theirs. Each view parses its arguments, asks the
core (graphsvc/mapping.py, graphsvc/households.py), records what its answer shows in the
audit log (the ids read from the answer) and renders it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyvis
from flask import Blueprint, Response, abort, current_app, g, render_template, send_from_directory

from graphsvc import access, csvio, mapping
from graphsvc.model import plain

from . import answers, deskpage, mapview
from .args import int_arg, parse_filters, takes, text_arg
from .guard import allow, audit_shown, heavy, public
from .neo import get_db

bp = Blueprint("coordinator", __name__)

# vis-network as pyvis ships it, served by this app (pyvis's own templates load it from
# CDNs): no page makes a request outside the server.
VIS_DIR = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
VIS_FILES = ("vis-network.min.js", "vis-network.css")


@bp.get("/vendor/vis-network/<name>")
@public
def vis_asset(name: str):
    if name not in VIS_FILES:
        abort(404)
    response = send_from_directory(VIS_DIR, name, max_age=86400)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _settings():
    return current_app.config["GRAPHSVC_SETTINGS"]


@bp.get("/map")
@allow(access.NETWORK_READ)
@takes(*mapping.FILTER_ARGS)
@heavy
def map_page():
    filters = parse_filters()
    db, settings = get_db(), _settings()
    result = mapping.build(db, g.subject, filters, settings.follow_up_days)
    data = mapview.vis_data(result, settings.newcomer_days)
    scope = mapping.scope_of(g.subject)
    stats = mapping.stats(db, result)  # the same scoped query as the map: the figures follow the filters
    audit_shown(
        "network.map",
        {"map": data, "top_ids": stats["top_ids"]},
        detail=f"{result.mode}: {len(data['nodes'])} nodes; {json.dumps(filters.args(), ensure_ascii=False)[:150]}",
    )
    return render_template(
        "map.html",
        result=result,
        filters=filters,
        stats={**stats, **mapview.side_charts(stats)},
        districts=mapping.district_choices(db, scope),
        notices=[mapview.notice_text(n) for n in result.notices],
        map_json=mapview.script_json(data),
        labels_json=mapview.script_json(mapview.labels()),
        classes=mapview.class_names(),
        colours=mapview.COLOURS,
        node_count=len(data["nodes"]),
    )


# --- unvisited households -------------------------------------------------------------


@bp.get("/unvisited")
@allow(access.NETWORK_READ)
@takes("district", "limit")
@heavy
def unvisited_page():
    district = text_arg("district")
    rows = plain(mapping.unvisited(get_db(), g.subject, district, int_arg("limit", 500, 1, 10_000)))
    audit_shown("network.unvisited", rows, detail=f"{len(rows)} households")
    districts = mapping.district_choices(get_db(), mapping.scope_of(g.subject))
    return render_template("unvisited.html", rows=rows, district=district, districts=districts)


@bp.get("/unvisited.csv")
@allow(access.NETWORK_READ)
@takes("district")
@heavy
def unvisited_csv():
    district = text_arg("district")
    rows = plain(mapping.unvisited(get_db(), g.subject, district, 100_000))
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheets read Korean as UTF-8 with a BOM
    writer = csvio.writer(out, lineterminator="\r\n")  # every cell spreadsheet-safe
    writer.writerow(mapping.UNVISITED_COLUMNS)
    for r in rows:
        writer.writerow([";".join(r[c]) if c == "code_names" else r[c] for c in mapping.UNVISITED_COLUMNS])
    audit_shown("network.unvisited.export", rows, detail=f"{len(rows)} households as CSV")
    return Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="unvisited.csv"'},
    )


# --- one household --------------------------------------------------------------------


@bp.get("/households/<household_id>")
@allow(access.HOUSEHOLD_READ)
@takes("claimed", "released", "error", "done")
def household_page(household_id: str):
    """One household as the caller may see it; for a field worker with the next step
    (claim, show the address while it is theirs, report, release: web/visitor.py); for
    staff who may correct it, the desk (web/deskpage.py, forms in web/desk.py)."""
    shown = answers.household(household_id)
    return deskpage.render(shown)
