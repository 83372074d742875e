"""The admin's pages: the audit log (filters, who-saw-what, export, chain status) and accounts."""

from __future__ import annotations

import datetime as dt
import io
import json
import time

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import format_number, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from graphsvc import access, accounts, audit, auditsearch, checkpoints, csvio
from graphsvc.model import plain

from . import auditsearch as auditsearch_web
from .args import AUDIT_FILTERS, audit_filters, takes
from .guard import actor, allow, audit_request, heavy
from .idem import idempotent
from .neo import get_db

bp = Blueprint("admin", __name__, url_prefix="/admin")

ACCOUNT_ERRORS = {
    "password_short": _l("The password needs at least 12 characters."),
    "password_long": _l("The password is too long."),
    "password_username": _l("The password must not contain the username."),
    "password_repetitive": _l("The password is too repetitive."),
    "username_invalid": _l("A username has 2 to 32 characters: lower-case letters, digits, '.', '_', '-'."),
    "role_invalid": _l("Choose a role."),
    "district_needed": _l("Coordinators and visitors need at least one district."),
    "user_exists": _l("That username is taken."),
    "no_user": _l("Not found."),
    "token_days": _l("A token lives 1 to 366 days."),
    "gender_invalid": _l("Gender is f (woman), m (man) or not set."),
    # issue 16: partners belong to an organisation (graphsvc/orgs.py)
    "org_needed": _l("A partner needs an organisation."),
    "no_org": _l("There is no such partner organisation."),
    "org_not_for_role": _l("Only partners belong to an organisation."),
    "org_no_districts": _l("A partner has no districts: they see what is shared with their organisation."),
}
CONFIRMED_VERBS = ("disable", "revoke-tokens", "reset-totp")  # destructive: a confirmation first

EXPORT_COLUMNS = audit.FIELDS  # every stored field of an event, prev and hash last


@bp.get("/audit")
@allow(access.AUDIT_READ)
@takes(*AUDIT_FILTERS, "verify", "before_seq", "after_seq")
def audit_page():
    # the search by code, code name, id, user, action, outcome and dates, a page at a time
    # (web/auditsearch.py, graphsvc/auditsearch.py)
    filters = auditsearch_web.search_args()
    shown_filters = auditsearch_web.shown(filters)
    found = auditsearch_web.find(dict(filters), AUDIT_PAGE)
    db = get_db()
    status, checked_at = _chain_status(db, force=request.args.get("verify") == "1")
    checkpoint = _checkpoint_status(db, status)
    # alerts of the last week (``alert.`` events: e.g. a visitor over the daily number of
    # addresses, graphsvc/visits.py), shown above the log whatever the filters
    alerts = audit.query(db, action="alert.", since=dt.datetime.now(dt.UTC) - ALERT_WINDOW, limit=20)
    page = found.get("page")
    events = page.events if page else []
    audit_request("audit.read", detail=f"{len(events)} events, {len(alerts)} alerts")
    return render_template(
        "admin_audit.html",
        events=[plain(e) for e in events],
        page=page,
        found=found,
        filters=shown_filters,
        status=status,
        checked_at=checked_at,
        checkpoint=checkpoint,
        alerts=[plain(a) for a in alerts],
        row_records=auditsearch.ROW_RECORDS,
    ), 404 if "unknown" in found else 200


AUDIT_PAGE = 50  # events per page of /admin/audit (keyset paging on seq: older/newer links)
ALERT_WINDOW = dt.timedelta(days=7)
VERIFY_MAX_AGE = 300  # seconds a verification result is shown before the page verifies again


def _chain_status(db, force: bool):
    """The chain's verification, at most VERIFY_MAX_AGE old: verify reads every event
    (about 7 s per million), too much for every page view."""
    cached = current_app.extensions.get("graphsvc_last_verify")
    now = time.time()
    if force or cached is None or now - cached[0] > VERIFY_MAX_AGE:
        result = audit.verify(db)
        audit_request("audit.verify", outcome="ok" if result.ok else "failure", detail=result.problem)
        cached = (now, result)
        current_app.extensions["graphsvc_last_verify"] = cached
    return cached[1], dt.datetime.fromtimestamp(cached[0], dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _checkpoint_status(db, chain: audit.VerifyResult) -> dict:
    """The newest signed checkpoint (graphsvc/checkpoints.py): its age, its event, and whether
    the chain still passes through it: that event still has the hash it signed (one index
    read) and the chain is intact up to it (the cached verification above)."""
    settings = current_app.config["GRAPHSVC_SETTINGS"]
    try:
        last = checkpoints.latest(settings.audit_checkpoints, checkpoints.trusted_keys())
    except checkpoints.CheckpointError as exc:
        return {"state": "unreadable", "detail": str(exc)}
    if last is None:
        return {"state": "none"}
    if isinstance(last, checkpoints.Problem):
        return {"state": "untrusted", "detail": last.text}
    age = dt.datetime.now(dt.UTC) - last.when
    view = {
        "seq": format_number(last.seq),
        "at": last.at,
        "age": format_timedelta(-max(age, dt.timedelta(0)), add_direction=True),
        "overdue": age > dt.timedelta(hours=settings.audit_checkpoint_hours),
        "hours": format_number(settings.audit_checkpoint_hours),
    }
    if not checkpoints.passes(db, last):
        view["state"] = "fails"
    elif not chain.ok and (chain.first_bad_seq is None or chain.first_bad_seq <= last.seq):
        view["state"] = "unknown"  # the chain is broken before it: it cannot be said to pass
    else:
        view["state"] = "passes"
    return view


@bp.get("/audit/export.<fmt>")
@allow(access.AUDIT_READ)
@takes(*AUDIT_FILTERS)
@heavy
def audit_export(fmt: str):
    if fmt not in ("csv", "jsonl"):
        return redirect(url_for("admin.audit_page"))
    filters = audit_filters()
    rows = [plain(r) for r in audit.export_rows(get_db(), **filters)]
    audit_request("audit.export", detail=f"{len(rows)} events as {fmt}")
    if fmt == "jsonl":
        body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        mimetype = "application/x-ndjson"
    else:
        buffer = io.StringIO()
        writer = csvio.writer(buffer)  # every cell spreadsheet-safe (graphsvc/csvio.py)
        writer.writerow(EXPORT_COLUMNS)
        for r in rows:
            writer.writerow([r.get(c) for c in EXPORT_COLUMNS])
        body = "\ufeff" + buffer.getvalue()
        mimetype = "text/csv"
    return Response(
        body,
        mimetype=mimetype + "; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename=audit.{fmt}"},
    )


@bp.get("/users")
@allow(access.USERS_MANAGE)
@takes("done")
def users_page():
    users = accounts.list_users(get_db())
    audit_request("users.read", [u["username"] for u in users])
    return render_template(
        "admin_users.html",
        users=[plain(u) for u in users],
        message=request.args.get("done"),
        form={},
        roles=access.REGISTRY.values(),
    )


@bp.post("/users")
@allow(access.USERS_MANAGE)
@idempotent
def users_create():
    """A new account with a first password that the admin hands over (12+ characters)."""
    form = request.form
    districts = [d.strip() for d in form.get("districts", "").split(";") if d.strip()]
    try:
        accounts.add_user(
            get_db(),
            actor(),
            form.get("username", "").strip().lower(),
            form.get("role", ""),
            districts,
            form.get("password", ""),
            form.get("gender") or None,
            org=form.get("org", "").strip() or None,  # issue 16: a partner's organisation
        )
    except accounts.AccountError as exc:
        users = accounts.list_users(get_db())
        audit_request("users.read", [u["username"] for u in users])
        return render_template(
            "admin_users.html",
            users=[plain(u) for u in users],
            error=ACCOUNT_ERRORS.get(exc.code, _("The request was not understood.")),
            form=form,
            roles=access.REGISTRY.values(),
        ), 400
    return redirect(url_for("admin.users_page", done="create"))


@bp.post("/users/<username>/<verb>")
@allow(access.USERS_MANAGE)
def users_change(username: str, verb: str):
    db = get_db()
    user = accounts.get_user(db, username)
    if user is None:
        abort(404)
    if verb in CONFIRMED_VERBS and request.form.get("confirm") != "yes":
        # no one-click destructive action: the button leads to a page that says what happens
        audit_request("users.read", [username])
        return render_template(
            "confirm.html",
            account={"username": username},
            verb=verb,
            action=url_for("admin.users_change", username=username, verb=verb),
            back=url_for("admin.users_page"),
        )
    if verb == "disable":
        if username == g.subject.username:
            return render_template("error.html", status=400, message=_("You cannot disable your own account.")), 400
        accounts.set_enabled(db, actor(), username, False)
    elif verb == "enable":
        accounts.set_enabled(db, actor(), username, True)
    elif verb == "revoke-tokens":
        accounts.revoke_tokens(db, actor(), username)
    elif verb == "reset-totp":
        accounts.set_totp(db, actor(), username, None, enabled=False)
    else:
        abort(404)
    return redirect(url_for("admin.users_page", done=verb))
