"""The JSON API for scripts and the phone app: /api/v1, personal access tokens.

Errors are JSON with a message (guard.py); a household the caller may not see answers
404, as if it did not exist. Every answer that carries personal data is audited with the
ids it showed before it leaves.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from graphsvc import access, audit

from . import views
from .guard import allow, record
from .neo import get_db

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/me")
@allow(access.SELF_READ)
def me():
    s = g.subject
    record("me.read", [s.username])
    return jsonify(username=s.username, role=s.role, districts=list(s.districts))


@bp.get("/households/<household_id>")
@allow(access.HOUSEHOLD_READ)
def household(household_id: str):
    reason = (request.args.get("reason") or "").strip()[:300] or None
    want = request.args.get("identity") in ("1", "true", "yes")
    shown = views.household_for(household_id, want, reason)
    return jsonify(shown)


@bp.get("/audit")
@allow(access.AUDIT_READ)
def audit_list():
    filters = views.audit_filters(request.args)
    limit = views.int_arg("limit", 500, 1, 1000)
    before = views.int_arg("before_seq", None, 1, 2**62)
    rows = audit.query(get_db(), limit=limit, before_seq=before, **filters)
    record("audit.read", detail=f"{len(rows)} events")
    # the next page: ?before_seq=<next_before_seq> with the same filters
    next_before = rows[-1]["seq"] if len(rows) == limit else None
    return jsonify(events=[views.plain(r) for r in rows], next_before_seq=next_before)


@bp.get("/audit/verify")
@allow(access.AUDIT_READ)
def audit_verify():
    result = audit.verify(get_db())
    record("audit.verify", outcome="ok" if result.ok else "failure", detail=result.problem)
    return jsonify(ok=result.ok, count=result.count, first_bad_seq=result.first_bad_seq,
                   problem=result.problem, seconds=round(result.seconds, 3))
