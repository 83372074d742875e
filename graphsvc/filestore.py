"""Stored files (photos, receipts): encrypted, under random names, in the private folder of
stored files (storage.files_dir: 0700), each file 0600.

A file is sealed with ``Keyring.encrypt_bytes(data, kind, record_id, "file")``: bound to the
record it belongs to, so that a file id copied onto another record cannot be served for it
(decryption fails). Its name is random (``secrets.token_urlsafe``): it says nothing of the
record, and a guessed name is no way in (the routes serve files by their records, after the
policy's word). A write is atomic: a temporary file, fsync, rename, fsync of the folder.

Writes go through ``staging``: the files put in its block stay only if the block ends
without an exception, so that a refused or failed transaction leaves nothing behind::

    with filestore.staging(settings, keyring) as stage:
        file_id = stage.put(clean.data, kind="Photo", record_id=photo_id)
        db.write_tx(work)  # writes the node with file_id; raises → the file is deleted

When a commit's outcome is unknown (the driver lost the server during COMMIT), the files are
kept: a node may point at them, and an orphan is only an encrypted file.

>>> import tempfile
>>> from graphsvc.config import load_settings
>>> from graphsvc.crypto import Keyring
>>> ring = Keyring.generate()
>>> with tempfile.TemporaryDirectory() as state:
...     settings = load_settings({"GRAPHSVC_STATE_DIR": state})
...     with staging(settings, ring) as stage:
...         file_id = stage.put(b"pixels", kind="Photo", record_id="ph-1")
...     read(settings, ring, file_id, kind="Photo", record_id="ph-1")
b'pixels'
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from . import storage
from .config import Settings
from .crypto import DecryptionError, Keyring, blob_kid
from .errors import Refused

if TYPE_CHECKING:
    from .db import Database

FIELD = "file"
_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_TMP_PREFIX = ".tmp-"


def new_file_id() -> str:
    """A random name: 24 random bytes, 32 characters of base64url."""
    return secrets.token_urlsafe(24)


def is_file_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _path(settings: Settings, file_id: str) -> Path:
    if not is_file_id(file_id):
        raise ValueError("not a stored file's id")
    return storage.files_dir(settings) / file_id


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(settings: Settings, file_id: str, blob: bytes, *, replace: bool = False) -> None:
    target = _path(settings, file_id)
    folder = target.parent
    tmp = folder / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the mode is reduced by the umask; make it exact
            view = memoryview(blob)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if not replace and target.exists():  # 192 random bits: only a bug or an attack gets here
            raise FileExistsError(f"stored file {file_id} exists already")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_folder(folder)


class Stage:
    """The files written in one ``staging`` block (see the module's docstring)."""

    def __init__(self, settings: Settings, keyring: Keyring) -> None:
        self._settings = settings
        self._keyring = keyring
        self.file_ids: list[str] = []

    def put(self, data: bytes, *, kind: str, record_id: str) -> str:
        """Encrypt ``data`` for (``kind``, ``record_id``) and write it; its new file id."""
        blob = self._keyring.encrypt_bytes(data, kind, record_id, FIELD)
        file_id = new_file_id()
        self.file_ids.append(file_id)  # before the write: a failed write leaves no temp file either
        _write(self._settings, file_id, blob)
        return file_id


def _commit_unknown(exc: BaseException) -> bool:
    """Whether ``exc`` left a Neo4j commit's outcome unknown (web/guard.commit_unknown's test)."""
    import neo4j

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, neo4j.exceptions.IncompleteCommit):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


@contextlib.contextmanager
def staging(settings: Settings, keyring: Keyring) -> Iterator[Stage]:
    """A block whose files are deleted again if it raises (see the module's docstring)."""
    stage = Stage(settings, keyring)
    try:
        yield stage
    except BaseException as exc:
        if not _commit_unknown(exc):
            remove_for(settings, stage.file_ids)
        raise


def read(settings: Settings, keyring: Keyring, file_id: str, *, kind: str, record_id: str) -> bytes:
    """The content of a stored file of (``kind``, ``record_id``). Refused("not_found") when
    there is no such file or it belongs to another record (or was altered)."""
    if not is_file_id(file_id):
        raise Refused("not_found", "not a stored file's id", targets=(record_id,))
    path = storage.files_dir(settings) / file_id
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise Refused("not_found", "the stored file is missing", targets=(record_id,)) from None
    with os.fdopen(fd, "rb") as handle:
        blob = handle.read()
    try:
        return keyring.decrypt_bytes(blob, kind, record_id, FIELD)
    except DecryptionError:
        raise Refused(
            "not_found", "the stored file does not belong to this record or was altered", targets=(record_id,)
        ) from None


def exists(settings: Settings, file_id: str) -> bool:
    return is_file_id(file_id) and (storage.files_dir(settings) / file_id).is_file()


def remove(settings: Settings, file_id: str) -> bool:
    """Delete a stored file; False when there was none. (Its content is ciphertext: deleting
    it is enough; the data keys never leave the key folder.)"""
    if not is_file_id(file_id):
        return False
    path = storage.files_dir(settings) / file_id
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_for(settings: Settings, file_ids: Iterable[str | None]) -> int:
    """Delete the stored files ``file_ids`` (erasure, deleting a record, a failed staging);
    how many there were. Unknown ids and None are skipped."""
    removed = sum(1 for file_id in file_ids if file_id and remove(settings, file_id))
    if removed:
        _fsync_folder(storage.files_dir(settings))
    return removed


def file_ids(settings: Settings) -> set[str]:
    """The ids of every stored file (to find orphans: files no record names)."""
    folder = storage.files_dir(settings)
    return {path.name for path in folder.iterdir() if is_file_id(path.name)}


# --- key rotation (graphsvc keys rotate) ----------------------------------------------------------
#
# A stored file is sealed for its record, so re-encrypting it needs (kind, record_id): a
# statement per service that stores files (graphsvc/cypher/stored_files.cypher) returns
# every {file_id, kind, record_id} it holds: the photos' and the receipts'. ``reencrypt``
# turns each of those files over to the current key. A file no statement names (or that
# does not open for the binding named) keeps its key: ``key_ids`` tells `keys rotate` which
# old keys stored files still need, and those keys are kept rather than retired (a retired
# key would make the file unreadable).
OWNERS: list[str] = ["stored_files_photos", "stored_files_receipts"]


def register_owner(statement: str) -> None:
    """Name a statement that returns {file_id, kind, record_id} of stored files."""
    if statement not in OWNERS:
        OWNERS.append(statement)


def key_ids(settings: Settings) -> dict[str, int]:
    """The key ids the stored files are sealed under, with how many files each (headers only)."""
    counts: dict[str, int] = {}
    folder = storage.files_dir(settings)
    for path in folder.iterdir():
        if not is_file_id(path.name):
            continue
        with open(path, "rb") as handle:
            head = handle.read(80)
        try:
            kid = blob_kid(head)
        except DecryptionError:
            continue
        counts[kid] = counts.get(kid, 0) + 1
    return counts


def reencrypt(db: Database, settings: Settings, keyring: Keyring) -> int:
    """Seal every stored file that an owner statement names, and that is not under the
    current key, under the current key again (atomically, one file at a time; safe to run
    again). How many files were re-encrypted."""
    done = 0
    for statement in OWNERS:
        for row in db.read(statement):
            file_id, kind, record_id = row["file_id"], row["kind"], row["record_id"]
            if not exists(settings, file_id):
                continue
            blob = (storage.files_dir(settings) / file_id).read_bytes()
            if not keyring.needs_rotation_bytes(blob):
                continue
            try:
                data = keyring.decrypt_bytes(blob, kind, record_id, FIELD)
            except DecryptionError:
                continue  # not this binding, or its key is gone: left as it is (its key is kept)
            _write(settings, file_id, keyring.encrypt_bytes(data, kind, record_id, FIELD), replace=True)
            done += 1
    return done


def orphans(db: Database, settings: Settings, older_than: float = 3600.0) -> set[str]:
    """Stored files that no owner statement names and that were written more than
    ``older_than`` seconds ago (a younger one may belong to a transaction still running):
    left by a commit whose outcome was unknown and that did not happen, or by a record
    deleted without its files. Only ciphertext; ``remove_for`` deletes them."""
    import time

    named = {row["file_id"] for statement in OWNERS for row in db.read(statement)}
    folder = storage.files_dir(settings)
    cutoff = time.time() - older_than
    return {file_id for file_id in file_ids(settings) - named if (folder / file_id).stat().st_mtime < cutoff}
