"""What the pages and the API share: one household as the caller may see it.

The read model is graphsvc/households.py; here it meets the request: the caller, the audit
of what the answer shows (its ids, read from the answer), the refusal answered 404.
"""

from __future__ import annotations

from flask import current_app, g

from graphsvc import households
from graphsvc.errors import Refused
from graphsvc.households import plain

from .guard import record_shown, refuse
from .neo import get_db

__all__ = ["household_for", "plain"]


def household_for(household_id: str, want_identity: bool = False, reason: str | None = None) -> dict:
    """The household as g.subject may see it, audited with every id it shows; 404 (audited)
    when they may not know it, the same as when it does not exist."""
    keyring = current_app.extensions["graphsvc_keyring"]
    try:
        action, shown, reason = households.read(get_db(), keyring, g.subject, household_id, want_identity, reason)
    except Refused as refused:
        refuse(refused, "household.identity.read" if want_identity else "household.read")
    record_shown(action, shown, reason=reason)
    return shown
