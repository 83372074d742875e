"""Visit photos (issue 16 §5): the upload (a phone's camera, after a report), the review
page where a coordinator blacks out what identifies and marks the photo sanitized, the
files themselves (no-store, audited) and the newsletter export. The rules are the core's
(graphsvc/photos.py, access.decide_photo); this module parses, calls and answers.

Pages: ``/visits/<id>/photos`` (the visit's photos; the upload form for its reporter),
``/photos/review`` (what waits for review), ``/photos/<id>/review`` (draw boxes, sanitize,
export). API: ``POST /api/v1/visits/<id>/photos`` (multipart ``file``), ``GET
/api/v1/visits/<id>/photos``, ``GET /api/v1/photos/<id>?variant=original|sanitized``,
``POST /api/v1/photos/<id>/sanitize``, ``POST /api/v1/photos/<id>/newsletter``, ``GET
/api/v1/photos/review``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from graphsvc import access, photos, records
from graphsvc.errors import Refused
from graphsvc.model import N_

from . import guard
from .args import json_object, takes, text_arg
from .filesend import private_file, upload_limit
from .guard import actor, allow, audit_refusal, audit_request, audit_shown, refusal_message
from .idem import idempotent
from .neo import get_db

bp = Blueprint("photos", __name__)
api_bp = Blueprint("photos_api", __name__, url_prefix="/api/v1")


class _Said:
    """A refusal's message, translated when it is shown, with the numbers it names."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message) % {"days": photos.UPLOAD_DAYS}


guard.REFUSAL_MESSAGES.update({code: _Said(message) for code, message in photos.REFUSALS.items()})


def init_app(app: Flask) -> None:
    """The blueprints and the desk's section. The upload routes raise their own size limit
    (``upload_limit``: web/filesend.py, before the guard reads the form) and keep the file in
    memory (never a temporary file: a photo with its GPS on disk)."""
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.jinja_env.globals["photos_to_review"] = desk_section


def _body(known: tuple[str, ...]) -> dict[str, Any]:
    """The JSON body; an unknown field is refused 400, named (records' ``unknown_field``)."""
    body = json_object()
    for name in body:
        if name not in known:
            problem = records.Problem(str(name)[:40], "unknown_field", {"value": repr(str(name)[:40])})
            raise Refused("invalid", problem.english(), problem.field, problems=(problem,))
    return body


def _db_args() -> tuple[Any, Any, Any]:
    return get_db(), current_app.config["GRAPHSVC_SETTINGS"], current_app.extensions["graphsvc_keyring"]


def _file_bytes() -> bytes:
    """The uploaded ``file`` (one); Refused invalid naming ``file`` when there is none."""
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    if not data:
        raise Refused("invalid", "no file", "file", code="no_file")
    return data


guard.REFUSAL_MESSAGES.setdefault("no_file", _Said(N_("Choose a photo to upload.")))


def desk_section() -> list[dict[str, Any]]:
    """The desk's "Photos to review" (web/templates/_desk_photos.html), audited with what it shows."""
    subject = g.get("subject")
    if subject is None:
        return []
    found = photos.to_review(get_db(), subject, limit=20)
    if found:
        audit_shown("photos.review.list", found, detail=f"desk: {len(found)} photos to review")
    return found


# --- pages ------------------------------------------------------------------------------------


@bp.get("/visits/<visit_id>/photos")
@allow(access.HOUSEHOLD_READ)
@takes("added")
def visit_photos_page(visit_id: str):
    found = photos.for_visit(get_db(), g.subject, visit_id)
    audit_shown("photos.read", found, detail=f"{len(found['photos'])} photos")
    return render_template("photos_visit.html", v=found, added=request.args.get("added"), error=None)


@bp.post("/visits/<visit_id>/photos")
@allow(access.VISIT_REPORT)
@upload_limit(None)
@idempotent
def upload_form(visit_id: str):
    db, settings, keyring = _db_args()
    try:
        done = photos.upload(db, settings, keyring, g.subject, actor(), visit_id, _file_bytes())
    except Refused as refused:
        audit_refusal(refused, "photo.upload")
        if refused.kind == "not_found":
            abort(404)
        found = photos.for_visit(db, g.subject, visit_id)
        return render_template("photos_visit.html", v=found, added=None, error=refusal_message(refused)), (
            guard.REFUSAL_STATUS[refused.kind]
        )
    return redirect(url_for("photos.visit_photos_page", visit_id=visit_id, added=done["id"]))


@bp.get("/photos/review")
@allow(access.PHOTO_REVIEW)
def review_list_page():
    return render_template("photos_review_list.html")  # the list: _desk_photos.html (audited there)


@bp.get("/photos/<photo_id>/review")
@allow(access.PHOTO_REVIEW)
@takes("done")
def review_page(photo_id: str):
    return _review(photo_id, done=request.args.get("done"))


def _review(photo_id: str, error: str | None = None, status: int = 200, **extra: Any):
    db, settings, keyring = _db_args()
    shown = photos.review(db, settings, keyring, g.subject, photo_id)
    audit_shown("photo.review", shown, detail=f"{len(shown['suggestions'])} faces suggested")
    return render_template(
        "photo_review.html",
        p=shown,
        suggestions=json.dumps(shown["suggestions"]),
        max_boxes=photos.MAX_BOXES,
        error=error,
        **extra,
    ), status


def _boxes_field(raw: str | None) -> object:
    """The form's boxes (JSON, as the review page's script writes them); anything else is
    handed on as it is, for the core to name what is wrong."""
    try:
        return json.loads(raw) if raw else []
    except ValueError:
        return raw


@bp.post("/photos/<photo_id>/sanitize")
@allow(access.PHOTO_REVIEW)
@idempotent
def sanitize_form(photo_id: str):
    db, settings, keyring = _db_args()
    try:
        photos.sanitize(
            db,
            settings,
            keyring,
            g.subject,
            actor(),
            photo_id,
            _boxes_field(request.form.get("boxes")),
            nothing_identifying=request.form.get("nothing_identifying") == "1",
        )
    except Refused as refused:
        audit_refusal(refused, "photo.sanitize")
        if refused.kind == "not_found":
            abort(404)
        return _review(photo_id, refusal_message(refused), guard.REFUSAL_STATUS[refused.kind])
    return redirect(url_for("photos.review_page", photo_id=photo_id, done="sanitized"))


@bp.post("/photos/<photo_id>/newsletter")
@allow(access.PHOTO_REVIEW)
def newsletter_form(photo_id: str):
    db, settings, keyring = _db_args()
    try:
        archive, _row = photos.newsletter(
            db, settings, keyring, g.subject, actor(), photo_id, request.form.get("caption")
        )
    except Refused as refused:
        audit_refusal(refused, "photo.export")
        if refused.kind == "not_found":
            abort(404)
        return _review(
            photo_id, refusal_message(refused), guard.REFUSAL_STATUS[refused.kind], caption=request.form.get("caption")
        )
    return private_file(archive, "application/zip", f"newsletter-{photo_id}.zip")


# --- the API ----------------------------------------------------------------------------------


@api_bp.post("/visits/<visit_id>/photos")
@allow(access.VISIT_REPORT)
@upload_limit(None)
@idempotent
def upload(visit_id: str):
    """A photo of a visit the caller reported (multipart ``file``): 201 ``{id, state:
    "unsanitized", visit_id}``."""
    db, settings, keyring = _db_args()
    done = photos.upload(db, settings, keyring, g.subject, actor(), visit_id, _file_bytes())
    return jsonify(done), 201


@api_bp.get("/visits/<visit_id>/photos")
@allow(access.HOUSEHOLD_READ)
def visit_photos(visit_id: str):
    found = photos.for_visit(get_db(), g.subject, visit_id)
    audit_shown("photos.read", found, detail=f"api: {len(found['photos'])} photos")
    return jsonify(found)


@api_bp.get("/photos/review")
@allow(access.PHOTO_REVIEW)
def review_list():
    return jsonify(photos=desk_section())


@api_bp.get("/photos/<photo_id>")
@allow(access.HOUSEHOLD_READ)
@takes("variant")
def photo_file(photo_id: str):
    """One variant of a photo (``?variant=sanitized``, the default, or ``original``), never
    stored by the browser, audited (``photo.read``)."""
    variant = text_arg("variant", 20) or "sanitized"
    db, settings, keyring = _db_args()
    data, mime, row = photos.read_file(db, settings, keyring, g.subject, photo_id, variant)
    audit_request("photo.read", [row["id"], row["visit_id"], row["household_id"]], detail=variant)
    return private_file(data, mime)


@api_bp.post("/photos/<photo_id>/sanitize")
@allow(access.PHOTO_REVIEW)
@idempotent
def sanitize(photo_id: str):
    """``{"boxes": [[x, y, w, h], …], "nothing_identifying": false}`` → the sanitized photo's
    state."""
    body = _body(("boxes", "nothing_identifying"))
    nothing = body.get("nothing_identifying", False)
    if not isinstance(nothing, bool):
        raise Refused("invalid", "true or false", "nothing_identifying", code="not_bool")
    db, settings, keyring = _db_args()
    return jsonify(
        photos.sanitize(
            db, settings, keyring, g.subject, actor(), photo_id, body.get("boxes"), nothing_identifying=nothing
        )
    )


guard.REFUSAL_MESSAGES.setdefault("not_bool", _Said(N_("nothing_identifying: true or false")))


@api_bp.post("/photos/<photo_id>/newsletter")
@allow(access.PHOTO_REVIEW)
def newsletter(photo_id: str):
    """``{"caption": …}`` → a zip: the sanitized photo, its caption, an HTML page of both."""
    body = _body(("caption",))
    db, settings, keyring = _db_args()
    archive, _row = photos.newsletter(db, settings, keyring, g.subject, actor(), photo_id, body.get("caption"))
    return private_file(archive, "application/zip", f"newsletter-{photo_id}.zip")
