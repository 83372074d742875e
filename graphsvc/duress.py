"""Duress sign-in: a second password for a visitor who may be made to sign in.

A visitor (a role with field work) may set a duress password on their account page; it is
stored like the password (an argon2id hash in ``User.duress_hash``), never in clear and never
written to the audit log, and it must differ from the password and follow its rules.

Signing in with it (graphsvc/accounts.py ``authenticate``) looks exactly like signing in:

- the same work: every sign-in verifies the password *and* the duress password (a dummy
  hash when the account has none, or the name is unknown), so that timing does not tell;
- the same answer: the same status, redirect, cookies (a random session id of the same
  length), then the same second factor if the account has one, the same pages;
- but the session is marked ``duress`` in the database only (``Session.duress``): its
  subject (``access.Subject.duress``) is denied every record (``access.decide``) and its
  lists are empty (suggestions, follow-ups, history, claims): the pages show their
  "nothing here yet" states;
- and, in the same transaction as the sign-in, the account's identity and contact reveals
  are frozen (``User.identity_frozen``, read at every request into
  ``Subject.identity_frozen``: every session and token of the account, not only this one),
  and an ``alert.duress`` event is appended for the admins (actor: the account; no word of
  passwords). An admin lifts the freeze on /admin/users (``lift``, audited).

A duress session that opens the duress password page sees "no duress password" and its
changes are answered as done but not made; one that enrols sign-in codes is shown a secret
of its own (``decoy_secret``) that is never stored: the person forcing the sign-in learns
nothing and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import neo4j
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import accounts, audit
from .access import Subject, role_of
from .model import Actor

if TYPE_CHECKING:
    from .db import Database

ALERT_ACTION = "alert.duress"
# The same hasher (argon2id, the library's recommended parameters) as accounts.py, and a
# dummy hash to verify against when there is no duress password: the same work either way.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("graphsvc-duress-timing-equaliser")


class DuressProblem(ValueError):
    """A refused change of the duress password: ``field`` is the form field at fault and
    ``code`` the reason (the web layer words it in the page's language)."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.code = code


def _verify(stored: str | None, password: str) -> bool:
    """One argon2 verification, always (a dummy hash when ``stored`` is None)."""
    try:
        ok = bool(_hasher.verify(stored or _DUMMY_HASH, password))
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and stored is not None


def matches(user: dict[str, Any] | None, password: str) -> bool:
    """Whether ``password`` is the duress password of ``user`` (a row of ``user_get``), after
    one argon2 verification in every case: with or without a duress password, or a user. Only
    roles with field work have a duress sign-in."""
    stored = (user or {}).get("duress_hash")
    found = _verify(stored, password)
    role = role_of(Subject("-", user["role"])) if user else None
    return found and role is not None and role.field_work


def may_have(subject: Subject) -> bool:
    """Whether the subject's role has a duress password (field work: visitors)."""
    role = role_of(subject)
    return role is not None and role.field_work


def trip_in_tx(tx: neo4j.ManagedTransaction, db: Database, actor: Actor) -> None:
    """Inside the sign-in's transaction: freeze the account's identity and contact reveals
    and alert the admins. The event names the account, nothing of the password."""
    db.run_in_tx(tx, "duress_freeze", username=actor.username)
    audit.append_in_tx(
        tx,
        db,
        **actor.event(),
        action=ALERT_ACTION,
        targets=[actor.username],
        detail="duress sign-in: identity and contact frozen",
    )


def decoy_secret(key: str, session_id: str) -> str:
    """The TOTP secret a duress session is shown when it opens the enrolment of sign-in
    codes: made from the app's key and the session (the same on every reload), never stored,
    so that the person forcing the sign-in enrols nothing on the account.

    >>> len(decoy_secret("k", "s")), decoy_secret("k", "s") == decoy_secret("k", "s") != decoy_secret("k", "t")
    (32, True)
    """
    digest = hmac.new(key.encode(), f"duress-totp|{session_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def decoy_code_ok(secret: str, code: str) -> bool:
    """Whether ``code`` is a current code of the decoy secret (nothing is written)."""
    return accounts.code_step(secret, code, time.time()) is not None


@dataclass(frozen=True)
class State:
    has_duress: bool
    identity_frozen: bool


def state(db: Database, subject: Subject) -> State:
    """What the account page shows. A duress session is told there is no duress password
    and no freeze."""
    rows = db.read("duress_state", username=subject.username)
    if not rows or subject.duress:
        return State(False, False)
    return State(rows[0]["duress_hash"] is not None, bool(rows[0]["identity_frozen"]))


def change(
    db: Database, subject: Subject, actor: Actor, current: str, new: str | None, again: str | None = None
) -> str:
    """Set (``new``), change or remove (``new`` None) the subject's duress password, with
    the current password; returns "set", "changed" or "removed". Refusals
    (``DuressProblem``) name the field: ``current_password`` (wrong), ``duress_password``
    (the password rules of accounts.py; the same as the password), ``duress_password_again``
    (not the same twice).

    In a duress session the "current password" is the duress password (what the person
    knows), and nothing is changed: the answer is the same as if it had been.
    """
    if not may_have(subject):
        raise DuressProblem("duress_password", "not_field_work", "only visitors have a duress password")
    rows = db.read("duress_state", username=subject.username)
    if not rows:
        raise DuressProblem("current_password", "current_wrong", "the current password is not right")
    row = rows[0]
    known = row["duress_hash"] if subject.duress else row["password_hash"]
    if not _verify(known, current or ""):
        raise DuressProblem("current_password", "current_wrong", "the current password is not right")
    stored: str | None = None
    if new is not None:
        try:
            stored = accounts.hash_password(new, subject.username)
        except accounts.AccountError as exc:
            raise DuressProblem("duress_password", exc.code, str(exc)) from None
        if again is not None and again != new:
            raise DuressProblem("duress_password_again", "duress_mismatch", "the two duress passwords differ")
        if _verify(row["password_hash"], new) or (subject.duress and _verify(row["duress_hash"], new)):
            # in a duress session, the duress password stands in for the password
            raise DuressProblem("duress_password", "duress_same", "the duress password must differ from the password")
    outcome = "removed" if new is None else ("set" if (row["duress_hash"] is None or subject.duress) else "changed")

    def work(tx: neo4j.ManagedTransaction) -> None:
        if subject.duress:  # on record for the admins; nothing changes
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="duress.session_change",
                targets=[subject.username],
                outcome="denied",
                detail=f"a duress session's change ({outcome}) of the duress password: not made",
            )
            return
        db.run_in_tx(tx, "duress_set_hash", username=subject.username, hash=stored)
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="user.duress_password",
            targets=[subject.username],
            detail=outcome,
        )

    db.write_tx(work)
    return outcome


def lift(db: Database, actor: Actor, username: str) -> bool:
    """An admin lifts the identity and contact freeze of ``username`` (audited); whether
    there was one. The account's duress sessions stay empty until they end."""

    def work(tx: neo4j.ManagedTransaction) -> bool:
        rows = db.run_in_tx(tx, "duress_lift", username=username)
        if not rows:
            raise accounts.AccountError("no_user", f"no user {username!r}")
        was = bool(rows[0]["was"])
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="user.identity_unfreeze",
            targets=[username],
            detail="identity and contact freeze lifted" if was else "was not frozen",
        )
        return was

    was = db.write_tx(work)
    accounts.forget_tokens()
    return was
