"""Tests of the demo network generator (no database needed)."""

from __future__ import annotations

import datetime
import re
from collections import Counter
from functools import cache

import pytest

from graphsvc import demo
from graphsvc.csvio import TABLES
from graphsvc.model import HOUSEHOLD_STATUS, RELATION, ROLE, VISIT_OUTCOME

AS_OF = datetime.date(2025, 6, 1)
N = 2000
HANGUL = re.compile("[\uac00-\ud7a3]")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@cache
def tables(n: int = N, seed: int = 1) -> dict:
    """The generated network, built once per (n, seed) for the whole module."""
    return demo.generate(n, seed=seed, as_of=AS_OF)


def parents(t) -> dict[str, str]:
    return {r["introduced_id"]: r["introducer_id"] for r in t["introductions"]}


def day(text: str) -> datetime.date:
    assert ISO.match(text), text
    return datetime.date.fromisoformat(text)


# ------------------------------------------------------------------ shape and determinism


def test_deterministic_for_same_arguments():
    assert demo.generate(300, seed=7, as_of=AS_OF) == demo.generate(300, seed=7, as_of=AS_OF)


def test_other_seed_gives_other_network():
    assert demo.generate(300, seed=7, as_of=AS_OF) != demo.generate(300, seed=8, as_of=AS_OF)


def test_default_as_of_is_today():
    t = demo.generate(20, seed=3)
    today = datetime.date.today()
    assert all(day(v["visited_on"]) <= today for v in t["visits"])
    assert t == demo.generate(20, seed=3, as_of=today)


def test_tables_and_columns_match_csv_format():
    t = tables()
    assert set(t) == {"users", "households", "people", "introductions", "visits"}
    for name, rows in t.items():
        assert rows or name in ("introductions", "visits")
        for row in rows:
            assert tuple(row) == TABLES[name].columns
            assert all(isinstance(v, str) for v in row.values())
            for col in TABLES[name].required:
                assert row[col] != "", (name, col, row)


def test_row_counts():
    t = tables()
    assert len(t["households"]) == N
    assert N <= len(t["people"]) <= 4 * N
    s = demo.summary(t)
    for name in TABLES:
        assert s[name] == len(t[name])
    visited = {v["household_id"] for v in t["visits"]}
    assert s["never_visited"] == sum(1 for h in t["households"] if h["id"] not in visited)


def test_ids_unique_and_well_formed():
    t = tables()
    for name, prefix in (("households", "h"), ("people", "p"), ("visits", "v")):
        ids = [r["id"] for r in t[name]]
        assert len(ids) == len(set(ids))
        assert all(re.fullmatch(prefix + r"-\d{6,}", i) for i in ids)
    codes = [h["code"] for h in t["households"]]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"H-\d{4}", c) for c in codes)
    users = [u["username"] for u in t["users"]]
    assert len(users) == len(set(users))


def test_small_network_ids_and_codes():
    t = demo.generate(3, seed=1, as_of=AS_OF)
    assert t["households"][0]["id"] == "h-000001"
    assert t["households"][0]["code"] == "H-1"


# ------------------------------------------------------------------ references and graph


def test_every_reference_resolves():
    t = tables()
    households = {h["id"] for h in t["households"]}
    people = {p["id"] for p in t["people"]}
    users = {u["username"] for u in t["users"]}
    assert all(p["household_id"] in households for p in t["people"])
    for r in t["introductions"]:
        assert r["introducer_id"] in people and r["introduced_id"] in people
        assert r["introducer_id"] != r["introduced_id"]
    for v in t["visits"]:
        assert v["household_id"] in households and v["visitor"] in users
    linked = [u["person_id"] for u in t["users"] if u["person_id"]]
    assert all(p in people for p in linked)
    assert len(linked) == len(set(linked))


def test_every_household_has_members_and_only_heads_are_introduced():
    t = tables()
    members = Counter(p["household_id"] for p in t["people"])
    assert all(1 <= members[h["id"]] <= 4 for h in t["households"])
    first = {}
    for p in t["people"]:
        first.setdefault(p["household_id"], p["id"])
    heads = set(first.values())
    assert all(r["introduced_id"] in heads for r in t["introductions"])


def test_at_most_one_introducer_and_no_cycle():
    t = tables()
    introduced = [r["introduced_id"] for r in t["introductions"]]
    assert len(introduced) == len(set(introduced))
    up = parents(t)
    for p in t["people"]:
        seen, node = set(), p["id"]
        while node in up:
            assert node not in seen, "cycle"
            seen.add(node)
            node = up[node]


def test_introducer_comes_from_an_earlier_household():
    t = tables()
    household = {p["id"]: p["household_id"] for p in t["people"]}
    for r in t["introductions"]:
        assert household[r["introducer_id"]] < household[r["introduced_id"]]


def test_introduction_dates_flow_down_chains_and_stay_before_as_of():
    t = tables()
    on = {r["introduced_id"]: r["introduced_on"] for r in t["introductions"]}
    up = parents(t)
    earliest = AS_OF - datetime.timedelta(days=6 * 366)
    empty = 0
    for child, date in on.items():
        if not date:
            empty += 1
            continue
        d = day(date)
        assert earliest <= d <= AS_OF
        node = up[child]  # the nearest dated ancestor introduction must not be later
        while node in on and not on[node]:
            node = up[node]
        if node in on:
            assert day(on[node]) <= d
    assert empty < 0.05 * len(on)


def test_seed_households_and_unknown_introducers():
    t = tables()
    introduced = {r["introduced_id"] for r in t["introductions"]}
    first = {}
    for p in t["people"]:
        first.setdefault(p["household_id"], p["id"])
    roots = [h["id"] for h in t["households"] if first[h["id"]] not in introduced]
    assert roots[:10] == [h["id"] for h in t["households"][:10]]  # the ten seeds
    unknown = len(roots) - 10
    assert 0 < unknown <= 0.06 * N


def test_heavy_tailed_fan_out_and_deep_chains():
    t = tables()
    up = parents(t)
    fan_out = Counter(up.values())
    assert max(fan_out.values()) >= 20

    def depth(p):
        d = 0
        while p in up:
            p, d = up[p], d + 1
        return d

    assert max(depth(p) for p in up) >= 5

    def root(p):
        while p in up:
            p = up[p]
        return p

    tree = Counter(root(p) for p in up)
    assert max(tree.values()) >= 200  # some seed grew a large tree


def test_districts_and_chains_mostly_stay_local():
    t = tables()
    district = {h["id"]: h["district"] for h in t["households"]}
    assert set(district.values()) <= set(demo.DISTRICTS)
    assert len(set(district.values())) == len(demo.DISTRICTS)
    home = {p["id"]: district[p["household_id"]] for p in t["people"]}
    same = sum(home[r["introducer_id"]] == home[r["introduced_id"]] for r in t["introductions"])
    assert 0.6 <= same / len(t["introductions"]) <= 0.95
    for p in t["people"]:
        if p["address"]:
            assert p["address"].startswith(home[p["id"]] + " ")


# ------------------------------------------------------------------ values


def test_enum_values_valid():
    t = tables()
    assert {h["status"] for h in t["households"]} <= set(HOUSEHOLD_STATUS.values)
    assert {r["relation"] for r in t["introductions"]} <= set(RELATION.values)
    assert {v["outcome"] for v in t["visits"]} <= set(VISIT_OUTCOME.values)
    assert {u["role"] for u in t["users"]} <= set(ROLE.values)
    statuses = Counter(h["status"] for h in t["households"])
    assert statuses["active"] > 0.85 * N
    relations = Counter(r["relation"] for r in t["introductions"])
    assert relations["family"] + relations["friend"] > 0.7 * len(t["introductions"])


def test_code_names_unique_and_korean():
    t = tables()
    names = [p["code_name"] for p in t["people"]]
    assert len(names) == len(set(names))
    assert all(HANGUL.search(n) for n in names)
    assert all(re.fullmatch(r"[\uac00-\ud7a3]+(-\d+)?", n) for n in names)


def test_identity_fields_look_real():
    t = tables()
    for p in t["people"]:
        assert re.fullmatch(r"[\uac00-\ud7a3]{3}", p["legal_name"])
        assert p["phone"] == "" or re.fullmatch(r"010-\d{4}-\d{4}", p["phone"])
    no_phone = sum(1 for p in t["people"] if not p["phone"])
    assert 0.03 < no_phone / len(t["people"]) < 0.2
    by_household: dict[str, set] = {}
    for p in t["people"]:
        by_household.setdefault(p["household_id"], set()).add(p["address"])
    assert all(len(a) == 1 for a in by_household.values())


def test_arrival_dates():
    t = tables()
    dates = [day(h["arrived_on"]) for h in t["households"] if h["arrived_on"]]
    assert len(dates) >= 0.95 * N
    assert all(datetime.date(1998, 1, 1) <= d <= AS_OF for d in dates)
    newcomers = sum(1 for d in dates if (AS_OF - d).days < 365)
    assert 0.08 <= newcomers / N <= 0.25


# ------------------------------------------------------------------ users and visits


def test_users():
    t = tables()
    roles = Counter(u["role"] for u in t["users"])
    assert roles["admin"] == 1
    admin = next(u for u in t["users"] if u["role"] == "admin")
    assert admin["username"] == "admin" and admin["districts"] == ""
    assert roles["coordinator"] >= 3
    visitors = [u for u in t["users"] if u["role"] == "visitor"]
    assert len(visitors) == max(4, min(800, N // 150))
    assert all(1 <= len(u["districts"].split(";")) <= 2 for u in visitors)
    covered = {d for u in visitors for d in u["districts"].split(";")}
    assert {h["district"] for h in t["households"]} <= covered
    linked = sum(1 for u in visitors if u["person_id"])
    assert 0.2 <= linked / len(visitors) <= 0.5


def test_never_visited_share():
    t = tables()
    share = demo.summary(t)["never_visited"] / N
    assert 0.25 <= share <= 0.55


def test_visits_by_a_visitor_of_the_district_and_in_the_window():
    t = tables()
    districts = {u["username"]: set(u["districts"].split(";")) for u in t["users"] if u["role"] == "visitor"}
    home = {h["id"]: h for h in t["households"]}
    earliest = AS_OF - datetime.timedelta(days=2 * 366)
    per_household = Counter(v["household_id"] for v in t["visits"])
    assert max(per_household.values()) <= 4
    for v in t["visits"]:
        assert v["visitor"] in districts
        assert home[v["household_id"]]["district"] in districts[v["visitor"]]
        assert earliest <= day(v["visited_on"]) <= AS_OF
    do_not_visit = {h["id"] for h in t["households"] if h["status"] == "do_not_visit"}
    assert not do_not_visit & set(per_household)


def test_visit_outcomes_materials_and_notes():
    t = tables()
    outcomes = Counter(v["outcome"] for v in t["visits"])
    assert outcomes.most_common(1)[0][0] == "met"
    item = re.compile(r"(bible|hymnal|tract|rice|ramen|clothes):[123]")
    for v in t["visits"]:
        if v["materials"]:
            assert v["outcome"] == "met"
            parts = v["materials"].split(";")
            assert all(item.fullmatch(p) for p in parts)
            names = [p.split(":")[0] for p in parts]
            assert len(names) == len(set(names))
        assert v["notes"] == "" or HANGUL.search(v["notes"])
    empty_notes = sum(1 for v in t["visits"] if not v["notes"])
    assert 0.35 < empty_notes / len(t["visits"]) < 0.65


# ------------------------------------------------------------------ small networks


@pytest.mark.parametrize("n", [1, 5])
def test_small_networks(n):
    t = demo.generate(n, seed=1, as_of=AS_OF)
    assert len(t["households"]) == n
    assert t["introductions"] == []  # all households are seeds
    household_ids = {h["id"] for h in t["households"]}
    assert {p["household_id"] for p in t["people"]} == household_ids
    visitors = {u["username"]: set(u["districts"].split(";")) for u in t["users"] if u["role"] == "visitor"}
    assert len(visitors) == 4
    home = {h["id"]: h["district"] for h in t["households"]}
    assert set(home.values()) <= set().union(*visitors.values())
    for v in t["visits"]:
        assert home[v["household_id"]] in visitors[v["visitor"]]
    assert demo.summary(t)["households"] == n


def test_more_households_than_seeds_in_a_small_network():
    t = demo.generate(30, seed=2, as_of=AS_OF)
    assert 15 <= len(t["introductions"]) <= 20
