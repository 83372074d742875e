"""Import and export from the browser (graphsvc/transfer.py does the work).

``/import`` (coordinators: rows of their districts only; admins: everything): upload the
CSV files or one zip of them → the dry run's problems (``file:line``) and counts (new,
changed, unchanged) → confirm, which imports exactly the upload that was dry-run (kept
sealed server-side meanwhile, for its uploader only, for an hour) under the CLI's rules,
all or nothing. ``/export`` (admins): the export as one zip, redacted unless identity is
asked for with a stated reason.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from flask_babel import format_datetime, gettext

from graphsvc import access, transfer
from graphsvc.access import DistrictScope

from .guard import actor, allow, audit_request, deny, heavy
from .idem import idempotent
from .neo import get_db

bp = Blueprint("transfer", __name__)

IMPORT_ENDPOINTS = ("transfer.import_dry_run",)


def init_app(app: Flask) -> None:
    """Raise the upload limit for the import's upload alone (the app's is 1 MB), before the
    guard reads the form (its CSRF check), and keep the uploaded files in memory (Werkzeug
    spools large ones to a temporary file otherwise: plaintext identity on disk). A request
    over the limit gets the 413 page in its language."""

    @app.before_request
    def _upload_limit() -> None:
        if request.endpoint in IMPORT_ENDPOINTS:
            request.max_content_length = transfer.MAX_UPLOAD_BYTES
            request._get_file_stream = _memory_stream  # type: ignore[method-assign]

    app.register_error_handler(413, _too_large)


def _memory_stream(*_args: Any, **_kw: Any) -> io.BytesIO:
    return io.BytesIO()


def _too_large(_e: Exception):
    limit = (request.max_content_length or 0) // transfer.MB
    message = gettext("The upload is too large: at most %(limit)s MB at once.", limit=limit)
    if request.path.startswith("/api/"):
        return jsonify(error=message, status=413), 413
    return render_template("error.html", status=413, message=message), 413


def _keyring():
    return current_app.extensions["graphsvc_keyring"]


def _store() -> transfer.UploadStore:
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    return transfer.UploadStore(settings.state_dir / "imports", _keyring())


def _scope() -> tuple[str, ...] | None:
    """The districts the caller's rows may touch (None: all), after the policy's word."""
    if not access.decide(g.subject, access.DATA_IMPORT, DistrictScope(None)):
        deny(access.DATA_IMPORT, status=403, why="no import scope")
    return access.scope_districts(g.subject)


def _problem_text(p: transfer.UploadProblem) -> str:
    return gettext(transfer.MESSAGES[p.code], **{k: str(v) for k, v in p.values.items()})


def _page(status: int = 200, **context: Any):
    scope = access.scope_districts(g.subject)
    return render_template(
        "import.html",
        districts=scope,
        limit=transfer.MAX_UPLOAD_BYTES // transfer.MB,
        ttl_minutes=transfer.UPLOAD_TTL // 60,
        tables=list(transfer.FILENAMES),
        **context,
    ), status


@bp.get("/import")
@allow(access.DATA_IMPORT)
def import_page():
    _scope()
    _store().sweep()  # uploads left waiting past their hour go, whoever comes next
    return _page()


@bp.post("/import")
@allow(access.DATA_IMPORT)
@idempotent(deferred=True)
@heavy
def import_dry_run():
    """Check the upload, dry-run it, keep it sealed for the confirmation when it is valid."""
    districts = _scope()
    uploads = [(f.filename or "", f.read()) for f in request.files.getlist("files")]
    files, problems = transfer.read_bundle(uploads)
    if problems:
        audit_request("import.upload", outcome="failure", detail="; ".join(p.english() for p in problems)[:300])
        return _page(400, upload_problems=[_problem_text(p) for p in problems])
    db, keyring = get_db(), _keyring()
    report, counts = transfer.dry_run(db, files, keyring, actor(), districts)
    if transfer.blocking(report):
        return _page(400, report=report, problems=[str(p) for p in report.plan.problems], files=sorted(files))
    return _ready(report, counts, files)


def _ready(report, counts, files, status: int = 200, **context: Any):
    """The check passed (possible duplicates aside): keep the upload sealed and offer it."""
    upload = _store().put(g.subject.username, files)
    return _page(
        status,
        report=report,
        counts=counts,
        duplicates=[str(p) for p in report.plan.duplicates],
        files=sorted(files),
        token=upload.token,
        expires=format_datetime(upload.expires(), "short"),
        **context,
    )


def _taken(verb: str) -> transfer.Upload | None:
    """The caller's upload named by the form, taken out of the store; None (audited) when
    there is none: never made, another user's, expired or already confirmed, one answer
    for all."""
    token = request.form.get("token", "")
    try:
        return _store().take(g.subject.username, token)
    except transfer.UploadGone:
        audit_request(f"import.{verb}", outcome="denied", detail="no such upload of this user")
        return None


@bp.post("/import/confirm")
@allow(access.DATA_IMPORT)
@idempotent(deferred=True)
@heavy
def import_confirm():
    """Import the upload that was dry-run: validated again, then all of it or nothing."""
    districts = _scope()
    upload = _taken("confirm")
    if upload is None:
        return _page(404, gone=True)
    allow = request.form.get("allow_duplicates") == "1"
    report = transfer.run_import(get_db(), upload.files, _keyring(), actor(), districts, allow_duplicates=allow)
    if not report.ok and not transfer.blocking(report):  # possible duplicates, not allowed: asked again
        counts = transfer.changes(get_db(), report.plan, _keyring())
        return _ready(report, counts, upload.files, 409, ask_duplicates=True)
    if not report.ok:  # the database changed since the dry run: nothing was written
        return _page(409, report=report, problems=[str(p) for p in report.plan.problems], files=sorted(upload.files))
    return _page(imported=report.plan.counts(), files=sorted(upload.files))


@bp.post("/import/discard")
@allow(access.DATA_IMPORT)
def import_discard():
    _scope()
    if _taken("discard") is None:
        return _page(404, gone=True)
    audit_request("import.discard", detail="upload discarded before its import")
    return _page(discarded=True)


# --- export ------------------------------------------------------------------------------------


def _export_page(status: int = 200, **context: Any):
    return render_template("export.html", **context), status


@bp.get("/export")
@allow(access.DATA_EXPORT)
def export_page():
    return _export_page(form={})


@bp.post("/export")
@allow(access.DATA_EXPORT)
@heavy
def export_download():
    """The export as one zip, streamed from an unnamed temporary file; identity only with a
    stated reason (access.reason_problem), which goes on record."""
    from .guard import BAD_REQUEST

    identity = request.form.get("identity") == "1"
    reason = (request.form.get("reason") or "").strip() or None
    if identity:
        problem = access.reason_problem(reason)
        if problem is None and len(reason or "") > 1000:
            problem = "reason_long"
        if problem is not None:
            audit_request("export", outcome="denied", detail=f"identity export refused: {problem}")
            message = BAD_REQUEST.get(problem) or gettext("A reason is at most 1000 characters.")
            return _export_page(400, error=str(message), form=request.form)
    else:
        reason = None
    out, _counts = transfer.export_zip(get_db(), _keyring(), actor(), redact=not identity, reason=reason)

    def chunks():
        try:
            while block := out.read(64 * 1024):
                yield block
        finally:
            out.close()

    name = "graphsvc-export-identity.zip" if identity else "graphsvc-export-redacted.zip"
    return Response(
        chunks(),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
