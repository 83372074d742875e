"""The OpenAPI 3.1 description of /api/v1, served at ``GET /api/v1/openapi.json``.

The document is data (``web/openapi.json``, package data: a wheel carries it), written by
hand next to the routes it describes; tests/test_openapi.py holds the two together (every
/api/v1 route of the URL map is in the document and every operation of the document is a
route, and the real server's answers conform to it). Public: it describes the API and
holds no personal data, like /healthz it is not audited.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app

from .guard import public

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def document_text() -> str:
    """The document as served (read once per process)."""
    return DOCUMENT.read_text(encoding="utf-8")


def document() -> dict[str, Any]:
    """The document as data."""
    return json.loads(document_text())


@bp.get("/openapi.json")
@public
def openapi_json():
    return current_app.response_class(document_text(), mimetype="application/json")
