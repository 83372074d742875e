"""The last fuzz 500s of issue 14 (§3), part one: a district with no households answers an
empty network (200, the same shape as a full one), on the API and on the map page; the
layout helpers that take a max()/min() over what a query found accept finding nothing."""

from __future__ import annotations

import pytest

from graphsvc import charts, netmap

from .helpers import api, sign_in

EMPTY = "제주 서귀포시"  # no household of the small network is there


@pytest.mark.parametrize(
    "query",
    [
        f"district={EMPTY}",
        f"district={EMPTY}&depth=3",
        f"district={EMPTY}&status=overdue,never",
        f"district={EMPTY}&rest=1",
        f"district={EMPTY}&max_nodes=1",
        "district=서울 노원구&wave_min=999",  # households there, none the filters keep
    ],
)
def test_api_network_of_a_district_with_no_households_is_an_empty_network(app, query):
    call = api(app, "admin")
    full = call("/api/v1/network").json
    response = call(f"/api/v1/network?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.json
    assert set(body) == set(full) and set(body["stats"]) == set(full["stats"])
    assert body["nodes"] == [] and body["edges"] == []
    assert body["stats"]["households_drawn"] == body["stats"]["households_matching"] == 0


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_map_page_of_a_district_with_no_households_answers(app, lang):
    client = app.test_client()
    sign_in(client, "admin")
    response = client.get(f"/map?district={EMPTY}&lang={lang}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    assert 'data-stat="households">0<' in page
    assert '"nodes": []' in page or '"nodes":[]' in page


def test_layout_helpers_take_nothing():
    assert netmap.tree_layout([], {}) == {}
    assert netmap.overview([]) == []
    assert netmap.overview_layout([]) == ({}, {}, {})
    assert netmap.layout_measures({}, [])["width"] == 0
    for chart in (charts.bar_chart, charts.column_chart):
        assert "–" in chart([], title="t")
        assert "–" in chart([("a", 0)], title="t")
