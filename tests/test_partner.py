"""Partners (issue 16, §1): the partner role, organisations, partner accounts, and sharing
households with an organisation (the reach of a partner: shared with its organisation, or
brought in by its own visit reports; never by district)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from graphsvc import access, accounts, dispatch, households, orgs, sharing, visits
from graphsvc.access import Action, HouseholdFacts, Subject, decide
from graphsvc.cli import main
from graphsvc.errors import Refused
from graphsvc.model import Actor

from .helpers import ACTOR, PASSWORD, add_partner, events, keyring

ORG, OTHER = "새희망선교회", "빛된교회"
NOWON, YANGCHEON = "서울 노원구", "서울 양천구"
HANA = Subject("hana", "partner", (), "f", org=ORG)
COORD = Subject("coord", "coordinator", (NOWON,))
YEON = Subject("yeon", "coordinator", (YANGCHEON,))
MINJI = Subject("minji", "visitor", (NOWON,), "f")
ADMIN = Subject("admin", "admin")


def who(subject: Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


# --- the role ------------------------------------------------------------------------------


def test_the_partner_role_is_a_visitor_of_its_organisation():
    role = access.REGISTRY["partner"]
    assert role.actions == access.VISITOR.actions | {Action.EXPENSE_SUBMIT, Action.EXPENSE_READ}  # + expenses (§3)
    assert Action.NETWORK_READ not in role.actions and Action.HOUSEHOLD_IDENTITY_READ not in role.actions
    assert Action.HOUSEHOLD_SHARE not in role.actions
    assert role.field_work and role.needs_totp and role.org_scoped and not role.needs_districts
    assert role.household_fields == access.VISITOR_HOUSEHOLD_FIELDS
    assert {"파트너", "협력자"} <= set(role.aliases)
    assert access.scope_districts(HANA) == ()


def test_a_partner_reaches_shared_households_never_by_district():
    shared = HouseholdFacts("h-1", NOWON, shared_with_subject=True)
    # a district, a claim, a visit or a suggestion without the share: nothing
    linked = HouseholdFacts("h-2", NOWON, claimed_by_subject=True, visited_by_subject=True, suggested_to_subject=True)
    in_district = Subject("hana", "partner", (NOWON,), "f", org=ORG)  # districts never count
    for action in (Action.HOUSEHOLD_READ, Action.HOUSEHOLD_CLAIM, Action.VISIT_REPORT):
        assert decide(HANA, action, shared).allowed, action
        assert not decide(HANA, action, linked).allowed, action
        assert not decide(in_district, action, HouseholdFacts("h-3", NOWON)).allowed, action
    assert decide(HANA, Action.HOUSEHOLD_READ, shared).fields == access.VISITOR_HOUSEHOLD_FIELDS
    # the contact only while holding a claim
    assert not decide(HANA, Action.HOUSEHOLD_CONTACT_READ, shared).allowed
    held = HouseholdFacts("h-1", NOWON, shared_with_subject=True, claimed_by_subject=True)
    assert decide(HANA, Action.HOUSEHOLD_CONTACT_READ, held).allowed
    # women-only: unchanged
    women = HouseholdFacts("h-1", NOWON, women_only=True, shared_with_subject=True)
    assert decide(HANA, Action.HOUSEHOLD_READ, women).allowed
    assert not decide(Subject("jun", "partner", (), "m", org=ORG), Action.HOUSEHOLD_READ, women).allowed
    # never the map, never identity, never another's notes
    assert not decide(HANA, Action.NETWORK_READ, access.DistrictScope()).allowed
    assert not decide(HANA, Action.HOUSEHOLD_IDENTITY_READ, held).allowed
    assert not decide(HANA, Action.VISIT_NOTES_READ, access.VisitFacts("v-1", NOWON, "minji")).allowed
    assert decide(HANA, Action.VISIT_NOTES_READ, access.VisitFacts("v-1", NOWON, "hana")).allowed
    # a visitor's rules do not change with the new fact
    assert not decide(MINJI, Action.HOUSEHOLD_READ, HouseholdFacts("h-1", YANGCHEON, shared_with_subject=True)).allowed


def test_a_partner_is_never_told_of_people_by_district():
    # even an account that somehow holds districts: its reach is the sharing, never a district
    with_district = Subject("hana", "partner", (NOWON,), "f", org=ORG)
    assert not access.names_person(with_district, NOWON)
    assert not access.names_person(HANA, NOWON)
    assert access.names_person(HANA, NOWON, met=True)  # the people of the household she visits
    assert not access.names_person(Subject("jun", "partner", (), "m", org=ORG), NOWON, women_only=True, met=True)


def test_sharing_is_for_coordinators_of_the_district_and_admins():
    facts = HouseholdFacts("h-1", NOWON)
    assert decide(COORD, Action.HOUSEHOLD_SHARE, facts).allowed
    assert decide(ADMIN, Action.HOUSEHOLD_SHARE, facts).allowed
    assert not decide(YEON, Action.HOUSEHOLD_SHARE, facts).allowed
    assert not decide(MINJI, Action.HOUSEHOLD_SHARE, facts).allowed
    assert not decide(HANA, Action.HOUSEHOLD_SHARE, HouseholdFacts("h-1", NOWON, shared_with_subject=True)).allowed


# --- organisations and accounts --------------------------------------------------------


def test_orgs_and_partner_accounts(db):
    assert orgs.add_org(db, ACTOR, "  새희망   선교회 ") == "새희망 선교회"
    with pytest.raises(Refused) as e:
        orgs.add_org(db, ACTOR, "새희망 선교회")
    assert (e.value.kind, e.value.code, e.value.field) == ("conflict", "org_exists", "org")
    for bad in ("", "   ", "x" * 81, "줄\n바꿈"):
        with pytest.raises(Refused) as e:
            orgs.add_org(db, ACTOR, bad)
        assert (e.value.kind, e.value.field) == ("invalid", "org")
    with pytest.raises(accounts.AccountError) as a:
        accounts.add_user(db, ACTOR, "hana", "partner", [], PASSWORD)
    assert a.value.code == "org_needed"
    with pytest.raises(accounts.AccountError) as a:
        accounts.add_user(db, ACTOR, "hana", "partner", [], PASSWORD, org="없는선교회")
    assert a.value.code == "no_org"
    with pytest.raises(accounts.AccountError) as a:
        accounts.add_user(db, ACTOR, "minji", "visitor", [NOWON], PASSWORD, org="새희망 선교회")
    assert a.value.code == "org_not_for_role"
    assert accounts.get_user(db, "hana") is None and accounts.get_user(db, "minji") is None
    accounts.add_user(db, ACTOR, "hana", "partner", [], PASSWORD, "f", org="새희망 선교회")
    assert orgs.org_of(db, "hana") == "새희망 선교회"
    assert orgs.partners_of(db, "새희망 선교회") == ["hana"]
    assert orgs.list_orgs(db)[0]["partners"] == ["hana"]
    assert [e["detail"] for e in events(db, action="user.create")] == ["role partner; org 새희망 선교회"]
    assert events(db, action="org.create")[0]["targets"] == ["새희망 선교회"]


def test_sessions_and_tokens_carry_the_org(app, world):
    partner = add_partner(world, app=app)
    assert partner.api("/api/v1/me").status_code == 200
    token = accounts.create_token(world, ACTOR, "hana", 1)
    assert accounts.token_subject(world, token).org == ORG
    signed = accounts.authenticate(world, "hana", PASSWORD, "127.0.0.1", "test")
    assert signed.ok and signed.subject.org == ORG and signed.totp_enabled
    sid = accounts.create_session(world, signed.subject, "127.0.0.1", "test", True)
    assert accounts.session_user(world, sid).subject.org == ORG


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_cli_orgs_and_users_add_org(db, cli_env):
    assert run("orgs", "add", ORG).exit_code == 0
    again = run("orgs", "add", ORG)
    assert again.exit_code == 1 and "exists" in again.output
    no_org = run("users", "add", "hana", "--role", "partner", "--password-stdin", stdin=PASSWORD + "\n")
    assert no_org.exit_code == 1 and "--org" in no_org.output
    unknown = run(
        "users", "add", "hana", "--role", "partner", "--org", "없는곳", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert unknown.exit_code == 1 and "no organisation" in unknown.output
    visitor = run(
        "users", "add", "mina", "--role", "visitor", "--district", NOWON, "--org", ORG, "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert visitor.exit_code == 1 and "partners" in visitor.output
    made = run("users", "add", "hana", "--role", "partner", "--org", ORG, "--password-stdin", stdin=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert f"org {ORG}" in run("users", "list").output
    listed = run("orgs", "list").output
    assert ORG in listed and "hana" in listed


# --- sharing ----------------------------------------------------------------------------------


@pytest.fixture()
def shared(world):
    """The small network with hana, a partner of 새희망선교회, and the org 빛된교회."""
    add_partner(world)
    orgs.add_org(world, ACTOR, OTHER)
    return world


def partner_facts(db, household_id: str, subject: Subject = HANA):
    return households.facts(db, subject, household_id)


def test_share_and_unshare(shared):
    db = shared
    assert not partner_facts(db, "h-002").shared_with_subject
    out = sharing.share(db, COORD, who(COORD), "h-002", ORG)
    assert out == {"household_id": "h-002", "org": ORG, "created": True}
    assert partner_facts(db, "h-002").shared_with_subject
    assert not partner_facts(db, "h-001").shared_with_subject
    assert not partner_facts(db, "h-002", Subject("bora", "partner", (), "f", org=OTHER)).shared_with_subject
    # idempotent
    assert not sharing.share(db, COORD, who(COORD), "h-002", ORG)["created"]
    assert [s["org"] for s in sharing.shares_of(db, "h-002")] == [ORG]
    # the partner claims it; stopping the share ends the claim
    claim = visits.claim(db, HANA, who(HANA), "h-002")
    gone = sharing.unshare(db, ADMIN, who(ADMIN), "h-002", ORG)
    assert gone == {"household_id": "h-002", "org": ORG, "removed": True, "ended_claims": 1}
    assert visits.live_claims(db, "hana") == {}
    assert not partner_facts(db, "h-002").shared_with_subject
    with pytest.raises(Refused) as e:
        households.read(db, keyring(), HANA, "h-002")
    assert e.value.kind == "not_found"
    assert sharing.unshare(db, COORD, who(COORD), "h-002", ORG)["removed"] is False
    shares = events(db, action="household.share")
    assert sorted(e["detail"] for e in shares) == [f"org {ORG}", f"org {ORG}; already shared"]
    unshares = events(db, action="household.unshare")
    assert [e["targets"] for e in unshares] == [["h-002"], ["h-002", claim.claim_id]]  # newest first


@pytest.mark.parametrize(
    ("subject", "household", "org", "kind", "field"),
    [
        (YEON, "h-002", ORG, "not_found", "household_id"),  # a coordinator of another district
        (MINJI, "h-002", ORG, "not_found", "household_id"),  # a visitor
        (HANA, "h-002", ORG, "not_found", "household_id"),  # a partner
        (COORD, "h-404", ORG, "not_found", "household_id"),
        (COORD, "h-002", "없는선교회", "invalid", "org"),
        (COORD, "h-002", "", "invalid", "org"),
        (COORD, "h-002", None, "invalid", "org"),
    ],
)
def test_share_refusals_change_nothing(shared, subject, household, org, kind, field):
    for call in (sharing.share, sharing.unshare):
        with pytest.raises(Refused) as e:
            call(shared, subject, who(subject), household, org)
        # an organisation named by the path of a stop (unshare) that is not there: not found
        expected = "not_found" if call is sharing.unshare and field == "org" else kind
        assert (e.value.kind, e.value.field) == (expected, field)
    assert sharing.shares_of(shared, "h-002") == []
    assert events(shared, action="household.share") == events(shared, action="household.unshare") == []


def test_a_partner_s_follow_ups_are_of_shared_households(shared):
    db = shared
    sharing.share(db, COORD, who(COORD), "h-002", ORG)
    today = dt.date.today()
    body = {
        "household_id": "h-002",
        "visited_on": (today - dt.timedelta(days=3)).isoformat(),
        "outcome": "met",
        "follow_up_on": (today - dt.timedelta(days=1)).isoformat(),
    }
    visits.report(db, keyring(), HANA, who(HANA), body)
    assert [f["household_id"] for f in dispatch.follow_ups_due(db, HANA, today)] == ["h-002"]
    dispatch.snooze(db, HANA, who(HANA), "h-002", {"until": (today + dt.timedelta(days=2)).isoformat()}, today)
    assert dispatch.follow_ups_due(db, HANA, today + dt.timedelta(days=1)) == []
    sharing.unshare(db, COORD, who(COORD), "h-002", ORG)  # no longer hers: no reminder of it
    assert dispatch.follow_ups_due(db, HANA, today + dt.timedelta(days=5)) == []


def test_a_household_brought_in_by_the_partner_is_theirs(shared):
    db = shared
    sharing.share(db, COORD, who(COORD), "h-002", ORG)
    reported = visits.report(
        db,
        keyring(),
        HANA,
        who(HANA),
        {
            "household_id": "h-002",
            "visited_on": dt.date.today().isoformat(),
            "outcome": "met",
            "introductions": [
                {"introducer_id": "p-003", "code_name": "진달래", "district": NOWON, "relation": "friend"}
            ],
        },
    )
    brought = reported.introductions[0][0]
    assert partner_facts(db, brought).shared_with_subject
    assert households.read(db, keyring(), HANA, brought)[1]["id"] == brought
    # another partner of the same organisation: not theirs (brought in by hana alone)
    accounts.add_user(db, ACTOR, "bora", "partner", [], PASSWORD, "f", org=ORG)
    assert not partner_facts(db, brought, Subject("bora", "partner", (), "f", org=ORG)).shared_with_subject
    # the share of the visited household ends; the brought one stays hana's
    sharing.unshare(db, COORD, who(COORD), "h-002", ORG)
    assert partner_facts(db, brought).shared_with_subject
    assert not partner_facts(db, "h-002").shared_with_subject
