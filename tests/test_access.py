"""The policy by hand-built cases: role × action × object (no database)."""

from __future__ import annotations

import pytest

from graphsvc import access as a

ADMIN = a.Subject("root", "admin")
COORD = a.Subject("coord", "coordinator", ("서울 노원구",))
VISITOR = a.Subject("minji", "visitor", ("서울 노원구",))
NOWON = a.HouseholdFacts("h-1", "서울 노원구")
YANGCHEON = a.HouseholdFacts("h-2", "서울 양천구")
VISITED = a.HouseholdFacts("h-3", "서울 노원구", visited_by_subject=True)
CLAIMED = a.HouseholdFacts("h-4", "서울 노원구", claimed_by_subject=True)
SUGGESTED = a.HouseholdFacts("h-5", "서울 노원구", suggested_to_subject=True)
VISITED_ELSEWHERE = a.HouseholdFacts("h-6", "서울 양천구", visited_by_subject=True)


@pytest.mark.parametrize(
    "subject,action,obj,allowed",
    [
        (None, a.HOUSEHOLD_READ, NOWON, False),
        (ADMIN, a.HOUSEHOLD_READ, YANGCHEON, True),
        (ADMIN, a.AUDIT_READ, None, True),
        (ADMIN, a.USERS_MANAGE, None, True),
        (COORD, a.HOUSEHOLD_READ, NOWON, True),
        (COORD, a.HOUSEHOLD_READ, YANGCHEON, False),
        (COORD, a.HOUSEHOLD_IDENTITY_READ, NOWON, True),
        (COORD, a.HOUSEHOLD_IDENTITY_READ, YANGCHEON, False),
        (COORD, a.NETWORK_READ, a.DistrictScope("서울 노원구"), True),
        (COORD, a.NETWORK_READ, a.DistrictScope("서울 양천구"), False),
        (COORD, a.AUDIT_READ, None, False),
        (COORD, a.USERS_MANAGE, None, False),
        (COORD, a.DATA_EXPORT, None, False),
        (COORD, a.DATA_IMPORT, a.DistrictScope("서울 노원구"), True),
        (COORD, a.DATA_IMPORT, a.DistrictScope("서울 양천구"), False),
        (COORD, a.DATA_IMPORT, None, False),  # no scope
        (COORD, a.INTAKE_REVIEW, NOWON, True),
        (COORD, a.INTAKE_REVIEW, YANGCHEON, False),
        (COORD, a.HOUSEHOLD_ASSIGN, NOWON, True),
        (COORD, a.HOUSEHOLD_ASSIGN, YANGCHEON, False),
        (ADMIN, a.INTAKE_REVIEW, YANGCHEON, True),
        (VISITOR, a.INTAKE_REVIEW, CLAIMED, False),
        (VISITOR, a.HOUSEHOLD_ASSIGN, CLAIMED, False),
        (VISITOR, a.DATA_IMPORT, a.DistrictScope("서울 노원구"), False),
        (COORD, a.HOUSEHOLD_READ, None, False),  # no object, no access
        (VISITOR, a.HOUSEHOLD_READ, NOWON, False),
        (VISITOR, a.HOUSEHOLD_READ, VISITED, True),
        (VISITOR, a.HOUSEHOLD_READ, CLAIMED, True),
        (VISITOR, a.HOUSEHOLD_READ, SUGGESTED, True),
        (VISITOR, a.HOUSEHOLD_READ, VISITED_ELSEWHERE, False),
        (VISITOR, a.HOUSEHOLD_IDENTITY_READ, VISITED, False),
        (VISITOR, a.NETWORK_READ, a.DistrictScope("서울 노원구"), False),
        (VISITOR, a.VISIT_NOTES_READ, a.VisitFacts("v-1", "서울 노원구", "minji"), True),
        (VISITOR, a.VISIT_NOTES_READ, a.VisitFacts("v-2", "서울 노원구", "junho"), False),
        (VISITOR, a.SUGGESTIONS_READ, None, True),
        (VISITOR, a.HOUSEHOLD_CONTACT_READ, VISITED, False),  # visited: not held
        (VISITOR, a.HOUSEHOLD_CONTACT_READ, a.HouseholdFacts("h-1", "서울 노원구", claimed_by_subject=True), True),
        (VISITOR, a.HOUSEHOLD_CONTACT_READ, a.HouseholdFacts("h-1", "서울 노원구", assigned_to_subject=True), True),
        (COORD, a.HOUSEHOLD_CONTACT_READ, a.HouseholdFacts("h-1", "서울 노원구", claimed_by_subject=True), False),
        (VISITOR, a.AUDIT_READ, None, False),
        (a.Subject("x", "superuser"), a.HOUSEHOLD_READ, NOWON, False),
        (ADMIN, "household.delete_everything", None, False),
    ],
)
def test_decisions(subject, action, obj, allowed):
    assert bool(a.decide(subject, action, obj)) is allowed


def test_fields_are_minimal_for_visitors_and_full_for_coordinators():
    fields = a.decide(VISITOR, a.HOUSEHOLD_READ, VISITED).fields
    assert fields == {"id", "code", "district", "introducer", "last_visit", "claim"}  # claim: their own
    assert "members" in a.decide(COORD, a.HOUSEHOLD_READ, NOWON).fields
    record = {"id": "h", "code": "c", "members": [1], "visits": [2], "district": "d"}
    assert a.visible(record, a.VISITOR_HOUSEHOLD_FIELDS) == {"id": "h", "code": "c", "district": "d"}


def test_admin_identity_needs_a_reason_coordinator_does_not():
    assert a.decide(ADMIN, a.HOUSEHOLD_IDENTITY_READ, NOWON).needs_reason
    assert not a.decide(COORD, a.HOUSEHOLD_IDENTITY_READ, NOWON).needs_reason


def test_role_level_and_object_level_agree():
    """What a role may ever do (route check) covers what decide ever allows it."""
    objects = [
        None,
        NOWON,
        YANGCHEON,
        VISITED,
        CLAIMED,
        a.DistrictScope(None),
        a.VisitFacts("v", "서울 노원구", "minji"),
        a.AccountFacts("junho", "visitor", ("서울 노원구",)),
        a.ExpenseFacts("x-1", "hana"),  # a partner's expense (issue 16 §3)
    ]
    for subject in (ADMIN, COORD, VISITOR):
        for action in a.ACTIONS:
            if any(a.decide(subject, action, obj) for obj in objects):
                assert a.role_may(subject, action), (subject.role, action)
            else:  # and a role never holds an action that no object allows it
                assert not a.role_may(subject, action), (subject.role, action)
