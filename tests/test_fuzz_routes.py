"""No input answers 5xx: every route, every role, generated arguments, fields and JSON bodies.

Hypothesis draws a route of the app's URL map, who calls it (nobody, a visitor, a
coordinator, an admin; with a session or a token), path values, query arguments (the ones
the view takes and others), form fields and JSON bodies, from values chosen to hurt: Unicode
digits, dates at the end of time, control characters, lone surrogates, huge and deeply
nested values. Whatever it draws, the answer is below 500.
"""

from __future__ import annotations

import json
import string
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.args import taken_by

from .helpers import api, csrf, sign_in

KNOWN_IDS = ["h-001", "h-002", "h-003", "H-001", "p-001", "p-003", "v-001", "minji", "coord", "admin"]
ODD_TEXT = [
    "",
    " ",
    "²",
    "١٢",
    "５",
    "-1",
    "0",
    "1",
    "99999999999999999999",
    "9999-12-31",
    "0000-00-00",
    "2026-02-30",
    "2026-01-01",
    "1e9",
    "NaN",
    "true",
    "null",
    "[]",
    "{}",
    "\x00",
    "a\r\nb",
    "\t",
    "../../etc/passwd",
    "%00",
    "<script>",
    "=HYPERLINK(1)",
    "서울 노원구",
    "서울 양천구",
    "들국화",
    "\u202e",
    "\ufeff",
    "x" * 5000,
    "households",
    "people",
    "csv",
    "jsonl",
    "never,overdue",
    "1,2",
]

texts = st.one_of(
    st.sampled_from(ODD_TEXT + KNOWN_IDS), st.text(max_size=30), st.text(alphabet=string.digits + "-:T.Z", max_size=12)
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts, st.sampled_from(["\ud800", "a\udfffb"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)
REPORT_FIELDS = ["household_id", "visited_on", "outcome", "materials", "notes", "follow_up_on"]
json_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={k: json_values for k in REPORT_FIELDS}),
    st.fixed_dictionaries(
        {
            "household_id": st.sampled_from(KNOWN_IDS),
            "visited_on": st.one_of(st.just("2026-01-02"), texts),
            "outcome": st.sampled_from(["met", "not_home", "moved", "x"]),
        },
        optional={k: json_values for k in REPORT_FIELDS[3:]},
    ),
)


@pytest.fixture()
def callers(app):
    """Who may call: anonymous, page sessions of every role, API tokens of every role."""
    out = {"anonymous": ("session", app.test_client())}
    for name in ("minji", "coord", "admin"):
        client = app.test_client()
        assert sign_in(client, name).status_code == 302
        out[f"{name} (session)"] = ("session", client)
        out[f"{name} (token)"] = ("token", api(app, name))
    return out


def _path(rule, values: list[str]) -> str:
    path = rule.rule
    for i, name in enumerate(rule.arguments):
        value = values[i % len(values)] if values else "x"
        path = path.replace(f"<{name}>", quote(value, safe="")).replace(f"<path:{name}>", quote(value, safe=""))
        for converter in ("string", "int"):
            path = path.replace(f"<{converter}:{name}>", quote(value, safe=""))
    return path


SKIP = {"static", "auth.logout"}  # signing out would end the session the other examples use
# Who may use a route (so that the sweep reaches the code behind the access checks).
OWNER = {
    "admin": "admin",
    "api.audit": "admin",
    "api.network": "coord",
    "api.chains": "coord",
    "api.unvisited": "coord",
    "api.person_chain": "coord",
    "coordinator": "coord",
    "desk": "coord",  # the household desk (web/desk.py, web/desk_api.py)
    "visitor": "minji",
    "duress.duress_page": "minji",  # the emergency password (web/duress.py)
    "api.suggestions": "minji",
    "api.claim": "minji",
    "api.release": "minji",
    "api.visit_report": "minji",
}
SWEEP_VALUES = [
    "²",
    "-1",
    "99999999999999999999",
    "9999-12-31",
    "2026-02-30",
    "\x00",
    "a\r\nb",
    "x" * 3000,
    "서울 양천구",
    "h-003",
    "never,x",
    "people",
]


def _owner(endpoint: str) -> str:
    for prefix in sorted(OWNER, key=len, reverse=True):
        if endpoint == prefix or endpoint.startswith(prefix + ".") or endpoint.startswith(prefix + "_"):
            return OWNER[prefix]
    return "admin"


def test_every_argument_of_every_route_with_odd_values(app, callers):
    """A sweep: each argument each GET route takes, with each odd value, by a caller the
    route is for (the random test below mixes them; this one misses none)."""
    seen = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        owner = _owner(rule.endpoint)
        kind, client = callers[f"{owner} (token)" if rule.rule.startswith("/api/") else f"{owner} (session)"]
        path = _path(rule, ["h-001"])
        for name in sorted(taken_by(app.view_functions[rule.endpoint])):
            for value in SWEEP_VALUES:
                url = f"{path}?{urlencode({name: value})}"
                response = client(url) if kind == "token" else client.get(url)
                assert response.status_code < 500, (owner, url[:200], response.get_data(as_text=True)[:300])
                seen += 1
    assert seen > 500


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_no_route_answers_5xx(app, callers, data):
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint not in SKIP), key=lambda r: r.rule)
    rule = data.draw(st.sampled_from(rules), label="route")
    # PATCH and PUT: the household desk's API (web/desk_api.py), JSON bodies as for a POST
    method = data.draw(
        st.sampled_from(sorted(m for m in rule.methods if m in ("GET", "POST", "PATCH", "PUT"))), label="method"
    )
    who = data.draw(st.sampled_from(sorted(callers)), label="caller")
    kind, client = callers[who]
    path = _path(rule, data.draw(st.lists(texts, min_size=1, max_size=2), label="path values"))
    declared = sorted(taken_by(app.view_functions[rule.endpoint]))
    names = data.draw(
        st.lists(st.one_of(st.sampled_from(declared), st.sampled_from(declared), texts), max_size=4, unique=True),
        label="args",
    )
    query = {n: data.draw(texts, label=f"arg {n}") for n in names}
    url = path + ("?" + urlencode(query) if query else "")
    if method == "GET":
        response = client(url) if kind == "token" else client.get(url)
    elif rule.rule.startswith("/api/"):
        body = data.draw(json_bodies, label="json")
        raw = json.dumps(body, ensure_ascii=True)
        headers = {"Content-Type": "application/json"}
        response = (
            client(url, method=method, data=raw, headers=headers)
            if kind == "token"
            else client.open(url, method=method, data=raw, headers=headers)
        )
    else:
        fields = data.draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "username",
                        "password",
                        "code",
                        "next",
                        "household_id",
                        "visited_on",
                        "outcome",
                        "notes",
                        "materials_bible",
                        "materials_other",
                        "follow_up_on",
                        "role",
                        "districts",
                        "csrf_token",
                    ]
                ),
                texts,
                max_size=6,
            ),
            label="form",
        )
        if kind == "session" and data.draw(st.booleans(), label="with csrf"):
            fields["csrf_token"] = csrf(client, "/login")
        response = client(url, method="POST", data=fields) if kind == "token" else client.post(url, data=fields)
    assert response.status_code < 500, (who, method, url, response.get_data(as_text=True)[:300])


NASTY_BODIES = [
    "[" * 5000 + "]" * 5000,
    "{" * 3000,
    "{",
    "\xff\xfe",
    "null",
    "[]",
    "1e999",
    '"x"',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "\\ud800"}',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "a\\u0000b"}',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "materials": {"\\udfff": 1}}',
    '{"household_id": "\\ud800", "visited_on": "2026-01-02", "outcome": "met"}',
    '{"household_id": "h-001", "visited_on": "9999-12-31", "outcome": "met"}',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "follow_up_on": "9999-12-31"}',
    '{"household_id": "h-001", "visited_on": "２０２６-01-02", "outcome": "met"}',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "materials": {"bible": 1e300}}',
    '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "materials": "bible:99999999999"}',
]


def test_nasty_json_bodies(app, callers):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and "POST" in r.methods]
    _kind, call = callers["minji (token)"]
    for rule in rules:
        for raw in NASTY_BODIES:
            response = call(
                _path(rule, ["h-001"]),
                method="POST",
                data=raw.encode("utf-8", "surrogatepass"),
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code < 500, (rule.rule, raw[:100], response.get_data(as_text=True)[:300])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_json_bodies_of_every_api_write(app, callers, data):
    rules = sorted(
        (r for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and "POST" in r.methods),
        key=lambda r: r.rule,
    )
    rule = data.draw(st.sampled_from(rules), label="route")
    _kind, call = callers[
        data.draw(st.sampled_from(["minji (token)", "minji (token)", "coord (token)"]), label="caller")
    ]
    body = data.draw(json_bodies, label="json")
    raw = json.dumps(body, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    response = call(
        _path(rule, ["h-001"]),
        method="POST",
        data=raw.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, (rule.rule, raw[:200], response.get_data(as_text=True)[:300])
