"""The visitor's suggestions against a real Neo4j: every candidate and exclusion rule, the
order (warmth, newcomers, long waits, failed attempts, per-visitor ties), paths that exist
in the graph and hide other districts, the stored visit summary, and that the streamed
answer of ``suggest`` is the answer ``rank`` gives over every candidate.

Networks are built by hand as CSV tables, loaded with the importer, then the visit summary
is refreshed (the importer will do that itself). Claims are written with the test-only
statement ``test_suggest_claim`` in the shape graphsvc/visits.py writes them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from graphsvc import demo, suggest
from graphsvc.suggest import Visitor, Weights

from .helpers import NOW, TODAY, A, B, Net, ago, import_folder, write


def claim(db, cid: str, household: str, username: str, expires: dt.datetime, ended: dt.datetime | None = None):
    db.write(
        "test_suggest_claim",
        id=cid,
        household_id=household,
        username=username,
        claimed_at=expires - dt.timedelta(days=14),
        expires_at=expires,
        ended_at=ended,
        ended_by="release" if ended else None,
    )


def ids(found) -> list[str]:
    return [s.household_id for s in found]


def run(db, visitor: Visitor, limit: int = 50, weights: Weights | None = None):
    return suggest.suggest(db, visitor, TODAY, limit, weights, now=NOW)


MINJI = Visitor("minji", (A,), "f")
JUNHO = Visitor("junho", (A,), "m")
SORA = Visitor("sora", (A,), None)
YEON = Visitor("yeon", (B,), "f")


# --- who gets what -------------------------------------------------------------------


@pytest.fixture()
def rules(db, tmp_path):
    net = Net()
    for h in (
        "h-never",
        "h-overdue",
        "h-follow",
        "h-follow-later",
        "h-recent",
        "h-mine",
        "h-mine-old",
        "h-claimed",
        "h-expired",
        "h-ended",
        "h-moved",
        "h-closed",
        "h-dnv",
        "h-women",
        "hm",
    ):
        status = {"h-moved": "moved", "h-closed": "closed", "h-dnv": "do_not_visit"}.get(h, "active")
        net.household(h, status=status, women_only=(h == "h-women"))
    net.household("h-far", district=B)
    net.user("minji", gender="f", person="hm.1")
    net.user("junho", gender="m")
    net.user("sora")
    net.user("yeon", districts=(B,), gender="f")
    net.visit("h-overdue", "yeon", ago(200))
    net.visit("h-follow", "yeon", ago(30), follow_up=ago(5))
    net.visit("h-follow-later", "yeon", ago(30), follow_up=ago(-10))
    net.visit("h-recent", "yeon", ago(30))
    net.visit("h-mine", "minji", ago(30), follow_up=ago(5))
    net.visit("h-mine-old", "minji", ago(120))
    net.load(db, tmp_path / "rules")
    claim(db, "c-1", "h-claimed", "junho", NOW + dt.timedelta(days=3))
    claim(db, "c-2", "h-expired", "junho", NOW - dt.timedelta(minutes=1))
    claim(db, "c-3", "h-ended", "junho", NOW + dt.timedelta(days=3), ended=NOW - dt.timedelta(hours=1))
    return db


ALWAYS = {"h-never", "h-overdue", "h-follow", "h-mine-old", "h-expired", "h-ended"}


@pytest.mark.parametrize(
    "visitor,expected",
    [
        (MINJI, ALWAYS | {"h-women"}),  # not h-mine (hers, 30 days ago), hm (her own), h-claimed (junho's)
        (JUNHO, ALWAYS | {"h-mine", "hm", "h-claimed"}),  # his own claim stays; no women_only
        (SORA, ALWAYS | {"h-mine", "hm"}),  # no gender: not women_only; h-claimed is junho's
        (YEON, {"h-far"}),
    ],
)
def test_each_visitor_gets_exactly_their_candidates(rules, visitor, expected):
    assert set(ids(run(rules, visitor))) == expected


def test_never_suggested(rules):
    everyone = set().union(*(ids(run(rules, v)) for v in (MINJI, JUNHO, SORA, YEON)))
    # moved, closed, do not visit; visited within the interval without a follow-up due
    assert not everyone & {"h-moved", "h-closed", "h-dnv", "h-recent", "h-follow-later"}
    assert "h-far" not in ids(run(rules, MINJI)) and "h-never" not in ids(run(rules, YEON))


def test_women_only_is_for_women_visitors_only(rules):
    assert "h-women" in ids(run(rules, MINJI))
    assert "h-women" not in ids(run(rules, JUNHO))  # a man
    assert "h-women" not in ids(run(rules, SORA))  # gender unknown does not meet it


def test_live_claims_of_others_only(rules):
    assert "h-claimed" not in ids(run(rules, MINJI))
    assert "h-claimed" in ids(run(rules, JUNHO))  # his own claim
    assert {"h-expired", "h-ended"} <= set(ids(run(rules, MINJI)))


def test_candidate_reasons(rules):
    by_id = {s.household_id: s for s in run(rules, JUNHO)}
    assert by_id["h-never"].reasons == (
        {"kind": "never_visited"},
        {"kind": "waiting", "days": 3000, "since": "arrival"},
    )
    assert by_id["h-overdue"].reasons == ({"kind": "overdue", "last_visit": ago(200).isoformat()},)
    assert by_id["h-follow"].reasons == ({"kind": "follow_up_due", "since": ago(5).isoformat()},)
    assert by_id["h-mine"].reasons == ({"kind": "follow_up_due", "since": ago(5).isoformat()},)
    assert all(s.path == () for s in by_id.values())
    assert [s.score for s in by_id.values()] == sorted((s.score for s in by_id.values()), reverse=True)


def test_no_districts_or_no_limit_gives_nothing(rules):
    assert run(rules, Visitor("minji", (), "f")) == []
    assert run(rules, MINJI, limit=0) == []
    assert run(rules, Visitor("nobody", (A,), "f"), limit=3)  # unknown username: cold only
    assert len(run(rules, MINJI, limit=2)) == 2


# --- order ---------------------------------------------------------------------------------


@pytest.fixture()
def warm_net(db, tmp_path):
    """minji met 목련 (ha.1) on 2026-10-03. Introductions:

        hup.1 → ha.1 → h1.1 → h2.1 → h3.1 → h4.1     (hup: one hop up)
                ha.1 → hx.1 (양천) → hy.1              (hy: two hops, through another district)
        hm.1 (minji herself) → hs.1
    plus hn, a cold newcomer, and h5, waiting since long ago.
    """
    net = Net()
    anchor = net.household("ha", code_name="목련")
    up = net.household("hup")
    people = [net.household(f"h{i}") for i in range(1, 5)]
    net.household("hx", district=B, code_name="숨은별")
    hy = net.household("hy")
    me = net.household("hm", code_name="민지")
    own = net.household("hs")
    net.household("hn", arrived=ago(10))
    net.household("h5", arrived=ago(9000))
    net.intro(up, anchor, ago(2000))
    chain = [anchor] + people
    for i, (a, b) in enumerate(zip(chain, chain[1:])):
        net.intro(a, b, ago(1500 - 100 * i))
    net.intro(anchor, "hx.1", ago(1200))
    net.intro("hx.1", hy, ago(1100))
    net.intro(me, own, ago(1000))
    net.user("minji", gender="f", person=me)
    net.user("junho", gender="m")
    net.visit("ha", "minji", dt.date(2026, 10, 3))
    return net.load(db, tmp_path / "warm")


def test_warmth_one_hop_beats_two_beats_three_beats_none(warm_net):
    found = run(warm_net, MINJI)
    order = ids(found)
    assert order.index("h1") < order.index("h2") < order.index("h3") < order.index("hn")
    assert order.index("hup") < order.index("h2") and order.index("hs") < order.index("h2")
    assert order.index("h3") < order.index("h5")  # 24 years of waiting do not beat three hops
    by_id = {s.household_id: s for s in found}
    assert by_id["h1"].reasons[0] == {
        "kind": "warm",
        "hops": 1,
        "via_code_name": "목련",
        "via_household_code": "HA",
        "via_household_id": "ha",
        "visited_on": "2026-10-03",
    }
    assert [by_id[h].reasons[0]["hops"] for h in ("hup", "h1", "h2", "h3", "hy")] == [1, 1, 2, 3, 2]
    assert by_id["h4"].reasons[0]["kind"] == "never_visited" and by_id["h4"].path == ()
    assert by_id["h2"].path == ("ha.1", "h1.1", "h2.1")
    assert by_id["hup"].path == ("ha.1", "hup.1")
    # her own person is an anchor too: no visit date
    assert by_id["hs"].reasons[0] == {
        "kind": "warm",
        "hops": 1,
        "via_code_name": "민지",
        "via_household_code": "HM",
        "via_household_id": "hm",
        "visited_on": None,
    }
    assert "ha" not in by_id and "hm" not in by_id  # visited by her lately; her own household


def test_other_districts_on_a_path_are_not_shown(warm_net):
    hy = {s.household_id: s for s in run(warm_net, MINJI)}["hy"]
    assert hy.path == ("ha.1", None, "hy.1")
    assert "숨은별" not in repr(hy) and "hx" not in repr(hy).lower()


def test_every_path_exists_in_the_graph(warm_net):
    checked = 0
    for s in run(warm_net, MINJI):
        path = s.path
        if not path:
            continue
        assert len(path) - 1 == s.reasons[0]["hops"]
        assert warm_net.read("test_suggest_path", ids=list(path))[0]["n"] == 1, path
        for a, b in zip(path, path[1:]):
            if a is not None and b is not None:
                assert warm_net.read("test_suggest_introduced", a=a, b=b)[0]["n"] == 1, (a, b)
                checked += 1
    assert checked >= 8


def test_two_visitors_of_one_district_differ_by_warmth(warm_net):
    assert ids(run(warm_net, MINJI, limit=3)) != ids(run(warm_net, JUNHO, limit=3))


@pytest.fixture()
def order_net(db, tmp_path):
    net = Net()
    seed = net.household("hseed", arrived=ago(5000))
    for hid, arrived, joined in (("hnew", 100, 90), ("hold", 2000, 90), ("hlong", 3000, 1000), ("hshort", 3000, 100)):
        net.intro(seed, net.household(hid, arrived=ago(arrived)), ago(joined))
    net.household("hfail")
    net.household("hok")
    net.user("yeon", districts=(B,), gender="f")
    net.user("sora")
    net.visit("hfail", "yeon", ago(300))
    net.visit("hfail", "yeon", ago(200), outcome="not_home")
    net.visit("hfail", "yeon", ago(150), outcome="refused")
    net.visit("hok", "yeon", ago(150))
    return net.load(db, tmp_path / "order")


def test_newcomers_and_long_waits_ahead_failed_attempts_behind(order_net):
    found = run(order_net, SORA)
    order = ids(found)
    assert order.index("hnew") < order.index("hold")  # same wait; hnew arrived 100 days ago
    assert order.index("hlong") < order.index("hshort")  # introduced 1000 vs 100 days ago
    assert order.index("hok") < order.index("hfail")  # same last visit; two failed attempts since the last 'met'
    by_id = {s.household_id: s for s in found}
    assert {"kind": "newcomer", "arrived_on": ago(100).isoformat()} in by_id["hnew"].reasons
    assert {"kind": "waiting", "days": 1000, "since": "introduction"} in by_id["hlong"].reasons
    assert by_id["hfail"].reasons == (
        {"kind": "overdue", "last_visit": ago(150).isoformat()},
        {"kind": "failed_attempts", "count": 2},
    )


def test_ties_are_broken_per_visitor(db, tmp_path):
    net = Net()
    for i in range(8):
        net.household(f"h{i}", arrived=ago(400))
    net.user("junho", gender="m")
    net.user("sora")
    net.load(db, tmp_path / "ties")
    junho, sora = ids(run(db, JUNHO)), ids(run(db, SORA))
    assert sorted(junho) == sorted(sora) and junho != sora
    assert ids(run(db, JUNHO)) == junho  # stable
    assert junho[:3] != sora[:3]


# --- the visit summary -------------------------------------------------------------------


def test_visit_summary(db, tmp_path):
    net = Net()
    for h in ("h1", "h2", "h3", "h4"):
        net.household(h, arrived=ago(500))
    net.intro("h1.1", "h4.1", ago(400))
    net.user("yeon", gender="f")
    net.visit("h1", "yeon", ago(300), "not_home")
    net.visit("h1", "yeon", ago(200), "met", follow_up=ago(100))
    net.visit("h1", "yeon", ago(100), "refused")
    net.visit("h1", "yeon", ago(50), "not_home", follow_up=ago(20))
    net.visit("h2", "yeon", ago(60), "refused")
    net.visit("h2", "yeon", ago(40), "other")
    net.load(db, tmp_path / "summary")

    def summary(hid):
        row = db.read("test_suggest_visit_summary", id=hid)[0]
        return {k: (v.to_native() if hasattr(v, "to_native") else v) for k, v in row.items()}

    assert summary("h1") == {
        "last_visit_on": ago(50),
        "follow_up_on": ago(20),
        "failed_attempts": 2,
        "unvisited_since": None,
    }
    assert summary("h2") == {
        "last_visit_on": ago(40),
        "follow_up_on": None,
        "failed_attempts": 1,
        "unvisited_since": None,
    }
    assert summary("h3") == {
        "last_visit_on": None,
        "follow_up_on": None,
        "failed_attempts": 0,
        "unvisited_since": ago(500),
    }
    assert summary("h4")["unvisited_since"] == ago(400)  # joined through an introduction
    # a new visit (as a visit report writes it), then the refresh in the same transaction
    write(
        tmp_path / "more",
        {
            "visits": [
                {
                    "id": "v-900",
                    "household_id": "h3",
                    "visitor": "yeon",
                    "visited_on": ago(1).isoformat(),
                    "outcome": "met",
                }
            ]
        },
    )
    assert import_folder(db, tmp_path / "more").ok  # the importer refreshes what it touched
    assert summary("h3")["last_visit_on"] == ago(1)
    db.write("test_suggest_clear_summary", id="h3")
    assert summary("h3")["last_visit_on"] is None
    assert db.write_tx(suggest.refresh_visit_summary_in_tx, db, ["h3"]) == 1
    assert summary("h3") == {
        "last_visit_on": ago(1),
        "follow_up_on": None,
        "failed_attempts": 0,
        "unvisited_since": None,
    }
    assert suggest.refresh_visit_summary(db, ["h1", "h2"], batch=1) == 2


# --- the streamed answer is the full answer ---------------------------------------------------


def everything(db, visitor, weights: Weights):
    """rank() over every candidate, with every warm path (what suggest() must agree with)."""
    params = {
        "username": visitor.username,
        "districts": list(visitor.districts),
        "gender": visitor.gender,
        "today": TODAY,
        "overdue_before": TODAY - dt.timedelta(days=weights.follow_up_days),
        "newcomer_since": TODAY - dt.timedelta(days=weights.newcomer_days),
        "follow_up_days": weights.follow_up_days,
        "now": NOW,
        "declined_since": NOW - dt.timedelta(days=suggest.DECLINED_DAYS),
    }
    streams = db.read("suggest_candidates", k=1_000_000, **params)[0]["streams"]
    found = {row[0]: suggest.Candidate.from_row(row) for entry in streams for rows in entry[1:] for row in rows}
    warm_rows = db.read(
        "suggest_warm",
        hops=3,
        deep_below=0,
        m=1_000_000,
        hop_weights=[0, weights.one_hop, weights.two_hops, weights.three_hops],
        newcomer=weights.newcomer,
        waiting=weights.waiting,
        waiting_half_days=weights.waiting_half_days,
        **params,
    )[0]["rows"]
    warm = {row[0]: suggest._warm_path(row) for row in warm_rows}
    for row in warm_rows:
        assert row[0] in found  # every warm household is a candidate of the candidate query too
    return suggest.rank(found.values(), warm, visitor, TODAY, weights)


@pytest.fixture(scope="module")
def demo_tables():
    return demo.generate(400, seed=11, as_of=TODAY)


@pytest.fixture()
def demo_net(db, tmp_path, demo_tables):
    write(tmp_path / "demo", demo_tables)
    assert import_folder(db, tmp_path / "demo", allow_duplicates=True).ok  # its random names repeat
    suggest.refresh_visit_summary(db)
    users = [u for u in demo_tables["users"] if u["role"] == "visitor"]
    with_person = next(u for u in users if u["person_id"])
    first_district = users[0]["districts"].split(";")[0]
    claim(
        db,
        "c-demo",
        next(h["id"] for h in demo_tables["households"] if h["district"] == first_district),
        users[1]["username"],
        NOW + dt.timedelta(days=1),
    )

    def visitor(u, gender):
        return Visitor(u["username"], tuple(u["districts"].split(";")), gender)

    return db, [visitor(users[0], "f"), visitor(users[1], None), visitor(with_person, "f"), visitor(users[3], "m")]


@pytest.mark.parametrize(
    "weights",
    [
        Weights(),
        Weights(one_hop=0, two_hops=0, three_hops=0),  # nothing but the cold streams
        Weights(personal=25, waiting_half_days=30),  # strong ties: streams must read further
        Weights(one_hop=10, two_hops=30, three_hops=50, newcomer=40),  # warmth does not dominate
    ],
)
def test_suggest_agrees_with_rank_over_every_candidate(demo_net, weights):
    db, visitors = demo_net
    for visitor in visitors:
        full = everything(db, visitor, weights)
        assert full, visitor
        for limit in (1, 7, 30):
            got = run(db, visitor, limit, weights)
            want = full[:limit]
            assert ids(got) == ids(want), (visitor, limit)
            assert [s.score for s in got] == pytest.approx([s.score for s in want])
            if weights.one_hop or weights.two_hops or weights.three_hops:
                assert [s.reasons for s in got] == [s.reasons for s in want]
                assert [s.path for s in got] == [s.path for s in want]
            else:  # warmth counts for nothing: suggest() does not look for it beyond one hop
                assert [[r for r in s.reasons if r["kind"] != "warm"] for s in got] == [
                    [r for r in s.reasons if r["kind"] != "warm"] for s in want
                ]


def test_a_visitor_with_many_warm_households_needs_one_query(demo_net):
    db, visitors = demo_net
    calls = []

    class Counting:
        def read(self, name, **params):
            calls.append(name)
            return db.read(name, **params)

    busiest = max(
        visitors, key=lambda v: sum(1 for s in everything(db, v, Weights())[:10] if s.reasons[0]["kind"] == "warm")
    )
    if sum(1 for s in everything(db, busiest, Weights())[:3] if s.reasons[0]["kind"] == "warm") < 3:
        pytest.skip("no visitor of this demo has three warm households")
    suggest.suggest(Counting(), busiest, TODAY, 3, Weights(), now=NOW)
    assert calls == ["suggest_warm"]


def test_weights_from_env():
    w = Weights.from_env(
        {"GRAPHSVC_SUGGEST_ONE_HOP": "200", "GRAPHSVC_SUGGEST_FAILED_CAP": "5", "GRAPHSVC_SUGGEST_PERSONAL": ""},
        newcomer_days=90,
    )
    assert (w.one_hop, w.failed_cap, w.newcomer_days, w.personal) == (200.0, 5, 90, 0.5)
    with pytest.raises(ValueError, match="GRAPHSVC_SUGGEST_WAITING"):
        Weights.from_env({"GRAPHSVC_SUGGEST_WAITING": "lots"})
    with pytest.raises(ValueError, match="failed_cap"):
        Weights.from_env({"GRAPHSVC_SUGGEST_FAILED_CAP": "-1"})


def test_the_map_and_the_suggestions_read_one_follow_up_setting():
    """GRAPHSVC_FOLLOW_UP_DAYS is parsed once (config.Settings); the suggestions' weights take
    it from there, as the map does."""
    from graphsvc.config import load_settings

    settings = load_settings(
        {"GRAPHSVC_FOLLOW_UP_DAYS": "45", "GRAPHSVC_NEWCOMER_DAYS": "30", "GRAPHSVC_SUGGEST_NEWCOMER": "7"}
    )
    w = Weights.from_settings(settings)
    assert (w.follow_up_days, w.newcomer_days, w.newcomer) == (settings.follow_up_days, 30, 7.0) == (45, 30, 7.0)
    assert all(k.startswith("GRAPHSVC_SUGGEST_") for k, _v in settings.suggest_env)
