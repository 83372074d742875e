"""Import: validation before any write, file:line problems, idempotence, round trip."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest

from graphsvc import csvio, demo
from graphsvc.importer import validate

from .helpers import append, export_folder, import_folder, keyring, rewrite, snapshot


def problems(folder: Path, db=None) -> list[str]:
    from graphsvc.importer import DatabaseLookup

    return [str(p) for p in validate(folder, DatabaseLookup(db) if db else None).problems]


# --- a valid import ---------------------------------------------------------------------


def test_small_network_imports_with_korean_text(db, small):
    report = import_folder(db, small)
    assert report.ok, report.plan.problems
    counts = db.read("graph_counts")[0]
    assert counts == {"households": 5, "people": 6, "introductions": 4, "visits": 3, "users": 4}
    person = db.read("test_person", id="p-003")[0]
    assert person["code_name"] == "은행나무"
    assert person["household"] == "h-002"
    assert person["introducer"] == "p-001"
    assert person["relation"] == "friend"
    assert person["introduced_on"].to_native() == dt.date(2020, 1, 10)
    # a Korean alias in the file becomes the canonical value
    assert db.read("test_person", id="p-005")[0]["relation"] == "neighbour"
    visit = db.read("test_visit", id="v-003")[0]
    assert visit["notes"].startswith("enc:v1:")  # stored encrypted, bound to this visit
    assert keyring().decrypt(visit["notes"], "Visit", "v-003", "notes") == "처음 방문, 차를 대접받음"
    visit["notes"] = None
    assert visit == {
        "household": "h-002",
        "visitor": "junho",
        "outcome": "met",
        "materials": "rice:2",
        "notes": None,
        "on": visit["on"],
        "follow_up_on": None,
    }
    assert db.read("test_user", username="minji")[0] == {
        "role": "visitor",
        "districts": ["서울 노원구"],
        "person": "p-002",
    }


def test_importing_twice_changes_nothing(db, small):
    assert import_folder(db, small).ok
    before = snapshot(db)
    assert import_folder(db, small).ok
    assert snapshot(db) == before


def test_dry_run_writes_nothing(db, small):
    report = import_folder(db, small, dry_run=True)
    assert report.ok and not report.written
    assert db.read("graph_counts")[0]["households"] == 0


def test_writes_are_batched(db, small, monkeypatch):
    calls = []
    original = db.write_tx

    def counting(work, *args, **kw):
        if args and isinstance(args[0], list):  # a batch of rows (audit appends pass no list)
            calls.append(len(args[0]))
            assert kw == {"cls": "batch"}  # no timeout on an import's batches
        return original(work, *args, **kw)

    monkeypatch.setattr(db, "write_tx", counting)
    assert import_folder(db, small, batch_size=2).ok
    # one transaction per batch of two rows, per statement: users 4 → 2, households 5 → 3,
    # people 6 → 3, user links 4 → 2, introductions 4 → 2, visits 3 → 2
    assert len(calls) == 2 + 3 + 3 + 2 + 2 + 2 and max(calls) == 2
    assert db.read("graph_counts")[0]["people"] == 6


def test_rows_can_refer_to_what_the_database_holds(db, small, tmp_path):
    assert import_folder(db, small).ok
    later = tmp_path / "later"
    later.mkdir()
    for name, table in csvio.TABLES.items():
        if name in csvio.REQUIRED_FILES:
            csvio.write_table(later / table.filename, table, [])
    csvio.write_table(
        later / "households.csv",
        csvio.TABLES["households"],
        [{"id": "h-010", "code": "H-010", "district": "서울 노원구", "status": "active"}],
    )
    csvio.write_table(
        later / "people.csv", csvio.TABLES["people"], [{"id": "p-010", "code_name": "민들레", "household_id": "h-010"}]
    )
    csvio.write_table(
        later / "introductions.csv",
        csvio.TABLES["introductions"],
        [{"introducer_id": "p-006", "introduced_id": "p-010", "relation": "friend"}],
    )
    csvio.write_table(
        later / "visits.csv",
        csvio.TABLES["visits"],
        [
            {
                "id": "v-010",
                "household_id": "h-001",
                "visitor": "junho",
                "visited_on": "2026-01-05",
                "outcome": "refused",
            }
        ],
    )
    report = import_folder(db, later)
    assert report.ok, report.plan.problems
    assert db.read("test_person", id="p-010")[0]["introducer"] == "p-006"


# --- problems: reported as file:line, and nothing is written ----------------------------


BAD_CASES = [
    (
        "households",
        ["h-001", "H-009", "서울 노원구", "", "active"],
        "households.csv:7: duplicate household id 'h-001' (first on line 2)",
    ),
    (
        "households",
        ["h-009", "H-001", "서울 노원구", "", "active"],
        "households.csv:7: duplicate household code 'H-001' (first on line 2)",
    ),
    (
        "households",
        ["h-009", "H-009", "서울 노원구", "2024-02-30", "active"],
        "households.csv:7: arrived_on '2024-02-30' is not a date (YYYY-MM-DD)",
    ),
    (
        "households",
        ["h-009", "H-009", "서울 노원구", "2024/02/01", "active"],
        "households.csv:7: arrived_on '2024/02/01' is not a date (YYYY-MM-DD)",
    ),
    (
        "households",
        ["h-009", "H-009", "서울 노원구", "", "gone"],
        "households.csv:7: status 'gone' is not one of: active, moved, closed, do_not_visit",
    ),
    ("households", ["h 9", "H-009", "서울 노원구", "", "active"], "households.csv:7: id 'h 9' is not a valid id"),
    ("households", ["h-009", "H-009", "", "", "active"], "households.csv:7: district is empty"),
    ("households", ["h-009", "H-009"], "households.csv:7: 2 values, but the header has 5 columns"),
    ("people", ["p-009", "개나리", "h-404", "", "", ""], "people.csv:8: household_id 'h-404' is not a known household"),
    ("people", ["p-009", "개\x07나리", "h-001", "", "", ""], "people.csv:8: code_name contains a control character"),
    ("people", ["p-001", "개나리", "h-001", "", "", ""], "people.csv:8: duplicate person id 'p-001' (first on line 2)"),
    (
        "introductions",
        ["p-002", "p-003", "2020-01-10", "friend"],
        "introductions.csv:6: 'p-003' already has an introducer, 'p-001' (line 2)",
    ),
    (
        "introductions",
        ["p-001", "p-003", "2020-01-10", "friend"],
        "introductions.csv:6: duplicate introduction of 'p-003' by 'p-001' (first on line 2)",
    ),
    (
        "introductions",
        ["p-006", "p-001", "2026-10-01", "friend"],
        "introductions.csv:6: introduction cycle: p-001 → p-003 → p-004 → p-006 → p-001",
    ),
    ("introductions", ["p-002", "p-002", "", "friend"], "introductions.csv:6: 'p-002' cannot introduce themselves"),
    (
        "introductions",
        ["p-002", "p-404", "", "friend"],
        "introductions.csv:6: introduced_id 'p-404' is not a known person",
    ),
    (
        "introductions",
        ["p-002", "p-001", "", "cousin"],
        "introductions.csv:6: relation 'cousin' is not one of: family, friend, neighbour, other",
    ),
    (
        "visits",
        ["v-009", "h-001", "nobody", "2025-01-01", "met", "", ""],
        "visits.csv:5: visitor 'nobody' is not a known user",
    ),
    (
        "visits",
        ["v-009", "h-001", "minji", "2025-01-01", "met", "bible:one", ""],
        "visits.csv:5: materials 'bible:one': expected item:count;item:count",
    ),
    (
        "visits",
        ["v-009", "h-001", "minji", "2025-01-01", "partied", "", ""],
        "visits.csv:5: outcome 'partied' is not one of: met, not_home, refused, moved, other",
    ),
    (
        "visits",
        ["v-001", "h-001", "minji", "2025-01-01", "met", "", ""],
        "visits.csv:5: duplicate visit id 'v-001' (first on line 2)",
    ),
    ("users", ["kim", "visitor", "", ""], "users.csv:6: a visitor needs at least one district"),
    ("users", ["lee", "visitor", "서울 노원구", "p-404"], "users.csv:6: person_id 'p-404' is not a known person"),
]


@pytest.mark.parametrize("name,row,expected", BAD_CASES, ids=[c[2].split(": ", 1)[1][:40] for c in BAD_CASES])
def test_bad_rows_are_named_and_nothing_is_written(db, small, name, row, expected):
    assert import_folder(db, small).ok
    before = snapshot(db)
    # a fresh, otherwise valid folder with one bad row appended
    append(small, name, row)
    report = import_folder(db, small)
    messages = [str(p) for p in report.plan.problems]
    assert not report.ok and not report.written
    assert any(m.startswith(expected) for m in messages), messages
    assert snapshot(db) == before


def test_bad_file_into_an_empty_database_writes_nothing(db, small):
    append(small, "visits", ["v-009", "h-001", "minji", "2025-13-01", "met", "", ""])
    assert not import_folder(db, small).ok
    assert db.read("graph_counts")[0] == {"households": 0, "people": 0, "introductions": 0, "visits": 0, "users": 0}


def test_every_problem_is_reported_not_only_the_first(small):
    append(small, "households", ["h-001", "H-001", "", "2024-99-99", "gone"])
    append(small, "visits", ["v-009", "h-404", "nobody", "", "met", "", ""])
    found = problems(small)
    assert len([p for p in found if p.startswith("households.csv:7")]) == 4
    assert len([p for p in found if p.startswith("visits.csv:5")]) == 1  # visited_on empty


def test_missing_file_and_missing_column(small):
    (small / "visits.csv").unlink()
    rewrite(small, "people", lambda rows: [r.pop(1) for r in rows])
    found = problems(small)
    assert "visits.csv:0: file is missing" in found
    assert "people.csv:1: missing column(s): code_name" in found


def test_not_utf8_is_a_clear_problem(small):
    (small / "households.csv").write_bytes("id,code,district,arrived_on,status\nh-1,H-1,서울,,active\n".encode("cp949"))
    # a file that cannot be read is the only problem reported: no cascade of unknown references
    assert len(problems(small)) == 1
    assert problems(small)[0].startswith("households.csv:0: not UTF-8 text (invalid start byte at byte ")


def test_second_introducer_and_cycle_against_the_database(db, small, tmp_path):
    assert import_folder(db, small).ok
    before = snapshot(db)
    later = tmp_path / "later"
    shutil.copytree(small, later)
    for name in ("households", "people", "visits", "users", "introductions"):
        rewrite(later, name, lambda rows: rows.__delitem__(slice(1, None)))
    append(later, "introductions", ["p-002", "p-004", "", "friend"], ["p-006", "p-001", "", "friend"])
    found = problems(later, db)
    assert found[0].startswith("introductions.csv:2: 'p-004' already has an introducer in the database, 'p-003'")
    assert found[1] == "introductions.csv:3: introduction cycle: p-001 → p-003 → p-004 → p-006 → p-001"
    assert not import_folder(db, later).ok
    assert snapshot(db) == before


def test_household_code_taken_in_the_database(db, small, tmp_path):
    assert import_folder(db, small).ok
    rewrite(small, "households", lambda rows: rows.append(["h-077", "H-002", "서울 노원구", "", "active"]))
    rewrite(small, "households", lambda rows: rows.__delitem__(2))  # drop h-002's own row
    rewrite(small, "people", lambda rows: rows.__delitem__(3))
    rewrite(small, "visits", lambda rows: rows.__delitem__(slice(2, None)))
    assert "households.csv:6: code 'H-002' already belongs to household 'h-002' in the database" in problems(small, db)


# --- BOM, export, round trip -------------------------------------------------------------


def test_with_and_without_bom_import_alike(db, small, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(small, plain)
    for path in plain.glob("*.csv"):
        path.write_bytes(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    assert import_folder(db, small).ok
    with_bom = snapshot(db, decrypt=True)
    db.run_autocommit("wipe_all")
    assert import_folder(db, plain).ok
    assert snapshot(db, decrypt=True) == with_bom


def test_export_then_import_into_an_empty_database_gives_the_same_graph(db, tmp_path):
    tables = demo.generate(300, seed=7, as_of=dt.date(2026, 11, 1))
    source = tmp_path / "demo"
    source.mkdir()
    for name, table in csvio.TABLES.items():
        csvio.write_table(source / table.filename, table, tables[name])
    # a made-up network: its random phones and common names repeat (graphsvc/dedupe.py)
    assert import_folder(db, source, allow_duplicates=True).ok
    original = snapshot(db, decrypt=True)

    first = tmp_path / "export1"
    counts = export_folder(db, first)
    assert counts == {name: len(rows) for name, rows in tables.items()}
    db.run_autocommit("wipe_all")
    assert db.read("graph_counts")[0]["households"] == 0
    assert import_folder(db, first, allow_duplicates=True).ok
    assert snapshot(db, decrypt=True) == original

    second = tmp_path / "export2"
    export_folder(db, second)
    for name in csvio.TABLES:
        assert (first / f"{name}.csv").read_bytes() == (second / f"{name}.csv").read_bytes()
    assert (first / "people.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_export_writes_the_import_format(db, small, tmp_path):
    assert import_folder(db, small).ok
    out = tmp_path / "out"
    export_folder(db, out, bom=False)
    rows = list(csv.DictReader((out / "introductions.csv").open(encoding="utf-8")))
    assert rows[0] == {
        "introducer_id": "p-001",
        "introduced_id": "p-003",
        "introduced_on": "2020-01-10",
        "relation": "friend",
    }
    users = {r["username"]: r for r in csv.DictReader((out / "users.csv").open(encoding="utf-8"))}
    assert users["coord"]["districts"] == "서울 노원구;서울 양천구"
    assert users["minji"]["person_id"] == "p-002"
    people = list(csv.DictReader((out / "people.csv").open(encoding="utf-8")))
    assert people[5]["code_name"] == "<img src=x onerror=alert(1)>"


def test_the_demo_network_is_valid_for_the_importer(db, tmp_path):
    tables = demo.generate(1500, seed=3, as_of=dt.date(2026, 11, 1))
    folder = tmp_path / "demo"
    folder.mkdir()
    for name, table in csvio.TABLES.items():
        csvio.write_table(folder / table.filename, table, tables[name])
    report = import_folder(db, folder, allow_duplicates=True)  # its random names repeat
    assert report.ok, report.plan.problems[:5]
    counts = db.read("graph_counts")[0]
    assert counts["households"] == 1500
    assert counts["introductions"] == len(tables["introductions"])


def _add_column(folder: Path, name: str, column: str, values: dict[str, str]) -> None:
    """Add an optional column to one file: ``values`` by the row's first cell."""

    def edit(rows):
        rows[0].append(column)
        for r in rows[1:]:
            r.append(values.get(r[0], ""))

    rewrite(folder, name, edit)


def test_optional_columns_for_visiting_rules_round_trip(db, small, tmp_path):
    _add_column(small, "users", "gender", {"minji": "여", "junho": "m"})
    _add_column(small, "households", "women_only", {"h-001": "예", "h-002": "false"})
    _add_column(small, "visits", "follow_up_on", {"v-001": "2025-03-01"})
    assert import_folder(db, small).ok
    out = tmp_path / "out"
    export_folder(db, out)

    def exported(table):
        rows = csv.DictReader((out / f"{table}.csv").read_text("utf-8-sig").splitlines())
        return {r["username" if table == "users" else "id"]: r for r in rows}

    assert exported("users")["minji"]["gender"] == "f" and exported("users")["junho"]["gender"] == "m"
    assert exported("users")["admin"]["gender"] == ""
    assert [exported("households")[h]["women_only"] for h in ("h-001", "h-002", "h-003")] == ["true", "false", "false"]
    assert (
        exported("visits")["v-001"]["follow_up_on"] == "2025-03-01"
        and exported("visits")["v-002"]["follow_up_on"] == ""
    )


@pytest.mark.parametrize(
    "name,column,value,expected",
    [
        ("users", "gender", "x", "users.csv:3: gender 'x' is not one of: f, m"),
        ("households", "women_only", "maybe", "households.csv:2: women_only 'maybe' is not one of: true, false"),
        (
            "visits",
            "follow_up_on",
            "2025-01-01",
            "visits.csv:2: follow_up_on 2025-01-01 is before visited_on 2025-02-03",
        ),
        ("visits", "follow_up_on", "someday", "visits.csv:2: follow_up_on 'someday' is not a date"),
    ],
)
def test_optional_columns_are_checked(db, small, name, column, value, expected):
    first = {"users": "coord", "households": "h-001", "visits": "v-001"}[name]
    _add_column(small, name, column, {first: value})
    found = problems(small, db)
    assert any(p.startswith(expected) for p in found), found
