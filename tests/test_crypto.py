"""Field encryption: tokens are confidential, authentic and bound to their place; keys are
kept safely and can be rotated. Pure: no database."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from graphsvc import crypto
from graphsvc.config import load_settings
from graphsvc.crypto import (
    ENCRYPTED_FIELDS,
    IDENTITY_FIELDS,
    DecryptionError,
    FieldKind,
    Keyring,
    KeyringError,
    is_encrypted,
    load_keyring,
    retire_keys,
    rotate_key_file,
)

NAME = "김영희 (Kim Young-hee)"
ADDRESS = "서울특별시 양천구 목동로 123, 4동 567호"
PLACE = ("Person", "p-001", "legal_name")


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def ring() -> Keyring:
    return Keyring.generate("k1")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An environment of our own: no GRAPHSVC_DATA_KEY, the key file under tmp_path."""
    monkeypatch.delenv("GRAPHSVC_DATA_KEY", raising=False)
    monkeypatch.delenv("GRAPHSVC_KEY_FILE", raising=False)
    monkeypatch.setattr(crypto, "LEGACY_KEY_DIR", tmp_path / "unused-legacy")
    return {"GRAPHSVC_KEY_FILE": str(tmp_path / "secrets" / "data-keys.json")}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- tokens --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [NAME, ADDRESS, "010-1234-5678", "x", "방문 메모: 건강 양호 😊\n둘째 줄"])
def test_round_trip(ring, text):
    token = ring.encrypt(text, *PLACE)
    assert token.startswith("enc:v1:k1:") and is_encrypted(token)
    assert ring.decrypt(token, *PLACE) == text


def test_token_format_is_nonce_ciphertext_tag_unpadded_base64url(ring):
    token = ring.encrypt("abc", *PLACE)
    payload = token.split(":", 3)[3]
    assert "=" not in payload and "+" not in payload and "/" not in payload
    assert len(unb64(payload)) == 12 + len("abc") + 16


def test_the_same_plaintext_gives_different_tokens(ring):
    tokens = {ring.encrypt(NAME, *PLACE) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {unb64(t.split(":", 3)[3])[:12] for t in tokens}
    assert len(nonces) == 50
    assert all(ring.decrypt(t, *PLACE) == NAME for t in tokens)


def test_the_token_contains_no_plaintext(ring):
    for text in (NAME, ADDRESS, "Kim Young-hee", "abcdefghijklmnopqrstuvwxyz"):
        token = ring.encrypt(text, *PLACE)
        raw = unb64(token.split(":", 3)[3])
        for part in (text, "Young", "김영희", "목동로", "klmnop"):
            if part in text:
                assert part not in token
                assert part.encode() not in raw


def test_none_and_empty_stay_none(ring):
    assert ring.encrypt(None, *PLACE) is None
    assert ring.encrypt("", *PLACE) is None
    assert ring.decrypt(None, *PLACE) is None
    assert not ring.needs_rotation(None)


def test_every_altered_byte_is_detected(ring):
    token = ring.encrypt(NAME, *PLACE)
    head, payload = token.rsplit(":", 1)
    raw = unb64(payload)
    for i in range(len(raw)):  # nonce, ciphertext and tag alike
        altered = bytearray(raw)
        altered[i] ^= 0x01
        with pytest.raises(DecryptionError, match="Person p-001 legal_name.*k1"):
            ring.decrypt(f"{head}:{b64(bytes(altered))}", *PLACE)


def test_truncated_or_garbled_tokens_are_refused(ring):
    token = ring.encrypt(NAME, *PLACE)
    for bad in (token[:-1], token[:-10], token + "A", token[:-1] + "!", "enc:v1:k1:", "enc:v1:k1:AAAA"):
        with pytest.raises(DecryptionError):
            ring.decrypt(bad, *PLACE)


@pytest.mark.parametrize(
    "elsewhere",
    [
        ("Person", "p-002", "legal_name"),  # another record
        ("Person", "p-001", "address"),  # another field
        ("Visit", "p-001", "legal_name"),  # another label
        ("Person", "p-0011", "legal_name"),
    ],
)
def test_a_token_moved_elsewhere_does_not_decrypt(ring, elsewhere):
    token = ring.encrypt(NAME, *PLACE)
    with pytest.raises(DecryptionError) as e:
        ring.decrypt(token, *elsewhere)
    assert " ".join(elsewhere) in str(e.value) and "k1" in str(e.value)
    assert NAME not in str(e.value) and "김영희" not in str(e.value)


def test_labels_and_fields_cannot_make_the_aad_ambiguous(ring):
    with pytest.raises(ValueError):
        ring.encrypt(NAME, "Person:p-001", "x", "legal_name")
    with pytest.raises(ValueError):
        ring.encrypt(NAME, "Person", "p-001", "legal:name")
    with pytest.raises(ValueError):
        ring.encrypt(NAME, "Person", "", "legal_name")


def test_an_unknown_key_is_an_error(ring):
    token = Keyring.generate("k9").encrypt(NAME, *PLACE)
    with pytest.raises(DecryptionError, match="unknown key k9") as e:
        ring.decrypt(token, *PLACE)
    assert "Person p-001 legal_name" in str(e.value)
    # a different key under the same kid fails authentication
    impostor = Keyring.generate("k1").encrypt(NAME, *PLACE)
    with pytest.raises(DecryptionError, match="k1"):
        ring.decrypt(impostor, *PLACE)


@pytest.mark.parametrize("plain", [NAME, "010-1234-5678", "enc:v1:k1:" + NAME, "enc:v2:k1:AAAA", "enc:v1:k1"])
def test_plaintext_is_never_accepted_as_decrypted(ring, plain):
    assert not is_encrypted(plain)
    assert ring.needs_rotation(plain)
    with pytest.raises(DecryptionError) as e:
        ring.decrypt(plain, *PLACE)
    assert NAME not in str(e.value) and "1234" not in str(e.value)


def test_is_encrypted():
    assert not is_encrypted(None) and not is_encrypted("") and not is_encrypted(42)
    assert is_encrypted(Keyring.generate().encrypt("a", *PLACE))


def test_keys_never_appear_in_repr():
    key = os.urandom(32)
    ring = Keyring({"k1": key}, "k1")
    assert b64(key) not in repr(ring) and key.hex() not in repr(ring)


# --- bytes (files: photos, receipts) ---------------------------------------------------

FILE = ("Photo", "ph-001", "original")
JPEG = b"\xff\xd8\xff\xe0" + "사진 속 주소: 서울 노원구".encode() + bytes(range(256)) * 4


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096, 20 * 1024 * 1024])
def test_bytes_round_trip(ring, size):
    data = os.urandom(size)
    blob = ring.encrypt_bytes(data, *FILE)
    assert len(blob) == 4 + 1 + 1 + len("k1") + 12 + size + 16
    assert ring.decrypt_bytes(blob, *FILE) == data
    assert ring.decrypt_bytes(bytearray(blob), *FILE) == data == ring.decrypt_bytes(memoryview(blob), *FILE)


def test_the_blob_format_is_header_nonce_ciphertext_tag(ring):
    blob = ring.encrypt_bytes(JPEG, *FILE)
    assert blob[:4] == b"GSEB" and blob[4] == 1 and blob[5] == 2 and blob[6:8] == b"k1"
    assert crypto.blob_kid(blob) == "k1" and crypto.is_encrypted_bytes(blob)
    assert (
        not crypto.is_encrypted_bytes(JPEG)
        and not crypto.is_encrypted_bytes("GSEB")
        and not crypto.is_encrypted_bytes(b"GSEB\x01")
    )
    blobs = {ring.encrypt_bytes(JPEG, *FILE) for _ in range(50)}
    assert len(blobs) == 50 and len({b[8:20] for b in blobs}) == 50  # a fresh nonce every time
    for part in (JPEG, JPEG[:8], "서울 노원구".encode(), bytes(range(40, 80))):
        assert part not in blob


def test_every_altered_byte_of_a_blob_is_detected(ring):
    blob = ring.encrypt_bytes(JPEG[:40], *FILE)
    for i in range(len(blob)):  # header, nonce, ciphertext and tag alike
        for flip in (0x01, 0x80):
            altered = bytearray(blob)
            altered[i] ^= flip
            with pytest.raises(DecryptionError, match="Photo ph-001 original") as e:
                ring.decrypt_bytes(bytes(altered), *FILE)
            assert "사진" not in str(e.value) and "\\x" not in str(e.value)


def test_truncated_blobs_and_other_data_are_refused(ring):
    blob = ring.encrypt_bytes(b"receipt", *FILE)
    for n in range(len(blob)):
        with pytest.raises(DecryptionError):
            ring.decrypt_bytes(blob[:n], *FILE)
    for bad in (JPEG, b"", blob + b"x"):
        with pytest.raises(DecryptionError):
            ring.decrypt_bytes(bad, *FILE)
    with pytest.raises(DecryptionError, match="unknown format version 2"):  # a later format is not read as this one
        ring.decrypt_bytes(b"GSEB\x02\x02k1" + blob[8:], *FILE)
    with pytest.raises(DecryptionError, match="not bytes"):
        ring.decrypt_bytes("GSEB...", *FILE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.encrypt_bytes("text", *FILE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "elsewhere",
    [
        ("Photo", "ph-002", "original"),  # another record
        ("Photo", "ph-001", "sanitized"),  # another field
        ("Receipt", "ph-001", "original"),  # another label
    ],
)
def test_a_blob_moved_elsewhere_does_not_decrypt(ring, elsewhere):
    blob = ring.encrypt_bytes(JPEG, *FILE)
    with pytest.raises(DecryptionError, match=" ".join(elsewhere) + ".*k1"):
        ring.decrypt_bytes(blob, *elsewhere)


def test_blobs_and_text_tokens_cannot_stand_for_each_other(ring):
    # a text token's payload under a blob's header, for the same place, fails: the header is
    # part of the associated data
    token = ring.encrypt(NAME, *PLACE)
    payload = unb64(token.rsplit(":", 1)[1])
    with pytest.raises(DecryptionError, match="altered"):
        ring.decrypt_bytes(b"GSEB\x01\x02k1" + payload, *PLACE)
    blob = ring.encrypt_bytes(NAME.encode(), *PLACE)
    with pytest.raises(DecryptionError):
        ring.decrypt(f"enc:v1:k1:{b64(blob[8:])}", *PLACE)


def test_the_header_key_id_is_authenticated():
    k1, k2 = os.urandom(32), os.urandom(32)
    ring = Keyring({"k1": k1, "k2": k2}, "k1")
    blob = ring.encrypt_bytes(JPEG, *FILE)
    with pytest.raises(DecryptionError, match="key k2"):  # pointed at the other key of the ring
        ring.decrypt_bytes(blob[:6] + b"k2" + blob[8:], *FILE)
    with pytest.raises(DecryptionError, match="unknown key k9"):
        ring.decrypt_bytes(Keyring.generate("k9").encrypt_bytes(JPEG, *FILE), *FILE)
    with pytest.raises(DecryptionError, match="altered"):  # another key under the same id
        ring.decrypt_bytes(Keyring.generate("k1").encrypt_bytes(JPEG, *FILE), *FILE)


def test_bytes_follow_key_rotation():
    old, new = os.urandom(32), os.urandom(32)
    before = Keyring({"k1": old}, "k1")
    blob = before.encrypt_bytes(JPEG, *FILE)
    assert not before.needs_rotation_bytes(blob)
    rotated = Keyring({"k2": new, "k1": old}, "k2")
    assert rotated.decrypt_bytes(blob, *FILE) == JPEG and rotated.needs_rotation_bytes(blob)
    again = rotated.encrypt_bytes(rotated.decrypt_bytes(blob, *FILE), *FILE)
    assert crypto.blob_kid(again) == "k2" and not rotated.needs_rotation_bytes(again)
    retired = Keyring({"k2": new}, "k2")
    assert retired.decrypt_bytes(again, *FILE) == JPEG
    with pytest.raises(DecryptionError, match="unknown key k1"):
        retired.decrypt_bytes(blob, *FILE)
    with pytest.raises(DecryptionError):
        rotated.needs_rotation_bytes(JPEG)


# --- the registry of encrypted fields --------------------------------------------------


def test_the_registry_names_each_field_once_with_its_kind():
    places = [(f.label, f.field) for f in ENCRYPTED_FIELDS]
    assert len(places) == len(set(places))
    assert {(f.label, f.field): f.kind for f in ENCRYPTED_FIELDS} == {
        ("Person", "legal_name"): FieldKind.IDENTITY,
        ("Person", "phone"): FieldKind.IDENTITY,
        ("Person", "address"): FieldKind.IDENTITY,
        ("Visit", "notes"): FieldKind.NOTES,
        ("User", "totp_secret"): FieldKind.ACCOUNT_SECRET,
    }
    ring = Keyring.generate("k1")
    for f in ENCRYPTED_FIELDS:  # every entry can be a token's place (identifiers, no ':')
        assert ring.decrypt(ring.encrypt("x", f.label, "r-1", f.field), f.label, "r-1", f.field) == "x"
    assert crypto.labels() == ("Person", "Visit", "User")
    assert crypto.record_key("Person") == "id" and crypto.record_key("User") == "username"
    with pytest.raises(KeyError):
        crypto.record_key("Household")


def test_exports_carry_identity_and_notes_never_account_secrets():
    assert IDENTITY_FIELDS == {"Person": ("legal_name", "phone", "address"), "Visit": ("notes",)}
    assert crypto.fields_of("User") == ("totp_secret",)
    assert crypto.fields_of("User", crypto.EXPORTED_KINDS) == ()


def test_encrypt_record_seals_the_registered_fields_it_carries():
    ring = Keyring.generate("k1")
    values = {"id": "p-001", "code_name": "들국화", "household_id": "h-1", "legal_name": NAME, "phone": "", "_line": 7}
    sealed = crypto.encrypt_record(ring, "Person", "p-001", values)
    assert values["legal_name"] == NAME, "the caller's mapping is left as it was"
    assert {k: sealed[k] for k in ("id", "code_name", "household_id", "_line")} == {
        "id": "p-001",
        "code_name": "들국화",
        "household_id": "h-1",
        "_line": 7,
    }
    assert sealed["phone"] is None and "address" not in sealed  # "" is None; absent stays absent
    assert ring.decrypt(sealed["legal_name"], *PLACE) == NAME
    with pytest.raises(DecryptionError):  # bound to the record it was made for
        ring.decrypt(sealed["legal_name"], "Person", "p-002", "legal_name")
    notes = crypto.encrypt_record(ring, "Visit", "v-1", {"notes": "메모", "outcome": "met"})
    assert ring.decrypt(notes["notes"], "Visit", "v-1", "notes") == "메모" and notes["outcome"] == "met"
    assert crypto.encrypt_record(ring, "Household", "h-1", {"code": "H-1"}) == {"code": "H-1"}


def test_encrypt_record_keeps_a_stored_token_only_when_nothing_changed():
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = Keyring({"k1": old_key}, "k1")
    ring = Keyring({"k2": new_key, "k1": old_key}, "k2")
    stored = crypto.encrypt_record(ring, "Person", "p-001", {"legal_name": NAME, "phone": "010", "address": "서울"})
    stored["address"] = old.encrypt("서울", "Person", "p-001", "address")  # under an older key
    again = crypto.encrypt_record(
        ring, "Person", "p-001", {"legal_name": NAME, "phone": "011", "address": "서울"}, stored=stored
    )
    assert again["legal_name"] == stored["legal_name"]  # same value, current key: the same token
    assert again["phone"] != stored["phone"] and ring.decrypt(again["phone"], "Person", "p-001", "phone") == "011"
    assert again["address"].startswith("enc:v1:k2:")  # same value, old key: encrypted anew
    cleared = crypto.encrypt_record(ring, "Person", "p-001", {"legal_name": None}, stored=stored)
    # a cleared field's blind indexes are cleared with it (graphsvc/blindindex.py)
    assert cleared == {"legal_name": None, "name_bi": None, "name_rev_bi": None, "bi_kid": "k2"}


# --- keys from the environment -------------------------------------------------------


def test_env_keyring_decrypts_both_and_encrypts_under_the_first(env):
    new, old = os.urandom(32), os.urandom(32)
    old_token = Keyring({"k1": old}, "k1").encrypt(NAME, *PLACE)
    new_token = Keyring({"k2": new}, "k2").encrypt(ADDRESS, *PLACE)
    env["GRAPHSVC_DATA_KEY"] = f"k2:{b64(new)},k1:{b64(old)}"
    ring = load_keyring(env)
    assert ring.current_kid == "k2" and set(ring.kids) == {"k1", "k2"}
    assert ring.decrypt(old_token, *PLACE) == NAME
    assert ring.decrypt(new_token, *PLACE) == ADDRESS
    assert ring.encrypt("x", *PLACE).startswith("enc:v1:k2:")
    assert ring.needs_rotation(old_token) and not ring.needs_rotation(new_token)
    assert not os.path.exists(env["GRAPHSVC_KEY_FILE"])  # the env wins; no key file made


def test_env_keys_with_padding_and_spaces_are_accepted(env):
    key = os.urandom(32)
    padded = base64.urlsafe_b64encode(key).decode()
    env["GRAPHSVC_DATA_KEY"] = f" k1:{padded} "
    assert load_keyring(env).current_kid == "k1"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "{key}",  # no kid
        "k1:{key},",  # empty entry
        "k1:{short}",  # 16-byte key
        "k1:{key}!",  # not base64url
        "k 1:{key}",  # bad kid
        "k1:{key},k1:{key2}",  # duplicate kid
        "k1:{std}",  # standard base64 (+ /), not base64url
    ],
)
def test_a_malformed_env_value_is_a_clear_error_without_key_material(env, value):
    key, key2, short = os.urandom(32), os.urandom(32), os.urandom(16)
    std = base64.b64encode(b"\xfb\xff" * 16).decode()  # has + and /
    value = value.format(key=b64(key), key2=b64(key2), short=b64(short), std=std)
    env["GRAPHSVC_DATA_KEY"] = value
    with pytest.raises(KeyringError, match="GRAPHSVC_DATA_KEY") as e:
        load_keyring(env)
    message = str(e.value)
    for secret in (b64(key), b64(key2), b64(short), std):
        assert secret not in message and secret[:8] not in message


# --- the key file --------------------------------------------------------------------


def test_the_key_file_is_created_0600_in_a_0700_folder(env):
    path = env["GRAPHSVC_KEY_FILE"]
    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        ring = load_keyring(env)
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600
    assert mode(os.path.dirname(path)) == 0o700
    doc = json.loads(open(path).read())
    assert doc["current"] == ring.current_kid and set(doc["keys"]) == {ring.current_kid}
    assert len(unb64(doc["keys"][ring.current_kid]["key"])) == 32
    assert doc["keys"][ring.current_kid]["created"].startswith("20")
    assert ring.current_kid.startswith("k2") and "T" in ring.current_kid
    assert os.listdir(os.path.dirname(path)) == ["data-keys.json"]  # no temp files left


def test_the_key_file_is_reused(env):
    first = load_keyring(env)
    token = first.encrypt(NAME, *PLACE)
    second = load_keyring(env)
    assert second.current_kid == first.current_kid
    assert second.decrypt(token, *PLACE) == NAME


# --- where the key files live: the state folder, or the old .secrets/ ----------------------


@pytest.fixture
def places(tmp_path, monkeypatch):
    """No key variables; the state folder and the old key folder under tmp_path."""
    for name in (
        "GRAPHSVC_DATA_KEY",
        "GRAPHSVC_KEY_FILE",
        "GRAPHSVC_SECRET_KEY",
        "GRAPHSVC_SECRET_FILE",
        "GRAPHSVC_AUDIT_JOURNAL_KEY",
        "GRAPHSVC_AUDIT_CHECKPOINT_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    legacy = tmp_path / "checkout" / ".secrets"
    monkeypatch.setattr(crypto, "LEGACY_KEY_DIR", legacy)
    monkeypatch.setattr(crypto, "_announced", set())
    state = tmp_path / "state"
    return {"GRAPHSVC_STATE_DIR": str(state)}, state / "keys", legacy


def test_a_new_installation_keeps_its_keys_in_the_state_folder(places, capsys):
    env, keys, legacy = places
    old_umask = os.umask(0)
    try:
        ring = load_keyring(env)
    finally:
        os.umask(old_umask)
    assert crypto.key_dir(env) == keys and crypto.key_file_path(env) == keys / "data-keys.json"
    assert mode(keys) == 0o700 and mode(keys / "data-keys.json") == 0o600
    assert "made a new data key file" in capsys.readouterr().err  # news: back it up
    assert load_keyring(env).current_kid == ring.current_kid and capsys.readouterr().err == ""
    crypto.journal_key(env), crypto.checkpoint_key(env)
    assert sorted(os.listdir(keys)) == ["audit-checkpoint.key", "audit-journal.key", "data-keys.json"]
    assert crypto.web_secret_path(env) == keys / "web-secret"
    assert not legacy.exists()


def test_the_key_folder_follows_the_database():
    for env in ({}, {"GRAPHSVC_NEO4J_INSTANCE": "test"}, {"NEO4J_URI": "bolt://db:7687", "NEO4J_DATABASE": "x"}):
        if crypto._key_files(crypto.LEGACY_KEY_DIR):
            pytest.skip(f"this checkout keeps its keys in {crypto.LEGACY_KEY_DIR}")
        assert crypto.key_dir(env) == load_settings(env).state_dir / "keys"
    assert crypto.key_dir({}) == crypto.PROJECT_ROOT / ".neo4j" / "instances" / "dev" / "keys"
    assert crypto.key_file_path({"GRAPHSVC_KEY_FILE": "/x/k.json"}) == crypto.Path("/x/k.json")
    assert crypto.web_secret_path({"GRAPHSVC_SECRET_FILE": "/x/s"}) == crypto.Path("/x/s")


def test_keys_at_the_old_place_keep_working_and_say_so_once(places, capsys):
    env, keys, legacy = places
    old = load_keyring({"GRAPHSVC_KEY_FILE": str(legacy / "data-keys.json")})
    token = old.encrypt(NAME, *PLACE)
    capsys.readouterr()
    ring = load_keyring(env)
    assert ring.current_kid == old.current_kid and ring.decrypt(token, *PLACE) == NAME
    assert crypto.key_file_path(env) == legacy / "data-keys.json"
    crypto.journal_key(env)  # the audit trail's keys and the web secret stay beside them
    assert (legacy / "audit-journal.key").exists() and crypto.web_secret_path(env) == legacy / "web-secret"
    assert not keys.exists(), "nothing is made at the new place while the old one holds keys"
    err = capsys.readouterr().err
    assert err.count(str(legacy)) >= 1 and f"mv {legacy}/* {keys}/" in err and "apart from the" in err
    load_keyring(env)
    assert capsys.readouterr().err == ""  # once per process
    # the variables still win
    assert crypto.key_file_path({**env, "GRAPHSVC_KEY_FILE": "/x/k.json"}) == crypto.Path("/x/k.json")


def test_any_key_file_keeps_the_old_place(places):
    env, keys, legacy = places
    legacy.mkdir(parents=True)
    (legacy / "web-secret").write_text("from an older version\n")
    assert crypto.key_dir(env) == legacy


def test_moved_keys_are_found_at_the_new_place(places, capsys):
    env, keys, legacy = places
    before = load_keyring({"GRAPHSVC_KEY_FILE": str(legacy / "data-keys.json")})
    crypto.journal_key({"GRAPHSVC_KEY_FILE": str(legacy / "data-keys.json")})
    keys.parent.mkdir(parents=True)
    os.rename(legacy, keys)  # what the notice says to do
    capsys.readouterr()
    assert load_keyring(env).current_kid == before.current_kid and capsys.readouterr().err == ""
    assert crypto.key_dir(env) == keys


def test_keys_in_both_places_are_refused(places):
    env, keys, legacy = places
    load_keyring({"GRAPHSVC_KEY_FILE": str(legacy / "data-keys.json")})
    load_keyring({"GRAPHSVC_KEY_FILE": str(keys / "data-keys.json")})
    for load in (load_keyring, crypto.journal_key, crypto.web_secret_path):
        with pytest.raises(KeyringError, match="two places") as e:
            load(env)
        assert str(legacy) in str(e.value) and str(keys) in str(e.value)
    assert sorted(os.listdir(keys)) == ["data-keys.json"] and sorted(os.listdir(legacy)) == ["data-keys.json"]


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644])
def test_a_key_file_open_to_group_or_others_is_refused(env, loose):
    path = env["GRAPHSVC_KEY_FILE"]
    load_keyring(env)
    os.chmod(path, loose)
    with pytest.raises(KeyringError, match=f"chmod 600 {path}"):
        load_keyring(env)
    with pytest.raises(KeyringError, match="chmod 600"):
        rotate_key_file(path, env=env)
    os.chmod(path, 0o600)
    assert load_keyring(env)


def test_a_broken_key_file_is_a_clear_error(env):
    path = env["GRAPHSVC_KEY_FILE"]
    load_keyring(env)
    doc = json.loads(open(path).read())
    doc["current"] = "nope"
    with open(path, "w") as f:
        json.dump(doc, f)
    with pytest.raises(KeyringError, match="current key 'nope'"):
        load_keyring(env)
    with open(path, "w") as f:
        f.write("{")
    with pytest.raises(KeyringError, match="not JSON"):
        load_keyring(env)


# --- rotation ------------------------------------------------------------------------


def test_rotation_keeps_old_keys_readable_and_makes_the_new_one_current(env):
    path = env["GRAPHSVC_KEY_FILE"]
    before = load_keyring(env)
    old_token = before.encrypt(NAME, *PLACE)
    new_kid = rotate_key_file(path, env=env)
    assert new_kid != before.current_kid and new_kid.startswith("k")
    assert mode(path) == 0o600
    after = load_keyring(env)
    assert after.current_kid == new_kid and set(after.kids) == {before.current_kid, new_kid}
    assert after.decrypt(old_token, *PLACE) == NAME
    assert after.needs_rotation(old_token)
    new_token = after.encrypt(after.decrypt(old_token, *PLACE), *PLACE)
    assert new_token.startswith(f"enc:v1:{new_kid}:") and not after.needs_rotation(new_token)
    assert sorted(os.listdir(os.path.dirname(path))) == ["data-keys.json"]


def test_two_rotations_give_distinct_key_ids(env):
    path = env["GRAPHSVC_KEY_FILE"]
    load_keyring(env)
    kids = {rotate_key_file(path, env=env) for _ in range(3)}
    assert len(kids) == 3 and len(load_keyring(env).kids) == 4


def test_retire_keys_removes_the_others(env):
    path = env["GRAPHSVC_KEY_FILE"]
    old = load_keyring(env)
    old_token = old.encrypt(NAME, *PLACE)
    new_kid = rotate_key_file(path, env=env)
    assert retire_keys(path, {new_kid}, env=env) == [old.current_kid]
    ring = load_keyring(env)
    assert ring.kids == (new_kid,) and ring.current_kid == new_kid
    assert mode(path) == 0o600
    with pytest.raises(DecryptionError, match=f"unknown key {old.current_kid}"):
        ring.decrypt(old_token, *PLACE)
    assert retire_keys(path, {new_kid}, env=env) == []


def test_retire_keys_refuses_to_drop_the_current_key_or_name_unknown_ones(env):
    path = env["GRAPHSVC_KEY_FILE"]
    old = load_keyring(env).current_kid
    new = rotate_key_file(path, env=env)
    with pytest.raises(KeyringError, match="current key"):
        retire_keys(path, {old}, env=env)
    with pytest.raises(KeyringError, match="no key ktypo"):
        retire_keys(path, {new, "ktypo"}, env=env)
    assert set(load_keyring(env).kids) == {old, new}


def test_rotation_is_refused_when_the_keys_come_from_the_environment(env):
    path = env["GRAPHSVC_KEY_FILE"]
    load_keyring(env)
    before = open(path).read()
    env["GRAPHSVC_DATA_KEY"] = f"k1:{b64(os.urandom(32))}"
    with pytest.raises(KeyringError, match="GRAPHSVC_DATA_KEY=new:"):
        rotate_key_file(path, env=env)
    with pytest.raises(KeyringError, match="GRAPHSVC_DATA_KEY=new:"):
        retire_keys(path, set(), env=env)
    assert open(path).read() == before


def test_rotation_defaults_to_os_environ(env, monkeypatch):
    monkeypatch.setenv("GRAPHSVC_DATA_KEY", f"k1:{b64(os.urandom(32))}")
    with pytest.raises(KeyringError, match="GRAPHSVC_DATA_KEY"):
        rotate_key_file(env["GRAPHSVC_KEY_FILE"])


def test_the_web_secret_is_made_in_the_key_folder(places):
    from dataclasses import replace

    from web import _web_secret

    env, keys, legacy = places
    os.environ["GRAPHSVC_STATE_DIR"] = env["GRAPHSVC_STATE_DIR"]
    try:
        settings = replace(load_settings(), secret_key=None)
        secret = _web_secret(settings)
    finally:
        del os.environ["GRAPHSVC_STATE_DIR"]
    assert len(secret) >= 64 and (keys / "web-secret").read_text().strip() == secret
    assert mode(keys / "web-secret") == 0o600
