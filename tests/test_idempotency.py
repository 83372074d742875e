"""Writes that may be retried (issue 14 §1): the Idempotency-Key of the API and of the
pages' forms; a commit whose fate is unknown is said so; a refused claim writes one event.

Real Neo4j, real requests (Flask's client, threads): the number of visits tells whether a
retry wrote again."""

from __future__ import annotations

import concurrent.futures
import re
import threading
from dataclasses import replace

import neo4j
import neo4j.exceptions
import pytest

from graphsvc import accounts, audit, idempotency
from graphsvc import db as db_module
from web import create_app

from .helpers import ACTOR, PASSWORD, import_folder, snapshot


@pytest.fixture()
def world(db, small):
    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "mina", "visitor", ["서울 노원구"], PASSWORD, "f")
    accounts.add_user(db, ACTOR, "jiho", "visitor", ["서울 노원구"], PASSWORD, "m")
    return db


@pytest.fixture()
def app(settings, world):
    return create_app(settings, TESTING=True)


def token(db, username: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + accounts.create_token(db, ACTOR, username, 1)}


def visits(db) -> int:
    return db.read("test_count_visits")[0]["n"]


def keys(db) -> list[dict]:
    return db.read("test_idempotency_keys")


def suggested(app, headers) -> list[str]:
    found = app.test_client().get("/api/v1/suggestions?limit=20", headers=headers).json["suggestions"]
    return [s["household_id"] for s in found]


def report(household: str, notes: str = "문이 잠겨 있었음") -> dict:
    return {"household_id": household, "visited_on": "2026-11-01", "outcome": "not_home", "notes": notes}


def test_same_key_replays_the_first_answer_and_writes_nothing(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    first = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert first.status_code == 201 and visits(world) == base + 1
    again = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert again.status_code == 201 and again.json == first.json and visits(world) == base + 1
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    # the draft's sf-string form of the header is the same key
    quoted = {**mina, "Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
    assert client.post("/api/v1/visits", headers=quoted, json=report(household)).json == first.json
    assert visits(world) == base + 1
    replays = audit.query(world, action="idempotent.replay")
    assert len(replays) == 2 and all(e["outcome"] == "ok" and e["actor"] == "mina" for e in replays)
    assert first.json["id"] in replays[0]["targets"]
    # the stored answer is encrypted (it may show identity fields)
    (stored,) = keys(world)
    assert stored["status"] == 201 and first.json["id"] not in stored["body"]


def test_same_key_with_another_body_is_422_and_writes_nothing(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/visits", headers=headers, json=report(household)).status_code == 201
    before = snapshot(world)
    other = client.post("/api/v1/visits?lang=en", headers=headers, json=report(household, "다른 메모"))
    assert other.status_code == 422
    assert other.json["code"] == "idempotency_key_reused" and other.json["field"] == "Idempotency-Key"
    assert "already used" in other.json["error"]
    # the same body at another path is another request too
    assert client.post(f"/api/v1/households/{household}/claim", headers=headers).status_code == 422
    assert snapshot(world) == before and visits(world) == base + 1


def test_keys_are_per_user(app, world):
    base = visits(world)
    mina, jiho = token(world, "mina"), token(world, "jiho")
    both = [h for h in suggested(app, mina) if h in set(suggested(app, jiho))]
    client = app.test_client()
    body = report(both[0])
    first = client.post("/api/v1/visits", headers={**mina, "Idempotency-Key": "same"}, json=body)
    second = client.post("/api/v1/visits", headers={**jiho, "Idempotency-Key": "same"}, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json["id"] != second.json["id"] and "Idempotent-Replayed" not in second.headers
    assert visits(world) == base + 2 and sorted(k["owner"] for k in keys(world)) == ["jiho", "mina"]


def test_an_expired_key_is_forgotten(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "old"}
    first = client.post("/api/v1/visits", headers=headers, json=report(household))
    world.write("test_idempotency_age", owner="mina", key="old", seconds=24 * 3600 + 1)
    again = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert again.status_code == 201 and again.json["id"] != first.json["id"] and visits(world) == base + 2
    assert len(keys(world)) == 1  # the expired one made way for the new one
    # and expired keys are purged after each stored answer
    world.write("test_idempotency_age", owner="mina", key="old", seconds=24 * 3600 + 1)
    client.post("/api/v1/visits", headers={**mina, "Idempotency-Key": "new"}, json=report(household, "셋째"))
    assert [k["key"] for k in keys(world)] == ["new"]


@pytest.mark.parametrize("bad", ["", "a" * 256, "caf\xe9", "tab\there"])
def test_a_malformed_key_is_400_naming_the_header(app, world, bad):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    answer = app.test_client().post("/api/v1/visits", headers={**mina, "Idempotency-Key": bad}, json=report(household))
    assert answer.status_code == 400 and answer.json["field"] == "Idempotency-Key"
    assert visits(world) == base + 0


def test_a_refusal_leaves_no_key_so_the_retry_runs(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "fix-and-retry"}
    bad = client.post("/api/v1/visits", headers=headers, json={**report(household), "visited_on": "2999-01-01"})
    assert bad.status_code == 400 and keys(world) == []
    assert client.post("/api/v1/visits", headers=headers, json=report(household)).status_code == 201
    assert visits(world) == base + 1


def test_concurrent_requests_with_one_key_write_once(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    headers = {**mina, "Idempotency-Key": "tap-tap-tap"}
    barrier = threading.Barrier(8)

    def send(_):
        barrier.wait()
        return app.test_client().post("/api/v1/visits", headers=headers, json=report(household))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert visits(world) == base + 1
    # 503: a starved machine may stall the server past the driver's read timeout while one
    # waits for the key's lock; it wrote nothing and says when to try again
    assert {a.status_code for a in answers} <= {201, 409, 503}
    ids = {a.json["id"] for a in answers if a.status_code == 201}
    assert len(ids) == 1
    for a in answers:
        if a.status_code in (409, 503):
            assert a.headers["Retry-After"]
        if a.status_code == 409:
            assert a.json["code"] == "in_flight"


def test_a_taken_key_is_not_hidden_by_the_rollbacks_error():
    """The driver's rollback may raise ResultFailedError while a transaction function's own
    error (``Taken``, made from the ConstraintError) is on its way out: that own error is
    what the caller must see, not the ConstraintError behind the wrapper."""
    constraint = neo4j.exceptions.ConstraintError("IdempotencyKey already exists")
    with pytest.raises(idempotency.Taken):
        with db_module._server_error():
            try:
                raise idempotency.Taken("tap") from constraint
            except idempotency.Taken:
                raise neo4j.exceptions.ResultFailedError(None, "failed") from constraint


def test_a_lost_answer_is_already_done_and_writes_nothing(app, world):
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "lost"}
    assert client.post("/api/v1/visits", headers=headers, json=report(household)).status_code == 201
    world.write("test_idempotency_drop_answer", owner="mina", key="lost")
    # moments after its commit: the first may still be finishing
    soon = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert soon.status_code == 409 and soon.headers["Retry-After"] == "1"
    world.write("test_idempotency_age", owner="mina", key="lost", seconds=60)
    late = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert late.status_code == 200 and late.json["status"] == "already_done" and visits(world) == base + 1


def test_incomplete_commit_says_it_may_have_been_saved(app, world, monkeypatch):
    """The commit happens, then the connection breaks before its answer (the driver's
    IncompleteCommit): the 500 must not say that nothing changed, and a retry with the same
    key is told it was done, without writing again."""
    base = visits(world)
    mina = token(world, "mina")
    household = suggested(app, mina)[0]
    real = neo4j.Session.execute_write
    broken = {"on": True}

    broke: set[str] = set()

    def commit_then_break(self, work, *args, **kwargs):
        result = real(self, work, *args, **kwargs)
        pending = idempotency.CURRENT.get()
        # the request's own write (the one that created its key), once
        if broken["on"] and pending is not None and pending.id and pending.id not in broke:
            broke.add(pending.id)
            raise neo4j.exceptions.IncompleteCommit("the connection broke during the commit")
        return result

    monkeypatch.setattr(neo4j.Session, "execute_write", commit_then_break)
    client = app.test_client()
    headers = {**mina, "Idempotency-Key": "unknown-fate"}
    answer = client.post("/api/v1/visits?lang=en", headers=headers, json=report(household))
    assert answer.status_code == 500 and answer.json["code"] == "commit_unknown"
    assert "may or may not have been saved" in answer.json["error"] and "Idempotency-Key" in answer.json["error"]
    assert "Nothing was shown or changed" not in answer.json["error"]
    ko = client.post("/api/v1/visits?lang=ko", headers={**mina, "Idempotency-Key": "k2"}, json=report(household, "둘"))
    assert ko.status_code == 500 and "저장되었을 수도" in ko.json["error"]
    broken["on"] = False
    retry = client.post("/api/v1/visits", headers=headers, json=report(household))
    assert retry.status_code == 200 and retry.json["status"] == "already_done"
    assert visits(world) == base + 2  # the two that committed; the retry wrote nothing


def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    assert answer.status_code == 302
    return client


def test_the_report_form_carries_a_key_and_a_resent_form_is_stored_once(app, world):
    base = visits(world)
    client = signed_in(app, "mina")
    household = suggested(app, token(world, "mina"))[0]
    page = client.get(f"/visits/new?household_id={household}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    assert key != re.search(r'name="idempotency_key" value="([^"]+)"', client.get("/visits/new").get_data(True)).group(
        1
    )
    form = {"csrf_token": csrf, "idempotency_key": key, "household_id": household, "visited_on": "2026-11-01"}
    first = client.post("/visits/new", data={**form, "outcome": "met"})
    assert first.status_code == 302 and "reported=" in first.headers["Location"]
    again = client.post("/visits/new", data={**form, "outcome": "met", "csrf_token": csrf})
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert visits(world) == base + 1
    other = client.post("/visits/new?lang=ko", data={**form, "outcome": "not_home"})
    assert other.status_code == 422 and "이미 다른 내용으로" in other.get_data(as_text=True)
    assert visits(world) == base + 1


def test_a_refused_claim_writes_one_event_and_nothing_else_in_a_100_way_race(settings, world):
    """100 visitors claim one household at once over HTTP: one wins; the 99 refusals are
    99 denied events (the guard's, through the journal) and write nothing else (no counter,
    no event in the transaction)."""
    n = 100
    app = create_app(replace(settings, failures_per_minute=0, fold_seconds=0), TESTING=True)
    target = "h-001"
    headers = []
    for i in range(n):
        name = f"r{i:03d}"
        accounts.add_user(world, ACTOR, name, "visitor", ["서울 노원구"], PASSWORD, "f")
        audit.append_now(world, actor=name, role="visitor", action="suggestions.read", targets=[target])
        headers.append(token(world, name))
    audit.flush(world)
    before = snapshot(world)
    seq_before = world.read("test_claim_seq", household_id=target)[0]["seq"]
    barrier = threading.Barrier(n)

    def claim(h):
        barrier.wait()
        return app.test_client().post(f"/api/v1/households/{target}/claim", headers=h)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(claim, headers))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * (n - 1), codes
    audit.flush(world)
    denied = audit.query(world, action="household.claim", outcome="denied", limit=1000)
    won = audit.query(world, action="household.claim", outcome="ok")
    assert len(denied) == n - 1 and len(won) == 1
    assert {e["actor"] for e in denied} | {won[0]["actor"]} == {f"r{i:03d}" for i in range(n)}
    # nothing else: the winner's claim and one more claim_seq, no other change
    assert world.read("test_claim_seq", household_id=target)[0]["seq"] == seq_before + 1
    after = snapshot(world)
    changed = [n for n in after["nodes"] if n not in before["nodes"]]
    gone = [n for n in before["nodes"] if n not in after["nodes"]]
    # the winner's claim, its household's claim_seq and its user's claim count; nothing else
    assert sorted(n[0][0] for n in changed) == ["Claim", "Household", "User"]
    assert sorted(n[0][0] for n in gone) == ["Household", "User"]


def test_a_confirmed_import_is_keyed_after_it_succeeded(settings, db, small):
    """An import is many transactions and completes when run again: its key is made once it
    succeeded (a retry after a crash runs it again); a retry after success replays."""
    import io

    from .helpers import csrf, import_small, keyring, sign_in

    import_small(db, small, keyring())
    app = create_app(settings, TESTING=True)
    client = app.test_client()
    assert sign_in(client, "admin").status_code == 302
    files = {
        "households.csv": "id,code,district,arrived_on,status\nh-300,H-300,경기 안산시,,active\n".encode(),
        "people.csv": "id,code_name,household_id,legal_name,phone,address\np-300,목련,h-300,,,\n".encode(),
        "introductions.csv": b"introducer_id,introduced_id,introduced_on,relation\n",
        "visits.csv": b"id,household_id,visitor,visited_on,outcome\n",
    }
    form = {"csrf_token": csrf(client, "/import"), "files": [(io.BytesIO(d), n) for n, d in files.items()]}
    checked = client.post("/import?lang=en", data=form, content_type="multipart/form-data")
    assert checked.status_code == 200
    upload = re.search(r'name="token" value="([^"]+)"', checked.get_data(as_text=True)).group(1)
    sent = {"csrf_token": csrf(client, "/import"), "token": upload, "idempotency_key": "import-1"}
    done = client.post("/import/confirm?lang=en", data=sent)
    assert done.status_code == 200 and "Imported." in done.get_data(as_text=True)
    assert [k["key"] for k in keys(db) if k["owner"] == "admin"] == ["import-1"]
    again = client.post("/import/confirm?lang=en", data={**sent, "csrf_token": csrf(client, "/import")})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert "Imported." in again.get_data(as_text=True)


def test_a_reset_link_is_shown_once_and_never_stored(settings, db, small):
    """A secret shown once (a reset link) is not kept for a replay: the retry is told that
    it was done, without the link, and no second link is made."""
    from .helpers import csrf, import_small, keyring, sign_in

    import_small(db, small, keyring())
    client = create_app(settings, TESTING=True).test_client()
    assert sign_in(client, "admin").status_code == 302
    sent = {"csrf_token": csrf(client, "/team/minji"), "confirm": "yes", "idempotency_key": "reset-1"}
    first = client.post("/team/minji/reset-link?lang=en", data=sent)
    assert first.status_code == 200 and "/reset/" in first.get_data(as_text=True)
    again = client.post("/team/minji/reset-link?lang=en", data=sent)
    assert again.status_code == 200 and "/reset/" not in again.get_data(as_text=True)
    assert "already saved" in again.get_data(as_text=True)
    (stored,) = [k for k in keys(db) if k["key"] == "reset-1"]
    assert stored["body"] is None and stored["lost"] is True
    made = [e for e in audit.query(db) if "reset" in e["action"] and e["outcome"] == "ok"]
    assert len(made) == 1, [e["action"] for e in made]


def test_commit_unknown_ends_on_a_looping_chain_of_causes():
    """graphsvc/db.py re-raises a driver wrapper's cause "from" the wrapper: the chain of
    causes loops, and the 500 handler looked for IncompleteCommit along it for ever (a CI
    run hung on 8 requests with one key)."""
    from web.guard import commit_unknown

    wrapper, cause = RuntimeError("result failed"), ValueError("constraint")
    wrapper.__cause__, cause.__cause__ = cause, wrapper
    assert commit_unknown(wrapper) is False
