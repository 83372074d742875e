"""Boundaries of what a caller may know, field by field: an introducer, a path, a reason, an
overview's ids, and every id an answer shows among its audit event's targets.

The rule (graphsvc/access.py ``names_person``): a person of another district is "someone"
(no code name, no id) to coordinators and visitors; a person of a women-only household is
"someone" to a visitor who is not a woman (unknown gender included), in every field.
"""

from __future__ import annotations

import html
import json
import re
import statistics
import time

import pytest

from graphsvc import accounts, audit

from .helpers import ACTOR, PASSWORD, Net, ago, api, events, import_folder, sign_in

# --- women-only households never reach men through people -----------------------------------


@pytest.fixture()
def women_net(db, tmp_path):
    """junho (m), sora (no gender) and minji (f), visitors of A. junho and sora met someone
    at ``hm`` (and junho, wrongly imported, at the women-only ``w2``); the women-only
    household ``w`` introduced ``k``; ``hm`` is two introductions from ``k`` through ``w``."""
    net = Net()
    hm = net.household("hm", code_name="만남의집")
    w = net.household("w", women_only=True, code_name="비밀쉼터")
    k = net.household("k", code_name="새싹")
    w2 = net.household("w2", women_only=True, code_name="두번째쉼터")
    c2 = net.household("c2", code_name="작은별")
    net.intro(hm, w, ago(900))
    net.intro(w, k, ago(800))
    net.intro(w2, c2, ago(700))
    for name, gender in (("junho", "m"), ("sora", ""), ("minji", "f")):
        net.user(name, gender=gender)
        net.visit("hm", name, ago(20))
    net.visit("w2", "junho", ago(10))
    net.load(db, tmp_path / "women")
    for name in ("junho", "sora", "minji"):
        accounts.set_enabled(db, ACTOR, name, True)
    return db


HIDDEN_NAMES = ("비밀쉼터", "두번째쉼터")
HIDDEN_IDS = ("w.1", "w2.1", '"w"', '"w2"', "W2")


def test_a_man_never_learns_a_person_of_a_women_only_household(bare_app, women_net):
    app = bare_app
    for visitor in ("junho", "sora"):
        call = api(app, visitor)
        listed = call("/api/v1/suggestions?limit=10")
        assert listed.status_code == 200, listed.get_data(as_text=True)
        body = listed.json["suggestions"]
        k = next(s for s in body if s["household_id"] == "k")
        assert k["path"] == ["hm.1", None, "k.1"]  # warm through someone he may not know
        household = call("/api/v1/households/k")
        assert household.status_code == 200 and household.json["introducer"] == {"id": None, "code_name": None}
        for text in (listed.get_data(as_text=True), household.get_data(as_text=True)):
            for secret in HIDDEN_NAMES + HIDDEN_IDS:
                assert secret not in text, (visitor, secret)
        if visitor == "junho":  # the anchor he met in a women-only household: "someone"
            c2 = next(s for s in body if s["household_id"] == "c2")
            assert c2["path"] == [None, "c2.1"] and c2["reason_codes"][0]["via_code_name"] is None
            assert "someone you met on" in api(app, visitor)("/api/v1/suggestions?limit=10&lang=en").get_data(
                as_text=True
            )
    minji = api(app, "minji")
    k = next(s for s in minji("/api/v1/suggestions").json["suggestions"] if s["household_id"] == "k")
    assert k["path"] == ["hm.1", "w.1", "k.1"]
    assert minji("/api/v1/households/k").json["introducer"] == {"id": "w.1", "code_name": "비밀쉼터"}


def test_the_suggestions_page_of_a_man_names_nobody_of_a_women_only_household(bare_app, women_net):
    app = bare_app
    accounts.reset_password(women_net, ACTOR, "junho", PASSWORD)
    client = app.test_client()
    assert sign_in(client, "junho").status_code == 302
    page = client.get("/suggestions?lang=en").get_data(as_text=True)
    assert "C2" in page and "someone you met on" in page
    for secret in HIDDEN_NAMES:
        assert secret not in page


# --- other districts reach nobody through the introducer ------------------------------------


def test_the_introducer_of_another_district_is_someone(app, world):
    coord = api(app, "coord")
    body = coord("/api/v1/households/h-005").json  # introduced by 푸른솔 (p-004) of 양천
    assert body["introducer"] == {"id": None, "code_name": None}
    assert "p-004" not in events(world, action="household.read", actor="coord")[0]["targets"]
    client = app.test_client()
    sign_in(client, "coord")
    page = client.get("/households/h-005?lang=en").get_data(as_text=True)
    assert "푸른솔" not in page and "someone you may not see" in page
    admin = api(app, "admin")("/api/v1/households/h-005").json
    assert admin["introducer"] == {"id": "p-004", "code_name": "푸른솔"}
    assert "p-004" in events(world, action="household.read", actor="admin")[0]["targets"]
    assert coord("/api/v1/households/h-002").json["introducer"] == {"id": "p-001", "code_name": "들국화"}


# --- the overview says nothing of other districts --------------------------------------------


@pytest.fixture()
def foreign_root(world, tmp_path):
    """A chain that starts in 양천 (h-006) and reaches 노원 (h-007)."""
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "households.csv").write_text(
        "id,code,district,arrived_on,status\n"
        "h-006,H-006,서울 양천구,2020-01-01,active\n"
        "h-007,H-007,서울 노원구,2021-01-01,active\n",
        encoding="utf-8",
    )
    (folder / "people.csv").write_text(
        "id,code_name,household_id\np-007,먼뿌리,h-006\np-008,먼가지잎,h-007\n", encoding="utf-8"
    )
    (folder / "introductions.csv").write_text(
        "introducer_id,introduced_id,introduced_on,relation\np-007,p-008,2021-02-01,friend\n", encoding="utf-8"
    )
    (folder / "visits.csv").write_text("id,household_id,visitor,visited_on,outcome\n", encoding="utf-8")
    assert import_folder(world, folder).ok
    return world


FOREIGN = (
    "h-003",
    "h-004",
    "h-006",
    "H-003",
    "H-004",
    "H-006",
    "p-004",
    "p-005",
    "p-007",
    "먼뿌리",
    "푸른솔",
    "작은샘",
)


def test_the_overview_has_opaque_ids_and_nothing_foreign(app, foreign_root):
    coord = api(app, "coord")
    body = coord("/api/v1/network?max_nodes=1")
    assert body.json["stats"]["mode"] == "overview"
    assert all(n["id"].startswith("~") for n in body.json["nodes"])
    client = app.test_client()
    sign_in(client, "coord")
    page = client.get("/map?max_nodes=1").get_data(as_text=True)
    assert "overview" in page or "개요" in page
    for text in (body.get_data(as_text=True), page):
        for secret in FOREIGN:
            assert secret not in text, secret


# --- every id shown is among the audit event's targets --------------------------------------


def _records(db) -> dict[str, str]:
    """Every way a record can be named in a page (its id, code or code name) → its id."""
    state = db.read("snapshot")[0]
    names: dict[str, str] = {}
    for labels, props in state["nodes"]:
        if "Household" in labels:
            names[props["id"]] = names[props["code"]] = props["id"]
        elif "Person" in labels:
            names[props["id"]] = names[props["code_name"]] = props["id"]
        elif "Visit" in labels:
            names[props["id"]] = props["id"]
    return names


def _named_in(text: str, names: dict[str, str]) -> set[str]:
    text = html.unescape(text)
    text = text.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
    try:  # a JSON answer: its strings as they read
        text = json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        pass
    return {
        record for name, record in names.items() if re.search(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])", text)
    }


@pytest.mark.parametrize(
    "who,path",
    [
        ("coord", "/map"),
        ("coord", "/map?max_nodes=1"),
        ("coord", "/map?view=people&chain_of=h-001"),
        ("coord", "/unvisited"),
        ("admin", "/unvisited"),
        ("admin", "/unvisited.csv"),
        ("coord", "/households/h-001"),
        ("coord", "/households/h-005"),
        ("minji", "/suggestions"),
        ("minji", "/history"),
        ("admin", "/map"),
        ("coord", "/api/v1/network"),
        ("coord", "/api/v1/network?max_nodes=1"),
        ("admin", "/api/v1/network?max_nodes=1"),
        ("coord", "/api/v1/network?view=people&chain_of=h-001"),
        ("coord", "/api/v1/chains"),
        ("admin", "/api/v1/chains"),
        ("coord", "/api/v1/people/p-006/chain"),
        ("admin", "/api/v1/unvisited"),
        ("coord", "/api/v1/households/h-005"),
        ("admin", "/api/v1/households/h-005"),
        ("minji", "/api/v1/suggestions"),
        ("minji", "/api/v1/households/h-001"),
    ],
)
def test_every_id_shown_is_a_target_of_the_event(app, foreign_root, who, path):
    names = _records(foreign_root)
    if path.startswith("/api/"):
        response = api(app, who)(path)
    else:
        client = app.test_client()
        assert sign_in(client, who).status_code == 302
        response = client.get(path)
    assert response.status_code == 200, path
    shown = _named_in(response.get_data(as_text=True), names)
    event = events(foreign_root, actor=who, limit=1)[0]
    assert shown and not shown - set(event["targets"]), (path, event["action"], shown - set(event["targets"]))


# --- timing does not tell which ids exist -------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/households/{}"), ("POST", "/api/v1/households/{}/claim")])
def test_a_missing_household_costs_what_one_out_of_reach_costs(app, world, method, path):
    """A visitor with a long history of suggestions (the "was it suggested" check reads it):
    a 404 for an id that does not exist and for h-003 (another district) take as long,
    for a read and for a claim; and the refused claims changed nothing."""
    for n in range(3000):
        audit.to_journal(
            world,
            actor="minji",
            role="visitor",
            action="suggestions.read",
            targets=[f"h-x{n}-{i}" for i in range(10)],
            detail="10 suggestions",
        )
    audit.flush(world)
    call = api(app, "minji")
    before = world.read("snapshot")[0]
    samples: dict[str, list[float]] = {"h-003": [], "h-404": []}
    for _ in range(3):  # warm up
        call(path.format("h-003"), method=method), call(path.format("h-404"), method=method)
    for _ in range(25):
        for hid in samples:
            started = time.perf_counter()
            assert call(path.format(hid), method=method).status_code == 404
            samples[hid].append(time.perf_counter() - started)
    out, missing = statistics.median(samples["h-003"]), statistics.median(samples["h-404"])
    assert abs(out - missing) <= max(0.3 * max(out, missing), 0.002), (out, missing)
    assert world.read("snapshot")[0] == before
