"""Identity fields never reach Neo4j in plaintext: not in properties, not in the store files."""

from __future__ import annotations

import base64
import csv
import os
import secrets

import pytest

from graphsvc import crypto

from .helpers import ACTOR, append, export_folder, import_folder, keyring

KEYRING = keyring()


def _unique_identity():
    # Long enough that Neo4j stores them as plain UTF-8 (short strings get compact encodings
    # that a byte search would miss); the control value below proves the search finds them.
    tag = secrets.token_hex(6)
    return (
        f"홍길동 {tag} 신원 확인용 이름",
        # a phone is digits and separators (records.PHONE_RE): long with them, unique by its digits
        f"+82 (0) 10 - {int(tag, 16) % 10**8:08d} - - - - - - - - - - - - - - - -",
        f"서울 노원구 비밀로 {tag} 아파트 101동",
        f"비밀 메모 {tag} 가족 소식 있음",
    )


def test_plaintext_is_absent_from_the_store(db, settings, small):
    if not settings.uses_local:
        pytest.skip("needs the local instance's files")
    name, phone, address, note = _unique_identity()
    append(small, "people", ["p-077", "무지개", "h-001", name, phone, address])
    append(small, "visits", ["v-077", "h-001", "minji", "2025-05-05", "met", "", note])
    assert import_folder(db, small).ok
    person = db.read("test_person_raw", id="p-077")[0]
    assert all(crypto.is_encrypted(person[f]) for f in crypto.fields_of("Person"))
    control = f"평문 대조군 {secrets.token_hex(6)} 이 값은 암호화되지 않음"
    db.write("test_write_probe", text=control)
    # Every committed value is in the transaction logs on disk at once (the store files
    # follow at the next checkpoint): scanning all of data/ and logs/ sees what was written.
    home = settings.local.home
    files = [p.read_bytes() for p in list((home / "data").rglob("*")) + list((home / "logs").rglob("*")) if p.is_file()]
    assert any(control.encode() in data for data in files), "the scan cannot see plaintext at all"
    hits = [v for v in (name, phone, address, note) if any(v.encode() in data for data in files)]
    assert not hits, hits


def test_redacted_export_has_no_identity_and_full_export_decrypts(db, small, tmp_path):
    assert import_folder(db, small).ok
    full, redacted = tmp_path / "full", tmp_path / "redacted"
    export_folder(db, full)
    export_folder(db, redacted, redact=True)
    people = {r["id"]: r for r in csv.DictReader((full / "people.csv").open(encoding="utf-8-sig"))}
    assert people["p-001"]["legal_name"] == "김영희" and people["p-001"]["phone"] == "010-1234-5678"
    for row in csv.DictReader((redacted / "people.csv").open(encoding="utf-8-sig")):
        assert row["legal_name"] == row["phone"] == row["address"] == ""
        assert row["code_name"]
    for row in csv.DictReader((redacted / "visits.csv").open(encoding="utf-8-sig")):
        assert row["notes"] == ""
    text = "".join(p.read_text(encoding="utf-8-sig") for p in redacted.glob("*.csv"))
    assert "김영희" not in text and "010-1234-5678" not in text and "아이들이" not in text


def test_a_ciphertext_moved_to_another_record_does_not_decrypt(db, small):
    assert import_folder(db, small).ok
    token = db.read("test_person_raw", id="p-001")[0]["legal_name"]
    with pytest.raises(crypto.DecryptionError):
        crypto.load_keyring().decrypt(token, "Person", "p-002", "legal_name")


# --- the registry of encrypted fields against the graph --------------------------------------


def _encrypted_values(state: dict) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(label, field) → [(record id, token)] of every encrypted value among the nodes."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for labels, props in state["nodes"]:
        for field, value in props.items():
            if isinstance(value, str) and value.startswith("enc:"):
                found.setdefault((labels[0], field), []).append((props.get("id") or props["username"], value))
    return found


def test_every_encrypted_value_in_the_graph_is_in_the_registry(world):
    """The import and accounts with TOTP write encrypted values: each of them is a place of
    crypto.ENCRYPTED_FIELDS, and every place there is used (or this test would not see a
    field that is encrypted but not registered, nor one registered but never written)."""
    state = world.read("snapshot")[0]
    found = _encrypted_values(state)
    registered = {(f.label, f.field) for f in crypto.ENCRYPTED_FIELDS}
    assert set(found) == registered
    for (label, field), values in found.items():
        for record_id, token in values:
            assert crypto.is_encrypted(token)
            KEYRING.decrypt(token, label, record_id, field)  # bound to its own record and field
    assert not [r for r in state["rels"] if any(isinstance(v, str) and v.startswith("enc:") for v in r[3].values())]


def test_key_rotation_reencrypts_every_registered_field(world):
    """graphsvc keys rotate (rekey.reencrypt) follows the registry: every field of it,
    whatever its label, ends under the new key with its plaintext unchanged."""
    from graphsvc import rekey

    actor = ACTOR

    before = _encrypted_values(world.read("snapshot")[0])
    assert set(before) == {(f.label, f.field) for f in crypto.ENCRYPTED_FIELDS}
    plain = {
        (place, rid): KEYRING.decrypt(token, *place[:1], rid, place[1])
        for place, values in before.items()
        for rid, token in values
    }
    new_key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    rotated = crypto.load_keyring({"GRAPHSVC_DATA_KEY": f"knew:{new_key},{os.environ['GRAPHSVC_DATA_KEY']}"})
    counts = rekey.reencrypt(world, rotated, actor)
    assert counts["fields"] == len(plain)
    after = _encrypted_values(world.read("snapshot")[0])
    assert {
        (place, rid): rotated.decrypt(token, *place[:1], rid, place[1])
        for place, values in after.items()
        for rid, token in values
    } == plain
    assert all(token.startswith("enc:v1:knew:") for values in after.values() for _, token in values)
    # nothing left to do (the blind indexes were recomputed under the new key the first time)
    assert rekey.reencrypt(world, rotated, actor) == {"records": 0, "fields": 0, "blind_indexes": 0}
