"""What the pages and the API share, built from the core and audited with the ids they show.

A view parses its arguments, calls one of these (or the core directly), and renders; these
call the core (graphsvc/households.py, graphsvc/suggest.py), put the answer on record with
the ids read from the answer itself (guard.audit_shown) and word what needs words in the
page's language. Not a blueprint: the coordinator's, the visitor's and the API's blueprints
all use it, and none imports another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import current_app, g
from flask_babel import get_translations
from flask_babel import gettext as _

from graphsvc import access, dispatch, households, suggest, visits

from .guard import actor, audit_shown
from .neo import get_db


def _settings():
    return current_app.config["GRAPHSVC_SETTINGS"]


def household(household_id: str, identity: bool = False, reason: str | None = None) -> dict[str, Any]:
    """The household as g.subject may see it, audited with every id it shows. A refusal of
    the core (graphsvc.errors.Refused) goes up to the guard, which audits and answers it."""
    keyring = current_app.extensions["graphsvc_keyring"]
    action, shown, reason = households.read(get_db(), keyring, g.subject, household_id, identity, reason)
    read_notes = [v["id"] for v in shown.get("visits") or () if v.get("notes")]
    if read_notes and action == access.HOUSEHOLD_READ:  # a coordinator's read of visit notes (decrypted)
        audit_shown(access.VISIT_NOTES_READ.value, {"id": shown["id"], "visits": [{"id": v} for v in read_notes]})
    audit_shown(action, shown, reason=reason)
    return shown


def contact(household_id: str) -> dict[str, Any]:
    """Where to go: the contact of a household g.subject holds (graphsvc.visits.contact,
    which audits the identity read in its own transaction, with the claim's id); every
    page and answer leaves with ``Cache-Control: no-store`` (web/guard.py)."""
    keyring = current_app.extensions["graphsvc_keyring"]
    per_day = _settings().contact_reveals_per_day
    return visits.contact(get_db(), keyring, g.subject, actor(), household_id, per_day)


def claim(household_id: str) -> visits.ClaimResult:
    return visits.claim(get_db(), g.subject, actor(), household_id, max_live=_settings().max_live_claims)


def today() -> dt.date:
    """Today in the network's time zone (GRAPHSVC_TIMEZONE; the server's clock may be UTC)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(_settings().timezone)).date()


def report(body: Any) -> visits.Reported:
    keyring = current_app.extensions["graphsvc_keyring"]
    return visits.report(get_db(), keyring, g.subject, actor(), body, today=today())


def report_form(ref: str) -> dict[str, Any]:
    """The household a report is about, with the people to tap as met, audited with every
    id it shows."""
    form = visits.report_form(get_db(), g.subject, ref)
    audit_shown("visit.report.form", form)
    return form


def weights() -> suggest.Weights:
    """The suggestion weights of the app's settings, parsed once per app (not per request)."""
    made = current_app.extensions
    if "graphsvc_weights" not in made:
        made["graphsvc_weights"] = suggest.Weights.from_settings(_settings())
    return made["graphsvc_weights"]


def suggestions(subject: access.Subject, limit: int) -> list[dict[str, Any]]:
    """The subject's suggestions as the page and the API show them, audited with every id
    they show (under suggest.SHOWN_ACTION: the record of what was suggested to whom)."""
    found = suggest.suggest(get_db(), subject, dt.date.today(), limit, weights())
    held = visits.live_claims(get_db(), subject.username) if found else {}
    tr = translator()
    given = assigned(subject, tr)  # a coordinator's assignments first (graphsvc/dispatch.py)
    found = [s for s in found if s.household_id not in {a["household_id"] for a in given}]
    answer = given + [
        {
            "household_id": s.household_id,
            "code": s.code,
            "district": s.district,
            "score": round(s.score, 4),
            "reasons": [reason_text(r, tr) for r in s.reasons],
            "reason_codes": list(s.reasons),
            "path": list(s.path),
            # the subject's own live claim on it: until when (ISO), else None
            "claimed_until": held[s.household_id].isoformat() if s.household_id in held else None,
        }
        for s in found
    ]
    audit_shown(suggest.SHOWN_ACTION, answer, detail=f"{len(found)} suggestions, {len(given)} assigned")
    return answer


def assigned(subject: access.Subject, tr: Callable[..., str]) -> list[dict[str, Any]]:
    """The subject's live assignments as cards of the suggestions: "assigned by coord1:
    reason", with ``assigned`` (who, why, the claim, until when) and no score."""
    return [
        {
            "household_id": a["household_id"],
            "code": a["code"],
            "district": a["district"],
            "score": None,
            "reasons": [tr("Assigned by %(name)s: %(reason)s", name=a["assigned_by"], reason=a["reason"] or "–")],
            "reason_codes": [{"kind": "assigned"}],
            "path": [],
            "claimed_until": a["expires_at"],
            "assigned": {
                "by": a["assigned_by"],
                "reason": a["reason"],
                "claim_id": a["claim_id"],
                "on": a["assigned_at"],
                "until": a["expires_at"],
            },
        }
        for a in dispatch.assignments(get_db(), subject)
    ]


def translator() -> Callable[..., str]:
    """gettext bound to this request's catalogue: for the many reasons of one answer
    (flask_babel's gettext looks the catalogue up again on every call, 20 µs each)."""
    catalog = get_translations()

    def gettext(message: str, **values: Any) -> str:
        text = catalog.ugettext(message)
        return text % values if values else text

    return gettext


def reason_text(reason: dict[str, Any], _: Callable[..., str] = _) -> str:
    """One reason in plain words, in the page's language (``_``: a ``translator()``)."""
    kind = reason.get("kind")
    if kind == "warm":
        via = reason.get("via_code_name")
        code = reason.get("via_household_code")
        if reason.get("visited_on") and via is None:  # someone the visitor may not be told of
            if reason.get("hops", 1) <= 1:
                return _("Introduced by or to someone you met on %(date)s.", date=reason["visited_on"])
            return _(
                "%(hops)d introductions from someone you met on %(date)s.",
                hops=reason["hops"],
                date=reason["visited_on"],
            )
        via, code = via or "?", code or "?"
        if reason.get("visited_on"):
            if reason.get("hops", 1) <= 1:
                return _(
                    "Introduced by or to “%(name)s” of household %(code)s, which you visited on %(date)s.",
                    name=via,
                    code=code,
                    date=reason["visited_on"],
                )
            return _(
                "%(hops)d introductions from “%(name)s” of household %(code)s, which you visited on %(date)s.",
                hops=reason["hops"],
                name=via,
                code=code,
                date=reason["visited_on"],
            )
        if reason.get("hops", 1) <= 1:
            return _("Introduced by or to you (“%(name)s”).", name=via)
        return _("%(hops)d introductions from you.", hops=reason["hops"])
    if kind == "never_visited":
        return _("Never visited yet.")
    if kind == "follow_up_due":
        return _("A follow-up was planned for %(date)s.", date=reason.get("since") or "?")
    if kind == "overdue":
        return _("Last visited on %(date)s.", date=reason.get("last_visit") or "?")
    if kind == "newcomer":
        return _("Arrived recently (%(date)s).", date=reason.get("arrived_on") or "?")
    if kind == "waiting":
        days = reason.get("days", 0)
        if days >= 730:  # years read better than thousands of days
            if reason.get("since") == "arrival":
                return _("Never visited in the %(years)d years since it arrived.", years=days // 365)
            return _("Never visited in the %(years)d years since the introduction.", years=days // 365)
        if reason.get("since") == "arrival":
            return _("Waiting for %(days)d days since it arrived.", days=days)
        return _("Waiting for %(days)d days since the introduction.", days=days)
    if kind == "failed_attempts":
        return _("%(n)d visits without meeting anyone.", n=reason.get("count", 0))
    return str(kind)


def relation_names() -> dict[str, str]:
    return {"family": _("Family"), "friend": _("Friend"), "neighbour": _("Neighbour"), "other": _("Other")}


def outcome_names() -> dict[str, str]:
    return {
        "met": _("Met them"),
        "not_home": _("Nobody home"),
        "refused": _("Refused"),
        "moved": _("Moved away"),
        "other": _("Other"),
    }
