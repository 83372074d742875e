"""Liveness and readiness, for process supervisors and load balancers (no personal data).

Both answer within a second whatever else the process is doing: gunicorn hands them to
threads of their own (web/worker.py), and /readyz waits for Neo4j at most ``READY_WAIT``
seconds; one ping at a time is in flight, and a probe that comes while it runs waits for
that same ping rather than starting another.
"""

from __future__ import annotations

import threading
from concurrent import futures

from flask import Blueprint, current_app, jsonify

from .guard import public
from .neo import get_db

bp = Blueprint("health", __name__)

READY_WAIT = 0.8  # seconds /readyz waits for Neo4j's answer
_pinger = futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphsvc-readyz")
_lock = threading.Lock()
_ping: futures.Future | None = None


@bp.get("/healthz")
@public
def healthz():
    """The process is up; says nothing of Neo4j."""
    return jsonify(status="ok")


def _ping_now(app) -> dict[str, str]:
    with app.app_context():
        return get_db().ping(timeout=READY_WAIT)


@bp.get("/readyz")
@public
def readyz():
    """Neo4j answers; 503 when it does not, or not within READY_WAIT, so that traffic is held back."""
    global _ping
    with _lock:
        if _ping is None or _ping.done():
            _ping = _pinger.submit(_ping_now, current_app._get_current_object())  # type: ignore[attr-defined]
        ping = _ping
    try:
        info = ping.result(timeout=READY_WAIT)
    except futures.TimeoutError:
        current_app.logger.warning("readyz: Neo4j did not answer within %.1f s", READY_WAIT)
        return jsonify(status="unavailable", neo4j="slow"), 503
    except Exception as exc:  # any failure to reach the database means not ready
        current_app.logger.warning("readyz: Neo4j unreachable: %s", exc)
        return jsonify(status="unavailable", neo4j="unreachable"), 503
    return jsonify(status="ready", neo4j=info["version"])
