"""Signed checkpoints of the audit chain (graphsvc/checkpoints.py): the assessors' rewrite
(delete an event, renumber and re-hash every later one and the head) passes `verify` but
not `verify --checkpoints`; forged or edited checkpoint lines are named; nothing is signed
over a broken chain; the keys of the audit trail are kept like the data keys; the admin's
audit page shows the last checkpoint's age and whether the chain passes through it.

Tampering is done as an intruder with the Neo4j password would: Cypher sent straight to the
server, never through graphsvc.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import stat

import pyotp
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from graphsvc import audit, checkpoints, crypto, journal
from graphsvc.cli import main
from graphsvc.model import Actor

OPERATOR = Actor("cli:tester", "operator", "local", "pytest").event()


def cypher(db, text: str, **params):
    records, _, _ = db.driver.execute_query(text, params, database_=db.database)
    return [r.data() for r in records]


def fill(db, n: int, actor: str = "coord") -> None:
    for i in range(n):
        audit.append_now(db, actor=actor, role="coordinator", action="household.read", targets=[f"h-{i}"])


def rewrite_history(db, seq: int) -> None:
    """The assessors' rewrite: delete event ``seq``, renumber every later event down by one,
    re-hash the chain from there and move the head, so that `verify` finds nothing."""
    prev = (
        cypher(db, "MATCH (e:AuditEvent {seq: $s}) RETURN e.hash AS h", s=seq - 1)[0]["h"]
        if seq > 1
        else audit.ZERO_HASH
    )
    cypher(db, "MATCH (e:AuditEvent {seq: $s}) DETACH DELETE e", s=seq)
    later = cypher(db, "MATCH (e:AuditEvent) WHERE e.seq > $s RETURN properties(e) AS p ORDER BY e.seq", s=seq)
    for row in later:
        event = row["p"]
        old = event["seq"]
        event["seq"], event["prev"] = old - 1, prev
        event["hash"] = audit.event_hash(prev, event)
        cypher(db, "MATCH (e:AuditEvent {seq: $old}) SET e = $p", old=old, p=event)
        prev = event["hash"]
    cypher(db, "MATCH (h:AuditHead) SET h.seq = h.seq - 1, h.hash = $h", h=prev)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def lines_of(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def own_keys() -> dict:
    return checkpoints.trusted_keys()


# --- making one ----------------------------------------------------------------------------


def test_a_checkpoint_signs_the_verified_head_and_is_on_record(db, tmp_path):
    path = tmp_path / "audit" / "checkpoints.jsonl"
    fill(db, 5)
    made = checkpoints.make(db, path, OPERATOR)
    assert (made.seq, made.hash) == (5, audit.verify(db, seqs=[5]).hashes[5])  # the head it verified
    [line] = lines_of(path)
    assert line == {
        "v": 1,
        "seq": 5,
        "hash": made.hash,
        "at": made.at,
        "kid": made.kid,
        "key": made.key,
        "sig": made.sig,
    }
    # The documented signature, checked with the public key alone.
    public = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode("C" * 43 + "=")).public_key()
    message = (
        b"graphsvc audit checkpoint v1\n"
        + json.dumps(
            {"at": made.at, "hash": made.hash, "kid": made.kid, "seq": 5, "v": 1}, sort_keys=True, separators=(",", ":")
        ).encode()
    )
    public.verify(base64.urlsafe_b64decode(made.sig + "=="), message)
    assert made.key == checkpoints.public_text(public)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    newest = audit.query(db, limit=1)[0]
    assert (
        newest["action"] == "audit.checkpoint" and newest["detail"] == f"event 5 hash {made.hash[:16]} key {made.kid}"
    )
    assert newest["actor"] == "cli:tester" and newest["outcome"] == "ok"
    report = checkpoints.check(db, path, own_keys())
    assert report.ok and report.passed == 1


def test_a_checkpoint_covers_what_the_journal_held(db, tmp_path):
    audit.to_journal(db, actor="coord", action="household.read", targets=["h-1"])  # not yet in the chain
    made = checkpoints.make(db, tmp_path / "cp.jsonl", OPERATOR)
    assert made.seq == 1 and db.journal.pending_bytes() == 0


def test_nothing_to_sign_in_an_empty_log(db, tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="empty"):
        checkpoints.make(db, tmp_path / "cp.jsonl", OPERATOR)
    assert not (tmp_path / "cp.jsonl").exists()


# --- the assessors' rewrite -----------------------------------------------------------------


def test_the_assessors_rewrite_passes_verify_but_not_the_checkpoints(db, tmp_path, cli_env):
    path = tmp_path / "checkpoints.jsonl"
    fill(db, 10)
    first = checkpoints.make(db, path, OPERATOR)  # event 10; the checkpoint's own event is 11
    fill(db, 5)
    second = checkpoints.make(db, path, OPERATOR)  # event 16
    fill(db, 2)
    assert (first.seq, second.seq) == (10, 16)
    assert run("audit", "verify", "--checkpoints", str(path)).exit_code == 0

    rewrite_history(db, 7)
    assert audit.verify(db).ok  # the chain alone cannot tell

    report = checkpoints.check(db, path, own_keys())
    assert report.chain.ok and not report.ok
    assert [p.line for p in report.problems] == [1, 2]
    assert report.problems[0].text.startswith(
        f"event 10 of {first.at}: the chain no longer passes through it: that event's hash is now"
    )
    out = run("audit", "verify", "--checkpoints", str(path))
    assert out.exit_code == 2, out.output
    assert "audit chain intact" in out.output
    assert f"checkpoint {path}:1 FAILS: event 10 of {first.at}: the chain no longer passes through it" in out.output
    assert "2 of 2 fail" in out.output
    last = audit.query(db, action="audit.verify", limit=1)[0]
    assert last["outcome"] == "failure" and last["detail"].startswith(f"checkpoint {path}:1")
    # and no new checkpoint blesses the rewritten chain
    refused = run("audit", "checkpoint", "--file", str(path))
    assert refused.exit_code == 2 and "no checkpoint was made" in refused.output
    assert len(lines_of(path)) == 2


def test_deleting_the_newest_events_behind_a_checkpoint_is_named(db, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    fill(db, 4)
    checkpoints.make(db, path, OPERATOR)  # event 4; its own event is 5
    cypher(db, "MATCH (e:AuditEvent) WHERE e.seq >= 4 DETACH DELETE e")
    cypher(db, "MATCH (h:AuditHead) MATCH (e:AuditEvent {seq: 3}) SET h.seq = 3, h.hash = e.hash")
    assert audit.verify(db).ok
    [problem] = checkpoints.check(db, path, own_keys()).problems
    assert "there is no event 4 any more (the log ends at event 3)" in problem.text


def test_a_rewrite_after_the_newest_checkpoint_is_not_seen_so_checkpoint_often(db, tmp_path):
    # What checkpoints cannot do (README): events after the newest one are not covered.
    path = tmp_path / "checkpoints.jsonl"
    fill(db, 3)
    checkpoints.make(db, path, OPERATOR)  # event 3; its own event is 4
    fill(db, 3)
    rewrite_history(db, 6)
    assert checkpoints.check(db, path, own_keys()).ok


def test_a_broken_chain_is_reported_before_the_checkpoints_it_hides(db, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    fill(db, 3)
    checkpoints.make(db, path, OPERATOR)  # event 3
    fill(db, 3)
    checkpoints.make(db, path, OPERATOR)  # event 7
    cypher(db, "MATCH (e:AuditEvent {seq: 5}) SET e.actor = 'nobody'")
    report = checkpoints.check(db, path, own_keys())
    assert not report.chain.ok and report.chain.first_bad_seq == 5
    assert [p.line for p in report.problems] == [2]  # the first still passes; the second is not reached
    assert "not reached, the chain is broken before it" in report.problems[0].text
    with pytest.raises(checkpoints.Refused):
        checkpoints.make(db, path, OPERATOR)
    assert audit.query(db, action="audit.checkpoint", limit=1)[0]["outcome"] == "failure"
    assert len(lines_of(path)) == 2


# --- the file itself ------------------------------------------------------------------------


def _edited(raw: str, **changes) -> str:
    doc = json.loads(raw)
    doc.update(changes)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def test_an_edited_or_forged_checkpoint_line_is_named(db, tmp_path, cli_env):
    path = tmp_path / "checkpoints.jsonl"
    fill(db, 3)
    checkpoints.make(db, path, OPERATOR)
    fill(db, 2)
    checkpoints.make(db, path, OPERATOR)
    good = path.read_text().splitlines()
    stranger = Ed25519PrivateKey.generate()
    forged = checkpoints.sign(stranger, 4, audit.query(db, limit=100)[-4]["hash"]).to_json()
    cases = {
        "another seq under the old signature": (_edited(good[0], seq=2), "its signature does not hold"),
        "another hash under the old signature": (_edited(good[0], hash="0" * 64), "its signature does not hold"),
        "a newer time": (_edited(good[0], at="2030-01-01T00:00:00.000000Z"), "its signature does not hold"),
        "signed by a stranger's key": (forged, "which is not trusted here"),
        "a stranger's key with our key id": (
            _edited(forged, kid=json.loads(good[0])["kid"]),
            "not a checkpoint (its key, key id or signature is malformed)",
        ),
        "not JSON": ("{seq: 3}", "not a checkpoint (not JSON)"),
        "fields missing": (json.dumps({"seq": 3}), "not a checkpoint (its fields are not"),
    }
    for name, (line, problem) in cases.items():
        path.write_text(good[0] + "\n" + line + "\n" + good[1] + "\n")
        report = checkpoints.check(db, path, own_keys())
        assert [p.line for p in report.problems] == [2], name
        assert problem in report.problems[0].text, (name, report.problems[0].text)
        assert report.passed == 2
    out = run("audit", "verify", "--checkpoints", str(path))
    assert out.exit_code == 2 and f"checkpoint {path}:2 FAILS: not a checkpoint" in out.output
    # A stranger's checkpoint is believed only when its public key is given, and then checked.
    path.write_text(forged + "\n")
    out = run(
        "audit", "verify", "--checkpoints", str(path), "--public-key", checkpoints.public_text(stranger.public_key())
    )
    assert out.exit_code == 0, out.output
    assert "checkpoints: all 1 in" in out.output and "the newest is event 4" in out.output


def test_verify_checkpoints_input_errors_are_clear(db, tmp_path, cli_env):
    fill(db, 1)
    missing = run("audit", "verify", "--checkpoints", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1 and "no such checkpoint file" in missing.output
    (tmp_path / "empty.jsonl").write_text("")
    empty = run("audit", "verify", "--checkpoints", str(tmp_path / "empty.jsonl"))
    assert empty.exit_code == 1 and "holds no checkpoint" in empty.output
    bad_key = run("audit", "verify", "--checkpoints", str(tmp_path / "empty.jsonl"), "--public-key", "xyz")
    assert bad_key.exit_code == 1 and "--public-key number 1 is not an Ed25519 public key" in bad_key.output


def test_the_checkpoint_command_and_its_default_file(db, tmp_path, cli_env, monkeypatch):
    target = tmp_path / "state" / "checkpoints.jsonl"
    monkeypatch.setenv("GRAPHSVC_AUDIT_CHECKPOINTS", str(target))
    empty = run("audit", "checkpoint")
    assert empty.exit_code == 1 and "the audit log is empty" in empty.output
    fill(db, 2)
    made = run("audit", "checkpoint")
    assert made.exit_code == 0, made.output
    [line] = lines_of(target)
    assert f"checkpoint: event 2 (hash {line['hash'][:16]}…) signed with key {line['kid']}" in made.output
    assert f"public key: {line['key']}" in made.output
    ok = run("audit", "verify", "--checkpoints", str(target))
    assert ok.exit_code == 0 and "all 1 in" in ok.output
    from graphsvc.config import load_settings

    assert load_settings({}).audit_checkpoints.name == "checkpoints.jsonl"
    assert load_settings({"GRAPHSVC_STATE_DIR": "/x"}).audit_checkpoints == __import__("pathlib").Path(
        "/x/audit/checkpoints.jsonl"
    )
    with pytest.raises(ValueError, match="GRAPHSVC_AUDIT_CHECKPOINT_HOURS"):
        load_settings({"GRAPHSVC_AUDIT_CHECKPOINT_HOURS": "0"})


# --- the keys -------------------------------------------------------------------------------


def test_the_trails_keys_are_kept_like_the_data_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSVC_KEY_FILE", str(tmp_path / "secrets" / "data-keys.json"))
    monkeypatch.delenv("GRAPHSVC_AUDIT_CHECKPOINT_KEY")
    monkeypatch.delenv("GRAPHSVC_AUDIT_JOURNAL_KEY")
    assert crypto.checkpoint_key(create=False) is None and checkpoints.trusted_keys() == {}
    key = crypto.checkpoint_key()
    path = tmp_path / "secrets" / "audit-checkpoint.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert crypto.checkpoint_key().public_key() == key.public_key()  # the same key next time
    assert list(checkpoints.trusted_keys()) == [checkpoints.kid_of(checkpoints.public_text(key.public_key()))]
    # The journal key the same way, created by the first append
    j = journal.Journal(tmp_path / "j" / "journal.jsonl")
    j.append({"id": "x", "actor": "a", "action": "household.read", "outcome": "ok", "targets": []})
    assert stat.S_IMODE((tmp_path / "secrets" / "audit-journal.key").stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(crypto.KeyringError, match="accessible by group or others"):
        crypto.checkpoint_key()
    monkeypatch.setenv("GRAPHSVC_AUDIT_JOURNAL_KEY", "abcd")
    with pytest.raises(crypto.KeyringError, match=r"\$GRAPHSVC_AUDIT_JOURNAL_KEY: 3 bytes, not 32"):
        crypto.journal_key()
    # A journal whose key cannot be loaded fails closed.
    with pytest.raises(audit.AuditError, match="journal key cannot be loaded"):
        journal.Journal(tmp_path / "k" / "journal.jsonl").append({"id": "y", "actor": "a"})


# --- the admin's audit page ------------------------------------------------------------------


@pytest.fixture()
def admin_client(db, settings, tmp_path):
    from graphsvc import accounts
    from web import create_app

    from .helpers import ACTOR, keyring

    accounts.add_user(db, ACTOR, "admin", "admin", [], "correct horse battery")
    secret = pyotp.random_base32()
    accounts.set_totp(db, ACTOR, "admin", keyring().encrypt(secret, "User", "admin", "totp_secret"), True)
    path = tmp_path / "checkpoints.jsonl"
    app = create_app(dataclasses.replace(settings, audit_checkpoints_override=path), TESTING=True)
    client = app.test_client()

    def csrf(where: str) -> str:
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(where).get_data(as_text=True)).group(1)

    client.post("/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": csrf("/login")})
    client.post("/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf("/login/totp")})
    client.checkpoints = path
    return client


def status_box(client, lang: str) -> tuple[str, str]:
    """The audit page's status box: its class (ok, bad) and the checkpoint's sentence."""
    page = client.get(f"/admin/audit?lang={lang}").get_data(as_text=True)
    box = re.search(r'<p class="chain (\w*)" role="status">(.*?)\n</p>', page, re.S)
    assert box, page
    sentence = re.search(r'<span id="checkpoint">(.*)</span>\s*$', box.group(2), re.S)
    assert sentence, box.group(2)
    return box.group(1), " ".join(sentence.group(1).split())


def checkpoint_text(client, lang: str) -> str:
    return status_box(client, lang)[1]


def test_the_audit_page_shows_the_last_checkpoint_its_age_and_whether_the_chain_passes(db, admin_client):
    assert status_box(admin_client, "en")[0] == "ok"  # no checkpoint yet is no fault
    assert "No signed checkpoint yet" in checkpoint_text(admin_client, "en")
    assert "graphsvc audit checkpoint" in checkpoint_text(admin_client, "en")
    assert "서명된 체크포인트가 아직 없습니다" in checkpoint_text(admin_client, "ko")
    fill(db, 3)
    made = checkpoints.make(db, admin_client.checkpoints, OPERATOR)
    state, text = status_box(admin_client, "en")
    assert f"event {made.seq:,}" in text and "ago" in text and "The chain passes through it." in text
    assert "Overdue" not in text and state == "ok"
    ko = checkpoint_text(admin_client, "ko")
    assert f"기록 {made.seq:,}번" in ko and "전" in ko and "체인이 이 체크포인트와 일치합니다" in ko

    rewrite_history(db, 2)  # the page's cached verification still says intact; the checkpoint does not
    state, text = status_box(admin_client, "en")
    assert "The chain no longer passes through it" in text and state == "bad"
    assert "더 이상 이 체크포인트와 일치하지 않습니다" in checkpoint_text(admin_client, "ko")


def test_the_audit_page_flags_an_old_or_untrusted_checkpoint(db, admin_client):
    fill(db, 2)
    made = checkpoints.make(db, admin_client.checkpoints, OPERATOR)
    old = checkpoints.sign(crypto.checkpoint_key(), made.seq, made.hash, "2026-01-01T00:00:00.000000Z")
    admin_client.checkpoints.write_text(old.to_json() + "\n")
    text = checkpoint_text(admin_client, "en")
    assert "Overdue: older than 25 hours" in text and "The chain passes through it." in text
    assert "기한 초과: 25시간보다 오래되었습니다" in checkpoint_text(admin_client, "ko")
    admin_client.checkpoints.write_text(_edited(old.to_json(), seq=1) + "\n")
    text = checkpoint_text(admin_client, "en")
    assert "not a checkpoint signed with a trusted key" in text and "its signature does not hold" in text
    assert "서명된 체크포인트가 아닙니다" in checkpoint_text(admin_client, "ko")
