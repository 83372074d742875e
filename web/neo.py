"""The one Neo4j driver of a web process, opened on first use and closed at exit.

The first successful connection also applies the schema (idempotent), so that a server
pointed at a new database is ready without a separate step; until that succeeds every
request that needs the database fails (and /readyz answers 503).
"""

from __future__ import annotations

import atexit
import threading

from flask import Flask, current_app

from graphsvc.db import Database

_lock = threading.Lock()


def init_app(app: Flask) -> None:
    app.extensions["graphsvc_db"] = None


def get_db() -> Database:
    app = current_app._get_current_object()
    db = app.extensions.get("graphsvc_db")
    if db is None:
        with _lock:
            db = app.extensions.get("graphsvc_db")
            if db is None:
                db = Database.connect(app.config["GRAPHSVC_SETTINGS"])
                try:
                    db.ping()
                    db.apply_schema()
                except Exception:
                    db.close()
                    raise
                app.extensions["graphsvc_db"] = db
                atexit.register(db.close)
    return db
