"""The last fuzz 500s of issue 14 (§3), part three: every failure of a ``graphsvc`` command
is one clear line and a non-zero status, and leaves nothing half-written.

A table of every command with Neo4j stopped (nothing listening where NEO4J_URI points),
with a wrong data key, with a target it cannot write, and with bad arguments (click's
CliRunner); then ``graphsvc import`` in a subprocess on the spare instance, whose Neo4j is
killed (-9) half-way: one line, and the same import run again completes with every row once.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from graphsvc import audit, clifail
from graphsvc.cli import main
from graphsvc.db import Database

from .helpers import empty, import_small, keyring, kill_neo4j, snapshot, spare_env

WRONG_KEY = "kother:" + "B" * 43


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, prog_name="graphsvc", catch_exceptions=False)


def said(output: str) -> list[str]:
    """The lines a failure says: all but progress lines (indented, on stderr)."""
    return [line for line in output.splitlines() if line.strip() and not line.startswith("  ")]


def one_line(result, *words: str, status: int | None = None) -> str:
    lines = said(result.output)
    assert "Traceback" not in result.output, result.output
    assert len(lines) == 1, result.output
    assert result.exit_code != 0 if status is None else result.exit_code == status, (result.exit_code, result.output)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --- Neo4j stopped ---------------------------------------------------------------------------

# every command that talks to Neo4j; the ones that read a password get it on stdin
NEEDS_NEO4J = [
    ("schema", "apply"),
    ("chains", "refresh"),
    ("import", "{small}"),
    ("import", "{small}", "--dry-run"),
    ("export", "{out}"),
    ("demo", "--households", "5"),
    ("demo", "--households", "5", "--if-empty"),
    ("users", "add", "jiwoo", "--role", "visitor", "--password-stdin"),
    ("users", "set", "minji", "--role", "coordinator"),
    ("users", "list"),
    ("users", "disable", "minji"),
    ("users", "enable", "minji"),
    ("users", "reset-password", "minji", "--password-stdin"),
    ("users", "passwd", "minji", "--password-stdin"),
    ("users", "reset-link", "minji"),
    ("users", "token", "minji"),
    ("users", "revoke-tokens", "minji"),
    ("audit", "verify"),
    ("audit", "checkpoint", "--file", "{out}.jsonl"),
    ("keys", "reindex"),
    ("neo4j", "start"),
]


@pytest.mark.parametrize("argv", NEEDS_NEO4J, ids=lambda a: " ".join(a[:2]))
def test_every_command_with_neo4j_stopped_says_one_line(cli_env, monkeypatch, small, tmp_path, argv):
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("NEO4J_USER", "neo4j")
    monkeypatch.setenv("NEO4J_PASSWORD", "not-the-password")
    out = tmp_path / "out"
    args = [a.format(small=small, out=out) for a in argv]
    result = run(*args, stdin="a long enough password 1\n")
    one_line(result, "127.0.0.1")
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*")), list(tmp_path.iterdir())


def test_neo4j_status_of_a_server_that_does_not_answer_is_one_line(cli_env, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{_closed_port()}")
    one_line(run("neo4j", "status"), "does not answer", status=3)


# --- a wrong data key -------------------------------------------------------------------------


@pytest.fixture()
def loaded(db, small):
    import_small(db, small, keyring())
    return db


@pytest.mark.parametrize(
    "argv",
    [("export", "{out}"), ("export", "{out}", "--no-bom"), ("import", "{small}"), ("keys", "reindex")],
    ids=" ".join,
)
def test_a_wrong_data_key_is_one_line_and_changes_nothing(loaded, cli_env, monkeypatch, small, tmp_path, argv):
    before = snapshot(loaded)
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", WRONG_KEY)
    out = tmp_path / "out"
    result = run(*[a.format(small=small, out=out) for a in argv])
    one_line(result, "key")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["small"]
    assert snapshot(loaded) == before


def test_an_import_with_a_wrong_key_into_a_loaded_database_writes_nothing(loaded, cli_env, monkeypatch, tmp_path):
    """New rows only: still refused (the database's identity is under another key)."""
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "households.csv").write_text("id,code,district,arrived_on,status\nh-900,H-900,서울 노원구,,active\n")
    before = snapshot(loaded)
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", WRONG_KEY)
    one_line(run("import", str(folder)), "data key ktest", "Nothing was written")
    assert snapshot(loaded) == before


def test_a_malformed_key_is_one_line(cli_env, monkeypatch, small, tmp_path):
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", "garbage")
    for argv in (("export", str(tmp_path / "out")), ("import", str(small)), ("keys", "reindex")):
        one_line(run(*argv), "GRAPHSVC_DATA_KEY")
    assert not (tmp_path / "out").exists()


def test_an_export_that_fails_leaves_an_existing_folder_as_it_was(loaded, cli_env, monkeypatch, tmp_path):
    out = tmp_path / "out"
    assert run("export", str(out)).exit_code == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", WRONG_KEY)
    one_line(run("export", str(out)), "no file of the export was written")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "small"]
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", "ktest:" + "A" * 43)
    assert run("export", str(out), "--redact").exit_code == 0  # replaces the files in the folder
    assert (
        sorted(p.name for p in out.iterdir()) == sorted(first)
        and (out / "people.csv").read_bytes() != first["people.csv"]
    )


# --- a target it cannot write ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("export", "{file}/out"), ("Not a directory",)),
        (("export", "{file}"), ("not a folder",)),
        (("export", "{open}"), ("other users",)),
        (("demo", "--households", "5", "--out", "{file}/out"), ("Not a directory",)),
        (("audit", "checkpoint", "--file", "{file}/cp.jsonl"), ("cannot be written",)),
        (("audit", "verify", "--checkpoints", "{tmp}/missing.jsonl"), ("missing.jsonl",)),
        (("import", "{tmp}/missing"), ("nothing was written",)),
    ],
    ids=[
        "export below a file",
        "export to a file",
        "export to a shared folder",
        "demo --out",
        "checkpoint",
        "verify",
        "import",
    ],
)
def test_a_target_it_cannot_write_is_one_line_and_leaves_nothing(loaded, cli_env, tmp_path, argv, words):
    file = tmp_path / "a-file"
    file.write_text("keep\n")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [a.format(file=file, open=shared, tmp=tmp_path) for a in argv]
    result = run(*args)
    lines = said(result.output)
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert any(all(w in line for w in words) for line in lines[-1:]), result.output
    if argv[0] != "import":  # the import lists its problems (file:line), then one line
        assert len(lines) == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert file.read_text() == "keep\n" and not any(shared.iterdir())


# --- bad arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("import",),
        ("export",),
        ("frob",),
        ("users", "frob"),
        ("users", "add", "x", "--role", "king"),
        ("users", "token"),
        ("demo", "--households", "0"),
        ("demo", "--as-of", "yesterday"),
        ("serve", "--port", "abc"),
        ("serve", "--workers", "0"),
        ("neo4j", "--instance"),
        ("audit", "verify", "--checkpoints"),
        ("keys", "rotate", "extra"),
        ("users", "reset-link", "minji", "--hours", "-1"),
        ("export", "--bogus", "x"),
    ],
    ids=" ".join,
)
def test_bad_arguments_are_one_line_with_status_2(argv):
    one_line(run(*argv), "graphsvc", "--help", status=2)


def test_the_traceback_goes_to_an_owner_only_log_or_stderr_with_debug(loaded, cli_env, monkeypatch, settings, tmp_path):
    log = settings.state_dir / clifail.LOG_FOLDER / clifail.LOG_NAME
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", WRONG_KEY)
    line = one_line(run("export", str(tmp_path / "out")))
    assert str(log) in line
    assert oct(log.stat().st_mode & 0o777) == "0o600" and oct(log.parent.stat().st_mode & 0o777) == "0o700"
    assert "DecryptionError" in log.read_text().split("--- ")[-1]
    monkeypatch.setenv(clifail.ENV_DEBUG, "1")
    debug = run("export", str(tmp_path / "out"))
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and "DecryptionError" in debug.stderr


# --- Neo4j killed during an import (the spare instance) -------------------------------------


def _rows(folder: Path, name: str) -> int:
    with (folder / f"{name}.csv").open(encoding="utf-8-sig") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def test_an_import_whose_neo4j_is_killed_says_one_line_and_completes_when_run_again(spare_settings, tmp_path):
    from graphsvc import neo4j_local

    graphsvc = str(Path(sys.executable).with_name("graphsvc"))
    env = {**spare_env(), "GRAPHSVC_BATCH_SIZE": "100", "GRAPHSVC_DEBUG": ""}
    folder = tmp_path / "demo"
    made = subprocess.run(
        [graphsvc, "demo", "--households", "1500", "--seed", "7", "--as-of", "2026-11-25", "--out", str(folder)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    with Database.connect(spare_settings) as db:
        db.apply_schema()
        empty(db)
    command = [graphsvc, "import", "--allow-duplicates", str(folder)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Database.connect(spare_settings) as db:
            deadline = time.monotonic() + 120
            while db.read("graph_counts")[0]["people"] < 300:  # half-way through people.csv
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.05)
        kill_neo4j(spare_settings.local)
        killed = time.monotonic()
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - killed
    lines = said(stdout + stderr)
    assert proc.returncode == 1 and "Traceback" not in stderr and len(lines) == 1, (stdout, stderr)
    line = lines[0]
    assert line.startswith(f"graphsvc import: Neo4j at {spare_settings.local.uri} stopped answering"), line
    assert "households.csv whole" in line and "rows of people.csv" in line, line
    assert "run the same import again to finish it" in line, line
    print(f"import killed: one line after {seconds:.1f} s: {line}")

    neo4j_local.start(spare_settings.local)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    with Database.connect(spare_settings) as db:
        counts = db.read("graph_counts")[0]
        for name in ("households", "people", "visits"):
            assert counts[name] == _rows(folder, name), (name, counts)
        assert counts["introductions"] == _rows(folder, "introductions"), counts
        assert audit.verify(db).ok


def test_keys_rotate_with_neo4j_stopped_leaves_the_key_file_as_it_was(cli_env, monkeypatch, tmp_path):
    """The key file changes only once Neo4j answers (a new key, then the re-encryption)."""
    from graphsvc import crypto

    path = tmp_path / "keys" / "data-keys.json"
    monkeypatch.delenv("GRAPHSVC_DATA_KEY")
    monkeypatch.setenv("GRAPHSVC_KEY_FILE", str(path))
    crypto.load_keyring()  # makes the key file
    before = path.read_bytes()
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("NEO4J_USER", "neo4j")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    one_line(run("keys", "rotate"), "cannot reach Neo4j")
    assert path.read_bytes() == before
