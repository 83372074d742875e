"""Bounded waits (issue 14 §2, graphsvc/waits.py): a request's deadline, the breaker while
Neo4j is away, and /healthz and /readyz that answer whatever the workers are doing.

The whole outage, under load, is tests/test_outage.py; here each rule on its own."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest

from graphsvc import waits
from graphsvc.db import Database, timed_out

from .helpers import free_port, serving, spare_env


def test_breaker_lets_one_probe_through_at_a_time():
    breaker = waits.Breaker(probe_every=0.2)
    assert breaker.admit() is False  # closed: everyone passes, no probe
    breaker.trip()
    with pytest.raises(waits.Unavailable):
        breaker.admit()  # just tripped: fail at once
    time.sleep(0.25)
    assert breaker.admit() is True  # the probe
    time.sleep(0.25)
    with pytest.raises(waits.Unavailable):
        breaker.admit()  # the probe is still out: nobody else, however long it takes
    breaker.probed()
    assert breaker.admit() is True
    breaker.close()
    breaker.probed()
    assert breaker.admit() is False and not breaker.is_open


def test_one_probe_among_the_processes_of_a_server(tmp_path):
    """Two breakers on one lock file (two gunicorn workers): while one probes, the other fails at once."""
    first, second = (waits.Breaker(probe_every=0, lock_path=tmp_path / "probe.lock") for _ in range(2))
    first.trip()
    second.trip()
    assert first.admit() is True
    with pytest.raises(waits.Unavailable):
        second.admit()
    first.probed()
    assert second.admit() is True


@pytest.fixture()
def dead(settings, tmp_path):
    """Settings pointing at a port where nothing listens (Neo4j gone), state in tmp_path."""
    return replace(
        settings,
        neo4j_uri=f"bolt://127.0.0.1:{free_port()}",
        neo4j_password="whatever",
        state_dir_override=tmp_path,
        request_deadline=2.0,
    )


def test_a_bounded_database_fails_within_the_deadline_then_at_once(dead):
    db = Database.connect(dead, bounded=True)
    try:
        token = waits.begin(2.0, 2.0)
        try:
            started = time.monotonic()
            with pytest.raises(waits.Unavailable):
                db.read("server_components")
            first = time.monotonic() - started
            started = time.monotonic()
            with pytest.raises(waits.Unavailable):
                db.write_tx(lambda tx: None)
            second = time.monotonic() - started
        finally:
            waits.end(token)
    finally:
        db.close()
    assert first < 2.5, first  # retried within the deadline, not the driver's 30 s
    assert second < 0.1, second  # the breaker is open: no wait at all
    assert db.breaker is not None and db.breaker.is_open


def test_the_app_answers_503_with_retry_after_while_neo4j_is_away(dead):
    from web import create_app

    client = create_app(dead, TESTING=True).test_client()
    started = time.monotonic()
    answer = client.get("/api/v1/network", headers={"Authorization": "Bearer gs_nothing"})
    assert time.monotonic() - started < 3
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.is_json and answer.json["code"] == "unavailable"
    assert answer.headers["Retry-After"] == str(waits.RETRY_AFTER)
    page = client.get("/login?lang=en")
    assert page.status_code == 503 and "not answering" in page.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200
    started = time.monotonic()
    assert client.get("/readyz").status_code == 503
    assert time.monotonic() - started < 1.0


def test_the_deadline_cuts_a_transaction_short(session_db):
    db = Database(
        session_db.driver,
        session_db.database,
        session_db.queries,
        session_db.uri,
        None,
        {**session_db.timeouts, "heavy": 60.0},
        waits.Breaker(),
    )
    token = waits.begin(1.0, 1.0)
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as failed:
            db.read("test_slow", n=20000)
    finally:
        waits.end(token)
    took = time.monotonic() - started
    assert timed_out(failed.value), failed.value
    assert took < 1.6, took  # Neo4j ends it (its monitor looks every 100 ms), not the class's 60 s
    assert not db.breaker.is_open  # a slow statement is not an absent server


@pytest.mark.slow
def test_health_answers_while_every_thread_waits_for_a_hung_neo4j(spare_settings, tmp_path):
    """Neo4j stopped (SIGSTOP: it holds its connections and answers nothing), the only
    worker thread stuck in a request: /healthz still answers at once, /readyz 503 within 1 s,
    and the stuck request ends with 503 within its deadline."""
    from graphsvc import neo4j_local

    env = {**spare_env(), "GRAPHSVC_REQUEST_DEADLINE": "5"}  # more than the 4 s of silence below
    with serving(env, tmp_path / "gunicorn.log", "--workers", "1", "--threads", "1") as url:
        pid = neo4j_local.running_pid(spare_settings.local)
        os.kill(pid, signal.SIGSTOP)
        try:
            # a token is looked up in Neo4j: the request waits for it
            answers: list[tuple[int, float]] = []

            def wait_for_neo4j() -> None:
                started = time.monotonic()
                answers.append((_get(url + "/api/v1/network", "gs_hung"), time.monotonic() - started))

            stuck = threading.Thread(target=wait_for_neo4j, daemon=True)
            stuck.start()
            time.sleep(0.5)  # the one thread is now waiting for Neo4j
            started = time.monotonic()
            assert _get(url + "/healthz") == 200
            health = time.monotonic() - started
            started = time.monotonic()
            assert _get(url + "/readyz") == 503
            ready = time.monotonic() - started
            stuck.join(timeout=30)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert health < 1.0, health
        assert ready < 1.0, ready
        # the hung server is taken as gone after 4 s of silence (neo4j_local: keep-alive 2 s),
        # and the request fails within its deadline rather than waiting for ever
        assert answers and answers[0][0] == 503 and answers[0][1] < 5 + 0.5, answers
        assert _get(url + "/readyz") == 200


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
