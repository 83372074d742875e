"""The audit's questions for admins (issue 15 §1): search by code, "who saw X", "what did user Y see".

Pages: ``/admin/audit`` (web/admin.py, the search: its arguments are parsed here),
``/admin/audit/who-saw?target=<id, code or code name>``, ``/admin/audit/user/<username>``.
API: ``GET /api/v1/audit`` (web/api.py, through ``api_events``) and
``GET /api/v1/audit/who-saw/<id or code>``. The core is graphsvc/auditsearch.py; reading the
audit is itself audited (``audit.read``), admins only (access.AUDIT_READ).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, jsonify, make_response, render_template, url_for
from flask_babel import gettext as _

from graphsvc import access, audit, auditsearch
from graphsvc.model import plain

from .args import BadField, audit_filters, date_arg, int_arg, takes, text_arg
from .guard import allow, audit_request
from .neo import get_db

bp = Blueprint("auditsearch", __name__, url_prefix="/admin/audit")
api_bp = Blueprint("auditsearch_api", __name__, url_prefix="/api/v1/audit")

PAGING = ("before_seq", "after_seq")
MAX_SEQ = 2**62


def search_args(pages: bool = True) -> dict[str, Any]:
    """The search's filters and page (400 naming the argument when one is malformed): those
    of AUDIT_FILTERS, checked further (an outcome of audit.OUTCOMES, an action name or prefix,
    on pages since not after until), and before_seq and/or after_seq."""
    filters = audit_filters()
    outcome = filters.get("outcome")
    if outcome is not None and outcome not in audit.OUTCOMES:
        raise BadField("outcome", _("one of %(values)s", values=", ".join(audit.OUTCOMES)))
    action = filters.get("action")
    if action is not None and not audit.ACTION_RE.match(action.removesuffix(".")):
        raise BadField("action", _("an action like household.read, or a prefix like household."))
    if pages and filters.get("since") and filters.get("until") and filters["since"] > filters["until"]:
        # a page says so; the API answers an empty page, as it always did
        raise BadField("until", _("the end comes before the start"))
    before = int_arg("before_seq", None, 1, MAX_SEQ)
    after = int_arg("after_seq", None, 0, MAX_SEQ)
    filters["before_seq"], filters["after_seq"] = before, after
    return filters


def shown(filters: dict[str, Any]) -> dict[str, str]:
    """The filters as they go back into a form and links (dates as text, no paging)."""
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else str(v))
        for k, v in filters.items()
        if v is not None and k not in PAGING
    }


def find(filters: dict[str, Any], limit: int) -> dict[str, Any]:
    """The search for a page or the API: ``page`` (auditsearch.Page) or, when the target names
    nothing, ``unknown`` (the text), or when it names several people, ``choices``."""
    db = get_db()
    text = filters.pop("target", None)
    target = None
    if text is not None:
        try:
            target = auditsearch.resolve(db, text)
        except auditsearch.AmbiguousTarget as exc:
            return {"choices": exc.candidates, "text": text}
        except auditsearch.UnknownTarget:
            return {"unknown": text}
    page = auditsearch.search(db, target=target, limit=limit, **filters)
    return {"page": auditsearch.page_labels(db, page), "target": target}


def _since_until() -> tuple[dt.date | None, dt.date | None]:
    since, until = date_arg("since"), date_arg("until")
    if since and until and since > until:
        raise BadField("until", _("the end comes before the start"))
    if since and not until and since > dt.datetime.now(dt.UTC).date():
        raise BadField("since", _("a date in the future"))
    return since, until


# --- pages -----------------------------------------------------------------------------------


@bp.get("/who-saw")
@allow(access.AUDIT_READ)
@takes("target")
def who_saw_page():
    text = text_arg("target", 200)
    context: dict[str, Any] = {"text": text or "", "rows": None}
    status = 200
    if text:
        db = get_db()
        try:
            target = auditsearch.resolve(db, text)
        except auditsearch.AmbiguousTarget as exc:
            context["choices"] = exc.candidates
            audit_request("audit.read", detail=f"who saw: {len(exc.candidates)} people share a code name")
        except auditsearch.UnknownTarget:
            context["unknown"] = text
            status = 404
            audit_request("audit.read", detail="who saw: no such record")
        else:
            rows = auditsearch.who_saw(db, target)
            context.update(target=target, rows=[plain(r) for r in rows])
            audit_request("audit.read", [target.id], detail=f"who saw: {len(rows)} accounts")
    return render_template("admin_audit_who.html", **context), status


@bp.get("/event/<int:seq>")
@allow(access.AUDIT_READ)
def event_page(seq: int):
    """One event with every record it names, by code (a row lists the first few)."""
    found = auditsearch.event(get_db(), seq) if seq <= MAX_SEQ else None
    if found is None:
        abort(404)
    audit_request("audit.read", detail=f"event {seq}")
    return render_template("admin_audit_event.html", e=plain(found))


@bp.get("/user/<username>")
@allow(access.AUDIT_READ)
@takes("since", "until")
def user_page(username: str):
    if not audit.is_target(username):
        abort(404)
    since, until = _since_until()
    view = auditsearch.user_view(get_db(), username, since, until)
    audit_request("audit.read", [username], detail=f"user view: {view['events']} events")
    return render_template("admin_audit_user.html", view=plain(view))


@bp.get("/user")
@allow(access.AUDIT_READ)
@takes("actor", "since", "until")
def user_form():
    """``/admin/audit/user?actor=Y``: the form's way to /admin/audit/user/Y."""
    name = text_arg("actor", 200)
    if not name:
        raise BadField("actor", _("a username is needed"))
    since, until = _since_until()
    dates: dict[str, Any] = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v}
    return make_response("", 303, {"Location": url_for("auditsearch.user_page", username=name, **dates)})


# --- API -------------------------------------------------------------------------------------


def api_events() -> Any:
    """``GET /api/v1/audit`` (web/api.py): events newest first, a page of ``limit``; ``target``
    an id, household code or code name (409 with the candidates when several people share the
    code name, 404 when nothing has it); next pages through ``next_before_seq`` (older) and
    ``next_after_seq`` (newer)."""
    filters = search_args(pages=False)
    limit = int_arg("limit", 500, 1, auditsearch.MAX_PAGE)
    found = find(filters, limit)
    if "unknown" in found:
        audit_request("audit.read", detail="no such record")
        return jsonify(error=_("No household or person with that code."), status=404, field="target"), 404
    if "choices" in found:
        audit_request("audit.read", detail=f"{len(found['choices'])} people share a code name")
        return jsonify(
            error=_("Several people have that code name: choose one by id."),
            status=409,
            field="target",
            code="target_ambiguous",
            candidates=[plain(c) for c in found["choices"]],
        ), 409
    page = found["page"]
    audit_request("audit.read", detail=f"{len(page.events)} events")
    return jsonify(
        events=[plain(e) for e in page.events],
        next_before_seq=page.older,
        next_after_seq=page.newer,
        target=found["target"].id if found["target"] else None,
    )


@api_bp.get("/who-saw/<target>")
@allow(access.AUDIT_READ)
def api_who_saw(target: str):
    db = get_db()
    try:
        found = auditsearch.resolve(db, target)
    except auditsearch.AmbiguousTarget as exc:
        audit_request("audit.read", detail=f"who saw: {len(exc.candidates)} people share a code name")
        return jsonify(
            error=_("Several people have that code name: choose one by id."),
            status=409,
            field="target",
            code="target_ambiguous",
            candidates=[plain(c) for c in exc.candidates],
        ), 409
    except auditsearch.UnknownTarget:
        audit_request("audit.read", detail="who saw: no such record")
        return jsonify(error=_("No household or person with that code."), status=404, field="target"), 404
    rows = auditsearch.who_saw(db, found)
    audit_request("audit.read", [found.id], detail=f"who saw: {len(rows)} accounts")
    return jsonify(
        target={"kind": found.kind, "id": found.id, "label": found.label, "ids": list(found.ids)},
        accounts=[plain(r) for r in rows],
    )
