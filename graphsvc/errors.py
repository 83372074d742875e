"""The one error the core raises when it will not do what was asked.

``kind`` says what kind of refusal it is; the web layer (web/guard.py) alone turns kinds into
HTTP statuses, and the command line into messages. ``why`` is for the audit log (short,
English, no personal data); ``field`` names the field or argument at fault, if one is.

>>> Refused("not_found", "outside the visitor's districts").kind
'not_found'
"""

from __future__ import annotations

from typing import Any

KINDS = ("not_found", "forbidden", "invalid", "conflict", "busy")


class Refused(Exception):
    """``not_found``: it does not exist or the caller may not know that it does (the same
    answer for both); ``forbidden``: the caller may know it but not do this; ``invalid``:
    the input is wrong (``field``); ``conflict``: the state forbids it now; ``busy``: try
    again later."""

    def __init__(
        self,
        kind: str,
        why: str,
        field: str | None = None,
        targets: tuple[str, ...] = (),
        code: str | None = None,
        problems: tuple[Any, ...] = (),
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown kind of refusal {kind!r}")
        super().__init__(why)
        self.kind = kind
        self.why = why
        self.field = field
        self.targets = targets  # the ids asked for (for the audit event of a refusal)
        self.code = code  # names the message people read (web/guard.py words it)
        self.problems = problems  # invalid input: every problem (graphsvc/records.Problem)
