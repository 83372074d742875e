"""The coordinator's map as graphs: which nodes, which edges, where each one sits.

Pure functions (no database, no Flask, no pyvis): the web layer runs the named Cypher of
``cypher/network.cypher``, passes its rows in, and draws what comes out with pyvis.

- ``household_map``: households as nodes, an edge A → B when a member of A introduced a
  member of B. Households outside the caller's districts become anonymous placeholders
  (``~x1``, ``~x2`` … numbered in drawing order; ``~`` starts every id made up for a
  drawing, which no record id can: graphsvc/shown.py): no id, code, name or status of theirs is
  in the graph.
- ``people_map``: the same for people, for one chain.
- ``overview``: one node per (district, chain) when a map would hold too many households.
- ``tree_layout``: positions computed here, top-down by wave, so that the browser never
  simulates physics.

>>> rows = [household_row("h1", wave=0), household_row("h2", parent="h1", wave=1,
...         introduced_by=[["h1", "d"]]), household_row("h3", parent="h9", wave=1,
...         introduced_by=[["h9", "elsewhere"]])]
>>> g = household_map(rows, Scope(("d",)))
>>> sorted(g.nodes), sorted(g.edges)
(['h1', 'h2', 'h3', '~x1'], [('h1', 'h2'), ('~x1', 'h3')])
>>> g.nodes["~x1"]
{'kind': 'placeholder', 'wave': 0}
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import networkx as nx

from .network import would_close_cycle

VISIT_CLASSES = ("never", "overdue", "recent", "closed", "pending")  # pending: awaiting review
NODE_BUDGET = 2000  # above this many households the map opens on the overview
MAX_NODES = 10_000  # the most a map may draw when asked to (?max_nodes=)
WRAP = 16  # children of one node go in rows of at least this many units (see tree_layout)
COLLAPSE_AT = 150  # branches with more direct children than this start collapsed
GROUPS_PER_DISTRICT = 40  # overview: the largest chains of a district get a node each

# Layout units (vis-network canvas pixels)
X_STEP = 70
LEVEL_STEP = 100
ASPECT = LEVEL_STEP / X_STEP  # units of width per unit of height for a square box on screen
CANVAS_ASPECT = 1.4  # the map's canvas, width per height on a desktop screen (map.css)
TREE_GAP = 0.6  # units between two trees of a forest


@dataclass(frozen=True)
class Scope:
    """The districts the caller may see; ``None`` for all (admins)."""

    districts: tuple[str, ...] | None

    def covers(self, district: str | None) -> bool:
        return self.districts is None or district in self.districts

    def query_districts(self, district: str | None = None) -> list[str] | None:
        """The ``$districts`` of a query: one district (already authorised), else the
        scope's, else None (all).

        >>> Scope(("a", "b")).query_districts(), Scope(None).query_districts("a")
        (['a', 'b'], ['a'])
        """
        if district:
            return [district]
        return None if self.districts is None else list(self.districts)


# --- households -----------------------------------------------------------------------

ROW_FIELDS = (
    "id",
    "code",
    "district",
    "status",
    "arrived_on",
    "parent",
    "chain",
    "wave",
    "joined_on",
    "visit_class",
    "last_visit",
    "visits",
    "members",
    "introduced_by",
    "introduced",
    "made",
)


def household_row(id: str, **fields: Any) -> list[Any]:
    """A row as ``map_households`` returns it (for examples and tests)."""
    defaults: dict[str, Any] = {
        "code": id.upper(),
        "district": "d",
        "status": "active",
        "arrived_on": None,
        "parent": None,
        "chain": fields.get("parent") or id,
        "wave": 0,
        "joined_on": None,
        "visit_class": "never",
        "last_visit": None,
        "visits": 0,
        "members": [],
        "introduced_by": [],
        "introduced": [],
        "made": 0,
    }
    defaults.update(fields, id=id)
    return [defaults[f] for f in ROW_FIELDS]


def household_map(rows: Iterable[Sequence[Any]], scope: Scope) -> nx.DiGraph:
    """Households (node attributes from the row) and introductions between them.

    Edge attribute ``tree`` is True for the link a household came in through (its
    ``parent``), which the layout follows; other introductions are drawn but do not
    place anything. A neighbour outside ``scope`` becomes one placeholder node per
    household (attributes ``kind`` and ``wave`` only). A neighbour in scope that the
    filters left out is not drawn.
    """
    g = nx.DiGraph()
    records = [dict(zip(ROW_FIELDS, r)) for r in rows]
    for r in records:
        r["kind"] = "household"
        r["members"] = [tuple(m) for m in r["members"]]
        g.add_node(r["id"], **{k: v for k, v in r.items() if k not in ("id", "introduced_by", "introduced")})
    placeholders: dict[str, str] = {}  # foreign household id -> placeholder id (never leaves here)

    def other(hid: str, district: str | None, wave: int) -> str | None:
        if hid in g and g.nodes[hid]["kind"] == "household":
            return hid
        if scope.covers(district):
            return None  # in scope but filtered out
        ph = placeholders.get(hid)
        if ph is None:
            ph = placeholders[hid] = f"~x{len(placeholders) + 1}"
            g.add_node(ph, kind="placeholder", wave=max(wave, 0))
        else:
            g.nodes[ph]["wave"] = min(g.nodes[ph]["wave"], max(wave, 0))
        return ph

    for r in records:
        h, wave = r["id"], r["wave"] or 0
        for hid, district in r["introduced_by"]:
            if hid is None:
                continue
            src = other(hid, district, wave - 1)
            if src is not None:
                g.add_edge(src, h, tree=(hid == r["parent"]))
        for hid, district in r["introduced"]:
            if hid is None or scope.covers(district):
                continue  # drawn from the other side (or filtered out)
            dst = other(hid, district, wave + 1)
            if not g.has_edge(h, dst):
                g.add_edge(h, dst, tree=False)
    return g


def k_hops(g: nx.DiGraph, centre: str, hops: int) -> nx.DiGraph:
    """The part of ``g`` within ``hops`` introductions of ``centre``, in either direction.

    >>> g = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d")])
    >>> sorted(k_hops(g, "b", 1))
    ['a', 'b', 'c']
    """
    keep = nx.single_source_shortest_path_length(g.to_undirected(as_view=True), centre, cutoff=hops)
    return g.subgraph(keep).copy()


def tree_parents(g: nx.DiGraph) -> dict[str, str]:
    """One parent per node for the layout: the ``tree`` edge into it, else (for a
    placeholder) the first household that introduced into it; never a cycle.

    >>> g = nx.DiGraph()
    >>> g.add_edge("a", "b", tree=True); g.add_edge("b", "x1", tree=False)
    >>> g.add_node("x1", kind="placeholder")
    >>> tree_parents(g)
    {'b': 'a', 'x1': 'b'}
    """
    parent: dict[str, str] = {}
    for u, v, tree in g.edges(data="tree"):
        if tree and v not in parent:
            parent[v] = u
    for v, data in g.nodes(data=True):
        if v in parent or data.get("kind") != "placeholder":
            continue
        for u in sorted(g.pred[v], key=str):
            if u != v and would_close_cycle(parent, u, v) is None:
                parent[v] = u
                break
    # a placeholder parent may have closed a loop through tree edges set earlier: cut it
    for start in list(parent):
        seen = {start}
        node = parent.get(start)
        while node is not None:
            if node in seen:
                del parent[start]
                break
            seen.add(node)
            node = parent.get(node)
    return parent


def children_of(parent: dict[str, str], order: dict[str, Any]) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = defaultdict(list)
    for child, p in parent.items():
        kids[p].append(child)
    for p in kids:
        kids[p].sort(key=lambda n: order.get(n, (1, str(n))))
    return dict(kids)


def tree_layout(
    nodes: Sequence[str],
    parent: dict[str, str],
    level0: dict[str, int] | None = None,
    order: dict[str, Any] | None = None,
    links: Iterable[tuple[str, str]] = (),
) -> dict[str, tuple[float, float]]:
    """Positions for a forest drawn top-down: every node above its children, a parent
    centred over them; no tree edge crosses another.

    A tidy tree of thousands of households is a thin strip hundreds of screens wide (one
    seed may have introduced 300). So each node's children are packed into rows, as
    boxes: a row holds at most ``max(WRAP, widest child, √(area · aspect))`` units, which
    keeps every branch's box roughly as wide as it is tall on screen; small families stay
    one row. Children with no children of their own come first, in rows right under their
    parent, and the children with branches after them: an edge to a later row then passes
    between leaves, never through a branch (which made long crossing edges).

    The trees are packed into rows as wide as the map's canvas (``CANVAS_ASPECT``): the
    biggest first, then the one with the most ``links`` (introductions that are not tree
    edges: between chains, to and from placeholders) to those already placed, so that
    chains that introduced each other sit side by side and their edges stay short; trees
    of one household last. Near-linear in the number of nodes and links; no recursion.

    >>> pos = tree_layout(["a", "b", "c"], {"b": "a", "c": "a"})
    >>> pos["a"][0] == (pos["b"][0] + pos["c"][0]) / 2, pos["b"][1] > pos["a"][1]
    (True, True)
    >>> fan = tree_layout(["s"] + [f"k{i}" for i in range(200)], {f"k{i}": "s" for i in range(200)})
    >>> len({y for x, y in fan.values()}) > 3  # 200 children: several rows, not one strip
    True
    """
    order = order or {}
    level0 = level0 or {}
    kids = children_of(parent, order)
    roots = [n for n in nodes if n not in parent]
    post: list[str] = []
    stack = sorted(roots, key=str)
    while stack:  # pre-order; reversed it visits children before their parents
        n = stack.pop()
        post.append(n)
        stack.extend(reversed(kids.get(n, ())))
    post.reverse()
    box: dict[str, tuple[float, float]] = {}  # (width, height) in units
    rows_of: dict[str, list[tuple[list[str], float, float]]] = {}
    for n in post:
        cs = kids.get(n)
        if not cs:
            box[n] = (1.0, 1.0)
            continue
        leaves = [(c, *box[c]) for c in cs if c not in kids]
        branches = [(c, *box[c]) for c in cs if c in kids]
        limit = _row_limit(leaves + branches)
        # branches in one row when it is at most three times as wide: a second row of
        # branches would be reached by edges through the first
        wide = min(sum(w for _c, w, _h in branches), 3 * limit)
        rows = _pack(leaves, limit=limit) + _pack(branches, limit=max(limit, wide))
        rows_of[n] = rows
        box[n] = (max(1.0, max(w for _r, w, _h in rows)), 1.0 + sum(h for _r, _w, h in rows))
    roots = _forest_order(roots, parent, box, links, key=lambda n: (level0.get(n, 0), order.get(n, (1, str(n)))))
    items = [(r, *box[r]) for r in roots]
    forest_rows = _pack(items, gap=TREE_GAP, limit=_row_limit(items, CANVAS_ASPECT * ASPECT, TREE_GAP))
    pos: dict[str, tuple[float, float]] = {}
    y = 0.0
    todo: list[tuple[str, float, float]] = []
    for row, _width, height in forest_rows:
        x = 0.0
        for r in row:
            todo.append((r, x, y))
            x += box[r][0] + TREE_GAP
        y += height + 0.5
    while todo:
        n, x0, y0 = todo.pop()
        w, _h = box[n]
        pos[n] = ((x0 + w / 2) * X_STEP, y0 * LEVEL_STEP)
        cy = y0 + 1.0
        for row, rw, rh in rows_of.get(n, ()):
            cx = x0 + (w - rw) / 2
            for c in row:
                todo.append((c, cx, cy))
                cx += box[c][0]
            cy += rh
    return pos


def _forest_order(
    roots: list[str],
    parent: dict[str, str],
    box: dict[str, tuple[float, float]],
    links: Iterable[tuple[str, str]],
    key: Any,
) -> list[str]:
    """The trees in the order they are packed: the biggest first, then each time the tree
    with the most links to those already placed (ties: the bigger, then ``key``); trees of
    one household without links last, by ``key``.

    >>> box = {"a": (3.0, 2.0), "b": (1.0, 1.0), "c": (2.0, 2.0), "d": (1.0, 1.0)}
    >>> _forest_order(["a", "b", "c", "d"], {}, box, [("a", "d")], key=str)
    ['a', 'd', 'c', 'b']
    """
    if not roots:
        return []

    def root_of(n: str) -> str:
        seen = 0
        while n in parent and seen <= len(parent):
            n, seen = parent[n], seen + 1
        return n

    tops: dict[str, str] = {}
    weight: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for u, v in links:
        ru = tops.get(u) or tops.setdefault(u, root_of(u))
        rv = tops.get(v) or tops.setdefault(v, root_of(v))
        if ru != rv:
            weight[ru][rv] += 1
            weight[rv][ru] += 1
    rank = {r: i for i, r in enumerate(sorted(roots, key=lambda r: (-box[r][0] * box[r][1], key(r))))}
    lonely = sorted((r for r in roots if box[r] == (1.0, 1.0) and r not in weight), key=key)
    todo = set(roots).difference(lonely)
    score: dict[str, int] = defaultdict(int)
    heap = [(0, rank[r], r) for r in todo]
    heapq.heapify(heap)
    out: list[str] = []
    while heap:
        neg, _rank, r = heapq.heappop(heap)
        if r not in todo or -neg != score[r]:
            continue  # placed already, or an old score
        todo.discard(r)
        out.append(r)
        for other, w in weight.get(r, {}).items():
            if other in todo:
                score[other] += w
                heapq.heappush(heap, (-score[other], rank[other], other))
    return out + lonely


def _row_limit(items: list[tuple[str, float, float]], aspect: float = 0.0, gap: float = 0.0) -> float:
    """The width of a row that packs ``items`` (id, width, height) into a box ``aspect``
    units wide per unit of height (default ``ASPECT``: square on screen)."""
    if not items:
        return WRAP
    widest = max(w for _i, w, _h in items)
    area = sum((w + gap) * h for _i, w, h in items)
    return max(WRAP, widest, math.sqrt(area * (aspect or ASPECT)))


def _pack(
    items: list[tuple[str, float, float]], gap: float = 0.0, limit: float | None = None
) -> list[tuple[list[str], float, float]]:
    """Items (id, width, height) into rows of at most ``limit`` units (default
    ``_row_limit(items)``), in order: [(ids, row width, row height)]; none for no items (a
    map whose filters keep no household).

    >>> _pack([])
    []
    """
    if not items:
        return []
    limit = _row_limit(items) if limit is None else limit
    rows: list[tuple[list[str], float, float]] = []
    ids: list[str] = []
    width = height = 0.0
    for i, w, h in items:
        if ids and width + gap + w > limit:
            rows.append((ids, width, height))
            ids, width, height = [], 0.0, 0.0
        width += (gap if ids else 0.0) + w
        height = max(height, h)
        ids.append(i)
    rows.append((ids, width, height))
    return rows


def trim_to_budget(g: nx.DiGraph, budget: int) -> tuple[nx.DiGraph, int]:
    """Keep the households of the lowest waves that fit ``budget`` (whole waves first, the
    last wave cut by order); return the graph and how many households were left out.
    Placeholders stay when a kept household links to them.
    """
    households = [n for n, d in g.nodes(data=True) if d.get("kind") != "placeholder"]
    if len(households) <= budget:
        return g, 0
    households.sort(key=lambda n: (g.nodes[n].get("wave", 0), str(n)))
    keep = set(households[:budget])
    keep |= {
        n
        for n, d in g.nodes(data=True)
        if d.get("kind") == "placeholder" and any(m in keep for m in nx.all_neighbors(g, n))
    }
    return g.subgraph(keep).copy(), len(households) - budget


SKELETON_FIELDS = ("id", "district", "parent", "chain", "wave", "introduced_by", "introduced")


def choose(
    skeleton: Iterable[Sequence[Any]], scope: Scope, budget: int, centre: str | None = None, hops: int = 2
) -> tuple[list[str], int, dict[str, int]]:
    """Which households a map draws, from ``map_skeleton`` rows (no members, no visits):
    those within ``hops`` introductions of ``centre`` (when given), then the lowest waves
    that fit ``budget``. Returns their ids, how many the budget left out, and for each drawn
    household how many of its tree children were left out (``below``). The same choice as
    building the whole map and trimming it, for the cost of reading only the skeleton.

    >>> rows = [["a", "d", None, "a", 0, [], []], ["b", "d", "a", "a", 1, [], []],
    ...         ["c", "d", "a", "a", 1, [], []], ["e", "d", "b", "a", 2, [], []]]
    >>> choose(rows, Scope(("d",)), 2)
    (['a', 'b'], 2, {'a': 1, 'b': 1})
    """
    rows = []
    for r in skeleton:
        f = dict(zip(SKELETON_FIELDS, r))
        introduced_by = f["introduced_by"] or ([[f["parent"], None]] if f["parent"] else [])
        rows.append(
            household_row(
                f["id"],
                district=f["district"],
                parent=f["parent"],
                chain=f["chain"],
                wave=f["wave"],
                introduced_by=introduced_by,
                introduced=f["introduced"] or [],
            )
        )
    g = household_map(rows, scope)
    if centre is not None and centre in g:
        g = k_hops(g, centre, hops)
    shown, left_out = trim_to_budget(g, budget)
    if left_out:
        mark_hidden_below(g, shown)
    ids = [n for n, d in shown.nodes(data=True) if d["kind"] == "household"]
    below = {n: shown.nodes[n].get("below", 0) for n in ids if shown.nodes[n].get("below")}
    return ids, left_out, below


def mark_hidden_below(full: nx.DiGraph, shown: nx.DiGraph) -> None:
    """On each drawn node, ``below``: how many of its tree children were left out."""
    for n in shown:
        shown.nodes[n]["below"] = sum(1 for c in full.succ[n] if c not in shown and full.edges[n, c].get("tree"))


# --- people of one chain ------------------------------------------------------------

PEOPLE_FIELDS = (
    "id",
    "code_name",
    "household",
    "district",
    "introducer",
    "introducer_household",
    "introducer_district",
    "introduced_on",
    "introduced",
)


def people_map(rows: Iterable[Sequence[Any]], scope: Scope) -> nx.DiGraph:
    """People as nodes (``kind`` person, ``code_name``, ``household``) and introductions
    as ``tree`` edges; members nobody introduced hang under their household's first
    introduced member with a ``family`` edge. Introducers or introduced people outside
    ``scope`` become one placeholder per household, as in ``household_map``.

    >>> g = people_map([["a", "A", "h1", "d", None, None, None, None, []],
    ...                 ["b", "B", "h2", "d", "a", "h1", "d", None, [["z", "h9", "far"]]],
    ...                 ["c", "C", "h2", "d", None, None, None, None, []]], Scope(("d",)))
    >>> sorted(g.edges(data="kind"))
    [('a', 'b', 'introduction'), ('b', 'c', 'family'), ('b', '~x1', 'introduction')]
    """
    g = nx.DiGraph()
    records = [dict(zip(PEOPLE_FIELDS, r)) for r in rows]
    for r in records:
        g.add_node(
            r["id"], kind="person", code_name=r["code_name"], household=r["household"], district=r["district"], wave=0
        )
    placeholders: dict[str, str] = {}

    def placeholder(household: str) -> str:
        ph = placeholders.get(household)
        if ph is None:
            ph = placeholders[household] = f"~x{len(placeholders) + 1}"
            g.add_node(ph, kind="placeholder", wave=0)
        return ph

    for r in records:
        i = r["introducer"]
        if i is not None:
            if i in g:
                g.add_edge(i, r["id"], tree=True, kind="introduction")
            elif not scope.covers(r["introducer_district"]):
                g.add_edge(placeholder(r["introducer_household"]), r["id"], tree=True, kind="introduction")
        for _pid, household, district in r["introduced"] or ():
            if not scope.covers(district):
                ph = placeholder(household)
                if not g.has_edge(r["id"], ph):
                    g.add_edge(r["id"], ph, tree=False, kind="introduction")
    by_household: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_household[r["household"]].append(r)
    for members in by_household.values():
        # the member through whom the household came in; else the one who introduced most
        entry = min(members, key=lambda m: (not g.in_degree(m["id"]), -g.out_degree(m["id"]), str(m["id"])))["id"]
        for m in members:
            if m["id"] != entry and not g.in_degree(m["id"]):
                g.add_edge(entry, m["id"], tree=True, kind="family")
    # waves along tree edges
    parent = tree_parents(g)
    for n in g:
        depth, node = 0, n
        while node in parent:
            node = parent[node]
            depth += 1
        g.nodes[n]["wave"] = depth
    return g


# --- overview ----------------------------------------------------------------------

GROUP_FIELDS = ("district", "chain", "households", "unvisited", "people", "depth", "sample")


@dataclass(frozen=True)
class Group:
    """One overview node: a chain in a district, or the rest of a district's chains."""

    key: str  # opaque (~g1, ~g2 …): a chain's root may lie outside the caller's districts
    district: str
    chain: str | None  # the chain's root household id (never shown); None for the rest of a district
    households: int
    unvisited: int
    people: int
    depth: int
    chains: int  # chains in this node (1 for a chain)
    sample: str  # a household of this node in the district (the drill-down reference)

    @property
    def unvisited_share(self) -> float:
        return self.unvisited / self.households if self.households else 0.0


def overview(rows: Iterable[Sequence[Any]], per_district: int = GROUPS_PER_DISTRICT) -> list[Group]:
    """Overview nodes from ``map_groups`` rows: per district, the ``per_district`` chains
    with the most households (of at least two) get a node each; the rest of the
    district's chains share one node.

    >>> rows = [["d", "a", 5, 1, 9, 2, "a"], ["d", "b", 1, 1, 1, 0, "b"], ["d", "c", 1, 0, 2, 0, "c"]]
    >>> [(g.key, g.chain, g.households, g.chains) for g in overview(rows)]
    [('~g1', 'a', 5, 1), ('~g2', None, 2, 2)]
    """
    by_district: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_district[row[0]].append(dict(zip(GROUP_FIELDS, row)))
    out: list[Group] = []
    for district in sorted(by_district, key=lambda d: (-sum(r["households"] for r in by_district[d]), d)):
        groups = sorted(by_district[district], key=lambda r: (-r["households"], r["chain"]))
        big = [r for r in groups[:per_district] if r["households"] >= 2]
        rest = groups[len(big) :]
        for r in big:
            out.append(
                Group(
                    f"~g{len(out) + 1}",
                    district,
                    r["chain"],
                    r["households"],
                    r["unvisited"],
                    r["people"],
                    r["depth"],
                    1,
                    r["sample"],
                )
            )
        if rest:
            out.append(
                Group(
                    f"~g{len(out) + 1}",
                    district,
                    None,
                    sum(r["households"] for r in rest),
                    sum(r["unvisited"] for r in rest),
                    sum(r["people"] for r in rest),
                    max(r["depth"] for r in rest),
                    len(rest),
                    min(r["sample"] for r in rest),
                )
            )
    return out


def overview_layout(
    groups: Sequence[Group], columns: int = 3
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]], dict[str, float]]:
    """Positions for overview nodes: each district a block of its nodes packed in shelves
    (largest first, each shelf as tall as its first node), blocks in rows of ``columns``.
    Returns node positions, a label position per district and node radii (area ∝
    households).

    >>> gs = [Group("d|a", "d", "a", 400, 0, 0, 0, 1, "a"), Group("d|b", "d", "b", 4, 0, 0, 0, 1, "b")]
    >>> pos, labels, radius = overview_layout(gs)
    >>> pos["d|a"][0] + radius["d|a"] < pos["d|b"][0] - radius["d|b"]  # side by side, apart
    True
    """
    gap = 24.0
    radius = {g.key: 8 + 4 * math.sqrt(g.households) for g in groups}
    by_district: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_district[g.district].append(g)
    blocks = []
    for district, gs in by_district.items():
        gs = sorted(gs, key=lambda g: -radius[g.key])
        limit = max(2 * radius[gs[0].key], math.sqrt(sum((2 * radius[g.key] + gap) ** 2 for g in gs)) * 1.2)
        local: dict[str, tuple[float, float]] = {}
        x = y = shelf = width = 0.0
        for g in gs:
            d = 2 * radius[g.key]
            if x and x + d > limit:
                y += shelf + gap
                x = shelf = 0.0
            if not shelf:
                shelf = d
            local[g.key] = (x + d / 2, y + shelf / 2)
            x += d + gap
            width = max(width, x - gap)
        blocks.append((district, local, width, y + shelf))
    pos: dict[str, tuple[float, float]] = {}
    labels: dict[str, tuple[float, float]] = {}
    header = 140.0
    x = y = row_h = 0.0
    for i, (district, local, w, h) in enumerate(blocks):
        if i and i % columns == 0:
            x, y = 0.0, y + row_h + header
            row_h = 0.0
        labels[district] = (x + w / 2, y - header / 2)
        for key, (lx, ly) in local.items():
            pos[key] = (x + lx, y + ly)
        x += w + 200
        row_h = max(row_h, h)
    return pos, labels, radius


# --- small helpers -----------------------------------------------------------------


def newcomer(arrived_on: date | None, since: date) -> bool:
    """Arrived on or after ``since`` (the start of the newcomer window)."""
    return arrived_on is not None and arrived_on >= since


# --- how readable a layout is ---------------------------------------------------------


def _cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def layout_measures(positions: dict[str, tuple[float, float]], edges: Iterable[tuple[str, str]]) -> dict[str, float]:
    """How a drawing reads: ``crossings`` (pairs of edges that cross, edges sharing an end
    never do), ``mean_length`` and ``long`` (edges longer than four columns) in units of
    ``X_STEP``, and the drawing's ``width`` and ``height`` in the same units. Quadratic in
    the edges: for benchmarks and tests, not for requests.

    >>> pos = {"a": (0, 0), "b": (140, 0), "c": (0, 140), "d": (140, 140)}
    >>> m = layout_measures(pos, [("a", "d"), ("b", "c"), ("a", "b")])
    >>> m["crossings"], m["mean_length"]
    (1, 2.55)
    """
    segments = [(positions[u], positions[v], u, v) for u, v in edges if u in positions and v in positions]
    crossings = 0
    for i, (p1, p2, u1, v1) in enumerate(segments):
        for p3, p4, u2, v2 in segments[i + 1 :]:
            if {u1, v1} & {u2, v2}:
                continue
            d1, d2 = _cross(p3, p4, p1), _cross(p3, p4, p2)
            d3, d4 = _cross(p1, p2, p3), _cross(p1, p2, p4)
            if d1 * d2 < 0 and d3 * d4 < 0:
                crossings += 1
    lengths = [math.dist(a, b) / X_STEP for a, b, _u, _v in segments]
    xs = [x for x, _y in positions.values()] or [0.0]
    ys = [y for _x, y in positions.values()] or [0.0]
    return {
        "crossings": crossings,
        "mean_length": round(sum(lengths) / len(lengths), 2) if lengths else 0.0,
        "long": sum(1 for x in lengths if x > 4),
        "width": round((max(xs) - min(xs)) / X_STEP, 1),
        "height": round((max(ys) - min(ys)) / X_STEP, 1),
    }
