"""Alerts (graphsvc/alerts.py): each rule fires above its threshold and not at it, once per
account, rule and day; acknowledgement is an audited event and closes the alert."""

from __future__ import annotations

import datetime as dt

import pytest

from graphsvc import alerts, audit
from graphsvc.access import Subject
from graphsvc.errors import Refused
from graphsvc.model import Actor

SEOUL = dt.timezone(dt.timedelta(hours=9))
DAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=SEOUL)  # the afternoon of DAY in Seoul
RULES = alerts.Rules(read_multiple=3, read_floor=5, denials=4, denial_minutes=10)
ADMIN = Subject("boss", "admin", ())
BOSS = Actor("boss", "admin", "10.0.0.9", "pytest")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SEOUL)


def insert(db, events: list[dict]) -> None:
    """Events with chosen times, chained after the head (the benchmark's fixture path)."""
    audit.flush(db)
    head = db.read("audit_head")
    seq, prev = (head[0]["seq"], head[0]["hash"]) if head else (0, audit.ZERO_HASH)
    rows = list(audit.chain_events(({"outcome": "ok", **e} for e in events), start_seq=seq + 1, prev=prev))
    db.write("bench_audit_insert", rows=rows)
    db.write("bench_audit_set_head", seq=rows[-1]["seq"], hash=rows[-1]["hash"])


def read(who: str, when: dt.datetime, households: range, action: str = "household.read") -> dict:
    return {
        "at": when,
        "actor": who,
        "role": "visitor",
        "action": action,
        "targets": [f"h-a{i:03d}" for i in households],
    }


@pytest.fixture()
def households(db):
    db.write("test_alerts_households", ids=[f"h-a{i:03d}" for i in range(40)])
    return db


def raised(db, action: str | None = None) -> list[dict]:
    return audit.query(db, action=action or "alert.")


# --- reads far above the account's habit -----------------------------------------------------


def test_reads_fire_above_multiple_of_median_and_floor_not_at_them(households):
    db = households
    # mina's habit: 3 households a day on 5 days of the last 30 (median 3); jiho: 1 a day
    habit = [read("mina", at(DAY - dt.timedelta(days=d), 10), range(3)) for d in (1, 2, 3, 9, 20)]
    habit += [read("jiho", at(DAY - dt.timedelta(days=d), 10), range(1)) for d in (1, 2, 3)]
    # older than 30 days: not part of the habit
    habit += [read("mina", at(DAY - dt.timedelta(days=31), 10), range(40))] * 3
    insert(db, habit)
    # today: mina reads 9 distinct households (= 3 x 3: not over), in several reads with repeats
    insert(db, [read("mina", at(DAY, 9), range(5)), read("mina", at(DAY, 10), range(3, 9))])
    assert alerts.check(db, RULES, NOW) == []
    # one more household: 10 > 9 and > 5
    insert(db, [read("mina", at(DAY, 11), range(9, 10), action="network.read")])
    seqs = alerts.check(db, RULES, NOW)
    assert len(seqs) == 1
    [event] = raised(db, alerts.READS)
    assert event["actor"] == "mina" and event["seq"] == seqs[0]
    assert event["detail"].startswith("2026-11-25: 10 households read; 30-day median 3 on 5 days")
    # jiho: 5 households is 5 x his median but not over the floor of 5
    insert(db, [read("jiho", at(DAY, 12), range(20, 25))])
    assert alerts.check(db, RULES, NOW) == []
    # once per account, rule and day: more reads the same day raise nothing new
    insert(db, [read("mina", at(DAY, 13), range(10, 30))])
    assert alerts.check(db, RULES, NOW) == []
    assert len(raised(db, alerts.READS)) == 1
    # the next day is a day of its own
    insert(db, [read("mina", at(DAY + dt.timedelta(days=1), 9), range(30))])
    assert len(alerts.check(db, RULES, NOW + dt.timedelta(days=1))) == 1


def test_reads_count_households_only_and_successful_reads_only(households):
    db = households
    many = [f"p-{i}" for i in range(50)]  # people, visits, claims: not households
    insert(
        db,
        [
            {"at": at(DAY, 9), "actor": "mina", "action": "household.read", "targets": many},
            {**read("mina", at(DAY, 9), range(30)), "outcome": "denied"},
            read("mina", at(DAY, 9), range(5)),
            {**read("mina", at(DAY, 9), range(30)), "action": "household.update"},  # a write
        ],
    )
    assert alerts.check(db, RULES, NOW) == []


def test_a_new_account_is_judged_by_the_floor(households):
    insert(households, [read("newbie", at(DAY, 9), range(6))])
    assert len(alerts.check(households, RULES, NOW)) == 1


# --- identity reads outside working hours ------------------------------------------------------


def test_identity_reads_outside_working_hours(db):
    identity = {"actor": "kim", "role": "admin", "action": "household.identity.read", "targets": ["h-001"]}
    contact = {"actor": "mina", "role": "visitor", "action": "household.contact.read", "targets": ["h-002"]}
    insert(
        db,
        [
            {**identity, "at": at(DAY, 7, 0)},  # 07:00: inside 07-22
            {**identity, "at": at(DAY, 21, 59)},  # inside
            {**contact, "at": at(DAY, 12)},
            {**identity, "at": at(DAY, 22, 0), "action": "household.read"},  # not an identity read
            {**identity, "at": at(DAY, 23), "outcome": "denied"},  # not shown: no identity read
        ],
    )
    assert alerts.check(db, RULES, NOW) == []
    insert(db, [{**identity, "at": at(DAY, 6, 59)}, {**contact, "at": at(DAY, 22, 0)}, {**identity, "at": at(DAY, 23)}])
    assert len(alerts.check(db, RULES, NOW)) == 2
    by = {e["actor"]: e["detail"] for e in raised(db, alerts.OFF_HOURS)}
    assert by == {
        "kim": "2026-11-25: 2 identity read(s) outside 07-22 (Asia/Seoul), the first at 06:59",
        "mina": "2026-11-25: 1 identity read(s) outside 07-22 (Asia/Seoul), the first at 22:00",
    }
    assert alerts.check(db, RULES, NOW) == []  # once a day


def test_working_hours_are_configurable(db):
    insert(db, [{"at": at(DAY, 20, 30), "actor": "kim", "action": "household.identity.read", "targets": ["h-1"]}])
    assert alerts.check(db, RULES, NOW) == []
    rules = alerts.Rules.from_env({"GRAPHSVC_WORK_HOURS": "08-20"})
    assert (rules.work_start, rules.work_end) == (8, 20)
    assert len(alerts.check(db, rules, NOW)) == 1


# --- repeated denials ----------------------------------------------------------------------------


def test_repeated_denials_of_an_account_and_of_an_address(db):
    denied = {"actor": "jiho", "role": "visitor", "action": "household.read", "outcome": "denied", "ip": "10.1.1.1"}
    anonymous = {"actor": "-", "action": "access.unauthenticated", "outcome": "denied", "ip": "10.2.2.2"}
    # 3 in 10 minutes (under 4), and 4 spread over 11 minutes: no alert
    insert(db, [{**denied, "at": at(DAY, 9, m)} for m in (0, 1, 2)])
    insert(db, [{**anonymous, "at": at(DAY, 10, m)} for m in (0, 4, 8, 11)])
    assert alerts.check(db, RULES, NOW) == []
    # the 4th of jiho's within 10 minutes; a folded summary standing for 3 from the address
    insert(db, [{**denied, "at": at(DAY, 9, 10)}])
    insert(
        db, [{**anonymous, "at": at(DAY, 11, 0), "detail": "/x; 2 more like this between 02:00:01 and 02:00:30 UTC"}]
    )
    insert(db, [{**anonymous, "at": at(DAY, 11, 1)}])
    assert len(alerts.check(db, RULES, NOW)) == 2
    found = {(e["actor"], e["ip"]): e["detail"] for e in raised(db, alerts.DENIALS)}
    assert found == {
        ("jiho", None): "2026-11-25: 4 denied requests within 10 minutes (09:00-09:10 Asia/Seoul)",
        ("-", "10.2.2.2"): "2026-11-25: 4 denied requests within 10 minutes (11:00-11:01 Asia/Seoul)",
    }
    insert(db, [{**denied, "at": at(DAY, 14, m)} for m in range(6)])
    assert alerts.check(db, RULES, NOW) == []  # once a day


def test_alerts_themselves_are_not_denials(db):
    insert(
        db,
        [{"at": at(DAY, 9, m), "actor": "mina", "action": "alert.contact_cap", "outcome": "denied"} for m in range(5)],
    )
    assert alerts.check(db, RULES, NOW) == []


def test_a_late_event_of_yesterday_is_checked_after_midnight(db):
    denied = {"actor": "jiho", "action": "household.read", "outcome": "denied"}
    insert(db, [{**denied, "at": at(DAY, 23, 58) + dt.timedelta(seconds=s)} for s in range(4)])
    seqs = alerts.check(db, RULES, at(DAY + dt.timedelta(days=1), 0, 1))
    assert len(seqs) == 1
    assert raised(db, alerts.DENIALS)[0]["detail"].startswith("2026-11-25: ")


def test_concurrent_checks_raise_an_alert_once(db):
    import concurrent.futures

    insert(db, [{"at": at(DAY, 9, m), "actor": "jiho", "action": "x.read", "outcome": "denied"} for m in range(5)])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: alerts.check(db, RULES, NOW), range(4)))
    assert sum(len(seqs) for seqs in done) == 1
    assert len(raised(db, alerts.DENIALS)) == 1
    assert [r["key"] for r in db.read("test_alerts_marks")] == ["alert.denials|jiho|2026-11-25"]


def test_a_memo_keeps_habits_and_settled_days(households):
    """The web's once-a-minute check keeps an account's habit for the day and evaluates a
    day that ended (15 minutes ago) no more."""
    db = households
    insert(db, [read("mina", at(DAY - dt.timedelta(days=d), 10), range(3)) for d in (1, 2, 3)])
    insert(db, [read("mina", at(DAY, 9), range(6))])
    memo = alerts.Memo()
    assert alerts.check(db, RULES, NOW, memo) == []  # 6 is not over 3 x 3
    assert memo.habits[("mina", DAY)] == (3.0, 3)
    assert memo.settled == {DAY - dt.timedelta(days=1)}
    # the habit is not read again: a changed past does not change it for the day
    insert(db, [read("mina", at(DAY - dt.timedelta(days=d), 11), range(3, 30)) for d in (1, 2, 3)])
    insert(db, [read("mina", at(DAY, 10), range(6, 10))])
    assert len(alerts.check(db, RULES, NOW, memo)) == 1
    assert alerts.check(db, RULES, NOW) == []  # without a memo, raised once a day all the same


# --- listing and acknowledging ------------------------------------------------------------------


def test_acknowledge_closes_an_alert_and_is_audited(db):
    insert(db, [{"at": at(DAY, 9, m), "actor": "jiho", "action": "x.read", "outcome": "denied"} for m in range(5)])
    [seq] = alerts.check(db, RULES, NOW)
    cap = audit.append_now(db, actor="mina", action="alert.contact_cap", outcome="denied", targets=["h-001"])
    assert [a["id"] for a in alerts.listing(db)] == [cap, seq]
    done = alerts.acknowledge(db, ADMIN, BOSS, str(seq), "  전화로 확인함  ")
    assert done["acknowledged"]["by"] == "boss" and done["acknowledged"]["note"] == "전화로 확인함"
    assert [a["id"] for a in alerts.listing(db)] == [cap]
    everything = alerts.listing(db, everything=True)
    assert [(a["id"], a["acknowledged"] is not None) for a in everything] == [(cap, False), (seq, True)]
    [ack] = audit.query(db, action=alerts.ACK)
    assert ack["actor"] == "boss" and ack["targets"] == [str(seq)] and ack["reason"] == "전화로 확인함"
    assert ack["detail"] == f"alert.denials of event {seq}"
    # a second acknowledgement is a conflict and writes nothing
    with pytest.raises(Refused) as second:
        alerts.acknowledge(db, ADMIN, BOSS, seq)
    assert second.value.kind == "conflict" and second.value.code == "already_acknowledged"
    assert len(audit.query(db, action=alerts.ACK)) == 1
    assert audit.verify(db).ok


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "99999", "١٢", "1" * 30, None])
def test_acknowledging_what_is_no_alert_is_not_found(db, bad):
    seq = audit.append_now(db, actor="mina", action="household.read", targets=["h-001"])
    for target in (bad, seq):  # an event that is not an alert is not one either
        with pytest.raises(Refused) as refused:
            alerts.acknowledge(db, ADMIN, BOSS, target)
        assert refused.value.kind == "not_found"
    assert audit.query(db, action=alerts.ACK) == []


def test_an_acknowledgement_note_is_bounded_and_only_admins_acknowledge(db):
    seq = audit.append_now(db, actor="mina", action="alert.contact_cap", outcome="denied")
    with pytest.raises(Refused) as long_note:
        alerts.acknowledge(db, ADMIN, BOSS, seq, "가" * 301)
    assert long_note.value.kind == "invalid" and long_note.value.field == "note"
    for role in ("coordinator", "visitor"):
        with pytest.raises(Refused) as refused:
            alerts.acknowledge(db, Subject("c", role, ("서울 노원구",)), BOSS, seq)
        assert refused.value.kind == "forbidden"
    assert alerts.acknowledge(db, ADMIN, BOSS, seq, "가" * 300)["acknowledged"] is not None


def test_duress_and_other_alert_events_are_listed_too(db):
    seq = audit.append_now(db, actor="mina", action="alert.duress")
    [view] = alerts.listing(db)
    assert view["id"] == seq and view["rule"] == "duress" and view["account"] == "mina"


def test_settings_are_checked():
    assert alerts.Rules.from_env({}) == alerts.Rules()
    for name, value in (
        ("GRAPHSVC_ALERT_READ_MULTIPLE", "0.5"),
        ("GRAPHSVC_ALERT_READ_MULTIPLE", "many"),
        ("GRAPHSVC_ALERT_READ_FLOOR", "0"),
        ("GRAPHSVC_ALERT_DENIALS", "1"),
        ("GRAPHSVC_ALERT_DENIAL_MINUTES", "-3"),
        ("GRAPHSVC_ALERT_CHECK_SECONDS", "soon"),
        ("GRAPHSVC_WORK_HOURS", "22-07"),
        ("GRAPHSVC_WORK_HOURS", "08-25"),
    ):
        with pytest.raises(ValueError, match=name):
            alerts.Rules.from_env({name: value})
    rules = alerts.Rules.from_env({"GRAPHSVC_ALERT_CHECK_SECONDS": "0", "GRAPHSVC_ALERT_READ_MULTIPLE": "2.5"})
    assert (rules.check_seconds, rules.read_multiple) == (0, 2.5)


# --- the command line -----------------------------------------------------------------------------


def test_cli_lists_open_alerts_for_a_script(db, cli_env):
    import json

    from click.testing import CliRunner

    from graphsvc.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, ["audit", "alerts", *args], catch_exceptions=False)

    empty = run()
    assert empty.exit_code == 0 and empty.output == ""
    for _ in range(12):  # 12 denials now: over the default 10 in 10 minutes
        audit.append_now(db, actor="jiho", action="household.read", outcome="denied", targets=["h-001"])
    assert run().output == ""  # not evaluated without --check
    checked = run("--check")
    assert checked.exit_code == 0
    [line] = checked.output.splitlines()
    seq, at_, rule, account, address, detail = line.split("\t")
    assert (rule, account, address) == ("denials", "jiho", "-") and "10 denied requests within 10 minutes" in detail
    assert run("--check").output == checked.output  # once a day
    listed = json.loads(run("--json").output)
    assert [(a["id"], a["rule"], a["account"], a["acknowledged"]) for a in listed] == [
        (int(seq), "denials", "jiho", None)
    ]
    alerts.acknowledge(db, ADMIN, BOSS, seq, "확인")
    assert run().output == ""
    [done] = run("--all").output.splitlines()
    assert done.split("\t")[0] == seq and done.split("\t")[6] == "boss"
    reads = audit.query(db, action="alerts.read")
    assert len(reads) == 7 and reads[0]["actor"].startswith("cli:") and reads[0]["targets"] == ["jiho"]
