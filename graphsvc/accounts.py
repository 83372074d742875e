"""Accounts: passwords, sign-in with throttling and lockout, sessions, access tokens.

- Passwords are hashed with argon2id and have at least 12 characters.
- Sign-in answers the same for an unknown user and a wrong password (and takes as long).
  Five wrong passwords in a row lock the account for 15 minutes; twenty failures from one
  address within 15 minutes lock that address. Locked attempts are refused before any
  password is checked.
- Sessions live on the server: the browser holds a random id, the database its SHA-256;
  idle for 30 minutes, a session is gone; signing out deletes it.
- Personal access tokens (``gs_…``) are shown once, stored as SHA-256, expire, and can be
  revoked; disabling an account ends its sessions and revokes its tokens. A process
  remembers a token's owner for ``TOKEN_CACHE_SECONDS`` (one Neo4j read less per API
  request); revoking or disabling forgets it at once in the process that did it, and every
  other process stops accepting the token within those seconds.

Every change and every sign-in attempt is written to the audit log, in the same
transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import audit
from .access import ROLES, Subject
from .model import USERNAME_RE, Actor

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
IP_MAX_FAILURES = 20
IP_WINDOW_SECONDS = 15 * 60
IDLE_SECONDS = 30 * 60
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
        raise AccountError("username_invalid", "a username has 2–32 characters: lower-case letters, digits, '.', '_', '-'")


def _audit(tx, db, actor: Actor, action: str, targets=(), outcome: str = "ok", **extra) -> None:
    audit.append(tx, db, **actor.event(), action=action, targets=list(targets), outcome=outcome, **extra)


# --- managing accounts -------------------------------------------------------------------


def add_user(db, actor: Actor, username: str, role: str, districts: list[str], password: str,
             gender: str | None = None) -> None:
    check_username(username)
    if role not in ROLES:
        raise AccountError("role_invalid", f"role must be one of: {', '.join(ROLES)}")
    if gender not in (None, "f", "m"):
        raise AccountError("gender_invalid", "gender must be f or m")
    districts = [d.strip() for d in districts if d.strip()]
    if role != "admin" and not districts:
        raise AccountError("district_needed", f"a {role} needs at least one district (--district)")
    check_password(password, username)
    password_hash = _hasher.hash(password)

    def work(tx):
        created = db.run_in_tx(tx, "user_create", username=username, role=role,
                               districts=districts, password_hash=password_hash, gender=gender)
        if not created:
            return False
        _audit(tx, db, actor, "user.create", [username], detail=f"role {role}")
        return True

    if not db.write_tx(work):
        raise AccountError("user_exists", f"user {username!r} already exists")


def list_users(db) -> list[dict]:
    return db.read("user_list")


def get_user(db, username: str) -> dict | None:
    rows = db.read("user_get", username=username)
    return rows[0] if rows else None


def _require(db, tx, username: str) -> None:
    if not db.run_in_tx(tx, "user_get", username=username):
        raise AccountError("no_user", f"no user {username!r}")


def set_enabled(db, actor: Actor, username: str, enabled: bool) -> None:
    def work(tx):
        _require(db, tx, username)
        db.run_in_tx(tx, "user_set_enabled", username=username, enabled=enabled)
        if not enabled:
            db.run_in_tx(tx, "session_end_all", username=username)
            db.run_in_tx(tx, "token_revoke_all", username=username)
        _audit(tx, db, actor, "user.enable" if enabled else "user.disable", [username])

    db.write_tx(work)
    forget_tokens()


def reset_password(db, actor: Actor, username: str, password: str) -> None:
    check_password(password, username)
    password_hash = _hasher.hash(password)

    def work(tx):
        _require(db, tx, username)
        db.run_in_tx(tx, "user_set_password", username=username, password_hash=password_hash)
        db.run_in_tx(tx, "session_end_all", username=username)
        _audit(tx, db, actor, "user.password_reset", [username])

    db.write_tx(work)


def set_totp(db, actor: Actor, username: str, secret_token: str | None, enabled: bool) -> None:
    def work(tx):
        _require(db, tx, username)
        db.run_in_tx(tx, "user_set_totp", username=username, totp_secret=secret_token, totp_enabled=enabled)
        _audit(tx, db, actor, "user.totp_enabled" if enabled else "user.totp_reset", [username])

    db.write_tx(work)


# --- signing in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    ok: bool
    subject: Subject | None = None
    locked: bool = False  # refused without checking: too many failures (HTTP 429)
    totp_enabled: bool = False
    totp_secret: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _is_future(value) -> bool:
    if value is None:
        return False
    if hasattr(value, "to_native"):
        value = value.to_native()
    return value > _now()


def authenticate(db, username: str, password: str, ip: str, user_agent: str) -> SignIn:
    """Check a username and password; count failures; audit every attempt."""
    username = username.strip().lower()[:64]
    ip_key = f"ip:{ip}"
    anonymous = Actor(username or "-", "-", ip, user_agent)

    throttled = db.read("throttle_get", key=ip_key)
    if throttled and _is_future(throttled[0]["locked_until"]):
        db.write_tx(lambda tx: _audit(tx, db, anonymous, "login.throttled", outcome="denied",
                                      detail="address locked"))
        return SignIn(False, locked=True)

    user = get_user(db, username) if USERNAME_RE.match(username or "") else None
    if user and _is_future(user["locked_until"]):
        db.write_tx(lambda tx: _audit(tx, db, anonymous, "login.throttled", [username], outcome="denied",
                                      detail="account locked"))
        return SignIn(False, locked=True)

    ok = False
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

    if ok:
        def success(tx):
            db.run_in_tx(tx, "user_login_succeeded", username=username)
            _audit(tx, db, Actor(username, user["role"], ip, user_agent), "login.password", [username])

        db.write_tx(success)
        subject = Subject(username, user["role"], tuple(user["districts"]), user.get("gender"))
        return SignIn(True, subject, totp_enabled=user["totp_enabled"], totp_secret=user["totp_secret"])

    def failure(tx):
        if user:
            db.run_in_tx(tx, "user_login_failed", username=username,
                         max_failures=MAX_FAILURES, lock_seconds=LOCK_SECONDS)
        db.run_in_tx(tx, "throttle_hit", key=ip_key, window_seconds=IP_WINDOW_SECONDS,
                     max_failures=IP_MAX_FAILURES)
        reason = "disabled account" if user and not user["enabled"] else (
            "wrong password" if user else "unknown user")
        _audit(tx, db, anonymous, "login.failure", [username] if user else [], outcome="failure", detail=reason)

    db.write_tx(failure)
    return SignIn(False)


# --- sessions ------------------------------------------------------------------------------


def create_session(db, subject: Subject, ip: str, user_agent: str, second_factor: bool) -> str:
    """A new session (a new id at every sign-in); returns the id for the cookie."""
    sid = secrets.token_urlsafe(32)

    def work(tx):
        db.run_in_tx(tx, "session_create", username=subject.username, id_hash=_sha256(sid),
                     ip=ip, user_agent=user_agent[:200], second_factor=second_factor)
        _audit(tx, db, Actor(subject.username, subject.role, ip, user_agent), "session.start",
               [subject.username], detail="second factor done" if second_factor else "second factor pending")

    db.write_tx(work)
    return sid


@dataclass(frozen=True)
class SessionInfo:
    subject: Subject
    second_factor: bool
    totp_enabled: bool


def session_user(db, sid: str | None) -> SessionInfo | None:
    """The session's user while the session is live (not idle, account enabled)."""
    if not sid or len(sid) > 100:
        return None
    rows = db.read("session_get", id_hash=_sha256(sid), idle_seconds=IDLE_SECONDS)
    if not rows:
        return None
    row = rows[0]
    last_seen = row["last_seen_at"].to_native()
    if (_now() - last_seen).total_seconds() > 60:  # refresh at most once a minute
        db.write("session_touch", id_hash=_sha256(sid))
    return SessionInfo(Subject(row["username"], row["role"], tuple(row["districts"]), row.get("gender")),
                       bool(row["second_factor"]), bool(row["totp_enabled"]))


def complete_second_factor(db, sid: str, actor: Actor) -> None:
    def work(tx):
        db.run_in_tx(tx, "session_set_second_factor", id_hash=_sha256(sid))
        _audit(tx, db, actor, "login.totp", [actor.username])

    db.write_tx(work)


def second_factor_failed(db, actor: Actor) -> bool:
    """Count a wrong TOTP code like a wrong password; return whether the account is now locked."""
    def work(tx):
        row = db.run_in_tx(tx, "user_login_failed", username=actor.username,
                           max_failures=MAX_FAILURES, lock_seconds=LOCK_SECONDS)[0]
        _audit(tx, db, actor, "login.totp_failure", [actor.username], outcome="failure")
        return _is_future(row["locked_until"])

    return db.write_tx(work)


def end_session(db, sid: str, actor: Actor) -> None:
    def work(tx):
        db.run_in_tx(tx, "session_end", id_hash=_sha256(sid))
        _audit(tx, db, actor, "logout", [actor.username])

    db.write_tx(work)


# --- personal access tokens ----------------------------------------------------------------


def create_token(db, actor: Actor, username: str, days: int) -> str:
    """A new token for ``username``, valid ``days``; the plain token is returned once."""
    if not 1 <= days <= 366:
        raise AccountError("token_days", "a token lives 1 to 366 days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(tx):
        _require(db, tx, username)
        db.run_in_tx(tx, "token_create", username=username, hash=_sha256(token), prefix=token[:7], days=days)
        _audit(tx, db, actor, "token.create", [username], detail=f"{days} days")

    db.write_tx(work)
    return token


def revoke_tokens(db, actor: Actor, username: str) -> int:
    def work(tx):
        _require(db, tx, username)
        revoked = db.run_in_tx(tx, "token_revoke_all", username=username)[0]["revoked"]
        _audit(tx, db, actor, "token.revoke", [username], detail=f"{revoked} tokens")
        return revoked

    revoked = db.write_tx(work)
    forget_tokens()
    return revoked


_clock = time.monotonic
# token hash -> (monotonic time until which it may be used without asking Neo4j, subject)
_token_cache: dict[str, tuple[float, Subject]] = {}
_token_cache_lock = threading.Lock()


def forget_tokens() -> None:
    """Forget every remembered token lookup of this process (after a revocation)."""
    with _token_cache_lock:
        _token_cache.clear()


def token_subject(db, token: str | None) -> Subject | None:
    """The owner of a valid token (not revoked, not expired, account enabled), else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = _sha256(token)
    now = _clock()
    with _token_cache_lock:
        hit = _token_cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = db.read("token_user", hash=digest)
    if not rows:
        with _token_cache_lock:
            _token_cache.pop(digest, None)
        return None
    row = rows[0]
    subject = Subject(row["username"], row["role"], tuple(row["districts"]), row.get("gender"))
    left = (row["expires_at"].to_native() - dt.datetime.now(dt.timezone.utc)).total_seconds()
    with _token_cache_lock:
        if len(_token_cache) >= TOKEN_CACHE_SIZE:
            _token_cache.clear()
        _token_cache[digest] = (now + min(TOKEN_CACHE_SECONDS, left), subject)
    return subject
