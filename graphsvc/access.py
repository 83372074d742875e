"""Who may see what: one pure policy for every access, decided from (user, action, object).

No database, no Flask: routes and the API ask ``decide`` and act on its answer, and the
tests check the rules by hand-built cases.

Actions are an enum (``Action``); roles are data (``ROLES``, a registry of ``Role``): what
each may do, which fields of a household it sees, whether it sees every district or its
own, whether it needs districts and a second factor, whether it works in the field (the
visitor's rules: households suggested to, claimed or visited by them; the women-only
rule). A new role is one entry; code and templates ask ``may(action)``, never a role name.

- **admin**: users, audit, imports, everything; reading decrypted identity fields needs a
  stated reason, which the caller records in the audit log.
- **coordinator**: households, people and the network of their districts, identity
  fields included; nothing outside their districts.
- **visitor**: only households suggested to them, claimed by them or visited by them, with
  minimal fields; never identity fields, never the network, never other visitors' notes.

>>> visitor = Subject("minji", "visitor", ("서울 노원구",))
>>> hh = HouseholdFacts("h-1", "서울 노원구", visited_by_subject=True)
>>> decide(visitor, Action.HOUSEHOLD_READ, hh).fields == VISITOR_HOUSEHOLD_FIELDS
True
>>> decide(visitor, Action.HOUSEHOLD_READ, HouseholdFacts("h-2", "서울 노원구")).allowed
False
>>> [decide(visitor, Action.HOUSEHOLD_CONTACT_READ, f).allowed for f in (hh, HouseholdFacts("h-1", "서울 노원구",
...  claimed_by_subject=True), HouseholdFacts("h-1", "양천구", claimed_by_subject=True))]
[False, True, False]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Action(str, Enum):
    """What a subject may be allowed to do (the value is the audit's action name)."""

    SELF_READ = "self.read"
    HOUSEHOLD_READ = "household.read"
    HOUSEHOLD_IDENTITY_READ = "household.identity.read"  # decrypted identity of its members
    HOUSEHOLD_WRITE = "household.write"  # add and correct households, people, introductions
    NETWORK_READ = "network.read"
    VISIT_NOTES_READ = "visit.notes.read"
    SUGGESTIONS_READ = "suggestions.read"
    HOUSEHOLD_CLAIM = "household.claim"  # field work, on households they may see
    # field work: the address and phone of the contact person, while the household is theirs
    HOUSEHOLD_CONTACT_READ = "household.contact.read"
    VISIT_REPORT = "visit.report"  # field work, on households they may see
    AUDIT_READ = "audit.read"
    INTAKE_REVIEW = "intake.review"  # confirm, merge or reject households brought back from visits
    HOUSEHOLD_ASSIGN = "household.assign"  # give a household to a visitor (it becomes their claim)
    USERS_MANAGE = "users.manage"
    TEAM_MANAGE = "team.manage"  # an account's gender, districts, reset link (coordinators: their visitors)
    DATA_IMPORT = "data.import"  # coordinators: rows of their own districts only (the importer checks)
    DATA_EXPORT = "data.export"
    RECORD_ERASE = "record.erase"  # erase a person or household (graphsvc/erasure.py): admins
    USER_FREEZE = "user.freeze"  # end an account's sessions and tokens now (coordinators: their visitors)
    MATERIALS_MANAGE = "materials.manage"  # the materials ledger (graphsvc/materials.py): movements, balances
    MATERIALS_ITEMS = "materials.items"  # add kinds of materials to the ledger: admins
    PHOTO_REVIEW = "photo.review"  # open unsanitized visit photos, sanitize, export (issue 16 §5)
    HOUSEHOLD_SHARE = "household.share"  # share a household with a partner organisation, or stop (issue 16)
    # issue 16 §3: expenses (graphsvc/expenses.py): a partner submits, coordinators and admins decide
    EXPENSE_SUBMIT = "expense.submit"
    EXPENSE_READ = "expense.read"  # an expense, its receipts and history; a partner's monthly report
    EXPENSE_APPROVE = "expense.approve"  # approve, reject, record paid: never one's own

    def __str__(self) -> str:
        return self.value


# The names the rest of the code has always used (each is the enum member itself).
SELF_READ = Action.SELF_READ
HOUSEHOLD_READ = Action.HOUSEHOLD_READ
HOUSEHOLD_IDENTITY_READ = Action.HOUSEHOLD_IDENTITY_READ
HOUSEHOLD_WRITE = Action.HOUSEHOLD_WRITE
NETWORK_READ = Action.NETWORK_READ
VISIT_NOTES_READ = Action.VISIT_NOTES_READ
SUGGESTIONS_READ = Action.SUGGESTIONS_READ
HOUSEHOLD_CLAIM = Action.HOUSEHOLD_CLAIM
HOUSEHOLD_CONTACT_READ = Action.HOUSEHOLD_CONTACT_READ
VISIT_REPORT = Action.VISIT_REPORT
AUDIT_READ = Action.AUDIT_READ
INTAKE_REVIEW = Action.INTAKE_REVIEW
HOUSEHOLD_ASSIGN = Action.HOUSEHOLD_ASSIGN
USERS_MANAGE = Action.USERS_MANAGE
TEAM_MANAGE = Action.TEAM_MANAGE
DATA_IMPORT = Action.DATA_IMPORT
DATA_EXPORT = Action.DATA_EXPORT
RECORD_ERASE = Action.RECORD_ERASE
USER_FREEZE = Action.USER_FREEZE
MATERIALS_MANAGE = Action.MATERIALS_MANAGE
MATERIALS_ITEMS = Action.MATERIALS_ITEMS
PHOTO_REVIEW = Action.PHOTO_REVIEW
HOUSEHOLD_SHARE = Action.HOUSEHOLD_SHARE
EXPENSE_SUBMIT = Action.EXPENSE_SUBMIT
EXPENSE_READ = Action.EXPENSE_READ
EXPENSE_APPROVE = Action.EXPENSE_APPROVE
ACTIONS = tuple(Action)

# What a role may see of a household it may read.
FULL_HOUSEHOLD_FIELDS = frozenset(
    {
        "id",
        "code",
        "district",
        "arrived_on",
        "status",
        "status_reason",  # why the status is what it is (the household desk)
        "members",
        "introducer",
        "last_visit",
        "visits",
    }
)
VISITOR_HOUSEHOLD_FIELDS = frozenset({"id", "code", "district", "introducer", "last_visit", "claim"})
FIELD_ACTIONS = frozenset(
    {Action.SUGGESTIONS_READ, Action.HOUSEHOLD_CLAIM, Action.HOUSEHOLD_CONTACT_READ, Action.VISIT_REPORT}
)
# Actions on one household (or its visits) that a district-scoped role needs the district for.
HOUSEHOLD_ACTIONS = frozenset(
    {
        Action.HOUSEHOLD_READ,
        Action.HOUSEHOLD_IDENTITY_READ,
        Action.HOUSEHOLD_WRITE,
        Action.VISIT_NOTES_READ,
        Action.INTAKE_REVIEW,
        Action.HOUSEHOLD_ASSIGN,
        Action.PHOTO_REVIEW,
        Action.HOUSEHOLD_SHARE,
    }
)


@dataclass(frozen=True)
class Role:
    """One role, as data.

    ``all_districts``: sees every district (else only the subject's, which it then needs);
    ``field_work``: the visitor's rules: a household only when suggested to, claimed or
    visited by the subject, its own visit notes only, the women-only rule;
    ``identity_needs_reason``: decrypted identity only with a stated reason (audited).
    """

    name: str
    label: str  # for people (marked for translation; the web layer translates it)
    actions: frozenset[Action]
    household_fields: frozenset[str]
    all_districts: bool = False
    needs_totp: bool = False
    field_work: bool = False
    identity_needs_reason: bool = False
    aliases: tuple[str, ...] = ()  # other names an import file may use (Korean)
    # an organisation's role (issue 16): no districts; its reach is the households shared with
    # its organisation or brought in by its own visit reports (HouseholdFacts.shared_with_subject)
    org_scoped: bool = False

    @property
    def needs_districts(self) -> bool:
        return not self.all_districts and not self.org_scoped


def N_(message: str) -> str:  # translation marker (graphsvc/model.py N_; access imports nothing)
    return message


ADMIN = Role(
    "admin",
    N_("Admin"),
    frozenset(Action) - FIELD_ACTIONS - {Action.EXPENSE_SUBMIT},  # an admin approves; partners submit
    FULL_HOUSEHOLD_FIELDS,
    all_districts=True,
    needs_totp=True,
    identity_needs_reason=True,
    aliases=("관리자",),
)
COORDINATOR = Role(
    "coordinator",
    N_("Coordinator"),
    frozenset(
        {
            Action.SELF_READ,
            Action.HOUSEHOLD_READ,
            Action.HOUSEHOLD_IDENTITY_READ,
            Action.HOUSEHOLD_WRITE,
            Action.NETWORK_READ,
            Action.VISIT_NOTES_READ,
            Action.INTAKE_REVIEW,
            Action.HOUSEHOLD_ASSIGN,
            Action.DATA_IMPORT,
            Action.TEAM_MANAGE,
            Action.USER_FREEZE,
            Action.MATERIALS_MANAGE,  # holders: visitors of their districts and partners (HolderFacts)
            Action.PHOTO_REVIEW,
            Action.HOUSEHOLD_SHARE,
            Action.EXPENSE_READ,
            Action.EXPENSE_APPROVE,
        }
    ),
    FULL_HOUSEHOLD_FIELDS,
    needs_totp=True,
    aliases=("코디네이터",),
)
VISITOR = Role(
    "visitor",
    N_("Visitor"),
    frozenset(
        {
            Action.SELF_READ,
            Action.HOUSEHOLD_READ,
            Action.VISIT_NOTES_READ,
            Action.SUGGESTIONS_READ,
            Action.HOUSEHOLD_CLAIM,
            Action.HOUSEHOLD_CONTACT_READ,
            Action.VISIT_REPORT,
        }
    ),
    VISITOR_HOUSEHOLD_FIELDS,
    field_work=True,
    aliases=("방문자",),
)

# A partner ministry's worker (issue 16): a visitor's field work, on the households shared with
# their organisation by a coordinator or brought in by their own visit reports; never by district.
PARTNER = Role(
    "partner",
    N_("Partner"),
    VISITOR.actions | {Action.EXPENSE_SUBMIT, Action.EXPENSE_READ},  # and their own expenses (issue 16 §3)
    VISITOR_HOUSEHOLD_FIELDS,
    needs_totp=True,
    field_work=True,
    aliases=("협력 사역자", "파트너", "협력자"),
    org_scoped=True,
)

#: The registry: every role by name, in the order forms offer them (most common first).
REGISTRY: dict[str, Role] = {r.name: r for r in (VISITOR, COORDINATOR, ADMIN, PARTNER)}
ROLES = tuple(REGISTRY)


def role_of(subject: object) -> Role | None:
    """The role of a subject (anything with ``role``; a subject without one is a visitor,
    as suggest.Visitor), or None for an unknown role."""
    return REGISTRY.get(getattr(subject, "role", "visitor"))


@dataclass(frozen=True)
class Subject:
    """The user asking (an account that is enabled and authenticated)."""

    username: str
    role: str
    districts: tuple[str, ...] = ()
    gender: str | None = None  # 'f' or 'm': women_only households are for women visitors only
    # graphsvc/duress.py: a session opened with the duress password sees an empty view; an
    # account whose duress password was used has its identity and contact reveals frozen
    duress: bool = False
    identity_frozen: bool = False
    org: str | None = None  # an org-scoped role's organisation (graphsvc/orgs.py)


@dataclass(frozen=True)
class HouseholdFacts:
    """What the policy needs to know of a household, and of the subject's link to it."""

    id: str
    district: str
    women_only: bool = False
    suggested_to_subject: bool = False
    claimed_by_subject: bool = False
    visited_by_subject: bool = False
    assigned_to_subject: bool = False  # a coordinator gave it to them (live)
    # shared with the subject's organisation, or brought in by the subject's own visit report
    # (what an org-scoped role's reach is made of, in place of districts)
    shared_with_subject: bool = False


@dataclass(frozen=True)
class VisitFacts:
    id: str
    district: str
    author: str | None


@dataclass(frozen=True)
class HolderFacts:
    """An account that holds materials (graphsvc/materials.py): a field worker."""

    username: str
    role: str
    districts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpenseFacts:
    """An expense (graphsvc/expenses.py), or a partner's monthly report (``id`` None): whose it is."""

    id: str | None
    submitter: str


@dataclass(frozen=True)
class AccountFacts:
    """An account that someone wants to see or change (graphsvc/team.py)."""

    username: str
    role: str
    districts: tuple[str, ...] = ()


# What a role may change of an account it may manage (TEAM_MANAGE): every field for a role of
# every district; a coordinator a visitor's gender, districts (among their own) and reset link.
ACCOUNT_FIELDS = frozenset({"role", "districts", "gender", "enabled", "reset_link"})
TEAM_FIELDS = frozenset({"districts", "gender", "reset_link"})


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


def role_may(subject: Subject | None, action: str) -> bool:
    """Whether the subject's role can ever be allowed ``action`` (on some object).

    >>> role_may(Subject("c", "coordinator", ("x",)), Action.AUDIT_READ)
    False
    """
    role = role_of(subject) if subject is not None else None
    return role is not None and action in role.actions


may = role_may  # what templates ask: {% if may('network.read') %}


def decide(subject: Subject | None, action: str, obj: object = None) -> Decision:
    """Decide one access from the subject's role (``REGISTRY``). Unknown actions, roles and
    objects are denied."""
    if subject is None:
        return _deny("not signed in")
    try:
        action = Action(action)
    except ValueError:
        return _deny(f"unknown action {action!r}")
    role = role_of(subject)
    if role is None:
        return _deny(f"unknown role {subject.role!r}")
    if action not in role.actions:
        return _deny(f"not for the role {role.name}")
    if in_duress(subject) and action not in DURESS_ACTIONS:
        return _deny("not found")  # the duress session's empty view (graphsvc/duress.py)
    if action in FROZEN_ACTIONS and getattr(subject, "identity_frozen", False):
        return _deny("identity and contact frozen after a duress sign-in")
    if action is Action.SELF_READ:
        return _allow("everyone may see their own account")

    if action in EXPENSE_ACTIONS:  # issue 16 §3
        return _decide_expense(subject, role, action, obj)
    if action is Action.TEAM_MANAGE:
        return _decide_account(subject, role, obj)
    if action is Action.USER_FREEZE:  # the accounts the subject runs (graphsvc/freeze.py)
        return _decide_account(subject, role, obj)
    if role.all_districts:
        if action is Action.HOUSEHOLD_IDENTITY_READ:
            return _allow(f"{role.name}, with a stated reason", needs_reason=role.identity_needs_reason)
        if action is Action.HOUSEHOLD_READ:
            return _allow(role.name, role.household_fields)
        return _allow(role.name)

    if role.field_work:
        return _decide_field_work(subject, role, action, obj)

    if action is Action.MATERIALS_MANAGE:  # the materials ledger (graphsvc/materials.py)
        return _decide_holder(subject, role, obj)
    # a role of its districts
    if action in HOUSEHOLD_ACTIONS:
        if not isinstance(obj, (HouseholdFacts, VisitFacts)):
            return _deny("no object")
        if obj.district not in subject.districts:
            return _deny(f"outside the {role.name}'s districts")
        return _allow(
            f"{role.name} of the district", role.household_fields if action is Action.HOUSEHOLD_READ else frozenset()
        )
    if action in (Action.NETWORK_READ, Action.DATA_IMPORT):  # a district, or all of theirs (None)
        if not isinstance(obj, DistrictScope):
            return _deny("no scope")
        if obj.district is not None and obj.district not in subject.districts:
            return _deny(f"outside the {role.name}'s districts")
        return _allow(f"{role.name} of the district")
    return _deny(f"not for the role {role.name}")


def _decide_account(subject: Subject, role: Role, obj: object) -> Decision:
    """Who may change an account: a role of every district any account (its fields:
    ``ACCOUNT_FIELDS``); a district role only field workers (visitors) who share one of its
    districts (``TEAM_FIELDS``), never another coordinator or an admin, never itself.

    >>> coord = Subject("c", "coordinator", ("노원",))
    >>> [decide(coord, Action.TEAM_MANAGE, AccountFacts(n, r, d)).allowed for n, r, d in (
    ...  ("v", "visitor", ("노원", "양천")), ("w", "visitor", ("양천",)), ("d", "coordinator", ("노원",)))]
    [True, False, False]
    """
    if not isinstance(obj, AccountFacts):
        return _deny("no object")
    if role.all_districts:
        return _allow(role.name, ACCOUNT_FIELDS)
    target = REGISTRY.get(obj.role)
    if obj.username == subject.username or target is None or not target.field_work:
        return _deny(f"not an account a {role.name} runs")
    if not set(obj.districts) & set(subject.districts):
        return _deny(f"outside the {role.name}'s districts")
    return _allow(f"{role.name} of the visitor's district", TEAM_FIELDS)


def _decide_holder(subject: Subject, role: Role, obj: object) -> Decision:
    """The materials ledger for a role of its districts: the stock (no object, or a district
    scope) and the holdings of field workers: visitors who share one of its districts, and
    every partner (an org-scoped role works on households shared with it, in any district).

    >>> coord = Subject("c", "coordinator", ("노원",))
    >>> [decide(coord, Action.MATERIALS_MANAGE, o).allowed for o in (None, HolderFacts("v", "visitor", ("노원",)),
    ...  HolderFacts("w", "visitor", ("양천",)), HolderFacts("d", "coordinator", ("노원",)))]
    [True, True, False, False]
    """
    if obj is None or isinstance(obj, DistrictScope):
        return _allow(f"{role.name}: the stock")
    if not isinstance(obj, HolderFacts):
        return _deny("no object")
    target = REGISTRY.get(obj.role)
    if target is None or not target.field_work:
        return _deny("not an account that holds materials")
    if target.org_scoped:
        return _allow(f"{role.name}: a partner's holding")
    if not set(obj.districts) & set(subject.districts):
        return _deny(f"outside the {role.name}'s districts")
    return _allow(f"{role.name} of the holder's district")


EXPENSE_ACTIONS = frozenset({Action.EXPENSE_SUBMIT, Action.EXPENSE_READ, Action.EXPENSE_APPROVE})


def _decide_expense(subject: Subject, role: Role, action: Action, obj: object) -> Decision:
    """Expenses and their receipts (graphsvc/expenses.py): a role that submits them sees its
    own only; the approvers (coordinators, of every district: an expense is the ministry's
    money, not a household's record) and admins see every one, and decide every one but
    their own.

    >>> coord, hana = Subject("c", "coordinator", ("노원",)), Subject("hana", "partner")
    >>> [decide(coord, Action.EXPENSE_APPROVE, ExpenseFacts(i, s)).allowed for i, s in (("e-1", "hana"), ("e-2", "c"))]
    [True, False]
    """
    if action is Action.EXPENSE_SUBMIT:
        return _allow(f"a {role.name} submits expenses")
    if not isinstance(obj, ExpenseFacts):
        return _deny("no object")
    own = obj.submitter == subject.username
    if action is Action.EXPENSE_APPROVE:
        return _deny("nobody decides their own expense") if own else _allow(f"{role.name}: an approver")
    if own or Action.EXPENSE_APPROVE in role.actions:
        return _allow("their own expense" if own else f"{role.name}: an approver")
    return _deny("another's expense")


def _decide_field_work(subject: Subject, role: Role, action: Action, obj: object) -> Decision:
    """A visitor's rules: their districts, the women-only rule, and their link to the household.

    An org-scoped role (a partner) has no districts: a household shared with its organisation
    or brought in by its own report (``shared_with_subject``) is its reach in their place, and
    that sharing is its link to the household (it needs no suggestion); a claim, a visit or an
    assignment never reaches past the sharing (a revoked share ends it).

    >>> hana = Subject("hana", "partner", (), "f", org="새희망선교회")
    >>> [decide(hana, Action.HOUSEHOLD_READ, HouseholdFacts("h-1", "노원", **k)).allowed for k in (
    ...  {"shared_with_subject": True}, {"visited_by_subject": True, "claimed_by_subject": True}, {})]
    [True, False, False]
    >>> [decide(hana, Action.HOUSEHOLD_CONTACT_READ, HouseholdFacts("h-1", "노원", shared_with_subject=True, **k)
    ...  ).allowed for k in ({}, {"claimed_by_subject": True})]
    [False, True]
    """
    if action is Action.SUGGESTIONS_READ:
        return _allow("field workers get suggestions in their reach")
    if action is Action.VISIT_NOTES_READ:
        if isinstance(obj, VisitFacts) and obj.author == subject.username:
            return _allow("the visitor's own notes")
        return _deny("another visitor's notes")
    if not isinstance(obj, HouseholdFacts):
        return _deny("no object")
    if role.org_scoped:
        if not obj.shared_with_subject:
            return _deny("not shared with the partner's organisation")
    elif obj.district not in subject.districts:
        return _deny("outside the visitor's districts")
    if obj.women_only and subject.gender != "f":
        return _deny("women visitors only")
    if action is Action.HOUSEHOLD_CONTACT_READ:
        # where to go: only while the household is theirs to visit, never from a suggestion
        if obj.claimed_by_subject or obj.assigned_to_subject:
            return _allow("held by this visitor (a live claim or assignment)")
        return _deny("not held by this visitor")
    if role.org_scoped:
        return _allow("shared with the partner's organisation or brought in by them", role.household_fields)
    if obj.suggested_to_subject or obj.claimed_by_subject or obj.visited_by_subject or obj.assigned_to_subject:
        return _allow("suggested to, claimed or visited by this visitor", role.household_fields)
    return _deny("not suggested to, claimed or visited by this visitor")


# A duress session (graphsvc/duress.py) may still ask for its (empty) lists; every record is
# out of its reach. An account frozen by a duress sign-in reveals no identity or contact.
DURESS_ACTIONS = frozenset({Action.SELF_READ, Action.SUGGESTIONS_READ})
FROZEN_ACTIONS = frozenset({Action.HOUSEHOLD_IDENTITY_READ, Action.HOUSEHOLD_CONTACT_READ})


def in_duress(subject: object) -> bool:
    """Whether ``subject`` is a session opened with a duress password: its lists are empty
    and no record is within its reach, whatever its role and districts.

    >>> hh = HouseholdFacts("h-1", "노원", claimed_by_subject=True)
    >>> v = Subject("minji", "visitor", ("노원",))
    >>> [decide(s, Action.HOUSEHOLD_READ, hh).allowed for s in (v, Subject("minji", "visitor", ("노원",), duress=True))]
    [True, False]
    >>> decide(Subject("minji", "visitor", ("노원",), identity_frozen=True), Action.HOUSEHOLD_CONTACT_READ, hh).allowed
    False
    """
    return bool(getattr(subject, "duress", False))


def scope_districts(subject: Subject) -> tuple[str, ...] | None:
    """The districts the subject's role may see: None for every district.

    >>> scope_districts(Subject("r", "admin")), scope_districts(Subject("c", "coordinator", ("a",)))
    (None, ('a',))
    """
    role = role_of(subject)
    if role is not None and role.all_districts:
        return None
    return tuple(subject.districts)


def visible(record: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Keep only the fields a decision allows (the view's last line of defence)."""
    return {k: v for k, v in record.items() if k in fields}


def names_person(subject: Subject | None, district: str | None, women_only: bool = False, met: bool = False) -> bool:
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
    role = role_of(subject) if subject is not None else None
    if subject is None or role is None:
        return False
    if role.all_districts:
        return True
    if role.org_scoped and not met:  # a partner: no districts (what is shared is never "their district")
        return False
    if not met and (district is None or district not in subject.districts):
        return False
    if women_only and role.field_work and getattr(subject, "gender", None) != "f":
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
    >>> {reason_problem(r) for r in (".", "a", "ㅇㅇ", "ㅇㅇ ㅋㅋ ㅇㅇ", "확인", "주소확인", "12 34 56", "a b")}
    {'reason_short'}
    >>> reason_problem(None), reason_problem("   ")
    ('reason_missing', 'reason_missing')
    """
    if not text or not text.strip():
        return "reason_missing"
    words = [sum(map(_counts_as_letter, word)) for word in text.split()]
    if sum(1 for n in words if n) < REASON_MIN_WORDS or sum(words) < REASON_MIN_LETTERS:
        return "reason_short"
    return None


# --- visit photos (issue 16 §5, graphsvc/photos.py) ---------------------------------------

PHOTO_ORIGINAL = "original"  # the photo as uploaded (re-encoded, no metadata): may show anyone, anywhere
PHOTO_SANITIZED = "sanitized"  # after a reviewer blacked out what identifies
PHOTO_SANITIZE = "sanitize"  # draw the boxes and mark it sanitized
PHOTO_WANTS = (PHOTO_ORIGINAL, PHOTO_SANITIZED, PHOTO_SANITIZE)


@dataclass(frozen=True)
class PhotoFacts:
    """A visit photo: the household of its visit (with the subject's link to it), who
    uploaded it and whether it was sanitized."""

    id: str
    household: HouseholdFacts
    uploader: str
    sanitized: bool = False


def decide_photo(subject: Subject | None, want: str, photo: object) -> Decision:
    """Who may see or sanitize a visit photo. Nobody who may not read the photo's household.
    The original (unsanitized): its uploader, and the reviewers of the household
    (PHOTO_REVIEW: coordinators of its district, admins). Sanitizing: a reviewer who is not
    the uploader. The sanitized variant, once there is one: whoever may read the household.

    >>> hh = HouseholdFacts("h-1", "노원", visited_by_subject=True)
    >>> p = PhotoFacts("ph-1", hh, "minji")
    >>> coord, other = Subject("c", "coordinator", ("노원",)), Subject("d", "coordinator", ("양천",))
    >>> [decide_photo(s, PHOTO_ORIGINAL, p).allowed for s in (Subject("minji", "visitor", ("노원",)), coord, other)]
    [True, True, False]
    >>> decide_photo(Subject("junho", "visitor", ("노원",)), PHOTO_ORIGINAL, p).allowed  # he visited too
    False
    >>> minji = Subject("minji", "visitor", ("노원",))
    >>> decide_photo(coord, PHOTO_SANITIZE, p).allowed, decide_photo(minji, PHOTO_SANITIZE, p).allowed
    (True, False)
    """
    if subject is None or not isinstance(photo, PhotoFacts) or want not in PHOTO_WANTS:
        return _deny("no object")
    if not decide(subject, Action.HOUSEHOLD_READ, photo.household):
        return _deny("outside the subject's reach")
    reviewer = bool(decide(subject, Action.PHOTO_REVIEW, photo.household))
    uploader = subject.username == photo.uploader
    if want == PHOTO_SANITIZE:
        if uploader:
            return _deny("the uploader may not sanitize their own photo")
        return _allow("a reviewer of the district") if reviewer else _deny("not a reviewer of the district")
    if want == PHOTO_ORIGINAL or not photo.sanitized:
        if uploader or reviewer:
            return _allow("the uploader or a reviewer of the district")
        return _deny("an unsanitized photo: its uploader and the district's reviewers only")
    return _allow("a sanitized photo of a household the subject may read")
