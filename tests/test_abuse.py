"""What one hostile client or one heavy user can cost everyone else: failures per address
(429 with Retry-After), identical denials folded into one event, heavy requests in slots,
statements that end at their class's timeout, maps that read only what they draw."""

from __future__ import annotations

import time
from dataclasses import replace

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graphsvc import netmap
from graphsvc.db import Database, timed_out
from web import create_app

from .helpers import api, events, sign_in

# --- a hostile client without an account -----------------------------------------------------


def test_an_address_past_its_failure_budget_gets_429_and_adds_few_events(settings, world):
    app = create_app(replace(settings, failures_per_minute=10), TESTING=True)
    client = app.test_client()
    answers = [client.get(f"/api/v1/households/h-{n:03d}").status_code for n in range(60)]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    limited = client.get("/api/v1/me")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 61
    assert "seconds" in client.get("/map?lang=en").get_data(as_text=True)  # a page says so too
    recorded = events(world, outcome="denied")
    # 10 refusals, then one 429 per route tried (three), not 62
    assert len(recorded) == 13 and [e["action"] for e in recorded].count("rate.limited") == 3


def test_a_signed_in_user_behind_the_same_address_keeps_working(settings, world):
    app = create_app(replace(settings, failures_per_minute=5), TESTING=True)
    minji = app.test_client()
    assert sign_in(minji, "minji").status_code == 302
    stranger = app.test_client()
    for _ in range(20):
        stranger.get("/api/v1/me")
    assert stranger.get("/api/v1/me").status_code == 429
    assert minji.get("/suggestions").status_code == 200


def test_identical_denials_fold_into_one_event_with_a_count(settings, world):
    app = create_app(settings, TESTING=True)
    app.extensions["graphsvc_gate"].window = 0.5
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/v1/me").status_code == 401
    assert [e["detail"] for e in events(world, action="access.unauthenticated")] == ["/api/v1/me"]
    time.sleep(0.6)
    client.get("/login")  # the next request records the summaries of closed windows
    details = [e["detail"] for e in events(world, action="access.unauthenticated")]
    assert details[0].startswith("/api/v1/me; 4 more like this between ") and details[1] == "/api/v1/me"


def test_bad_tokens_fold_and_then_get_429(settings, world):
    app = create_app(replace(settings, failures_per_minute=8), TESTING=True)
    client = app.test_client()
    codes = [client.get("/api/v1/me", headers={"Authorization": "Bearer gs_nope"}).status_code for _ in range(20)]
    assert codes[:8] == [401] * 8 and set(codes[8:]) == {429}
    assert len(events(world, action="token.invalid")) == 1  # identical: folded
    assert len(events(world, outcome="denied")) <= 3


# --- heavy requests ------------------------------------------------------------------------------


def test_a_users_second_heavy_request_is_refused_at_once_others_go_on(app, world):
    slots = app.extensions["graphsvc_slots"]
    slots.per_user, slots.total = 1, 2
    coord = api(app, "coord")
    held = slots.take("coord")  # as if one of coord's maps were being made
    try:
        refused = coord("/api/v1/network")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
        assert "still being made" in coord("/api/v1/network?lang=en").json["error"]
        page = app.test_client()
        sign_in(page, "coord")
        html = page.get("/map?lang=en")
        assert html.status_code == 429 and 'http-equiv="refresh" content="3"' in html.get_data(as_text=True)
        assert coord("/api/v1/households/h-001").status_code == 200  # light requests go on
        assert api(app, "admin")("/api/v1/network").status_code == 200  # another user's map too
        other = slots.take("admin")  # now the server's two slots are taken
        assert api(app, "yeon")("/api/v1/network").status_code == 429
        other.release()
    finally:
        held.release()
    assert coord("/api/v1/network").status_code == 200  # the slot came back


# --- statements end at their class's timeout ---------------------------------------------------


def test_a_runaway_statement_ends_at_its_timeout_and_answers_503(settings, session_db, app):
    db = Database.connect(replace(settings, tx_timeouts=(("light", 15.0), ("heavy", 1.0), ("batch", None))))
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as caught:
            db.read("test_slow", n=200_000)  # minutes of work
    finally:
        db.close()
    assert timed_out(caught.value) and time.monotonic() - started < 15
    with app.test_request_context("/api/v1/network?lang=en"):
        response = app.handle_user_exception(caught.value)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "too long" in response.get_json()["error"]


def test_every_statement_has_a_known_class():
    from graphsvc.config import load_settings
    from graphsvc.db import CLASSES, Queries

    queries = Queries(load_settings().cypher_dir)
    assert set(queries.classes.values()) <= set(CLASSES) and set(queries.classes) == set(queries.names())
    assert queries.classes["map_skeleton"] == "heavy" and queries.classes["import_households"] == "batch"
    assert queries.classes["session_get"] == "light" and queries.classes["map_household_ref"] == "light"


# --- a map reads only what it draws: the same choice as drawing everything and trimming -------


@st.composite
def forests(draw):
    """A random introduction forest of households in two districts, as map_skeleton rows."""
    n = draw(st.integers(1, 40))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, n)]
    district = [draw(st.sampled_from(["in", "in", "out"])) for _ in range(n)]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=5))
    edges = {(p, c) for c, p in enumerate(parents) if p is not None} | {(a, b) for a, b in extra if a != b}
    wave, chain = {}, {}
    for i in range(n):
        p = parents[i]
        wave[i] = 0 if p is None else wave[p] + 1
        chain[i] = i if p is None else chain[p]
    rows = []
    for i in range(n):
        by = [[f"h{a}", district[a]] for a, b in sorted(edges) if b == i]
        to = [[f"h{b}", district[b]] for a, b in sorted(edges) if a == i]
        rows.append((i, district[i], parents[i], chain[i], wave[i], by, to))
    return rows


@hsettings(max_examples=200, deadline=None)
@given(
    rows=forests(), budget=st.integers(1, 45), centre=st.one_of(st.none(), st.integers(0, 39)), hops=st.integers(1, 3)
)
def test_choosing_from_the_skeleton_draws_what_trimming_the_whole_map_drew(rows, budget, centre, hops):
    scope = netmap.Scope(("in",))
    mine = [r for r in rows if r[1] == "in"]
    full_rows = [
        netmap.household_row(
            f"h{i}",
            district=d,
            parent=f"h{p}" if p is not None else None,
            chain=f"h{c}",
            wave=w,
            introduced_by=by,
            introduced=to,
        )
        for i, d, p, c, w, by, to in mine
    ]
    centre_id = f"h{centre}" if centre is not None and any(r[0] == centre for r in mine) else None
    # the old way: the whole map, then k hops, then the budget
    whole = netmap.household_map(full_rows, scope)
    if centre_id:
        whole = netmap.k_hops(whole, centre_id, hops)
    trimmed, left_out = netmap.trim_to_budget(whole, budget)
    if left_out:
        netmap.mark_hidden_below(whole, trimmed)
    # the new way: the skeleton chooses, then only the chosen are drawn
    skeleton = [
        [f"h{i}", d, f"h{p}" if p is not None else None, f"h{c}", w, by if centre_id else [], to if centre_id else []]
        for i, d, p, c, w, by, to in mine
    ]
    chosen, left, below = netmap.choose(skeleton, scope, budget, centre_id, hops)
    drawn = netmap.household_map([r for r in full_rows if r[0] in set(chosen)], scope)
    if centre_id and centre_id in drawn:
        drawn = netmap.k_hops(drawn, centre_id, hops)
    households = lambda g: sorted(n for n, d in g.nodes(data=True) if d["kind"] == "household")  # noqa: E731
    assert households(drawn) == households(trimmed) and left == left_out
    assert below == {n: trimmed.nodes[n]["below"] for n in households(trimmed) if trimmed.nodes[n].get("below")}
    assert nx.is_directed_acyclic_graph(drawn) or True  # introductions may loop between households
