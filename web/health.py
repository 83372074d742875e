"""Liveness and readiness, for process supervisors and load balancers (no personal data)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .guard import public
from .neo import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():
    """The process is up; says nothing of Neo4j."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz():
    """Neo4j answers; 503 when it does not, so that traffic is held back."""
    try:
        info = get_db().ping()
    except Exception as exc:  # any failure to reach the database means not ready
        current_app.logger.warning("readyz: Neo4j unreachable: %s", exc)
        return jsonify(status="unavailable", neo4j="unreachable"), 503
    return jsonify(status="ready", neo4j=info["version"])
