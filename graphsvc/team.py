"""Running accounts: role, districts, gender, enabled, and one-time password-reset links.

Admins run every account (the CLI's ``users set`` acts as one); a coordinator runs the
visitors of their own districts (``access.TEAM_MANAGE``): a visitor's gender (without it a
visitor never gets a women-only household), which of the coordinator's districts the
visitor works in (the visitor's other districts are neither shown nor touched), and a reset
link. Never another coordinator, an admin, or themselves.

A change is one transaction: lock the account → decide → validate (graphsvc/records.py
``user_change``; districts must be districts of this network) → write → end the sessions
and tokens when the role changes or the account is disabled → audit, naming every field
changed as "field: old → new".

A reset link (``/reset/<token>``) carries a 256-bit random token, stored as its SHA-256;
it works once, expires (``GRAPHSVC_RESET_LINK_HOURS``, 24 by default), and a newer link
of the same account voids the older one. Using it sets a new password under the password
rules; the user then signs in as usual, with their sign-in code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import neo4j

from . import access, audit, records
from .access import AccountFacts, Subject
from .accounts import AccountError, forget_tokens, hash_password, password_in_tx
from .errors import Refused
from .model import Actor, to_datetime

if TYPE_CHECKING:
    from .db import Database

RESET_PREFIX = "gr_"
RESET_TOKEN_MAX = 100
# which field of the policy's (access.ACCOUNT_FIELDS) each field of a change touches
_POLICY_FIELD = {
    "role": "role",
    "districts": "districts",
    "add_districts": "districts",
    "remove_districts": "districts",
    "gender": "gender",
    "enabled": "enabled",
}


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _invalid(problems: list[records.Problem], username: str) -> Refused:
    first = problems[0]
    return Refused("invalid", first.english(), first.field, (username,), problems=tuple(problems))


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _locked(
    db: Database, tx: neo4j.ManagedTransaction, subject: Subject, username: str
) -> tuple[dict[str, Any], access.Decision]:
    """The account under its write lock, and the policy's decision on it (refused as
    not_found when the subject may not run it: the same answer as for no such account)."""
    rows = db.run_in_tx(tx, "account_lock", username=username)
    if not rows:
        raise Refused("not_found", "no such account", targets=(username,))
    row = rows[0]
    decision = access.decide(subject, access.TEAM_MANAGE, AccountFacts(username, row["role"], tuple(row["districts"])))
    if not decision:
        raise Refused("not_found", decision.why, targets=(username,))
    return row, decision


@dataclass(frozen=True)
class Change:
    """What a change did: the account as it is now and the fields changed ("field: old → new")."""

    account: dict[str, Any]
    changed: tuple[str, ...]


def change_account(
    db: Database, subject: Subject, actor: Actor, username: str, data: Mapping[str, Any], *, known_only: bool = True
) -> Change:
    """Change an account's role, districts, gender or enabled (only the fields in ``data``:
    ``records.user_change``). ``known_only``: a district added must be one of this network
    (of a household or an account); the CLI may name a new one."""
    checked = records.user_change(data)
    if not checked.ok:
        raise _invalid(checked.problems, username)
    given = checked.values
    scope = access.scope_districts(subject)  # None: every district

    def work(tx: neo4j.ManagedTransaction) -> Change:
        row, decision = _locked(db, tx, subject, username)
        for name in given:
            if _POLICY_FIELD[name] not in decision.fields:
                raise Refused("forbidden", f"{name} of an account", name, (username,), code="account_field")
        own_role = "role" in given and given["role"] != row["role"]
        if username == subject.username and (own_role or (given.get("enabled") is False and row["enabled"])):
            field = "role" if own_role else "enabled"
            raise Refused("conflict", "one's own role or account", field, (username,), code="own_account")

        problems = records.Checked()
        old = list(row["districts"])
        districts = list(old)
        for name in ("districts", "add_districts", "remove_districts"):
            for d in given.get(name, []):
                if scope is not None and d not in scope:
                    problems.problem(name, "not_your_district", value=repr(d))
        if "districts" in given:  # in their old order, new ones after them
            wanted = given["districts"]
            districts = [d for d in old if d in wanted or (scope is not None and d not in scope)]
            districts += [d for d in wanted if d not in districts]
        districts += [d for d in given.get("add_districts", []) if d not in districts]
        districts = [d for d in districts if d not in given.get("remove_districts", [])]
        new = [d for d in districts if d not in old]
        if new and known_only:
            known = set(db.run_in_tx(tx, "districts_check", districts=new)[0]["known"])
            for d in new:
                if d not in known:
                    where = "districts" if d in given.get("districts", []) else "add_districts"
                    problems.problem(where, "unknown_district", value=repr(d))
        role = given.get("role", row["role"])
        if access.REGISTRY[role].needs_districts and not districts:
            problems.problem("districts", "needs_district", role=role)
        # issue 16: a partner's account is made with its organisation (users add --org) and has
        # no districts; no other account becomes one, and a partner becomes no other role
        scoped = access.REGISTRY[role].org_scoped
        if role != row["role"] and (scoped or getattr(access.REGISTRY.get(row["role"]), "org_scoped", False)):
            problems.problem("role", "org_role", role=access.PARTNER.name)
        elif scoped and districts:
            problems.problem("districts", "org_no_districts", role=role)
        if not problems.ok:
            raise _invalid(problems.problems, username)

        after = {
            "role": role,
            "districts": districts,
            "gender": given["gender"] if "gender" in given else row["gender"],
            "enabled": given.get("enabled", row["enabled"]),
        }
        changed = tuple(
            f"{name}: {_shown(row[name])} → {_shown(after[name])}" for name in after if after[name] != row[name]
        )
        account = {"username": username, **after}
        if not changed:
            return Change(account, ())
        # enabled is written only when asked: an imported account (never enabled) stays as it is
        db.run_in_tx(tx, "account_update", username=username, **{**after, "enabled": given.get("enabled")})
        if after["role"] != row["role"] or (row["enabled"] and not after["enabled"]):
            # other powers, or none: what was signed in or issued under the old ones ends
            db.run_in_tx(tx, "session_end_all", username=username)
            db.run_in_tx(tx, "token_revoke_all", username=username)
            db.run_in_tx(tx, "reset_revoke_all", username=username)
        audit.append_in_tx(tx, db, **actor.event(), action="user.update", targets=[username], detail="; ".join(changed))
        return Change(account, changed)

    result: Change = db.write_tx(work)
    if result.changed:
        forget_tokens(db)
    return result


def get_account(db: Database, subject: Subject, username: str) -> dict[str, Any]:
    """An account as the subject may see it: for a coordinator, its districts among theirs
    (``districts``) and how many others it has (``other_districts``, never their names)."""
    rows = db.read("account_get", username=username)
    if not rows:
        raise Refused("not_found", "no such account", targets=(username,))
    row = rows[0]
    decision = access.decide(subject, access.TEAM_MANAGE, AccountFacts(username, row["role"], tuple(row["districts"])))
    if not decision:
        raise Refused("not_found", decision.why, targets=(username,))
    return scoped(subject, row)


def scoped(subject: Subject, row: dict[str, Any]) -> dict[str, Any]:
    """An account's fields as ``subject`` may know them (a coordinator: its districts among
    theirs, and the number of its others)."""
    scope = access.scope_districts(subject)
    out = dict(row)
    if scope is not None:
        out["districts"] = [d for d in row["districts"] if d in scope]
        out["other_districts"] = len(row["districts"]) - len(out["districts"])
    else:
        out["other_districts"] = 0
    return out


def team(db: Database, subject: Subject) -> list[dict[str, Any]]:
    """The accounts the subject runs: for a coordinator, the visitors who share one of their
    districts (scoped as ``get_account``); for an admin, every field worker."""
    roles = [r.name for r in access.REGISTRY.values() if r.field_work]
    scope = access.scope_districts(subject)
    rows = db.read("team_list", roles=roles, districts=list(scope) if scope is not None else None)
    return [
        scoped(subject, r)
        for r in rows
        if access.decide(subject, access.TEAM_MANAGE, AccountFacts(r["username"], r["role"], tuple(r["districts"])))
    ]


def known_districts(db: Database, subject: Subject) -> list[str]:
    """The districts the subject may give an account: all of this network's for an admin,
    their own for a coordinator."""
    scope = access.scope_districts(subject)
    if scope is not None:
        return sorted(scope)
    return [r["district"] for r in db.read("districts_known")]


# --- reset links ---------------------------------------------------------------------------


def create_reset_link(
    db: Database, subject: Subject, actor: Actor, username: str, seconds: int
) -> tuple[str, dt.datetime]:
    """A new one-time reset link's token (shown once, stored as its SHA-256) and when it
    expires; the account's older links stop working."""
    token = RESET_PREFIX + secrets.token_urlsafe(32)

    def work(tx: neo4j.ManagedTransaction) -> dt.datetime:
        row, decision = _locked(db, tx, subject, username)
        if "reset_link" not in decision.fields:
            raise Refused("forbidden", "reset link of an account", targets=(username,), code="account_field")
        if row["disabled"]:  # an imported account, never enabled, may get its first password so
            raise Refused("conflict", "the account is disabled", targets=(username,), code="account_disabled")
        out = db.run_in_tx(
            tx, "reset_create", username=username, hash=_sha256(token), seconds=int(seconds), created_by=actor.username
        )[0]
        expires_at = to_datetime(out["expires_at"])
        assert expires_at is not None
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="user.reset_link",
            targets=[username],
            detail=f"expires {expires_at:%Y-%m-%d %H:%M} UTC",
        )
        return expires_at

    return token, db.write_tx(work)


def reset_link_state(db: Database, token: str | None) -> dict[str, Any]:
    """What a reset link is: ``state`` ok (usable), used, expired, disabled or unknown, and
    for a usable one its ``username``."""
    if not token or not token.startswith(RESET_PREFIX) or len(token) > RESET_TOKEN_MAX:
        return {"state": "unknown"}
    rows = db.read("reset_get", hash=_sha256(token))
    if not rows:
        return {"state": "unknown"}
    row = rows[0]
    if row["used"]:
        return {"state": "used"}
    if row["expired"]:
        return {"state": "expired"}
    if not row["enabled"]:
        return {"state": "disabled"}
    return {"state": "ok", "username": row["username"], "expires_at": to_datetime(row["expires_at"])}


def use_reset_link(db: Database, token: str, password: str, ip: str, user_agent: str) -> str:
    """Set a new password through a reset link; returns the username. The link is spent in
    the same transaction (a second use, also at the same moment, finds it used); the
    account's sessions end and the lock on its name is lifted."""
    state = reset_link_state(db, token)
    if state["state"] != "ok":
        raise Refused("not_found", f"reset link {state['state']}", code=f"reset_{state['state']}")
    username: str = state["username"]
    try:
        password_hash = hash_password(password, username)
    except AccountError as exc:
        raise Refused("invalid", str(exc), "password", code=exc.code) from None

    def work(tx: neo4j.ManagedTransaction) -> str:
        rows = db.run_in_tx(tx, "reset_use", hash=_sha256(token))
        if not rows or rows[0]["username"] != username:
            raise Refused("not_found", "reset link used", code="reset_used")
        password_in_tx(tx, db, username, password_hash)
        audit.append_in_tx(
            tx,
            db,
            **Actor(username, rows[0]["role"], ip, user_agent).event(),
            action="user.password_reset",
            targets=[username],
            detail="by reset link",
        )
        return username

    done: str = db.write_tx(work)
    return done
