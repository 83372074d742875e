"""The household page as a desk: what the page shows besides the household itself (the
members' introducers, the districts a transfer may go to, the choices of its forms), shared
by the page (web/coordinator.py) and the desk's forms (web/desk.py), which render it again
with a message when a form is refused. Not a blueprint."""

from __future__ import annotations

from typing import Any

from flask import g, render_template
from flask_babel import gettext as _

from graphsvc import access, desk, households, records

from . import answers, mapview
from .guard import audit_shown
from .neo import get_db


def status_names() -> dict[str, str]:
    return {
        "active": _("Active"),
        "moved": _("Moved away"),
        "closed": _("Closed"),
        "do_not_visit": _("Do not visit"),
        "pending": _("Pending review"),
        "rejected": _("Rejected"),
    }


def context(h: dict[str, Any]) -> dict[str, Any]:
    """The desk's part of the page, for a subject who may correct the household (else
    nothing); audited with the ids it shows (the members' introducers)."""
    if "members" not in h or not access.role_may(g.subject, access.HOUSEHOLD_WRITE):
        return {"desk": None}
    found = households.facts(get_db(), g.subject, h["id"])
    if found is None or not access.decide(g.subject, access.HOUSEHOLD_WRITE, found):
        return {"desk": None}
    people = desk.members(get_db(), g.subject, h["id"])
    # the page's last event names everything the page shows: the household's answer (also
    # recorded by its read) and the desk's members with their introducers
    audit_shown("household.desk", [h, people], detail=f"{len(people)} members with their introducers")
    return {
        "desk": {
            "members": people,
            "statuses": {k: v for k, v in status_names().items() if k in records.DESK_STATUSES},
            "districts": [d for d in desk.districts(get_db()) if d != h["district"]],
            "women_only": found.women_only,
            # "Show identity" asks for a reason (admins: access.Role.identity_needs_reason)
            "needs_reason": bool(getattr(access.role_of(g.subject), "identity_needs_reason", False)),
        },
        "relations": answers.relation_names(),
        "status_names": status_names(),
    }


def render(h: dict[str, Any], status: int = 200, **extra: Any):
    """The household page (web/templates/household.html) for ``h`` (an answer of
    answers.household)."""
    return render_template(
        "household.html",
        h=h,
        classes=mapview.class_names(),
        outcomes=answers.outcome_names(),
        **{**context(h), **_shares(h), **extra},
    ), status


def _shares(h: dict[str, Any]) -> dict[str, Any]:
    from .partners import share_box  # issue 16: the "Shared with" box (web/partners.py)

    return share_box(h)
