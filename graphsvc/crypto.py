"""Field-level encryption of identifying data (AES-256-GCM), and the keys it uses.

A leak of who a household is or where it lives can endanger people and their relatives,
so the fields of ``ENCRYPTED_FIELDS``, the one registry of them, are encrypted one by one
before they reach Neo4j:

* ``Person``: ``legal_name``, ``phone``, ``address`` (the identity of a person)
* ``Visit``: ``notes`` (what a visitor wrote)
* ``User``: ``totp_secret`` (a secret of an account: never exported)

Import (``encrypt_record``), export and ``--redact``, key rotation (graphsvc/rekey.py) and
the tests read that registry; a new encrypted field is one entry there. Everything else
(ids, statuses, dates, the referral edges) stays in clear so that the graph can be
queried; the database never sees the keys. Files (photos, receipts) are encrypted whole
with ``Keyring.encrypt_bytes``.

Token format
    ``enc:v1:<kid>:<payload>`` where ``kid`` names the key and ``payload`` is the
    unpadded base64url encoding of ``nonce (12 random bytes) || ciphertext || tag (16)``.
    Every encryption draws a fresh nonce, so equal plaintexts give different tokens.
    ``None`` and ``""`` are not encrypted: they stay ``None``.

Bytes (files)
    ``Keyring.encrypt_bytes(data, label, record_id, field)`` seals a file's content whole
    (photos, receipts: up to a few tens of megabytes, in memory) into a binary blob:
    ``b"GSEB"``, a format version, the key id, a nonce, the ciphertext and tag (see
    BLOB_MAGIC). The same keys, key ids, place binding and rotation as the text tokens;
    ``decrypt_bytes`` refuses a blob that is altered (its header too), truncated, or made
    for another record or field.

Associated data
    Each token is bound to its place: the AAD is ``f"{label}:{record_id}:{field}"``
    (e.g. ``Person:p-001:legal_name``). A token copied to another record or another
    field fails authentication, as does a token with any byte changed. Labels and field
    names must be identifiers (no ``:``), which keeps the AAD unambiguous.

Where the keys live (``load_keyring``), in this order
    1. ``GRAPHSVC_DATA_KEY``: ``kid:base64url-key`` entries separated by ``,``; the first
       is current (used to encrypt), the others only decrypt. Use this in deployments
       (Docker, servers); make an entry with ``python -c "from graphsvc.crypto import
       new_key_entry; print(new_key_entry())"``.
    2. else a JSON key file, ``data-keys.json`` in the key folder (``key_dir``) unless
       ``GRAPHSVC_KEY_FILE`` names another:
       ``{"current": kid, "keys": {kid: {"key": base64url, "created": iso-time}}}``.
       It is created on first use with one random key, mode 0600 in a folder created
       0700, and replaced atomically on every change. A key file that group or others can
       access is refused. Losing the keys loses the data: back the file up, apart from
       database backups.

The key folder (``key_dir``): ``<state dir>/keys/``, beside the rest of the database's
state outside Neo4j (config.Settings.state_dir: the audit journal, stored files). An
installation from before that keeps its key files in ``PROJECT_ROOT/.secrets/``: while that
folder holds any of them it stays the key folder (said once on stderr, with how to move
them), so that no key is ever left behind or made anew beside an old one; key files in
both places are refused. The variables win over both: ``GRAPHSVC_KEY_FILE`` (the audit
trail's keys live beside it), ``GRAPHSVC_SECRET_FILE``, and the keys themselves in
``GRAPHSVC_DATA_KEY``, ``GRAPHSVC_SECRET_KEY``, ``GRAPHSVC_AUDIT_JOURNAL_KEY``,
``GRAPHSVC_AUDIT_CHECKPOINT_KEY``.

Rotation
    Key file: ``rotate_key_file()`` adds a new key and makes it current, keeping the old
    ones so that existing tokens stay readable; re-encrypt every field whose
    ``Keyring.needs_rotation(token)`` is true (``encrypt(decrypt(token))``), then
    ``retire_keys(path, keep={new_kid})`` drops the old keys.
    Environment: put a new entry first, ``GRAPHSVC_DATA_KEY=new:...,old:...``, re-encrypt,
    then remove the old entry. The key-file functions refuse to run while
    ``GRAPHSVC_DATA_KEY`` is set, since the file is not the keyring in use then.

Errors never include key material or plaintext: ``DecryptionError`` names the place
(label, record id, field) and the kid; ``KeyringError`` names the variable or the file.

>>> ring = Keyring.generate("k1")
>>> token = ring.encrypt("김철수", "Person", "p-001", "legal_name")
>>> token.startswith("enc:v1:k1:") and is_encrypted(token)
True
>>> ring.decrypt(token, "Person", "p-001", "legal_name")
'김철수'
>>> ring.decrypt(token, "Person", "p-002", "legal_name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
graphsvc.crypto.DecryptionError: cannot decrypt Person p-002 legal_name (key k1): the token was altered or ...
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from graphsvc.config import PROJECT_ROOT, load_settings

try:  # POSIX: serialise concurrent writers of the key file
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class FieldKind(enum.Enum):
    """What an encrypted field holds, which decides where it may go."""

    IDENTITY = "identity"  # who a person is and where they live: exported unless --redact
    NOTES = "notes"  # what a visitor wrote at a visit: exported unless --redact
    ACCOUNT_SECRET = "account_secret"  # a secret of an account (TOTP seed): never exported


@dataclass(frozen=True)
class EncryptedField:
    """One encrypted property: ``label``'s nodes keep ``field`` as a token bound to the
    record whose ``key`` property (its stable id) names it."""

    label: str
    field: str
    kind: FieldKind
    key: str = "id"


#: Every property that is encrypted before it reaches Neo4j, in one place.
ENCRYPTED_FIELDS: tuple[EncryptedField, ...] = (
    EncryptedField("Person", "legal_name", FieldKind.IDENTITY),
    EncryptedField("Person", "phone", FieldKind.IDENTITY),
    EncryptedField("Person", "address", FieldKind.IDENTITY),
    EncryptedField("Visit", "notes", FieldKind.NOTES),
    EncryptedField("User", "totp_secret", FieldKind.ACCOUNT_SECRET, key="username"),
)

#: The kinds that an export carries (decrypted, or left empty with ``--redact``).
EXPORTED_KINDS = frozenset({FieldKind.IDENTITY, FieldKind.NOTES})


# label → its encrypted fields, for the per-record calls (encrypt_record runs once a row)
_FIELDS: dict[str, tuple[str, ...]] = {}
for _f in ENCRYPTED_FIELDS:
    _FIELDS[_f.label] = (*_FIELDS.get(_f.label, ()), _f.field)
del _f


def labels() -> tuple[str, ...]:
    """The labels that have encrypted fields, in the registry's order.

    >>> labels()
    ('Person', 'Visit', 'User')
    """
    return tuple(dict.fromkeys(f.label for f in ENCRYPTED_FIELDS))


def fields_of(label: str, kinds: Collection[FieldKind] | None = None) -> tuple[str, ...]:
    """The encrypted fields of ``label`` (of those ``kinds`` only, when given); () for a
    label with none.

    >>> fields_of("Person"), fields_of("User", EXPORTED_KINDS), fields_of("Household")
    (('legal_name', 'phone', 'address'), (), ())
    """
    if kinds is None:
        return _FIELDS.get(label, ())
    return tuple(f.field for f in ENCRYPTED_FIELDS if f.label == label and f.kind in kinds)


def record_key(label: str) -> str:
    """The property that identifies a record of ``label`` (the id its tokens are bound to)."""
    keys = {f.key for f in ENCRYPTED_FIELDS if f.label == label}
    if len(keys) != 1:
        raise KeyError(f"{label} has no encrypted fields" if not keys else f"{label}: several record keys")
    return keys.pop()


#: label → its encrypted fields that an export carries (derived from ENCRYPTED_FIELDS).
IDENTITY_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {label: fields_of(label, EXPORTED_KINDS) for label in labels() if fields_of(label, EXPORTED_KINDS)}
)

ENV_KEYS = "GRAPHSVC_DATA_KEY"
ENV_KEY_FILE = "GRAPHSVC_KEY_FILE"
ENV_SECRET_FILE = "GRAPHSVC_SECRET_FILE"
DATA_KEY_FILE = "data-keys.json"
WEB_SECRET_FILE = "web-secret"
# Where the key files were kept before they moved under the state folder (see key_dir).
LEGACY_KEY_DIR = PROJECT_ROOT / ".secrets"

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"enc:v1:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]+)")
# the shortest payload: nonce + tag around an empty ciphertext
_MIN_PAYLOAD_CHARS = -(-(NONCE_BYTES + TAG_BYTES) * 4 // 3)


class CryptoError(Exception):
    """Base class of this module's errors."""


class KeyringError(CryptoError):
    """The keys cannot be loaded or changed (bad variable, unsafe or broken key file)."""


class DecryptionError(CryptoError):
    """A value could not be decrypted: altered, misplaced, unknown key, or not a token."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict unpadded-or-padded base64url; raises ValueError."""
    body = text.rstrip("=")
    if not _B64URL.fullmatch(body) or len(text) - len(body) > 2:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


def new_kid() -> str:
    """A fresh key id: ``k`` + UTC time + a short random suffix, e.g. ``k20261125T010203-9f3a``."""
    return f"k{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def new_key_entry() -> str:
    """A new ``kid:base64url-key`` entry for ``GRAPHSVC_DATA_KEY``."""
    return f"{new_kid()}:{_b64encode(os.urandom(KEY_BYTES))}"


def is_encrypted(value: object) -> bool:
    """True when ``value`` has the shape of a token (``enc:v1:<kid>:<payload>``)."""
    if not isinstance(value, str):
        return False
    match = _TOKEN.fullmatch(value)
    return match is not None and len(match.group(2)) >= _MIN_PAYLOAD_CHARS


class Keyring:
    """Named AES-256 keys, one of them current; encrypts and decrypts fields.

    The AESGCM objects are built once per key; a Keyring is immutable and safe to share
    between threads.
    """

    __slots__ = ("_aead", "_blind", "_current", "source")

    def __init__(self, keys: Mapping[str, bytes], current: str, *, source: str = "memory") -> None:
        if not keys:
            raise KeyringError(f"{source}: no keys")
        aead: dict[str, AESGCM] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _KID.fullmatch(kid):
                raise KeyringError(f"{source}: a key id must be 1-64 characters of A-Z a-z 0-9 _ -")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyringError(f"{source}: key {kid} must be {KEY_BYTES} bytes")
            aead[kid] = AESGCM(key)
        if current not in aead:
            raise KeyringError(f"{source}: the current key {current!r} is not among the keys")
        self._aead = aead
        # the blind index's own key, one per data key (see blind_key): rotated with them
        self._blind = blind_key(keys[current])
        self._current = current
        self.source = source

    @classmethod
    def generate(cls, kid: str | None = None) -> Keyring:
        """A keyring of one new random key (for tests and tools; not persisted)."""
        kid = kid or new_kid()
        return cls({kid: os.urandom(KEY_BYTES)}, kid)

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._aead)

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(current={self._current!r}, kids={list(self._aead)!r}, source={self.source!r})"

    def encrypt(self, value: str | None, label: str, record_id: str, field: str) -> str | None:
        """The token for ``value`` under the current key, bound to label/record_id/field."""
        aad = _aad(label, record_id, field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise TypeError(f"{label} {record_id} {field}: can only encrypt str, not {type(value).__name__}")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(nonce, value.encode("utf-8"), aad)
        return f"{PREFIX}{self._current}:{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str | None, label: str, record_id: str, field: str) -> str | None:
        """The plaintext of ``token``; raises DecryptionError unless it is an authentic
        token made for exactly this label/record_id/field."""
        aad = _aad(label, record_id, field)
        if token is None or token == "":
            return None
        place = f"{label} {record_id} {field}"
        if not isinstance(token, str) or not token.startswith("enc:"):
            raise DecryptionError(f"cannot decrypt {place}: the value is not encrypted")
        match = _TOKEN.fullmatch(token)
        if not match:
            raise DecryptionError(f"cannot decrypt {place}: not an enc:v1 token")
        kid, payload = match.groups()
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(
                f"cannot decrypt {place}: unknown key {kid} (keys: {', '.join(self._aead)}; source {self.source})"
            )
        try:
            raw = _b64decode(payload)
        except ValueError:
            raise DecryptionError(f"cannot decrypt {place} (key {kid}): malformed payload") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"cannot decrypt {place} (key {kid}): truncated payload")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
            return plain.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError(
                f"cannot decrypt {place} (key {kid}): the token was altered or belongs to another record or field"
            ) from None

    def blind_index(self, kind: str, value: str | None) -> str | None:
        """The blind index of ``value`` as a ``kind`` (``phone``, ``name``, ``address``):
        a keyed hash (HMAC-SHA256 under the current key's blind-index key) of its normalised
        form (graphsvc/blindindex.py), so that equal values can be found without decrypting
        any; None for an empty value or one too short to mean anything (never matches).

        >>> ring = Keyring.generate("k1")
        >>> ring.blind_index("phone", "010-1234-5678") == ring.blind_index("phone", "+82 10 1234 5678")
        True
        >>> ring.blind_index("name", "김"), ring.blind_index("phone", "")
        (None, None)
        """
        from .blindindex import normalise

        form = normalise(kind, value)
        return None if form is None else self.blind_hash(kind, form)

    def blind_hash(self, kind: str, form: str) -> str:
        """The keyed hash of an already normalised form (32 hex digits: 128 bits)."""
        mac = hmac.new(self._blind, f"{kind}\x00{form}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def needs_rotation(self, token: str | None) -> bool:
        """True when ``token`` is not a token under the current key (an older key, or not
        encrypted at all); False for None and ""."""
        if token is None or token == "":
            return False
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        return match is None or match.group(1) != self._current

    # --- bytes: files (photos, receipts) -------------------------------------------------

    def encrypt_bytes(self, data: Bytes, label: str, record_id: str, field: str) -> bytes:
        """``data`` sealed under the current key, bound to label/record_id/field: a blob
        of the binary format described at BLOB_MAGIC (header, nonce, ciphertext, tag).

        Every call draws a fresh nonce. Empty data is sealed too (it is a file's content,
        not a missing value). Made for files up to a few tens of megabytes, in memory.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{label} {record_id} {field}: can only encrypt bytes, not {type(data).__name__}")
        header = _blob_header(self._current)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(nonce, data, header + _aad(label, record_id, field))
        return b"".join((header, nonce, sealed))

    def decrypt_bytes(self, blob: Bytes, label: str, record_id: str, field: str) -> bytes:
        """The data sealed in ``blob``; raises DecryptionError unless it is an authentic blob
        made for exactly this label/record_id/field (its header included)."""
        aad = _aad(label, record_id, field)
        place = f"{label} {record_id} {field}"
        kid, header, body = _blob_parts(blob, place)
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(
                f"cannot decrypt {place}: unknown key {kid} (keys: {', '.join(self._aead)}; source {self.source})"
            )
        if len(body) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"cannot decrypt {place} (key {kid}): truncated data")
        try:
            return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], bytes(header) + aad)
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt {place} (key {kid}): the data was altered or belongs to another record or field"
            ) from None

    def needs_rotation_bytes(self, blob: Bytes) -> bool:
        """True when ``blob`` is not sealed under the current key (re-encrypt it with
        ``encrypt_bytes(decrypt_bytes(blob, …), …)``); DecryptionError when it is no blob."""
        return blob_kid(blob) != self._current


# The binary format of encrypted bytes (files), version 1:
#
#     offset  size  what
#     0       4     BLOB_MAGIC, b"GSEB" (graphsvc encrypted bytes)
#     4       1     format version, 1
#     5       1     n, the length of the key id (1-64)
#     6       n     the key id, ASCII (the same ids as the text tokens)
#     6+n     12    nonce (random)
#     18+n    rest  AES-256-GCM ciphertext, then its 16-byte tag
#
# The associated data is the header (bytes 0 to 6+n) followed by the text tokens' place,
# ``label:record_id:field``: a blob is bound to its record and field like a token, and its
# header (version, key id) cannot be changed without failing authentication. The header
# makes blobs and text tokens distinct: neither can be passed off as the other.
BLOB_MAGIC = b"GSEB"
BLOB_VERSION = 1
Bytes = bytes | bytearray | memoryview


def _blob_header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    return BLOB_MAGIC + bytes((BLOB_VERSION, len(encoded))) + encoded


def _blob_parts(blob: Bytes, place: str) -> tuple[str, memoryview, memoryview]:
    """The key id, the header and what follows it (nonce, ciphertext, tag), without copying."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise DecryptionError(f"cannot decrypt {place}: not bytes")
    view = memoryview(blob).cast("B")
    if len(view) < 6 or view[:4] != BLOB_MAGIC:
        raise DecryptionError(f"cannot decrypt {place}: not encrypted bytes")
    if view[4] != BLOB_VERSION:
        raise DecryptionError(f"cannot decrypt {place}: unknown format version {view[4]}")
    end = 6 + view[5]
    try:
        kid = bytes(view[6:end]).decode("ascii") if len(view) >= end else ""
    except UnicodeDecodeError:
        kid = ""
    if not _KID.fullmatch(kid):
        raise DecryptionError(f"cannot decrypt {place}: malformed header")
    return kid, view[:end], view[end:]


def blob_kid(blob: Bytes) -> str:
    """The key id that ``blob`` (from Keyring.encrypt_bytes) names; DecryptionError when it
    is not encrypted bytes."""
    return _blob_parts(blob, "blob")[0]


def is_encrypted_bytes(blob: object) -> bool:
    """True when ``blob`` has the header of encrypted bytes (it may still fail to decrypt)."""
    try:
        _blob_parts(blob, "blob")  # type: ignore[arg-type]
    except DecryptionError:
        return False
    return True


def blind_key(data_key: bytes) -> bytes:
    """The blind index's own key, derived from a data key (HKDF-SHA256, its own label): a
    key of its own (an index value tells nothing of the data key, and the AES key is never
    used for hashing), kept wherever the data keys are (key file or GRAPHSVC_DATA_KEY) and
    rotated with them: a new current data key gives a new blind-index key, and
    ``graphsvc keys rotate`` (graphsvc/rekey.py) recomputes every blind index under it."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"graphsvc blind index v1").derive(data_key)


def _aad(label: str, record_id: str, field: str) -> bytes:
    if not isinstance(label, str) or not _NAME.fullmatch(label):
        raise ValueError("label must be an identifier such as 'Person'")
    if not isinstance(field, str) or not _NAME.fullmatch(field):
        raise ValueError("field must be an identifier such as 'legal_name'")
    if not isinstance(record_id, str) or not record_id:
        raise ValueError(f"{label} {field}: record_id must be a non-empty str")
    return f"{label}:{record_id}:{field}".encode()


def encrypt_record(
    keyring: Keyring, label: str, record_id: str, values: Mapping[str, Any], *, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A copy of ``values`` (one record of ``label``) whose encrypted fields are tokens.

    Every field of ``label`` in ENCRYPTED_FIELDS that ``values`` carries is encrypted,
    bound to ``record_id`` and the field (None and "" become None); the other keys are
    copied as they are, and a field ``values`` does not carry is not added. The one place
    that seals a record before it is written: the importer and the write services call it.

    ``stored``: the record's tokens as they are in the database. A field whose stored
    token is under the current key and decrypts to the same value keeps that token, so
    that writing an unchanged record changes nothing, not even a nonce.

    >>> ring = Keyring.generate("k1")
    >>> row = encrypt_record(ring, "Person", "p-1", {"id": "p-1", "code_name": "들국화", "phone": "010-1"})
    >>> row["code_name"], row["phone"].startswith("enc:v1:k1:"), "address" in row
    ('들국화', True, False)
    >>> encrypt_record(ring, "Person", "p-1", {"phone": "010-1"}, stored=row)["phone"] == row["phone"]
    True
    """
    sealed = dict(values)
    for name in fields_of(label):
        if name not in sealed:
            continue
        value = sealed[name]
        token = stored.get(name) if stored else None
        if (
            value is not None
            and token
            and not keyring.needs_rotation(token)
            and keyring.decrypt(token, label, record_id, name) == value
        ):
            sealed[name] = token
        else:
            sealed[name] = keyring.encrypt(value, label, record_id, name)
    sealed.update(blind_indexes(keyring, label, values))
    return sealed


#: label → the blind-index properties kept beside its encrypted fields (graphsvc/blindindex.py)
BLIND_INDEXED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"Person": ("phone_bi", "name_bi", "name_rev_bi", "address_bi", "bi_kid")}
)


def blind_indexes(keyring: Keyring, label: str, values: Mapping[str, Any]) -> dict[str, str | None]:
    """The blind indexes of the identity fields that ``values`` carries (plaintext), and
    ``bi_kid``, the key they were made under: ``{}`` for a label without blind indexes or
    values without identity fields. An empty value's index is None (it never matches).

    >>> ring = Keyring.generate("k1")
    >>> bi = blind_indexes(ring, "Person", {"legal_name": "영희 김", "phone": None})
    >>> bi["name_rev_bi"] == ring.blind_index("name", "김영희"), bi["phone_bi"], bi["bi_kid"], "address_bi" in bi
    (True, None, 'k1', False)
    """
    from . import blindindex

    if label not in BLIND_INDEXED:
        return {}
    out: dict[str, str | None] = {}
    for kind, field in blindindex.FIELDS.items():
        if field in values:
            out[blindindex.PROPERTIES[kind]] = keyring.blind_index(kind, values[field])
            if kind == "name":
                rev = blindindex.name_reversed(values[field]) if values[field] else None
                out["name_rev_bi"] = keyring.blind_hash("name", rev) if rev else None
    if out:
        out["bi_kid"] = keyring.current_kid
    return out


# --- loading -------------------------------------------------------------------------


_announced: set[Path] = set()


def key_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of the key files that no variable places elsewhere: ``<state dir>/keys/``
    of the database the environment points at, or the old ``PROJECT_ROOT/.secrets/`` while
    it holds a key file (with a notice on stderr, once per process). KeyringError when
    both hold key files: which of them encrypt this database is not for graphsvc to guess.
    """
    env = os.environ if env is None else env
    new = load_settings(env).key_dir
    old = LEGACY_KEY_DIR
    if not _key_files(old) or _same_folder(old, new):
        return new
    if _key_files(new):
        raise KeyringError(
            f"key files in two places, {old} ({', '.join(_key_files(old))}) and {new} "
            f"({', '.join(_key_files(new))}): which of them encrypt this database cannot be told. "
            f"Keep one folder (compare them; move the other one away), or set {ENV_KEY_FILE}"
        )
    if old not in _announced:
        _announced.add(old)
        print(
            f"graphsvc: the key files are read from {old}, where they were kept before; that keeps "
            f"working. Their place is now the database's state folder: {new}. To move them, stop "
            f"graphsvc, then: mkdir -p -m 700 {new} && mv {old}/* {new}/ (and copy them to the "
            f"keys/ folder of any other database that uses them). Back them up apart from the "
            f"database either way.",
            file=sys.stderr,
        )
    return old


def _key_files(folder: Path) -> list[str]:
    return [name for name in KEY_FILES if (folder / name).exists()]


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def key_file_path(env: Mapping[str, str] | None = None) -> Path:
    """The data key file: ``GRAPHSVC_KEY_FILE``, else ``data-keys.json`` in ``key_dir``."""
    env = os.environ if env is None else env
    return Path(env[ENV_KEY_FILE]) if env.get(ENV_KEY_FILE) else key_dir(env) / DATA_KEY_FILE


def web_secret_path(env: Mapping[str, str] | None = None) -> Path:
    """The web app's secret file (when ``GRAPHSVC_SECRET_KEY`` is unset):
    ``GRAPHSVC_SECRET_FILE``, else ``web-secret`` in ``key_dir``."""
    env = os.environ if env is None else env
    return Path(env[ENV_SECRET_FILE]) if env.get(ENV_SECRET_FILE) else key_dir(env) / WEB_SECRET_FILE


def load_keyring(env: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from ``GRAPHSVC_DATA_KEY`` if set, else from the key file (created
    with a new key on first use)."""
    env = os.environ if env is None else env
    if ENV_KEYS in env:
        return _keyring_from_env(env[ENV_KEYS])
    path = key_file_path(env)
    if not path.exists():
        _create_key_file(path)
    return _keyring_from_doc(_read_key_file(path), path)


def _keyring_from_env(value: str) -> Keyring:
    fix = "expected kid:base64url-key[,kid:base64url-key...] with 32-byte keys, the current one first"
    if not value.strip():
        raise KeyringError(f"{ENV_KEYS} is set but empty; unset it to use the key file ({fix})")
    entries = value.split(",")
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(entries, 1):
        where = f"{ENV_KEYS}: entry {n} of {len(entries)}"
        kid, sep, encoded = entry.strip().partition(":")
        if not sep or not _KID.fullmatch(kid):
            raise KeyringError(f"{where} is malformed; {fix}")
        try:
            key = _b64decode(encoded.strip())
        except ValueError:
            raise KeyringError(f"{where} (key id {kid}): the key is not base64url; {fix}") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{where} (key id {kid}): the key is {len(key)} bytes, not {KEY_BYTES}; {fix}")
        if kid in keys:
            raise KeyringError(f"{where}: key id {kid} appears twice")
        keys[kid] = key
    return Keyring(keys, next(iter(keys)), source=f"${ENV_KEYS}")


def _keyring_from_doc(doc: dict[str, Any], path: Path) -> Keyring:
    keys = {kid: _b64decode(entry["key"]) for kid, entry in doc["keys"].items()}
    return Keyring(keys, doc["current"], source=str(path))


def _read_private(fd: int, path: Path) -> bytes:
    """The bytes of the key file open at ``fd`` (closed here), refused unless it is a
    regular file that only its owner can access (checked on the open file, not the path)."""
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyringError(f"key file {path} is not a regular file")
        if mode & 0o077:
            raise KeyringError(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
                f"refusing to use it. Fix with: chmod 600 {path}"
            )
        return f.read()


def _read_key_file(path: Path) -> dict[str, Any]:
    """The validated JSON document of a key file that only its owner can access."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyringError(f"key file {path} does not exist") from None
    except PermissionError:
        raise KeyringError(f"key file {path} is not readable by this user") from None
    raw = _read_private(fd, path)
    bad = f"key file {path} is not a valid key file"
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeyringError(f"{bad} (not JSON)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), dict) or not doc["keys"]:
        raise KeyringError(f'{bad} (expected {{"current": kid, "keys": {{kid: {{"key": ..., "created": ...}}}}}})')
    for kid, entry in doc["keys"].items():
        if not _KID.fullmatch(kid) or not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise KeyringError(f"{bad} (entry for key id {kid!r})")
        try:
            key = _b64decode(entry["key"])
        except ValueError:
            raise KeyringError(f"{bad} (key {kid} is not base64url)") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{bad} (key {kid} is {len(key)} bytes, not {KEY_BYTES})")
    if doc.get("current") not in doc["keys"]:
        raise KeyringError(f"{bad} (current key {doc.get('current')!r} is not among the keys)")
    return doc


def _new_entry() -> tuple[str, dict[str, str]]:
    return new_kid(), {
        "key": _b64encode(os.urandom(KEY_BYTES)),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _ensure_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask; make it exact
    except OSError as e:
        raise KeyringError(
            f"cannot create the key folder {folder} ({e.strerror}); set {ENV_KEYS} "
            f"or point {ENV_KEY_FILE} at a writable place"
        ) from None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the key folder, so that concurrent writers do not lose keys."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_temp(path: Path, doc: dict[str, Any]) -> Path:
    """``doc`` in a new 0600 file beside ``path``, flushed to disk."""
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("ascii")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_key_file(path: Path) -> None:
    """A new key file with one random key; never overwrites an existing one."""
    _ensure_folder(path.parent)
    with _locked(path.parent):
        if path.exists():
            return  # another process made it meanwhile
        kid, entry = _new_entry()
        tmp = _write_temp(path, {"current": kid, "keys": {kid: entry}})
        try:
            os.link(tmp, path)  # atomic, and fails rather than replace an existing file
        except FileExistsError:
            return
        finally:
            tmp.unlink()
        _fsync_folder(path.parent)
    # a new key is news: data written from now on cannot be read without this file
    print(
        f"graphsvc: made a new data key file {path} (key {kid}). Back it up apart from the "
        f"database: without it the identity data cannot be read.",
        file=sys.stderr,
    )


def _replace_key_file(path: Path, doc: dict[str, Any]) -> None:
    tmp = _write_temp(path, doc)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


# --- rotation ------------------------------------------------------------------------


def _refuse_with_env(env: Mapping[str, str] | None, action: str) -> None:
    env = os.environ if env is None else env
    if ENV_KEYS in env:
        raise KeyringError(
            f"cannot {action}: the keys come from {ENV_KEYS}, not from a key file. "
            f"Rotate by setting {ENV_KEYS}=new:<key>,old:<key> (new first; make an entry with "
            f"graphsvc.crypto.new_key_entry()), re-encrypt, then drop the old entry"
        )


def rotate_key_file(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """Add a new random key to the key file and make it current; the old keys stay so
    that existing tokens remain readable. Returns the new key id."""
    _refuse_with_env(env, "rotate the key file")
    path = Path(path) if path is not None else key_file_path(env)
    if not path.exists():
        raise KeyringError(f"key file {path} does not exist; nothing to rotate")
    with _locked(path.parent):
        doc = _read_key_file(path)
        kid, entry = _new_entry()
        while kid in doc["keys"]:  # pragma: no cover - same second and same suffix
            kid, entry = _new_entry()
        doc["keys"][kid] = entry
        doc["current"] = kid
        _replace_key_file(path, doc)
    return kid


def retire_keys(
    path: str | os.PathLike[str] | None, keep: set[str], *, env: Mapping[str, str] | None = None
) -> list[str]:
    """Remove the keys not in ``keep`` from the key file (re-encrypt everything under the
    kept keys first: tokens of removed keys become unreadable). ``keep`` must include the
    current key and name only existing keys. Returns the removed key ids."""
    _refuse_with_env(env, "retire keys")
    path = Path(path) if path is not None else key_file_path(env)
    keep = set(keep)
    with _locked(path.parent):
        doc = _read_key_file(path)
        unknown = keep - doc["keys"].keys()
        if unknown:
            raise KeyringError(f"key file {path} has no key {', '.join(sorted(unknown))}; nothing removed")
        if doc["current"] not in keep:
            raise KeyringError(f"cannot retire the current key {doc['current']} of {path}; nothing removed")
        removed = sorted(set(doc["keys"]) - keep)
        if removed:
            doc["keys"] = {kid: entry for kid, entry in doc["keys"].items() if kid in keep}
            _replace_key_file(path, doc)
    return removed


# --- the audit trail's keys ----------------------------------------------------------------
#
# Two more secrets, kept like the data keys (outside the database, never in git), each 32
# random bytes as unpadded base64url: from its environment variable (deployments), else from
# a file beside the data key file (in key_dir unless ``GRAPHSVC_KEY_FILE`` moves it), mode
# 0600 in a 0700 folder, created on first use. A file that group or others can access is
# refused, as is a malformed value.
#
# * the journal key (``GRAPHSVC_AUDIT_JOURNAL_KEY``, ``audit-journal.key``): HMAC-SHA256 key
#   that chains the audit journal's lines (graphsvc/journal.py). Every process writing or
#   shipping one journal needs the same key. Losing it loses nothing: lines written under
#   an old key are still shipped, each with a damage notice.
# * the checkpoint key (``GRAPHSVC_AUDIT_CHECKPOINT_KEY``, ``audit-checkpoint.key``): the
#   Ed25519 private key (its 32-byte seed) that signs audit checkpoints
#   (graphsvc/checkpoints.py). Keep a copy of its public key with the copies of the
#   checkpoint file; the private key never needs to leave the server.

ENV_JOURNAL_KEY = "GRAPHSVC_AUDIT_JOURNAL_KEY"
ENV_CHECKPOINT_KEY = "GRAPHSVC_AUDIT_CHECKPOINT_KEY"
JOURNAL_KEY_FILE = "audit-journal.key"
CHECKPOINT_KEY_FILE = "audit-checkpoint.key"
SECRET_BYTES = 32
#: Every file that lives in the key folder.
KEY_FILES = (DATA_KEY_FILE, JOURNAL_KEY_FILE, CHECKPOINT_KEY_FILE, WEB_SECRET_FILE)


def secret_path(file_name: str, env: Mapping[str, str] | None = None) -> Path:
    """Where the key file ``file_name`` lives: beside the data key file."""
    return key_file_path(env).parent / file_name


def load_secret(
    env_name: str, file_name: str, *, env: Mapping[str, str] | None = None, create: bool = True
) -> bytes | None:
    """A 32-byte secret from ``env_name``, else from its key file (created when ``create``;
    None when it does not exist and ``create`` is false). Raises KeyringError, naming the
    variable or the file, for a malformed value or an unsafe file."""
    env = os.environ if env is None else env
    fix = (
        f"expected {SECRET_BYTES} random bytes as base64url (make one with: python -c "
        f"\"import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode())\")"
    )
    if env_name in env:
        return _secret_value(env[env_name], f"${env_name}", fix)
    path = secret_path(file_name, env)
    if not path.exists():
        if not create:
            return None
        _create_secret_file(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise KeyringError(f"key file {path} cannot be read ({exc.strerror}); set {env_name} instead") from None
    raw = _read_private(fd, path)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise KeyringError(f"key file {path}: not a key ({fix})") from None
    return _secret_value(text, f"key file {path}", fix)


def _secret_value(text: str, where: str, fix: str) -> bytes:
    try:
        secret = _b64decode(text.strip())
    except ValueError:
        raise KeyringError(f"{where}: not base64url; {fix}") from None
    if len(secret) != SECRET_BYTES:
        raise KeyringError(f"{where}: {len(secret)} bytes, not {SECRET_BYTES}; {fix}")
    return secret


def _create_secret_file(path: Path) -> None:
    """A new key file of 32 random bytes (0600); never overwrites an existing one."""
    _ensure_folder(path.parent)
    with _locked(path.parent):
        if path.exists():
            return  # another process made it meanwhile
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write((_b64encode(os.urandom(SECRET_BYTES)) + "\n").encode("ascii"))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # atomic, and fails rather than replace an existing file
            except FileExistsError:
                pass
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_folder(path.parent)


def journal_key(env: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key of the audit journal's chain (created on first use)."""
    key = load_secret(ENV_JOURNAL_KEY, JOURNAL_KEY_FILE, env=env)
    if key is None:  # pragma: no cover - load_secret creates it
        raise KeyringError(f"no {JOURNAL_KEY_FILE}")
    return key


def checkpoint_key(env: Mapping[str, str] | None = None, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The Ed25519 private key that signs audit checkpoints (created on first use when
    ``create``; None when there is none and ``create`` is false)."""
    seed = load_secret(ENV_CHECKPOINT_KEY, CHECKPOINT_KEY_FILE, env=env, create=create)
    return None if seed is None else Ed25519PrivateKey.from_private_bytes(seed)
