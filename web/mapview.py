"""The map as the page and the API show it: pyvis's vis-network data for the page, plain
JSON for the API, the words of its legend and notices, the side panel's charts.

Presentation only: the read model is graphsvc/mapping.py (MapResult); this module turns it
into what leaves, in the page's language. Shared by the coordinator's pages and the API
(no blueprint imports another).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, cast

from flask_babel import gettext as _
from markupsafe import Markup
from pyvis.edge import Edge
from pyvis.network import Network
from pyvis.node import Node

from graphsvc import charts, netmap
from graphsvc.mapping import MapResult, Notice
from graphsvc.model import plain, to_date

if TYPE_CHECKING:
    import networkx as nx

# Colours of the Okabe–Ito palette (told apart with the common colour-vision deficiencies);
# every household is also outlined in INK (15.7:1 on the white canvas: the shape reads
# whatever its fill) and each visit status has a shape of its own, so that neither the
# status nor visited/unvisited hangs on colour alone (README: "The map").
COLOURS = {
    "never": "#d55e00",  # vermillion, a diamond: never visited (3.9:1 on white)
    "overdue": "#e69f00",  # orange, a triangle: follow-up overdue
    "recent": "#009e73",  # bluish green, a circle: visited recently (3.4:1)
    "closed": "#7a7f87",  # mid grey, a square: closed, moved or do not visit (4.0:1)
    "pending": "#fbeaf3",  # pale, a hexagon with a dashed plum border: awaiting review
    "pending_border": "#9b3d78",  # plum (6.3:1)
    "placeholder": "#ffffff",  # hollow, small, dotted border: another district's household
    "placeholder_border": "#7a7f87",
    "newcomer": "#a67c00",  # dark gold ring (3.8:1)
    "focus": "#0b57d0",  # the household asked for: a thick blue ring (6.4:1)
    "edge": "#8a94a6",
    "person": "#0072b2",  # blue (5.2:1)
    "ink": "#1d2330",
}
SHAPES = {"never": "diamond", "overdue": "triangle", "recent": "dot", "closed": "square", "pending": "hexagon"}
LABEL_SIZE = 14  # px at zoom 1; map.js opens the map at a zoom where this reads (map.js READABLE_PX)


def labels() -> dict[str, str]:
    """The words the map's script shows, in the page's language."""
    return {
        "status": _("Status"),
        "district": _("District"),
        "code": _("Code"),
        "wave": _("Wave"),
        "introductions": _("Introductions made"),
        "last_visit": _("Last visit"),
        "arrived_on": _("Arrived"),
        "members": _("Members"),
        "households": _("Households"),
        "unvisited_share": _("Never visited"),
        "never": _("never visited"),
        "newcomer": _("Newcomer"),
        "yes": _("yes"),
        "no": _("no"),
        "collapse": _("Collapse branch"),
        "expand": _("Expand branch"),
        "centre": _("Centre here"),
        "open_household": _("Open household"),
        "open_chain": _("Open this chain"),
        "open_people": _("People of this chain"),
        "matches": _("{n} matches"),
        "no_match": _("No match on this map"),
        "hidden_children": _("+{n}"),
        "drawn": _("{n} nodes drawn"),
        "placeholder": _("1 household in another district (no details)"),
    }


def script_json(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block: <, > and & escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def notice_text(notice: Notice) -> str:
    if notice.code == "no_match":
        return _("No household matches “%(q)s”.", **notice.values)
    if notice.code == "trimmed":
        return _(
            "Showing the first %(shown)d of %(total)d by wave; narrow the map with the filters or “around household”.",
            **notice.values,
        )
    return notice.code


def side_charts(stats: dict[str, Any]) -> dict[str, Markup]:
    """The side panel's charts as SVG drawn on the server."""
    return {
        "waves_svg": Markup(charts.column_chart(stats["waves"], title=_("Households by wave"), empty_text="–")),
        "months_svg": Markup(charts.column_chart(stats["months"], title=_("Introductions per month"), empty_text="–")),
        "top_svg": Markup(charts.bar_chart(stats["top"], title=_("Top introducers"), empty_text="–")),
    }


# --- what a node says ---------------------------------------------------------------


def class_names() -> dict[str, str]:
    return {
        "never": _("never visited"),
        "overdue": _("follow-up overdue"),
        "recent": _("visited recently"),
        "closed": _("closed, moved or do not visit"),
        "pending": _("awaiting review (brought back by a visitor)"),
    }


def _household_label(d: dict) -> str:
    """The name of a household in the details panel: its first member's code name."""
    return d["members"][0][1] if d["members"] else d["code"]


def vis_data(result: MapResult, newcomer_days: int) -> dict[str, Any]:
    """The page's map: vis-network nodes, edges and options assembled with pyvis, plus the
    details panel's content. Every string is plain text (the page's script only ever
    sets textContent; vis-network 9 shows a string title as text)."""
    newcomer_since = result.today - dt.timedelta(days=newcomer_days)
    net = Network(directed=True)
    net.toggle_physics(False)
    net.options.interaction.hideEdgesOnDrag = result.graph is not None and len(result.graph) > 1500
    net.options.edges.smooth.enabled = False
    # pyvis's add_node/add_edge scan every node for each call (quadratic at thousands of
    # nodes); the ids here are unique by construction, so the option objects go in directly
    nodes, edges = net.nodes, net.edges
    details: dict[str, dict[str, Any]] = {}
    children: dict[str, list[str]] = {}
    names = class_names()
    if result.mode == "overview":
        for district, (x, y) in result.district_labels.items():
            # big enough to read when the whole overview is on screen
            key = f"~district:{district}"
            nodes.append(Node(key, "text", district, x=x, y=y, font={"size": 90, "color": "#1d2330"}).options)
            details[key] = {
                "kind": "district",
                "title": district,
                "fields": [],
                "members": [],
                "url": None,
                "url_label": None,
                "search": [district],
            }
        for gr in result.groups:
            x, y = result.positions[gr.key]
            root = result.labels.get(gr.chain) if gr.chain else None
            sample = result.labels.get(gr.sample)
            if gr.chain is None:
                label = _("%(n)d smaller chains", n=gr.chains)
                args = result.filters.args(district=gr.district, rest=True)
            elif root:
                label = root["code_name"] or root["code"]
                args = result.filters.args(district=gr.district, chain_of=gr.chain)
            else:
                label = _("chain from another district")
                args = result.filters.args(district=gr.district, chain_of=gr.sample)
            title = "\n".join(
                [
                    label,
                    gr.district,
                    _("%(n)d households", n=gr.households),
                    _("%(p)d%% never visited", p=round(100 * gr.unvisited_share)),
                ]
            )
            nodes.append(
                Node(
                    gr.key,
                    "dot",
                    label,
                    x=x,
                    y=y,
                    size=result.radius[gr.key],
                    title=title,
                    color=_share_colour(gr.unvisited_share),
                    fixed=True,
                ).options
            )
            details[gr.key] = {
                "kind": "bucket" if gr.chain is None else "chain",
                "title": label,
                "fields": [
                    ["district", gr.district],
                    ["households", f"{gr.households:,}"],
                    ["unvisited_share", f"{round(100 * gr.unvisited_share)}%"],
                    ["wave", str(gr.depth)],
                ]
                + ([["code", root["code"]]] if root else []),
                "members": [],
                "url": _map_url(args),
                "url_label": "open_chain",
                "search": [s for s in (label, root and root["code"], sample and sample["code"]) if s],
                # what the codes and names above belong to (the audit reads ids from here)
                "seed": root["id"] if root else None,
                "seed_person_id": root["person_id"] if root else None,
                "sample_id": gr.sample,
            }
    else:
        g = cast("nx.DiGraph", result.graph)  # not the overview: the map has its graph
        for n, d in g.nodes(data=True):
            x, y = result.positions[n]
            if d["kind"] == "placeholder":
                label = _("1 household in another district")
                # no label on the canvas (a row of them would overlap); the tooltip says it
                nodes.append(
                    Node(
                        n,
                        "dot",
                        " ",
                        x=x,
                        y=y,
                        size=10,
                        title=label,
                        color={"background": COLOURS["placeholder"], "border": COLOURS["placeholder_border"]},
                        shapeProperties={"borderDashes": [2, 3]},
                        borderWidth=1.5,
                        font={"color": "#5b6475", "size": 11},
                    ).options
                )
                details[n] = {
                    "kind": "placeholder",
                    "title": label,
                    "fields": [],
                    "members": [],
                    "url": None,
                    "url_label": None,
                    "search": [],
                }
                continue
            if d["kind"] == "person":
                label = d["code_name"]
                nodes.append(
                    Node(
                        n,
                        "dot",
                        label,
                        x=x,
                        y=y,
                        size=12,
                        title=f"{label}\n{d['district']}",
                        color={
                            "background": COLOURS["person"],
                            "border": COLOURS["focus" if n == result.focus else "ink"],
                        },
                        borderWidth=1.5 if n != result.focus else 6,
                    ).options
                )
                details[n] = {
                    "kind": "person",
                    "title": label,
                    "fields": [["district", d["district"]], ["wave", str(d["wave"])]],
                    "members": [],
                    "url": f"/households/{d['household']}",
                    "url_label": "open_household",
                    "search": [label],
                    "household_id": d["household"],
                }
                continue
            label = _household_label(d)
            fresh = netmap.newcomer(to_date(d["arrived_on"]), newcomer_since)
            below = d.get("below", 0)
            visit_class = d["visit_class"]
            status = names[visit_class]
            title_lines = [d["code"], label, status, _("wave %(n)d", n=d["wave"])]
            if fresh:
                title_lines.append(_("newcomer"))
            if below:
                title_lines.append(_("%(n)d more below (not drawn)", n=below))
            focus = n == result.focus
            if focus:
                title_lines.insert(0, _("the household asked for"))
            pending = visit_class == "pending"
            border = COLOURS["pending_border"] if pending else COLOURS["newcomer"] if fresh else COLOURS["ink"]
            style: dict[str, Any] = {
                "color": {"background": COLOURS[visit_class], "border": COLOURS["focus"] if focus else border},
                "borderWidth": 6 if focus else 4 if fresh else 2.5 if pending else 1.5,
            }
            if pending:  # dashed like nothing else on the map, and the legend says so
                style["shapeProperties"] = {"borderDashes": [5, 3]}
            if focus:
                style["font"] = {"size": LABEL_SIZE + 4, "color": COLOURS["focus"], "strokeWidth": 4}
            # the canvas shows the household code (short, unique); the code names are in the
            # tooltip and the details panel
            nodes.append(
                Node(
                    n,
                    SHAPES[visit_class],
                    d["code"] + (f" (+{below})" if below else ""),
                    x=x,
                    y=y,
                    size=min(30, (13 if pending else 10) + 3 * d["made"] ** 0.5) + (4 if focus else 0),
                    title="\n".join(title_lines),
                    **style,
                ).options
            )
            details[n] = {
                "kind": "household",
                "title": label,
                "fields": [
                    ["code", d["code"]],
                    ["district", d["district"]],
                    ["status", status],
                    ["wave", str(d["wave"])],
                    ["introductions", str(d["made"])],
                    ["last_visit", plain(d["last_visit"])],
                    ["arrived_on", plain(d["arrived_on"])],
                    ["newcomer", _("yes") if fresh else _("no")],
                ],
                "members": [m[1] for m in d["members"]],
                "member_ids": [m[0] for m in d["members"]],
                "url": f"/households/{n}",
                "url_label": "open_household",
                "search": [d["code"]] + [m[1] for m in d["members"]],
                "chain_url": _map_url(result.filters.args(view="people", chain_of=n, root=None, q=None)),
            }
        for u, v, data in g.edges(data=True):
            tree = data.get("tree")
            edges.append(
                Edge(
                    u,
                    v,
                    directed=True,
                    id=f"~e:{u}>{v}",
                    width=1.5 if tree else 1,
                    dashes=not tree or data.get("kind") == "family",
                    color={"color": COLOURS["edge"]},
                ).options
            )
        for child, parent in result.parents.items():
            children.setdefault(parent, []).append(child)
    # big branches start collapsed, except at the top of a tree (the map would be empty)
    collapsed = [
        n for n, cs in children.items() if len(cs) > netmap.COLLAPSE_AT and n != result.focus and n in result.parents
    ]
    data_nodes, data_edges, _heading, _h, _w, options = net.get_network_data()
    return {
        "mode": result.mode,
        "nodes": data_nodes,
        "edges": data_edges,
        "options": _options(options),
        "details": details,
        "children": children,
        "collapsed": collapsed,
        "focus": result.focus,
        "highlight": result.highlight,
    }


def _options(pyvis_json: str) -> dict:
    options = json.loads(pyvis_json)
    options.setdefault("layout", {})
    options["layout"].update(improvedLayout=False, hierarchical={"enabled": False})
    options.setdefault("interaction", {}).update(
        hover=True, tooltipDelay=150, navigationButtons=False, keyboard=False, multiselect=True
    )
    # labels are drawn from READABLE_PX on screen (map.js opens the map at a zoom where they
    # read) and left out below it, where they would only overlap as grey smudges
    options["nodes"] = {
        "font": {"face": "system-ui, sans-serif", "size": LABEL_SIZE, "color": COLOURS["ink"], "strokeWidth": 3},
        "scaling": {"label": {"drawThreshold": 8}},
    }
    return options


def _share_colour(share: float) -> dict:
    """Green (all visited) to orange (30% never visited) to vermillion (60% or more): the
    households map's colours of visited, overdue and never visited."""
    stops = [(0.0, (0x00, 0x9E, 0x73)), (0.3, (0xE6, 0x9F, 0x00)), (0.6, (0xD5, 0x5E, 0x00))]
    share = min(0.6, max(0.0, share))
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if share <= b:
            t = (share - a) / (b - a)
            rgb = tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))
            break
    colour = "#%02x%02x%02x" % rgb
    return {"background": colour, "border": COLOURS["ink"]}


def _map_url(args: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return "/map" + ("?" + urlencode(args) if args else "")


# --- the API's plain view --------------------------------------------------------------


def api_data(result: MapResult) -> dict[str, Any]:
    """``{nodes, edges, stats}``: the same graph as the page, as data (no positions)."""
    names = class_names()
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    if result.mode == "overview":
        nodes = [
            {
                "id": gr.key,
                "kind": "chain" if gr.chain else "rest",
                "district": gr.district,
                "chain_of": gr.sample,
                "households": gr.households,
                "unvisited": gr.unvisited,
                "people": gr.people,
                "depth": gr.depth,
                "chains": gr.chains,
                "seed": gr.chain if gr.chain in result.labels else None,
            }
            for gr in result.groups
        ]
    else:
        g = cast("nx.DiGraph", result.graph)  # not the overview: the map has its graph
        for n, d in g.nodes(data=True):
            if d["kind"] == "placeholder":
                nodes.append({"id": n, "kind": "placeholder"})
            elif d["kind"] == "person":
                nodes.append(
                    {
                        "id": n,
                        "kind": "person",
                        "code_name": d["code_name"],
                        "household_id": d["household"],
                        "district": d["district"],
                        "wave": d["wave"],
                    }
                )
            else:
                nodes.append(
                    {
                        "id": n,
                        "kind": "household",
                        "code": d["code"],
                        "district": d["district"],
                        "status": d["status"],
                        "visit_status": d["visit_class"],
                        "visit_status_text": names[d["visit_class"]],
                        "wave": d["wave"],
                        "introductions": d["made"],
                        "last_visit": plain(d["last_visit"]),
                        "arrived_on": plain(d["arrived_on"]),
                        "joined_on": plain(d["joined_on"]),
                        "members": [{"id": m[0], "code_name": m[1]} for m in d["members"]],
                    }
                )
        edges = [{"from": u, "to": v, "tree": bool(t)} for u, v, t in g.edges(data="tree")]
    households = [d for d in nodes if d.get("kind") == "household"]
    stats = {
        "mode": result.mode,
        "households_matching": result.total,
        "households_drawn": len(households),
        "left_out": result.left_out,
        "unvisited_drawn": sum(1 for d in households if d["visit_status"] == "never"),
        "placeholders": sum(1 for d in nodes if d.get("kind") == "placeholder"),
    }
    return {"nodes": nodes, "edges": edges, "stats": stats}
