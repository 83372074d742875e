"""``@idempotent``: a write route that may be retried (graphsvc/idempotency.py).

A request carries its key in the ``Idempotency-Key`` header (scripts, the phone app) or, from
a page, in the hidden form field ``idempotency_key`` that every form that creates something
gets anew when it is rendered (``idempotency_key()`` in the templates). Without a key, the
route works as before. With one:

- a key this user already used for the same request (method, path, body less the CSRF
  token and the key) answers the first answer again, writes nothing, and is audited as
  ``idempotent.replay``; for another request, 422;
- a key whose request is still running answers 409 with Retry-After; one whose write is
  done but whose answer was lost (a crash, a broken commit) answers that it was already
  carried out (``{"status": "already_done"}``; pages: a page that says it was saved);
- else the view runs with the key in ``idempotency.CURRENT``: its first write transaction
  creates the key (graphsvc/db.py ``write_tx``), and its answer is stored on the key.

Decorate under ``allow``: ``@bp.post(…)``, ``@allow(…)``, ``@idempotent``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from flask import Flask, Response, abort, current_app, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _

from graphsvc import audit, idempotency, shown

from .guard import audit_request, commit_unknown, is_api
from .neo import get_db

HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
NOT_IN_FINGERPRINT = ("csrf_token", FIELD)
RACE_WAIT = 3.0  # seconds a request that lost the race to its twin waits for the twin's answer
REPLAYED = "Idempotent-Replayed"  # a header on every replayed answer (as Stripe's API does)


def new_key() -> str:
    """A key for a form being rendered (the templates: ``idempotency_key()``)."""
    return secrets.token_urlsafe(18)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["idempotency_key"] = new_key


def _sent_key() -> str | None:
    """The key of the request (the header before the form field), or None; 400 naming the
    header (or the field) when it is not 1 to 255 printable ASCII characters."""
    header = request.headers.get(HEADER)
    where, key = (HEADER, idempotency.parse_header(header)) if header is not None else (FIELD, None)
    if key is None:
        if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return None
        key = request.form.get(FIELD)
        if key is None:
            return None
    if idempotency.key_problem(key) is None:
        return key
    message = _("%(field)s: 1 to 255 printable ASCII characters (a new random one for each request)", field=where)
    if is_api():
        abort(make_response(jsonify(error=message, status=400, field=where, code="idempotency_key"), 400))
    abort(make_response(render_template("error.html", status=400, message=message), 400))


def _body() -> object:
    """The request's body in a canonical form, without the CSRF token and the key."""
    if request.is_json:
        parsed = request.get_json(silent=True)
        if parsed is not None:
            return {"json": parsed}
        return {"raw": hashlib.sha256(request.get_data()).hexdigest()}
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = {k: request.form.getlist(k) for k in sorted(request.form) if k not in NOT_IN_FINGERPRINT}
        files = {}
        for name in sorted(request.files):
            parts = []
            for upload in request.files.getlist(name):
                digest = hashlib.sha256(upload.stream.read()).hexdigest()
                upload.stream.seek(0)
                parts.append([upload.filename or "", digest])
            files[name] = parts
        return {"form": form, "files": files}
    return {"raw": hashlib.sha256(request.get_data()).hexdigest()}


def idempotent(view: Callable | None = None, *, deferred: bool = False, secret: bool = False) -> Callable:
    """The decorator; ``deferred`` for a job of many transactions that completes when run
    again (an import): its key is made once it succeeded, so a retry after a crash runs it
    again instead of being told that it was done. ``secret``: the answer shows a secret once
    (a reset link): it is never stored, and a retry is told that it was done."""
    if view is None:
        return functools.partial(idempotent, deferred=deferred, secret=secret)

    @functools.wraps(view)
    def keyed_view(*args, **kwargs):
        key = _sent_key()
        subject = g.get("subject")
        if key is None or subject is None:
            return view(*args, **kwargs)
        db, keyring = get_db(), current_app.extensions["graphsvc_keyring"]
        pending = idempotency.Pending(
            subject.username,
            key,
            idempotency.fingerprint(request.method, request.path, _body()),
            request.method,
            request.path,
            deferred=deferred,
        )
        found = idempotency.find(db, keyring, pending.owner, key)
        if found is not None:
            return _known(found, pending)
        token = idempotency.CURRENT.set(pending)
        try:
            answer = view(*args, **kwargs)
        except idempotency.Taken:  # its twin committed first: this one wrote nothing
            return _after_race(pending)
        except Exception as exc:
            g.wrote_before_failing = pending.written  # the 500 must not say that nothing changed
            if pending.written or commit_unknown(exc):
                _lost(pending)
            raise
        finally:
            idempotency.CURRENT.reset(token)
        response = current_app.make_response(answer)
        if deferred and response.status_code < 400 and not idempotency.create_after(db, pending):
            return _after_race(pending)
        if pending.written and secret:
            _lost(pending)  # never kept: a retry hears "already done"
        elif pending.written:  # a refusal commits nothing, so it leaves no key: a retry runs again
            _store(pending, response)
        return response

    return keyed_view


def _store(pending: idempotency.Pending, response: Response) -> None:
    if response.is_streamed:
        body = "\0" * (idempotency.MAX_BODY + 1)  # not kept: a retry is told it was done
    else:
        body = response.get_data(as_text=True)
    try:
        idempotency.store_answer(
            get_db(),
            current_app.extensions["graphsvc_keyring"],
            pending,
            response.status_code,
            response.headers.get("Content-Type"),
            response.headers.get("Location"),
            body,
        )
    except Exception:  # noqa: BLE001 - the write is done and answered; a retry will hear "already done"
        current_app.logger.exception("the answer of %s %s was not stored on its key", request.method, request.path)


def _lost(pending: idempotency.Pending) -> None:
    try:
        idempotency.mark_lost(get_db(), pending)
    except Exception:  # noqa: BLE001 - the database may be what failed: a retry waits out IN_FLIGHT then
        current_app.logger.warning("the key of %s %s was not marked as answered", request.method, request.path)


def _after_race(pending: idempotency.Pending):
    """Its twin's answer when it comes within RACE_WAIT seconds, else 409."""
    db, keyring = get_db(), current_app.extensions["graphsvc_keyring"]
    deadline = time.monotonic() + RACE_WAIT
    while True:
        found = idempotency.find(db, keyring, pending.owner, pending.key)
        if found is not None and (found.status is not None or not found.in_flight()):
            return _known(found, pending)
        if time.monotonic() > deadline:
            return _in_flight()
        time.sleep(0.05)


def _in_flight():
    message = _("The same request is still being carried out. Try again in a moment.")
    return _error(409, message, "in_flight", {"Retry-After": "1"})


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None):
    if is_api():
        response = make_response(jsonify(error=message, status=status, field=HEADER, code=code), status)
    else:
        response = make_response(render_template("error.html", status=status, message=message), status)
    response.headers.update(headers or {})
    return response


def _known(found: idempotency.Found, pending: idempotency.Pending):
    if found.fingerprint != pending.fingerprint:
        if is_api():
            message = _(
                "%(field)s: this key was already used for another request. Use a new key for a new request.",
                field=HEADER,
            )
        else:
            message = _("This form was already sent, with other contents. Open the page again to send something new.")
        return _error(422, message, "idempotency_key_reused")
    if found.status is None and found.in_flight():
        return _in_flight()
    if found.status is None:  # the write is done, its answer was lost
        audit_request("idempotent.replay", detail=f"{request.method} {request.path[:100]}: already done, answer lost")
        if is_api():
            message = _("This request was already carried out (its answer was lost). Nothing was changed again.")
            response = jsonify(status="already_done", message=message)
        else:
            message = _("This was already saved: it had been sent before. Nothing was saved again.")
            response = make_response(render_template("error.html", status=200, message=message))
        response.headers[REPLAYED] = "true"
        return response
    response = Response(found.body or "", status=found.status, content_type=found.content_type)
    if found.location:
        response.headers["Location"] = found.location
    response.headers[REPLAYED] = "true"
    audit_request(
        "idempotent.replay", _targets(found), detail=f"{request.method} {request.path[:100]}: answered {found.status}"
    )
    return response


ID_LIKE = re.compile(r"^[A-Za-z]{1,4}-[0-9A-Za-z]{3,64}$")


def _targets(found: idempotency.Found) -> list[str]:
    """The ids the replay is about: the route's own (its path), and those the replayed
    answer shows (its JSON body's ids, the ids in its Location's query)."""
    ids = [v for v in (request.view_args or {}).values() if audit.is_target(v)]
    if found.body and (found.content_type or "").startswith("application/json"):
        try:
            ids += shown.ids_in(json.loads(found.body))
        except ValueError:
            pass
    if found.location:
        ids += [v for _k, v in parse_qsl(urlsplit(found.location).query) if ID_LIKE.match(v)]
    return list(dict.fromkeys(ids))
