"""CSV → validated rows → batched writes.

``validate`` reads a folder of CSV files and checks every row, against the other files and
against what the database already holds, before anything is written. Each problem is a
``file:line: reason``. Only when there is none does ``write`` send the rows to Neo4j, in
batches of ``UNWIND`` statements (one transaction per batch), in the order in which rows
refer to each other. Every write is an upsert by id, so importing the same files twice
changes nothing, and an import interrupted half-way (a lost connection) completes when it
is run again.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import audit, chains, csvio, network, personkeys, records, suggest
from .crypto import KeyringError, blind_indexes, encrypt_record, fields_of, is_encrypted
from .csvio import TABLES
from .model import Actor

if TYPE_CHECKING:
    import neo4j

    from .crypto import Keyring
    from .db import Database


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Plan:
    """Validated rows ready to write, or the problems that forbid writing."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # people.csv rows that may be people already known (check_duplicates): problems too
    # unless the import allows duplicates
    duplicates: list[Problem] = field(default_factory=list)
    placed: bool = False  # the household rows carry the chain index (no refresh needed)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


class Lookup:
    """What the validator asks of the database; the database-free variant knows nothing."""

    def households(self, ids: list[str]) -> set[str]:
        return set()

    def household_codes(self, codes: list[str]) -> dict[str, str]:
        return {}

    def people(self, ids: list[str]) -> set[str]:
        return set()

    def users(self, usernames: list[str]) -> set[str]:
        return set()

    def introductions(self) -> dict[str, str]:
        """introduced id → introducer id, for every introduction already stored."""
        return {}

    def has_chains(self) -> bool:
        """Whether the database holds any introduction or stored chain placement."""
        return False

    def districts_of(self, kind: str, ids: list[str]) -> dict[str, str | None]:
        """id → district of the stored households, people (their household's) or visits
        (``kind``) among ``ids``; a district-scoped import asks (``_check_districts``)."""
        return {}


class DatabaseLookup(Lookup):
    def __init__(self, db: Database) -> None:
        self.db = db

    def households(self, ids: list[str]) -> set[str]:
        return {r["id"] for r in self.db.read("known_households", ids=ids)} if ids else set()

    def household_codes(self, codes: list[str]) -> dict[str, str]:
        return {r["code"]: r["id"] for r in self.db.read("known_household_codes", codes=codes)} if codes else {}

    def people(self, ids: list[str]) -> set[str]:
        return {r["id"] for r in self.db.read("known_people", ids=ids)} if ids else set()

    def users(self, usernames: list[str]) -> set[str]:
        return {r["username"] for r in self.db.read("known_users", usernames=usernames)} if usernames else set()

    def introductions(self) -> dict[str, str]:
        return {r["introduced_id"]: r["introducer_id"] for r in self.db.stream("known_introductions")}

    def has_chains(self) -> bool:
        any_chain: bool = self.db.read("known_any_chain")[0]["any"]
        return any_chain

    def districts_of(self, kind: str, ids: list[str]) -> dict[str, str | None]:
        statement = {"households": "scope_households", "people": "scope_people", "visits": "scope_visits"}[kind]
        return {r["id"]: r["district"] for r in self.db.read(statement, ids=ids)} if ids else {}


# --- field checks ----------------------------------------------------------------------


class _Rows:
    """Validation of one file: collects problems with the file name and line."""

    def __init__(self, plan: Plan, table: csvio.Table):
        self.plan = plan
        self.table = table
        self.file = table.filename

    def problem(self, line: int, message: str) -> None:
        self.plan.problems.append(Problem(self.file, line, message))

    def checked(self, line: int, checked: records.Checked) -> records.Checked:
        """A record checked by graphsvc/records.py, its problems put on this file's line."""
        for p in checked.problems:
            self.problem(line, p.english())
        return checked


# --- reading ---------------------------------------------------------------------------


def read_folder(folder: Path, plan: Plan) -> dict[str, list[tuple[int, dict[str, str]]]]:
    """Read every CSV file of the format that the folder holds; header problems go to the plan."""
    raw: dict[str, list[tuple[int, dict[str, str]]]] = {}
    if not folder.is_dir():
        plan.problems.append(Problem(str(folder), 0, "no such folder"))
        return raw
    for name, table in TABLES.items():
        path = folder / table.filename
        if not path.exists():
            if name in csvio.REQUIRED_FILES:
                plan.problems.append(Problem(table.filename, 0, "file is missing"))
            continue
        try:
            header, lines = csvio.read_rows(path)
            rows = list(lines)
        except UnicodeDecodeError as exc:
            plan.problems.append(Problem(table.filename, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            continue
        except Exception as exc:  # csv.Error: a malformed quote and the like
            plan.problems.append(Problem(table.filename, 0, f"not a readable CSV file: {exc}"))
            continue
        if not header:
            plan.problems.append(Problem(table.filename, 1, "file is empty (no header line)"))
            continue
        missing = [c for c in table.required if c not in header]
        if missing:
            plan.problems.append(Problem(table.filename, 1, f"missing column(s): {', '.join(missing)}"))
            continue
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            plan.problems.append(Problem(table.filename, 1, f"column(s) named twice: {', '.join(dupes)}"))
            continue
        extra = [h for h in header if h not in table.columns]
        if extra:
            plan.notices.append(f"{table.filename}: ignored column(s): {', '.join(extra)}")
        raw[name] = []
        for line, row in rows:
            if "__width__" in row:
                plan.problems.append(
                    Problem(
                        table.filename, line, f"{row['__width__']} values, but the header has {len(header)} columns"
                    )
                )
                continue
            raw[name].append((line, row))
    return raw


# --- validation ------------------------------------------------------------------------


def validate(folder: Path, lookup: Lookup | None = None, districts: Collection[str] | None = None) -> Plan:
    """Check every file of ``folder``; return the rows to write or the problems found.

    With ``districts`` (a coordinator's import), every row may touch only records of those
    districts: what it names, and what it would change (``_check_districts``)."""
    lookup = lookup or Lookup()
    plan = Plan()
    # Validation allocates about a million small dicts for a large import: the cyclic
    # garbage collector would walk them thousands of times for nothing (bench: 6.2 → 3.5 s).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _validate(folder, lookup, plan, districts)
    finally:
        if gc_was_enabled:
            gc.enable()


def _validate(folder: Path, lookup: Lookup, plan: Plan, districts: Collection[str] | None = None) -> Plan:
    raw = read_folder(folder, plan)
    if any(p.line <= 1 for p in plan.problems):
        return plan  # unreadable files or headers first: rows checked against them would only add noise

    users = _validate_users(plan, raw.get("users", []))
    households = _validate_households(plan, raw.get("households", []), lookup)
    people = _validate_people(plan, raw.get("people", []), households, lookup)
    _check_user_people(plan, raw.get("users", []), users, people, lookup)
    introductions = _validate_introductions(plan, raw.get("introductions", []), people, lookup)
    visits = _validate_visits(plan, raw.get("visits", []), households, users, lookup)
    if districts is not None:
        introductions, visits = _check_districts(
            plan, set(districts), raw.get("users", []), users, households, people, introductions, visits, lookup
        )
        _scrub_outside(plan, set(districts), raw, lookup)

    plan.problems.sort(key=lambda p: (list(TABLES).index(p.file[:-4]) if p.file[:-4] in TABLES else -1, p.line))
    _place_households(plan, households, people, introductions, visits, lookup)
    plan.rows = {
        "users": list(users.values()),
        "households": list(households.values()),
        "people": list(people.values()),
        "introductions": introductions,
        "visits": visits,
    }
    return plan


def _place_households(
    plan: Plan,
    households: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    introductions: list[dict[str, Any]],
    visits: list[dict[str, Any]],
    lookup: Lookup,
) -> None:
    """Put the chain index (chains.py) into the household rows when the files alone decide it.

    That is the case for a first import: the database holds no introduction and no
    placement yet, and every introduction and person refers to rows of these files. Then
    the placements travel with the household upserts for free; otherwise ``write`` runs
    ``chains.refresh`` after the rows are in (bench/RESULTS.md: 7.6 s for 100,000
    households, most of a first import's extra cost if it ran there).
    """
    if not plan.ok or any(p["household_id"] not in households for p in people.values()):
        return
    if any(i[k] not in people for i in introductions for k in ("introducer_id", "introduced_id")):
        return
    if any(v["household_id"] not in households for v in visits):
        return
    if lookup.has_chains():
        return
    forest = network.household_forest(
        (
            people[i["introduced_id"]]["household_id"],
            people[i["introducer_id"]]["household_id"],
            i["introduced_on"],
            i["introduced_id"],
        )
        for i in introductions
    )
    by_household: dict[str, list[dict[str, Any]]] = {}
    for v in visits:
        by_household.setdefault(v["household_id"], []).append(v)
    for hid, row in households.items():
        p = forest.get(hid)
        row.update(
            placed=True,
            parent=p.parent if p else None,
            chain=p.chain if p else None,
            wave=p.wave if p else None,
            joined_on=p.joined_on if p else None,
        )
        row.update(visit_summary(by_household.get(hid, []), row["joined_on"] or row["arrived_on"]))
    plan.placed = True


NO_WAIT = dt.date(9999, 12, 31)  # "waiting since" unknown: counted as no wait


def visit_summary(visits: list[dict[str, Any]], waiting_since: dt.date | None) -> dict[str, Any]:
    """A household's visit summary from its visits, as ``visit_summary_refresh`` in
    cypher/suggest.cypher derives it (tests check that both agree).

    >>> d = dt.date
    >>> visit_summary([{"id": "v1", "visited_on": d(2026, 1, 2), "outcome": "met", "follow_up_on": None},
    ...                {"id": "v2", "visited_on": d(2026, 3, 1), "outcome": "not_home",
    ...                 "follow_up_on": d(2026, 4, 1)}], None)["failed_attempts"]
    1
    """
    if not visits:
        return {
            "last_visit_on": None,
            "follow_up_on": None,
            "failed_attempts": 0,
            "unvisited_since": waiting_since or NO_WAIT,
        }
    ordered = sorted(visits, key=lambda v: (v["visited_on"], v["id"]), reverse=True)
    last_met = next((v["visited_on"] for v in ordered if v["outcome"] == "met"), None)
    failed = sum(
        1
        for v in ordered
        if v["outcome"] in ("not_home", "refused") and (last_met is None or v["visited_on"] > last_met)
    )
    return {
        "last_visit_on": ordered[0]["visited_on"],
        "follow_up_on": ordered[0]["follow_up_on"],
        "failed_attempts": failed,
        "unvisited_since": None,
    }


def _first_seen(v: _Rows, seen: dict[str, int], key: str, line: int, what: str) -> bool:
    if key in seen:
        v.problem(line, f"duplicate {what} {key!r} (first on line {seen[key]})")
        return False
    seen[key] = line
    return True


def _validate_users(plan: Plan, rows: list[tuple[int, dict[str, str]]]) -> dict[str, dict[str, Any]]:
    v = _Rows(plan, TABLES["users"])
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        u = v.checked(line, records.user(row)).values
        username = u.get("username")
        if username is None or not _first_seen(v, seen, username, line, "username"):
            continue
        if len([p for p in plan.problems if p.file == v.file and p.line == line]):
            continue
        out[username] = {**u, "_line": line}
    return out


def _validate_households(
    plan: Plan, rows: list[tuple[int, dict[str, str]]], lookup: Lookup
) -> dict[str, dict[str, Any]]:
    v = _Rows(plan, TABLES["households"])
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    codes: dict[str, int] = {}
    for line, row in rows:
        checked = v.checked(line, records.household(row))
        h = checked.values
        if "women_only" not in h:
            continue
        hid, code = h.get("id"), h.get("code")
        if hid is None or not _first_seen(v, seen, hid, line, "household id"):
            continue
        if code is not None and not _first_seen(v, codes, code, line, "household code"):
            continue
        if not checked.ok:
            continue
        out[hid] = {**h, "_line": line}
    taken = lookup.household_codes([h["code"] for h in out.values()])
    for hid, h in list(out.items()):
        owner = taken.get(h["code"])
        if owner is not None and owner != hid:
            v.problem(h["_line"], f"code {h['code']!r} already belongs to household {owner!r} in the database")
            del out[hid]
    return out


def _validate_people(
    plan: Plan, rows: list[tuple[int, dict[str, str]]], households: dict[str, dict[str, Any]], lookup: Lookup
) -> dict[str, dict[str, Any]]:
    v = _Rows(plan, TABLES["people"])
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        checked = v.checked(line, records.person(row))
        pid = checked.values.get("id")
        if pid is None or not _first_seen(v, seen, pid, line, "person id"):
            continue
        if not checked.ok:
            continue
        out[pid] = {**checked.values, "_line": line}
    unknown = sorted({p["household_id"] for p in out.values()} - set(households))
    known = lookup.households(unknown)
    for pid, p in list(out.items()):
        if p["household_id"] not in households and p["household_id"] not in known:
            v.problem(p["_line"], f"household_id {p['household_id']!r} is not a known household")
            del out[pid]
    return out


def _check_user_people(
    plan: Plan,
    rows: list[tuple[int, dict[str, str]]],
    users: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    lookup: Lookup,
) -> None:
    v = _Rows(plan, TABLES["users"])
    wanted = sorted({u["person_id"] for u in users.values() if u["person_id"]} - set(people))
    known = lookup.people(wanted)
    linked: dict[str, int] = {}
    for username, u in list(users.items()):
        pid = u["person_id"]
        if pid is None:
            continue
        if pid not in people and pid not in known:
            v.problem(u["_line"], f"person_id {pid!r} is not a known person")
            del users[username]
        elif not _first_seen(v, linked, pid, u["_line"], "person_id"):
            del users[username]


def _validate_introductions(
    plan: Plan, rows: list[tuple[int, dict[str, str]]], people: dict[str, dict[str, Any]], lookup: Lookup
) -> list[dict[str, Any]]:
    v = _Rows(plan, TABLES["introductions"])
    candidates: list[dict[str, Any]] = []
    for line, row in rows:
        checked = v.checked(line, records.introduction(row))
        if checked.ok:
            candidates.append({**checked.values, "_line": line})
    if not candidates and not rows:
        return []

    wanted = sorted({c[k] for c in candidates for k in ("introducer_id", "introduced_id")} - set(people))
    known = lookup.people(wanted)
    stored = lookup.introductions() if candidates else {}
    parent: dict[str, str] = dict(stored)
    first_line: dict[str, int] = {}
    accepted: list[dict[str, Any]] = []
    for c in candidates:
        a, b, line = c["introducer_id"], c["introduced_id"], c["_line"]
        bad = False
        for col, pid in (("introducer_id", a), ("introduced_id", b)):
            if pid not in people and pid not in known:
                v.problem(line, f"{col} {pid!r} is not a known person")
                bad = True
        if bad:
            continue
        if b in first_line:
            earlier = parent[b]
            if earlier == a:
                v.problem(line, f"duplicate introduction of {b!r} by {a!r} (first on line {first_line[b]})")
            else:
                v.problem(
                    line,
                    f"{b!r} already has an introducer, {earlier!r} (line {first_line[b]}): "
                    "a person has at most one introducer",
                )
            continue
        if b in stored and stored[b] != a:
            v.problem(
                line,
                f"{b!r} already has an introducer in the database, {stored[b]!r}: a person has at most one introducer",
            )
            continue
        cycle = network.would_close_cycle(parent, a, b)
        if cycle is not None:  # named from its smallest id, in introduction order
            loop = cycle[:-1]
            k = loop.index(min(loop))
            loop = loop[k:] + loop[:k]
            v.problem(line, "introduction cycle: " + " → ".join([*loop, loop[0]]))
            continue
        first_line[b] = line
        parent[b] = a
        accepted.append(c)

    return accepted


def _validate_visits(
    plan: Plan,
    rows: list[tuple[int, dict[str, str]]],
    households: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    lookup: Lookup,
) -> list[dict[str, Any]]:
    v = _Rows(plan, TABLES["visits"])
    seen: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for line, row in rows:
        checked = v.checked(line, records.visit(row))
        vid = checked.values.get("id")
        if "follow_up_on" in row and row.get("follow_up_on") and checked.values.get("follow_up_on") is None:
            continue
        if vid is None or not _first_seen(v, seen, vid, line, "visit id"):
            continue
        if not checked.ok:
            continue
        out.append({**checked.values, "_line": line})
    known_h = lookup.households(sorted({x["household_id"] for x in out} - set(households)))
    known_u = lookup.users(sorted({x["visitor"] for x in out} - set(users)))
    kept = []
    for x in out:
        ok = True
        if x["household_id"] not in households and x["household_id"] not in known_h:
            v.problem(x["_line"], f"household_id {x['household_id']!r} is not a known household")
            ok = False
        if x["visitor"] not in users and x["visitor"] not in known_u:
            v.problem(
                x["_line"],
                f"visitor {x['visitor']!r} is not a known user (add them with users.csv or `graphsvc users add`)",
            )
            ok = False
        if ok:
            kept.append(x)
    return kept


# --- a district-scoped import ----------------------------------------------------------


_NAMED_ID = re.compile(r"\b[hpv]-[0-9a-z]{3,}\b")  # the ids records are given (h-000120, p-…, v-…)


def _scrub_outside(plan: Plan, districts: set[str], raw: dict[str, Any], lookup: Lookup) -> None:
    """A coordinator's problems name only what they may know: an id a message names (a code's
    owner, an introducer already stored, a cycle's people) that is neither in the upload nor
    stored in their districts becomes "someone outside your districts".

    >>> taken = "code 'H-1' already belongs to household 'h-009' in the database"
    >>> plan = Plan(problems=[Problem("households.csv", 3, taken)])
    >>> _scrub_outside(plan, {"서울 노원구"}, {"households": [(3, {"id": "h-001"})]}, Lookup())
    >>> plan.problems[0].message
    "code 'H-1' already belongs to household '(someone outside your districts)' in the database"
    """
    uploaded = {row.get(col) for rows in raw.values() for _, row in rows for col in ("id", "code") if row.get(col)}
    named: set[str] = set()
    for problem in plan.problems:
        named.update(_NAMED_ID.findall(problem.message))
    unknown = sorted(named - uploaded)
    if not unknown:
        return
    known = {
        i
        for kind in ("households", "people", "visits")
        for i, district in lookup.districts_of(kind, unknown).items()
        if district in districts
    }

    def scrub(match: re.Match[str]) -> str:
        value = match.group(0)
        return value if value in uploaded or value in known else "(someone outside your districts)"

    plan.problems[:] = [replace(p, message=_NAMED_ID.sub(scrub, p.message)) for p in plan.problems]


def _check_districts(
    plan: Plan,
    districts: set[str],
    user_rows: list[tuple[int, dict[str, str]]],
    users: dict[str, dict[str, Any]],
    households: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    introductions: list[dict[str, Any]],
    visits: list[dict[str, Any]],
    lookup: Lookup,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep a coordinator's import inside their districts; each row that reaches outside
    is a problem on its line (and so nothing is written).

    A household row names one of the districts and, when it exists, is stored in one of
    them (a row may not pull a household over); a person's household, a visit's
    household and both people of an introduction are households of these districts, and
    a stored person or visit that a row would move is one of theirs too. Accounts
    (users.csv) are for admins. A record outside is named by the id the row gave, never
    by the district it is stored in (a coordinator does not learn other districts' data).

    >>> plan = Plan()
    >>> rows = {"h-1": {"id": "h-1", "district": "서울 양천구", "_line": 2}}
    >>> _check_districts(plan, {"서울 노원구"}, [], {}, rows, {}, [], [], Lookup())
    ([], [])
    >>> [str(p) for p in plan.problems]
    ["households.csv:2: district '서울 양천구' is not one of yours"]
    """
    outside = "is not in one of your districts"
    for line, _row in user_rows:
        plan.problems.append(
            Problem(TABLES["users"].filename, line, "accounts (users.csv) are imported by admins only")
        )
    users.clear()

    h = _Rows(plan, TABLES["households"])
    stored_h = lookup.districts_of("households", sorted(households))
    for hid, row in list(households.items()):
        if row["district"] not in districts:
            h.problem(row["_line"], f"district {row['district']!r} is not one of yours")
        elif hid in stored_h and stored_h[hid] not in districts:
            h.problem(row["_line"], f"household {hid!r} {outside}: a row may not move it")
        else:
            continue
        del households[hid]

    wanted = {p["household_id"] for p in people.values()} | {v["household_id"] for v in visits}
    stored_h.update(lookup.districts_of("households", sorted(wanted - set(households) - set(stored_h))))

    def household_ok(hid: str) -> bool:
        return hid in households or (hid in stored_h and stored_h[hid] in districts)

    p = _Rows(plan, TABLES["people"])
    stored_p = lookup.districts_of(
        "people",
        sorted(
            set(people) | {i[k] for i in introductions for k in ("introducer_id", "introduced_id")},
        ),
    )
    for pid, row in list(people.items()):
        if not household_ok(row["household_id"]):
            p.problem(row["_line"], f"household_id {row['household_id']!r} {outside}")
        elif pid in stored_p and stored_p[pid] not in districts:
            p.problem(row["_line"], f"person {pid!r} {outside}: a row may not move them")
        else:
            continue
        del people[pid]

    i = _Rows(plan, TABLES["introductions"])
    kept_i = []
    for row in introductions:
        bad = [
            f"{col} {row[col]!r} {outside}"
            for col in ("introducer_id", "introduced_id")
            if not (
                household_ok(people[row[col]]["household_id"])
                if row[col] in people
                else stored_p.get(row[col]) in districts
            )
        ]
        for message in bad:
            i.problem(row["_line"], message)
        if not bad:
            kept_i.append(row)

    v = _Rows(plan, TABLES["visits"])
    stored_v = lookup.districts_of("visits", sorted(x["id"] for x in visits))
    kept_v = []
    for row in visits:
        if not household_ok(row["household_id"]):
            v.problem(row["_line"], f"household_id {row['household_id']!r} {outside}")
        elif row["id"] in stored_v and stored_v[row["id"]] not in districts:
            v.problem(row["_line"], f"visit {row['id']!r} {outside}: a row may not move it")
        else:
            kept_v.append(row)
    return kept_i, kept_v


# --- writing ---------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]

# (table, named statement): the order in which rows may refer to earlier ones.
WRITE_ORDER = (
    ("users", "import_users"),
    ("households", "import_households"),
    ("people", "import_people"),
    ("users", "import_user_people"),
    ("introductions", "import_introductions"),
    ("visits", "import_visits"),
)


def _clean(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def _wrong_key(keyring: Keyring, kid: str, where: str) -> KeyringError:
    return KeyringError(
        f"{where} is encrypted with data key {kid}, which the keyring ({keyring.source}: "
        f"{', '.join(keyring.kids)}) does not hold: the wrong data key? Nothing was written"
    )


def check_keyring(db: Database, keyring: Keyring) -> None:
    """Raise KeyringError when the database's identity is under a key the keyring does not
    hold (one person's ``bi_kid``, one read): an import with the wrong key would write rows
    that the server's key cannot read. A key rotation keeps the old keys until it is done."""
    for row in db.read("stored_key_sample"):
        if row["kid"] not in keyring.kids:
            raise _wrong_key(keyring, row["kid"], "the database's identity")


def _encrypt_rows(db: Database, plan: Plan, keyring: Keyring) -> None:
    """Encrypt the encrypted fields (crypto.ENCRYPTED_FIELDS) in place; a stored ciphertext
    whose plaintext is unchanged is kept, so that importing the same files twice changes
    nothing, not even a nonce (crypto.encrypt_record)."""
    for table, label, statement in (
        ("people", "Person", "stored_person_identity"),
        ("visits", "Visit", "stored_visit_notes"),
    ):
        fields = fields_of(label)
        rows = plan.rows.get(table, [])
        stored = {r["id"]: r for r in db.read(statement, ids=[row["id"] for row in rows])} if rows else {}
        for record in stored.values():  # re-encrypting a stored field under a stranger key: refused
            for name in fields:
                token = record.get(name)
                kid = str(token).split(":", 3)[2] if is_encrypted(token) else None
                if kid is not None and kid not in keyring.kids:
                    raise _wrong_key(keyring, kid, f"{label} {record['id']} {name}")
        # people under a key of their own keep it (graphsvc/personkeys.py); new people: v1
        ring = keyring
        if label == "Person" and stored:
            ring = personkeys.PersonRing(keyring, personkeys.keys_of(db, keyring, list(stored)))
        for row in rows:
            row.update(
                encrypt_record(
                    ring, label, row["id"], {name: row.get(name) for name in fields}, stored=stored.get(row["id"])
                )
            )


def write(
    db: Database, plan: Plan, keyring: Keyring, actor: Actor, batch_size: int = 5000, progress: Progress | None = None
) -> dict[str, float]:
    """Send a valid plan to Neo4j in batches; return seconds spent per step.

    Identity fields are encrypted first. Each batch is one transaction that also appends
    an audit event (statement and row count), so that no write goes unrecorded.
    """
    if not plan.ok:
        raise ValueError("refusing to write a plan with problems")
    _encrypt_rows(db, plan, keyring)
    timings: dict[str, float] = {}
    for table, statement in WRITE_ORDER:
        rows = _clean(plan.rows.get(table, []))
        started = time.perf_counter()

        def work(
            tx: neo4j.ManagedTransaction, batch: list[dict[str, Any]], first: int, statement: str = statement
        ) -> None:
            db.consume_in_tx(tx, statement, rows=batch)
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="import.batch",
                detail=f"{statement}: rows {first + 1}-{first + len(batch)}",
            )

        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            db.write_tx(work, batch, start, cls="batch")
            if progress:
                progress(statement, min(start + batch_size, len(rows)), len(rows))
        timings[statement] = time.perf_counter() - started
    # the derived chain index follows the introductions and memberships just written
    if not plan.placed:
        placed = chains.refresh(db)
        timings["chains_refresh"] = placed.seconds
        if progress:
            progress("chains_refresh", placed.changed, placed.changed)
    # the visit summary the suggestions read (it also depends on joined_on); a first
    # import carried it in the household rows
    if not plan.placed:
        started = time.perf_counter()
        touched = sorted(
            {h["id"] for h in plan.rows.get("households", [])}
            | {v["household_id"] for v in plan.rows.get("visits", [])}
        )
        suggest.refresh_visit_summary(db, touched)
        timings["visit_summary_refresh"] = time.perf_counter() - started
    return timings


@dataclass
class Report:
    plan: Plan
    written: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return self.plan.ok

    @property
    def possible_duplicates(self) -> int:
        """How many people.csv rows may be people already known (check_duplicates)."""
        return len(self.plan.duplicates)


# --- possible duplicates (graphsvc/blindindex.py) ----------------------------------------


def check_duplicates(db: Database, plan: Plan, keyring: Keyring, scope: Collection[str] | None = None) -> list[Problem]:
    """The people.csv rows of new people whose phone, or full name in the same district,
    matches a person already stored or an earlier row of the bundle: ``people.csv:14:
    possible duplicate of p-000120 (same phone)``. Compared on blind indexes (keyed hashes
    of the normalised values, graphsvc/blindindex.py): nothing stored is decrypted. A row
    of a person already stored (a re-import, a correction) is no new entry: not checked.

    With ``scope`` (a coordinator's districts), a stored person outside them is named
    "someone outside your districts", never by id (as the map names them "someone")."""
    rows = sorted(plan.rows.get("people", []), key=lambda r: r["_line"])
    if not rows:
        return []
    known = {r["id"] for r in db.read("known_people", ids=[r["id"] for r in rows])}
    if len(known) == len(rows):
        return []
    districts = {h["id"]: h["district"] for h in plan.rows.get("households", [])}
    missing = sorted({r["household_id"] for r in rows} - set(districts))
    if missing:
        districts.update({r["id"]: r["district"] for r in db.read("dedupe_household_districts", ids=missing)})
    keys = []
    for r in rows:
        bi = blind_indexes(keyring, "Person", {"phone": r.get("phone"), "legal_name": r.get("legal_name")})
        keys.append({"id": r["id"], "line": r["_line"], "district": districts.get(r["household_id"]), **bi})
    found: dict[tuple[int, str], set[str]] = {}  # (line, the other person) → what is the same

    def same(key: dict[str, Any], other: str, what: str) -> None:
        if other != key["id"]:
            found.setdefault((key["line"], other), set()).add(what)

    fresh = [k for k in keys if k["id"] not in known]
    wanted = ("id", "district", "phone_bi", "name_bi", "name_rev_bi")
    by_id = {k["id"]: k for k in fresh}
    for start in range(0, len(fresh), _MATCH_BATCH):  # a first import of a big network: in parts
        part = [{n: k[n] for n in wanted} for k in fresh[start : start + _MATCH_BATCH]]
        for row in db.read("dedupe_import_matches", rows=part):
            same(by_id[row["id"]], row["other_id"], row["kind"])
    # an earlier row of the bundle (new or stored) with the same value
    first: dict[tuple[str, Any, Any], str] = {}
    for key in keys:
        probes = [
            ("phone", (key["phone_bi"], None)),
            ("name", (key["name_bi"], key["district"])),
            ("name", (key["name_rev_bi"], key["district"])),
        ]
        for what, (value, district) in probes:
            if value is None:
                continue
            if key["id"] not in known and (what, value, district) in first:
                same(key, first[(what, value, district)], what)
            first.setdefault((what, value, district), key["id"])
    outside: set[str] = set()
    if scope is not None:
        others = sorted({other for _, other in found} - {k["id"] for k in keys})
        stored = DatabaseLookup(db).districts_of("people", others)
        outside = {o for o in others if stored.get(o) not in scope}
    return [
        Problem(
            TABLES["people"].filename,
            line,
            f"possible duplicate of {'someone outside your districts' if other in outside else other} "
            f"(same {' and '.join(_what(what))})",
        )
        for (line, other), what in sorted(found.items())
    ]


_MATCH_BATCH = 5000


def _what(kinds: set[str]) -> list[str]:
    return [k for k in ("phone", "name") if k in kinds]


def import_folder(
    db: Database,
    folder: Path,
    keyring: Keyring,
    actor: Actor,
    dry_run: bool = False,
    batch_size: int = 5000,
    progress: Progress | None = None,
    allow_duplicates: bool = False,
    districts: Collection[str] | None = None,
) -> Report:
    """Validate ``folder`` against the database and, unless dry-run or invalid, write it.

    ``districts``: a coordinator's import, limited to the records of these districts
    (``validate``); None for an admin's or the command line's.

    A keyring without the key the database's identity is under (``check_keyring``) is
    refused before anything is read or written: KeyringError.

    The schema is applied first (idempotent, about 50 ms): without its constraints every
    upsert scans (a 500,000-household demo loaded 50,000 in 11 minutes). The attempt and its
    outcome are audited (counts, never the rows' contents).

    A people.csv row that may be a person already known (``check_duplicates``) is a
    problem, and nothing is written, unless ``allow_duplicates``; either way the plan lists
    them (``Report.possible_duplicates``: their count, for the dry run).
    """
    started = time.perf_counter()
    db.apply_schema()
    check_keyring(db, keyring)
    plan = validate(Path(folder), DatabaseLookup(db), districts)
    if plan.ok:
        plan.duplicates = check_duplicates(db, plan, keyring, districts)
        if plan.duplicates and not allow_duplicates:
            plan.problems.extend(plan.duplicates)
        elif plan.duplicates:
            plan.notices.append(f"{len(plan.duplicates)} possible duplicates imported (duplicates allowed)")
    counts = ", ".join(f"{n} {name}" for name, n in plan.counts().items())
    if plan.duplicates:
        counts += f"; {len(plan.duplicates)} possible duplicates"
    if not plan.ok or dry_run:
        audit.append_now(
            db,
            **actor.event(),
            action="import.validate",
            outcome="ok" if plan.ok else "failure",
            detail=f"{len(plan.problems)} problems" if not plan.ok else f"dry run: {counts}",
        )
        return Report(plan, False, time.perf_counter() - started)
    audit.append_now(db, **actor.event(), action="import.start", detail=counts)
    write(db, plan, keyring, actor, batch_size, progress)
    audit.append_now(db, **actor.event(), action="import", detail=counts)
    return Report(plan, True, time.perf_counter() - started)
