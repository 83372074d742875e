"""The visitor's pages, phone first: next households with reasons, claims, visit reports,
and their own history. The JSON twins live in api.py; both go through graphsvc.suggest
and graphsvc.visits, and every answer is audited with the ids it showed."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_translations
from flask_babel import gettext as _

from graphsvc import access, suggest, visits

from .guard import actor, allow, record, record_shown
from .neo import get_db
from .args import takes

bp = Blueprint("visitor", __name__)


def weights() -> suggest.Weights:
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    return current_app.extensions.setdefault("graphsvc_weights", suggest.Weights.from_env(dict(settings.suggest_env)))


def after_visit(db):
    """What a visit report runs in its transaction: the household's visit summary."""
    return lambda tx, household_id: suggest.refresh_visit_summary_in_tx(tx, db, [household_id])


def suggestions_answer(subject: access.Subject, limit: int) -> list[dict[str, Any]]:
    """The subject's suggestions as the page and the API show them, audited with every id
    they show (graphsvc/shown.py reads them from this very answer)."""
    found = suggest.suggest(get_db(), subject, dt.date.today(), limit, weights())
    tr = translator()
    answer = [{
        "household_id": s.household_id, "code": s.code, "district": s.district,
        "score": round(s.score, 4), "reasons": [reason_text(r, tr) for r in s.reasons],
        "reason_codes": list(s.reasons), "path": list(s.path),
    } for s in found]
    record_shown(suggest.SHOWN_ACTION, answer, detail=f"{len(found)} suggestions")
    return answer


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
            return _("%(hops)d introductions from someone you met on %(date)s.",
                     hops=reason["hops"], date=reason["visited_on"])
        via, code = via or "?", code or "?"
        if reason.get("visited_on"):
            if reason.get("hops", 1) <= 1:
                return _("Introduced by or to “%(name)s” of household %(code)s, which you visited on %(date)s.",
                         name=via, code=code, date=reason["visited_on"])
            return _("%(hops)d introductions from “%(name)s” of household %(code)s, which you visited on %(date)s.",
                     hops=reason["hops"], name=via, code=code, date=reason["visited_on"])
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
        return _("Waiting for %(days)d days since the introduction.", days=reason.get("days", 0))
    if kind == "failed_attempts":
        return _("%(n)d visits without meeting anyone.", n=reason.get("count", 0))
    return str(kind)


def refused(error: visits.VisitError, household_id: str | None, action: str) -> None:
    """Audit a refused claim or report that the policy refused (404) or that another
    visitor's claim blocked (409), then answer it."""
    if error.status in (404, 409):
        record(action, [household_id] if household_id else [], outcome="denied", detail=str(error)[:200])


@bp.get("/suggestions")
@allow(access.SUGGESTIONS_READ)
@takes("claimed", "released", "error")
def suggestions_page():
    found = suggestions_answer(g.subject, 20)
    notice = None
    if request.args.get("claimed"):
        notice = _("Claimed: it is yours for %(days)d days, until you report the visit.", days=visits.CLAIM_DAYS)
    elif request.args.get("released"):
        notice = _("Released: others may visit it now.")
    return render_template("suggestions.html", suggestions=found, notice=notice,
                           error=request.args.get("error"))


@bp.post("/households/<household_id>/claim")
@allow(access.HOUSEHOLD_CLAIM)
def claim_form(household_id: str):
    try:
        visits.claim(get_db(), g.subject, actor(), household_id)
    except visits.VisitError as error:
        refused(error, household_id, "household.claim")
        if error.status == 404:
            abort(404)
        return redirect(url_for("visitor.suggestions_page", error=error.code))
    return redirect(url_for("visitor.suggestions_page", claimed=1))


@bp.post("/households/<household_id>/release")
@allow(access.HOUSEHOLD_CLAIM)
def release_form(household_id: str):
    try:
        visits.release(get_db(), g.subject, actor(), household_id)
    except visits.VisitError as error:
        refused(error, household_id, "household.release")
        abort(404)
    return redirect(url_for("visitor.history_page", released=1))


OUTCOMES = ("met", "not_home", "refused", "moved")
MATERIALS = ("bible", "hymnal")


def outcome_names() -> dict[str, str]:
    return {"met": _("Met them"), "not_home": _("Nobody home"), "refused": _("Refused"),
            "moved": _("Moved away")}


def _form_body(form) -> dict[str, Any]:
    """The form's fields as a report body (the same names as the JSON API)."""
    materials = {}
    for name in MATERIALS:
        raw = (form.get(f"materials_{name}") or "").strip()
        if raw:
            if not raw.isdigit():
                raise visits.VisitError(400, _("%(field)s: a whole number", field=name), "materials")
            if int(raw):
                materials[name] = int(raw)
    other = (form.get("materials_other") or "").strip()
    body = {k: (form.get(k) or "").strip() or None
            for k in ("household_id", "visited_on", "outcome", "follow_up_on", "notes")}
    text = ";".join(f"{k}:{v}" for k, v in materials.items())
    if other:
        text = f"{text};{other}" if text else other
    body["materials"] = text or None
    return body


@bp.route("/visits/new", methods=["GET", "POST"])
@allow(access.VISIT_REPORT)
@takes("household_id")
def report_page():
    values: dict[str, Any] = {"household_id": request.args.get("household_id", ""),
                              "visited_on": dt.date.today().isoformat()}
    error = field = None
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            body = _form_body(request.form)
            visit_id = visits.report(get_db(), current_app.extensions["graphsvc_keyring"], g.subject, actor(),
                                     body, after_write=after_visit(get_db()))
        except visits.VisitError as exc:
            refused(exc, values.get("household_id"), "visit.report")
            error, field = str(exc), exc.field
        else:
            return redirect(url_for("visitor.history_page", reported=visit_id))
    status = 400 if error else 200
    return render_template("report.html", values=values, error=error, field=field, outcomes=outcome_names(),
                           materials=MATERIALS, today=dt.date.today().isoformat()), status


@bp.get("/history")
@allow(access.VISIT_REPORT)
@takes("reported", "released")
def history_page():
    data = visits.history(get_db(), g.subject.username)
    record("history.read", [v["household_id"] for v in data["visits"]] + [c["household_id"] for c in data["claims"]],
           detail=f"{len(data['visits'])} visits, {len(data['claims'])} claims")
    now = dt.datetime.now(dt.timezone.utc)
    return render_template("history.html", visits=data["visits"], claims=data["claims"], now=now,
                           outcomes=outcome_names(), reported=request.args.get("reported"),
                           released=request.args.get("released"))
