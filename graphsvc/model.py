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
from typing import Any

from . import access


def N_(message: str) -> str:
    """Marks a message for translation where it is defined (the core has no Flask): the web
    layer translates it where it is shown (``gettext(message)``); ``pybabel extract -k N_``
    collects it (babel.cfg reads graphsvc/ too)."""
    return message


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
    # pending: brought back from a visit, awaiting a coordinator's review (never suggested,
    # never claimable); rejected: reviewed and turned down (kept, out of every list);
    # merged: reviewed and found to be a household already known (graphsvc/intake.py:
    # its people moved there, merged_into names it; kept, out of every list)
    ("active", "moved", "closed", "do_not_visit", "pending", "rejected", "merged"),
    {
        "활동": "active",
        "이사": "moved",
        "종결": "closed",
        "방문금지": "do_not_visit",
        "방문 금지": "do_not_visit",
        "검토 대기": "pending",
        "대기": "pending",
        "반려": "rejected",
        "병합": "merged",
    },
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
    {"여": "f", "여성": "f", "female": "f", "woman": "f", "w": "f", "남": "m", "남성": "m", "male": "m", "man": "m"},
)

YES_NO = Vocabulary(
    "yes/no",
    ("true", "false"),
    {
        "yes": "true",
        "y": "true",
        "1": "true",
        "예": "true",
        "네": "true",
        "o": "true",
        "no": "false",
        "n": "false",
        "0": "false",
        "아니요": "false",
        "아니오": "false",
        "x": "false",
    },
)

ROLE = Vocabulary(
    "role",
    access.ROLES,  # the registry of roles (graphsvc/access.py)
    {alias: role.name for role in access.REGISTRY.values() for alias in role.aliases},
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


def to_date(value: Any) -> dt.date | None:
    """A date from what Neo4j, Python or text give: a Neo4j Date, a ``datetime.date``, an
    ISO ``YYYY-MM-DD`` string, or None (None stays None). The one conversion of the code base.

    >>> import neo4j.time
    >>> to_date(neo4j.time.Date(2026, 3, 1)), to_date("2026-03-01"), to_date(None)
    (datetime.date(2026, 3, 1), datetime.date(2026, 3, 1), None)
    """
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if hasattr(value, "to_native"):
        native = value.to_native()
        return native.date() if isinstance(native, dt.datetime) else native
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise TypeError(f"not a date: {type(value).__name__}")


def plain(value: Any) -> Any:
    """Neo4j values → JSON values (dates and times as ISO text), at any depth.

    >>> import datetime
    >>> plain({"on": datetime.date(2026, 1, 2), "xs": [datetime.date(2026, 1, 3)]})
    {'on': '2026-01-02', 'xs': ['2026-01-03']}
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def to_datetime(value: Any) -> dt.datetime | None:
    """A time from Neo4j or Python as an aware ``datetime`` (naive ones are taken as UTC).

    >>> import neo4j.time
    >>> to_datetime(neo4j.time.DateTime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)).isoformat()
    '2026-03-01T09:30:00+00:00'
    """
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a time: {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
