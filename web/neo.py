"""The one Neo4j driver of a web process, opened on first use and closed at exit, and the
process's audit shipper (graphsvc/journal.py), started with it.

The first successful connection also applies the schema (idempotent), so that a server
pointed at a new database is ready without a separate step; until that succeeds every
request that needs the database fails (and /readyz answers 503).
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app

from graphsvc import audit, journal
from graphsvc.db import Database

if TYPE_CHECKING:
    from werkzeug.local import LocalProxy

    from graphsvc.journal import Journal

_lock = threading.Lock()


def init_app(app: Flask) -> None:
    app.extensions["graphsvc_db"] = None


def get_db() -> Database:
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()
    db = app.extensions.get("graphsvc_db")
    if db is None:
        with _lock:
            db = app.extensions.get("graphsvc_db")
            if db is None:
                db = Database.connect(app.config["GRAPHSVC_SETTINGS"], bounded=True)
                try:
                    db.ping()
                    db.apply_schema()
                except Exception:
                    db.close()
                    raise
                app.extensions["graphsvc_db"] = db
                atexit.register(db.close)
                settings = app.config["GRAPHSVC_SETTINGS"]
                # its own driver; short retries (its loop retries anyway, and at exit it must not hang)
                journal.start_shipper(
                    cast("Journal", db.journal),  # Database.connect opens the journal of the settings
                    lambda: Database.connect(settings, max_transaction_retry_time=2.0),
                    audit.flush,
                )
                # what is left of the folded denials (graphsvc/floodgate.py) is recorded at exit
                gate = app.extensions["graphsvc_gate"]

                def record_folded() -> None:
                    for event in gate.drain(everything=True):
                        audit.to_journal(db, **event)

                atexit.register(record_folded)
    return db
