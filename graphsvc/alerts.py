"""Alerts: rules over the audit log that tell the admins when an account behaves unlike itself.

An alert is an audit event ``alert.<rule>`` whose ``actor`` is the account it is about (``-``
and the ``ip`` for requests without an account), with a ``detail`` in numbers and ids only:

=====================  ========================================================================
``alert.reads``        an account read more distinct households in a day than ``multiple`` x
                       its own median of the 30 days before (days on which it read anything),
                       and more than ``floor`` (GRAPHSVC_ALERT_READ_MULTIPLE, default 5;
                       GRAPHSVC_ALERT_READ_FLOOR, default 40). A new account (no history) has
                       a median of 0: the floor alone decides.
``alert.off_hours``    identity reads (decrypted identity, a household's contact) outside the
                       working hours of the network's zone (GRAPHSVC_WORK_HOURS, default
                       ``07-22``: from 07:00 up to 22:00 in GRAPHSVC_TIMEZONE, Asia/Seoul;
                       visits are made in the evenings, so 20:00 would raise one every day).
``alert.contact_cap``  a visitor asked for more households' contacts than the daily cap: raised
                       by graphsvc/visits.py at the moment of the refusal (it knows exactly, and
                       at once), at most once in 24 hours; listed and acknowledged like the rest.
``alert.denials``      ``denials`` denied requests (outcome ``denied``) of one account, or of one
                       address without an account, within ``denial_minutes`` minutes
                       (GRAPHSVC_ALERT_DENIALS, default 10; GRAPHSVC_ALERT_DENIAL_MINUTES,
                       default 10). Folded refusals (graphsvc/floodgate.py: "N more like this")
                       count N + 1.
=====================  ========================================================================

Any other ``alert.`` event (``alert.duress`` of a duress sign-in) is an alert too: listed,
shown in the banner and acknowledged the same way.

When the rules run
------------------
``check`` evaluates the rules for the network's current day and the day before (so that
events of the last minutes before midnight are not missed) and raises what is new. It runs
from ``graphsvc audit alerts --check`` (cron) and in the web process at most every
GRAPHSVC_ALERT_CHECK_SECONDS (default 60; 0: never in the web process) when an admin's page
or the alerts API is served, in a thread of its own (web/alerts.py: the request does not wait).
A periodic check over the day's events, rather than a check on every audited read, keeps the
read path as it is (a journal append of 0.1 ms) and reads the day's events once a minute at
most. A web process keeps a ``Memo``: each account's habit (the 30 days before a day do not
change during it) and the days that ended, so that its checks after the first of the day read
the current day's events only (bench/alerts.py: the figures).

Once per account, rule and day
------------------------------
Each alert claims a small ``(:AlertMark {key: "<rule>|<account>|<day>"})`` (unique key) in the
transaction that appends its event: two checks at once (two web processes, a cron job) raise it
once, and a check run again the same day raises nothing new. The day is the network's day
(GRAPHSVC_TIMEZONE), named in the detail.

Acknowledgement
---------------
``acknowledge`` appends ``alert.ack`` (actor the admin, target the alert's seq as a string, the
admin's optional note as its ``reason``). Whether an alert is open is read from the ack events
themselves: the log stays the one record, nothing about an event is ever updated, and no state
beside it can disagree with it. An ``AlertMark`` ``ack|<seq>`` written in the same transaction
makes a second acknowledgement of the same alert a conflict instead of a second event.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import neo4j

from . import access, audit
from .errors import Refused

if TYPE_CHECKING:
    from .config import Settings
    from .db import Database
    from .model import Actor

_log = logging.getLogger(__name__)

PREFIX = "alert."
READS = "alert.reads"
OFF_HOURS = "alert.off_hours"
CONTACT_CAP = "alert.contact_cap"  # raised by graphsvc/visits.py contact
DENIALS = "alert.denials"
ACK = "alert.ack"
RULES = (READS, OFF_HOURS, CONTACT_CAP, DENIALS)

# Reads that show households besides the ``*.read`` actions and ``network.*`` (alerts.cypher).
READ_ACTIONS = ("export", "household.desk", "visit.report.form")
# Identity reads besides any action with ``.identity`` in its name.
IDENTITY_ACTIONS = ("household.identity.read", "household.contact.read")
NOT_ACCOUNTS = ("-", "system")
HISTORY_DAYS = 30
MAX_LIST = 1000  # alert events read for a list (open ones beyond the newest 1000 are not shown)
MAX_NOTE = 300

_FOLDED = re.compile(r"(\d+) more like this")
_HOURS = re.compile(r"^\s*(\d{1,2})(?::00)?\s*-\s*(\d{1,2})(?::00)?\s*$")


@dataclass(frozen=True)
class Rules:
    """The thresholds (``from_settings``: the environment, checked)."""

    read_multiple: float = 5.0
    read_floor: int = 40
    work_start: int = 7  # hour the working day starts (inclusive), in ``timezone``
    work_end: int = 22  # hour it ends (exclusive)
    denials: int = 10
    denial_minutes: int = 10
    check_seconds: int = 60
    timezone: str = "Asia/Seoul"

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls.from_env(dict(settings.alert_env), settings.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str], timezone: str = "Asia/Seoul") -> Rules:
        """The rules from GRAPHSVC_ALERT_* and GRAPHSVC_WORK_HOURS; a ValueError names a bad one.

        >>> Rules.from_env({"GRAPHSVC_WORK_HOURS": "8-20", "GRAPHSVC_ALERT_READ_FLOOR": "25"}).work_start
        8
        >>> Rules.from_env({"GRAPHSVC_WORK_HOURS": "late"})
        Traceback (most recent call last):
        ...
        ValueError: GRAPHSVC_WORK_HOURS must be two hours like 07-22 (start before end, 0 to 24), not 'late'
        """
        start, end = cls.work_start, cls.work_end
        raw = env.get("GRAPHSVC_WORK_HOURS") or ""
        if raw:
            found = _HOURS.match(raw)
            if not found or not 0 <= int(found[1]) < int(found[2]) <= 24:
                raise ValueError(
                    f"GRAPHSVC_WORK_HOURS must be two hours like 07-22 (start before end, 0 to 24), not {raw!r}"
                )
            start, end = int(found[1]), int(found[2])
        raw_multiple = env.get("GRAPHSVC_ALERT_READ_MULTIPLE") or ""
        multiple = cls.read_multiple
        if raw_multiple:
            try:
                multiple = float(raw_multiple)
            except ValueError:
                multiple = float("nan")
            if not 1 <= multiple <= 1000:  # also false for nan
                raise ValueError(f"GRAPHSVC_ALERT_READ_MULTIPLE must be a number from 1 to 1000, not {raw_multiple!r}")
        return cls(
            read_multiple=multiple,
            read_floor=_whole(env, "GRAPHSVC_ALERT_READ_FLOOR", cls.read_floor, 1),
            work_start=start,
            work_end=end,
            denials=_whole(env, "GRAPHSVC_ALERT_DENIALS", cls.denials, 2),
            denial_minutes=_whole(env, "GRAPHSVC_ALERT_DENIAL_MINUTES", cls.denial_minutes, 1),
            check_seconds=_whole(env, "GRAPHSVC_ALERT_CHECK_SECONDS", cls.check_seconds, 0),
            timezone=timezone,
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _whole(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < least:
        raise ValueError(f"{name} must be a whole number >= {least}, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Finding:
    """An alert a rule found (not yet raised): its action, the account (``-`` when only an
    address), the address, the network day and the non-personal detail."""

    action: str
    account: str
    ip: str | None
    day: dt.date
    detail: str

    @property
    def key(self) -> str:
        who = self.account if self.account != "-" else f"ip {self.ip}"
        return f"{self.action}|{who}|{self.day.isoformat()}"


# --- the rules -------------------------------------------------------------------------------


def _bounds(rules: Rules, day: dt.date, days: int = 1) -> tuple[str, str]:
    """The network day ``day`` (and ``days - 1`` after it) as a range of ``at`` strings."""
    start = dt.datetime.combine(day, dt.time(), rules.zone)
    return audit.timestamp(start), audit.timestamp(start + dt.timedelta(days=days))


@dataclass
class Memo:
    """What a process may keep between checks (the web's once-a-minute check): the habits
    already computed (an account's median of the 30 days before a day does not change once
    the day has begun) and the days evaluated after they ended (nothing new arrives for
    them). Without one (the command line), everything is read again."""

    habits: dict[tuple[str, dt.date], tuple[float, int]] = field(default_factory=dict)
    settled: set[dt.date] = field(default_factory=set)


SETTLE = dt.timedelta(minutes=15)  # a day's events have all shipped this long after it ended


def reads(db: Database, rules: Rules, day: dt.date, memo: Memo | None = None) -> list[Finding]:
    """Accounts that read more distinct households on ``day`` than their habit allows."""
    since, until = _bounds(rules, day)
    rows = db.read(
        "alerts_reads_by_account",
        since=since,
        until=until,
        read_actions=list(READ_ACTIONS),
        not_accounts=list(NOT_ACCOUNTS),
    )
    found = []
    for row in rows:
        count = row["households"]
        if count <= rules.read_floor:  # cheap first: most accounts stay under the floor
            continue
        median, days = _habit(db, rules, row["account"], day, memo)
        if count > rules.read_multiple * median:
            found.append(
                Finding(
                    READS,
                    row["account"],
                    None,
                    day,
                    f"{day.isoformat()}: {count} households read; 30-day median {median:g} "
                    f"on {days} days (alert above {rules.read_multiple:g}x and {rules.read_floor})",
                )
            )
    return found


def _habit(db: Database, rules: Rules, account: str, day: dt.date, memo: Memo | None) -> tuple[float, int]:
    """The account's median of distinct households read per day over the 30 days before
    ``day`` (days without reads left out), and on how many days it read."""
    if memo is not None and (account, day) in memo.habits:
        return memo.habits[(account, day)]
    since, until = _bounds(rules, day - dt.timedelta(days=HISTORY_DAYS), HISTORY_DAYS)
    history = db.read(
        "alerts_reads_history",
        account=account,
        since=since,
        until=until,
        read_actions=list(READ_ACTIONS),
        tz=rules.timezone,
    )
    daily = [h["households"] for h in history if h["households"]]
    habit = (float(statistics.median(daily)) if daily else 0.0, len(daily))
    if memo is not None:
        memo.habits[(account, day)] = habit
    return habit


def _local(rules: Rules, at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(rules.zone)


def off_hours(db: Database, rules: Rules, day: dt.date) -> list[Finding]:
    """Accounts that read identity outside the working hours on ``day``."""
    since, until = _bounds(rules, day)
    rows = db.read("alerts_identity_reads", since=since, until=until, identity_actions=list(IDENTITY_ACTIONS))
    outside: dict[str, list[dt.datetime]] = defaultdict(list)
    for row in rows:
        local = _local(rules, row["at"])
        if not rules.work_start <= local.hour < rules.work_end:
            outside[row["account"]].append(local)
    return [
        Finding(
            OFF_HOURS,
            account,
            None,
            day,
            f"{day.isoformat()}: {len(times)} identity read(s) outside {rules.work_start:02d}-{rules.work_end:02d} "
            f"({rules.timezone}), the first at {times[0]:%H:%M}",
        )
        for account, times in sorted(outside.items())
    ]


def _weight(detail: str | None) -> int:
    """A denied event counts once, a folded one (floodgate's summary) for all it stands for."""
    found = _FOLDED.search(detail or "")
    return 1 + int(found[1]) if found else 1


def denials(db: Database, rules: Rules, day: dt.date) -> list[Finding]:
    """Accounts (or addresses without an account) with ``denials`` denied requests within
    ``denial_minutes`` minutes ending on ``day``."""
    since, until = _bounds(rules, day)
    window = dt.timedelta(minutes=rules.denial_minutes)
    start = audit.timestamp(dt.datetime.fromisoformat(since.replace("Z", "+00:00")) - window)
    rows = db.read("alerts_denials", since=start, until=until)
    groups: dict[tuple[str, str | None], list[tuple[dt.datetime, int]]] = defaultdict(list)
    for row in rows:
        key = (row["account"], None) if row["account"] != "-" else ("-", row["ip"] or "-")
        groups[key].append((_local(rules, row["at"]), _weight(row["detail"])))
    day_start = dt.datetime.combine(day, dt.time(), rules.zone)
    found = []
    for (account, ip), times in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        first = 0
        total = 0
        for when, weight in times:
            total += weight
            while when - times[first][0] > window:
                total -= times[first][1]
                first += 1
            if total >= rules.denials and when >= day_start:
                found.append(
                    Finding(
                        DENIALS,
                        account,
                        ip,
                        day,
                        f"{day.isoformat()}: {total} denied requests within {rules.denial_minutes} minutes "
                        f"({times[first][0]:%H:%M}-{when:%H:%M} {rules.timezone})",
                    )
                )
                break
    return found


def evaluate(db: Database, rules: Rules, day: dt.date, memo: Memo | None = None) -> list[Finding]:
    """What every rule finds for the network day ``day`` (raised or not)."""
    return reads(db, rules, day, memo) + off_hours(db, rules, day) + denials(db, rules, day)


def today(rules: Rules, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(rules.zone).date()


def check(db: Database, rules: Rules, now: dt.datetime | None = None, memo: Memo | None = None) -> list[int]:
    """Evaluate the rules for the network's day of ``now`` and the day before, and raise each
    alert not raised yet for its account, rule and day; return the seqs of the new events.
    ``memo``: what this process kept from its earlier checks (``Memo``)."""
    _flush(db)  # what the journal holds is part of the day
    now = now or dt.datetime.now(dt.UTC)
    day = today(rules, now)
    yesterday = day - dt.timedelta(days=1)
    findings = []
    if memo is None or yesterday not in memo.settled:
        findings += evaluate(db, rules, yesterday, memo)
        if memo is not None and now >= dt.datetime.combine(day, dt.time(), rules.zone) + SETTLE:
            memo.settled.add(yesterday)
    findings += evaluate(db, rules, day, memo)
    if not findings:
        return []
    return raise_findings(db, findings)


def raise_findings(db: Database, findings: Iterable[Finding]) -> list[int]:
    """Append the alert of each finding whose mark is not taken yet (one transaction)."""
    findings = list(findings)

    def work(tx: neo4j.ManagedTransaction) -> list[int]:
        seqs = []
        for finding in findings:
            if not _claim(tx, db, finding.key):
                continue
            seqs.append(
                audit.append_in_tx(
                    tx,
                    db,
                    actor=finding.account,
                    action=finding.action,
                    ip=finding.ip,
                    detail=finding.detail,
                    user_agent="graphsvc alerts",
                )
            )
        return seqs

    return db.write_tx(work, keyed=False)


def _flush(db: Database) -> None:
    """Ship the audit journal first (everything that reads the log does); when the chain
    refuses its events, read what is there (``audit verify`` names the damage)."""
    try:
        audit.flush(db)
    except audit.AuditError as exc:
        _log.warning("%s", exc)


def _claim(tx: neo4j.ManagedTransaction, db: Database, key: str) -> bool:
    token = secrets.token_hex(8)
    rows = db.run_in_tx(tx, "alert_mark", key=key, token=token, now=audit.timestamp())
    return bool(rows and rows[0]["created"])


# --- reading and acknowledging ------------------------------------------------------------------


def _view(row: dict[str, Any], ack: dict[str, Any] | None) -> dict[str, Any]:
    """An alert as lists, pages and the API show it (ids and numbers only)."""
    account = row["actor"]
    return {
        "id": row["seq"],
        "at": row["at"],
        "rule": row["action"][len(PREFIX) :],
        "action": row["action"],
        "account": account if account != "-" else None,
        "address": row["ip"] if account == "-" else None,
        "targets": list(row.get("targets") or []),
        "detail": row.get("detail"),
        "acknowledged": (
            {"by": ack["actor"], "at": ack["at"], "note": ack["note"], "seq": ack["seq"]} if ack is not None else None
        ),
    }


def _acks(db: Database) -> dict[int, dict[str, Any]]:
    acks: dict[int, dict[str, Any]] = {}
    for row in db.read("alerts_acks"):
        target = (row["targets"] or [""])[0]
        if target.isdigit() and int(target) not in acks:
            acks[int(target)] = row
    return acks


def listing(db: Database, everything: bool = False, recent: int = 50, flush: bool = True) -> list[dict[str, Any]]:
    """Open alerts, newest first; with ``everything`` the acknowledged ones after them (the
    ``recent`` newest of those). ``flush``: ship the audit journal first (the alerts raised
    here are written to the chain directly; an ``alert.`` event sent to the journal shows
    once it has shipped, within about a second, without it)."""
    if flush:
        _flush(db)
    rows = db.read("alerts_events", limit=MAX_LIST)
    acks = _acks(db)
    views = [_view(row, acks.get(row["seq"])) for row in rows]
    open_ = [v for v in views if v["acknowledged"] is None]
    if not everything:
        return open_
    return open_ + [v for v in views if v["acknowledged"] is not None][:recent]


def open_count(db: Database) -> int:
    """How many alerts are open (the banner, on every admin page: no journal shipment)."""
    return len(listing(db, flush=False))


def parse_id(value: object) -> int:
    """An alert's id (its seq) from a URL or a form; Refused not_found when it is none."""
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise Refused("not_found", "no such alert", "id", code="no_alert")
    return int(text)


def acknowledge(
    db: Database, subject: access.Subject, actor: Actor, alert_id: object, note: str | None = None
) -> dict[str, Any]:
    """Acknowledge an alert: an ``alert.ack`` event (target the alert's seq; the note, if
    any, its reason). Refused: ``not_found`` (no such alert), ``conflict`` (acknowledged
    already), ``invalid`` (the note is over MAX_NOTE characters), ``forbidden`` (not an
    admin's)."""
    if not access.role_may(subject, access.AUDIT_READ):
        raise Refused("forbidden", "alerts are for admins", code="forbidden")
    seq = parse_id(alert_id)
    if note is not None and not isinstance(note, str):
        raise Refused("invalid", "the note must be text", "note", (str(seq),), code="note_invalid")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise Refused("invalid", f"a note is at most {MAX_NOTE} characters", "note", (str(seq),), code="note_long")

    def work(tx: neo4j.ManagedTransaction) -> dict[str, Any]:
        found = db.run_in_tx(tx, "alert_event", seq=seq)
        if not found:
            raise Refused("not_found", "no such alert", "id", (str(seq),), code="no_alert")
        if not _claim(tx, db, f"ack|{seq}"):
            raise Refused("conflict", "acknowledged already", "id", (str(seq),), code="already_acknowledged")
        ack_seq = audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action=ACK,
            targets=[str(seq)],
            reason=note,
            detail=f"{found[0]['action']} of event {seq}",
        )
        row = found[0]
        return _view(row, {"actor": actor.username, "at": audit.timestamp(), "note": note, "seq": ack_seq})

    return db.write_tx(work)
