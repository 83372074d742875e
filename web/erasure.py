"""The admin's erasure page (graphsvc/erasure.py): ``/admin/erase/<kind>/<id>``.

GET shows what an erasure touches (counts and codes, never identity); POST with the CSRF
token and a stated reason erases. Admins only (access.RECORD_ERASE)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l

from graphsvc import access, erasure
from graphsvc.errors import Refused

from .guard import BAD_REQUEST, actor, allow, audit_request
from .idem import idempotent
from .neo import get_db

bp = Blueprint("erasure", __name__, url_prefix="/admin/erase")

REASON_ERRORS = {
    **{code: BAD_REQUEST[code] for code in ("reason_missing", "reason_short")},
    "reason_names_identity": _l("The reason must not name the person: write why, not who."),
}
MAX_REASON = 500


def _subject() -> access.Subject:
    from flask import g

    return g.subject


def _preview(kind: str, record_id: str):
    """The preview, or the page's answer for a record erased already (409)."""
    try:
        return erasure.preview(get_db(), _subject(), kind, record_id), None
    except Refused as refused:
        if refused.code != "already_erased":
            raise
        audit_request(access.RECORD_ERASE.value, [record_id], outcome="denied", detail="erased already")
        return None, (render_template("erase.html", kind=kind, record_id=record_id, already=True), 409)


@bp.get("/<kind>/<record_id>")
@allow(access.RECORD_ERASE)
def erase_page(kind: str, record_id: str):
    if kind not in erasure.KINDS:
        abort(404)
    seen, answer = _preview(kind, record_id)
    if answer:
        return answer
    audit_request("erase.preview", [record_id, seen["household_id"]] if seen["household_id"] else [record_id])
    return render_template("erase.html", kind=kind, record_id=record_id, seen=seen, form={})


@bp.post("/<kind>/<record_id>")
@allow(access.RECORD_ERASE)
@idempotent
def erase_post(kind: str, record_id: str):
    if kind not in erasure.KINDS:
        abort(404)
    reason = request.form.get("reason", "")[:MAX_REASON]
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    try:
        done = erasure.erase(
            get_db(),
            current_app.extensions["graphsvc_keyring"],
            _subject(),
            actor(),
            kind,
            record_id,
            reason,
            state_dir=settings.state_dir,
        )
    except Refused as refused:
        if refused.field != "reason":
            if refused.code == "already_erased":
                return _preview(kind, record_id)[1] or abort(409)
            raise
        seen, answer = _preview(kind, record_id)
        if answer:
            return answer
        error = REASON_ERRORS.get(refused.code or "", REASON_ERRORS["reason_missing"])
        return render_template(
            "erase.html", kind=kind, record_id=record_id, seen=seen, form=request.form, error=error
        ), 400
    return render_template("erase.html", kind=kind, record_id=record_id, done=done)
