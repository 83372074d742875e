"""The map, readable at a glance (issue 13 §7): labels where they fit, a layout without long
crossing edges, shapes and colours that tell the statuses apart, the household asked for
marked and centred, side figures that follow the filters, filters kept across languages and
folded on a phone, pending households in their own style and scoped like the others.

The small network (tests/fixtures/small, see tests/test_map.py) gets three more households:
h-010 (노원, pending, introduced by p-003 of h-002), h-011 (양천, pending, introduced by
p-004 of h-003) and h-012 (노원, rejected, introduced by p-001 of h-001).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from graphsvc import netmap

from .helpers import ACTOR, append, import_small, sign_in

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".artifacts"


def map_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.S).group(1))


def figure(html: str, name: str) -> int:
    return int(re.search(rf'data-stat="{name}">([\d,]+)<', html).group(1).replace(",", ""))


@pytest.fixture()
def pending_app(settings, db, small):
    append(small, "households", ["h-010", "N-00A1B2", "서울 노원구", "", "pending"])
    append(small, "households", ["h-011", "N-00C3D4", "서울 양천구", "", "pending"])
    append(small, "households", ["h-012", "N-00E5F6", "서울 노원구", "", "rejected"])
    append(small, "people", ["p-010", "봄비", "h-010", "", "", ""])
    append(small, "people", ["p-011", "가을비", "h-011", "", "", ""])
    append(small, "people", ["p-012", "겨울비", "h-012", "", "", ""])
    append(small, "introductions", ["p-003", "p-010", "2026-11-20", "friend"])
    append(small, "introductions", ["p-004", "p-011", "2026-11-20", "friend"])
    append(small, "introductions", ["p-001", "p-012", "2026-11-20", "friend"])
    from web import create_app

    from .helpers import keyring

    import_small(db, small, keyring())
    return create_app(settings, TESTING=True)


def client_for(app, username):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


# --- the layout (pure) ----------------------------------------------------------------------


def fan_with_branches() -> dict[str, str]:
    """A seed with 40 children in the order they came in; every fifth has a branch of its own."""
    parent = {f"k{i:02}": "s" for i in range(40)}
    for i in range(0, 40, 5):
        for j in range(4):
            parent[f"g{i:02}{j}"] = f"k{i:02}"
            parent[f"e{i:02}{j}"] = f"g{i:02}{j}"
    return parent


def test_tree_edges_never_cross_and_stay_short_in_a_wide_fan():
    parent = fan_with_branches()
    nodes = ["s", *parent]
    pos = netmap.tree_layout(nodes, parent)
    measures = netmap.layout_measures(pos, [(p, c) for c, p in parent.items()])
    # before: children packed in the order they came in, an edge to the second row ran down
    # through the branches of the first (crossings, edges 10+ columns long)
    assert measures["crossings"] == 0, measures
    assert measures["mean_length"] < 4, measures
    for child, p in parent.items():
        assert pos[child][1] > pos[p][1]


def test_linked_chains_are_laid_out_side_by_side():
    parent = {"a1": "a", "a2": "a", "b1": "b", "c1": "c", "c2": "c", "c3": "c"}
    singles = [f"s{i}" for i in range(30)]
    nodes = ["a", "b", "c", *parent, *singles]
    # b's chain and a's introduced each other; c is bigger but unlinked
    pos = netmap.tree_layout(nodes, parent, links=[("a2", "b1")])
    order = sorted(["a", "b", "c"], key=lambda n: (pos[n][1], pos[n][0]))
    assert order.index("b") == order.index("c") + 1 or abs(pos["a2"][0] - pos["b1"][0]) < 4 * netmap.X_STEP
    # trees of one household come after the chains
    assert min(pos[s][1] for s in singles) >= min(pos[n][1] for n in ("a", "b", "c"))


def test_layout_measures_count_crossings_and_long_edges():
    pos = {"a": (0, 0), "b": (700, 0), "c": (0, 700), "d": (700, 700)}
    m = netmap.layout_measures(pos, [("a", "d"), ("b", "c"), ("a", "b")])
    assert m["crossings"] == 1 and m["long"] == 3


# --- the page's data ------------------------------------------------------------------------


def test_household_labels_are_codes_drawn_once_readable(app):
    data = map_data(client_for(app, "coord").get("/map?lang=en").get_data(as_text=True))
    labels = {n["id"]: n["label"] for n in data["nodes"] if n["id"].startswith("h-")}
    assert labels == {"h-001": "H-001", "h-002": "H-002", "h-005": "H-005"}
    font = data["options"]["nodes"]["font"]
    assert font["size"] >= 14 and data["options"]["nodes"]["scaling"]["label"]["drawThreshold"] >= 8
    # the code names are still there: tooltip and panel
    assert "들국화" in next(n["title"] for n in data["nodes"] if n["id"] == "h-001")


def test_statuses_differ_in_shape_not_only_colour(app):
    data = map_data(client_for(app, "admin").get("/map?lang=en").get_data(as_text=True))
    shapes = {n["id"]: n["shape"] for n in data["nodes"]}
    # h-001/h-002 visited recently, h-003 never visited, h-004 moved, h-005 do not visit
    assert shapes["h-003"] != shapes["h-001"] and shapes["h-004"] == shapes["h-005"] != shapes["h-001"]
    assert len({shapes["h-001"], shapes["h-003"], shapes["h-004"]}) == 3
    # every household outlined in ink: the shape reads whatever its fill
    assert all(n["color"]["border"] in ("#1d2330", "#a67c00") for n in data["nodes"] if n["id"].startswith("h-"))


def test_chain_view_marks_and_centres_the_household_asked_for(app):
    client = client_for(app, "coord")
    html = client.get("/map?chain_of=H-002&lang=en").get_data(as_text=True)
    data = map_data(html)
    assert data["focus"] == "h-002" and 'data-focus="h-002"' in html
    node = next(n for n in data["nodes"] if n["id"] == "h-002")
    other = next(n for n in data["nodes"] if n["id"] == "h-001")
    assert node["borderWidth"] > other["borderWidth"] and node["color"]["border"] == "#0b57d0"
    assert node["title"].startswith("the household asked for")
    # among people: the household's first member
    people = map_data(client.get("/map?chain_of=H-002&view=people").get_data(as_text=True))
    assert people["focus"] == "p-003"


def test_side_figures_follow_the_filters(app):
    client = client_for(app, "admin")
    everything = client.get("/map?lang=en").get_data(as_text=True)
    assert figure(everything, "households") == 5
    never = client.get("/map?status=never&lang=en").get_data(as_text=True)
    assert figure(never, "households") == 1  # h-003 alone
    assert figure(never, "roots") == 0 and "Of the households the filters keep." in never
    one_district = client.get("/map?district=서울 노원구&lang=en").get_data(as_text=True)
    assert figure(one_district, "households") == 3
    waves = client.get("/map?wave_min=2&lang=en").get_data(as_text=True)
    assert figure(waves, "households") == 2  # h-003 (wave 2) and h-005 (wave 3)
    around = client.get("/map?root=H-005&hops=1&lang=en").get_data(as_text=True)
    assert figure(around, "households") == len([n for n in map_data(around)["nodes"] if n["id"].startswith("h-")])


def test_pending_households_have_their_own_style_and_scope(pending_app):
    coord = client_for(pending_app, "coord")
    html = coord.get("/map?lang=en").get_data(as_text=True)
    data = map_data(html)
    node = next(n for n in data["nodes"] if n["id"] == "h-010")
    assert node["label"] == "N-00A1B2" and node["shape"] == "hexagon"
    assert node["shapeProperties"]["borderDashes"] and node["color"]["border"] == "#9b3d78"
    assert "swatch-pending" in html and "awaiting review" in html
    # h-011 is 양천's: not even its code; h-012 was rejected: on no map
    for absent in ("h-011", "N-00C3D4", "가을비", "h-012", "N-00E5F6", "겨울비"):
        assert absent not in html, absent
    api = coord.get("/api/v1/network?status=pending").json
    assert [n["id"] for n in api["nodes"] if n["kind"] == "household"] == ["h-010"]
    assert api["nodes"][0]["visit_status"] == "pending"
    yeon = client_for(pending_app, "yeon").get("/api/v1/network?status=pending").json
    assert [n["id"] for n in yeon["nodes"] if n["kind"] == "household"] == ["h-011"]
    admin = client_for(pending_app, "admin").get("/api/v1/network").json
    assert "h-012" not in {n["id"] for n in admin["nodes"]}


def test_filters_fold_into_a_box_and_count_what_is_in_use(app):
    html = client_for(app, "coord").get("/map?status=never&wave_min=1&lang=en").get_data(as_text=True)
    assert '<details class="map-filters-box" id="map-filters-box" open>' in html
    assert "(2 in use)" in html


# --- in Chromium ----------------------------------------------------------------------------


def _sign_in(page, server, secret):
    import pyotp

    page.goto(server + "/map")
    page.fill("input[name=username]", "mapcoord")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp**")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/map**")


def _ready(page):
    page.wait_for_function("() => document.body.dataset.mapReady === '1'", timeout=20_000)


def _labelled_on_screen(page) -> int:
    """Households whose label vis-network draws (on-screen font over its threshold) inside the canvas."""
    return page.evaluate(
        """() => {
          const m = window.graphsvcMap, net = m.network, scale = net.getScale();
          const data = JSON.parse(document.getElementById('map-data').textContent);
          if (scale * data.options.nodes.font.size < data.options.nodes.scaling.label.drawThreshold) return 0;
          const box = document.getElementById('map-canvas').getBoundingClientRect();
          const ids = m.nodes.getIds().filter(id => String(id).startsWith('h-') && !m.nodes.get(id).hidden);
          const pos = net.getPositions(ids);
          return ids.filter(id => { const p = net.canvasToDOM(pos[id]);
            return p.x > 0 && p.y > 0 && p.x < box.width && p.y < box.height; }).length;
        }"""
    )


@pytest.mark.browser
def test_the_map_reads_at_a_glance_on_a_desktop_and_a_phone(server, browser, db):
    import pyotp

    from graphsvc import accounts, demo
    from graphsvc.crypto import load_keyring

    from .helpers import keyring

    tables = demo.generate(400, seed=1, as_of=dt.date(2026, 11, 1))
    brought = next(h for h in tables["households"] if h["id"] == "h-000150")  # a leaf under the biggest seed
    brought.update(status="pending", code="N-00A1B2")
    assert demo.load(db, tables, load_keyring(), ACTOR).ok
    coord1 = next(u for u in tables["users"] if u["username"] == "coord1")
    districts = coord1["districts"].split(";")
    accounts.add_user(db, ACTOR, "mapcoord", "coordinator", districts, "correct horse battery")
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "mapcoord", keyring().encrypt(secret, "User", "mapcoord", "totp_secret"), True)
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, server, secret)
    _ready(page)
    # a district set of a few hundred households: labels drawn at the zoom the map opens at
    assert int(page.locator("#map-canvas").get_attribute("data-nodes-drawn")) > 200
    assert _labelled_on_screen(page) >= 20
    # a pending household in its own style, on screen
    pending = page.evaluate("() => window.graphsvcMap.nodes.get('h-000150')")
    assert (
        pending["shape"] == "hexagon" and pending["label"] == "N-00A1B2" and pending["shapeProperties"]["borderDashes"]
    )
    page.screenshot(path=str(ARTIFACTS / "map-readable-desktop-en.png"))

    # the figures follow the filters
    all_households = int(page.locator('[data-stat="households"]').inner_text().replace(",", ""))
    page.goto(server + "/map?status=never&lang=en")
    _ready(page)
    never = int(page.locator('[data-stat="households"]').inner_text().replace(",", ""))
    assert 0 < never < all_households

    # another language keeps the filters, those changed and not yet shown, and the search
    page.select_option("select[name=district]", districts[0])
    page.fill("#map-search-q", "H-")
    page.click("#map-search button[type=submit]")
    page.get_by_role("link", name="한국어").click()
    page.wait_for_url("**lang=ko**")
    _ready(page)
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("select[name=status]").input_value() == "never"
    assert page.locator("select[name=district]").input_value() == districts[0]
    assert page.locator("#map-search-q").input_value() == "H-"
    page.screenshot(path=str(ARTIFACTS / "map-readable-desktop-ko.png"))

    # a chain view: the household asked for marked and in the middle
    middle = next(h for h in tables["households"] if h["district"] == districts[0] and h["id"] > "h-000100")
    page.goto(server + f"/map?chain_of={middle['code']}&lang=en")
    _ready(page)
    assert page.locator("#map-canvas").get_attribute("data-focus") == middle["id"]
    assert page.locator("#map-canvas").get_attribute("data-selected") == middle["id"]
    offset = page.evaluate(
        """id => { const n = window.graphsvcMap.network, p = n.canvasToDOM(n.getPositions([id])[id]);
                   const box = document.getElementById('map-canvas').getBoundingClientRect();
                   return [p.x - box.width / 2, p.y - box.height / 2]; }""",
        middle["id"],
    )
    assert abs(offset[0]) < 30 and abs(offset[1]) < 30, offset
    page.screenshot(path=str(ARTIFACTS / "map-readable-chain-en.png"))
    signed_in = page.context.storage_state()  # a TOTP code is good once: the phone reuses the session
    page.close()

    # a phone: the filters folded, the map in the first screen, in both languages
    for lang in ("ko", "en"):
        context = browser.new_context(locale="ko-KR", viewport={"width": 390, "height": 844}, storage_state=signed_in)
        phone = context.new_page()
        phone.on("request", lambda r: requested.append(r.url))
        phone.goto(server + f"/map?lang={lang}")
        _ready(phone)
        assert phone.evaluate("document.getElementById('map-filters-box').open") is False
        box = phone.locator("#map-canvas").bounding_box()
        assert box["y"] < 844 / 2 and box["y"] + box["height"] <= 844 + 1, box  # all of it in the first screen
        assert _labelled_on_screen(phone) >= 5
        phone.screenshot(path=str(ARTIFACTS / f"map-readable-phone-{lang}.png"))
        phone.click("#map-filters-box > summary")
        assert phone.evaluate("document.getElementById('map-filters-box').open") is True
        context.close()
    assert all(url.startswith(server + "/") for url in requested), [u for u in requested if not u.startswith(server)]
    assert not errors, errors
