"""Import and export from the browser: the uploaded bundle, its safe reading, the encrypted
keeping of an upload between its dry run and its confirmation, what a dry run would
change, and an export as one zip.

No Flask here (web/transfer.py is the thin page). The rules are the command line's
(graphsvc/importer.py: all or nothing, ``file:line`` problems); this module adds what a
browser upload needs:

- ``read_bundle``: the uploaded CSV files, or one zip of them, checked before any row is
  read: known file names only, sizes, UTF-8 text; a zip's members without paths that
  climb out, links, encryption, unknown members, and with limits on their count, their
  sizes and their compression ratio (a zip bomb is refused from its directory, and a
  member is never read past its limit whatever its header claims).
- ``UploadStore``: the bundle kept between the dry run and the confirmation, sealed with
  the keyring (crypto.Keyring.encrypt_bytes) under ``<state dir>/imports/`` (0700) in a
  file of a random name (0600), bound to its owner (the owner is in the sealed data and in
  its associated data: another user's confirmation cannot even decrypt it), expiring after
  ``ttl`` seconds, deleted when confirmed, discarded or expired.
- ``changes``: the dry run's counts of new, changed and unchanged rows per file.
- ``export_zip``: the whole export (exporter's rows) written into an unnamed temporary
  file (0600, unlinked from its creation: no path ever holds it) and returned open.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from . import audit, csvio, importer, personkeys
from .crypto import CryptoError, Keyring, fields_of, record_key
from .csvio import TABLES
from .exporter import LABELS, _rows, _text, private_folder
from .model import N_, Actor

if TYPE_CHECKING:
    from .db import Database

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 32 * MB  # one request: every file, or the zip (web/transfer.py sets it)
MAX_FILE_BYTES = 32 * MB  # one CSV file, uploaded or unpacked
MAX_TOTAL_BYTES = 64 * MB  # every file of a bundle, unpacked
MAX_MEMBERS = 16  # entries of a zip (directories included)
MAX_RATIO = 100  # a member's unpacked size over its packed size (text packs 5-15 times)
UPLOAD_TTL = 3600  # seconds an upload waits for its confirmation

FILENAMES = {table.filename: name for name, table in TABLES.items()}

# What can be wrong with an upload as a whole (the rows' problems are the importer's).
MESSAGES = {
    "no_files": N_("Choose the CSV files (or one zip of them) to import."),
    "unknown_file": N_("%(name)s: not a file of the import (expected %(expected)s)."),
    "twice": N_("%(name)s: given twice."),
    "too_large": N_("%(name)s: too large (%(size)s MB; at most %(limit)s MB)."),
    "total_too_large": N_("The files are too large together (at most %(limit)s MB unpacked)."),
    "not_text": N_("%(name)s: not a CSV file (it holds binary data)."),
    "not_utf8": N_("%(name)s: not UTF-8 text (save it as “CSV UTF-8”)."),
    "zip_alone": N_("%(name)s: a zip is imported alone, without other files."),
    "not_zip": N_("%(name)s: not a readable zip file."),
    "zip_members": N_("%(name)s: too many entries (%(count)s; at most %(limit)s)."),
    "zip_path": N_("%(name)s: the entry %(member)s has an unsafe path."),
    "zip_link": N_("%(name)s: the entry %(member)s is a link, not a file."),
    "zip_encrypted": N_("%(name)s: the entry %(member)s is encrypted."),
    "zip_method": N_("%(name)s: the entry %(member)s is compressed in a way that is not supported."),
    "zip_bomb": N_("%(name)s: the entry %(member)s unpacks to far more than it holds (a zip bomb?)."),
    "zip_unknown": N_("%(name)s: the entry %(member)s is not a file of the import (expected %(expected)s)."),
    "zip_bad": N_("%(name)s: the entry %(member)s cannot be read."),
}


@dataclass(frozen=True)
class UploadProblem:
    """What is wrong with an upload: a message id of MESSAGES and its values."""

    code: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        return MESSAGES[self.code] % dict(self.values)


def _expected() -> str:
    return ", ".join(FILENAMES)


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"


def _check_text(name: str, data: bytes, problems: list[UploadProblem]) -> None:
    if b"\x00" in data:
        problems.append(UploadProblem("not_text", {"name": name}))
        return
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(UploadProblem("not_utf8", {"name": name}))


def read_bundle(uploads: list[tuple[str, bytes]]) -> tuple[dict[str, bytes], list[UploadProblem]]:
    """The files of the import (by file name, e.g. ``people.csv``) from what was uploaded:
    CSV files, or one zip of them. Nothing is kept when there is any problem.

    >>> files, problems = read_bundle([("people.csv", "id\\n".encode()), ("notes.txt", b"x")])
    >>> [p.english()[:40] for p in problems]
    ['notes.txt: not a file of the import (exp']
    """
    uploads = [(os.path.basename((name or "").replace("\\", "/")), data) for name, data in uploads if name or data]
    problems: list[UploadProblem] = []
    if not uploads:
        return {}, [UploadProblem("no_files")]
    zips = [name for name, data in uploads if name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04"]
    if zips:
        if len(uploads) > 1:
            return {}, [UploadProblem("zip_alone", {"name": zips[0]})]
        return _read_zip(*uploads[0])
    files: dict[str, bytes] = {}
    for name, data in uploads:
        if name not in FILENAMES:
            problems.append(UploadProblem("unknown_file", {"name": name, "expected": _expected()}))
        elif name in files:
            problems.append(UploadProblem("twice", {"name": name}))
        elif len(data) > MAX_FILE_BYTES:
            problems.append(
                UploadProblem("too_large", {"name": name, "size": _mb(len(data)), "limit": _mb(MAX_FILE_BYTES)})
            )
        else:
            _check_text(name, data, problems)
            files[name] = data
    if sum(map(len, files.values())) > MAX_TOTAL_BYTES:
        problems.append(UploadProblem("total_too_large", {"limit": _mb(MAX_TOTAL_BYTES)}))
    return ({} if problems else files), problems


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry may not be read, as a message id, or None."""
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if info.filename.startswith(("/", "\\")) or ".." in path.parts or re.match(r"^[A-Za-z]:", info.filename):
        return "zip_path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "zip_link"
    if info.flag_bits & 0x1:
        return "zip_encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return "zip_method"
    return None


def _read_zip(name: str, data: bytes) -> tuple[dict[str, bytes], list[UploadProblem]]:
    problems: list[UploadProblem] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return {}, [UploadProblem("not_zip", {"name": name})]
    if len(infos) > MAX_MEMBERS:
        return {}, [UploadProblem("zip_members", {"name": name, "count": len(infos), "limit": MAX_MEMBERS})]
    wanted: list[tuple[str, zipfile.ZipInfo]] = []
    for info in infos:
        member = info.filename[:120]
        why = _member_problem(info)
        if why is None and info.is_dir():
            continue
        if why is None:
            base = PurePosixPath(info.filename.replace("\\", "/")).name
            if base not in FILENAMES:
                why = "zip_unknown"
            elif any(base == b for b, _ in wanted):
                problems.append(UploadProblem("twice", {"name": base}))
                continue
            elif info.file_size > MAX_FILE_BYTES:
                problems.append(
                    UploadProblem(
                        "too_large", {"name": base, "size": _mb(info.file_size), "limit": _mb(MAX_FILE_BYTES)}
                    )
                )
                continue
            elif info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > MB:
                why = "zip_bomb"
            else:
                wanted.append((base, info))
                continue
        problems.append(UploadProblem(why, {"name": name, "member": member, "expected": _expected()}))
    if sum(info.file_size for _, info in wanted) > MAX_TOTAL_BYTES:
        problems.append(UploadProblem("total_too_large", {"limit": _mb(MAX_TOTAL_BYTES)}))
    if problems:
        return {}, problems
    files: dict[str, bytes] = {}
    for base, info in wanted:
        try:  # never past the declared size (+1 to see a lying header), whatever it claims
            with archive.open(info) as fh:
                content = fh.read(info.file_size + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError):
            problems.append(UploadProblem("zip_bad", {"name": name, "member": info.filename[:120]}))
            continue
        if len(content) != info.file_size:
            problems.append(UploadProblem("zip_bad", {"name": name, "member": info.filename[:120]}))
            continue
        _check_text(base, content, problems)
        files[base] = content
    return ({} if problems else files), problems


# --- the folder the importer reads ----------------------------------------------------------


@contextlib.contextmanager
def unpacked(files: Mapping[str, bytes]) -> Iterator[Path]:
    """The files in a private temporary folder (0700, files 0600) for the importer to read,
    removed when done. In memory (/dev/shm) where the system has it, so that the
    plaintext never reaches a disk."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="graphsvc-import-", dir=base))
    try:
        for name, data in files.items():
            if name not in FILENAMES:  # read_bundle lets none through; a path is never trusted
                raise ValueError(f"not a file of the import: {name!r}")
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as fh:
                fh.write(data)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- keeping an upload until it is confirmed --------------------------------------------------

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{24,64}")
SEAL_LABEL = "ImportUpload"


class UploadGone(LookupError):
    """No upload of this user under that token: never made, another user's, expired,
    already confirmed or discarded (one answer for all: a token says nothing of others)."""


@dataclass(frozen=True)
class Upload:
    token: str
    owner: str
    created: float
    files: dict[str, bytes]

    def expires(self, ttl: int = UPLOAD_TTL) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.created + ttl, dt.UTC)


class UploadStore:
    """Uploads waiting for their confirmation, sealed, one file each in ``folder``."""

    def __init__(self, folder: Path, keyring: Keyring, ttl: int = UPLOAD_TTL) -> None:
        self.folder = Path(folder)
        self.keyring = keyring
        self.ttl = ttl

    def _path(self, token: str) -> Path:
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            raise UploadGone(token)
        return self.folder / f"{token}.upload"

    @staticmethod
    def _place(owner: str, token: str) -> str:
        return f"{owner}/{token}"  # the associated data: sealed for this owner and token only

    def put(self, owner: str, files: Mapping[str, bytes], now: float | None = None) -> Upload:
        """Seal ``files`` for ``owner``; the Upload with its new random token."""
        self.sweep(now)
        private_folder(self.folder)
        created = time.time() if now is None else now
        token = secrets.token_urlsafe(24)
        # a header line (JSON: owner, time, each file's name and length), then the files' bytes
        header = {"owner": owner, "created": created, "files": [[name, len(data)] for name, data in files.items()]}
        payload = b"".join([json.dumps(header).encode(), b"\n", *files.values()])
        blob = self.keyring.encrypt_bytes(payload, SEAL_LABEL, self._place(owner, token), "bundle")
        fd = os.open(self._path(token), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as fh:
            os.fchmod(fd, 0o600)  # whatever the umask made of it
            fh.write(blob)
        return Upload(token, owner, created, dict(files))

    def get(self, owner: str, token: str, now: float | None = None) -> Upload:
        """The upload ``token`` of ``owner``; UploadGone otherwise (an expired one is deleted)."""
        path = self._path(token)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            raise UploadGone(token) from None
        with open(fd, "rb") as fh:
            blob = fh.read()
        try:
            payload = self.keyring.decrypt_bytes(blob, SEAL_LABEL, self._place(owner, token), "bundle")
            line, _, body = payload.partition(b"\n")
            doc = json.loads(line)
        except (CryptoError, ValueError):
            raise UploadGone(token) from None  # another user's (it does not open for them) or damaged
        if doc.get("owner") != owner:
            raise UploadGone(token)
        now = time.time() if now is None else now
        if now - float(doc["created"]) > self.ttl:
            path.unlink(missing_ok=True)
            raise UploadGone(token)
        files: dict[str, bytes] = {}
        at = 0
        for name, size in doc["files"]:
            files[name] = body[at : at + size]
            at += size
        return Upload(token, owner, float(doc["created"]), files)

    def take(self, owner: str, token: str, now: float | None = None) -> Upload:
        """The upload, removed from the store: only one confirmation gets it."""
        upload = self.get(owner, token, now)
        try:
            self._path(token).unlink()
        except FileNotFoundError:
            raise UploadGone(token) from None  # a second confirmation at the same moment
        return upload

    def discard(self, owner: str, token: str) -> None:
        self.take(owner, token)

    def sweep(self, now: float | None = None) -> int:
        """Delete every upload older than the ttl (by its file's time; no key needed)."""
        now = time.time() if now is None else now
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for path in self.folder.glob("*.upload"):
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime > self.ttl:
                        path.unlink()
                        removed += 1
        return removed


# --- what a dry run would change --------------------------------------------------------------

KEYS = {
    "users": "username",
    "households": "id",
    "people": "id",
    "introductions": "introduced_id",
    "visits": "id",
}


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if value is False:
        return ""  # an unset flag is stored as false or not at all
    return _text(value)


def changes(db: Database, plan: importer.Plan, keyring: Keyring) -> dict[str, dict[str, int]]:
    """Per file of a valid plan: how many rows are new, changed or unchanged in the database.

    A row is compared with the stored record column by column, as the export writes them
    (encrypted fields by their plaintext). Nothing is shown: only the counts leave.
    """
    out: dict[str, dict[str, int]] = {}
    for name, rows in plan.rows.items():
        table, key = TABLES[name], KEYS[name]
        label = LABELS[name]
        secret = fields_of(label)
        counts = {"new": 0, "changed": 0, "unchanged": 0}
        ids = [row[key] for row in rows]
        stored = {r[key]: r for r in db.read(f"diff_{name}", ids=ids)} if ids else {}
        # people under keys of their own (graphsvc/personkeys.py): their keys in one read
        ring = personkeys.PersonRing(
            keyring, personkeys.keys_of(db, keyring, list(stored)) if label == "Person" else {}
        )
        for row in rows:
            old = stored.get(row[key])
            if old is None:
                counts["new"] += 1
                continue
            for f in secret:
                if f in old:
                    old[f] = ring.decrypt(old[f], label, old[record_key(label)], f)
            same = all(_cell(row.get(c)) == _cell(old.get(c)) for c in table.columns if c in old or c in row)
            counts["unchanged" if same else "changed"] += 1
        out[name] = counts
    return out


def dry_run(
    db: Database,
    files: Mapping[str, bytes],
    keyring: Keyring,
    actor: Actor,
    districts: Collection[str] | None,
) -> tuple[importer.Report, dict[str, dict[str, int]]]:
    """The importer's dry run of ``files`` (audited by it) and, when nothing but possible
    duplicates stands in the way (``blocking``), its counts."""
    with unpacked(files) as folder:
        report = importer.import_folder(db, folder, keyring, actor, dry_run=True, districts=districts)
    return report, ({} if blocking(report) else changes(db, report.plan, keyring))


def blocking(report: importer.Report) -> list[importer.Problem]:
    """The problems of a report that no choice of the user's lifts (possible duplicates are
    imported when the user allows them)."""
    duplicates = set(report.plan.duplicates)
    return [p for p in report.plan.problems if p not in duplicates]


def run_import(
    db: Database,
    files: Mapping[str, bytes],
    keyring: Keyring,
    actor: Actor,
    districts: Collection[str] | None,
    allow_duplicates: bool = False,
) -> importer.Report:
    """The import of ``files``: validated again against the database as it is now, then all
    of it written, or nothing (the importer's rules and audit events)."""
    with unpacked(files) as folder:
        return importer.import_folder(
            db, folder, keyring, actor, districts=districts, allow_duplicates=allow_duplicates
        )


# --- an export as one zip -------------------------------------------------------------------------


def export_zip(
    db: Database, keyring: Keyring, actor: Actor, redact: bool = True, reason: str | None = None
) -> tuple[IO[bytes], dict[str, int]]:
    """The export (the import's format, exporter.py) as a zip in an unnamed temporary file,
    rewound, and its row counts. The file has no name from its creation (0600, unlinked
    at once): closing it frees it, and nothing on disk can be opened by a path.

    Audited before anything is read (with the admin's reason when identity is included)
    and again with the counts.
    """
    what = "redacted" if redact else "with identity"
    audit.append_now(db, **actor.event(), action="export.start", reason=reason, detail=f"{what} (zip)")
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who streams and closes it
    os.fchmod(out.fileno(), 0o600)
    counts: dict[str, int] = {}
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, table in TABLES.items():
                with archive.open(table.filename, "w") as member:
                    text = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
                    writer = csvio.writer(text)
                    writer.writerow(table.columns)
                    n = 0
                    for row in _rows(db, name, keyring, redact):
                        writer.writerow([row.get(c) for c in table.columns])
                        n += 1
                    text.flush()
                    text.detach()
                counts[name] = n
    except BaseException:
        out.close()
        raise
    audit.append_now(
        db,
        **actor.event(),
        action="export",
        reason=reason,
        detail=("redacted: " if redact else "with identity: ") + ", ".join(f"{n} {k}" for k, n in counts.items()),
    )
    out.seek(0)
    return out, counts
