"""The coordinator's pages: the network map, the unvisited list (and its CSV), one household.

Admins see every district; coordinators theirs. Every page records what it showed in the
audit log before it leaves (guard.record), with the ids of the households and people on it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from flask import Blueprint, Response, abort, g, render_template, request, send_from_directory
from flask_babel import gettext as _
from markupsafe import Markup

import pyvis
from graphsvc import access, charts, csvio, netmap

from . import maps, views
from .guard import allow, heavy, public, record_shown
from .neo import get_db
from .args import int_arg, takes, text_arg

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


def labels() -> dict[str, str]:
    """The words the map's script shows, in the page's language."""
    return {
        "status": _("Status"), "district": _("District"), "code": _("Code"), "wave": _("Wave"),
        "introductions": _("Introductions made"), "last_visit": _("Last visit"),
        "arrived_on": _("Arrived"), "members": _("Members"), "households": _("Households"),
        "unvisited_share": _("Never visited"), "never": _("never visited"), "newcomer": _("Newcomer"),
        "yes": _("yes"), "no": _("no"), "collapse": _("Collapse branch"), "expand": _("Expand branch"),
        "centre": _("Centre here"), "open_household": _("Open household"),
        "open_chain": _("Open this chain"), "open_people": _("People of this chain"),
        "matches": _("{n} matches"), "no_match": _("No match on this map"),
        "hidden_children": _("+{n}"), "drawn": _("{n} nodes drawn"),
        "placeholder": _("1 household in another district (no details)"),
    }


def _json(value) -> Markup:
    """JSON for a <script type="application/json"> block: <, > and & escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def district_choices(scope: netmap.Scope) -> list[str]:
    """The districts a filter may offer: the caller's, or (admins) every district in use."""
    if scope.districts is not None:
        return list(scope.districts)
    return [r["district"] for r in get_db().read("map_districts")]


def side_stats(filters: maps.MapFilters, scope: netmap.Scope) -> dict:
    row = get_db().read("map_stats", districts=scope.query_districts(filters.district))[0]
    waves = [(str(w), n) for w, n in row["waves"]]
    months = [(m, n) for m, n in row["months"]][-36:]
    top = [(name, n) for _pid, name, n in row["top"]]
    return {
        "households": sum(n for _w, n in row["waves"]),
        "roots": row["roots"], "chains": row["chains"],
        "top_ids": [pid for pid, _name, _n in row["top"]],
        "waves_svg": Markup(charts.column_chart(waves, title=_("Households by wave"), empty_text="–")),
        "months_svg": Markup(charts.column_chart(months, title=_("Introductions per month"), empty_text="–")),
        "top_svg": Markup(charts.bar_chart(top, title=_("Top introducers"), empty_text="–")),
    }


@bp.get("/map")
@allow(access.NETWORK_READ)
@takes(*maps.FILTER_ARGS)
@heavy
def map_page():
    filters = maps.parse_filters(request.args)
    result = maps.build(filters, g.subject)
    data = maps.vis_data(result)
    scope = maps.scope_of(g.subject)
    stats = side_stats(filters, scope)
    districts = district_choices(scope)
    record_shown("network.map", {"map": data, "top_ids": stats["top_ids"]},
                 detail=f"{result.mode}: {len(data['nodes'])} nodes; {json.dumps(filters.args(), ensure_ascii=False)[:150]}")
    return render_template("map.html", result=result, filters=filters, stats=stats, districts=districts,
                           map_json=_json(data), labels_json=_json(labels()), classes=maps.class_names(),
                           colours=maps.COLOURS, node_count=len(data["nodes"]))


# --- unvisited households -------------------------------------------------------------

UNVISITED_COLUMNS = ("code", "code_names", "district", "arrived_on", "joined_on", "wave")


def unvisited_rows(district: str | None, limit: int) -> list[dict]:
    filters = maps.MapFilters(district=district)
    scope = maps.authorise(g.subject, filters)
    rows = get_db().read("unvisited_households", districts=scope.query_districts(district), limit=limit)[0]["rows"]
    return [{"id": r[0], "code": r[1], "district": r[2], "arrived_on": views.plain(r[3]),
             "joined_on": views.plain(r[4]), "wave": r[5], "code_names": [m[1] for m in r[6]],
             "members": [{"id": m[0], "code_name": m[1]} for m in r[6]]} for r in rows]


@bp.get("/unvisited")
@allow(access.NETWORK_READ)
@takes("district", "limit")
@heavy
def unvisited_page():
    district = text_arg("district")
    rows = unvisited_rows(district, int_arg("limit", 500, 1, 10_000))
    record_shown("network.unvisited", rows, detail=f"{len(rows)} households")
    scope = maps.scope_of(g.subject)
    districts = district_choices(scope)
    return render_template("unvisited.html", rows=rows, district=district, districts=districts)


@bp.get("/unvisited.csv")
@allow(access.NETWORK_READ)
@takes("district")
@heavy
def unvisited_csv():
    district = text_arg("district")
    rows = unvisited_rows(district, 100_000)
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheets read Korean as UTF-8 with a BOM
    writer = csvio.writer(out, lineterminator="\r\n")  # every cell spreadsheet-safe
    writer.writerow(UNVISITED_COLUMNS)
    for r in rows:
        writer.writerow([";".join(r[c]) if c == "code_names" else r[c] for c in UNVISITED_COLUMNS])
    record_shown("network.unvisited.export", rows, detail=f"{len(rows)} households as CSV")
    name = "unvisited.csv"
    return Response(out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- one household --------------------------------------------------------------------

@bp.get("/households/<household_id>")
@allow(access.HOUSEHOLD_READ)
def household_page(household_id: str):
    shown = views.household_for(household_id)
    return render_template("household.html", h=shown, classes=maps.class_names())
