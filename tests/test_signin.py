"""Sign-in under attack (issue 10, §2): the second factor's lockout and throttles, codes used
once, throttles that neither tell which usernames exist nor let a stranger lock a user out
of their own browser, the sessions' absolute lifetime, a reset of the codes ending sessions,
the language cookie over HTTPS, and a real reason for an admin's identity read."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

import pyotp
import pytest

from graphsvc import accounts, audit, importer
from graphsvc.access import Subject
from graphsvc.config import load_settings
from graphsvc.model import Actor
from web import create_app

from .conftest import ACTOR, FIXTURES, KEYRING, snapshot

PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()
WRONG = ("000001", "000002", "000003", "000004", "000005", "000006")
STRANGER = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture()
def world(db):
    """The small network; coord and admin have codes on, minji (a visitor) has none."""
    assert importer.import_folder(db, FIXTURES / "small", KEYRING, ACTOR).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD)
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], PASSWORD)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD)
    for name in ("admin", "coord"):
        accounts.set_totp(db, ACTOR, name, KEYRING.encrypt(SECRET, "User", name, "totp_secret"), True)
    return db


@pytest.fixture()
def app(settings, world):
    return create_app(settings, TESTING=True)


def csrf(client, path="/login", **kw) -> str:
    page = client.get(path, follow_redirects=True, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def password(client, username, pw=PASSWORD, **kw):
    return client.post("/login", data={"username": username, "password": pw, "csrf_token": csrf(client, **kw)}, **kw)


def code(client, value, path="/login/totp"):
    return client.post(path, data={"code": value, "csrf_token": csrf(client, path)})


def now_code(offset_steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(time.time(), counter_offset=offset_steps)


def signed_in(client) -> bool:
    return client.get("/api/v1/me").status_code == 200


def state(db, username="coord") -> dict:
    return db.read("test_sign_in_state", username=username)[0]


def neo4j_state(db) -> tuple:
    """Everything in Neo4j, the audit log's newest event included: for "this wrote nothing"."""
    return snapshot(db), audit.query(db, limit=1)[0]["seq"]


def test_the_language_cookie_is_secure_over_https(app):
    client = app.test_client()
    over_https = client.get("/login?lang=en", base_url="https://localhost")
    lang = next(c for c in over_https.headers.getlist("Set-Cookie") if c.startswith("lang="))
    assert "Secure" in lang and "HttpOnly" in lang
    plain = next(c for c in client.get("/login?lang=en").headers.getlist("Set-Cookie") if c.startswith("lang="))
    assert "Secure" not in plain


def test_an_admin_must_state_a_real_reason(app, world):
    token = accounts.create_token(world, ACTOR, "admin", 1)
    client = app.test_client()

    def get(query):
        return client.get(f"/api/v1/households/h-002?identity=1&{query}", headers={"Authorization": f"Bearer {token}"})

    for bad in ("reason=.", "reason=a", "reason=ㅇㅇ", "reason=%20%20", ""):
        refused = get(bad + "&lang=en")
        assert refused.status_code == 400 and refused.json["field"] == "reason", bad
        assert refused.json["error"].startswith("reason: ")
    assert "two words and six letters" in get("reason=.&lang=en").json["error"]
    assert "두 단어" in get("reason=.&lang=ko").json["error"]
    assert not audit.query(world, action="household.identity.read")
    shown = get("reason=방문 전 주소 확인")
    assert shown.status_code == 200 and shown.json["members"][0]["legal_name"] == "이순자"
    assert audit.query(world, action="household.identity.read")[0]["reason"] == "방문 전 주소 확인"
