"""The vocabulary of the data model: the allowed values of every enumerated field.

Canonical values are English identifiers (stored in Neo4j, written by the exporter).
Coordinators' spreadsheets may also use the Korean words listed as aliases; the
importer normalises them to the canonical value.

>>> normalise(HOUSEHOLD_STATUS, "이사")
'moved'
>>> normalise(RELATION, "neighbor")
'neighbour'
>>> normalise(RELATION, "cousin") is None
True
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# Usernames: lower-case, 2–32 characters; the same rule for imports and `users add`.
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


@dataclass(frozen=True)
class Vocabulary:
    field: str
    values: tuple[str, ...]
    aliases: dict[str, str]

    def describe(self) -> str:
        return ", ".join(self.values)


HOUSEHOLD_STATUS = Vocabulary(
    "status",
    ("active", "moved", "closed", "do_not_visit"),
    {"활동": "active", "이사": "moved", "종결": "closed", "방문금지": "do_not_visit", "방문 금지": "do_not_visit"},
)

RELATION = Vocabulary(
    "relation",
    ("family", "friend", "neighbour", "other"),
    {"neighbor": "neighbour", "가족": "family", "친구": "friend", "이웃": "neighbour", "기타": "other"},
)

VISIT_OUTCOME = Vocabulary(
    "outcome",
    # met: the visit took place; not_home: nobody answered; refused: the household declined;
    # moved: the household no longer lives there; other: see the notes.
    ("met", "not_home", "refused", "moved", "other"),
    {"만남": "met", "부재": "not_home", "거절": "refused", "이사": "moved", "기타": "other"},
)

GENDER = Vocabulary(
    "gender",
    # f / m: used for households that only women may visit (households.csv `women_only`)
    ("f", "m"),
    {"여": "f", "여성": "f", "female": "f", "woman": "f", "w": "f",
     "남": "m", "남성": "m", "male": "m", "man": "m"},
)

YES_NO = Vocabulary(
    "yes/no",
    ("true", "false"),
    {"yes": "true", "y": "true", "1": "true", "예": "true", "네": "true", "o": "true",
     "no": "false", "n": "false", "0": "false", "아니요": "false", "아니오": "false", "x": "false"},
)

ROLE = Vocabulary(
    "role",
    ("admin", "coordinator", "visitor"),
    {"관리자": "admin", "코디네이터": "coordinator", "방문자": "visitor"},
)


def normalise(vocab: Vocabulary, raw: str) -> str | None:
    """Return the canonical value for ``raw`` (case-insensitive), or None if unknown."""
    value = raw.strip()
    lowered = value.lower().replace("-", "_").replace(" ", "_")
    if lowered in vocab.values:
        return lowered
    return vocab.aliases.get(value) or vocab.aliases.get(value.lower())


@dataclass(frozen=True)
class Actor:
    """Who does something, for the audit log: a signed-in user, a token, or the CLI."""

    username: str
    role: str
    ip: str = "-"
    user_agent: str = "-"

    def event(self) -> dict[str, str]:
        return {"actor": self.username, "role": self.role, "ip": self.ip, "user_agent": self.user_agent}


def cli_actor() -> Actor:
    """The operator at the command line (the OS user), for audit events of CLI commands."""
    import getpass

    try:
        who = getpass.getuser()
    except Exception:
        who = "unknown"
    return Actor(f"cli:{who}", "operator", "local", "graphsvc-cli")


def to_date(value: object) -> dt.date | None:
    """A date as Neo4j returns it (``neo4j.time.Date``), a Python date or ISO text, as a
    ``datetime.date``; None stays None. A date and time is refused (``TypeError``): where a
    date is expected, a datetime is a mistake, not a date.

    >>> import neo4j.time
    >>> to_date(neo4j.time.Date(2024, 3, 1)), to_date(dt.date(2024, 3, 1)), to_date("2024-03-01")
    (datetime.date(2024, 3, 1), datetime.date(2024, 3, 1), datetime.date(2024, 3, 1))
    >>> to_date(None) is None
    True
    >>> to_date(dt.datetime(2024, 3, 1, 12, 0))
    Traceback (most recent call last):
    ...
    TypeError: not a date: datetime.datetime(2024, 3, 1, 12, 0)
    """
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise TypeError(f"not a date: {value!r}")
