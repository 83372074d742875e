"""Partner organisations (issue 16): a ministry's partners work in organisations, and a
partner's account belongs to one (``graphsvc users add NAME --role partner --org ORG``).

A partner's reach is the households a coordinator shared with its organisation, or brought
in by its own visit reports (graphsvc/access.py ``org_scoped``, ``shared_with_subject``).

>>> clean_name("  새희망  선교회 ")
'새희망 선교회'
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from . import audit
from .errors import Refused
from .model import Actor

if TYPE_CHECKING:
    import neo4j

    from .db import Database

MAX_NAME = 80


def clean_name(name: object) -> str:
    """An organisation's name as stored: NFC, inner runs of spaces made one, trimmed.
    Refused("invalid", field "org") when empty, too long or with control characters."""
    if not isinstance(name, str):
        raise Refused("invalid", "an organisation's name is text", "org", code="org_name")
    raw = unicodedata.normalize("NFC", name).strip()
    text = " ".join(raw.split())
    if not text or len(text) > MAX_NAME or any(unicodedata.category(c).startswith("C") for c in raw):
        raise Refused("invalid", f"an organisation's name has 1 to {MAX_NAME} characters", "org", code="org_name")
    return text


def add_org(db: Database, actor: Actor, name: str) -> str:
    """Create an organisation (audited ``org.create``); its name as stored. Refused
    ``conflict`` (code ``org_exists``) when one of that name exists."""
    name = clean_name(name)

    def work(tx: neo4j.ManagedTransaction) -> str:
        if not db.run_in_tx(tx, "org_create", org=name):
            raise Refused("conflict", f"organisation {name!r} exists", "org", code="org_exists")
        audit.append_in_tx(tx, db, **actor.event(), action="org.create", targets=[name])
        return name

    return db.write_tx(work)


def list_orgs(db: Database) -> list[dict[str, Any]]:
    """Every organisation: ``{name, created_at, partners: [username, …]}`` by name."""
    return db.read("org_list")


def get_org(db: Database, name: str) -> dict[str, Any] | None:
    rows = db.read("org_get", org=name)
    return rows[0] if rows else None


def org_of(db: Database, username: str) -> str | None:
    """The organisation of an account (None: none, or no such account)."""
    rows = db.read("org_of", username=username)
    return rows[0]["org"] if rows else None


def partners_of(db: Database, org: str) -> list[str]:
    """The usernames of the accounts of an organisation."""
    return [r["username"] for r in db.read("org_partners", org=org)]
