"""The project's own Neo4j: loopback only, auth on, HTTP off, secret password, idempotent start."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from graphsvc import neo4j_local

pytestmark = pytest.mark.usefixtures("settings")


def _local(settings):
    if not settings.uses_local:
        pytest.skip("the tests use an external server (GRAPHSVC_TEST_NEO4J_URI)")
    return settings.local


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_password_file_is_private_and_random(settings):
    local = _local(settings)
    path = neo4j_local.password_file(local)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 24 and password != "neo4j"
    assert stat.S_IMODE(local.base.stat().st_mode) == 0o700


def test_auth_is_on(settings):
    local = _local(settings)
    with GraphDatabase.driver(local.uri, auth=("neo4j", "wrong-password-123")) as driver:
        with pytest.raises(AuthError):
            driver.verify_connectivity()


def test_bolt_on_loopback_only_and_no_http(settings):
    local = _local(settings)
    assert _listening("127.0.0.1", local.bolt_port)
    assert not _listening("127.0.0.1", 7474), "the HTTP connector must be off"
    conf = (local.home / "conf" / "neo4j.conf").read_text()
    assert "server.http.enabled=false" in conf and "dbms.security.auth_enabled=true" in conf
    other = _non_loopback_address()
    if other:
        assert not _listening(other, local.bolt_port), f"Bolt must not answer on {other}"


def test_start_is_idempotent(settings):
    local = _local(settings)
    pid = neo4j_local.running_pid(local)
    assert pid is not None
    started = time.monotonic()
    assert neo4j_local.start(local, say=lambda _m: None) == pid
    assert time.monotonic() - started < 10


def test_cli_status_and_env(cli_env, settings):
    local = _local(settings)
    graphsvc = Path(sys.executable).with_name("graphsvc")
    status = subprocess.run([str(graphsvc), "neo4j", "status"], capture_output=True, text=True, env=cli_env)
    assert status.returncode == 0, status.stderr
    assert f"runs (pid {neo4j_local.running_pid(local)}) at {local.uri}" in status.stdout
    assert "Neo4j Kernel 5.26." in status.stdout and "community" in status.stdout

    # `eval "$(graphsvc neo4j env)"` gives a shell what a script needs to connect
    script = (
        f'set -a; eval "$({graphsvc} neo4j env)"; set +a; '
        f'{sys.executable} -c "import os, neo4j; '
        "d = neo4j.GraphDatabase.driver(os.environ['NEO4J_URI'], "
        "auth=(os.environ['NEO4J_USER'], os.environ['NEO4J_PASSWORD'])); "
        "d.verify_connectivity(); print('connected', os.environ['NEO4J_URI'])\""
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"connected {local.uri}"


def test_external_uri_leaves_the_local_instance_alone(cli_env, settings):
    local = _local(settings)
    graphsvc = Path(sys.executable).with_name("graphsvc")
    env = dict(
        cli_env,
        NEO4J_URI=local.uri,
        NEO4J_USER="neo4j",
        NEO4J_PASSWORD=neo4j_local.read_password(local),
        GRAPHSVC_NEO4J_INSTANCE="nonexistent",
    )
    printed = subprocess.run([str(graphsvc), "neo4j", "env"], capture_output=True, text=True, env=env)
    assert printed.stdout.splitlines()[0] == f"NEO4J_URI={local.uri}"
    stop = subprocess.run([str(graphsvc), "neo4j", "stop"], capture_output=True, text=True, env=env)
    assert stop.returncode == 0 and "left alone" in stop.stderr
    assert neo4j_local.running_pid(local) is not None
    status = subprocess.run([str(graphsvc), "neo4j", "status"], capture_output=True, text=True, env=env)
    assert status.returncode == 0 and f"external server at {local.uri}" in status.stdout


def test_a_fresh_instance_lives_and_stops(settings, tmp_path):
    """install → start → query → stop, in a separate instance (shares only the jars)."""
    base = _local(settings)
    local = replace(base, name=f"lifecycle-{os.getpid()}", bolt_port=_free_port())
    messages: list[str] = []
    try:
        neo4j_local.install(local, say=messages.append)
        assert any("password in" in m for m in messages)
        pid = neo4j_local.start(local, say=messages.append)
        password = neo4j_local.read_password(local)
        with GraphDatabase.driver(local.uri, auth=("neo4j", password)) as driver:
            records, _, _ = driver.execute_query("RETURN 40 + 2 AS answer")
            assert records[0]["answer"] == 42
        assert (local.home / "logs" / "neo4j.log").exists()
    finally:
        assert neo4j_local.stop(local, say=messages.append)
        import shutil

        shutil.rmtree(local.home, ignore_errors=True)
    assert neo4j_local.running_pid(local) is None
    assert not Path(f"/proc/{pid}/cmdline").exists() or neo4j_local.ENTRY_CLASS not in Path(
        f"/proc/{pid}/cmdline"
    ).read_text(errors="replace")
    assert not _listening("127.0.0.1", local.bolt_port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
