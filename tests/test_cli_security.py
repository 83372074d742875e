"""The security commands: users, tokens, audit verify, key rotation, redacted export."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from graphsvc import accounts, audit, crypto
from graphsvc.cli import main

from .helpers import import_folder


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_users_add_list_disable_reset(db, cli_env):
    added = run(
        "users",
        "add",
        "kim",
        "--role",
        "visitor",
        "--district",
        "서울 노원구",
        "--password-stdin",
        input="a long enough pass\n",
    )
    assert added.exit_code == 0, added.output
    assert accounts.authenticate(db, "kim", "a long enough pass", "1.2.3.4", "t").ok
    stored = accounts.get_user(db, "kim")["password_hash"]
    assert stored.startswith("$argon2id$") and "a long enough pass" not in stored
    short = run(
        "users", "add", "lee", "--role", "visitor", "--district", "서울 노원구", "--password-stdin", input="short\n"
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    no_district = run("users", "add", "park", "--role", "coordinator", "--password-stdin", input="a long enough pass\n")
    assert no_district.exit_code == 1 and "at least one district" in no_district.output
    twice = run(
        "users", "add", "kim", "--role", "visitor", "--district", "x", "--password-stdin", input="a long enough pass\n"
    )
    assert twice.exit_code == 1 and "already exists" in twice.output

    listed = run("users", "list")
    assert "kim" in listed.output and "visitor" in listed.output and "pass" not in listed.output

    assert run("users", "reset-password", "kim", "--password-stdin", input="another long secret\n").exit_code == 0
    assert not accounts.authenticate(db, "kim", "a long enough pass", "1.2.3.4", "t").ok
    assert accounts.authenticate(db, "kim", "another long secret", "1.2.3.4", "t").ok

    assert run("users", "disable", "kim").exit_code == 0
    assert not accounts.authenticate(db, "kim", "another long secret", "1.2.3.4", "t").ok
    assert run("users", "disable", "nobody").exit_code == 1
    actions = [e["action"] for e in audit.query(db, target="kim")]
    assert {"user.create", "user.password_reset", "user.disable", "login.password"} <= set(actions)
    assert all(e["actor"].startswith("cli:") for e in audit.query(db, action="user."))


def test_token_is_printed_once_and_revocable(db, cli_env):
    run(
        "users",
        "add",
        "kim",
        "--role",
        "visitor",
        "--district",
        "서울 노원구",
        "--password-stdin",
        input="a long enough pass\n",
    )
    printed = run("users", "token", "kim", "--days", "7")
    token = printed.output.strip().splitlines()[-1]
    assert token.startswith("gs_") and accounts.token_subject(db, token).username == "kim"
    assert run("users", "revoke-tokens", "kim").output.startswith("1 tokens of kim revoked")
    assert accounts.token_subject(db, token) is None


def test_audit_verify_command_names_the_tampered_event(db, cli_env, small):
    assert import_folder(db, small).ok
    good = run("audit", "verify")
    assert good.exit_code == 0 and "audit chain intact" in good.output
    db.write("test_tamper_audit", seq=4)
    bad = run("audit", "verify")
    assert bad.exit_code == 2 and "BROKEN at event 4" in bad.output


def test_keys_rotate_reencrypts_everything(db, cli_env, small, tmp_path, monkeypatch):
    key_file = tmp_path / "keys" / "data-keys.json"
    monkeypatch.delenv("GRAPHSVC_DATA_KEY")
    monkeypatch.setenv("GRAPHSVC_KEY_FILE", str(key_file))
    first = crypto.load_keyring()  # creates the key file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    from graphsvc import importer
    from graphsvc.model import Actor

    assert importer.import_folder(db, small, first, Actor("t", "admin")).ok
    db.write("test_set_plaintext_phone", id="p-002", phone="010-0000-1111")  # left by an old version
    old_kid = first.current_kid
    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    second = crypto.load_keyring()
    assert second.current_kid != old_kid and second.kids == (second.current_kid,)
    raw = db.read("test_person_raw", id="p-001")[0]
    assert raw["legal_name"].startswith(f"enc:v1:{second.current_kid}:")
    assert second.decrypt(raw["legal_name"], "Person", "p-001", "legal_name") == "김영희"
    legacy = db.read("test_person_raw", id="p-002")[0]["phone"]
    assert second.decrypt(legacy, "Person", "p-002", "phone") == "010-0000-1111"
    assert json.loads(key_file.read_text())["current"] == second.current_kid
    assert audit.query(db, action="keys.reencrypt")
    refused = CliRunner().invoke(main, ["keys", "rotate"], env={"GRAPHSVC_DATA_KEY": "k1:" + "A" * 43})
    assert refused.exit_code == 1


def test_export_redact_and_its_audit(db, cli_env, small, tmp_path):
    assert import_folder(db, small).ok
    out = tmp_path / "redacted"
    assert run("export", str(out), "--redact").exit_code == 0
    text = (out / "people.csv").read_text(encoding="utf-8-sig")
    assert "김영희" not in text and "들국화" in text
    assert audit.query(db, action="export")[0]["detail"].startswith("redacted")
    assert os.path.exists(out / "visits.csv")


@pytest.mark.parametrize("reason", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"])
def test_audit_page_escapes_what_users_typed(settings, db, small, reason):
    import re

    import pyotp

    from web import create_app

    from .helpers import ACTOR, keyring

    assert import_folder(db, small).ok
    accounts.add_user(db, ACTOR, "admin", "admin", [], "correct horse battery", adopt=True)
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    audit.append_now(
        db, actor="admin", role="admin", action="household.identity.read", targets=["h-001"], reason=reason
    )
    client = create_app(settings, TESTING=True).test_client()
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": token})
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/login/totp").get_data(as_text=True)).group(
        1
    )
    client.post("/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    page = client.get("/admin/audit?lang=en").get_data(as_text=True)
    assert reason not in page and "&lt;" in page
