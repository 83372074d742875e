"""Backup and restore (graphsvc/backup.py, `graphsvc backup` / `graphsvc restore`), on the
spare instance only (conftest.py `spare_settings`): never the suite's own database.

The drill: a network with accounts, a password, TOTP, a token, a claim, audit events and a
signed checkpoint → export → backup → wipe (the server stopped, its data folder and the
whole state folder with the key files deleted) → restore → the audit chain intact and
continuing from the backed-up head, the password, TOTP and token working, the graph equal,
and a new export equal to the first byte for byte. The keys live in key files here (no key
variables), so that the restore has to bring them back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from graphsvc import access, accounts, audit, backup, crypto, filestore, neo4j_local, visits
from graphsvc.config import Settings, load_settings
from graphsvc.db import Database
from graphsvc.model import Actor

from .helpers import CYPHER_EXTRA, FIXTURES, PASSWORD, TOTP_SECRET, import_small, snapshot, spare_env

PASSPHRASE = "봄날의 긴 암호문 correct horse"
KEY_VARS = (crypto.ENV_KEYS, "GRAPHSVC_SECRET_KEY", crypto.ENV_JOURNAL_KEY, crypto.ENV_CHECKPOINT_KEY)
GRAPHSVC = str(Path(sys.executable).with_name("graphsvc"))


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [GRAPHSVC, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600
    )
    if check:
        assert done.returncode == 0, f"graphsvc {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal (exit 1, no traceback)."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@dataclass
class Drill:
    env: dict[str, str]
    settings: Settings
    state: Path
    backups: Path
    folder: Path  # the backup
    export: Path  # the export taken before it
    token: str
    sid: str  # a session of admin's
    graph: dict
    manifest: dict
    file_id: str = ""  # a stored file (issue 16: photos, receipts), encrypted in the state folder


# what the drill's stored file holds (a re-encoded photo's bytes would do as well)
STORED = "사진 photo bytes of the drill".encode()


def connect(settings: Settings) -> Database:
    return Database.connect(settings)


def wipe(local) -> None:
    """A fresh instance in the spare's place: server stopped, its data folder deleted, the
    password set again (it lived in the deleted system database)."""
    neo4j_local.stop(local, say=lambda _m: None)
    shutil.rmtree(local.home / "data")
    (local.home / "data").mkdir()
    neo4j_local.set_initial_password(local, neo4j_local.read_password(local))


def state_of(settings: Settings, state: Path) -> dict:
    """What a refused restore must leave alone: the graph, the audit head, the state files."""
    with connect(settings) as db:
        graph = snapshot(db)
        head = db.read("audit_head")
    files = {p.relative_to(state).as_posix(): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()}
    return {"graph": graph, "head": head, "files": files}


@pytest.fixture(scope="module")
def drill(spare_settings: Settings, tmp_path_factory) -> Drill:
    """The spare instance with a network (keys in key files under a state folder of its own),
    an export of it, and a backup of it."""
    root = tmp_path_factory.mktemp("backup")
    state = root / "state"
    with pytest.MonkeyPatch.context() as mp:
        for var in KEY_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("GRAPHSVC_STATE_DIR", str(state))
        mp.setenv(backup.ENV_PASSPHRASE, PASSPHRASE)
        env = {k: v for k, v in spare_env().items() if k not in KEY_VARS}
        env.update(GRAPHSVC_STATE_DIR=str(state), **{backup.ENV_PASSPHRASE: PASSPHRASE})
        settings = load_settings(env)
        settings = replace(settings, cypher_extra=CYPHER_EXTRA)
        wipe(settings.local)
        neo4j_local.start(settings.local, say=lambda _m: None)
        small = root / "small"
        shutil.copytree(FIXTURES / "small", small)
        with connect(settings) as db:
            db.apply_schema()
            keyring = crypto.load_keyring()  # made now, in the state folder's key file
            import_small(db, small, keyring)
            actor = Actor("tester", "admin", "127.0.0.1", "pytest")
            token = accounts.create_token(db, actor, "coord", 30)
            sid = accounts.create_session(db, access.Subject("admin", "admin"), "127.0.0.1", "pytest", True)
            minji = access.Subject("minji", "visitor", ("서울 노원구",), None)
            audit.append_now(db, actor="minji", role="visitor", action="suggestions.read", targets=["h-001"])
            visits.claim(db, minji, Actor("minji", "visitor", "127.0.0.1", "pytest"), "h-001")
            for n in range(3):
                audit.to_journal(
                    db, actor="coord", role="coordinator", action="household.read", targets=[f"h-00{n + 1}"]
                )
            with filestore.staging(settings, keyring) as stage:
                file_id = stage.put(STORED, kind="Photo", record_id="ph-drill")
        cli(env, "audit", "checkpoint")  # the checkpoint file and its signing key
        # the web app's secret (session cookies, CSRF), as `graphsvc serve` makes it
        fd = os.open(crypto.web_secret_path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("웹 비밀 web-secret-of-the-drill\n")
        with connect(settings) as db:
            audit.to_journal(db, actor="coord", role="coordinator", action="network.read")
            graph = snapshot(db)
        export = root / "export"
        cli(env, "export", str(export))
        backups = root / "backups"
        done = cli(env, "backup", str(backups))
        assert "backup " in done.stdout
        (folder,) = [p for p in backups.iterdir()]
        manifest = json.loads((folder / backup.MANIFEST).read_text())
        yield Drill(env, settings, state, backups, folder, export, token, sid, graph, manifest, file_id)


def test_backup_folder(drill: Drill):
    """The layout, modes and manifest of a backup."""
    folder, manifest = drill.folder, drill.manifest
    assert backup.NAME_RE.fullmatch(folder.name)
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    stored = f"files/{drill.file_id}"
    assert names == sorted(["manifest.json", "neo4j.dump", "journal.jsonl", "checkpoints.jsonl", "secrets.enc", stored])
    assert crypto.is_encrypted_bytes((folder / stored).read_bytes()) and STORED not in (folder / stored).read_bytes()
    assert all(oct((folder / n).stat().st_mode & 0o777) == "0o600" for n in names)
    assert manifest["format"] == backup.FORMAT and manifest["neo4j"].startswith("5.26")
    assert manifest["counts"]["households"] > 0 and manifest["counts"]["users"] >= 4
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert manifest["secrets"]["kdf"]["name"] == "scrypt" and manifest["secrets"]["kdf"]["n"] >= 2**17
    # nothing secret in the clear: no key of the key files appears in any file of the backup
    keys = json.loads((drill.state / "keys" / crypto.DATA_KEY_FILE).read_text())["keys"]
    blob = b"".join((folder / n).read_bytes() for n in names)
    for entry in keys.values():
        assert entry["key"].encode() not in blob
    for name in (crypto.JOURNAL_KEY_FILE, crypto.CHECKPOINT_KEY_FILE, crypto.WEB_SECRET_FILE):
        assert (drill.state / "keys" / name).read_text().strip().encode() not in blob
    # the journal as the chain left it: its anchor is the head's last shipped line
    assert (folder / "journal.jsonl").read_bytes().startswith(b'{"anchor":')


def test_restore_drill(drill: Drill):
    settings, env, local = drill.settings, drill.env, drill.settings.local
    head = drill.manifest["audit_head"]
    keys_before = {p.name: p.read_bytes() for p in (drill.state / "keys").iterdir()}
    assert set(keys_before) >= {crypto.DATA_KEY_FILE, crypto.JOURNAL_KEY_FILE, crypto.CHECKPOINT_KEY_FILE, "web-secret"}
    checkpoints_before = (drill.state / "audit" / "checkpoints.jsonl").read_bytes()

    wipe(local)
    shutil.rmtree(drill.state)  # the journal, the checkpoints, every key file
    done = cli(env, "restore", str(drill.folder))
    assert "audit chain intact" in done.stdout and f"event {head['seq']:,}" in done.stdout
    assert neo4j_local.running_pid(local) is not None

    # the keys are back, private, as they were
    assert {p.name: p.read_bytes() for p in (drill.state / "keys").iterdir()} == keys_before
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (drill.state / "keys").iterdir())
    assert (drill.state / "audit" / "checkpoints.jsonl").read_bytes() == checkpoints_before

    with connect(settings) as db:
        # the graph as it was: accounts, claims, tokens, everything but the audit log
        assert snapshot(db) == drill.graph
        # the chain continues from the backed-up head: its event is there, unchanged
        assert audit.hash_at(db, head["seq"]) == head["hash"]
        assert audit.verify(db).ok
        after = db.read("audit_head")[0]["seq"]
        # events that went through the journal are in the chain
        assert audit.query(db, action="network.read")
        assert audit.query(db, action="backup.restore")
        audit.append_now(db, actor="tester", role="admin", action="audit.verify")
        result = audit.verify(db)
        assert result.ok and result.head_seq == after + 1
        # the password signs in, TOTP and the token work
        assert accounts.authenticate(db, "admin", PASSWORD, "127.0.0.1", "pytest").ok
        accounts.forget_tokens()
        subject = accounts.token_subject(db, drill.token)
        assert subject is not None and subject.username == "coord"
        session = accounts.session_user(db, drill.sid)  # its cookie is signed with the restored web secret
        assert session is not None and session.subject.username == "admin"
        totp = db.read("snapshot")[0]
        admin = next(props for labels, props in totp["nodes"] if "User" in labels and props["username"] == "admin")
        assert crypto.load_keyring().decrypt(admin["totp_secret"], "User", "admin", "totp_secret") == TOTP_SECRET
    # the stored files are back, private, and open with the restored keys for their record only
    files = drill.state / "files"
    assert [p.name for p in files.iterdir()] == [drill.file_id] and oct(files.stat().st_mode & 0o777) == "0o700"
    assert oct((files / drill.file_id).stat().st_mode & 0o777) == "0o600"
    ring = crypto.load_keyring()
    assert filestore.read(settings, ring, drill.file_id, kind="Photo", record_id="ph-drill") == STORED
    # the checkpoints still verify (the signing key came back with them)
    verified = cli(env, "audit", "verify", "--checkpoints", str(drill.state / "audit" / "checkpoints.jsonl"))
    assert "audit chain intact" in verified.stdout and "checkpoints: all 1" in verified.stdout

    # an export now equals the export before the backup, byte for byte
    again = drill.export.with_name("export-after")
    cli(env, "export", str(again))
    first = sorted(p.name for p in drill.export.iterdir())
    assert first == sorted(p.name for p in again.iterdir()) and first
    for name in first:
        assert (again / name).read_bytes() == (drill.export / name).read_bytes(), name

    # restoring over it again is refused: it is not empty, and the refusal says what is there
    line = refused(cli(env, "restore", str(drill.folder), check=False))
    assert "not empty" in line and "households" in line and "--force" in line


def copy_of(drill: Drill, name: str) -> Path:
    copy = drill.backups.parent / "copies" / name
    shutil.copytree(drill.folder, copy)
    return copy


@pytest.mark.parametrize("damage", ["changed", "missing", "extra", "rewritten"])
def test_a_tampered_backup_is_refused_and_nothing_changes(drill: Drill, damage: str):
    """--force: a restore that passed the checks would replace the instance, so this shows
    that every check comes before any change."""
    copy = copy_of(drill, f"tampered-{damage}")
    dump = copy / "neo4j.dump"
    if damage == "changed":
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 1
        dump.write_bytes(bytes(data))
        named = "neo4j.dump"
    elif damage == "missing":
        (copy / "journal.jsonl").unlink()
        named = "journal.jsonl"
    elif damage == "extra":
        (copy / "notes.txt").write_text("여기에 무엇이")
        named = "notes.txt"
    else:  # the dump replaced and the manifest's checksum with it: the sealed list catches it
        data = bytearray(dump.read_bytes())
        data[len(data) // 2] ^= 1
        dump.write_bytes(bytes(data))
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["files"]["neo4j.dump"]["sha256"] = backup.sha256_of(dump)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        named = "neo4j.dump"
    before = state_of(drill.settings, drill.state)
    line = refused(cli(drill.env, "restore", "--force", str(copy), check=False))
    assert named in line and "refused" in line
    assert state_of(drill.settings, drill.state) == before


def test_a_wrong_passphrase_is_refused_and_nothing_changes(drill: Drill):
    before = state_of(drill.settings, drill.state)
    env = {**drill.env, backup.ENV_PASSPHRASE: "이것은 틀린 암호문입니다 wrong"}
    line = refused(cli(env, "restore", "--force", str(drill.folder), check=False))
    assert "wrong passphrase" in line
    assert state_of(drill.settings, drill.state) == before


def test_a_key_variable_that_contradicts_the_backup_is_refused(drill: Drill):
    before = state_of(drill.settings, drill.state)
    env = {**drill.env, crypto.ENV_KEYS: "other:" + "B" * 43}
    line = refused(cli(env, "restore", "--force", str(drill.folder), check=False))
    assert crypto.ENV_KEYS in line
    assert state_of(drill.settings, drill.state) == before


def fake_backup(parent: Path, when: dt.datetime) -> Path:
    folder = parent / f"graphsvc-{when:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "kind": "graphsvc backup", "files": {}}))
    return folder


def test_keep_leaves_the_newest_and_nothing_else(drill: Drill, tmp_path: Path):
    parent = tmp_path / "nightly"
    old = [fake_backup(parent, dt.datetime(2026, 1, d, 3, 0)) for d in (1, 2, 3)]
    # never deleted: not named like a backup, or without a manifest of one
    others = [parent / "graphsvc-notes", parent / "graphsvc-20250101T000000Z-mine", parent / "photos"]
    for folder in others:
        folder.mkdir()
        (folder / "manifest.json").write_text("{}")
    bare = parent / "graphsvc-20250101T000000Z"
    bare.mkdir()
    foreign = parent / "graphsvc-20250102T000000Z"  # named like one, but its manifest is not a backup's
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"format": 1}')
    (parent / "graphsvc-20240101T000000Z").write_text("a file")
    done = cli(drill.env, "backup", str(parent), "--keep", "2")
    backups = sorted(p.name for p in parent.iterdir() if backup._is_backup(p))
    assert len(backups) == 2 and backups[0] == old[-1].name
    assert (
        all(f.exists() for f in others)
        and bare.exists()
        and foreign.exists()
        and (parent / "graphsvc-20240101T000000Z").exists()
    )
    assert not old[0].exists() and not old[1].exists()
    assert done.stdout.count("removed the old backup") == 2


def test_a_failure_mid_backup_leaves_no_folder(drill: Drill, tmp_path: Path):
    """The checkpoints are copied after the dump: a checkpoint path that is a folder fails
    the backup then. Nothing is left in DIR, and the server runs again."""
    parent = tmp_path / "fails"
    parent.mkdir()
    not_a_file = tmp_path / "checkpoints-folder"
    not_a_file.mkdir()
    (not_a_file / "x").write_text("x")
    env = {**drill.env, "GRAPHSVC_AUDIT_CHECKPOINTS": str(not_a_file)}
    line = refused(cli(env, "backup", str(parent), check=False))
    assert "nothing was written" in line
    assert list(parent.iterdir()) == []
    assert neo4j_local.running_pid(drill.settings.local) is not None


def test_external_server_and_short_passphrase_are_refused(tmp_path: Path):
    env = {**spare_env(), "NEO4J_URI": "neo4j+s://example.databases.neo4j.io", backup.ENV_PASSPHRASE: PASSPHRASE}
    for verb in ("backup", "restore"):
        line = refused(cli(env, verb, str(tmp_path), check=False))
        assert "neo4j-admin database backup" in line and "Aura" in line
    env = {**spare_env(), backup.ENV_PASSPHRASE: "short"}
    line = refused(cli(env, "backup", str(tmp_path / "b"), check=False))
    assert f"at least {backup.MIN_PASSPHRASE} characters" in line
    assert not (tmp_path / "b").exists()


def test_the_passphrase_is_asked_twice_hidden_when_no_variable_is_set(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    from graphsvc.cli import main

    monkeypatch.delenv(backup.ENV_PASSPHRASE, raising=False)
    monkeypatch.setenv("GRAPHSVC_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "b")], input="짧은암호\n짧은암호\n")
    assert result.output.count("Backup passphrase") == 1 and "Repeat for confirmation" in result.output
    assert "짧은암호" not in result.output  # hidden
    assert result.exit_code == 1 and f"at least {backup.MIN_PASSPHRASE} characters" in result.output
    assert not (tmp_path / "b").exists()


def test_keys_new_prints_keys_that_graphsvc_accepts(tmp_path: Path):
    """docker-compose.yml tells users to run `graphsvc keys new --env`: it exists and its
    lines are keys that graphsvc loads; it reads and writes no key file."""
    from click.testing import CliRunner

    from graphsvc.cli import main

    root = Path(__file__).resolve().parent.parent
    compose = (root / "docker-compose.yml").read_text()
    assert "graphsvc keys new --env" in compose
    entry = CliRunner().invoke(main, ["keys", "new"]).output.strip()
    assert crypto.load_keyring({crypto.ENV_KEYS: entry}).current_kid == entry.split(":")[0]
    lines = CliRunner().invoke(main, ["keys", "new", "--env"]).output.split()
    env = dict(line.split("=", 1) for line in lines)
    assert set(env) == {crypto.ENV_KEYS, "GRAPHSVC_SECRET_KEY", crypto.ENV_JOURNAL_KEY, crypto.ENV_CHECKPOINT_KEY}
    for var in ("GRAPHSVC_SECRET_KEY", crypto.ENV_JOURNAL_KEY, crypto.ENV_CHECKPOINT_KEY):
        assert f"${{{var}:?" in compose
    env["GRAPHSVC_STATE_DIR"] = str(tmp_path)
    crypto.load_keyring(env)
    assert len(crypto.journal_key(env)) == 32 and crypto.checkpoint_key(env, create=False) is not None
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_one_backup_or_restore_at_a_time(drill: Drill, tmp_path: Path):
    with backup._exclusive(drill.settings.local):
        line = refused(cli(drill.env, "backup", str(tmp_path / "b"), check=False))
        assert "another backup or restore" in line
        line = refused(cli(drill.env, "restore", str(drill.folder), check=False))
        assert "another backup or restore" in line
    assert not (tmp_path / "b").exists()
