"""Retention (graphsvc/retention.py): visit notes shredded after GRAPHSVC_RETAIN_NOTES_DAYS,
audit details removed after GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS while the chain verifies."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest

from graphsvc import audit, retention
from graphsvc.cli import main as cli
from graphsvc.config import load_settings
from graphsvc.db import parse_cypher

from .helpers import api, app_db, events, sign_in

ROOT = Path(__file__).resolve().parent.parent

# The small network's visits with notes: v-001 on 2025-02-03, v-003 on 2025-04-01.
# With "now" 2026-03-01 and 365 days, notes dated before 2025-03-01 go: v-001, not v-003.
NOW = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
V1_NOTES = "아이들이 학교에 잘 적응하고 있음"
V3_NOTES = "처음 방문, 차를 대접받음"


def cypher(db, text: str, **params):
    """Raw Cypher (tests only: fixtures and tampering by hand)."""
    records, _, _ = db.driver.execute_query(text, params, database_=db.database)
    return [r.data() for r in records]


def props(db, seq: int) -> dict:
    return cypher(db, "MATCH (e:AuditEvent {seq: $seq}) RETURN properties(e) AS p", seq=seq)[0]["p"]


def visit(db, visit_id: str) -> dict:
    return cypher(db, "MATCH (v:Visit {id: $id}) RETURN properties(v) AS p", id=visit_id)[0]["p"]


def with_days(settings, notes: int, details: int = 0):
    return replace(settings, retain_notes_days=notes, retain_audit_detail_days=details)


# --- visit notes ---------------------------------------------------------------------------


def test_notes_older_than_the_limit_are_shredded_and_younger_kept(settings, world):
    db = world
    report = retention.run(db, with_days(settings, 365), now=NOW)
    assert (report.notes_shredded, report.audit_events) == (1, 0)
    old, young = visit(db, "v-001"), visit(db, "v-003")
    assert "notes" not in old  # the ciphertext itself is gone
    assert old["notes_retained_days"] == 365 and old["notes_shredded_at"] is not None
    assert young["notes"] and "notes_shredded_at" not in young
    # the visit itself stays
    assert old["outcome"] == "met" and str(old["on"]) == "2025-02-03"
    # one event for the run, the visit's id as its target
    [event] = events(db, action="retention.notes")
    assert event["seq"] == report.notes_event and event["actor"] == "system"
    assert event["targets"] == ["v-001"]
    assert event["detail"].startswith("1 visit notes dated before 2025-03-01 (older than 365 days)")
    # a second run finds nothing more to do and writes no event
    again = retention.run(db, with_days(settings, 365), now=NOW)
    assert again.notes_shredded == 0 and again.notes_event is None
    assert len(events(db, action="retention.notes")) == 1
    assert audit.verify(db).ok


def test_zero_days_keeps_notes_for_ever(settings, world):
    db = world
    report = retention.run(db, with_days(settings, 0), now=NOW + dt.timedelta(days=36500))
    assert report.notes_shredded == 0 and report.notes_event is None
    assert visit(db, "v-001")["notes"] and visit(db, "v-003")["notes"]
    assert events(db, action="retention.notes") == []
    assert "kept for ever" in report.lines()[0]


def test_notes_are_shredded_in_batches(settings, world):
    db = world
    # forty more visits with notes, long ago
    cypher(
        db,
        """MATCH (h:Household {id: 'h-001'})
           UNWIND range(1, 40) AS i
           CREATE (:Visit {id: 'old-' + toString(i), on: date('2024-01-01') + duration({days: i}),
                           outcome: 'met', notes: 'x'})-[:AT]->(h)""",
    )
    seen = []
    real = db.write_tx

    def counting(work, *args, **kw):
        result = real(work, *args, **kw)
        if isinstance(result, list):
            seen.append(len(result))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "write_tx", counting)  # count the transactions of the run
        shredded, seq = retention.shred_notes(db, 365, today=NOW.date(), batch=7)
    assert shredded == 41 and seen == [7, 7, 7, 7, 7, 6]  # six transactions of at most 7
    [event] = events(db, action="retention.notes")
    assert event["seq"] == seq and len(event["targets"]) == 41
    assert cypher(db, "MATCH (v:Visit) WHERE v.notes IS NOT NULL RETURN collect(v.id) AS ids")[0]["ids"] == ["v-003"]


def test_a_run_with_more_visits_than_targets_lists_none(settings, world, monkeypatch):
    db = world
    monkeypatch.setattr(retention, "MAX_TARGETS", 1)
    cypher(
        db,
        """MATCH (h:Household {id: 'h-001'})
           CREATE (:Visit {id: 'old-1', on: date('2024-01-01'), outcome: 'met', notes: 'x'})-[:AT]->(h)""",
    )
    shredded, _ = retention.shred_notes(db, 365, today=NOW.date())
    [event] = events(db, action="retention.notes")
    assert shredded == 2 and event["targets"] == []
    assert event["detail"].startswith("2 visit notes") and "notes_shredded_at" in event["detail"]


@pytest.mark.parametrize("lang,text", [("en", "Notes removed after 365 days"), ("ko", "보존 기간 365일이 지나 메모를")])
def test_pages_say_the_notes_were_removed(settings, app, lang, text):
    db = app_db(app)
    retention.run(db, with_days(settings, 365), now=NOW)
    client = app.test_client()
    sign_in(client, "coord")
    page = client.get(f"/households/h-001?lang={lang}").get_data(as_text=True)
    assert text in page and V1_NOTES not in page
    page = client.get(f"/households/h-002?lang={lang}").get_data(as_text=True)
    assert V3_NOTES in page and text not in page


def test_the_api_says_the_notes_were_removed(settings, app):
    db = app_db(app)
    retention.run(db, with_days(settings, 365), now=NOW)
    coord = api(app, "coord")
    visits = coord("/api/v1/households/h-001").json["visits"]
    assert [(v["notes"], v["notes_removed_after_days"]) for v in visits] == [(None, 365)]
    visits = coord("/api/v1/households/h-002").json["visits"]
    assert all("notes_removed_after_days" not in v for v in visits)
    # a visitor, who never sees notes, sees no mark either
    assert "notes_removed_after_days" not in str(api(app, "minji")("/api/v1/households/h-001").json)


# --- audit details -------------------------------------------------------------------------


def old_and_new(db, old: int = 30, new: int = 10) -> None:
    """``old`` events of two years ago (sealed like an append, inserted with the benchmark's
    statement), then ``new`` appended now; all of format 2, with address, program and detail."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=730)
    chained = list(
        audit.chain_events(
            dict(
                at=start + dt.timedelta(minutes=i),
                actor=f"user{i % 3}",
                role="visitor",
                action="household.read",
                targets=[f"h-{i:03d}"],
                outcome="ok",
                ip="127.0.0.1",
                user_agent="pytest",
                detail=f"{i} rows",
            )
            for i in range(1, old + 1)
        )
    )
    if chained:
        db.write("bench_audit_insert", rows=chained)
        db.write("bench_audit_set_head", seq=chained[-1]["seq"], hash=chained[-1]["hash"])
    for i in range(new):
        audit.append_now(
            db,
            actor="서연",
            role="coordinator",
            action="household.read",
            targets=["h-001"],
            ip="127.0.0.1",
            user_agent="pytest",
            detail=f"new {i}",
        )
    assert audit.verify(db).ok


def test_audit_details_older_than_the_limit_are_removed_and_verify_stays_intact(settings, db):
    old_and_new(db)
    removed, seq = retention.remove_audit_details(db, 365, batch=7)
    assert removed == 30
    for n in range(1, 31):
        event = props(db, n)
        assert not {"ip", "user_agent", "detail", "salt"} & set(event), n
        assert {"ip_digest", "user_agent_digest", "detail_digest"} <= set(event)
        assert event["actor"] and event["targets"]  # who, what, when stay
    for n in range(31, 41):
        assert props(db, n)["ip"] == "127.0.0.1" and "salt" in props(db, n)
    [event] = events(db, action="retention.audit_details")
    assert event["seq"] == seq == 41 and event["targets"] == []
    assert (
        event["detail"] == "address, program and detail of 30 audit events older than 365 days removed (events 1 to 30)"
    )
    result = audit.verify(db)
    assert result.ok, result.problem
    # the next run starts where this one stopped, and finds nothing
    assert retention.remove_audit_details(db, 365) == (0, None)


def test_audit_details_kept_for_ever_with_zero_days(settings, db):
    old_and_new(db, 5, 1)
    assert retention.remove_audit_details(db, 0) == (0, None)
    assert props(db, 1)["ip"] == "127.0.0.1"


def test_format_1_events_keep_their_details(settings, db):
    """Events written before format 2 hash their details directly: retention leaves them."""
    old_and_new(db, 3, 0)
    legacy = props(db, 3)
    for name in ("format", "salt", "ip_digest", "user_agent_digest", "detail_digest"):
        legacy.pop(name)
    legacy["hash"] = audit.event_hash(legacy["prev"], legacy)
    cypher(db, "MATCH (e:AuditEvent {seq: 3}) SET e = $p", p=legacy)
    cypher(db, "MATCH (h:AuditHead) SET h.hash = $h", h=legacy["hash"])
    assert audit.verify(db).ok  # a format-1 event verifies as before
    assert retention.remove_audit_details(db, 365)[0] == 2
    assert props(db, 3)["ip"] == "127.0.0.1" and props(db, 3)["detail"] == "3 rows"
    assert audit.verify(db).ok


TAMPER_AFTER_RETENTION = {
    "edit a detail by hand": (
        "MATCH (e:AuditEvent {seq: 35}) SET e.detail = '0 rows'",
        35,
        "event 35 was edited (its detail does not match its digest)",
    ),
    "edit an address by hand": (
        "MATCH (e:AuditEvent {seq: 33}) SET e.ip = '10.9.9.9'",
        33,
        "event 33 was edited (its ip does not match its digest)",
    ),
    "remove one value, keep the others": (
        "MATCH (e:AuditEvent {seq: 32}) REMOVE e.user_agent",
        32,
        "event 32 was edited (its user_agent was removed without the rest of its details)",
    ),
    "remove a value and its digest": (
        "MATCH (e:AuditEvent {seq: 36}) REMOVE e.detail, e.detail_digest",
        36,
        "event 36 was edited (its hash does not match its content)",
    ),
    "remove an old event's digest": (
        "MATCH (e:AuditEvent {seq: 4}) REMOVE e.ip_digest",
        4,
        "event 4 was edited (its hash does not match its content)",
    ),
    "put a value back on a removed event": (
        "MATCH (e:AuditEvent {seq: 5}) SET e.ip = '10.0.0.1'",
        5,
        "event 5 was edited (it has details but not their salt)",
    ),
    "remove the format mark": (
        "MATCH (e:AuditEvent {seq: 37}) REMOVE e.format",
        37,
        "event 37 was edited (its hash does not match its content)",
    ),
    "swap two values": (
        "MATCH (e:AuditEvent {seq: 34}) SET e.ip = e.user_agent, e.user_agent = e.ip",
        34,
        "event 34 was edited (its ip does not match its digest)",
    ),
}


@pytest.mark.parametrize("kind", TAMPER_AFTER_RETENTION)
def test_verify_still_names_tampering_after_retention(settings, db, kind):
    statement, seq, problem = TAMPER_AFTER_RETENTION[kind]
    old_and_new(db)
    retention.remove_audit_details(db, 365)
    assert audit.verify(db).ok
    cypher(db, statement)
    result = audit.verify(db)
    assert (result.ok, result.first_bad_seq) == (False, seq)
    assert result.problem == problem


def test_only_the_retention_statement_changes_events_and_only_the_removable_fields():
    path = ROOT / "graphsvc" / "cypher" / "retention.cypher"
    statements = parse_cypher(path.read_text(encoding="utf-8"), path.name)
    touching = [name for name, text in statements.items() if "AuditEvent" in re.sub(r"//[^\n]*", "", text)]
    assert touching == ["retention_audit_first_young", "audit_retain_details"]
    assert not re.search(r"\b(SET|REMOVE|DELETE|CREATE|MERGE)\b", re.sub(r"//[^\n]*", "", statements[touching[0]]))
    text = re.sub(r"//[^\n]*", "", statements["audit_retain_details"])
    assert re.findall(r"\bREMOVE\b([^\n]*)", text) == [" e.ip, e.user_agent, e.detail, e.salt"]
    assert not re.search(r"\b(SET|DELETE|CREATE|MERGE)\b", text)
    assert "e.salt IS NOT NULL" in text  # format-1 events are never touched


# --- the command and the start of the web app ---------------------------------------------


def test_cli_retention_run_prints_what_it_did(settings, world, cli_env, monkeypatch):
    from click.testing import CliRunner

    db = world
    monkeypatch.setenv("GRAPHSVC_RETAIN_NOTES_DAYS", "300")
    monkeypatch.setenv("GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS", "0")
    result = CliRunner().invoke(cli, ["retention", "run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(r"visit notes: 2 older than 300 days shredded \(audit event \d+\)", lines[0]), lines
    assert lines[1] == "audit details: kept for ever (GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS=0)"
    [event] = events(db, action="retention.notes")
    assert event["actor"].startswith("cli:") and sorted(event["targets"]) == ["v-001", "v-003"]
    again = CliRunner().invoke(cli, ["retention", "run"])
    assert again.output.splitlines()[0] == "visit notes: 0 older than 300 days shredded"


def test_cli_refuses_a_bad_setting(cli_env, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("GRAPHSVC_RETAIN_NOTES_DAYS", "two years")
    result = CliRunner().invoke(cli, ["retention", "run"])
    assert result.exit_code != 0
    assert "GRAPHSVC_RETAIN_NOTES_DAYS must be a whole number" in result.output + str(result.exception)


def test_settings_defaults():
    s = load_settings({})
    assert (s.retain_notes_days, s.retain_audit_detail_days, s.retention_at_start) == (730, 365, True)
    s = load_settings({"GRAPHSVC_RETAIN_NOTES_DAYS": "0", "GRAPHSVC_RETENTION_AT_START": "0"})
    assert (s.retain_notes_days, s.retention_at_start) == (0, False)


def test_the_web_app_runs_retention_once_at_start_in_the_background(settings, world):
    from web import create_app

    db = world
    app = create_app(with_days(settings, 300), TESTING=True, GRAPHSVC_RETENTION_AT_START=True)
    thread = app.extensions["graphsvc_retention"]
    assert thread.daemon
    thread.join(60)
    assert not thread.is_alive()
    assert "notes" not in visit(db, "v-001") and "notes" not in visit(db, "v-003")
    [event] = events(db, action="retention.notes")
    assert event["actor"] == "system"
    # the tests' apps (GRAPHSVC_RETENTION_AT_START=0 in conftest) start none
    assert "graphsvc_retention" not in create_app(settings, TESTING=True).extensions
