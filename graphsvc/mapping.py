"""The coordinator's map and the network lists as data: the read models behind /map, the
network API, the chain list, a person's chain and the unvisited list.

One flow, no Flask: the filters (graphsvc.mapping.MapFilters, parsed by the web layer) → the
policy (``access.decide`` with the district scope; a household or district the subject may
not see raises ``Refused`` not_found, which the web layer answers 404 and audits) → named
Cypher of cypher/network.cypher → networkx graphs and positions (graphsvc/netmap.py).
Settings come in as arguments. The web layer draws the result (web/mapview.py) and audits
the ids its answer shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from . import access, netmap
from .errors import Refused
from .model import to_date
from .netmap import Scope

if TYPE_CHECKING:
    from .db import Database

VIEWS = ("households", "people")
FILTER_ARGS = (
    "district",
    "chain_of",
    "root",
    "hops",
    "status",
    "wave_min",
    "wave_max",
    "since",
    "until",
    "q",
    "max_nodes",
    "view",
    "rest",
)


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
            if (
                value in (None, False, "")
                or (key == "hops" and value == 2)
                or (key == "max_nodes" and value == netmap.NODE_BUDGET)
                or (key == "view" and value == "households")
            ):
                continue
            if key == "classes":
                value = ",".join(value)
            elif key == "rest":
                value = "1"
            out[key] = str(value)
        return out


@dataclass(frozen=True)
class Notice:
    """Something the map tells its reader, as data: ``no_match`` ({q}), ``trimmed``
    ({shown, total}); the web layer words it in the page's language."""

    code: str
    values: dict[str, Any]


def scope_of(subject: access.Subject) -> Scope:
    return Scope(access.scope_districts(subject))


def authorise(subject: access.Subject, filters: MapFilters) -> Scope:
    """The scope of this request; a district outside the subject's raises Refused (not_found)."""
    decision = access.decide(subject, access.NETWORK_READ, access.DistrictScope(filters.district))
    if not decision:
        raise Refused("not_found", decision.why, targets=(filters.district,) if filters.district else ())
    return scope_of(subject)


def household_ref(db: Database, ref: str, scope: Scope) -> dict[str, Any]:
    """A household by id or code, in scope; Refused (not_found) otherwise."""
    rows = db.read("map_household_ref", ref=ref)
    if not rows or not scope.covers(rows[0]["district"]):
        raise Refused("not_found", "no such household in scope", targets=(ref,))
    return rows[0]


@dataclass
class MapResult:
    mode: str  # households | people | overview
    filters: MapFilters
    graph: nx.DiGraph | None = None
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    groups: list[netmap.Group] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # overview: chain root -> label row
    district_labels: dict[str, tuple[float, float]] = field(default_factory=dict)
    radius: dict[str, float] = field(default_factory=dict)
    total: int = 0  # households the filters keep
    left_out: int = 0  # of those, not drawn (over the node budget)
    focus: str | None = None
    highlight: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    today: dt.date = field(default_factory=dt.date.today)
    # the query that chose the map's households (map_groups' parameters; ``ids`` for a map
    # "around household X", whose hops no parameter says): the side figures use the same
    query: dict[str, Any] = field(default_factory=dict)


def chain_params(
    filters: MapFilters, scope: Scope, follow_up_days: int, today: dt.date | None = None
) -> dict[str, Any]:
    """``map_groups`` parameters for every household of the scope (no other filter)."""
    params = _params(filters, scope, today or dt.date.today(), follow_up_days)
    params.pop("ids")
    return params


def _params(filters: MapFilters, scope: Scope, today: dt.date, follow_up_days: int) -> dict[str, Any]:
    return {
        "districts": scope.query_districts(filters.district),
        "chains": None,
        "ids": None,
        "classes": list(filters.classes) if filters.classes else None,
        "wave_min": filters.wave_min,
        "wave_max": filters.wave_max,
        "joined_since": filters.since,
        "joined_until": filters.until,
        "overdue_before": today - dt.timedelta(days=follow_up_days),
    }


def build(
    db: Database, subject: access.Subject, filters: MapFilters, follow_up_days: int, today: dt.date | None = None
) -> MapResult:
    """The map the filters ask for, as the subject may see it: an overview (too many
    households for one map), the households of a chain or around one, or its people.

    Raises ``Refused`` (not_found) for a district or household outside the subject's scope.
    """
    scope = authorise(subject, filters)
    result = MapResult("households", filters, today=today or dt.date.today())
    params = _params(filters, scope, result.today, follow_up_days)
    centre = None
    if filters.chain_of:
        asked = household_ref(db, filters.chain_of, scope)
        params["chains"] = [asked["chain"]]
        result.focus = asked["id"]  # the chain is drawn around the household asked for: marked, centred
    if filters.root:
        ref = household_ref(db, filters.root, scope)
        params["chains"] = [ref["chain"]]
        centre = result.focus = ref["id"]
        # k introductions away is at most k waves away: fetch only that band of the chain
        low, high = max(0, ref["wave"] - filters.hops), ref["wave"] + filters.hops
        params["wave_min"] = max(low, params["wave_min"] or 0)
        params["wave_max"] = min(high, high if params["wave_max"] is None else params["wave_max"])
    if filters.q:
        matches = db.read("map_search", q=filters.q, districts=params["districts"], limit=50)
        if not matches:
            result.notices.append(Notice("no_match", {"q": filters.q}))
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
    result.query = {**params, "ids": None}

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
    skeleton = db.read(
        "map_skeleton", **{k: v for k, v in params.items() if k != "ids"}, with_edges=centre is not None
    )[0]["rows"]
    chosen, left_out, below = netmap.choose(skeleton, scope, filters.max_nodes, centre, filters.hops)
    rows = db.read("map_households", **{**params, "ids": chosen})[0]["rows"] if chosen else []
    graph = netmap.household_map(rows, scope)
    if centre is not None and centre in graph:
        graph = netmap.k_hops(graph, centre, filters.hops)
        result.query["ids"] = sorted(n for n, d in graph.nodes(data=True) if d["kind"] == "household")
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
        # the household asked for, among people: its members, the first to come in marked
        members = sorted(
            (n for n, d in graph.nodes(data=True) if d.get("household") == result.focus),
            key=lambda n: (graph.nodes[n]["wave"], str(n)),
        )
        result.focus = members[0] if members else None
        result.highlight = members[1:] + [h for h in result.highlight if h not in members]
        drawn = sum(1 for _n, d in graph.nodes(data=True) if d["kind"] == "person")
        fetched = sum(1 for _n, d in full.nodes(data=True) if d["kind"] == "person")
        # people of households the budget left out are counted, not read
        result.total = max(fetched, sum(r[4] for r in groups_rows)) if centre is None else fetched
        result.left_out = result.total - drawn
    if result.left_out:
        result.notices.append(
            Notice("trimmed", {"shown": filters.max_nodes, "total": filters.max_nodes + result.left_out})
        )
    result.graph = graph
    result.parents = netmap.tree_parents(graph)
    level0 = {n: d.get("wave", 0) for n, d in graph.nodes(data=True)}
    order = {
        n: (0, str(d.get("joined_on") or ""), str(d.get("code") or d.get("code_name") or n))
        for n, d in graph.nodes(data=True)
    }
    links = [(u, v) for u, v in graph.edges() if result.parents.get(v) != u]
    result.positions = netmap.tree_layout(list(graph), result.parents, level0, order, links)
    result.highlight = [h for h in result.highlight if h in graph]
    if result.focus not in graph:
        result.focus = result.highlight[0] if result.highlight else None
    return result


# --- the lists --------------------------------------------------------------------------


def chains(db: Database, subject: access.Subject, district: str | None, follow_up_days: int) -> list[dict[str, Any]]:
    """One entry per chain in the subject's districts (largest first): seed (the first
    household, None when it lies in another district) with its code and the code name (and
    id) of its first member, a household of the chain in scope (``chain_of``), size
    (people), depth, households, unvisited, districts."""
    filters = MapFilters(district=district)
    scope = authorise(subject, filters)
    params = chain_params(filters, scope, follow_up_days)
    rows = db.read("map_groups", **params)[0]["rows"]
    merged: dict[str, dict[str, Any]] = {}
    for in_district, chain, households, never, people, depth, sample in rows:
        c = merged.setdefault(
            chain,
            {
                "root": chain,
                "households": 0,
                "unvisited": 0,
                "size": 0,
                "depth": 0,
                "chain_of": sample,
                "districts": [],
            },
        )
        c["households"] += households
        c["unvisited"] += never
        c["size"] += people
        c["depth"] = max(c["depth"], depth)
        c["chain_of"] = min(c["chain_of"], sample)
        c["districts"].append(in_district)
    roots = {r["id"]: r for r in db.read("map_chain_labels", ids=sorted(merged))}
    out = []
    for chain in sorted(merged.values(), key=lambda c: (-c["households"], c["chain_of"])):
        root = roots.get(chain.pop("root"))
        if root is not None and not scope.covers(root["district"]):
            root = None  # out of scope: the seed is not named
        chain["seed"] = root["id"] if root is not None else None
        chain["seed_code"] = root["code"] if root is not None else None
        chain["seed_code_name"] = root["code_name"] if root is not None else None
        chain["seed_person_id"] = root["person_id"] if root is not None else None  # whose code name that is
        chain["districts"] = sorted(chain["districts"])
        out.append(chain)
    return out


def person_chain(db: Database, subject: access.Subject, person_id: str) -> dict[str, Any]:
    """``{id, seed, wave, path, people}``: the introduction path from the seed to the person,
    who must be in the subject's districts (else Refused not_found); people on the path who
    are not are None (their place is kept, nothing about them is said)."""
    scope = authorise(subject, MapFilters())
    rows = db.read("person_chain", id=person_id) if len(person_id) <= 64 else []
    path = rows[0]["path"] if rows else []
    if not path or not scope.covers(path[-1][3]):
        raise Refused("not_found", "no such person in scope", targets=(person_id,))
    shown = [
        {"id": pid, "code_name": name, "household_id": hid} if scope.covers(district) else None
        for pid, name, hid, district in path
    ]
    return {
        "id": person_id,
        "seed": shown[0]["id"] if shown[0] else None,
        "wave": len(path) - 1,
        "path": [p["id"] if p else None for p in shown],
        "people": shown,
    }


UNVISITED_COLUMNS = ("code", "code_names", "district", "arrived_on", "joined_on", "wave")


def unvisited(db: Database, subject: access.Subject, district: str | None, limit: int) -> list[dict[str, Any]]:
    """Active households never visited in the subject's districts, longest waiting first."""
    filters = MapFilters(district=district)
    scope = authorise(subject, filters)
    rows = db.read("unvisited_households", districts=scope.query_districts(district), limit=limit)[0]["rows"]
    return [
        {
            "id": r[0],
            "code": r[1],
            "district": r[2],
            "arrived_on": to_date(r[3]),
            "joined_on": to_date(r[4]),
            "wave": r[5],
            "code_names": [m[1] for m in r[6]],
            "members": [{"id": m[0], "code_name": m[1]} for m in r[6]],
        }
        for r in rows
    ]


def district_choices(db: Database, scope: Scope) -> list[str]:
    """The districts a filter may offer: the subject's, or (every district) those in use."""
    if scope.districts is not None:
        return list(scope.districts)
    return [r["district"] for r in db.read("map_districts")]


def stats(db: Database, result: MapResult) -> dict[str, Any]:
    """Figures for the map's side panel over the households its filters keep (the query
    that chose them, ``result.query``: the same scope and filters): households by wave,
    introductions per month (the last 36), the top introducers (with their ids), roots and
    chains."""
    row = db.read("map_stats", **result.query)[0]
    return {
        "households": sum(n for _w, n in row["waves"]),
        "roots": row["roots"],
        "chains": row["chains"],
        "waves": [(str(w), n) for w, n in row["waves"]],
        "months": [(m, n) for m, n in row["months"]][-36:],
        "top": [(name, n) for _pid, name, n in row["top"]],
        "top_ids": [pid for pid, _name, _n in row["top"]],
    }
