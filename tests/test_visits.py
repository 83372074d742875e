"""Claims and visit reports: atomic claims, expiry and release, validated reports that
change nothing when refused, the women-only rule, and the audit of each."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from graphsvc import access, accounts, audit, visits
from graphsvc.errors import Refused
from graphsvc.model import Actor

from .helpers import ACTOR, import_folder, keyring, rewrite

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def visitor(name: str, gender: str | None = "f", districts=("서울 노원구",)) -> access.Subject:
    return access.Subject(name, "visitor", tuple(districts), gender)


def who(subject: access.Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


def suggested(db, subject: access.Subject, *household_ids: str) -> None:
    """What /suggestions records when it shows households to a visitor."""
    audit.append_now(db, actor=subject.username, role="visitor", action="suggestions.read", targets=list(household_ids))


@pytest.fixture()
def field(db, small):
    """The small network; h-003 is 노원's women-only household for these tests (moved there)."""

    def edit(rows):
        rows[0].append("women_only")
        for r in rows[1:]:
            if r[0] == "h-003":
                r[2] = "서울 노원구"
            r.append("true" if r[0] == "h-003" else "")

    rewrite(small, "households", edit)
    assert import_folder(db, small).ok
    for name, gender in (("mina", "f"), ("jiho", "m"), ("sora", "f")):
        accounts.add_user(db, ACTOR, name, "visitor", ["서울 노원구"], "correct horse battery", gender)
    return db


def test_claim_needs_a_suggestion_and_is_exclusive(field):
    mina, sora = visitor("mina"), visitor("sora")
    with pytest.raises(Refused) as e:
        visits.claim(field, mina, who(mina), "h-002", now=NOW)  # never suggested to her
    assert e.value.kind == "not_found"
    suggested(field, mina, "h-002")
    suggested(field, sora, "h-002")
    first = visits.claim(field, mina, who(mina), "h-002", now=NOW)
    assert first.expires_at == NOW + dt.timedelta(days=visits.CLAIM_DAYS) and not first.renewed
    with pytest.raises(Refused) as e:
        visits.claim(field, sora, who(sora), "h-002", now=NOW)
    assert e.value.kind == "conflict"
    assert visits.claim(field, mina, who(mina), "h-002", now=NOW + dt.timedelta(days=1)).renewed
    # it expires: after 14 days without a report, sora may have it
    later = NOW + dt.timedelta(days=visits.CLAIM_DAYS + 2)
    assert visits.claim(field, sora, who(sora), "h-002", now=later).claim_id != first.claim_id
    denied = audit.query(field, action="household.claim", outcome="denied")
    assert [e["actor"] for e in denied] == ["sora"]


def test_twenty_simultaneous_claims_exactly_one_wins(field):
    subjects = []
    for i in range(20):
        name = f"v{i:02d}"
        accounts.add_user(field, ACTOR, name, "visitor", ["서울 노원구"], "correct horse battery", "f")
        subjects.append(visitor(name))
        suggested(field, subjects[-1], "h-002")
    barrier = threading.Barrier(20)
    outcomes: list[object] = [None] * 20

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = visits.claim(field, subjects[i], who(subjects[i]), "h-002", now=NOW)
        except Refused as exc:
            outcomes[i] = {"not_found": 404, "conflict": 409}.get(exc.kind, 400)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, visits.ClaimResult)]
    assert len(winners) == 1 and sorted(o for o in outcomes if isinstance(o, int)) == [409] * 19
    live = field.read("test_live_claims", household_id="h-002", now=NOW)
    assert len(live) == 1


def test_release_and_what_cannot_be_claimed(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002", "h-005")
    visits.claim(field, mina, who(mina), "h-002", now=NOW)
    visits.release(field, mina, who(mina), "h-002", now=NOW)
    with pytest.raises(Refused) as e:
        visits.release(field, mina, who(mina), "h-002", now=NOW)
    assert e.value.kind == "not_found"
    with pytest.raises(Refused) as e:  # do_not_visit: never suggested, not claimable
        visits.claim(field, mina, who(mina), "h-005", now=NOW)
    assert e.value.kind == "not_found"


def test_women_only_households_are_not_for_men(field):
    jiho, mina = visitor("jiho", "m"), visitor("mina", "f")
    suggested(field, jiho, "h-003")
    suggested(field, mina, "h-003")
    with pytest.raises(Refused) as e:
        visits.claim(field, jiho, who(jiho), "h-003", now=NOW)
    assert e.value.kind == "not_found"
    unknown = visitor("sora", None)
    suggested(field, unknown, "h-003")
    with pytest.raises(Refused):
        visits.claim(field, unknown, who(unknown), "h-003", now=NOW)
    assert visits.claim(field, mina, who(mina), "h-003", now=NOW)


REPORT = {
    "household_id": "h-002",
    "visited_on": "2026-11-19",
    "outcome": "met",
    "materials": {"bible": 1, "hymnal": 2},
    "notes": "아이들과 이야기함",
    "follow_up_on": "2026-12-20",
}


def test_report_records_the_visit_ends_the_claim_and_encrypts_notes(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002")
    claim = visits.claim(field, mina, who(mina), "h-002", now=NOW)
    visit_id = visits.report(field, keyring(), mina, who(mina), REPORT, now=NOW)
    stored = field.read("test_visit", id=visit_id)[0]
    assert stored["outcome"] == "met" and stored["materials"] == "bible:1;hymnal:2"
    assert (
        stored["notes"].startswith("enc:")
        and keyring().decrypt(stored["notes"], "Visit", visit_id, "notes") == REPORT["notes"]
    )
    assert stored["visitor"] == "mina" and stored["follow_up_on"].iso_format() == "2026-12-20"
    assert not field.read("test_live_claims", household_id="h-002", now=NOW)
    event = audit.query(field, action="visit.report", limit=1)[0]
    assert set(event["targets"]) == {"h-002", visit_id, claim.claim_id}
    assert REPORT["notes"] not in str(event)
    history = visits.history(field, "mina")
    assert [v["id"] for v in history["visits"]] == [visit_id]
    assert history["claims"][0]["ended_by"] == "visit"


def test_a_moved_report_sets_the_household_status(field):
    mina = visitor("mina")
    suggested(field, mina, "h-002")
    visits.report(field, keyring(), mina, who(mina), dict(REPORT, outcome="moved", follow_up_on=None), now=NOW)
    assert field.read("test_household_status", id="h-002")[0]["status"] == "moved"


@pytest.mark.parametrize(
    "change,field_name",
    [
        ({"visited_on": "2026-11-21"}, "visited_on"),  # in the future
        ({"visited_on": "2026-02-30"}, "visited_on"),
        ({"visited_on": None}, "visited_on"),
        ({"outcome": "partied"}, "outcome"),
        ({"materials": "bible:0"}, "materials"),
        ({"materials": {"bible": "two"}}, "materials"),
        ({"follow_up_on": "2026-11-01"}, "follow_up_on"),  # before the visit
        ({"notes": "x" * 4001}, "notes"),
        ({"household_id": ""}, "household_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_reports_name_the_field_and_change_nothing(field, change, field_name):
    from .helpers import snapshot

    mina = visitor("mina")
    suggested(field, mina, "h-002")
    before = snapshot(field)
    with pytest.raises(Refused) as e:
        visits.report(field, keyring(), mina, who(mina), {**REPORT, **change}, now=NOW)
    assert e.value.kind == "invalid" and e.value.field == field_name
    assert snapshot(field) == before


def test_reports_on_households_the_visitor_may_not_see_change_nothing(field):
    from .helpers import snapshot

    mina, sora = visitor("mina"), visitor("sora")
    before = snapshot(field)
    for household, status in (("h-002", 404), ("h-404", 404), ("h-004", 404)):  # not suggested; unknown; elsewhere
        with pytest.raises(Refused) as e:
            visits.report(field, keyring(), mina, who(mina), dict(REPORT, household_id=household), now=NOW)
        assert {"not_found": 404, "conflict": 409, "invalid": 400}[e.value.kind] == status
    assert snapshot(field) == before
    suggested(field, mina, "h-002")
    suggested(field, sora, "h-002")
    visits.claim(field, sora, who(sora), "h-002", now=NOW)
    with pytest.raises(Refused) as e:  # another visitor's claim
        visits.report(field, keyring(), mina, who(mina), REPORT, now=NOW)
    assert e.value.kind == "conflict"
