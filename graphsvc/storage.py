"""Stored files (photos, receipts) live in ``<state dir>/files/``, beside the rest of a
database's state that is not in Neo4j (config.Settings.state_dir): the audit journal, the
keys. Each file is encrypted before it is written (crypto.Keyring.encrypt_bytes, bound to
its record); the folder is private all the same: 0700, created so, and an existing one
that others can enter, or that belongs to another user, is refused rather than used.

>>> import tempfile
>>> from graphsvc.config import load_settings
>>> with tempfile.TemporaryDirectory() as state:
...     folder = files_dir(load_settings({"GRAPHSVC_STATE_DIR": state}))
...     folder.name, oct(folder.stat().st_mode & 0o777)
('files', '0o700')
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .config import Settings


class StorageError(RuntimeError):
    """The folder of stored files cannot be used safely; the message says why and what to do."""


def files_dir(settings: Settings) -> Path:
    """The folder of stored files of the database ``settings`` point at, created (0700)
    on first use, with the state folder when that is missing."""
    folder = settings.files_dir
    try:
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask; make it exact
        return folder
    except FileExistsError:
        pass
    except OSError as exc:
        raise StorageError(
            f"cannot create the folder of stored files {folder}: {exc.strerror}; "
            "set GRAPHSVC_STATE_DIR to a folder this user can write"
        ) from None
    info = os.stat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise StorageError(f"{folder} exists and is not a folder")
    if info.st_uid != os.geteuid():
        raise StorageError(f"{folder} belongs to another user (uid {info.st_uid})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise StorageError(
            f"{folder} can be entered by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"stored files are personal data: chmod 700 {folder}"
        )
    return folder
