"""What many tests need: signing in through the pages, API clients with tokens, reading the
audit log, the small network with accounts. Fixtures built on these live in conftest.py;
test modules import helpers from here, never from one another."""

from __future__ import annotations

import re
from typing import Any, Callable

import pyotp

from graphsvc import accounts, audit, importer
from graphsvc.model import Actor

PASSWORD = "correct horse battery"
TOTP_SECRET = pyotp.random_base32()
ACTOR = Actor("tester", "admin", "127.0.0.1", "pytest")


def import_small(db, folder, keyring) -> None:
    """The small network (tests/fixtures/small) with an account per role: admin, coord
    (노원구), yeon (양천구), minji (a visitor of 노원구); admins and coordinators have TOTP."""
    assert importer.import_folder(db, folder, keyring, ACTOR).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD)
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], PASSWORD)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD)
    accounts.add_user(db, ACTOR, "yeon", "coordinator", ["서울 양천구"], PASSWORD)
    for name in ("admin", "coord", "yeon"):
        accounts.set_totp(db, ACTOR, name, keyring.encrypt(TOTP_SECRET, "User", name, "totp_secret"), True)


def csrf(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def sign_in(client, username: str, password: str = PASSWORD, totp: bool = True):
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(client)})
    if response.status_code == 302 and "/login/totp" in response.headers["Location"] and totp:
        token = csrf(client, "/login/totp")
        response = client.post("/login/totp", data={"code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": token})
    return response


def app_db(app):
    from web.neo import get_db

    with app.app_context():
        return get_db()


def api(app, username: str, days: int = 1) -> Callable[..., Any]:
    """A client of the JSON API with a fresh token of ``username``:
    ``call(path)`` GETs, ``call(path, method="POST", json=…)`` sends."""
    token = accounts.create_token(app_db(app), ACTOR, username, days)
    client = app.test_client()

    def call(path: str, method: str = "GET", **kw):
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return client.open(path, method=method, headers=headers, **kw)

    return call


def events(db, **filters) -> list[dict]:
    return audit.query(db, **filters)
