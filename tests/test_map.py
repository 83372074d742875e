"""The coordinator's map, lists and network API against the small network.

The small network, by household (district), and who came in through whom:

    h-001 (노원) ──▶ h-002 (노원) ──▶ h-003 (양천) ──▶ h-005 (노원, do not visit)
        └──────▶ h-004 (안산, moved)

`coord` sees 노원 only: h-003 and h-004 must appear as anonymous placeholders, and nothing
of theirs (id, code, code names, district, status) may appear in any answer.
"""

from __future__ import annotations

import csv
import io
import json
import re

import networkx as nx
import pytest

from graphsvc import audit, netmap

from .helpers import rewrite, sign_in

FOREIGN = ("h-003", "H-003", "h-004", "H-004", "p-004", "p-005", "푸른솔", "작은샘", "서울 양천구", "경기 안산시")


def client_for(app, username):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def households(body):
    return {n["id"]: n for n in body["nodes"] if n["kind"] == "household"}


# --- pure parts ---------------------------------------------------------------------------


def test_household_map_turns_other_districts_into_placeholders():
    rows = [
        netmap.household_row("a", district="in", introduced=[["b", "in"], ["z", "out"]]),
        netmap.household_row(
            "b", district="in", parent="a", wave=1, introduced_by=[["a", "in"]], introduced=[["y", "out"]]
        ),
        netmap.household_row("c", district="in", parent="y", wave=3, introduced_by=[["y", "out"]]),
    ]
    g = netmap.household_map(rows, netmap.Scope(("in",)))
    assert sorted(g.edges(data="tree")) == [
        ("a", "b", True),
        ("a", "~x1", False),
        ("b", "~x2", False),
        ("~x2", "c", True),
    ]
    for ph in ("~x1", "~x2"):
        assert g.nodes[ph] == {"kind": "placeholder", "wave": g.nodes[ph]["wave"]}
    assert "y" not in g and "z" not in g
    # the layout hangs x2 under b and c under x2, one level each
    parents = netmap.tree_parents(g)
    assert parents == {"b": "a", "~x1": "a", "~x2": "b", "c": "~x2"}
    pos = netmap.tree_layout(list(g), parents)
    assert len(set(pos.values())) == len(g)  # no two nodes on one spot
    assert pos["a"][1] < pos["b"][1] < pos["~x2"][1] < pos["c"][1]


def test_layout_of_a_big_fan_stays_compact_and_never_overlaps():
    kids = {f"k{i}": "s" for i in range(300)}
    grandkids = {f"g{i}": f"k{i % 7}" for i in range(40)}
    parent = {**kids, **grandkids}
    nodes = ["s", *kids, *grandkids]
    pos = netmap.tree_layout(nodes, parent)
    assert len(set(pos.values())) == len(nodes)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    assert width < 4 * height  # roughly a box on screen, not a strip 300 nodes wide
    for child, p in parent.items():
        assert pos[child][1] > pos[p][1]  # top-down


def test_trim_keeps_the_lowest_waves_and_counts_what_is_below():
    g = nx.DiGraph()
    for n, w in (("a", 0), ("b", 1), ("c", 1), ("d", 2), ("e", 2)):
        g.add_node(n, kind="household", wave=w)
    for u, v in (("a", "b"), ("a", "c"), ("b", "d"), ("c", "e")):
        g.add_edge(u, v, tree=True)
    shown, left_out = netmap.trim_to_budget(g, 3)
    assert sorted(shown) == ["a", "b", "c"] and left_out == 2
    netmap.mark_hidden_below(g, shown)
    assert shown.nodes["b"]["below"] == 1 and shown.nodes["a"]["below"] == 0


def test_overview_groups_small_chains_per_district():
    rows = [["d1", f"c{i}", 50 - i, i, 60, 3, f"s{i}"] for i in range(45)] + [["d2", "solo", 1, 1, 1, 0, "t"]]
    groups = netmap.overview(rows)
    d1 = [g for g in groups if g.district == "d1"]
    assert len(d1) == netmap.GROUPS_PER_DISTRICT + 1
    rest = d1[-1]
    assert rest.chain is None and rest.chains == 5 and rest.households == sum(50 - i for i in range(40, 45))
    assert [g.chain for g in groups if g.district == "d2"] == [None]
    pos, labels, radius = netmap.overview_layout(groups)
    assert set(pos) == {g.key for g in groups} and set(labels) == {"d1", "d2"}


# --- the API ------------------------------------------------------------------------------


def test_network_for_a_coordinator_shows_placeholders_and_nothing_foreign(app, world):
    client = client_for(app, "coord")
    response = client.get("/api/v1/network")
    assert response.status_code == 200
    body = response.json
    assert set(households(body)) == {"h-001", "h-002", "h-005"}
    placeholders = [n for n in body["nodes"] if n["kind"] == "placeholder"]
    assert len(placeholders) == 2 and all(set(n) == {"id", "kind"} for n in placeholders)
    text = response.get_data(as_text=True)
    for secret in FOREIGN:
        assert secret not in text, secret
    edges = {(e["from"], e["to"]) for e in body["edges"]}
    ph = {n["id"] for n in placeholders}
    assert ("h-001", "h-002") in edges
    assert any(u == "h-002" and v in ph for u, v in edges) and any(u in ph and v == "h-005" for u, v in edges)
    assert households(body)["h-005"]["wave"] == 3  # the true wave, through the other district
    assert households(body)["h-005"]["visit_status"] == "closed"
    # the answer is on record with the ids it showed, and only those
    event = audit.query(world, action="network.read", limit=1)[0]
    assert {"h-001", "h-002", "h-005", "p-001", "p-002", "p-003", "p-006"} <= set(event["targets"])
    assert not set(event["targets"]) & set(FOREIGN)


def test_network_for_an_admin_has_everything(app):
    body = client_for(app, "admin").get("/api/v1/network").json
    assert set(households(body)) == {"h-001", "h-002", "h-003", "h-004", "h-005"}
    assert not [n for n in body["nodes"] if n["kind"] == "placeholder"]
    assert households(body)["h-004"]["visit_status"] == "closed"  # moved
    assert households(body)["h-003"]["visit_status"] == "never"


def test_network_filters(app):
    client = client_for(app, "admin")
    assert set(households(client.get("/api/v1/network?status=never").json)) == {"h-003"}
    assert set(households(client.get("/api/v1/network?wave_min=2").json)) == {"h-003", "h-005"}
    assert set(households(client.get("/api/v1/network?district=서울 양천구").json)) == {"h-003"}
    assert set(households(client.get("/api/v1/network?since=2021-01-01&until=2021-12-31").json)) == {"h-003"}
    around = client.get("/api/v1/network?root=H-003&depth=1").json
    assert set(households(around)) == {"h-002", "h-003", "h-005"}
    found = client.get("/api/v1/network?q=은행나무").json  # p-003's code name: h-002's chain
    assert "h-002" in households(found)
    overview = client.get("/api/v1/network?max_nodes=2").json
    assert overview["stats"]["mode"] == "overview"
    assert {n["kind"] for n in overview["nodes"]} <= {"chain", "rest"}
    assert sum(n["households"] for n in overview["nodes"]) == 5


def test_people_view_of_a_chain(app):
    body = client_for(app, "coord").get("/api/v1/network?view=people&chain_of=H-001").json
    people = {n["id"]: n for n in body["nodes"] if n["kind"] == "person"}
    assert set(people) == {"p-001", "p-002", "p-003", "p-006"}
    kinds = {(e["from"], e["to"]) for e in body["edges"]}
    assert ("p-001", "p-003") in kinds and ("p-001", "p-002") in kinds  # p-002: family of p-001
    text = json.dumps(body, ensure_ascii=False)
    for secret in FOREIGN:
        assert secret not in text, secret


@pytest.mark.parametrize(
    "query,field",
    [
        ("status=bogus", "status"),
        ("wave_min=-1", "wave_min"),
        ("wave_min=3&wave_max=1", "wave_max"),
        ("since=2026-13-01", "since"),
        ("depth=9", "hops"),
        ("max_nodes=0", "max_nodes"),
        ("view=people", "view"),
        ("view=tree", "view"),
        ("rest=1", "rest"),
        ("q=" + "x" * 101, "q"),
    ],
)
def test_bad_filters_answer_400_naming_the_argument(app, query, field):
    response = client_for(app, "coord").get("/api/v1/network?" + query)
    assert response.status_code == 400
    assert response.json["field"] == field and field in response.json["error"]


def test_scope_is_enforced_with_404_and_audited(app, world):
    client = client_for(app, "coord")
    for path in (
        "/api/v1/network?district=서울 양천구",
        "/api/v1/network?root=H-003",
        "/api/v1/network?chain_of=h-004",
        "/api/v1/people/p-005/chain",
        "/api/v1/unvisited?district=경기 안산시",
        "/map?district=서울 양천구",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
    denied = audit.query(world, outcome="denied", actor="coord")
    assert len(denied) == 6
    visitor = client_for(app, "minji")
    for path in (
        "/api/v1/network",
        "/api/v1/chains",
        "/api/v1/unvisited",
        "/map",
        "/unvisited",
        "/unvisited.csv",
        "/api/v1/people/p-001/chain",
    ):
        assert visitor.get(path).status_code == 403, path


def test_chains(app):
    coord = client_for(app, "coord").get("/api/v1/chains").json["chains"]
    assert coord == [
        {
            "seed": "h-001",
            "seed_code": "H-001",
            "seed_code_name": "들국화",
            "seed_person_id": "p-001",
            "chain_of": "h-001",
            "households": 3,
            "size": 4,
            "depth": 3,
            "unvisited": 0,
            "districts": ["서울 노원구"],
        }
    ]
    yeon = client_for(app, "yeon").get("/api/v1/chains").json["chains"]
    # h-003's chain starts in 노원: yeon may not learn where
    assert yeon == [
        {
            "seed": None,
            "seed_code": None,
            "seed_code_name": None,
            "seed_person_id": None,
            "chain_of": "h-003",
            "households": 1,
            "size": 1,
            "depth": 2,
            "unvisited": 1,
            "districts": ["서울 양천구"],
        }
    ]


def test_person_chain(app):
    body = client_for(app, "coord").get("/api/v1/people/p-006/chain").json
    # p-001 → p-003 → p-004 (양천, hidden) → p-006
    assert body["seed"] == "p-001" and body["wave"] == 3
    assert body["path"] == ["p-001", "p-003", None, "p-006"]
    admin = client_for(app, "admin").get("/api/v1/people/p-006/chain").json
    assert admin["path"] == ["p-001", "p-003", "p-004", "p-006"]
    yeon = client_for(app, "yeon").get("/api/v1/people/p-004/chain").json
    assert yeon["seed"] is None and yeon["path"] == [None, None, "p-004"]


def test_unvisited_list_and_csv(app, world, small):
    client = client_for(app, "admin")
    rows = client.get("/api/v1/unvisited").json["households"]
    assert [r["id"] for r in rows] == ["h-003"]
    response = client.get("/unvisited.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0] == ["code", "code_names", "district", "arrived_on", "joined_on", "wave"]
    assert table[1][:3] == ["H-003", "푸른솔", "서울 양천구"]
    assert audit.query(world, action="network.unvisited.export", limit=1)[0]["targets"] == ["h-003", "p-004"]


def test_unvisited_csv_is_safe_in_a_spreadsheet(app, world, small):
    from .helpers import import_folder

    def formula(rows):
        for r in rows:
            if r[0] == "p-004":  # h-003's only member
                r[1] = '=HYPERLINK("http://x","y")'

    rewrite(small, "people", formula)
    assert import_folder(world, small).ok
    text = client_for(app, "admin").get("/unvisited.csv").get_data(as_text=True)
    cell = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1][1]
    assert cell.startswith("'") and "=HYPERLINK" in cell
    assert not re.search(r'(^|,)"?=', text, re.M)


# --- the pages ----------------------------------------------------------------------------


def test_map_page_embeds_escaped_data_and_is_audited(app, world):
    response = client_for(app, "coord").get("/map?lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<img src=x" not in html  # p-006's code name, escaped in the JSON block
    data = json.loads(re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.S).group(1))
    assert data["mode"] == "households"
    assert {n["id"] for n in data["nodes"]} >= {"h-001", "h-002", "h-005"}
    assert data["details"]["h-005"]["members"] == ["<img src=x onerror=alert(1)>"]
    assert all(n["x"] is not None and n["y"] is not None for n in data["nodes"])
    assert data["options"]["physics"]["enabled"] is False
    for secret in FOREIGN:
        assert secret not in html, secret
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert response.headers["Cache-Control"] == "no-store"
    event = audit.query(world, action="network.map", limit=1)[0]
    assert "h-005" in event["targets"]


def test_map_page_and_vendor_script_are_served_from_here(app):
    client = client_for(app, "coord")
    html = client.get("/map").get_data(as_text=True)
    for src in re.findall(r'<script src="([^"]+)"', html) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', html):
        assert src.startswith("/"), src
        assert client.get(src).status_code == 200, src
    assert client.get("/vendor/vis-network/other.js").status_code == 404


def test_household_page_for_a_coordinator(app):
    client = client_for(app, "coord")
    html = client.get("/households/h-005?lang=en").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert client.get("/households/h-003").status_code == 404


@pytest.mark.parametrize("query", ["wave_min=999", "status=recent", "district=서울 노원구&rest=1"])
def test_a_map_whose_filters_keep_nothing_is_empty_not_an_error(app, query):
    """Found by schemathesis (tests/test_openapi.py): an empty map reached the layout's
    max() of nothing, a 500."""
    from .helpers import api

    answer = api(app, "coord")(f"/api/v1/network?{query}")
    assert answer.status_code == 200, answer.json
    assert answer.json["nodes"] == [] and answer.json["edges"] == []
