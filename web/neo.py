"""The one Neo4j driver of a web process, opened on first use and closed at exit."""

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
                app.extensions["graphsvc_db"] = db
                atexit.register(db.close)
    return db
