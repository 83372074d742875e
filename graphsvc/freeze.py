"""Emergency controls of accounts (issue 15 §3): freeze an account now, and sign out
everywhere.

- **Freeze** (``freeze``): by an admin, or by a coordinator for a visitor of their districts
  (``access.USER_FREEZE``), or by the operator at the command line. In one transaction: the
  account is marked frozen, every session of it is deleted and every token revoked, its
  live claims and assignments end (the households go back to the pool), and ``user.freeze``
  is audited with the stated reason. Every process validates a session by reading it
  (accounts.session_get), so a deleted session lets nobody in anywhere; tokens are
  remembered per process for seconds, so the revocation mark is bumped after the commit
  (accounts.forget_tokens) and every process forgets them at its next token request.
  Sign-in answers a frozen account as a wrong password (accounts.authenticate), audited as
  ``login.frozen``, until an admin unfreezes it (``unfreeze``, ``user.unfreeze``).
- **Sessions** (``sessions``, ``end_sessions``): a user sees their live sessions (device,
  address, start, last seen) and ends one, all others, or all; an admin does it for any
  account. A session is named on pages by a ``ref`` derived from its stored hash, never by
  the hash itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import neo4j

from . import access, accounts, audit, records
from .dispatch import REASON_MAX, check_reason
from .errors import Refused
from .model import Actor, to_datetime

if TYPE_CHECKING:
    from .db import Database

__all__ = ["REASON_MAX", "Frozen", "device_label", "end_sessions", "freeze", "sessions", "unfreeze"]


@dataclass(frozen=True)
class Frozen:
    username: str
    sessions: int
    tokens: int
    released: tuple[str, ...]  # household ids whose claim or assignment ended


def _reason(value: Any, targets: tuple[str, ...]) -> str:
    out = records.Checked()
    reason = check_reason(out, value)
    if reason is None:
        first = out.problems[0]
        raise Refused("invalid", first.english(), first.field, targets, problems=tuple(out.problems))
    return reason


def _target(db: Database, subject: access.Subject | None, username: str) -> dict[str, Any]:
    """The account ``subject`` may freeze (None: the operator at the command line, any
    account); 404 (not_found) for an unknown account and one out of the subject's reach."""
    user = accounts.get_user(db, username) if len(username) <= 64 else None
    if user is None:
        raise Refused("not_found", "no such account", "username", (username,))
    if subject is not None:
        facts = access.AccountFacts(user["username"], user["role"], tuple(user["districts"]))
        decision = access.decide(subject, access.USER_FREEZE, facts)
        if not decision:
            raise Refused("not_found", decision.why, "username", (username,))
    return user


def freeze(
    db: Database,
    subject: access.Subject | None,
    actor: Actor,
    username: str,
    reason: Any,
    now: dt.datetime | None = None,
) -> Frozen:
    """Freeze ``username`` now (see the module's text). ``subject`` None: the command line.
    Refusals: ``invalid`` reason (nothing changed), ``not_found``, ``conflict``
    ``own_account`` (a user does not freeze themselves from a page: ask another admin)."""
    reason = _reason(reason, (username,))
    _target(db, subject, username)
    if subject is not None and subject.username == username:
        raise Refused("conflict", "one's own account", "username", (username,), code="own_account")
    now = now or dt.datetime.now(dt.UTC)

    def work(tx: neo4j.ManagedTransaction) -> Frozen:
        rows = db.run_in_tx(tx, "freeze_lock_user", username=username)
        if not rows:
            raise Refused("not_found", "no such account", "username", (username,))
        row = rows[0]
        if subject is not None:  # decided again under the lock: its districts may have changed
            facts = access.AccountFacts(username, row["role"], tuple(row["districts"]))
            if not access.decide(subject, access.USER_FREEZE, facts):
                raise Refused("not_found", "out of reach", "username", (username,))
        ended = db.run_in_tx(tx, "user_freeze", username=username, by=actor.username, reason=reason)[0]
        released = db.run_in_tx(tx, "freeze_release_claims", username=username, now=now)
        households = tuple(r["household_id"] for r in released)
        again = "; again" if row["frozen"] else ""
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="user.freeze",
            targets=[username, *households, *(r["claim_id"] for r in released)],
            detail=(
                f"reason: {reason}; {ended['sessions']} sessions ended, {ended['tokens']} tokens revoked, "
                f"{len(released)} claims released{again}"
            ),
        )
        return Frozen(username, ended["sessions"], ended["tokens"], households)

    result: Frozen = db.write_tx(work)
    accounts.forget_tokens(db)  # after the commit: every process forgets the tokens it remembers
    return result


def unfreeze(db: Database, subject: access.Subject | None, actor: Actor, username: str, reason: Any) -> None:
    """Let a frozen account sign in again: admins (``users.manage``) and the command line
    only. ``conflict`` ``not_frozen`` when it is not frozen. Its tokens stay revoked."""
    reason = _reason(reason, (username,))
    if subject is not None and not access.role_may(subject, access.USERS_MANAGE):
        raise Refused("not_found", "only admins unfreeze", "username", (username,))
    _target(db, subject, username)

    def work(tx: neo4j.ManagedTransaction) -> None:
        rows = db.run_in_tx(tx, "freeze_lock_user", username=username)
        if not rows:
            raise Refused("not_found", "no such account", "username", (username,))
        if not rows[0]["frozen"]:
            raise Refused("conflict", "the account is not frozen", "username", (username,), code="not_frozen")
        db.run_in_tx(tx, "user_unfreeze", username=username, by=actor.username)
        audit.append_in_tx(
            tx, db, **actor.event(), action="user.unfreeze", targets=[username], detail=f"reason: {reason}"
        )

    db.write_tx(work)


# --- sessions ---------------------------------------------------------------------------------


def session_ref(id_hash: str) -> str:
    """How pages name a session: derived from its stored hash (which itself is never shown).

    >>> len(session_ref("0" * 64)), session_ref("0" * 64) == session_ref("1" * 64)
    (16, False)
    """
    return hashlib.sha256(f"session-ref:{id_hash}".encode()).hexdigest()[:16]


def _id_hash(sid: str | None) -> str | None:
    return hashlib.sha256(sid.encode()).hexdigest() if sid else None


_BROWSERS = (  # (pattern, name): the first that matches; Edge, Samsung, Opera before Chrome
    (r"Edg(?:e|A|iOS)?/(\d+)", "Edge"),
    (r"SamsungBrowser/(\d+)", "Samsung Internet"),
    (r"OPR/(\d+)", "Opera"),
    (r"(?:Firefox|FxiOS)/(\d+)", "Firefox"),
    (r"(?:Chrome|CriOS)/(\d+)", "Chrome"),
    (r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/", "Safari"),
    (r"^curl/(\d+)", "curl"),
    (r"^python-requests/(\d+)", "python-requests"),
    (r"^graphsvc-cli", "graphsvc CLI"),
)
_SYSTEMS = (
    (r"iPhone", "iPhone"),
    (r"iPad", "iPad"),
    (r"Android", "Android"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"CrOS", "ChromeOS"),
    (r"Linux", "Linux"),
)


def device_label(user_agent: str | None) -> str:
    """A short human reading of a User-Agent: browser (major version) and system; "" when
    nothing is recognised (the page then says "unknown device").

    >>> device_label("Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
    ...   "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36")
    'Samsung Internet 24 · Android'
    >>> device_label("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    ...   "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
    'Safari 17 · iPhone'
    >>> device_label("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    ...   "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0")
    'Edge 120 · Windows'
    >>> device_label("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")
    'Firefox 121 · Linux'
    >>> device_label("pytest"), device_label(None), device_label("-")
    ('', '', '')
    """
    ua = (user_agent or "")[:300]
    browser = next(
        (f"{name} {m.group(1)}" if m.groups() else name for p, name in _BROWSERS if (m := re.search(p, ua))), ""
    )
    system = next((name for p, name in _SYSTEMS if re.search(p, ua)), "")
    return " · ".join(part for part in (browser, system) if part)


def sessions(db: Database, username: str, current_sid: str | None = None) -> list[dict[str, Any]]:
    """The live sessions of ``username``, newest activity first: ``ref``, ``device`` (a
    short reading of the User-Agent), ``user_agent``, ``ip``, ``started``, ``last_seen``,
    ``current`` (the session of ``current_sid``: this device)."""
    mine = _id_hash(current_sid)
    rows = db.read("user_sessions", username=username, idle_seconds=accounts.IDLE_SECONDS)
    return [
        {
            "ref": session_ref(r["id_hash"]),
            "device": device_label(r["user_agent"]),
            "user_agent": r["user_agent"] or "",
            "ip": r["ip"] or "",
            "started": to_datetime(r["created_at"]),
            "last_seen": to_datetime(r["last_seen_at"]),
            "current": r["id_hash"] == mine,
        }
        for r in rows
    ]


SCOPES = ("one", "others", "all")


def end_sessions(
    db: Database,
    subject: access.Subject | None,
    actor: Actor,
    username: str,
    scope: str,
    refs: Iterable[str] = (),
    current_sid: str | None = None,
) -> int:
    """End sessions of ``username``: ``one`` (those of ``refs``), ``others`` (all but the
    session of ``current_sid``) or ``all``; how many ended, audited as ``session.end``.
    The user themselves, an admin (``users.manage``) or the command line (``subject`` None);
    anyone else: 404."""
    if scope not in SCOPES:
        raise Refused("invalid", "scope is one, others or all", "scope", (username,))
    if subject is not None and subject.username != username and not access.role_may(subject, access.USERS_MANAGE):
        raise Refused("not_found", "another user's sessions", "username", (username,))
    if subject is not None and subject.username != username:
        _target(db, None, username)  # an admin: the account exists (404 otherwise)
    wanted = set(refs)
    keep = _id_hash(current_sid) if scope == "others" else None

    def work(tx: neo4j.ManagedTransaction) -> int:
        live = db.run_in_tx(tx, "user_sessions", username=username, idle_seconds=accounts.IDLE_SECONDS)
        hashes = [
            r["id_hash"]
            for r in live
            if (scope != "one" or session_ref(r["id_hash"]) in wanted) and r["id_hash"] != keep
        ]
        if scope == "one" and not hashes:
            raise Refused("not_found", "no such session", "session", (username,), code="no_session")
        ended: int = db.run_in_tx(tx, "user_sessions_end", username=username, id_hashes=hashes)[0]["ended"]
        audit.append_in_tx(
            tx, db, **actor.event(), action="session.end", targets=[username], detail=f"{scope}: {ended} sessions"
        )
        return ended

    return db.write_tx(work)
