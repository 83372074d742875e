"""The web app as it was before issue 14's bounded waits, for bench/outage.py's comparison:
the driver retries as it likes (up to 30 s, a backoff of 1, 2 … 16 s), no request deadline,
no breaker. (Served under gunicorn's plain threaded worker: no lane for /healthz, /readyz.)"""

from __future__ import annotations

from graphsvc.db import Database

_connect = Database.connect.__func__  # type: ignore[attr-defined]


def _unbounded(cls, settings, bounded=False, **driver_config):  # type: ignore[no-untyped-def]
    return _connect(cls, settings, False, **driver_config)


Database.connect = classmethod(_unbounded)  # type: ignore[method-assign,assignment]

from web import create_app  # noqa: E402  (after the patch)

app = create_app()
