"""The CSV exchange format: file names, columns, reading and writing.

One place says which files exist and which columns they have, so that the importer,
the exporter and the demo generator cannot drift apart.

>>> TABLES["introductions"].columns
('introducer_id', 'introduced_id', 'introduced_on', 'relation')
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...]  # columns that must be present and non-empty; the rest are optional

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


# Order matters: it is the order in which files are validated and written
# (a later table refers to earlier ones).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("users", ("username", "role", "districts", "person_id", "gender"), ("username", "role")),
        Table(
            "households",
            ("id", "code", "district", "arrived_on", "status", "women_only"),
            ("id", "code", "district", "status"),
        ),
        Table(
            "people",
            ("id", "code_name", "household_id", "legal_name", "phone", "address"),
            ("id", "code_name", "household_id"),
        ),
        Table(
            "introductions",
            ("introducer_id", "introduced_id", "introduced_on", "relation"),
            ("introducer_id", "introduced_id", "relation"),
        ),
        Table(
            "visits",
            ("id", "household_id", "visitor", "visited_on", "outcome", "materials", "notes",
             "follow_up_on"),
            ("id", "household_id", "visitor", "visited_on", "outcome"),
        ),
    )
}

# Files a coordinator must bring; users.csv is optional (users may already exist).
REQUIRED_FILES = ("households", "people", "introductions", "visits")


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Open a CSV file (UTF-8 with or without BOM) and return its header and its rows.

    Rows come with their line number in the file (the header is line 1), so that
    errors can say ``file:line``. Values are stripped of surrounding whitespace.
    """
    text = path.read_bytes().decode("utf-8-sig")  # strips a BOM when there is one
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], iter(())

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for record in reader:
            line = reader.line_num
            if not any(field.strip() for field in record):
                continue  # blank line
            values = [v.strip() for v in record]
            row = dict(zip(header, values))
            if len(values) != len(header):
                row["__width__"] = str(len(values))
            yield line, row

    return header, rows()


def write_table(path: Path, table: Table, rows: Iterable[Mapping[str, object]], bom: bool = True) -> int:
    """Write rows (mappings with string values) as one CSV file; return the row count.

    With ``bom`` the file starts with a UTF-8 byte-order mark, which spreadsheet programs
    need to read Korean text as UTF-8.
    """
    count = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in table.columns])
            count += 1
    return count
