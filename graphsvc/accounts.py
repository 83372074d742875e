"""Accounts: passwords, sign-in with throttling and lockout, sessions, access tokens.

- Passwords are hashed with argon2id and have at least 12 characters.
- Sign-in answers the same for an unknown user and a wrong password (and takes as long),
  also when it throttles: see ``authenticate`` (per address; per device cookie; per typed
  name, existing or not, for clients without one). Locked attempts are refused before any
  password is checked, from one read, writing nothing.
- The second factor (``check_code``): a TOTP time step is accepted once per account; a
  pending session has ``SESSION_CODE_ATTEMPTS`` tries; ``MAX_CODE_FAILURES`` lock the
  account's code attempts, during which even the right code is refused.
- Sessions live on the server: the browser holds a random id, the database its SHA-256;
  idle for 30 minutes, or older than their lifetime (12 hours by default), a session is
  gone; signing out deletes it, and so do a new password and a reset of the codes.
- Personal access tokens (``gs_…``) are shown once, stored as SHA-256, expire, and can be
  revoked; disabling an account ends its sessions and revokes its tokens. A process
  remembers a token's owner for ``TOKEN_CACHE_SECONDS`` (one Neo4j read less per API
  request); revoking, disabling or freezing (graphsvc/freeze.py) forgets it at once in the
  process that did it, and writes a new revocation mark (a small file beside the audit
  journal, which every process of the database shares): every other process reads the mark
  at each token request (a file read, no Neo4j) and forgets what it remembered when it
  changed. A process on another host (not sharing the journal's folder) stops accepting the
  token within those seconds.

Every change and every checked sign-in attempt (a password or a code that was verified) is
written to the audit log, in the same transaction as the change. An attempt refused before
any check writes nothing here: the verdict says so, and the caller records it (the web app
with ``guard.audit_request``, which can fold floods of identical refusals).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import neo4j
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import audit
from .access import REGISTRY, ROLES, Subject
from .model import USERNAME_RE, Actor, to_datetime

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Passwords, per device or per typed name for clients without a device cookie (and codes,
# per account): MAX_FAILURES lock for LOCK_SECONDS, doubled per further failure up to
# MAX_LOCK_SECONDS; the count starts again after QUIET_SECONDS without a failure or a lock.
MAX_FAILURES = 5
LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 60 * 60
QUIET_SECONDS = 15 * 60
# Per address: IP_MAX_FAILURES failures (a quiet spell of IP_WINDOW_SECONDS starts the count
# again) lock the address for IP_LOCK_SECONDS.
IP_MAX_FAILURES = 20
IP_WINDOW_SECONDS = 15 * 60
IP_LOCK_SECONDS = 15 * 60
# The second factor: tries per pending session, failures per account before the lock.
SESSION_CODE_ATTEMPTS = 3
MAX_CODE_FAILURES = 5
CODE_WINDOW_STEPS = 1  # a code of the step before or after the current one is accepted too
CODE_RE = re.compile(r"[0-9]{6}")
PURGE_BATCH = 100  # ended sessions and spent throttle records deleted per sign-in / failure
IDLE_SECONDS = 30 * 60
SESSION_MAX_SECONDS = 12 * 3600  # default of GRAPHSVC_SESSION_MAX_HOURS
TOKEN_PREFIX = "gs_"
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 4096

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("graphsvc-timing-equaliser")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message says why (in English, for
    the CLI), and ``code`` names the reason so that the web app can say it in Korean too."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("password_short", f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError("password_long", f"the password may have at most {MAX_PASSWORD} characters")
    if username and username.lower() in password.lower():
        raise AccountError("password_username", "the password must not contain the username")
    if len(set(password)) < 4:
        raise AccountError("password_repetitive", "the password is too repetitive")


def check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise AccountError(
            "username_invalid", "a username has 2–32 characters: lower-case letters, digits, '.', '_', '-'"
        )


def _audit(
    tx: neo4j.ManagedTransaction,
    db: Database,
    actor: Actor,
    action: str,
    targets: Iterable[str] = (),
    outcome: str = "ok",
    **extra: Any,
) -> None:
    audit.append_in_tx(tx, db, **actor.event(), action=action, targets=list(targets), outcome=outcome, **extra)


# --- managing accounts -------------------------------------------------------------------


def add_user(
    db: Database,
    actor: Actor,
    username: str,
    role: str,
    districts: list[str],
    password: str,
    gender: str | None = None,
    *,
    adopt: bool = False,
    org: str | None = None,
) -> None:
    """Create an account. An existing username is refused (``user_exists``), also one that an
    import created without a password: ``users add`` once replaced such a demo visitor's
    three districts with one and said "created". Changes of an account go through
    graphsvc/team.py (``users set``, ``users passwd``). ``adopt`` (for loaders that import
    accounts and then give them a first password in the same breath, e.g. the tests' small
    network) fills in an imported account that has no password yet. ``org``: the
    organisation of an org-scoped role (a partner: required, and it must exist,
    graphsvc/orgs.py); refused for every other role."""
    check_username(username)
    if role not in ROLES:
        raise AccountError("role_invalid", f"role must be one of: {', '.join(ROLES)}")
    org = org.strip() if org else None
    if REGISTRY[role].org_scoped and not org:
        raise AccountError("org_needed", f"a {role} needs an organisation (--org)")
    if org and not REGISTRY[role].org_scoped:
        raise AccountError("org_not_for_role", f"a {role} has no organisation (--org is for partners)")
    if REGISTRY[role].org_scoped and [d for d in districts if d.strip()]:
        raise AccountError("org_no_districts", f"a {role} has no districts: its reach is what is shared with its org")
    if gender not in (None, "f", "m"):
        raise AccountError("gender_invalid", "gender must be f or m")
    districts = [d.strip() for d in districts if d.strip()]
    if REGISTRY[role].needs_districts and not districts:
        raise AccountError("district_needed", f"a {role} needs at least one district (--district)")
    check_password(password, username)
    password_hash = _hasher.hash(password)

    def work(tx: neo4j.ManagedTransaction) -> bool:
        if org and not db.run_in_tx(tx, "org_get", org=org):
            raise AccountError("no_org", f"no organisation {org!r} (graphsvc orgs add)")
        created = db.run_in_tx(
            tx,
            "user_create",
            username=username,
            role=role,
            districts=districts,
            password_hash=password_hash,
            gender=gender,
            adopt=adopt,
            org=org,
        )
        if not created:  # raised in the transaction: it commits nothing (not even a request's key)
            raise AccountError("user_exists", f"user {username!r} already exists")
        _audit(tx, db, actor, "user.create", [username], detail=f"role {role}" + (f"; org {org}" if org else ""))
        return True

    db.write_tx(work)


def list_users(db: Database) -> list[dict[str, Any]]:
    return db.read("user_list")


def get_user(db: Database, username: str) -> dict[str, Any] | None:
    rows = db.read("user_get", username=username)
    return rows[0] if rows else None


def _require(db: Database, tx: neo4j.ManagedTransaction, username: str) -> None:
    if not db.run_in_tx(tx, "user_get", username=username):
        raise AccountError("no_user", f"no user {username!r}")


def set_enabled(db: Database, actor: Actor, username: str, enabled: bool) -> None:
    def work(tx: neo4j.ManagedTransaction) -> None:
        _require(db, tx, username)
        db.run_in_tx(tx, "user_set_enabled", username=username, enabled=enabled)
        if not enabled:
            db.run_in_tx(tx, "session_end_all", username=username)
            db.run_in_tx(tx, "token_revoke_all", username=username)
        _audit(tx, db, actor, "user.enable" if enabled else "user.disable", [username])

    db.write_tx(work)
    forget_tokens(db)


def reset_password(db: Database, actor: Actor, username: str, password: str) -> None:
    check_password(password, username)
    password_hash = _hasher.hash(password)

    def work(tx: neo4j.ManagedTransaction) -> None:
        _require(db, tx, username)
        password_in_tx(tx, db, username, password_hash)
        _audit(tx, db, actor, "user.password_reset", [username])

    db.write_tx(work)


def hash_password(password: str, username: str) -> str:
    """The stored form of a new password, after the password rules (``check_password``)."""
    check_password(password, username)
    return _hasher.hash(password)


def password_in_tx(tx: neo4j.ManagedTransaction, db: Database, username: str, password_hash: str) -> None:
    """A new password, inside the caller's transaction: the account's sessions end and the
    lock on its name is lifted (the new password is the way back in for a user whose name
    was locked by strangers)."""
    db.run_in_tx(tx, "user_set_password", username=username, password_hash=password_hash)
    db.run_in_tx(tx, "session_end_all", username=username)
    db.run_in_tx(tx, "throttle_clear", key=_username_key(username))


def set_totp(db: Database, actor: Actor, username: str, secret_token: str | None, enabled: bool) -> None:
    """Store a (pending or enabled) TOTP secret. ``None`` resets the codes: the user's sessions
    end (a session that passed the old second factor must not outlive it) and the lock of
    code attempts is lifted, so that the user can enrol anew at the next sign-in."""

    def work(tx: neo4j.ManagedTransaction) -> None:
        _require(db, tx, username)
        db.run_in_tx(tx, "user_set_totp", username=username, totp_secret=secret_token, totp_enabled=enabled)
        if secret_token is None:
            db.run_in_tx(tx, "session_end_all", username=username)
            db.run_in_tx(tx, "user_clear_code_lock", username=username)
        _audit(tx, db, actor, "user.totp_enabled" if enabled else "user.totp_reset", [username])

    db.write_tx(work)


# --- signing in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """The verdict on a password. ``locked``: refused before any check (HTTP 429 with
    ``retry_after`` seconds); nothing was written, the caller records the refusal."""

    ok: bool
    subject: Subject | None = None
    locked: bool = False
    retry_after: int = 0
    scope: str = ""  # what is locked: "address", "device" or "username" (for the audit, never shown)
    username: str = ""  # the typed name, normalised
    totp_enabled: bool = False
    totp_secret: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _housekeeping(db: Database, name: str, **params: Any) -> None:
    """Delete spent records (a bounded batch) in a transaction of its own: a clash with
    another process purging the same records must never fail a sign-in."""
    try:
        db.write(name, **params)
    except neo4j.exceptions.Neo4jError as exc:
        log.warning("%s skipped: %s", name, exc.code)


def address_key(ip: str) -> str:
    """The throttle key of a client address: IPv4 as it is, IPv6 by its /64 (one subscriber
    holds a whole /64, so single IPv6 addresses would make the per-address limit void).

    >>> address_key("203.0.113.7"), address_key("2001:db8:1:2:3:4:5:6"), address_key("-")
    ('ip:203.0.113.7', 'ip:2001:db8:1:2::/64', 'ip:-')
    >>> address_key("::ffff:203.0.113.7")
    'ip:203.0.113.7'
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"ip:{ip[:64]}"
    if address.version == 6 and address.ipv4_mapped:
        return f"ip:{address.ipv4_mapped}"
    if address.version == 6:
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def _username_key(username: str) -> str:
    # Any typed name gets a record (so that unknown and real names answer alike); hashed,
    # because people type passwords into the username field.
    return "user:" + _sha256(username)


def _device_key(device: str) -> str:
    return "dev:" + _sha256(device)


def authenticate(
    db: Database, username: str, password: str, ip: str, user_agent: str, device: str | None = None
) -> SignIn:
    """Check a username and password, under three throttles (OWASP's device cookies):

    - the address: ``IP_MAX_FAILURES`` failures lock it for ``IP_LOCK_SECONDS``;
    - ``device``: the id of a device cookie that the web layer verified for this username
      (a browser where this user signed in before). Its failures lock only that device;
    - without one, the failures of all such clients for the typed name, existing or not,
      lock such clients out of that name. Both lock after ``MAX_FAILURES`` with a delay of
      ``LOCK_SECONDS`` that doubles per further failure up to ``MAX_LOCK_SECONDS``.

    A refused attempt is answered from one read and writes nothing (the caller records it);
    a checked failure is counted and audited in one transaction.
    """
    username = username.strip().lower()[:64]
    anonymous = Actor(username or "-", "-", ip, user_agent)
    ip_key = address_key(ip)
    name_key = _device_key(device) if device else _username_key(username)
    scopes = {ip_key: "address", name_key: "device" if device else "username"}

    running = {row["key"]: row["seconds"] for row in db.read("throttle_state", keys=list(scopes))}
    if running:
        key = ip_key if ip_key in running else name_key
        return SignIn(False, locked=True, retry_after=max(1, int(running[key])), scope=scopes[key], username=username)

    from . import duress  # graphsvc/duress.py imports this module

    user = get_user(db, username) if USERNAME_RE.match(username or "") else None
    ok = False
    frozen = bool(user and user.get("frozen"))  # graphsvc/freeze.py: refused like a wrong password
    if user and user["password_hash"] and user["enabled"]:
        try:
            ok = _hasher.verify(user["password_hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        try:  # same work for an unknown user, so that timing does not tell
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
    # the duress password (graphsvc/duress.py): always one more verification, whoever signs in
    under_duress = duress.matches(user if user and user["password_hash"] and user["enabled"] else None, password)
    under_duress = under_duress and not ok
    ok = ok or under_duress

    if ok and not frozen:
        user = cast("dict[str, Any]", user)  # ok: the password of an existing account matched

        def success(tx: neo4j.ManagedTransaction) -> None:
            db.run_in_tx(tx, "user_login_succeeded", username=username)
            if device:  # the device's own failures are forgiven; other records stay
                db.run_in_tx(tx, "throttle_clear", key=name_key)
            _audit(tx, db, Actor(username, user["role"], ip, user_agent), "login.password", [username])
            if under_duress:  # silently: the freeze and the admins' alert
                duress.trip_in_tx(tx, db, Actor(username, user["role"], ip, user_agent))

        db.write_tx(success)
        if under_duress:
            forget_tokens()
        subject = Subject(
            username,
            user["role"],
            tuple(user["districts"]),
            user.get("gender"),
            duress=under_duress,
            identity_frozen=under_duress,
            org=user.get("org"),
        )
        return SignIn(
            True, subject, username=username, totp_enabled=user["totp_enabled"], totp_secret=user["totp_secret"]
        )

    def failure(tx: neo4j.ManagedTransaction) -> None:
        db.run_in_tx(
            tx,
            "throttle_hit",
            key=ip_key,
            max_failures=IP_MAX_FAILURES,
            window_seconds=IP_WINDOW_SECONDS,
            lock_seconds=IP_LOCK_SECONDS,
            max_lock_seconds=IP_LOCK_SECONDS,
        )
        db.run_in_tx(
            tx,
            "throttle_hit",
            key=name_key,
            max_failures=MAX_FAILURES,
            window_seconds=QUIET_SECONDS,
            lock_seconds=LOCK_SECONDS,
            max_lock_seconds=MAX_LOCK_SECONDS,
        )
        reason = "disabled account" if user and not user["enabled"] else ("wrong password" if user else "unknown user")
        if frozen:  # the admins learn whether whoever tries knows the password
            reason = "frozen account; " + ("right password" if ok else "wrong password")
        via = "known device" if device else "unknown device"
        _audit(
            tx,
            db,
            anonymous,
            "login.frozen" if frozen else "login.failure",
            [username] if user else [],
            outcome="failure",
            detail=f"{reason}; {via}",
        )

    db.write_tx(failure)
    _housekeeping(db, "throttle_purge", limit=PURGE_BATCH)
    return SignIn(False, username=username)


# --- the second factor -----------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCheck:
    """The verdict on a TOTP code.

    ``checked`` False: refused before any check, nothing written (the caller records it):
    the account's code attempts are ``locked`` (HTTP 429, ``retry_after`` seconds), or the
    session is gone. After a checked failure, ``locked`` says that this failure locked the
    account's code attempts and ``session_ended`` that the pending session had its last try.
    """

    ok: bool
    checked: bool = True
    locked: bool = False
    retry_after: int = 0
    session_ended: bool = False
    replayed: bool = False  # the right code, but its time step was accepted before


def code_step(secret: str, code: str, at: float) -> int | None:
    """The TOTP time step (30 s) among the one of ``at`` and its two neighbours whose code
    is ``code`` (pyotp's ``verify(valid_window=1)``, but saying which step matched).

    >>> secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    >>> code = pyotp.TOTP(secret).at(1_000_000_000)
    >>> code_step(secret, code, 1_000_000_000), code_step(secret, code, 1_000_000_030)
    (33333333, 33333333)
    >>> code_step(secret, code, 1_000_000_090) is None, code_step(secret, "12345", 1_000_000_000)
    (True, None)
    """
    code = code.strip().replace(" ", "")
    if not CODE_RE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(at)
    found = None
    for step in range(now - CODE_WINDOW_STEPS, now + CODE_WINDOW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


def check_code(
    db: Database,
    sid: str,
    actor: Actor,
    code: str,
    decrypt: Callable[[str], str],
    *,
    enrol: bool = False,
    at: float | None = None,
) -> CodeCheck:
    """Check a TOTP code for the session ``sid`` of ``actor.username``; on success the session
    has its second factor (``enrol``: and the pending secret is turned on).

    A code is accepted once: its time step must be later than the last one accepted for the
    account, decided under the user's write lock (two requests with one code: one wins).
    Failures count per account (``MAX_CODE_FAILURES`` lock every code attempt, even the
    right code, for ``LOCK_SECONDS``, doubling up to ``MAX_LOCK_SECONDS``) and per pending
    session (``SESSION_CODE_ATTEMPTS`` end it: sign in again). ``decrypt`` turns the stored
    secret into the base32 secret.
    """
    username = actor.username
    id_hash = _sha256(sid)
    state = db.read("code_state", username=username, id_hash=id_hash)
    if not state or not state[0]["has_session"]:
        return CodeCheck(False, checked=False, session_ended=True)
    if state[0]["locked_seconds"] > 0:
        return CodeCheck(False, checked=False, locked=True, retry_after=int(state[0]["locked_seconds"]))

    def work(tx: neo4j.ManagedTransaction) -> CodeCheck:
        db.run_in_tx(tx, "code_lock_user", username=username)
        row = db.run_in_tx(tx, "code_check_state", username=username, id_hash=id_hash)[0]
        if not row["has_session"] or not row["enabled"]:
            return CodeCheck(False, checked=False, session_ended=True)
        if row["locked_seconds"] > 0:
            return CodeCheck(False, checked=False, locked=True, retry_after=int(row["locked_seconds"]))
        usable = row["totp_secret"] and (row["totp_enabled"] != enrol)
        step = code_step(decrypt(row["totp_secret"]), code, time.time() if at is None else at) if usable else None
        last = row["totp_last_step"]
        replayed = step is not None and last is not None and step <= last
        if step is not None and not replayed:
            db.run_in_tx(tx, "code_accepted", username=username, id_hash=id_hash, step=step)
            if enrol:
                _audit(tx, db, actor, "user.totp_enabled", [username])
            _audit(tx, db, actor, "login.totp", [username], detail="enrolment" if enrol else None)
            return CodeCheck(True)
        out = db.run_in_tx(
            tx,
            "code_failed",
            username=username,
            id_hash=id_hash,
            max_failures=MAX_CODE_FAILURES,
            lock_seconds=LOCK_SECONDS,
            max_lock_seconds=MAX_LOCK_SECONDS,
            session_attempts=SESSION_CODE_ATTEMPTS,
        )[0]
        locked = out["locked_seconds"] > 0
        detail = "; ".join(
            filter(
                None,
                [
                    "code already used" if replayed else "wrong code",
                    "enrolment" if enrol else None,
                    "session ended" if out["session_ended"] else None,
                    "code attempts locked" if locked else None,
                ],
            )
        )
        _audit(tx, db, actor, "login.totp_failure", [username], outcome="failure", detail=detail)
        return CodeCheck(
            False,
            locked=locked,
            retry_after=int(out["locked_seconds"]),
            session_ended=bool(out["session_ended"]),
            replayed=replayed,
        )

    return db.write_tx(work)


# --- sessions ------------------------------------------------------------------------------


def create_session(
    db: Database,
    subject: Subject,
    ip: str,
    user_agent: str,
    second_factor: bool,
    max_seconds: int = SESSION_MAX_SECONDS,
) -> str:
    """A new session (a new id at every sign-in) that ends after ``max_seconds`` however
    active it is; returns the id for the cookie. Sessions that ended are purged here."""
    sid = secrets.token_urlsafe(32)

    def work(tx: neo4j.ManagedTransaction) -> None:
        db.run_in_tx(
            tx,
            "session_create",
            username=subject.username,
            id_hash=_sha256(sid),
            ip=ip,
            user_agent=user_agent[:200],
            second_factor=second_factor,
            max_seconds=int(max_seconds),
            duress=subject.duress,  # on the server only: the cookie is the same
        )
        _audit(
            tx,
            db,
            Actor(subject.username, subject.role, ip, user_agent),
            "session.start",
            [subject.username],
            detail="second factor done" if second_factor else "second factor pending",
        )

    db.write_tx(work)
    _housekeeping(db, "session_purge", idle_seconds=IDLE_SECONDS, limit=PURGE_BATCH)
    return sid


@dataclass(frozen=True)
class SessionInfo:
    subject: Subject
    second_factor: bool
    totp_enabled: bool


def session_user(db: Database, sid: str | None) -> SessionInfo | None:
    """The session's user while the session is live (not idle, not past its lifetime,
    account enabled)."""
    if not sid or len(sid) > 100:
        return None
    rows = db.read("session_get", id_hash=_sha256(sid), idle_seconds=IDLE_SECONDS)
    if not rows:
        return None
    row = rows[0]
    last_seen = cast("dt.datetime", to_datetime(row["last_seen_at"]))  # a session always has one
    if (_now() - last_seen).total_seconds() > 60:  # refresh at most once a minute
        db.write("session_touch", id_hash=_sha256(sid))
    return SessionInfo(
        Subject(
            row["username"],
            row["role"],
            tuple(row["districts"]),
            row.get("gender"),
            duress=bool(row["duress"]),
            identity_frozen=bool(row["identity_frozen"]),
            org=row.get("org"),
        ),
        bool(row["second_factor"]),
        bool(row["totp_enabled"]),
    )


def end_session(db: Database, sid: str, actor: Actor) -> None:
    def work(tx: neo4j.ManagedTransaction) -> None:
        db.run_in_tx(tx, "session_end", id_hash=_sha256(sid))
        _audit(tx, db, actor, "logout", [actor.username])

    db.write_tx(work)


# --- personal access tokens ----------------------------------------------------------------


def create_token(db: Database, actor: Actor, username: str, days: int) -> str:
    """A new token for ``username``, valid ``days``; the plain token is returned once."""
    if not 1 <= days <= 366:
        raise AccountError("token_days", "a token lives 1 to 366 days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(tx: neo4j.ManagedTransaction) -> None:
        _require(db, tx, username)
        db.run_in_tx(tx, "token_create", username=username, hash=_sha256(token), prefix=token[:7], days=days)
        _audit(tx, db, actor, "token.create", [username], detail=f"{days} days")

    db.write_tx(work)
    return token


def revoke_tokens(db: Database, actor: Actor, username: str) -> int:
    def work(tx: neo4j.ManagedTransaction) -> int:
        _require(db, tx, username)
        revoked: int = db.run_in_tx(tx, "token_revoke_all", username=username)[0]["revoked"]
        _audit(tx, db, actor, "token.revoke", [username], detail=f"{revoked} tokens")
        return revoked

    revoked = db.write_tx(work)
    forget_tokens(db)
    return revoked


_clock = time.monotonic
# token hash -> (monotonic time until which it may be used without asking Neo4j, subject,
# the revocation mark when it was read)
_token_cache: dict[str, tuple[float, Subject, str | None]] = {}
_token_cache_lock = threading.Lock()
REVOCATION_MARK = "revocations"


def _mark_path(db: Database | None) -> Path | None:
    """The revocation mark of the database: beside its audit journal (which every process
    of one database shares, graphsvc/config.py ``audit_journal``), or None without one."""
    journal = getattr(db, "journal", None) if db is not None else None
    return Path(journal.path).with_name(REVOCATION_MARK) if journal is not None else None


def _read_mark(path: Path | None) -> str | None:
    """The mark's identity, from one stat (no read): each bump renames a new file into place,
    made while the old one still exists, so its inode differs from the mark it replaces."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return ""  # no mark yet: a value of its own, changed by the first bump
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_size}"


def forget_tokens(db: Database | None = None) -> None:
    """Forget every remembered token lookup of this process (after a revocation, committed
    first), and with ``db`` tell every other process of the database to forget theirs: a
    new revocation mark (written whole, then renamed into place)."""
    with _token_cache_lock:
        _token_cache.clear()
    _bump_mark(_mark_path(db))


def _bump_mark(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = path.with_name(f".{REVOCATION_MARK}.{secrets.token_hex(4)}")
        fresh.write_text(secrets.token_hex(16), encoding="ascii")
        os.replace(fresh, path)
    except OSError as exc:  # the change is committed; other processes notice within the cache's seconds
        log.error("the revocation mark %s could not be written: %s", path, exc)


def token_subject(db: Database, token: str | None) -> Subject | None:
    """The owner of a valid token (not revoked, not expired, account enabled, not frozen), else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = _sha256(token)
    now = _clock()
    mark = _read_mark(_mark_path(db))
    with _token_cache_lock:
        hit = _token_cache.get(digest)
    if hit is not None and hit[0] > now and hit[2] == mark:
        return hit[1]
    rows = db.read("token_user", hash=digest)
    if not rows:
        with _token_cache_lock:
            _token_cache.pop(digest, None)
        return None
    row = rows[0]
    subject = Subject(
        row["username"],
        row["role"],
        tuple(row["districts"]),
        row.get("gender"),
        identity_frozen=row["identity_frozen"],
        org=row.get("org"),
    )
    expires_at = cast("dt.datetime", to_datetime(row["expires_at"]))  # a token always has one
    left = (expires_at - dt.datetime.now(dt.UTC)).total_seconds()
    with _token_cache_lock:
        if len(_token_cache) >= TOKEN_CACHE_SIZE:
            _token_cache.clear()
        _token_cache[digest] = (now + min(TOKEN_CACHE_SECONDS, left), subject, mark)
    return subject
