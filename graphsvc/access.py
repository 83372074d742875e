"""Who may see what: one pure policy for every access, decided from (user, action, object).

No database, no Flask: routes and the API ask ``decide`` and act on its answer, and the
tests check the rules by hand-built cases.

- **admin**: users, audit, imports, everything; reading decrypted identity fields needs a
  stated reason, which the caller records in the audit log.
- **coordinator**: households, people and the network of their districts, identity
  fields included; nothing outside their districts.
- **visitor**: only households suggested to them, claimed by them or visited by them, with
  minimal fields; never identity fields, never the network, never other visitors' notes.

>>> visitor = Subject("minji", "visitor", ("서울 노원구",))
>>> hh = HouseholdFacts("h-1", "서울 노원구", visited_by_subject=True)
>>> decide(visitor, HOUSEHOLD_READ, hh).fields == VISITOR_HOUSEHOLD_FIELDS
True
>>> decide(visitor, HOUSEHOLD_READ, HouseholdFacts("h-2", "서울 노원구")).allowed
False
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("admin", "coordinator", "visitor")

# --- actions ---------------------------------------------------------------------------

HOUSEHOLD_READ = "household.read"
HOUSEHOLD_IDENTITY_READ = "household.identity.read"  # decrypted identity of its members
NETWORK_READ = "network.read"
VISIT_NOTES_READ = "visit.notes.read"
SUGGESTIONS_READ = "suggestions.read"
AUDIT_READ = "audit.read"
USERS_MANAGE = "users.manage"
DATA_IMPORT = "data.import"
DATA_EXPORT = "data.export"
SELF_READ = "self.read"
HOUSEHOLD_CLAIM = "household.claim"  # visitors, on households they may see
VISIT_REPORT = "visit.report"  # visitors, on households they may see

ACTIONS = (
    HOUSEHOLD_READ, HOUSEHOLD_IDENTITY_READ, NETWORK_READ, VISIT_NOTES_READ,
    SUGGESTIONS_READ, AUDIT_READ, USERS_MANAGE, DATA_IMPORT, DATA_EXPORT, SELF_READ,
    HOUSEHOLD_CLAIM, VISIT_REPORT,
)
# The field work of a visitor: not for admins (who have no districts of their own).
FIELD_ACTIONS = frozenset({SUGGESTIONS_READ, HOUSEHOLD_CLAIM, VISIT_REPORT})

# What each role may see of a household it may read.
FULL_HOUSEHOLD_FIELDS = frozenset({
    "id", "code", "district", "arrived_on", "status", "members", "introducer",
    "last_visit", "visits",
})
VISITOR_HOUSEHOLD_FIELDS = frozenset({"id", "code", "district", "introducer", "last_visit"})


@dataclass(frozen=True)
class Subject:
    """The user asking (an account that is enabled and authenticated)."""

    username: str
    role: str
    districts: tuple[str, ...] = ()
    gender: str | None = None  # 'f' or 'm': women_only households are for women visitors only


@dataclass(frozen=True)
class HouseholdFacts:
    """What the policy needs to know of a household, and of the subject's link to it."""

    id: str
    district: str
    women_only: bool = False
    suggested_to_subject: bool = False
    claimed_by_subject: bool = False
    visited_by_subject: bool = False


@dataclass(frozen=True)
class VisitFacts:
    id: str
    district: str
    author: str | None


@dataclass(frozen=True)
class DistrictScope:
    """A request over a district (or all of the subject's districts when None)."""

    district: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    why: str
    fields: frozenset[str] = field(default_factory=frozenset)
    needs_reason: bool = False  # allowed only with a stated reason, which is audited

    def __bool__(self) -> bool:
        return self.allowed


def _deny(why: str) -> Decision:
    return Decision(False, why)


def _allow(why: str, fields: frozenset[str] = frozenset(), needs_reason: bool = False) -> Decision:
    return Decision(True, why, fields, needs_reason)


# Which actions a role can ever be allowed (the route-level check; objects come after).
ROLE_ACTIONS = {
    "admin": frozenset(ACTIONS) - FIELD_ACTIONS,
    "coordinator": frozenset({SELF_READ, HOUSEHOLD_READ, HOUSEHOLD_IDENTITY_READ, NETWORK_READ,
                              VISIT_NOTES_READ}),
    "visitor": frozenset({SELF_READ, HOUSEHOLD_READ, VISIT_NOTES_READ, SUGGESTIONS_READ,
                          HOUSEHOLD_CLAIM, VISIT_REPORT}),
}


def role_may(subject: Subject | None, action: str) -> bool:
    """Whether the subject's role can ever be allowed ``action`` (on some object).

    >>> role_may(Subject("c", "coordinator", ("x",)), AUDIT_READ)
    False
    """
    return subject is not None and action in ROLE_ACTIONS.get(subject.role, frozenset())


def decide(subject: Subject | None, action: str, obj: object = None) -> Decision:
    """Decide one access. Unknown actions, roles and objects are denied."""
    if subject is None:
        return _deny("not signed in")
    if action not in ACTIONS:
        return _deny(f"unknown action {action!r}")
    if subject.role not in ROLES:
        return _deny(f"unknown role {subject.role!r}")
    if action == SELF_READ:
        return _allow("everyone may see their own account")

    if subject.role == "admin":
        if action in FIELD_ACTIONS:
            return _deny("field work is for visitors")
        if action == HOUSEHOLD_IDENTITY_READ:
            return _allow("admin, with a stated reason", needs_reason=True)
        if action == HOUSEHOLD_READ:
            return _allow("admin", FULL_HOUSEHOLD_FIELDS)
        return _allow("admin")

    if action in (AUDIT_READ, USERS_MANAGE, DATA_IMPORT, DATA_EXPORT):
        return _deny("admins only")

    if subject.role == "coordinator":
        if action in (HOUSEHOLD_READ, HOUSEHOLD_IDENTITY_READ, VISIT_NOTES_READ):
            if not isinstance(obj, (HouseholdFacts, VisitFacts)):
                return _deny("no object")
            if obj.district not in subject.districts:
                return _deny("outside the coordinator's districts")
            return _allow("coordinator of the district",
                          FULL_HOUSEHOLD_FIELDS if action == HOUSEHOLD_READ else frozenset())
        if action == NETWORK_READ:
            if not isinstance(obj, DistrictScope):
                return _deny("no scope")
            if obj.district is not None and obj.district not in subject.districts:
                return _deny("outside the coordinator's districts")
            return _allow("coordinator of the district")
        return _deny("not for coordinators")

    # visitor
    if action == SUGGESTIONS_READ:
        return _allow("visitors get suggestions in their districts")
    if action in (HOUSEHOLD_READ, HOUSEHOLD_CLAIM, VISIT_REPORT):
        if not isinstance(obj, HouseholdFacts):
            return _deny("no object")
        if obj.district not in subject.districts:
            return _deny("outside the visitor's districts")
        if obj.women_only and subject.gender != "f":
            return _deny("women visitors only")
        if obj.suggested_to_subject or obj.claimed_by_subject or obj.visited_by_subject:
            return _allow("suggested to, claimed or visited by this visitor", VISITOR_HOUSEHOLD_FIELDS)
        return _deny("not suggested to, claimed or visited by this visitor")
    if action == VISIT_NOTES_READ:
        if isinstance(obj, VisitFacts) and obj.author == subject.username:
            return _allow("the visitor's own notes")
        return _deny("another visitor's notes")
    return _deny("not for visitors")


def visible(record: dict, fields: frozenset[str]) -> dict:
    """Keep only the fields a decision allows (the view's last line of defence)."""
    return {k: v for k, v in record.items() if k in fields}


def names_person(subject: Subject | None, district: str | None, women_only: bool = False,
                 met: bool = False) -> bool:
    """Whether a person of a household in ``district`` may be named to ``subject`` (code
    name or id) in any field: an introducer, a path, a reason, a chain. Admins: everyone.
    Coordinators and visitors: people of their districts only (others are "someone", as
    on the map), or people the subject ``met`` (a visitor's visit; any district).
    Visitors who are not women: never a person of a women-only household (an unknown
    gender does not qualify), in any field, met or not.

    >>> man = Subject("junho", "visitor", ("노원",), "m")
    >>> names_person(man, "노원"), names_person(man, "노원", women_only=True), names_person(man, "양천")
    (True, False, False)
    >>> names_person(Subject("c", "coordinator", ("노원",)), "노원", women_only=True)
    True
    """
    if subject is None:
        return False
    role = getattr(subject, "role", "visitor")  # suggest.Visitor has no role: a visitor
    if role == "admin":
        return True
    if not met and (district is None or district not in subject.districts):
        return False
    if women_only and role != "coordinator" and getattr(subject, "gender", None) != "f":
        return False
    return True

# --- the stated reason of an admin's identity read ------------------------------------------

REASON_MIN_WORDS = 2
REASON_MIN_LETTERS = 6


def _counts_as_letter(char: str) -> bool:
    # Lone Hangul jamo (ㅇㅇ, ㅋㅋ: chat shorthand) are not words of a reason.
    return char.isalpha() and not ("\u1100" <= char <= "\u11ff" or "\u3130" <= char <= "\u318f")


def reason_problem(text: str | None) -> str | None:
    """What is wrong with a stated reason for reading identity fields, as a message id, or
    None when it will do. A reason is at least two words with six letters in all: Hangul
    syllables and letters of any script count; digits, punctuation and lone jamo do not.

    >>> [reason_problem(r) for r in ("방문 전 주소 확인", "가족 연락 확인", "checking the address")]
    [None, None, None]
    >>> [reason_problem(r) for r in (".", "a", "ㅇㅇ", "ㅇㅇ ㅋㅋ ㅇㅇ", "확인", "주소확인", "12 34 56", "a b")]
    ['reason_short', 'reason_short', 'reason_short', 'reason_short', 'reason_short', 'reason_short', 'reason_short', 'reason_short']
    >>> reason_problem(None), reason_problem("   ")
    ('reason_missing', 'reason_missing')
    """
    if not text or not text.strip():
        return "reason_missing"
    words = [sum(map(_counts_as_letter, word)) for word in text.split()]
    if sum(1 for n in words if n) < REASON_MIN_WORDS or sum(words) < REASON_MIN_LETTERS:
        return "reason_short"
    return None
