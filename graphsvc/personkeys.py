"""Each person's own key: the identity fields of a person sealed so that erasing the person
destroys them everywhere (crypto-shredding, issue 15 §5).

A person's identity fields (crypto.ENCRYPTED_FIELDS: ``Person`` legal_name, phone,
address) are encrypted under a random 256-bit key of that person alone. The key is kept
in Neo4j wrapped by the installation's data key: ``(:PersonKey {person_id, wrapped})``
where ``wrapped`` is an ordinary ``enc:v1:<kid>:…`` token of the key, bound to
``PersonKey:<person id>:key``. Erasure (graphsvc/erasure.py) deletes the node: every copy of
the person's ciphertexts that outlives the graph's own (a stored answer, a transaction log,
a stray copy) can no longer be read.

Token format
    ``enc:p1:<payload>``: payload as in v1 (base64url of nonce || ciphertext || tag),
    AES-256-GCM under the person's key, with the same associated data as v1
    (``Person:<id>:<field>``). There is no key id: the key is the person's, found by the
    token's place. v1 tokens keep decrypting with the data keys.

Where keys are made
    New writes of the write service (households.add_person, update_person) make the
    person's key in their own transaction (``ring_in_tx``). Imports and the other writers
    still write v1 tokens; ``graphsvc keys personal`` (``upgrade``) moves every v1 identity
    field under a person key, and is safe to run again.

Rotation of the data key
    ``graphsvc keys rotate`` rewraps the person keys (``rewrap``: one small token per
    person) instead of re-encrypting their fields; p1 fields are left as they are.

>>> ring = PersonRing(Keyring.generate("k1"), {"p-1": bytes(32)})
>>> token = ring.encrypt("김철수", "Person", "p-1", "legal_name")
>>> token.startswith("enc:p1:") and is_personal(token) and ring.decrypt(token, "Person", "p-1", "legal_name")
'김철수'
>>> ring.encrypt("김철수", "Person", "p-2", "legal_name").startswith("enc:v1:k1:")  # no key: v1
True
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import audit
from .crypto import NONCE_BYTES, TAG_BYTES, DecryptionError, Keyring, blind_indexes, fields_of, is_encrypted
from .model import Actor

if TYPE_CHECKING:
    import neo4j

    from .db import Database

PREFIX = "enc:p1:"
LABEL = "Person"
KEY_LABEL = "PersonKey"
_TOKEN = re.compile(r"enc:p1:([A-Za-z0-9_-]{38,})")


def is_personal(value: object) -> bool:
    """True when ``value`` has the shape of a token under a person's key."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def wrap(keyring: Keyring, person_id: str, key: bytes) -> str:
    """The person's key sealed under the current data key, bound to this person."""
    token = keyring.encrypt(_b64(key), KEY_LABEL, person_id, "key")
    assert token is not None
    return token


def unwrap(keyring: Keyring, person_id: str, wrapped: str) -> bytes:
    plain = keyring.decrypt(wrapped, KEY_LABEL, person_id, "key")
    if plain is None:  # pragma: no cover - a stored key is never empty
        raise DecryptionError(f"cannot decrypt {KEY_LABEL} {person_id}: empty")
    return _unb64(plain)


def _aad(record_id: str, field: str) -> bytes:
    return f"{LABEL}:{record_id}:{field}".encode()


class PersonRing(Keyring):
    """A keyring that seals Person identity fields under each person's own key (when it
    has one for that person) and everything else under the data keys; it decrypts both
    token formats. ``lookup`` fetches keys it was not given (None: a person without a key).
    Everything else (blind indexes, bytes, current_kid) is the data keyring's own."""

    __slots__ = ("_keys", "_lookup", "data")

    def __init__(
        self,
        keyring: Keyring,
        keys: Mapping[str, bytes] | None = None,
        lookup: Callable[[str], bytes | None] | None = None,
    ) -> None:
        data: Keyring = keyring.data if isinstance(keyring, PersonRing) else keyring
        self.data: Keyring = data
        self._aead, self._blind, self._current, self.source = data._aead, data._blind, data._current, data.source
        self._keys: dict[str, bytes | None] = dict(keys or {})
        self._lookup = lookup

    def key_of(self, person_id: str) -> bytes | None:
        if person_id not in self._keys and self._lookup is not None:
            self._keys[person_id] = self._lookup(person_id)
        return self._keys.get(person_id)

    def encrypt(self, value: str | None, label: str, record_id: str, field: str) -> str | None:
        key = self.key_of(record_id) if label == LABEL else None
        if key is None or value is None or value == "":
            return super().encrypt(value, label, record_id, field)
        nonce = os.urandom(NONCE_BYTES)
        return PREFIX + _b64(nonce + AESGCM(key).encrypt(nonce, value.encode("utf-8"), _aad(record_id, field)))

    def decrypt(self, token: str | None, label: str, record_id: str, field: str) -> str | None:
        if not (isinstance(token, str) and token.startswith(PREFIX)):
            return super().decrypt(token, label, record_id, field)
        place = f"{label} {record_id} {field}"
        match = _TOKEN.fullmatch(token)
        if label != LABEL or match is None:
            raise DecryptionError(f"cannot decrypt {place}: malformed enc:p1 token")
        key = self.key_of(record_id)
        if key is None:
            raise DecryptionError(f"cannot decrypt {place}: the person's key does not exist (erased?)")
        try:
            raw = _unb64(match.group(1))
        except ValueError:
            raise DecryptionError(f"cannot decrypt {place}: malformed payload") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"cannot decrypt {place}: truncated payload")
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(record_id, field)).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError(
                f"cannot decrypt {place}: the token was altered or belongs to another record or field"
            ) from None

    def needs_rotation(self, token: str | None) -> bool:
        """A token under a person's key never needs the data key's rotation (its key is
        rewrapped instead); a v1 token as the data keyring says."""
        return False if is_personal(token) else super().needs_rotation(token)


def _unwrapped(keyring: Keyring, rows: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    return {r["person_id"]: unwrap(keyring, r["person_id"], r["wrapped"]) for r in rows}


def reader(db: Database, keyring: Keyring | PersonRing) -> PersonRing:
    """A ring for reads: a person's key is read from the database when first needed."""
    if isinstance(keyring, PersonRing):
        return keyring
    data = keyring

    def lookup(person_id: str) -> bytes | None:
        return _unwrapped(data, db.read("personkey_get", ids=[person_id])).get(person_id)

    return PersonRing(data, lookup=lookup)


def reader_in_tx(tx: neo4j.ManagedTransaction, db: Database, keyring: Keyring | PersonRing) -> PersonRing:
    """A ring for reads inside a caller's transaction."""
    if isinstance(keyring, PersonRing):
        return keyring
    data = keyring

    def lookup(person_id: str) -> bytes | None:
        return _unwrapped(data, db.run_in_tx(tx, "personkey_get", ids=[person_id])).get(person_id)

    return PersonRing(data, lookup=lookup)


def reader_all(db: Database, keyring: Keyring | PersonRing) -> PersonRing:
    """A ring holding every person's key at once (exports: one read, not one per person)."""
    data = keyring.data if isinstance(keyring, PersonRing) else keyring
    return PersonRing(data, _unwrapped(data, db.stream("personkey_all")))


def ring_in_tx(
    tx: neo4j.ManagedTransaction, db: Database, keyring: Keyring | PersonRing, person_ids: Iterable[str]
) -> PersonRing:
    """A ring for writing ``person_ids``' identity: each has a key of their own from now on
    (made here, in the caller's transaction, when missing); other people's keys are read
    when needed."""
    data = keyring.data if isinstance(keyring, PersonRing) else keyring
    ids = list(dict.fromkeys(person_ids))
    found = _unwrapped(data, db.run_in_tx(tx, "personkey_get", ids=ids))
    missing = [pid for pid in ids if pid not in found]
    if missing:
        rows = [{"person_id": pid, "wrapped": wrap(data, pid, os.urandom(32))} for pid in missing]
        found.update(_unwrapped(data, db.run_in_tx(tx, "personkey_create", rows=rows)))
    ring = reader_in_tx(tx, db, data)
    ring._keys.update(found)
    return ring


# --- upgrade and rotation (graphsvc keys personal / keys rotate) --------------------------


def upgrade(db: Database, keyring: Keyring, actor: Actor, batch_size: int = 500) -> dict[str, int]:
    """Move every identity field not yet under a person's key (v1 tokens, plaintext left by
    an old version) under one: the person's key is made, the fields re-encrypted, in
    batches, each audited (ids only). Safe to run again: done people are not read again."""
    names = fields_of(LABEL)
    rows = list(db.stream("personkey_people_to_upgrade"))
    people = fields = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]

        def work(tx: neo4j.ManagedTransaction, batch: list[dict[str, Any]]) -> int:
            ring = ring_in_tx(tx, db, keyring, [r["id"] for r in batch])
            out, moved = [], 0
            for row in batch:
                sealed: dict[str, Any] = {"key": row["id"]}
                for name in names:
                    token = row[name]
                    if token and not is_personal(token):
                        plain = ring.decrypt(token, LABEL, row["id"], name) if is_encrypted(token) else token
                        token = ring.encrypt(plain, LABEL, row["id"], name)
                        moved += 1
                    sealed[name] = token
                out.append(sealed)
            db.run_in_tx(tx, "personkey_write_people", rows=out)
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="keys.personal",
                detail=f"Person: {len(out)} people under keys of their own",
            )
            return moved

        fields += db.write_tx(work, batch, cls="batch")
        people += len(batch)
    return {"people": people, "fields": fields}


def rewrap(db: Database, keyring: Keyring, actor: Actor, batch_size: int = 2000) -> int:
    """Wrap every person key under the current data key (after ``keys rotate``); returns how
    many were rewrapped. Cheap: one short token per person, no identity field touched."""
    pending = [
        {
            "person_id": r["person_id"],
            "wrapped": wrap(keyring, r["person_id"], unwrap(keyring, r["person_id"], r["wrapped"])),
        }
        for r in db.stream("personkey_all")
        if keyring.needs_rotation(r["wrapped"])
    ]
    for start in range(0, len(pending), batch_size):

        def work(tx: neo4j.ManagedTransaction, rows: list[dict[str, Any]]) -> None:
            db.run_in_tx(tx, "personkey_rewrap", rows=rows)
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="keys.rewrap",
                detail=f"PersonKey: {len(rows)} keys to key {keyring.current_kid}",
            )

        db.write_tx(work, pending[start : start + batch_size], cls="batch")
    return len(pending)


def blind_indexes_of(ring: PersonRing, values: Mapping[str, Any]) -> dict[str, str | None]:
    """The blind indexes of a person's identity (plaintext values), as crypto.blind_indexes."""
    return blind_indexes(ring.data, LABEL, values)


def keys_of(db: Database, keyring: Keyring, person_ids: list[str]) -> dict[str, bytes]:
    """The keys of those of ``person_ids`` who have one (one read)."""
    data = keyring.data if isinstance(keyring, PersonRing) else keyring
    return _unwrapped(data, db.read("personkey_get", ids=person_ids)) if person_ids else {}
