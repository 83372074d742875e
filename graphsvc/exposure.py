"""The exposure of a lost phone or a compromised account (issue 15 §4).

From the audit log and the graph: every household and person an account was shown since a
day, which of them with identity or contact, and who else is one introduction away from
them, grouped by district, so that coordinators can warn the right people first.

What counts as *shown*: the targets of the account's events with outcome ``ok`` since the
day (web/guard.py ``audit_shown`` puts every record id an answer showed among its event's
targets, graphsvc/shown.py). Targets that are not households or people (visits, claims,
usernames) are left out.

Levels, most exposed first:

``contact``   an address or phone was revealed (``household.contact.read``, graphsvc/visits.py)
``identity``  decrypted identity fields were shown (``household.identity.read``)
``shown``     code and code name were shown (every other event)
``linked``    not shown, but one introduction away from someone who was (their introducer,
              someone they introduced) or of the same household as someone (or a household)
              that was

An identity or contact event names the household read and the ids the page showed beside it
(an introducer in another household, say): the household and its own people take the
event's level, the rest of its targets count as shown. A household takes the highest level
of its own and of its people; a person shown is never also counted as linked.

>>> LEVELS
('contact', 'identity', 'shown', 'linked')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import access, audit
from .errors import Refused
from .model import USERNAME_RE

if TYPE_CHECKING:
    from .db import Database

LEVELS = ("contact", "identity", "shown", "linked")
RANK = {level: len(LEVELS) - i for i, level in enumerate(LEVELS)}  # contact 4 … linked 1
#: The actions whose events revealed contact (address, phone) or identity.
CONTACT_ACTIONS = (access.HOUSEHOLD_CONTACT_READ.value,)
IDENTITY_ACTIONS = (access.HOUSEHOLD_IDENTITY_READ.value,)
#: Events that took data out in bulk without naming it (a full export): listed apart.
BULK_ACTIONS = ("export", "export.start", "audit.export")
RELATIONS = ("introducer", "introduced", "household")
DEFAULT_DAYS = 30  # since when, when no day is given
ACTION = "exposure.read"  # the audit action of a report shown
EXPORT_ACTION = "exposure.export"  # … and of its CSV

CSV_COLUMNS = (
    "district",
    "household_code",
    "household_id",
    "household_level",
    "code_name",
    "person_id",
    "level",
    "last_shown",
    "times",
    "linked_through",
)


@dataclass
class _Seen:
    last_at: str
    first_at: str
    times: int
    level: str = "shown"


def _bound(day: dt.date) -> str:
    return audit.timestamp(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def check_user(db: Database, username: str | None) -> str:
    """The account asked for: Refused invalid (field ``user``) when it is empty or not a
    username, not_found when there is no such account."""
    if not username:
        raise Refused("invalid", "a username is needed", "user", code="user_missing")
    if not USERNAME_RE.match(username):
        raise Refused("invalid", "not a username", "user", code="user_invalid")
    rows = db.read("user_get", username=username)
    if not rows:
        raise Refused("not_found", "no such account", "user", (username,))
    return username


def report(
    db: Database, username: str | None, since: dt.date | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """The exposure of ``username`` since the day ``since`` (UTC midnight, as the audit log's
    filters; default ``DEFAULT_DAYS`` before ``today``) up to now.

    ``{user, since, events, totals, districts: [{district, counts, households: [...]}],
    bulk: [...]}``, districts and households most exposed first. Each household: ``{id,
    code, district, level, shown, last_shown, times, people: [{id, code_name, level,
    last_shown, times, via: [{via_id, relation}]}]}``.
    """
    username = check_user(db, username)
    today = today or dt.datetime.now(dt.UTC).date()
    since = since if since is not None else today - dt.timedelta(days=DEFAULT_DAYS)
    try:
        audit.flush(db)  # what the journal holds goes into the chain first
    except audit.AuditError:
        pass  # the chain refuses them: report what it holds (audit verify names the damage)
    row = db.read(
        "exposure_events",
        actor=username,
        since=_bound(since),
        until="9999",  # every event up to now (at is an ISO time: any year sorts below "9999")
        marked=list(CONTACT_ACTIONS + IDENTITY_ACTIONS),
        bulk=list(BULK_ACTIONS),
    )[0]
    seen = {t: _Seen(last, first, times) for t, last, first, times in row["targets"]}
    households = {h: {"id": h, "code": code, "district": district} for h, code, district in row["households"]}
    people = {
        p: {"id": p, "code_name": name, "household_id": hid, "code": code, "district": district}
        for p, name, hid, code, district in row["people"]
    }
    _mark(seen, row["marked"], households, people)
    links = db.read("exposure_introductions", people=list(people))[0]["links"]
    links.extend(_housemates(db, households, people))
    answer = _assemble(seen, households, people, links)
    answer.update(
        user=username,
        since=since.isoformat(),
        events=row["events"],
        bulk=[{"action": a, "at": at, "detail": detail} for a, at, detail in row["bulk"]],
    )
    return answer


def _housemates(
    db: Database, households: dict[str, dict[str, Any]], people: dict[str, dict[str, Any]]
) -> list[list[Any]]:
    """The people not shown of the households shown and of the households of the people
    shown, as links (the rows of ``exposure_introductions``): through each person shown of
    their household, and through the household itself when it was shown."""
    shown_in: dict[str, list[str]] = {}
    where: dict[str, tuple[str | None, str | None]] = {}
    for pid, p in people.items():
        if p["household_id"]:
            shown_in.setdefault(p["household_id"], []).append(pid)
            where[p["household_id"]] = (p["code"], p["district"])
    for hid, h in households.items():
        where[hid] = (h["code"], h["district"])
    links: list[list[Any]] = []
    for pid, name, hid in db.read("exposure_members", households=list(where))[0]["members"]:
        if pid in people:
            continue
        code, district = where[hid]
        for via in shown_in.get(hid, ()):
            links.append([pid, name, hid, code, district, via, "household"])
        if hid in households:
            links.append([pid, name, hid, code, district, hid, "household"])
    return links


def _mark(
    seen: dict[str, _Seen],
    marked: Iterable[list[Any]],
    households: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
) -> None:
    """Raise the level of the households an identity or contact event read, and of their
    own people among its targets (see the module)."""
    for action, _at, targets in marked:
        level = "contact" if action in CONTACT_ACTIONS else "identity"
        read = {t for t in targets if t in households}
        for t in targets:
            person = people.get(t)
            if t not in seen:
                continue
            if t in read or (person is not None and person["household_id"] in read):
                if RANK[level] > RANK[seen[t].level]:
                    seen[t].level = level


def _assemble(
    seen: dict[str, _Seen],
    households: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    links: Iterable[list[Any]],
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}

    def household_row(hid: str | None, code: str | None, district: str | None) -> dict[str, Any]:
        key = hid or "~none"
        if key not in rows:
            rows[key] = {
                "id": hid,
                "code": code,
                "district": district or "",
                "level": "linked",
                "shown": False,
                "last_shown": None,
                "times": 0,
                "people": {},
            }
        return rows[key]

    def lift(target: dict[str, Any], level: str, last: str | None) -> None:
        if RANK[level] > RANK[target["level"]]:
            target["level"] = level
        if last and (target["last_shown"] is None or last > target["last_shown"]):
            target["last_shown"] = last

    for hid, h in households.items():
        s = seen[hid]
        row = household_row(hid, h["code"], h["district"])
        row["shown"], row["times"] = True, s.times
        lift(row, s.level, s.last_at)
    for pid, p in people.items():
        s = seen[pid]
        row = household_row(p["household_id"], p["code"], p["district"])
        row["people"][pid] = {
            "id": pid,
            "code_name": p["code_name"],
            "level": s.level,
            "last_shown": s.last_at,
            "times": s.times,
            "via": [],
        }
        lift(row, s.level, s.last_at)
    for pid, name, hid, code, district, via, relation in links:
        if pid in people:
            continue  # shown themselves
        row = household_row(hid, code, district)
        person = row["people"].setdefault(
            pid, {"id": pid, "code_name": name, "level": "linked", "last_shown": None, "times": 0, "via": []}
        )
        link = {"via_id": via, "relation": relation}
        if link not in person["via"]:
            person["via"].append(link)
    districts: dict[str, list[dict[str, Any]]] = {}
    for row in rows.values():
        row["people"] = list(row["people"].values())
        _most_exposed_first(row["people"])
        for person in row["people"]:
            person["via"].sort(key=lambda v: (RELATIONS.index(v["relation"]), v["via_id"]))
        districts.setdefault(row["district"], []).append(row)
    groups: list[dict[str, Any]] = []
    for district, members in districts.items():
        _most_exposed_first(members)
        counts = _counts(members)
        groups.append({"district": district, "counts": counts, "households": members})
    groups.sort(key=lambda g: (*(-g["counts"][k] for k in _COUNT_ORDER), g["district"]))
    return {"totals": _counts([h for g in groups for h in g["households"]]), "districts": groups}


_COUNT_ORDER = ("contact", "identity", "shown", "linked")


def _most_exposed_first(items: list[dict[str, Any]]) -> None:
    """Most exposed first, then the most recently shown, then by code (code name): three
    stable sorts, the last key first."""
    items.sort(key=lambda x: (x.get("code") or x.get("code_name") or "", x.get("id") or ""))
    items.sort(key=lambda x: x.get("last_shown") or "", reverse=True)
    items.sort(key=lambda x: RANK[x["level"]], reverse=True)


def _counts(households: list[dict[str, Any]]) -> dict[str, int]:
    """How many households and people at each level, and how many people in all."""
    out = {level: 0 for level in LEVELS}
    out.update(households=len(households), people=0, people_shown=0, people_linked=0)
    for h in households:
        out[h["level"]] += 1
        for p in h["people"]:
            out["people"] += 1
            out["people_linked" if p["level"] == "linked" else "people_shown"] += 1
    return out


def csv_rows(answer: dict[str, Any]) -> list[list[Any]]:
    """The report as CSV rows (CSV_COLUMNS), one per person (a household shown without any
    of its people listed: one row with empty person cells); write them with
    graphsvc.csvio.writer, which makes every cell spreadsheet-safe."""
    names = {p["id"]: p["code_name"] for g in answer["districts"] for h in g["households"] for p in h["people"]}
    codes = {h["id"]: h["code"] for g in answer["districts"] for h in g["households"]}
    out: list[list[Any]] = []
    for g in answer["districts"]:
        for h in g["households"]:
            base = [g["district"], h["code"], h["id"], h["level"]]
            if not h["people"]:
                out.append([*base, None, None, None, h["last_shown"], h["times"], None])
            for p in h["people"]:
                via = ";".join(f"{v['relation']}:{names.get(v['via_id']) or codes.get(v['via_id'])}" for v in p["via"])
                out.append([*base, p["code_name"], p["id"], p["level"], p["last_shown"], p["times"], via or None])
    return out
