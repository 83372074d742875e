"""Sending a stored file, and receiving uploads, for the routes that do (photos, receipts).

``private_file(data, mime, download_name)``: the response of a file a route has decided the
caller may see (and audited): never cached (``no-store``), never sniffed (``nosniff``), never
run or framed even if opened directly (``Content-Security-Policy: default-src 'none';
sandbox``), inline or as a download.

``upload_limit(max_bytes)``: a mark on an upload route's view that raises the request size
limit for that route alone (the app's is 1 MiB), before the guard reads the form for its
CSRF check; the uploaded file is kept in memory, never spooled to a temporary file. A
request over the limit gets the 413 answer in its language (web/transfer.py's handler).

    @bp.post("/api/v1/visits/<visit_id>/photos")
    @allow(access.VISIT_REPORT)
    @upload_limit()  # one file of the configured size (GRAPHSVC_UPLOAD_MAX_MB)
    def upload(visit_id): ...

    @upload_limit(files=5)  # an expense with up to five receipts
    def submit(): ...
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, request

from graphsvc import uploads

PRIVATE_CSP = "default-src 'none'; sandbox"
# what a multipart form adds to its files: boundaries, the other fields, the CSRF token
FORM_SLACK = 256 * 1024


def private_file(data: bytes, mime: str, download_name: str | None = None) -> Response:
    """``data`` as a response that no cache keeps and no browser sniffs, runs or frames."""
    response = Response(data, mimetype=mime)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = PRIVATE_CSP
    response.headers["Content-Disposition"] = _disposition(download_name)
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.graphsvc_private = True  # type: ignore[attr-defined]  # read by init_app's after_request
    return response


def _disposition(download_name: str | None) -> str:
    if not download_name:
        return "inline"
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in download_name)
    return f"attachment; filename=\"{ascii_name or 'file'}\"; filename*=UTF-8''{quote(download_name, safe='')}"


def upload_limit(max_bytes: int | None = None, *, files: int = 1) -> Callable:
    """Mark a view: its requests may carry ``max_bytes`` (None: ``files`` files of the
    configured upload size, GRAPHSVC_UPLOAD_MAX_MB, plus the form around them)."""
    if files < 1:
        raise ValueError("files must be at least 1")

    def mark(view: Callable) -> Callable:
        view.upload_limit = (max_bytes or 0, files)  # type: ignore[attr-defined]  # read by init_app's hook
        return view

    return mark


def limits() -> uploads.Limits:
    """The upload limits of the running app's settings (GRAPHSVC_UPLOAD_*)."""
    return uploads.limits_of(current_app.config["GRAPHSVC_SETTINGS"])


def _memory_stream(*_args: Any, **_kw: Any) -> io.BytesIO:
    return io.BytesIO()


def init_app(app: Flask) -> None:
    """Register before the guard: the raised limit applies when the guard reads the form.
    A malformed GRAPHSVC_UPLOAD_* setting stops the app here (ValueError naming it), not at
    the first upload."""
    uploads.limits_of(app.config["GRAPHSVC_SETTINGS"])

    @app.before_request
    def _upload_limit() -> None:
        view = app.view_functions.get(request.endpoint or "")
        wanted = getattr(view, "upload_limit", None)
        if wanted is None:
            return
        max_bytes, files = wanted
        request.max_content_length = max_bytes or (files * limits().max_bytes + FORM_SLACK)
        request._get_file_stream = _memory_stream  # type: ignore[method-assign]

    @app.after_request
    def _private_headers(response: Response) -> Response:
        # the app's own headers (web/__init__.py) set the pages' CSP on every response: a
        # private file keeps its own, stricter one
        if getattr(response, "graphsvc_private", False):
            response.headers["Content-Security-Policy"] = PRIVATE_CSP
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response
