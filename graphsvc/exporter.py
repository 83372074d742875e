"""Graph → the CSV files that ``graphsvc import`` reads.

The export is in the import's own format, so export → import into an empty database gives
back the same graph. Rows are sorted by id, so two exports of one graph are byte-identical.

An export holds the whole network and, unless redacted, decrypted identity data: it is
written into a folder only its owner can enter (0700, created so, or an existing folder
that already is) as files only its owner can read (0600 from their creation). It is
written into a private folder next to the target first and moved in place when complete:
a failed export leaves nothing behind. Every cell is spreadsheet-safe (csvio.spreadsheet_safe).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import audit, csvio, personkeys
from .crypto import EXPORTED_KINDS, Keyring, fields_of, record_key
from .csvio import TABLES
from .model import Actor

if TYPE_CHECKING:
    from .db import Database


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if hasattr(value, "to_native"):  # neo4j.time.Date
        value = value.to_native()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# the label of each table's records: its encrypted fields (crypto.ENCRYPTED_FIELDS) of the
# exported kinds are decrypted, or left empty with --redact; account secrets are never read
LABELS = {
    "users": "User",
    "households": "Household",
    "people": "Person",
    "introductions": "INTRODUCED",
    "visits": "Visit",
}


class ExportError(RuntimeError):
    """The export cannot be written where it was asked to; nothing was written."""


def private_folder(folder: Path) -> Path:
    """``folder``, created with mode 0700, or an existing folder of this user that nobody
    else can enter; raise ExportError otherwise.

    An existing folder with group or other access is refused, not tightened: it may be a
    shared or synced folder (a home, /tmp, a team drive) whose mode other things rely on,
    and files already in it would stay readable. The message says what to do.
    """
    folder = Path(folder)
    try:
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(folder, 0o700)  # ours and empty: whatever the umask made of it
        return folder
    except FileExistsError:
        pass
    except OSError as exc:
        raise ExportError(f"cannot create the folder {folder}: {exc.strerror}") from None
    try:
        info = os.stat(folder)
    except OSError as exc:
        raise ExportError(f"cannot use the folder {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ExportError(f"{folder} exists and is not a folder")
    if info.st_uid != os.geteuid():
        raise ExportError(
            f"{folder} belongs to another user (uid {info.st_uid}): "
            "give a new folder; it is created readable by you only"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ExportError(
            f"{folder} can be entered by other users (mode {mode:04o}) and an export holds "
            f"personal data: give a new folder (it is created with mode 0700) or run "
            f"`chmod 700 {folder}` first"
        )
    return folder


def _rows(db: Database, name: str, keyring: Keyring, redact: bool) -> Iterator[dict[str, str]]:
    label = LABELS.get(name, "")
    fields = fields_of(label, EXPORTED_KINDS)
    key = record_key(label) if fields else ""
    if label == "Person" and not redact:  # each person's own key (graphsvc/personkeys.py)
        keyring = personkeys.reader_all(db, keyring)
    for record in db.stream(f"export_{name}"):
        for field in fields:
            record[field] = None if redact else keyring.decrypt(record[field], label, record[key], field)
        yield {k: _text(v) for k, v in record.items()}


def _staging(folder: Path) -> tuple[Path, list[Path]]:
    """A new private folder next to ``folder`` to write the export into, and the missing
    parents made for it (removed again when the export fails). An existing ``folder`` must
    be private (``private_folder``) before anything is made."""
    if folder.exists() or folder.is_symlink():
        private_folder(folder)
    made: list[Path] = []
    parent = folder.absolute().parent
    missing = [p for p in (parent, *parent.parents) if not p.exists()]
    try:
        for p in reversed(missing):
            p.mkdir(mode=0o700)
            made.append(p)
        # mkdtemp: mode 0700, a name nobody else can take
        return Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=parent)), made
    except OSError as exc:
        _unmake(made)
        raise ExportError(f"cannot create the folder {folder}: {exc.strerror}") from None


def _unmake(made: list[Path]) -> None:
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            pass


def _publish(staging: Path, folder: Path) -> None:
    """The finished export takes its place: the staging folder is renamed to ``folder``, or,
    when ``folder`` exists (a private folder of this user), its files replace the ones of
    the same name there, each by one rename."""
    try:
        os.rename(staging, folder)
        return
    except OSError:
        if not folder.is_dir():
            raise
    for path in sorted(staging.iterdir()):
        path.replace(folder / path.name)
    staging.rmdir()
    for table in TABLES.values():  # the partial files an export of an older version left there
        (folder / table.filename).with_suffix(".csv.partial").unlink(missing_ok=True)


def export_folder(
    db: Database,
    folder: Path,
    keyring: Keyring,
    actor: Actor,
    bom: bool = True,
    redact: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write one CSV file per table into ``folder``; return the row count per file.

    Identity fields are decrypted, or left empty with ``redact``. The folder must be private
    (``private_folder``; ExportError before anything is written or audited). The export is
    audited before any file is written (if the audit cannot be written, nothing is
    exported) and again with its counts when done.

    All or nothing: the files are written into a new private folder next to ``folder``
    (``.<name>.partial-…``), which becomes ``folder`` (or whose files replace those in an
    existing one) only when every file is complete. Any failure on the way (Neo4j gone, a
    key that cannot decrypt, a full disk, Ctrl-C) removes it, and the parents it made:
    ``folder`` is left as it was.
    """
    folder = Path(folder)
    staging, made = _staging(folder)
    try:
        audit.append_now(db, **actor.event(), action="export.start", detail="redacted" if redact else "with identity")
        counts: dict[str, int] = {}
        for name, table in TABLES.items():
            rows = _rows(db, name, keyring, redact)
            counts[name] = csvio.write_table(staging / table.filename, table, rows, bom=bom)
            if progress:
                progress(table.filename, counts[name])
        _publish(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _unmake(made)
        raise
    audit.append_now(
        db,
        **actor.event(),
        action="export",
        detail=("redacted: " if redact else "") + ", ".join(f"{n} {k}" for k, n in counts.items()),
    )
    return counts
