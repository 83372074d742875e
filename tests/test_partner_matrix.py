"""The route × role matrix for partners (issue 16 §1, §6): a partner sees exactly the
households shared with their organisation (and those their own reports brought in), and
nothing else, on EVERY route.

The test walks the app's url_map: every GET route, and every POST route of field work (the
routes whose action is one of a field worker's), as a partner, with the path values of a
shared household, a household the partner brought in, and a household never shared (and
their people and visits). It asserts:

- a route whose action the partner's role lacks answers 403 (the guard), whatever the values;
- a route of the partner's role answers 404 for the unshared household, its people and its
  visits (like an unknown id), and does not answer 404 for the shared one;
- no answer (page or JSON, whatever its status) holds an id, a code or a code name of a
  household that was never shared with the partner, nor another's visit or notes;
- never a 5xx.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from graphsvc import access
from web.guard import rule_of

from .helpers import add_partner, api, csrf

ORG = "새희망선교회"
SHARED, UNSHARED = "h-002", "h-001"

# What the partner may never learn: the households never shared with them (h-001, h-003,
# h-004, h-005), their people (ids and code names), and the visits of others (ids, notes)
HIDDEN_IDS = (
    "h-001", "H-001", "h-003", "H-003", "h-004", "H-004", "h-005", "H-005",
    "p-001", "p-002", "p-004", "p-005", "p-006", "v-001", "v-002", "v-003",
)  # fmt: skip
HIDDEN_TEXT = (
    "들국화", "새벽별", "푸른솔", "작은샘", "img src=x", "아이들이 학교에", "차를 대접받음",
    "서울 양천구", "경기 안산시",
)  # fmt: skip
ID_PATTERN = re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in HIDDEN_IDS) + r")(?![\w-])")

PARTNER_ACTIONS = access.REGISTRY["partner"].actions
FIELD_ACTIONS = access.FIELD_ACTIONS | {access.VISIT_REPORT}
PLAIN = {  # path values that name no household (the routes of other roles, or no record)
    "seq": "1",
    "kind": "household",
    "fmt": "csv",
    "name": "vis-network.min.js",
    "token": "x" * 20,
    "alert_id": "a-1",
    "username": "coord",
    "target": UNSHARED,
    "org": ORG,
    "expense_id": "x-0000000000000000",  # expenses (issue 16 §3): none of hers; tests/test_expenses.py
    "receipt_id": "r-0000000000000000",
}


_TODAY_VISIT = {"visited_on": dt.date.today().isoformat(), "outcome": "met"}


def _photo_form() -> dict:
    import io

    from .helpers import photo_with_face

    return {"data": {"file": (io.BytesIO(photo_with_face()), "IMG_0001.jpg")}, "content_type": "multipart/form-data"}


@pytest.fixture()
def scene(app, world):
    """hana (새희망선교회) with h-002 shared by coord; her report there brought in a
    household; she holds a claim on h-002 again."""
    hana = add_partner(world, app=app)
    coord = api(app, "coord")
    assert coord(f"/api/v1/households/{SHARED}/share", method="POST", json={"org": ORG}).status_code == 201
    made = hana.api(
        "/api/v1/visits",
        method="POST",
        json={
            "household_id": SHARED,
            "visited_on": dt.date.today().isoformat(),
            "outcome": "met",
            "met": ["p-003"],
            "notes": "함께 기도함",
            "introductions": [
                {"introducer_id": "p-003", "code_name": "진달래", "district": "서울 노원구", "relation": "friend"}
            ],
        },
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    brought, person = made.json["introductions"][0]["household_id"], made.json["introductions"][0]["person_id"]
    assert hana.api(f"/api/v1/households/{SHARED}/claim", method="POST").status_code == 200
    # visit photos (issue 16 §5): hana's own of her visit, and minji's of the unshared household
    minji = api(app, "minji")
    hers = minji("/api/v1/visits", method="POST", json={**_TODAY_VISIT, "household_id": UNSHARED}).json["id"]
    photo_ids = [
        caller(f"/api/v1/visits/{visit}/photos", method="POST", **_photo_form()).json["id"]
        for caller, visit in ((hana.api, made.json["id"]), (minji, hers))
    ]
    return {
        "hana": hana,
        "visit": made.json["id"],
        "values": {
            # (username: her own pages, e.g. her monthly report, must hold only what is shared with her)
            "shared": {
                "household_id": SHARED,
                "person_id": "p-003",
                "visit_id": made.json["id"],
                "record_id": SHARED,
                "username": "hana",
                "photo_id": photo_ids[0],
            },
            "brought": {
                "household_id": brought,
                "person_id": person,
                "visit_id": made.json["id"],
                "record_id": brought,
                "photo_id": photo_ids[0],
            },
            "unshared": {
                "household_id": UNSHARED,
                "person_id": "p-001",
                "visit_id": "v-001",
                "record_id": UNSHARED,
                "photo_id": photo_ids[1],
            },
        },
    }


# what a page says whoever asks (not data): the report form's example code, the API's document
EXAMPLES = ("e.g. H-001)", "예: H-001)")
NOT_DATA = {"openapi.openapi_json"}
NOWHERE = {
    "household_id": "h-0nothing",
    "person_id": "p-0nothing",
    "visit_id": "v-0nothing",
    "record_id": "h-0nothing",
    "photo_id": "ph-0nothing",
}


def _leaks(text: str, asked: str) -> list[str]:
    """The hidden ids and names in ``text``, but for the one the caller asked for (``asked``:
    a page may say back what was typed, as it does for an id that does not exist)."""
    for example in EXAMPLES:
        text = text.replace(example, "")
    found = set(ID_PATTERN.findall(text)) - {asked}
    return sorted(found | {t for t in HIDDEN_TEXT if t in text})


def _routes(app):
    """(rule, method, action) for every GET route and every POST route of field work."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        found = rule_of(app, rule.endpoint)
        action = found[1] if found else None
        if "GET" in rule.methods:
            out.append((rule, "GET", action))
        if "POST" in rule.methods and action in FIELD_ACTIONS:
            out.append((rule, "POST", action))
    return out


def _fill(rule, values: dict[str, str]) -> str | None:
    args = {}
    for name in rule.arguments:
        value = values.get(name, PLAIN.get(name))
        if value is None:
            return None
        args[name] = value
    path = rule.rule
    for name, value in args.items():
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", value, path)
    return path


def _call(hana, rule, method: str, url: str, values: dict[str, str], token: str):
    is_api = rule.rule.startswith("/api/")
    if method == "GET":
        return hana.api(url) if is_api else hana.client.get(url)
    body = {"household_id": values["household_id"], "visited_on": "2026-01-02", "outcome": "met"}
    if is_api:
        return hana.api(url, method="POST", json=body if "household_id" not in rule.arguments else None)
    return hana.client.post(url, data={**body, "csrf_token": token})


def _answer(hana, rule, method: str, values: dict[str, str], query: str, token: str) -> int:
    path = _fill(rule, values)
    return _call(hana, rule, method, (path or "") + (query or ""), values, token).status_code


def test_a_partner_sees_exactly_the_shared_households_on_every_route(app, scene):
    hana = scene["hana"]
    token = csrf(hana.client, "/suggestions")
    checked, failures = 0, []
    posts_seen = set()
    for rule, method, action in _routes(app):
        for kind, values in scene["values"].items():
            path = _fill(rule, values)
            if path is None:
                failures.append(f"{rule.rule}: no value for {sorted(rule.arguments)}")
                continue
            names_record = bool(
                set(rule.arguments) & {"household_id", "person_id", "visit_id", "record_id", "photo_id"}
            )
            queries = [""]
            if rule.endpoint == "visitor.report_page" and method == "GET":
                queries = [f"?household_id={values['household_id']}"]
            for query in queries:
                url = path + query
                if method == "POST":
                    posts_seen.add(rule.endpoint)
                    if kind == "shared":
                        continue  # the scene did the shared household's field work through the API
                response = _call(hana, rule, method, url, values, token)
                text = response.get_data(as_text=True)
                checked += 1
                where = f"{method} {url} ({kind}) → {response.status_code}"
                if response.status_code >= 500:
                    failures.append(f"{where}: server error")
                leaks = (
                    []
                    if rule.endpoint in NOT_DATA
                    else _leaks(text, values["household_id"] if kind == "unshared" else "")
                )
                if kind == "unshared":  # what was typed may come back: the person's or visit's id too
                    leaks = [t for t in leaks if t not in (values["person_id"], values["visit_id"])]
                if leaks:
                    failures.append(f"{where}: shows {leaks}")
                if action is not None and action not in PARTNER_ACTIONS:
                    if response.status_code != 403:
                        failures.append(f"{where}: expected 403 (not for the role)")
                    continue
                if kind == "unshared" and (names_record or query or method == "POST"):
                    # the answer for an id that does not exist: the same (404, or 400 for a body
                    # checked before the household, which says nothing of it)
                    nowhere = _answer(
                        hana, rule, method, {**values, **NOWHERE}, query and "?household_id=h-0nothing", token
                    )
                    if response.status_code not in (400, 404) or response.status_code != nowhere:
                        failures.append(f"{where}: expected the answer of an unknown id ({nowhere})")
                if kind == "shared" and names_record and response.status_code == 404:
                    if not rule.rule.endswith("/contact") and "person_id" not in rule.arguments:
                        failures.append(f"{where}: the shared household answered 404")
    assert not failures, "\n".join(failures)
    assert checked > 100
    # the field work's POST routes were all walked (a new one would be too)
    assert {"visitor.claim_form", "visitor.release_form", "visitor.contact_form", "visitor.report_page"} <= posts_seen
    assert {"api.claim", "api.release", "api.visit_report"} <= posts_seen


def test_the_partner_sees_the_shared_household_as_a_visitor(app, scene):
    hana = scene["hana"]
    shown = hana.api(f"/api/v1/households/{SHARED}").json
    assert shown["code"] == "H-002" and shown["introducer"] == {"id": None, "code_name": None}
    assert "members" not in shown and "visits" not in shown
    brought = scene["values"]["brought"]["household_id"]
    assert hana.api(f"/api/v1/households/{brought}").json["id"] == brought
    page = hana.client.get("/suggestions").get_data(as_text=True)
    assert "H-002" in page
    # the map and every coordinator's page are closed to her
    for path in ("/map", "/intake", "/dispatch", "/team", "/unvisited", "/transfers"):
        assert hana.client.get(path).status_code == 403, path
    # her own visits and what they brought in
    history = hana.client.get("/history").get_data(as_text=True)
    assert "H-002" in history and "진달래" in history
