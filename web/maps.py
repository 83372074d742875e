"""The map and the network lists as pages and the API ask for them.

One flow: filters from the request (a bad one answers 400 naming it) → the policy
(``access.decide`` with the district scope; a household or district the caller may not
see answers 404, audited) → named Cypher of ``cypher/network.cypher`` → networkx graphs
and positions (``graphsvc.netmap``) → pyvis objects for the page, or plain JSON for the API.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import networkx as nx
from flask import current_app
from flask_babel import gettext as _
from pyvis.edge import Edge
from pyvis.network import Network
from pyvis.node import Node

from graphsvc import access, netmap
from graphsvc.netmap import Scope

from .args import BadField, date_arg, int_arg, text_arg
from .guard import deny
from .neo import get_db
from .views import plain

COLOURS = {
    "never": "#d9534f", "overdue": "#f0ad4e", "recent": "#5cb85c", "closed": "#9aa0a6",
    "placeholder": "#e6e8eb", "newcomer": "#c9a227", "edge": "#8a94a6", "person": "#6f8fb3",
}
VIEWS = ("households", "people")
FILTER_ARGS = ("district", "chain_of", "root", "hops", "status", "wave_min", "wave_max", "since", "until", "q",
               "max_nodes", "view", "rest")


@dataclass(frozen=True)
class MapFilters:
    district: str | None = None
    chain_of: str | None = None  # a household of the chain to draw (id or code)
    root: str | None = None  # "around household X" (id or code)
    hops: int = 2
    classes: tuple[str, ...] | None = None
    wave_min: int | None = None
    wave_max: int | None = None
    since: dt.date | None = None  # came in through an introduction on or after
    until: dt.date | None = None
    q: str | None = None
    max_nodes: int = netmap.NODE_BUDGET
    view: str = "households"
    rest: bool = False  # the chains of `district` that the overview groups together

    def args(self, **change: Any) -> dict[str, str]:
        """These filters as query arguments (for links), with ``change`` applied."""
        values = {**self.__dict__, **change}
        out = {}
        for key, value in values.items():
            if value in (None, False, "") or (key == "hops" and value == 2) \
                    or (key == "max_nodes" and value == netmap.NODE_BUDGET) \
                    or (key == "view" and value == "households"):
                continue
            if key == "classes":
                value = ",".join(value)
            elif key == "rest":
                value = "1"
            out[key] = str(value)
        return out


def parse_filters(args: Mapping[str, str]) -> MapFilters:
    """Validated filters; ``BadField`` (400, naming the argument) for a malformed one."""
    raw_classes = [c for c in (args.get("status") or "").replace(" ", "").split(",") if c]
    for c in raw_classes:
        if c not in netmap.VISIT_CLASSES:
            raise BadField("status", _("one of %(values)s", values=", ".join(netmap.VISIT_CLASSES)))
    view = (args.get("view") or "households").strip()
    if view not in VIEWS:
        raise BadField("view", _("one of %(values)s", values=", ".join(VIEWS)))
    f = MapFilters(
        district=text_arg("district", args=args),
        chain_of=text_arg("chain_of", 64, args),
        root=text_arg("root", 64, args),
        hops=int_arg("hops", 2, 1, 6, args),
        classes=tuple(dict.fromkeys(raw_classes)) or None,
        wave_min=int_arg("wave_min", None, 0, 1000, args),
        wave_max=int_arg("wave_max", None, 0, 1000, args),
        since=date_arg("since", args),
        until=date_arg("until", args),
        q=text_arg("q", args=args),
        max_nodes=int_arg("max_nodes", netmap.NODE_BUDGET, 1, netmap.MAX_NODES, args),
        view=view,
        rest=(args.get("rest") or "") in ("1", "true", "yes"),
    )
    if f.wave_min is not None and f.wave_max is not None and f.wave_min > f.wave_max:
        raise BadField("wave_max", _("not below wave_min"))
    if f.since and f.until and f.since > f.until:
        raise BadField("until", _("not before since"))
    if f.view == "people" and not (f.chain_of or f.root):
        raise BadField("view", _("the people view needs chain_of or root"))
    if f.rest and not f.district:
        raise BadField("rest", _("needs a district"))
    return f


def scope_of(subject: access.Subject) -> Scope:
    return Scope(None if subject.role == "admin" else tuple(subject.districts))


def authorise(subject: access.Subject, filters: MapFilters) -> Scope:
    """The scope of this request; a district outside the caller's answers 404 (audited)."""
    decision = access.decide(subject, access.NETWORK_READ, access.DistrictScope(filters.district))
    if not decision:
        deny(access.NETWORK_READ, [filters.district] if filters.district else [], 404, decision.why)
    return scope_of(subject)


def household_ref(ref: str, scope: Scope) -> dict:
    """A household by id or code, in scope; 404 (audited) otherwise."""
    rows = get_db().read("map_household_ref", ref=ref)
    if not rows or not scope.covers(rows[0]["district"]):
        deny(access.NETWORK_READ, [ref], 404, "no such household in scope")
    return rows[0]


@dataclass
class MapResult:
    mode: str  # households | people | overview
    filters: MapFilters
    graph: nx.DiGraph | None = None
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    groups: list[netmap.Group] = field(default_factory=list)
    labels: dict[str, dict] = field(default_factory=dict)  # overview: chain root -> label row
    district_labels: dict[str, tuple[float, float]] = field(default_factory=dict)
    radius: dict[str, float] = field(default_factory=dict)
    total: int = 0  # households the filters keep
    left_out: int = 0  # of those, not drawn (over the node budget)
    focus: str | None = None
    highlight: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    today: dt.date = field(default_factory=dt.date.today)


def chain_params(filters: MapFilters, scope: Scope) -> dict[str, Any]:
    """``map_groups`` parameters for every household of the scope (no other filter)."""
    params = _params(filters, scope, dt.date.today())
    params.pop("ids")
    return params


def _params(filters: MapFilters, scope: Scope, today: dt.date) -> dict[str, Any]:
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    return {
        "districts": scope.query_districts(filters.district),
        "chains": None, "ids": None,
        "classes": list(filters.classes) if filters.classes else None,
        "wave_min": filters.wave_min, "wave_max": filters.wave_max,
        "joined_since": filters.since, "joined_until": filters.until,
        "overdue_before": today - dt.timedelta(days=settings.follow_up_days),
    }


def build(filters: MapFilters, subject: access.Subject) -> MapResult:
    db = get_db()
    scope = authorise(subject, filters)
    result = MapResult("households", filters)
    params = _params(filters, scope, result.today)
    centre = None
    if filters.chain_of:
        params["chains"] = [household_ref(filters.chain_of, scope)["chain"]]
    if filters.root:
        ref = household_ref(filters.root, scope)
        params["chains"] = [ref["chain"]]
        centre = result.focus = ref["id"]
        # k introductions away is at most k waves away: fetch only that band of the chain
        low, high = max(0, ref["wave"] - filters.hops), ref["wave"] + filters.hops
        params["wave_min"] = max(low, params["wave_min"] or 0)
        params["wave_max"] = min(high, high if params["wave_max"] is None else params["wave_max"])
    if filters.q:
        matches = db.read("map_search", q=filters.q, districts=params["districts"], limit=50)
        if not matches:
            result.notices.append(_("No household matches “%(q)s”.", q=filters.q))
        else:
            result.highlight = [m["id"] for m in matches]
            if params["chains"] is None:
                params["chains"] = [matches[0]["chain"]]
                result.focus = result.focus or matches[0]["id"]
    groups_rows = db.read("map_groups", **{k: v for k, v in params.items() if k != "ids"})[0]["rows"]
    if filters.rest:
        shown = {gr.chain for gr in netmap.overview(groups_rows) if gr.chain}
        params["chains"] = [r[1] for r in groups_rows if r[1] not in shown]
        groups_rows = [r for r in groups_rows if r[1] not in shown]
    result.total = sum(r[2] for r in groups_rows)

    if params["chains"] is None and result.total > filters.max_nodes:
        result.mode = "overview"
        result.groups = netmap.overview(groups_rows)
        roots = sorted({gr.chain for gr in result.groups if gr.chain})
        samples = sorted({gr.sample for gr in result.groups})
        labelled = {r["id"]: r for r in db.read("map_chain_labels", ids=sorted(set(roots) | set(samples)))}
        # a chain is named by its root household only when that household is in scope
        result.labels = {i: r for i, r in labelled.items() if scope.covers(r["district"])}
        result.positions, result.district_labels, result.radius = netmap.overview_layout(result.groups)
        return result

    # Which households to draw, from a skeleton of the matching ones (id, wave, links); then
    # only those are read whole: a map never reads more than it draws (max_nodes=1 reads one).
    skeleton = db.read("map_skeleton", **{k: v for k, v in params.items() if k != "ids"},
                       with_edges=centre is not None)[0]["rows"]
    chosen, left_out, below = netmap.choose(skeleton, scope, filters.max_nodes, centre, filters.hops)
    rows = db.read("map_households", **{**params, "ids": chosen})[0]["rows"] if chosen else []
    graph = netmap.household_map(rows, scope)
    if centre is not None and centre in graph:
        graph = netmap.k_hops(graph, centre, filters.hops)
    for n, hidden in below.items():
        graph.nodes[n]["below"] = hidden
    result.left_out = left_out
    if filters.view == "people":
        result.mode = "people"
        ids = [n for n, d in graph.nodes(data=True) if d["kind"] == "household"]
        people_rows = db.read("map_chain_people", ids=ids)[0]["rows"]
        full = netmap.people_map(people_rows, scope)
        graph, trimmed = netmap.trim_to_budget(full, filters.max_nodes)
        if trimmed:
            netmap.mark_hidden_below(full, graph)
        drawn = sum(1 for _n, d in graph.nodes(data=True) if d["kind"] == "person")
        fetched = sum(1 for _n, d in full.nodes(data=True) if d["kind"] == "person")
        # people of households the budget left out are counted, not read
        result.total = max(fetched, sum(r[4] for r in groups_rows)) if centre is None else fetched
        result.left_out = result.total - drawn
    if result.left_out:
        result.notices.append(_("Showing the first %(shown)d of %(total)d by wave; narrow the map with the filters "
                                "or “around household”.", shown=filters.max_nodes, total=filters.max_nodes + result.left_out))
    result.graph = graph
    result.parents = netmap.tree_parents(graph)
    level0 = {n: d.get("wave", 0) for n, d in graph.nodes(data=True)}
    order = {n: (0, str(d.get("joined_on") or ""), str(d.get("code") or d.get("code_name") or n))
             for n, d in graph.nodes(data=True)}
    result.positions = netmap.tree_layout(list(graph), result.parents, level0, order)
    result.highlight = [h for h in result.highlight if h in graph]
    if result.focus not in graph:
        result.focus = result.highlight[0] if result.highlight else None
    return result


# --- what a node says ---------------------------------------------------------------

def class_names() -> dict[str, str]:
    return {
        "never": _("never visited"),
        "overdue": _("follow-up overdue"),
        "recent": _("visited recently"),
        "closed": _("closed, moved or do not visit"),
    }


def _native(value: Any) -> dt.date | None:
    return value.to_native() if hasattr(value, "to_native") else value


def _household_label(d: dict) -> str:
    return d["members"][0][1] if d["members"] else d["code"]


def vis_data(result: MapResult) -> dict[str, Any]:
    """The page's map: vis-network nodes, edges and options assembled with pyvis, plus the
    details panel's content. Every string is plain text (the page's script only ever
    sets textContent; vis-network 9 shows a string title as text)."""
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    newcomer_since = result.today - dt.timedelta(days=settings.newcomer_days)
    net = Network(directed=True)
    net.toggle_physics(False)
    net.options.interaction.hideEdgesOnDrag = result.graph is not None and len(result.graph) > 1500
    net.options.edges.smooth.enabled = False
    # pyvis's add_node/add_edge scan every node for each call (quadratic at thousands of
    # nodes); the ids here are unique by construction, so the option objects go in directly
    nodes, edges, details, children = net.nodes, net.edges, {}, {}
    names = class_names()
    if result.mode == "overview":
        for district, (x, y) in result.district_labels.items():
            # big enough to read when the whole overview is on screen
            key = f"~district:{district}"
            nodes.append(Node(key, "text", district, x=x, y=y, font={"size": 90, "color": "#1d2330"}).options)
            details[key] = {"kind": "district", "title": district, "fields": [], "members": [],
                            "url": None, "url_label": None, "search": [district]}
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
            title = "\n".join([label, gr.district, _("%(n)d households", n=gr.households),
                               _("%(p)d%% never visited", p=round(100 * gr.unvisited_share))])
            nodes.append(Node(gr.key, "dot", label, x=x, y=y, size=result.radius[gr.key], title=title,
                              color=_share_colour(gr.unvisited_share), fixed=True).options)
            details[gr.key] = {
                "kind": "bucket" if gr.chain is None else "chain",
                "title": label,
                "fields": [["district", gr.district], ["households", f"{gr.households:,}"],
                           ["unvisited_share", f"{round(100 * gr.unvisited_share)}%"],
                           ["wave", str(gr.depth)]] + ([["code", root["code"]]] if root else []),
                "members": [], "url": _map_url(args), "url_label": "open_chain",
                "search": [s for s in (label, root and root["code"], sample and sample["code"]) if s],
                # what the codes and names above belong to (the audit reads ids from here)
                "seed": root["id"] if root else None, "seed_person_id": root["person_id"] if root else None,
                "sample_id": gr.sample,
            }
    else:
        g = result.graph
        for n, d in g.nodes(data=True):
            x, y = result.positions[n]
            if d["kind"] == "placeholder":
                label = _("1 household in another district")
                # no label on the canvas (a row of them would overlap); the tooltip says it
                nodes.append(Node(n, "dot", " ", x=x, y=y, size=10, title=label,
                                  color={"background": COLOURS["placeholder"], "border": COLOURS["closed"]},
                                  shapeProperties={"borderDashes": [4, 4]}, borderWidth=2,
                                  font={"color": "#5b6475", "size": 11}).options)
                details[n] = {"kind": "placeholder", "title": label, "fields": [], "members": [],
                              "url": None, "url_label": None, "search": []}
                continue
            if d["kind"] == "person":
                label = d["code_name"]
                nodes.append(Node(n, "dot", label, x=x, y=y, size=12, title=f"{label}\n{d['district']}",
                                  color=COLOURS["person"]).options)
                details[n] = {"kind": "person", "title": label,
                              "fields": [["district", d["district"]], ["wave", str(d["wave"])]],
                              "members": [], "url": f"/households/{d['household']}",
                              "url_label": "open_household", "search": [label], "household_id": d["household"]}
                continue
            label = _household_label(d)
            fresh = netmap.newcomer(_native(d["arrived_on"]), newcomer_since)
            below = d.get("below", 0)
            status = names[d["visit_class"]]
            title_lines = [label, d["code"], status, _("wave %(n)d", n=d["wave"])]
            if fresh:
                title_lines.append(_("newcomer"))
            if below:
                title_lines.append(_("%(n)d more below (not drawn)", n=below))
            nodes.append(Node(n, "dot", label + (f" (+{below})" if below else ""), x=x, y=y,
                              size=min(40, 10 + 4 * d["made"] ** 0.5), title="\n".join(title_lines),
                              color={"background": COLOURS[d["visit_class"]],
                                     "border": COLOURS["newcomer"] if fresh else "#4a5263"},
                              borderWidth=4 if fresh else 1).options)
            details[n] = {
                "kind": "household", "title": label,
                "fields": [["code", d["code"]], ["district", d["district"]], ["status", status],
                           ["wave", str(d["wave"])], ["introductions", str(d["made"])],
                           ["last_visit", plain(d["last_visit"])], ["arrived_on", plain(d["arrived_on"])],
                           ["newcomer", "yes" if fresh else "no"]],
                "members": [m[1] for m in d["members"]], "member_ids": [m[0] for m in d["members"]],
                "url": f"/households/{n}", "url_label": "open_household",
                "search": [d["code"]] + [m[1] for m in d["members"]],
                "chain_url": _map_url(result.filters.args(view="people", chain_of=n, root=None, q=None)),
            }
        for u, v, data in g.edges(data=True):
            tree = data.get("tree")
            edges.append(Edge(u, v, directed=True, id=f"~e:{u}>{v}", width=1.5 if tree else 1,
                              dashes=not tree or data.get("kind") == "family",
                              color={"color": COLOURS["edge"]}).options)
        for child, parent in result.parents.items():
            children.setdefault(parent, []).append(child)
    # big branches start collapsed, except at the top of a tree (the map would be empty)
    collapsed = [n for n, cs in children.items()
                 if len(cs) > netmap.COLLAPSE_AT and n != result.focus and n in result.parents]
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
    options.setdefault("interaction", {}).update(hover=True, tooltipDelay=150, navigationButtons=False,
                                                 keyboard=False, multiselect=True)
    options["nodes"] = {"font": {"face": "system-ui, sans-serif", "size": 13}}
    return options


def _share_colour(share: float) -> dict:
    """Green (all visited) to amber (30% never visited) to red (60% or more)."""
    stops = [(0.0, (0x5c, 0xb8, 0x5c)), (0.3, (0xf0, 0xad, 0x4e)), (0.6, (0xd9, 0x53, 0x4f))]
    share = min(0.6, max(0.0, share))
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if share <= b:
            t = (share - a) / (b - a)
            rgb = tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))
            break
    colour = "#%02x%02x%02x" % rgb
    return {"background": colour, "border": "#4a5263"}


def _map_url(args: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return "/map" + ("?" + urlencode(args) if args else "")


# --- the API's plain view --------------------------------------------------------------

def api_data(result: MapResult) -> dict[str, Any]:
    """``{nodes, edges, stats}``: the same graph as the page, as data (no positions)."""
    names = class_names()
    nodes, edges = [], []
    if result.mode == "overview":
        nodes = [{"id": gr.key, "kind": "chain" if gr.chain else "rest", "district": gr.district,
                  "chain_of": gr.sample, "households": gr.households, "unvisited": gr.unvisited,
                  "people": gr.people, "depth": gr.depth, "chains": gr.chains,
                  "seed": gr.chain if gr.chain in result.labels else None}
                 for gr in result.groups]
    else:
        for n, d in result.graph.nodes(data=True):
            if d["kind"] == "placeholder":
                nodes.append({"id": n, "kind": "placeholder"})
            elif d["kind"] == "person":
                nodes.append({"id": n, "kind": "person", "code_name": d["code_name"],
                              "household_id": d["household"], "district": d["district"], "wave": d["wave"]})
            else:
                nodes.append({"id": n, "kind": "household", "code": d["code"], "district": d["district"],
                              "status": d["status"], "visit_status": d["visit_class"],
                              "visit_status_text": names[d["visit_class"]], "wave": d["wave"],
                              "introductions": d["made"], "last_visit": plain(d["last_visit"]),
                              "arrived_on": plain(d["arrived_on"]), "joined_on": plain(d["joined_on"]),
                              "members": [{"id": m[0], "code_name": m[1]} for m in d["members"]]})
        edges = [{"from": u, "to": v, "tree": bool(t)} for u, v, t in result.graph.edges(data="tree")]
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
