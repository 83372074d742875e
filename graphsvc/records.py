"""Checks shared by every way data comes in (CSV files, the JSON API, forms).

This is the start of the one record layer: a value that one entrance accepts, every other
accepts too, and the exporter writes back only what the importer reads. Text is stored
without surrounding white space (the CSV reader strips every cell; the API strips too). Each check returns
``None`` for a good value or a short problem in English (the importer prints it after
``file:line``; the web layer names the field).

>>> text_problem("아이들이 잘 지냄\\n다음 주 다시", 4000) is None
True
>>> text_problem("a\\x00b", 100), text_problem("a\\ud800", 100), text_problem("x" * 5, 4)
('contains a control character', 'contains an unpaired surrogate (not Unicode text)', 'is longer than 4 characters')
"""

from __future__ import annotations

import re

# Control characters but tab, LF and CR; DEL and the C1 controls too (a spreadsheet or a
# terminal may act on them); lone surrogates (not text: they cannot be encoded as UTF-8);
# the two non-characters U+FFFE and U+FFFF.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
SURROGATE_RE = re.compile("[\ud800-\udfff]")


def text_problem(value: object, max_len: int) -> str | None:
    """Why ``value`` is not acceptable text of at most ``max_len`` characters (None: it is)."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > max_len:
        return f"is longer than {max_len} characters"
    if SURROGATE_RE.search(value):
        return "contains an unpaired surrogate (not Unicode text)"
    if CONTROL_RE.search(value):
        return "contains a control character"
    return None
