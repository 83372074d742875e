"""One validation layer for every way data comes in: CSV files, the JSON API, forms.

For each kind of record (household, person, introduction, visit, user) a function takes a
mapping of field → raw value and returns ``Checked``: the values that are good (cleaned:
stripped text, canonical enums, dates as ``datetime.date``) and the ``Problem``s of the
ones that are not, each naming its field with a message id. The importer puts ``file:line``
before a problem, the API names the JSON field, a form its form field; the web layer
translates the message id (``MESSAGES``: English text marked with ``N_`` for pybabel) into
the page's language. What one entrance accepts, every other accepts too, and the exporter
writes back only what the importer reads (text is stored without surrounding white space).

Checks that need more than one record (duplicates, references, one introducer, no cycle)
belong to whoever holds the records: the importer for files, the write services
(graphsvc/households.py, graphsvc/visits.py) for the database.

>>> checked = household({"id": "h-1", "code": "H-1", "district": "서울 노원구", "status": "활동"})
>>> checked.ok, checked.values["status"], checked.values["women_only"]
(True, 'active', False)
>>> for p in household({"id": "h 1", "code": "", "status": "gone"}).problems:
...     print(p.english())
id 'h 1' is not a valid id (letters, digits, '.', '_', ':', '-'; at most 64)
code is empty
district is empty
status 'gone' is not one of: active, moved, closed, do_not_visit, pending, rejected, merged
>>> text_problem("a\\x00b", 100), text_problem("x" * 5, 4)
('contains a control character', 'is longer than 4 characters')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import access, model
from .crypto import FieldKind, fields_of
from .model import N_, USERNAME_RE

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MATERIAL_RE = re.compile(r"^([^:;]+):([0-9]{1,4})$")
# Control characters but tab, LF and CR; DEL and the C1 controls too (a spreadsheet or a
# terminal may act on them); lone surrogates (not text: they cannot be encoded as UTF-8);
# the two non-characters U+FFFE and U+FFFF.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
SURROGATE_RE = re.compile("[\ud800-\udfff]")

MAX_LEN = {"notes": 4000, "note": 1000, "address": 500, "code_name": 40}
DEFAULT_MAX_LEN = 200
# A phone: digits with the usual separators, an optional leading '+'; 8 to 15 digits
# (1588-1234 … +82 10 1234 5678).
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]*$")
PHONE_DIGITS = (8, 15)
# At most this many people met, new members or introductions in one visit report.
MAX_ITEMS = 20

#: Every problem a record can have, by message id: English, with %(…)s values; marked for
#: translation (the web layer says them in the page's language).
MESSAGES = {
    "empty": N_("%(field)s is empty"),
    "not_text": N_("%(field)s must be text"),
    "too_long": N_("%(field)s is longer than %(max)d characters"),
    "control": N_("%(field)s contains a control character"),
    "surrogate": N_("%(field)s contains an unpaired surrogate (not Unicode text)"),
    "bad_id": N_("%(field)s %(value)s is not a valid id (letters, digits, '.', '_', ':', '-'; at most 64)"),
    "bad_username": N_(
        "%(field)s %(value)s is not a valid username (lower-case letters, digits, '.', '_', '-'; 2 to 32)"
    ),
    "bad_date": N_("%(field)s %(value)s is not a date (YYYY-MM-DD)"),
    "bad_choice": N_("%(field)s %(value)s is not one of: %(choices)s"),
    "bad_materials": N_("materials %(value)s: expected item:count;item:count (e.g. bible:1;hymnal:2)"),
    "materials_zero": N_("materials %(value)s: quantity must be at least 1"),
    "materials_twice": N_("materials %(value)s: %(item)s is listed twice"),
    "self_introduction": N_("%(value)s cannot introduce themselves"),
    "needs_district": N_("a %(role)s needs at least one district (districts, separated by ';')"),
    "not_your_district": N_("%(field)s %(value)s is not one of your districts"),
    "follow_up_before_visit": N_("follow_up_on %(follow_up_on)s is before visited_on %(visited_on)s"),
    "in_future": N_("%(field)s %(value)s is in the future"),
    "too_early": N_("%(field)s %(value)s is before %(earliest)s"),
    "unknown_field": N_("unknown field %(value)s"),
    "bad_phone": N_("%(field)s %(value)s is not a phone number (8 to 15 digits, e.g. 010-1234-5678)"),
    "not_list": N_("%(field)s must be a list"),
    "not_object": N_("%(field)s must be an object of fields"),
    "too_many": N_("%(field)s has more than %(max)d entries"),
    "listed_twice": N_("%(field)s %(value)s is listed twice"),
    "not_member": N_("%(field)s %(value)s is not a person of the visited household"),
    "unknown_district": N_("%(field)s %(value)s is not a district of this network"),
    # issue 16: a partner's account is made with its organisation, and has no districts
    "org_role": N_("a %(role)s belongs to an organisation: its account is made with graphsvc users add --org"),
    "org_no_districts": N_("a %(role)s has no districts: its reach is what is shared with its organisation"),
}


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field: its name, a message id (``MESSAGES``) and the values
    the message needs (``field`` is always among them)."""

    field: str
    code: str
    # dataclasses.field: the name ``field`` is the attribute above in this class body
    values: dict[str, Any] = dataclasses.field(default_factory=dict)

    def english(self) -> str:
        return MESSAGES[self.code] % {"field": self.field, **self.values}


@dataclass
class Checked:
    """The good values of a record, and what is wrong with the others."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, name: str, code: str, **values: Any) -> None:
        self.problems.append(Problem(name, code, values))


def text_problem(value: object, max_len: int) -> str | None:
    """Why ``value`` is not acceptable text of at most ``max_len`` characters (None: it is),
    in the words that follow a field's name."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > max_len:
        return f"is longer than {max_len} characters"
    if SURROGATE_RE.search(value):
        return "contains an unpaired surrogate (not Unicode text)"
    if CONTROL_RE.search(value):
        return "contains a control character"
    return None


# --- fields ------------------------------------------------------------------------------


def _raw(data: Mapping[str, Any], name: str) -> Any:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else value


def text(out: Checked, data: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    """Free text: stripped; empty is None (a problem when ``required``)."""
    value = _raw(data, name)
    if value in (None, ""):
        if required:
            out.problem(name, "empty")
        else:
            out.values[name] = None  # given empty: none (a correction may clear it)
        return None
    if not isinstance(value, str):
        out.problem(name, "not_text")
        return None
    limit = MAX_LEN.get(name, DEFAULT_MAX_LEN)
    if len(value) > limit:
        out.problem(name, "too_long", max=limit)
    elif SURROGATE_RE.search(value):
        out.problem(name, "surrogate")
    elif CONTROL_RE.search(value):
        out.problem(name, "control")
    else:
        out.values[name] = value
        return value
    return None


def ident(
    out: Checked, data: Mapping[str, Any], name: str, required: bool = False, username: bool = False
) -> str | None:
    """An id (``ID_RE``) or a username (``USERNAME_RE``)."""
    value = text(out, data, name, required)
    if value is not None and not (USERNAME_RE if username else ID_RE).match(value):
        out.values.pop(name, None)
        out.problem(name, "bad_username" if username else "bad_id", value=repr(value))
        return None
    return value


def phone(out: Checked, data: Mapping[str, Any], name: str = "phone") -> str | None:
    """A phone number (``PHONE_RE``, ``PHONE_DIGITS``), kept as written; empty is None.

    >>> [phone(Checked(), {"phone": p}) for p in ("010-1234-5678", "+82 10 1234 5678", "12-34", "010-abcd")]
    ['010-1234-5678', '+82 10 1234 5678', None, None]
    """
    value = text(out, data, name)
    if value is None:
        return None
    digits = sum(c.isdigit() for c in value)
    if not (value.isascii() and PHONE_RE.match(value) and PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]):
        out.values.pop(name, None)
        out.problem(name, "bad_phone", value=repr(value[:40]))
        return None
    return value


def date(out: Checked, data: Mapping[str, Any], name: str, required: bool = False) -> dt.date | None:
    """A date, ``YYYY-MM-DD`` (or a ``datetime.date`` already)."""
    value = _raw(data, name)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        out.values[name] = value
        return value
    raw = text(out, data, name, required)
    if raw is None:
        return None
    parsed = parse_date(raw)
    if parsed is None:
        out.values.pop(name, None)
        out.problem(name, "bad_date", value=repr(raw))
        return None
    out.values[name] = parsed
    return parsed


def parse_date(raw: str) -> dt.date | None:
    """``YYYY-MM-DD`` in ASCII digits → a date; None for anything else: the one date parser
    of everything that comes in (files, the API, forms, query arguments).

    >>> parse_date("2026-03-01"), parse_date("2026-02-30"), parse_date("20260301"), parse_date("２０２６-03-01")
    (datetime.date(2026, 3, 1), None, None, None)
    """
    if not DATE_RE.match(raw):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def choice(
    out: Checked, data: Mapping[str, Any], name: str, vocab: model.Vocabulary, required: bool = False
) -> str | None:
    """One of a vocabulary's values (or its aliases), canonical."""
    raw = text(out, data, name, required)
    if raw is None:
        return None
    canonical = model.normalise(vocab, raw)
    if canonical is None:
        out.values.pop(name, None)
        out.problem(name, "bad_choice", value=repr(raw), choices=vocab.describe())
        return None
    out.values[name] = canonical
    return canonical


def yes_no(out: Checked, data: Mapping[str, Any], name: str, default: bool = False) -> bool | None:
    """A yes/no (true/false, 예/아니요 …, or a JSON boolean); empty is ``default``."""
    value = _raw(data, name)
    if isinstance(value, bool):
        out.values[name] = value
        return value
    if value in (None, ""):
        out.values[name] = default
        return default
    answer = choice(out, data, name, model.YES_NO)
    if answer is None:
        return None
    flag = answer == "true"
    out.values[name] = flag
    return flag


def materials(out: Checked, data: Mapping[str, Any], name: str = "materials") -> str | None:
    """``item:count;item:count`` (or a mapping of counts) → canonical text; empty is None."""
    raw = _raw(data, name)
    if raw in (None, "", {}):
        out.values[name] = None
        return None
    if isinstance(raw, Mapping):
        if not all(isinstance(k, str) and isinstance(n, int) and not isinstance(n, bool) for k, n in raw.items()):
            out.problem(name, "bad_materials", value=repr(raw)[:60])
            return None
        raw = ";".join(f"{k}:{n}" for k, n in raw.items())
    value = text(out, {name: raw}, name)
    if value is None:
        return None
    canonical, problem = parse_materials(value)
    if problem is not None:
        out.values.pop(name, None)
        out.problems.append(problem)
        return None
    out.values[name] = canonical
    return canonical


def parse_materials(raw: str) -> tuple[str | None, Problem | None]:
    """Canonical ``item:n;item:n`` text, or the problem.

    >>> parse_materials(" bible : 1 ; 찬송가:2 ")
    ('bible:1;찬송가:2', None)
    >>> parse_materials("bible:0")[1].english()
    "materials 'bible:0': quantity must be at least 1"
    """
    items: list[str] = []
    seen: set[str] = set()
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, qty = (p.strip() for p in part.partition(":"))
        if not name or not MATERIAL_RE.match(f"{name}:{qty}"):
            return None, Problem("materials", "bad_materials", {"value": repr(raw)})
        if int(qty) < 1:
            return None, Problem("materials", "materials_zero", {"value": repr(raw)})
        if name in seen:
            return None, Problem("materials", "materials_twice", {"value": repr(raw), "item": repr(name)})
        seen.add(name)
        items.append(f"{name}:{int(qty)}")
    return (";".join(items) or None), None


def _unknown(out: Checked, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for name in data:
        if name not in known:
            out.problem(str(name)[:40], "unknown_field", value=repr(str(name)[:40]))


# --- records -------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = ("id", "code", "district", "arrived_on", "status", "women_only")
PERSON_FIELDS = ("id", "code_name", "household_id", "legal_name", "phone", "address")
# the identity fields of a person, from the registry of encrypted fields (crypto.ENCRYPTED_FIELDS)
IDENTITY_FIELDS = fields_of("Person", (FieldKind.IDENTITY,))
INTRODUCTION_FIELDS = ("introducer_id", "introduced_id", "introduced_on", "relation")
VISIT_FIELDS = ("id", "household_id", "visitor", "visited_on", "outcome", "materials", "notes", "follow_up_on")
USER_FIELDS = ("username", "role", "districts", "person_id", "gender")


def household(data: Mapping[str, Any], partial: bool = False, strict: bool = False) -> Checked:
    """A household: id, code, district, status required (unless ``partial``: only the fields
    given are checked, for a correction); arrived_on, women_only optional. ``strict``:
    a field that is not a household's is a problem (the API), not ignored (a CSV column)."""
    out = Checked()
    need = not partial
    if strict:
        _unknown(out, data, HOUSEHOLD_FIELDS)
    if need or "id" in data:
        ident(out, data, "id", need)
    if need or "code" in data:
        text(out, data, "code", need)
    if need or "district" in data:
        text(out, data, "district", need)
    if need or "arrived_on" in data:
        date(out, data, "arrived_on")
    if need or "status" in data:
        choice(out, data, "status", model.HOUSEHOLD_STATUS, need)
    if need or "women_only" in data:
        yes_no(out, data, "women_only")
    return out


def person(data: Mapping[str, Any], partial: bool = False, strict: bool = False) -> Checked:
    """A person: id, code_name, household_id required (unless ``partial``); the identity
    fields legal_name, phone, address optional (the caller encrypts them)."""
    out = Checked()
    need = not partial
    if strict:
        _unknown(out, data, PERSON_FIELDS)
    if need or "id" in data:
        ident(out, data, "id", need)
    if need or "code_name" in data:
        text(out, data, "code_name", need)
    if need or "household_id" in data:
        ident(out, data, "household_id", need)
    for name in IDENTITY_FIELDS:
        if need or name in data:
            out.values[name] = phone(out, data, name) if name == "phone" else text(out, data, name)
    return out


def introduction(data: Mapping[str, Any], strict: bool = False) -> Checked:
    """An introduction: introducer_id, introduced_id (not the same person), relation;
    introduced_on optional."""
    out = Checked()
    if strict:
        _unknown(out, data, INTRODUCTION_FIELDS)
    a = ident(out, data, "introducer_id", True)
    b = ident(out, data, "introduced_id", True)
    date(out, data, "introduced_on")
    choice(out, data, "relation", model.RELATION, True)
    out.values.setdefault("introduced_on", None)
    if a is not None and a == b:
        out.problem("introduced_id", "self_introduction", value=repr(a))
    return out


def visit(data: Mapping[str, Any], with_id: bool = True, strict: bool = False) -> Checked:
    """A visit: household_id, visitor (unless not ``with_id``: the API knows both), visited_on,
    outcome required; materials, notes, follow_up_on (not before visited_on) optional."""
    out = Checked()
    if strict:
        _unknown(out, data, VISIT_FIELDS if with_id else tuple(f for f in VISIT_FIELDS if f not in ("id", "visitor")))
    if with_id:
        ident(out, data, "id", True)
    ident(out, data, "household_id", True)
    if with_id:
        ident(out, data, "visitor", True, username=True)
    on = date(out, data, "visited_on", True)
    choice(out, data, "outcome", model.VISIT_OUTCOME, True)
    materials(out, data)
    out.values["notes"] = text(out, data, "notes")
    follow_up = date(out, data, "follow_up_on")
    out.values.setdefault("follow_up_on", None)
    if follow_up is not None and on is not None and follow_up < on:
        out.values["follow_up_on"] = None
        out.problem("follow_up_on", "follow_up_before_visit", follow_up_on=follow_up, visited_on=on)
    return out


# --- a visit report and what it brought back ----------------------------------------------

REPORT_EXTRAS = ("met", "new_members", "introductions")
REPORT_FIELDS = (*(f for f in VISIT_FIELDS if f not in ("id", "visitor")), *REPORT_EXTRAS)
NEW_MEMBER_FIELDS = ("code_name", "legal_name", "phone")
INTRODUCED_FIELDS = (
    "introducer_id",
    "code_name",
    "relation",
    "district",
    "women_only",
    "legal_name",
    "phone",
    "address",
    "note",
)


def _entries(out: Checked, data: Mapping[str, Any], name: str) -> list[Any]:
    """The list under ``name`` (absent or null: empty), at most ``MAX_ITEMS`` long."""
    raw = data.get(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        out.problem(name, "not_list")
        return []
    if len(raw) > MAX_ITEMS:
        out.problem(name, "too_many", max=MAX_ITEMS)
        return []
    return raw


def _entry(out: Checked, where: str, raw: Any, known: tuple[str, ...], check: Any) -> dict[str, Any] | None:
    """One object of a list, checked by ``check`` (a function filling a Checked); its
    problems named ``where.field`` (e.g. ``introductions[1].district``)."""
    if not isinstance(raw, Mapping):
        out.problem(where, "not_object")
        return None
    inner = Checked()
    _unknown(inner, raw, known)
    check(inner, raw)
    for p in inner.problems:
        out.problems.append(Problem(f"{where}.{p.field}", p.code, p.values))
    return inner.values if inner.ok else None


def _new_member(out: Checked, data: Mapping[str, Any]) -> None:
    text(out, data, "code_name", True)
    out.values["legal_name"] = text(out, data, "legal_name")
    out.values["phone"] = phone(out, data)


def _introduced(out: Checked, data: Mapping[str, Any]) -> None:
    ident(out, data, "introducer_id", True)
    _new_member(out, data)
    choice(out, data, "relation", model.RELATION, True)
    text(out, data, "district", True)
    yes_no(out, data, "women_only")
    out.values["address"] = text(out, data, "address")
    out.values["note"] = text(out, data, "note")


def visit_report(data: Mapping[str, Any]) -> Checked:
    """A visitor's report: a visit (without id and visitor: the caller knows both; the
    household by id or code), and what the visit brought back, each optional:

    - ``met``: ids of the household's people who were there;
    - ``new_members``: people of the household met for the first time (code_name; the
      identity fields legal_name, phone);
    - ``introductions``: households introduced at the visit, each its first person
      (introducer_id, code_name, relation, district, women_only, legal_name, phone, address,
      note).

    A problem in a list names its place: ``met[0]``, ``introductions[1].district``. Whether an
    id is a person of the household, or a district exists, is the write service's check.

    >>> bad = visit_report({"household_id": "h-1", "visited_on": "2026-01-02", "outcome": "met",
    ...     "introductions": [{"introducer_id": "p-1", "code_name": "별", "relation": "friend",
    ...                        "district": "노원"}, {"code_name": "", "relation": "x"}]})
    >>> [p.field.removeprefix("introductions[1].") for p in bad.problems]
    ['introducer_id', 'code_name', 'relation', 'district']
    """
    base = {k: v for k, v in data.items() if k not in REPORT_EXTRAS}
    out = visit(base, with_id=False, strict=True)
    met: list[str] = []
    for i, raw in enumerate(_entries(out, data, "met")):
        where = f"met[{i}]"
        value = ident(out, {where: raw}, where, True)
        out.values.pop(where, None)
        if value is not None and value in met:
            out.problem(where, "listed_twice", value=repr(value))
        elif value is not None:
            met.append(value)
    members = [
        _entry(out, f"new_members[{i}]", raw, NEW_MEMBER_FIELDS, _new_member)
        for i, raw in enumerate(_entries(out, data, "new_members"))
    ]
    intros = [
        _entry(out, f"introductions[{i}]", raw, INTRODUCED_FIELDS, _introduced)
        for i, raw in enumerate(_entries(out, data, "introductions"))
    ]
    seen: dict[tuple[str, str], int] = {}
    for i, intro in enumerate(intros):  # one new person introduced twice: two introducers
        if intro is not None:
            key = (intro["district"], "".join(intro["code_name"].split()))
            if key in seen:
                out.problem(f"introductions[{i}].code_name", "listed_twice", value=repr(intro["code_name"]))
            seen.setdefault(key, i)
    out.values["met"] = met
    out.values["new_members"] = [m for m in members if m is not None]
    out.values["introductions"] = [x for x in intros if x is not None]
    return out


def user(data: Mapping[str, Any], strict: bool = False) -> Checked:
    """An account's record as files carry it: username, role required; districts (a list, or
    text separated by ';'; roles that are not of every district need one), person_id, gender."""
    out = Checked()
    if strict:
        _unknown(out, data, USER_FIELDS)
    ident(out, data, "username", True, username=True)
    role = choice(out, data, "role", model.ROLE, True)
    raw = _raw(data, "districts")
    parts = raw if isinstance(raw, list) else (text(out, {"districts": raw}, "districts") or "").split(";")
    districts = [d.strip() for d in parts if isinstance(d, str) and d.strip()]
    out.values["districts"] = districts
    if role is not None and access.REGISTRY[role].needs_districts and not districts:
        out.problem("districts", "needs_district", role=role)
    if role is not None and access.REGISTRY[role].org_scoped:  # issue 16: not from a file (no organisation)
        out.problem("role", "org_role", role=role)
    out.values["person_id"] = ident(out, data, "person_id") if _raw(data, "person_id") else None
    out.values["gender"] = choice(out, data, "gender", model.GENDER) if _raw(data, "gender") else None
    return out


ACCOUNT_CHANGE_FIELDS = ("role", "districts", "add_districts", "remove_districts", "gender", "enabled")


def _district_list(out: Checked, data: Mapping[str, Any], name: str) -> list[str] | None:
    """A list of districts (null: none), each checked as text; empty ones are left out."""
    raw = data.get(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        out.problem(name, "not_list")
        return None
    if len(raw) > 50:
        out.problem(name, "too_many", max=50)
        return None
    districts: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            out.problem(name, "not_text")
            return None
        one = Checked()
        value = text(one, {name: item}, name)
        if one.problems:
            out.problems.extend(one.problems)
            return None
        if value and value not in districts:
            districts.append(value)
    return districts


def user_change(data: Mapping[str, Any]) -> Checked:
    """A change of an account (the CLI's ``users set``, the account pages, ``PATCH
    /api/v1/users/<name>``): only the fields given are in ``values``. ``districts`` replaces
    the list; ``add_districts`` / ``remove_districts`` edit it; ``gender`` empty or null
    clears it (unknown: no women-only households). Whether a district exists, and whether
    the result is an account that can work, is the service's check (graphsvc/team.py).

    >>> user_change({"gender": "여", "add_districts": [" 서울 노원구", "경기 안산시", ""]}).values
    {'add_districts': ['서울 노원구', '경기 안산시'], 'gender': 'f'}
    >>> [p.field for p in user_change({"role": "boss", "gender": "x", "enabled": "maybe", "x": 1}).problems]
    ['x', 'role', 'gender', 'enabled']
    """
    out = Checked()
    _unknown(out, data, ACCOUNT_CHANGE_FIELDS)
    if "role" in data:
        choice(out, data, "role", model.ROLE, True)
    for name in ("districts", "add_districts", "remove_districts"):
        if name in data:
            districts = _district_list(out, data, name)
            if districts is not None:
                out.values[name] = districts
    if "gender" in data:
        if _raw(data, "gender") in (None, ""):
            out.values["gender"] = None
        else:
            choice(out, data, "gender", model.GENDER)
    if "enabled" in data:
        if _raw(data, "enabled") in (None, ""):
            out.problem("enabled", "empty")
        else:
            yes_no(out, data, "enabled")
    return out


# --- the household desk (graphsvc/desk.py): corrections, transfers, members, introducers ---

#: The statuses a coordinator sets on the desk (pending and rejected belong to intake).
DESK_STATUSES = ("active", "moved", "closed", "do_not_visit")
HOUSEHOLD_EDIT_FIELDS = ("status", "status_reason", "women_only", "arrived_on")
NEW_HOUSEHOLD_FIELDS = ("code", "district", "arrived_on", "status", "women_only")
TRANSFER_FIELDS = ("district", "reason")
MEMBER_FIELDS = ("code_name", "legal_name", "phone", "address")
PERSON_EDIT_FIELDS = MEMBER_FIELDS
MOVE_FIELDS = ("household",)
INTRODUCER_FIELDS = ("introducer", "on", "relation", "replaces")

MESSAGES.update(
    {
        "desk_status": N_("%(field)s %(value)s is not one of: %(choices)s"),
        "same_district": N_("%(field)s: the household is already in %(value)s"),
        "status_needs_reason": N_("a change of status needs a reason (%(field)s)"),
        "cycle": N_("%(field)s: this introduction would close a cycle: %(value)s"),
        "second_introducer": N_(
            "%(field)s: %(value)s already has an introducer (%(current)s); a person has one introducer: "
            "change it on purpose (replaces)"
        ),
    }
)


def _desk_status(out: Checked, data: Mapping[str, Any], required: bool = False) -> None:
    status = choice(out, data, "status", model.HOUSEHOLD_STATUS, required)
    if status is not None and status not in DESK_STATUSES:
        out.values.pop("status", None)
        out.problem("status", "desk_status", value=repr(status), choices=", ".join(DESK_STATUSES))


def household_edit(data: Mapping[str, Any]) -> Checked:
    """A correction on the desk: only the fields given (status among ``DESK_STATUSES``,
    status_reason, women_only, arrived_on); any other field is a problem.

    >>> household_edit({"status": "이사", "status_reason": " 부산으로 이사 "}).values
    {'status': 'moved', 'status_reason': '부산으로 이사'}
    >>> [p.field for p in household_edit({"status": "pending", "women_only": {"x": 1}, "code": "H-9"}).problems]
    ['code', 'status', 'women_only']
    """
    out = Checked()
    _unknown(out, data, HOUSEHOLD_EDIT_FIELDS)
    if "status" in data:
        _desk_status(out, data, True)
    if "status_reason" in data:
        text(out, data, "status_reason")
    if "women_only" in data:
        yes_no(out, data, "women_only")
    if "arrived_on" in data:
        date(out, data, "arrived_on")
    return out


def new_household(data: Mapping[str, Any]) -> Checked:
    """A household created on the desk: district required; code (empty: the next free
    one), arrived_on, status (default active; among ``DESK_STATUSES``), women_only."""
    out = Checked()
    _unknown(out, data, NEW_HOUSEHOLD_FIELDS)
    text(out, data, "district", True)
    code = text(out, data, "code")
    if code is not None and not ID_RE.match(code):
        out.values.pop("code", None)
        out.problem("code", "bad_id", value=repr(code))
    date(out, data, "arrived_on")
    out.values.setdefault("arrived_on", None)
    if _raw(data, "status") in (None, ""):
        out.values["status"] = "active"
    else:
        _desk_status(out, data)
    yes_no(out, data, "women_only")
    return out


def transfer(data: Mapping[str, Any]) -> Checked:
    """A transfer: the district it goes to (required), a reason (optional)."""
    out = Checked()
    _unknown(out, data, TRANSFER_FIELDS)
    text(out, data, "district", True)
    text(out, data, "reason")
    return out


def member(data: Mapping[str, Any], partial: bool = False) -> Checked:
    """A member added on the desk (code_name required; identity fields optional), or,
    ``partial``, a correction of the fields given. The household comes from the route."""
    out = Checked()
    _unknown(out, data, MEMBER_FIELDS)
    if not partial or "code_name" in data:
        text(out, data, "code_name", True)
    for name in IDENTITY_FIELDS:
        if not partial or name in data:
            out.values[name] = phone(out, data, name) if name == "phone" else text(out, data, name)
    return out


def move(data: Mapping[str, Any]) -> Checked:
    """Where a person moves: the household by id or code."""
    out = Checked()
    _unknown(out, data, MOVE_FIELDS)
    ident(out, data, "household", True)
    return out


def introducer_change(data: Mapping[str, Any]) -> Checked:
    """``PUT /api/v1/people/<id>/introducer``: introducer (a person id, or null to remove),
    on (date, optional), relation (required with an introducer), replaces (the introducer
    the caller means to replace; optional).

    >>> introducer_change({"introducer": None}).values
    {'introducer': None, 'on': None, 'relation': None, 'replaces': None}
    >>> [p.field for p in introducer_change({"introducer": "p-1", "relation": "uncle", "x": 1}).problems]
    ['x', 'relation']
    """
    out = Checked()
    _unknown(out, data, INTRODUCER_FIELDS)
    if "introducer" not in data:
        out.problem("introducer", "empty")
    who = ident(out, data, "introducer")
    date(out, data, "on")
    out.values.setdefault("on", None)
    if who is not None:
        choice(out, data, "relation", model.RELATION, True)
    else:
        out.values["relation"] = None
    out.values["replaces"] = ident(out, data, "replaces")
    return out
