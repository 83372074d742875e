"""Signed checkpoints of the audit chain: proof, kept outside the database, of where it was.

Why
---
The hash chain (audit.py) shows an event edited, deleted or moved, unless whoever edits
also re-hashes every later event and the head: then ``verify`` says intact. Anyone who
holds the Neo4j password can do that (delete event 7, renumber and re-hash 8…N and the
head). A checkpoint makes that detectable afterwards: it is the head (seq and hash) at some
moment, signed with an Ed25519 key that is not in the database, in a file that is not in the
database and that admins copy elsewhere. A rewrite of any event up to a checkpoint changes
the hash of the event at the checkpoint's seq (every hash covers all before it), so
``verify --checkpoints FILE`` no longer passes through that checkpoint and says so.

What it cannot do: events after the newest checkpoint can still be rewritten unnoticed, so
checkpoint often (hourly from cron costs one ``verify`` walk: about 7 s per million
events); and someone who holds the signing key too can sign a rewritten chain, so the copies
elsewhere (with the public key) are the reference.

The file
--------
One JSON object per line (``<state dir>/audit/checkpoints.jsonl`` by default, folder 0700,
file 0600; appended under a flock, each line fsynced)::

    {"at": "2026-11-29T10:00:00.123456Z", "hash": "<event's hash>", "key": "<public key>",
     "kid": "<key id>", "seq": 12345, "sig": "<signature>", "v": 1}

``key`` is the raw Ed25519 public key (32 bytes, base64url without padding), ``kid`` the first
16 hex digits of its SHA-256, and ``sig`` (64 bytes, base64url) the signature over::

    b"graphsvc audit checkpoint v1\\n" + json({"at", "hash", "kid", "seq", "v"})

(the JSON of audit.canonical: keys sorted, no whitespace). A line is only believed when its
key is trusted: the public half of this installation's signing key (crypto.checkpoint_key), or a key given explicitly
(``--public-key``). The key in the line says which key, never that it is a good one.

Making one (``make``, ``graphsvc audit checkpoint``): the chain is verified first, through
every checkpoint already in the file, and nothing is signed when that fails (a rewritten
chain must not be blessed). Then the head the walk verified is signed, the line appended,
and an ``audit.checkpoint`` event recorded in the chain (so the log says when checkpoints
were made; the checkpoint covers the events before that one).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import audit, crypto

if TYPE_CHECKING:
    from .db import Database

VERSION = 1
DOMAIN = b"graphsvc audit checkpoint v1\n"
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_KID = re.compile(r"[0-9a-f]{16}\Z")
_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_B64URL = re.compile(r"[A-Za-z0-9_-]+\Z")
#: The admin page reads this much of the file's end to find the newest checkpoint.
TAIL_BYTES = 16384


class CheckpointError(Exception):
    """Checkpoints cannot be made or checked (no key, unreadable file, bad public key)."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    kid: str
    key: str
    sig: str
    line: int = 0  # its line in the file (1-based), 0 when not read from one

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "seq": self.seq,
                "hash": self.hash,
                "at": self.at,
                "kid": self.kid,
                "key": self.key,
                "sig": self.sig,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.strptime(self.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Problem:
    """A line of the file that is no good checkpoint, or one the chain no longer passes through."""

    line: int
    text: str
    checkpoint: Checkpoint | None = None  # when its signature holds


@dataclass
class Report:
    path: Path
    chain: audit.VerifyResult
    checkpoints: list[Checkpoint] = field(default_factory=list)  # signed by a trusted key
    problems: list[Problem] = field(default_factory=list)  # in file order

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    @property
    def passed(self) -> int:
        bad = {p.line for p in self.problems}
        return sum(1 for c in self.checkpoints if c.line not in bad)


# --- keys ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str) or not _B64URL.match(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def public_text(key: Ed25519PublicKey) -> str:
    """The raw public key as base64url (what ``--public-key`` takes and lines carry)."""
    return _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def kid_of(public: str) -> str:
    return hashlib.sha256(_unb64(public)).hexdigest()[:16]


def trusted_keys(extra: Iterable[str] = (), env: Mapping[str, str] | None = None) -> dict[str, Ed25519PublicKey]:
    """The public keys a checkpoint may be signed with, by key id: this installation's
    signing key (if it has one; none is created here) and the ``extra`` ones (base64url)."""
    keys: dict[str, Ed25519PublicKey] = {}
    try:
        own = crypto.checkpoint_key(env, create=False)
    except crypto.CryptoError as exc:
        raise CheckpointError(f"the checkpoint key cannot be loaded: {exc}") from exc
    if own is not None:
        text = public_text(own.public_key())
        keys[kid_of(text)] = own.public_key()
    for n, text in enumerate(extra, 1):
        try:
            raw = _unb64(text.strip())
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise CheckpointError(
                f"--public-key number {n} is not an Ed25519 public key "
                "(32 bytes as base64url, as `audit checkpoint` prints it)"
            ) from None
        keys[kid_of(_b64(raw))] = key
    return keys


# --- signing and reading -------------------------------------------------------------------


def _message(seq: int, digest: str, at: str, kid: str) -> bytes:
    # audit._canonical, not audit.canonical: that one leaves out a key named "hash" (an
    # event's own hash is not part of its content), and here the hash is what is signed.
    return DOMAIN + audit._canonical({"v": VERSION, "seq": seq, "hash": digest, "at": at, "kid": kid}).encode("utf-8")


def sign(private: Ed25519PrivateKey, seq: int, digest: str, at: str | None = None) -> Checkpoint:
    """A checkpoint of event ``seq`` with hash ``digest``, signed now (or at ``at``)."""
    at = at or audit.timestamp()
    key = public_text(private.public_key())
    kid = kid_of(key)
    signature = private.sign(_message(seq, digest, at, kid))
    return Checkpoint(seq, digest, at, kid, key, _b64(signature))


def parse(text: str, line: int, trusted: dict[str, Ed25519PublicKey]) -> Checkpoint | Problem:
    """One line of a checkpoint file: a Checkpoint whose signature holds under a trusted key,
    or the Problem that names what is wrong with it."""
    try:
        doc = json.loads(text)
    except ValueError:
        return Problem(line, "not a checkpoint (not JSON): the line was edited or damaged")
    fields = ("at", "hash", "key", "kid", "seq", "sig", "v")
    if not isinstance(doc, dict) or sorted(doc) != list(fields):
        return Problem(line, "not a checkpoint (its fields are not " + ", ".join(fields) + ")")
    seq, digest, at, kid, key, sig = (doc[k] for k in ("seq", "hash", "at", "kid", "key", "sig"))
    if doc["v"] != VERSION:
        return Problem(line, f"a checkpoint of another version ({doc['v']!r}; this one reads {VERSION})")
    if (
        type(seq) is not int
        or seq < 1
        or not isinstance(digest, str)
        or not _HEX64.match(digest)
        or not isinstance(at, str)
        or not _AT.match(at)
        or not isinstance(kid, str)
        or not _KID.match(kid)
        or not isinstance(key, str)
        or not isinstance(sig, str)
    ):
        return Problem(line, "not a checkpoint (a field is malformed): the line was edited")
    try:
        raw_key, raw_sig = _unb64(key), _unb64(sig)
    except ValueError:
        return Problem(line, "not a checkpoint (its key or signature is not base64url): the line was edited")
    if len(raw_key) != 32 or len(raw_sig) != 64 or kid_of(key) != kid:
        return Problem(line, "not a checkpoint (its key, key id or signature is malformed): the line was edited")
    public = trusted.get(kid)
    if public is None or public_text(public) != key:
        return Problem(
            line,
            f"signed with key {kid}, which is not trusted here (this installation's "
            "checkpoint key, or one given with --public-key)",
        )
    checkpoint = Checkpoint(seq, digest, at, kid, key, sig, line)
    try:
        public.verify(raw_sig, _message(seq, digest, at, kid))
    except InvalidSignature:
        return Problem(line, f"its signature does not hold (event {seq:,}, {at}): the line was edited or forged")
    return checkpoint


def read(path: Path, trusted: dict[str, Ed25519PublicKey]) -> tuple[list[Checkpoint], list[Problem]]:
    """Every line of the file, checked; CheckpointError when the file cannot be read."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror})") from None
    good: list[Checkpoint] = []
    bad: list[Problem] = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(Problem(n, "not a checkpoint (not UTF-8 text): the line was edited or damaged"))
            continue
        item = parse(text, n, trusted)
        if isinstance(item, Checkpoint):
            good.append(item)
        else:
            bad.append(item)
    return good, bad


def latest(path: Path, trusted: dict[str, Ed25519PublicKey]) -> Checkpoint | Problem | None:
    """The file's last line, checked (None when there is no file or no line): for the admin
    page, which reads only the end of the file."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror})") from None
    lines = [raw for raw in tail.split(b"\n") if raw.strip()]
    if not lines:
        return None
    try:
        text = lines[-1].decode("utf-8")
    except UnicodeDecodeError:
        return Problem(0, "not a checkpoint (not UTF-8 text): the line was edited or damaged")
    return parse(text, 0, trusted)  # line 0: the last one (its number is not counted)


# --- checking the chain against them -------------------------------------------------------


def check(db: Database, path: Path, trusted: dict[str, Ed25519PublicKey]) -> Report:
    """Verify the chain (audit.verify) and that it still passes through every checkpoint of
    the file: the event at each checkpoint's seq has the hash it signed. Problems in file order."""
    checkpoints, problems = read(path, trusted)
    result = audit.verify(db, seqs=[c.seq for c in checkpoints])
    report = Report(Path(path), result, checkpoints, problems)
    for c in checkpoints:
        where = f"event {c.seq:,} of {c.at}"
        seen = result.hashes.get(c.seq)  # only events the walk passed through intact
        if seen is None and not result.ok:
            problem = f"{where}: not reached, the chain is broken before it"
        elif seen is None:
            problem = (
                f"{where}: the chain no longer passes through it: there is no event {c.seq:,} any "
                f"more (the log ends at event {result.count:,}); events were deleted"
            )
        elif seen != c.hash:
            problem = (
                f"{where}: the chain no longer passes through it: that event's hash is now "
                f"{seen[:16]}…, the checkpoint signed {c.hash[:16]}… (events up to it were "
                "deleted, edited or renumbered, and the chain re-hashed)"
            )
        else:
            continue
        report.problems.append(Problem(c.line, problem, c))
    report.problems.sort(key=lambda p: p.line)
    return report


def passes(db: Database, checkpoint: Checkpoint) -> bool:
    """Does the event at the checkpoint's seq still have the hash it signed? (One index read;
    that the chain up to it is intact is what ``verify`` says.)"""
    return audit.hash_at(db, checkpoint.seq) == checkpoint.hash


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Add the checkpoint's line to the file (created 0600 in a 0700 folder), on disk on return."""
    path = Path(path)
    created = not path.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        line = checkpoint.to_json().encode("ascii") + b"\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        if os.write(fd, line) != len(line):
            raise OSError("short write")
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the flock
    if created:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class Refused(Exception):
    """No checkpoint was made: the chain or the file has problems (``report`` says which)."""

    def __init__(self, report: Report):
        super().__init__("the audit chain does not pass its checks; nothing was signed")
        self.report = report


def make(
    db: Database,
    path: Path,
    actor: dict[str, Any],
    private: Ed25519PrivateKey | None = None,
    trusted_extra: Iterable[str] = (),
) -> Checkpoint:
    """Verify the chain through every checkpoint in ``path``, sign its head, append the
    checkpoint to ``path`` and record an ``audit.checkpoint`` event by ``actor`` (fields of
    audit.append_now). Raises Refused (nothing signed) or CheckpointError."""
    if private is None:
        try:
            private = cast(Ed25519PrivateKey, crypto.checkpoint_key())  # create=True: never None
        except crypto.CryptoError as exc:
            raise CheckpointError(f"the checkpoint key cannot be loaded: {exc}") from exc
    trusted = trusted_keys(trusted_extra)
    own = public_text(private.public_key())
    trusted[kid_of(own)] = private.public_key()
    if Path(path).exists():
        report = check(db, path, trusted)
    else:
        report = Report(Path(path), audit.verify(db))
    if not report.ok:
        first = report.chain.problem if not report.chain.ok else report.problems[0].text
        audit.append_now(db, **actor, action="audit.checkpoint", outcome="failure", detail=f"refused: {first}")
        raise Refused(report)
    if not report.chain.head_seq:
        raise CheckpointError("the audit log is empty: there is nothing to sign yet")
    # a verified chain with a head seq has its hash
    checkpoint = sign(private, report.chain.head_seq, cast(str, report.chain.head_hash))
    try:
        append(path, checkpoint)
    except OSError as exc:
        raise CheckpointError(f"{path}: the checkpoint cannot be written ({exc.strerror or exc})") from exc
    audit.append_now(
        db,
        **actor,
        action="audit.checkpoint",
        detail=f"event {checkpoint.seq} hash {checkpoint.hash[:16]} key {checkpoint.kid}",
    )
    return checkpoint
