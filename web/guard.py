"""Every request passes here: who is asking, may this route be used, and the audit trail.

Each view declares its rule with one decorator (``public``, ``signed_in`` or
``allow(action)``); a view without a rule is refused (fail closed) and a test enumerates
the routes to prove that none lacks one. Object-level checks happen in the views with
``graphsvc.access.decide``; a refusal there is answered 404 (the caller may not learn that
the object exists) and audited.

Browsers authenticate with a server-side session (cookie ``gs_session``); scripts with a
personal access token (``Authorization: Bearer gs_…``), under /api only. Forms carry a
CSRF token bound to the session (or, before sign-in, to a pre-session cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, NoReturn

import neo4j.exceptions
from flask import Flask, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, TooManyRequests

from graphsvc import accounts, audit, shown, waits
from graphsvc.access import Subject, role_may, role_of
from graphsvc.db import timed_out
from graphsvc.errors import Refused
from graphsvc.floodgate import Gate
from graphsvc.model import Actor
from graphsvc.records import MESSAGES, Problem

from . import worker
from .args import BadField, check_known
from .neo import get_db

# What an error answers, by status (and, for 400, by the reason given to abort()).
HTTP_MESSAGES = {
    401: _l("Sign-in required."),
    403: _l("You do not have access to this page."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    414: _l("The address is too long. Shorten it (fewer or shorter arguments) and try again."),
    431: _l("The request's headers are too large (a cookie or header too big). Remove them and try again."),
    429: _l("Too many failed attempts. Wait 15 minutes and try again."),
}
BUSY_MESSAGES = {
    "timeout": _l("This took too long and was stopped. Narrow it (one district, one chain) and try again."),
    "heavy": _l("Another large map or list of yours is still being made. Try again in %(n)d seconds."),
    "failures": _l("Too many failed requests from your address. Try again in %(n)d seconds."),
}
HEAVY_RETRY = 3  # seconds a refused heavy request is told to wait
# keyed by message id; looked up with HTTPException.description too, which may be None
BAD_REQUEST: dict[str | None, Any] = {
    "csrf": _l("The form expired. Please go back, reload the page and try again."),
    # access.reason_problem's message ids: why a stated reason was refused
    "reason_missing": _l("Identity fields are shown to admins only with a stated reason."),
    "reason_short": _l(
        "Say why in a few words (at least two words and six letters), e.g. “checking the address before a visit”."
    ),
}


# A write whose commit's fate is unknown (the connection broke while committing): what is true.
COMMIT_UNKNOWN = {
    "api": _l(
        "The connection to the database broke while this was being saved: it may or may not have been saved. "
        "Send the same request again with the same Idempotency-Key: it will not be saved twice."
    ),
    "page": _l(
        "The connection to the database broke while this was being saved: it may or may not have been saved. "
        "Go back and send the form again: it will not be saved twice."
    ),
}


def commit_unknown(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) left a commit's fate unknown. The chain may loop:
    graphsvc/db.py re-raises a driver wrapper's cause "from" the wrapper."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, neo4j.exceptions.IncompleteCommit):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


SESSION_COOKIE = "gs_session"
PRE_COOKIE = "gs_pre"
# Endpoints a signed-in user may reach before the second factor is done.
SECOND_FACTOR_ENDPOINTS = ("auth.totp", "auth.totp_enrol", "auth.logout", "static", "home.index")


# --- declaring rules ---------------------------------------------------------------------


def _rule(kind: str, action: str | None = None) -> Callable:
    def mark(view: Callable) -> Callable:
        # a mark on the view function, read by the guard (mypy does not know function attributes)
        view.access_rule = (kind, action)  # type: ignore[attr-defined]
        return view

    return mark


public = _rule("public")
signed_in = _rule("signed_in")


def heavy(view: Callable) -> Callable:
    """The route makes big maps or lists: it runs only in a free slot of its user's and the
    server's (graphsvc/slots.py); without one it answers 429 at once."""
    view.heavy = True  # type: ignore[attr-defined]  # a mark on the view function, read by the guard
    return view


def allow(action: str) -> Callable:
    """The route needs ``decide(subject, action)`` to allow (object checks come in the view)."""
    return _rule("action", action)


def rule_of(app: Flask, endpoint: str):
    if endpoint == "static":
        return ("public", None)
    view = app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


# --- the request cycle ---------------------------------------------------------------------


def is_api() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def actor() -> Actor:
    subject: Subject | None = g.get("subject")
    ua = (request.headers.get("User-Agent") or "-")[:200]
    if subject is None:
        return Actor("-", "-", request.remote_addr or "-", ua)
    return Actor(subject.username, subject.role, request.remote_addr or "-", ua)


def address() -> str:
    """The client's address (as the trusted proxies, GRAPHSVC_PROXY_HOPS, tell it)."""
    return request.remote_addr or "-"


def gate() -> Gate:
    return current_app.extensions["graphsvc_gate"]


def audit_request(action: str, targets=(), outcome: str = "ok", **extra) -> None:
    """Record an audit event for this request now (durably, in the audit journal: see
    graphsvc/journal.py); raises, and so fails the request, if it cannot.

    A refusal (outcome other than ok) counts against the address's failure budget and
    folds with identical ones (graphsvc/floodgate.py): the first of a kind in a minute is
    recorded now, the rest as one event with their count when the minute is over; past
    the budget, refusals fold by kind whatever their targets."""
    if g.get("token_prefix"):  # every token use is on record, with which token
        via = f"token {g.token_prefix}…"
        extra["detail"] = f"{extra['detail']}; {via}" if extra.get("detail") else via
    event = {**actor().event(), "action": action, "targets": list(targets), "outcome": outcome, **extra}
    if outcome != "ok":
        if gate().over_budget(address()) is not None:
            event.update(targets=[], detail="past the failure budget of its address")
        if not gate().note(address(), event, request.endpoint):
            return
    audit.to_journal(get_db(), **event)


def too_many(retry_after: float, why: str = "failures") -> NoReturn:
    """429 with Retry-After; the refusal itself folds into one event per minute and address."""
    audit_request("rate.limited", outcome="denied", detail=why)
    raise TooManyRequests(description=why, retry_after=int(retry_after) + 1)


def _over_budget() -> float | None:
    return gate().over_budget(address())


def audit_shown(action: str, answer, outcome: str = "ok", **extra) -> None:
    """Record what this answer shows: its targets are every record id in ``answer``
    (graphsvc/shown.py), the very data that leaves, not a list kept beside it."""
    audit_request(action, shown.ids_in(answer), outcome=outcome, **extra)


REFUSAL_STATUS = {"not_found": 404, "forbidden": 403, "invalid": 400, "conflict": 409, "busy": 429}


def route_action() -> str:
    """The action the current route declares (``allow``), else its endpoint's name."""
    rule = rule_of(current_app, request.endpoint or "")
    return str(rule[1]) if rule and rule[1] else (request.endpoint or "-")


def audit_refusal(refused: Refused, action: str | None = None) -> None:
    """Put a refusal of the core on record when it denied access (not_found, forbidden) or
    met a conflict; an invalid input changes nothing and is answered, not recorded."""
    if refused.kind in ("not_found", "forbidden", "conflict", "busy"):
        # a refusal's targets may be what the caller typed: only those that can be ids go on record
        targets = [t for t in refused.targets if audit.is_target(t)]
        audit_request(action or route_action(), targets, outcome="denied", detail=refused.why[:200] or None)


REFUSAL_MESSAGES = {
    "claimed": _l("Another visitor has claimed this household."),
    "not_active": _l("This household is not active: it cannot be claimed."),
    "no_claim": _l("You hold no claim on this household."),
    "claim_limit": _l("You hold as many claims as allowed: report or release one first."),
    "contact_cap": _l(
        "You have opened the addresses of as many households as allowed in 24 hours. "
        "Ask your coordinator if you need more."
    ),
    "no_org": _l("There is no such partner organisation."),  # issue 16 (graphsvc/sharing.py)
    "org_name": _l("An organisation's name has 1 to 80 characters."),
}


def problem_text(problem: Problem) -> str:
    """A record layer's problem (graphsvc/records.py) in the page's language."""
    return gettext(MESSAGES[problem.code], field=problem.field, **problem.values)


def refusal_message(refused: Refused) -> str:
    """What people read of a refusal, in the page's language."""
    if refused.problems:
        return problem_text(refused.problems[0])
    if refused.code in REFUSAL_MESSAGES:
        return str(REFUSAL_MESSAGES[refused.code])
    if refused.code in BAD_REQUEST:
        message = str(BAD_REQUEST[refused.code])
        return f"{refused.field}: {message}" if refused.field else message
    if refused.kind == "invalid":
        return _("%(field)s: %(problem)s", field=refused.field or "-", problem=refused.why)
    return str(HTTP_MESSAGES.get(REFUSAL_STATUS[refused.kind], refused.why))


def refuse(refused: Refused, action: str | None = None) -> NoReturn:
    """Answer a refusal of the core: audited (``audit_refusal``), then its status by kind,
    the message in the page's language, and for the API the field, the code and every
    problem: the one place where the core's kinds become HTTP answers."""
    audit_refusal(refused, action)
    status = REFUSAL_STATUS[refused.kind]
    message = refusal_message(refused)
    if is_api():
        body: dict = {"error": message, "status": status, "field": refused.field, "code": refused.code or refused.kind}
        if refused.problems:
            body["problems"] = [
                {"field": p.field, "code": p.code, "message": problem_text(p)} for p in refused.problems
            ]
        abort(make_response(jsonify(body), status))
    abort(make_response(render_template("error.html", status=status, message=message), status))


def deny(action: str, targets=(), status: int = 404, why: str = "") -> None:
    """Audit a refused access and answer ``status`` (404 hides that the object exists)."""
    audit_request(action, targets, outcome="denied", detail=why[:200] or None)
    abort(status)


def needs_second_factor(subject: Subject, totp_enabled: bool) -> bool:
    """A TOTP code after the password: for the roles that need one, and anyone who chose it."""
    role = role_of(subject)
    return (role is not None and role.needs_totp) or totp_enabled


def _load_subject() -> None:
    g.subject = None
    g.session_id = None
    g.token_prefix = None
    db = get_db()
    header = request.headers.get("Authorization", "")
    if header:
        if not is_api():
            abort(400)
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        subject = accounts.token_subject(db, token)
        if subject is None:
            retry = _over_budget()
            if retry is not None:
                too_many(retry)
            audit_request("token.invalid", outcome="denied")
            abort(401)
        g.subject = subject
        g.token_prefix = token[:7]
        return
    sid = request.cookies.get(SESSION_COOKIE)
    info = accounts.session_user(db, sid) if sid else None
    if info is None:
        g.session_revoked = bool(sid)  # ended, frozen, signed out elsewhere or timed out: clear_site_data
        return
    g.session_id = sid
    needs_second = needs_second_factor(info.subject, info.totp_enabled)
    g.second_factor_pending = needs_second and not info.second_factor
    g.subject = info.subject


CLEAR_SITE_DATA = '"cache", "cookies", "storage"'
CLEAR_SPARED = ("auth.login", "team.reset_password")


def clear_site_data(response) -> None:
    """A request that came with the cookie of a session that no longer opens (issue 15 §3:
    ended, frozen, signed out elsewhere, timed out) is answered with ``Clear-Site-Data``
    (the browser drops this site's cache, cookies and storage) and the cookie's removal:
    the redirect to sign-in (or the API's 401). Not without such a cookie, and not on the
    sign-in and reset forms (``CLEAR_SPARED``: their CSRF token rests on the pre-session
    cookie, which the browser would drop too): there the dead cookie is only removed."""
    if not g.get("session_revoked"):
        return
    cookies = response.headers.getlist("Set-Cookie")
    if any(c.startswith(f"{SESSION_COOKIE}=") for c in cookies):
        return  # a sign-in over a dead cookie starts a new session; or the cookie is removed already
    if request.endpoint not in CLEAR_SPARED:
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    response.delete_cookie(SESSION_COOKIE, samesite="Strict", httponly=True, secure=request.is_secure)


def csrf_token() -> str:
    key = current_app.config["SECRET_KEY"]
    basis = g.get("session_id") or g.get("pre_session") or ""
    return hmac.new(key.encode(), basis.encode(), hashlib.sha256).hexdigest()


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or g.get("token_prefix"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a mismatch)
    if not (g.get("session_id") or g.get("pre_session")) or not hmac.compare_digest(
        sent.encode(), csrf_token().encode()
    ):
        audit_request("csrf.rejected", outcome="denied", detail=request.path[:100])
        abort(400, description="csrf")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["may"] = lambda action: role_may(g.get("subject"), action)

    @app.before_request
    def guard():
        g.pre_session = request.cookies.get(PRE_COOKIE)
        if not g.pre_session or len(g.pre_session) > 64:
            g.pre_session = secrets.token_urlsafe(24)
            g.set_pre_cookie = True
        endpoint = request.endpoint
        if endpoint is None or endpoint == "static":
            return None  # no route matched (Flask answers 404/405 next), or a static file
        rule = rule_of(app, endpoint)
        if rule is None:
            current_app.logger.error("route %s has no access rule: refused", endpoint)
            abort(403)
        view = app.view_functions.get(endpoint)
        check_known(view, request.args)
        if endpoint in ("health.healthz", "health.readyz"):
            return None  # no database, no audit: they must answer while Neo4j is away
        # the request's time (graphsvc/waits.py): a deadline, none for the long routes
        settings = current_app.config["GRAPHSVC_SETTINGS"]
        long_route = getattr(view, "heavy", False)
        g.budget = waits.begin(
            None if long_route else settings.request_deadline, settings.request_deadline, worker.queued_at()
        )
        for event in gate().drain():  # summaries of folded denials whose minute is over
            audit.to_journal(get_db(), **event)
        retry = _over_budget()
        if (
            retry is not None
            and (rule[0] != "public" or request.method == "POST")
            and not (request.headers.get("Authorization") or request.cookies.get(SESSION_COOKIE))
        ):
            too_many(retry)  # an address past its failure budget, without credentials: no work at all
        _load_subject()
        _check_csrf()
        kind, action = rule
        if kind == "public":
            return None
        if g.subject is None:
            audit_request("access.unauthenticated", outcome="denied", detail=request.path[:100])
            if is_api():
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        if g.get("second_factor_pending") and endpoint not in SECOND_FACTOR_ENDPOINTS:
            return redirect(url_for("auth.totp"))
        if kind == "action" and not role_may(g.subject, action):
            deny(action, status=403, why=f"not for the role {g.subject.role}")
        if getattr(view, "heavy", False):
            held = current_app.extensions["graphsvc_slots"].take(g.subject.username)
            if held is None:  # the user's (or the server's) heavy requests are all running
                raise TooManyRequests(description="heavy", retry_after=HEAVY_RETRY)
            g.heavy_slots = held
        return None

    @app.teardown_request
    def release_slots(_exc):
        held = g.pop("heavy_slots", None)
        if held is not None:
            held.release()
        budget = g.pop("budget", None)
        if budget is not None:
            try:
                waits.end(budget)
            except ValueError:  # ended in another context than it began (a streamed answer)
                pass

    @app.after_request
    def cookies_and_cache(response):
        if g.get("set_pre_cookie"):
            response.set_cookie(PRE_COOKIE, g.pre_session, httponly=True, samesite="Strict", secure=request.is_secure)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        clear_site_data(response)
        return response

    def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra):
        if is_api():
            response = make_response(jsonify(error=message, status=status, **extra), status)
        else:
            response = make_response(render_template("error.html", status=status, message=message), status)
        response.headers.update(headers or {})
        return response

    @app.errorhandler(Refused)
    def core_refused(e: Refused):
        try:
            refuse(e)
        except HTTPException as answer:
            return answer.get_response()

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = e.code or 500
        retry = getattr(e, "retry_after", None)
        if code == 429 and e.description in BUSY_MESSAGES:
            seconds = int(retry or HEAVY_RETRY)
            headers = {"Retry-After": str(seconds)}
            message = str(BUSY_MESSAGES[e.description]) % {"n": seconds}
            if is_api():
                return _error(429, message, headers)
            response = make_response(
                render_template(
                    "error.html", status=429, message=message, refresh=seconds if request.method == "GET" else None
                ),
                429,
            )
            response.headers.update(headers)
            return response
        if isinstance(e, BadField):
            return _error(400, _("%(field)s: %(problem)s", field=e.field, problem=e.problem), field=e.field)
        if code == 400:
            message = BAD_REQUEST.get(e.description, _("The request was not understood."))
        else:
            message = HTTP_MESSAGES.get(code, e.name)
        # a 405 says which methods the resource has (RFC 9110 §15.5.6), as Werkzeug's own would
        allowed = getattr(e, "valid_methods", None)
        return _error(code, str(message), {"Allow": ", ".join(allowed)} if code == 405 and allowed else None)

    @app.errorhandler(Exception)
    def failure(e):
        if isinstance(e, waits.Unavailable) or waits.connection_lost(e):
            # Neo4j is away, or did not answer within the request's deadline: the transaction
            # that failed committed nothing (a lost commit is IncompleteCommit, not this)
            current_app.logger.warning("request %s %s: %s", request.method, request.path[:100], e)
            budget = waits.current()
            if budget is not None and budget.committed:
                # not a 503: a 503 tells a client that nothing was done and it may send it again
                message = _(
                    "Your change was saved, but the database stopped answering before this page was made. "
                    "Reload it in a few seconds."
                )
                return _error(500, message, code="saved_unanswered")
            message = _("The database is not answering. Nothing was changed: try again in a few seconds.")
            return _error(503, message, {"Retry-After": str(waits.RETRY_AFTER)}, code="unavailable")
        budget = waits.current()
        if timed_out(e) and budget is not None and (budget.left() or 0) < 0.5 and not budget.committed:
            # ended by the request's deadline (graphsvc/waits.py), not by its class's timeout
            current_app.logger.warning("request %s %s past its deadline: %s", request.method, request.path[:100], e)
            message = _("The database is slow to answer just now. Nothing was changed: try again in a few seconds.")
            return _error(503, message, {"Retry-After": str(waits.RETRY_AFTER)}, code="deadline")
        if timed_out(e):  # a statement ran past its class's timeout (graphsvc/db.py): it was ended
            current_app.logger.warning("request %s stopped: %s", request.path[:100], e)
            return _error(503, str(BUSY_MESSAGES["timeout"]), {"Retry-After": "30"})
        # the server's log keeps where it failed (the traceback, no request body): a 500 left
        # nothing to find it by
        current_app.logger.exception("request %s %s failed", request.method, request.path[:100])
        if commit_unknown(e) or g.get("wrote_before_failing"):  # issue 14: say what is true, and how to retry safely
            return _error(500, str(COMMIT_UNKNOWN["api" if is_api() else "page"]), code="commit_unknown")
        return _error(500, _("Something went wrong. Nothing was shown or changed."))
