"""Alerts for the admins (graphsvc/alerts.py): the banner on every page an admin sees, the
page ``/admin/alerts`` (open and recently acknowledged alerts, Acknowledge with a note), and
``GET /api/v1/alerts``, ``POST /api/v1/alerts/<id>/ack``.

The rules are evaluated here at most every GRAPHSVC_ALERT_CHECK_SECONDS per process, when an
admin's page or the alerts API is served (``graphsvc audit alerts --check`` from cron does it
without the web). Reading alerts is the admins' (``audit.read``, the audit's own permission).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from graphsvc import access, alerts
from graphsvc.errors import Refused

from . import guard
from .args import BadField, flag_arg, json_object, takes
from .guard import actor, allow, audit_refusal, audit_request
from .neo import get_db

_log = logging.getLogger(__name__)

bp = Blueprint("alerts", __name__)
api_bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1")

RULE_LABELS = {
    alerts.READS: _l("Reads far above the account's habit"),
    alerts.OFF_HOURS: _l("Identity read outside working hours"),
    alerts.CONTACT_CAP: _l("Over the daily number of addresses"),
    alerts.DENIALS: _l("Repeated denied requests"),
    "alert.duress": _l("Duress sign-in"),
}
MESSAGES = {
    "no_alert": _l("There is no such alert."),
    "already_acknowledged": _l("This alert was acknowledged already."),
    "note_long": _l("Note: at most 300 characters."),
    "note_invalid": _l("Note: text is expected."),
}
guard.REFUSAL_MESSAGES.update(MESSAGES)

_CHECKED = "graphsvc_alerts_checked"  # app.extensions: this process's _Checks


class _Checks:
    """One process's evaluations of the rules: when the last began, whether one runs, and
    what they keep (alerts.Memo)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: float | None = None
        self.running = False
        self.memo = alerts.Memo()


def rules() -> alerts.Rules:
    return alerts.Rules.from_settings(current_app.config["GRAPHSVC_SETTINGS"])


def maybe_check() -> None:
    """Evaluate the rules in the background when the last evaluation of this process began
    longer ago than the setting and none runs: the admin's request does not wait for it (on
    a month of 10,000 events a day it takes seconds; bench/alerts.py). A failure is logged;
    the next request tries again."""
    current = rules()
    if not current.check_seconds:
        return
    checks: _Checks = current_app.extensions[_CHECKED]
    now = time.monotonic()
    with checks.lock:
        if checks.running or (checks.last is not None and now - checks.last < current.check_seconds):
            return
        checks.running, checks.last = True, now
    db = get_db()

    def run() -> None:
        try:
            alerts.check(db, current, memo=checks.memo)
        except Exception:  # the banner must not take the admin's pages down
            _log.exception("alerts: the check failed")
        finally:
            checks.running = False

    threading.Thread(target=run, name="graphsvc-alerts", daemon=True).start()


def _may_read() -> bool:
    subject = g.get("subject")
    return subject is not None and access.role_may(subject, access.AUDIT_READ)


def _banner() -> dict[str, Any]:
    """The banner's data for an admin's page: how many alerts are open (a count only: the
    page behind the link says which, and is audited)."""
    if not _may_read() or request.endpoint in ("alerts.alerts_page", "static"):
        return {}
    try:
        maybe_check()
        count = alerts.open_count(get_db())
    except Exception:
        _log.exception("alerts: the banner could not be read")
        return {}
    return {"alert_banner": count} if count else {}


def label(action: str) -> str:
    return str(RULE_LABELS.get(action, action))


def _shown(views: list[dict[str, Any]], detail: str) -> None:
    """Audit what a list shows: the accounts it names."""
    accounts = sorted({v["account"] for v in views if v["account"]})
    audit_request("alerts.read", accounts, detail=detail)


# --- the page ------------------------------------------------------------------------------


def _page(error: str | None = None, status: int = 200, form: dict[str, str] | None = None):
    maybe_check()
    views = alerts.listing(get_db(), everything=True)
    open_ = [v for v in views if v["acknowledged"] is None]
    done = [v for v in views if v["acknowledged"] is not None]
    _shown(views, f"{len(open_)} open, {len(done)} acknowledged")
    return render_template(
        "admin_alerts.html",
        open_alerts=open_,
        acknowledged=done,
        label=label,
        error=error,
        form=form or {},
        notice=_("Acknowledged.") if request.method == "GET" and request.args.get("done") == "ack" else None,
    ), status


@bp.get("/admin/alerts")
@allow(access.AUDIT_READ)
@takes("done")
def alerts_page():
    return _page()


@bp.post("/admin/alerts/<alert_id>/ack")
@allow(access.AUDIT_READ)
def ack_form(alert_id: str):
    try:
        alerts.acknowledge(get_db(), g.subject, actor(), alert_id, request.form.get("note"))
    except Refused as refused:
        if refused.kind == "not_found":
            guard.refuse(refused)
        audit_refusal(refused)
        return _page(guard.refusal_message(refused), guard.REFUSAL_STATUS[refused.kind], request.form.to_dict())
    return redirect(url_for("alerts.alerts_page", done="ack"))


# --- the API -------------------------------------------------------------------------------


@api_bp.get("/alerts")
@allow(access.AUDIT_READ)
@takes("all")
def alerts_list():
    """Open alerts, newest first; ``?all=1`` adds the recently acknowledged ones."""
    everything = flag_arg("all")
    maybe_check()
    views = alerts.listing(get_db(), everything=everything)
    open_count = sum(1 for v in views if v["acknowledged"] is None)
    _shown(views, f"api: {open_count} open, {len(views) - open_count} acknowledged")
    return jsonify(alerts=views, open=open_count)


@api_bp.post("/alerts/<alert_id>/ack")
@allow(access.AUDIT_READ)
def alerts_ack(alert_id: str):
    """Acknowledge an alert: ``{"note": …}`` (optional; an empty body is no note)."""
    body = json_object() if request.get_data(cache=True) else {}
    for key in body:
        if key != "note":
            raise BadField(key[:40], _("no such field"))
    done = alerts.acknowledge(get_db(), g.subject, actor(), alert_id, body.get("note"))
    return jsonify(alert=done)


def init_app(app: Flask) -> None:
    app.extensions[_CHECKED] = _Checks()
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.context_processor(_banner)
