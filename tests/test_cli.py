"""The `graphsvc` command as a coordinator uses it: exit codes and messages."""

from __future__ import annotations

import csv
import shutil

from click.testing import CliRunner

from graphsvc.cli import main

from .helpers import append, snapshot


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_schema_apply_is_idempotent(db, cli_env):
    first = run("schema", "apply")
    second = run("schema", "apply")
    assert first.exit_code == second.exit_code == 0
    assert "schema applied" in second.output
    names = {r["name"] for r in db.read("test_schema_objects")}
    assert {"household_id", "household_code", "person_id", "visit_id", "user_username"} <= names


def test_import_reports_problems_and_exits_non_zero(db, cli_env, small):
    append(small, "introductions", ["p-006", "p-001", "", "friend"])
    append(small, "visits", ["v-009", "h-001", "minji", "2025-02-30", "met", "", ""])
    result = run("import", str(small))
    assert result.exit_code == 1
    assert "introductions.csv:6: introduction cycle: p-001 → p-003 → p-004 → p-006 → p-001" in result.output
    assert "visits.csv:5: visited_on '2025-02-30' is not a date (YYYY-MM-DD)" in result.output
    assert "2 problems found; nothing was written" in result.output
    assert db.read("graph_counts")[0]["households"] == 0


def test_import_dry_run_then_real(db, cli_env, small):
    dry = run("import", str(small), "--dry-run")
    assert dry.exit_code == 0 and "dry run, nothing written" in dry.output
    assert db.read("graph_counts")[0]["households"] == 0
    real = run("import", str(small))
    assert real.exit_code == 0 and "imported: 4 users, 5 households, 6 people" in real.output
    assert "households: 5/5 (100%)" in real.output  # progress


def test_export_and_import_back(db, cli_env, small, tmp_path):
    assert run("import", str(small)).exit_code == 0
    before = snapshot(db, decrypt=True)
    out = tmp_path / "export"
    result = run("export", str(out))
    assert result.exit_code == 0 and "exported 22 rows" in result.output
    db.run_autocommit("wipe_all")
    assert run("import", str(out)).exit_code == 0
    assert snapshot(db, decrypt=True) == before


def test_demo_loads_only_into_an_empty_database(db, cli_env):
    first = run("demo", "--households", "60", "--seed", "5", "--as-of", "2026-11-01", "--if-empty")
    assert first.exit_code == 0, first.output
    assert db.read("graph_counts")[0]["households"] == 60
    again = run("demo", "--households", "80", "--if-empty")
    assert again.exit_code == 0 and "already holds 60 households" in again.output
    assert db.read("graph_counts")[0]["households"] == 60


def test_demo_out_is_deterministic(tmp_path, cli_env):
    for name in ("a", "b"):
        assert (
            run(
                "demo", "--households", "200", "--seed", "9", "--as-of", "2026-01-01", "--out", str(tmp_path / name)
            ).exit_code
            == 0
        )
    for path in (tmp_path / "a").glob("*.csv"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    households = list(csv.DictReader((tmp_path / "a" / "households.csv").open(encoding="utf-8-sig")))
    assert len(households) == 200 and households[0]["district"].split()[0] in ("서울", "경기")


def test_unreachable_database_is_a_clear_error(cli_env, monkeypatch, small):
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:1")
    monkeypatch.setenv("NEO4J_PASSWORD", "x")
    result = run("import", str(small))
    assert result.exit_code == 1
    assert "cannot reach Neo4j at bolt://127.0.0.1:1" in result.output


def test_missing_folder(db, cli_env, tmp_path):
    result = run("import", str(tmp_path / "nope"))
    assert result.exit_code == 1 and "no such folder" in result.output
    shutil.rmtree(tmp_path, ignore_errors=True)
