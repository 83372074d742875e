"""Graph → the CSV files that ``graphsvc import`` reads.

The export is in the import's own format, so export → import into an empty database gives
back the same graph. Rows are sorted by id, so two exports of one graph are byte-identical.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

from . import audit, csvio
from .crypto import IDENTITY_FIELDS
from .csvio import TABLES
from .model import Actor


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


LABELS = {"people": "Person", "visits": "Visit"}


def _rows(db, name: str, keyring, redact: bool):
    label = LABELS.get(name)
    fields = IDENTITY_FIELDS.get(label, ()) if label else ()
    for record in db.stream(f"export_{name}"):
        for field in fields:
            record[field] = None if redact else keyring.decrypt(record[field], label, record["id"], field)
        yield {k: _text(v) for k, v in record.items()}


def export_folder(db, folder: Path, keyring, actor: Actor, bom: bool = True, redact: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write one CSV file per table into ``folder``; return the row count per file.

    Identity fields are decrypted, or left empty with ``redact``. The export is audited
    before any file is written (if the audit cannot be written, nothing is exported) and
    again with its counts when done.
    """
    folder = Path(folder)
    audit.record(db, **actor.event(), action="export.start", detail="redacted" if redact else "with identity")
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, table in TABLES.items():
        rows = _rows(db, name, keyring, redact)
        path = folder / table.filename
        tmp = path.with_suffix(".csv.partial")
        counts[name] = csvio.write_table(tmp, table, rows, bom=bom)
        tmp.replace(path)
        if progress:
            progress(table.filename, counts[name])
    audit.record(db, **actor.event(), action="export", detail=("redacted: " if redact else "")
                 + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return counts
