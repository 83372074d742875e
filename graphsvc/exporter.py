"""Graph → the CSV files that ``graphsvc import`` reads.

The export is in the import's own format, so export → import into an empty database gives
back the same graph. Rows are sorted by id, so two exports of one graph are byte-identical.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Callable

from . import csvio
from .csvio import TABLES


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if hasattr(value, "to_native"):  # neo4j.time.Date
        value = value.to_native()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def export_folder(db, folder: Path, bom: bool = True,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write one CSV file per table into ``folder``; return the row count per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, table in TABLES.items():
        rows = ({k: _text(v) for k, v in record.items()} for record in db.stream(f"export_{name}"))
        path = folder / table.filename
        tmp = path.with_suffix(".csv.partial")
        counts[name] = csvio.write_table(tmp, table, rows, bom=bom)
        tmp.replace(path)
        if progress:
            progress(table.filename, counts[name])
    return counts
