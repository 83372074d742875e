"""The ``graphsvc`` command: set-up, the local Neo4j, import/export, the demo, the server."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import crypto, neo4j_local
from .access import ROLES
from .clifail import Group
from .config import DEFAULT_PORTS, Settings, load_settings
from .db import Database, connection_params
from .model import cli_actor

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _connect(settings: Settings) -> Database:
    try:
        db = Database.connect(settings)
        db.ping()
        return db
    except neo4j_local.Neo4jError as exc:
        _fail(str(exc))
    except Exception as exc:
        uri = settings.neo4j_uri or settings.local.uri
        reason = " ".join(str(exc).split())  # the driver's message spans lines: one line here
        _fail(f"cannot reach Neo4j at {uri}: {reason} Is it running? (`graphsvc neo4j start`)")
    raise AssertionError("unreachable")


class _Progress:
    """Progress on stderr: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        # how far each step got, for the one line of a failure (clifail.explain)
        ctx = click.get_current_context(silent=True)
        self.steps: dict[str, tuple[int, int]] = ctx.meta.setdefault("graphsvc.progress", {}) if ctx else {}

    def __call__(self, step: str, done: int, total: int) -> None:
        self.steps[step] = (done, total)
        now = time.monotonic()
        final = done >= total
        if not final and not self.tty and now - self.last < 5:
            return
        self.last = now
        pct = 100 * done // max(total, 1)
        line = f"  {step}: {done:,}/{total:,} ({pct}%)"
        if self.tty:
            click.echo("\r" + line.ljust(60), err=True, nl=final)
        else:
            click.echo(line, err=True)


@click.group(cls=Group)  # a failure of any command is one line (graphsvc/clifail.py)
@click.pass_context
def main(ctx: click.Context) -> None:
    """graphsvc: the introduction network of a visitation ministry."""
    ctx.obj = load_settings()


# --- neo4j -----------------------------------------------------------------------------


@main.group("neo4j")
@click.option("--instance", default=None, help="Local instance: dev (make run), test, bench.")
@click.pass_context
def neo4j_group(ctx: click.Context, instance: str | None) -> None:
    """Provision and run the project's own Neo4j (no Docker)."""
    if instance:
        port = int(os.environ.get("GRAPHSVC_NEO4J_PORT") or DEFAULT_PORTS.get(instance, 7687))
        ctx.obj = _settings(ctx).with_instance(instance, port)


def _external(settings: Settings, verb: str) -> bool:
    if settings.neo4j_uri:
        click.echo(
            f"NEO4J_URI is set ({settings.neo4j_uri}): the local instance is left alone ({verb} skipped)", err=True
        )
        return True
    return False


@neo4j_group.command("install")
@click.pass_context
def neo4j_install(ctx: click.Context) -> None:
    """Fetch Neo4j Community from Maven Central into .neo4j/ and create the instance."""
    settings = _settings(ctx)
    if _external(settings, "install"):
        return
    try:
        neo4j_local.install(settings.local)
    except neo4j_local.Neo4jError as exc:
        _fail(str(exc))


@neo4j_group.command("start")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for Bolt.")
@click.pass_context
def neo4j_start(ctx: click.Context, timeout: float) -> None:
    """Start the local server (if it is not running); return once Bolt answers."""
    settings = _settings(ctx)
    if settings.neo4j_uri:
        _connect(settings).close()  # first: a server that does not answer is one line
    if _external(settings, "start"):
        return
    try:
        neo4j_local.start(settings.local, timeout=timeout)
    except neo4j_local.Neo4jError as exc:
        _fail(str(exc))


@neo4j_group.command("stop")
@click.pass_context
def neo4j_stop(ctx: click.Context) -> None:
    """Stop the local server."""
    settings = _settings(ctx)
    if not _external(settings, "stop"):
        neo4j_local.stop(settings.local)


@neo4j_group.command("status")
@click.pass_context
def neo4j_status(ctx: click.Context) -> None:
    """Whether the server runs, where, and its version (exit 3 when it does not run)."""
    settings = _settings(ctx)
    if settings.neo4j_uri:
        where = f"external server at {settings.neo4j_uri}"
    else:
        local = settings.local
        pid = neo4j_local.running_pid(local)
        if pid is None:
            click.echo(f"Neo4j '{local.name}' is not running ({local.uri}, {local.home})")
            sys.exit(3)
        where = f"Neo4j '{local.name}' runs (pid {pid}) at {local.uri}, data in {local.home / 'data'}"
    try:
        with Database.connect(settings) as db:
            info = db.ping()
        click.echo(f"{where}: {info['name']} {info['version']} {info['edition']}")
    except Exception as exc:
        click.echo(f"{where}, but it does not answer: {' '.join(str(exc).split())}")
        sys.exit(3)


@neo4j_group.command("env")
@click.option("--export", "export_", is_flag=True, help="Prefix each line with `export`.")
@click.pass_context
def neo4j_env(ctx: click.Context, export_: bool) -> None:
    """Print NEO4J_URI/USER/PASSWORD lines for `eval` in a shell."""
    settings = _settings(ctx)
    try:
        uri, (user, password) = connection_params(settings)
    except neo4j_local.Neo4jError as exc:
        _fail(str(exc))
    prefix = "export " if export_ else ""
    for key, value in (("NEO4J_URI", uri), ("NEO4J_USER", user), ("NEO4J_PASSWORD", password)):
        click.echo(f"{prefix}{key}={shlex.quote(value)}")


# --- schema, import, export, demo ------------------------------------------------------


@main.group("schema")
def schema_group() -> None:
    """The database schema (constraints and indexes)."""


@schema_group.command("apply")
@click.pass_context
def schema_apply(ctx: click.Context) -> None:
    """Create the constraints and indexes of cypher/schema.cypher (idempotent)."""
    with _connect(_settings(ctx)) as db:
        names = db.apply_schema()
    click.echo(f"schema applied: {len(names)} statements")


@main.group("chains")
def chains_group() -> None:
    """The derived chain index (each household's parent, chain and wave)."""


@chains_group.command("refresh")
@click.pass_context
def chains_refresh(ctx: click.Context) -> None:
    """Recompute the chain index from the introductions; writes only what changed."""
    from . import chains, suggest

    with _connect(_settings(ctx)) as db:
        report = chains.refresh(db)
        summaries = suggest.refresh_visit_summary(db)
    click.echo(
        f"chains: {report.households:,} households below a root, "
        f"{report.changed:,} updated in {report.seconds:.1f} s; visit summaries of {summaries:,} households"
    )


def _keyring() -> crypto.Keyring:
    try:
        return crypto.load_keyring()
    except crypto.CryptoError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")


def _run_import(settings: Settings, folder: Path, dry_run: bool, allow_duplicates: bool = False) -> None:
    from .importer import import_folder

    keyring = _keyring()
    with _connect(settings) as db:
        report = import_folder(
            db,
            folder,
            keyring,
            cli_actor(),
            dry_run=dry_run,
            batch_size=settings.batch_size,
            progress=_Progress(),
            allow_duplicates=allow_duplicates,
        )
    for notice in report.plan.notices:
        click.echo(f"note: {notice}", err=True)
    if not report.ok:
        for problem in report.plan.problems:
            click.echo(str(problem), err=True)
        n = len(report.plan.problems)
        if report.possible_duplicates and not allow_duplicates:
            click.echo(
                f"{report.possible_duplicates} possible duplicate(s): check them; to import anyway: --allow-duplicates",
                err=True,
            )
        _fail(f"{n} problem{'s' if n != 1 else ''} found; nothing was written")
    counts = ", ".join(f"{n:,} {name}" for name, n in report.plan.counts().items())
    if report.possible_duplicates:
        counts += f"; {report.possible_duplicates:,} possible duplicates"
    verb = "valid (dry run, nothing written)" if dry_run else "imported"
    click.echo(f"{verb}: {counts} in {report.seconds:.1f} s")


@main.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Import people whose phone or name matches a person already known (listed, not refused).",
)
@click.pass_context
def import_cmd(ctx: click.Context, folder: Path, dry_run: bool, allow_duplicates: bool) -> None:
    """Import households.csv, people.csv, introductions.csv, visits.csv (and users.csv).

    A people.csv row whose phone, or full name in the same district, matches a person
    already stored or an earlier row is a possible duplicate (``people.csv:14: possible
    duplicate of p-000120 (same phone)``): the import is refused unless --allow-duplicates."""
    _run_import(_settings(ctx), folder, dry_run, allow_duplicates)


@main.command("export")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--bom/--no-bom",
    default=True,
    show_default=True,
    help="Start files with a UTF-8 byte-order mark (spreadsheets need it for Korean).",
)
@click.option("--redact", is_flag=True, help="Leave identity fields and visit notes out.")
@click.pass_context
def export_cmd(ctx: click.Context, folder: Path, bom: bool, redact: bool) -> None:
    """Write the whole graph as CSV files in the import format (identity decrypted unless --redact).

    The folder is created with mode 0700 (an existing one must already be private to you)
    and the files with mode 0600.
    """
    from .exporter import ExportError, export_folder

    keyring = _keyring()
    with _connect(_settings(ctx)) as db:
        try:
            counts = export_folder(
                db,
                folder,
                keyring,
                cli_actor(),
                bom=bom,
                redact=redact,
                progress=lambda f, n: click.echo(f"  {f}: {n:,} rows", err=True),
            )
        except ExportError as exc:
            _fail(str(exc))
    click.echo(f"exported {sum(counts.values()):,} rows to {folder}")
    if not redact:
        click.echo(
            f"warning: {folder} holds IDENTITY DATA in clear text (legal names, phones, "
            "addresses, visit notes), readable by you only (folder 0700, files 0600): keep it "
            "off shared and synced drives, and delete it when done (--redact leaves it out)",
            err=True,
        )


@main.command("demo")
@click.option("--households", "n", type=click.IntRange(1, 1_000_000), default=300, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The demo's 'today' (default: today); same seed and date, same network.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write the CSV files here instead of loading them."
)
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no household.")
@click.pass_context
def demo_cmd(
    ctx: click.Context, n: int, seed: int, as_of: dt.datetime | None, out: Path | None, if_empty: bool
) -> None:
    """Generate a deterministic demo network and load it (or write it with --out)."""
    from . import demo

    settings = _settings(ctx)
    if if_empty and out is None:
        with _connect(settings) as db:
            counts = db.read("graph_counts")[0]
        if counts["households"]:
            click.echo(f"the database already holds {counts['households']:,} households: demo not loaded")
            return
    if out is None:
        _connect(settings).close()  # before generating: a failure is one line, and early
    day = as_of.date() if as_of else dt.date.today()
    started = time.perf_counter()
    tables = demo.generate(n, seed=seed, as_of=day)
    summary = demo.summary(tables)
    generated = f"generated in {time.perf_counter() - started:.1f} s: " + ", ".join(
        f"{v:,} {k}" for k, v in summary.items()
    )
    if out is not None:
        demo.write(tables, out)
        click.echo(generated, err=True)
        click.echo(f"wrote the demo network to {out}")
        return
    click.echo(generated, err=True)
    with tempfile.TemporaryDirectory(prefix="graphsvc-demo-") as tmp:
        demo.write(tables, Path(tmp))
        # a made-up network: its random phones and common names repeat by chance
        _run_import(settings, Path(tmp), dry_run=False, allow_duplicates=True)


# --- accounts ----------------------------------------------------------------------------


def _password(stdin: bool, confirm: bool = True) -> str:
    if stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@main.group("users")
def users_group() -> None:
    """Accounts: add, list, disable, reset passwords, access tokens."""


def _account_call(fn: Callable[..., T], *args: Any) -> T:
    from .accounts import AccountError

    try:
        return fn(*args)
    except AccountError as exc:
        _fail(str(exc))


@users_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--district", "districts", multiple=True, help="A district (repeat for several).")
@click.option(
    "--gender",
    type=click.Choice(["f", "m"]),
    default=None,
    help="f or m: households marked women_only are suggested to, claimed by and shown to women only.",
)
@click.option("--org", default=None, help="The organisation of a partner (required for partners: graphsvc orgs add).")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
@click.pass_context
def users_add(
    ctx: click.Context,
    username: str,
    role: str,
    districts: tuple[str, ...],
    gender: str | None,
    org: str | None,
    password_stdin: bool,
) -> None:
    """Create an account (password: at least 12 characters). An existing account is never
    changed here: the refusal names the commands that change one."""
    from . import accounts

    with _connect(_settings(ctx)) as db:
        db.apply_schema()
        existing = accounts.get_user(db, username.strip().lower())
        if existing is not None:
            _refuse_existing(existing)
        password = _password(password_stdin)
        _account_call(
            lambda: accounts.add_user(
                db, cli_actor(), username, role, list(districts), password, gender, org=_org_name(org)
            )
        )
    click.echo(f"user {username} ({role}{', ' + org if org else ''}) created")


def _org_name(org: str | None) -> str | None:
    from . import orgs
    from .errors import Refused

    try:
        return orgs.clean_name(org) if org is not None else None
    except Refused as exc:
        _fail(exc.why)


def _refuse_existing(user: dict[str, Any]) -> NoReturn:
    """``users add`` of a username that exists: one line saying so (nothing changed), then
    the commands that change an account."""
    name = user["username"]
    what = [user["role"] or "no role", ";".join(user["districts"]) or "no districts"]
    if not user["password_hash"]:
        what.append("no password yet")
    click.echo(f"error: user {name} already exists ({', '.join(what)}); nothing changed", err=True)
    click.echo(
        "to change it:\n"
        f"  graphsvc users set {name} --district D [--district D …]   replace its districts\n"
        f"  graphsvc users set {name} --add-district D | --remove-district D\n"
        f"  graphsvc users set {name} --role {'|'.join(ROLES)}\n"
        f"  graphsvc users set {name} --gender f|m|none\n"
        f"  graphsvc users passwd {name}                  set its password\n"
        f"  graphsvc users reset-link {name}              a one-time link where its user sets one\n"
        f"  graphsvc users disable {name}  |  graphsvc users enable {name}",
        err=True,
    )
    sys.exit(1)


@users_group.command("set")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), default=None)
@click.option("--district", "districts", multiple=True, help="Replace the districts (repeat for several).")
@click.option("--add-district", "add_districts", multiple=True, help="Add a district (repeatable).")
@click.option("--remove-district", "remove_districts", multiple=True, help="Remove a district (repeatable).")
@click.option("--gender", type=click.Choice(["f", "m", "none"]), default=None, help="f, m, or none (unknown).")
@click.option("--allow-new-district", is_flag=True, help="Allow a district that no household or account has yet.")
@click.pass_context
def users_set(
    ctx: click.Context,
    username: str,
    role: str | None,
    districts: tuple[str, ...],
    add_districts: tuple[str, ...],
    remove_districts: tuple[str, ...],
    gender: str | None,
    allow_new_district: bool,
) -> None:
    """Change an account's role, districts or gender (audited field by field). A new role
    ends the account's sessions and revokes its tokens."""
    from . import team
    from .access import Subject
    from .errors import Refused

    data: dict[str, Any] = {}
    if role is not None:
        data["role"] = role
    for name, values in (
        ("districts", districts),
        ("add_districts", add_districts),
        ("remove_districts", remove_districts),
    ):
        if values:
            data[name] = list(values)
    if gender is not None:
        data["gender"] = None if gender == "none" else gender
    if not data:
        _fail("nothing to change: give --role, --district, --add-district, --remove-district or --gender")
    actor = cli_actor()
    with _connect(_settings(ctx)) as db:
        try:
            change = team.change_account(
                db, Subject(actor.username, "admin"), actor, username, data, known_only=not allow_new_district
            )
        except Refused as exc:
            hint = (
                " (--allow-new-district to add it all the same)"
                if exc.code is None and exc.problems and any(p.code == "unknown_district" for p in exc.problems)
                else ""
            )
            _fail(("no user " + repr(username)) if exc.kind == "not_found" else exc.why + hint)
    if change.changed:
        click.echo(f"user {username}: " + "; ".join(change.changed))
    else:
        click.echo(f"user {username}: nothing changed")


@users_group.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List accounts (no secrets)."""
    from . import accounts

    with _connect(_settings(ctx)) as db:
        rows = accounts.list_users(db)
    for u in rows:
        state = "enabled" if u["enabled"] else "disabled"
        state = "frozen" if u.get("frozen") else state
        extra = [] if u["has_password"] else ["no password"]
        if u["gender"]:
            extra.append(f"gender {u['gender']}")
        elif u["role"] == "visitor":
            extra.append("no gender: never gets women-only households")
        if u["totp_enabled"]:
            extra.append("2FA")
        if u["live_tokens"]:
            extra.append(f"{u['live_tokens']} tokens")
        if u.get("org"):
            extra.append(f"org {u['org']}")
        click.echo(f"{u['username']:<16} {u['role']:<12} {state:<9} {';'.join(u['districts']):<30} {', '.join(extra)}")


@main.group("orgs")
def orgs_group() -> None:
    """Partner organisations: add, list (a partner's account: users add NAME --role partner --org ORG)."""


@orgs_group.command("add")
@click.argument("name")
@click.pass_context
def orgs_add(ctx: click.Context, name: str) -> None:
    """Create a partner organisation (audited)."""
    from . import orgs
    from .errors import Refused

    with _connect(_settings(ctx)) as db:
        db.apply_schema()
        try:
            stored = orgs.add_org(db, cli_actor(), name)
        except Refused as exc:
            _fail(exc.why)
    click.echo(f"organisation {stored} created")


@orgs_group.command("list")
@click.pass_context
def orgs_list(ctx: click.Context) -> None:
    """List the organisations and their partner accounts."""
    from . import orgs

    with _connect(_settings(ctx)) as db:
        rows = orgs.list_orgs(db)
    for o in rows:
        click.echo(f"{o['name']}\t{', '.join(o['partners']) or '(no partners)'}")


def _set_enabled(ctx: click.Context, username: str, enabled: bool) -> None:
    from . import accounts

    with _connect(_settings(ctx)) as db:
        _account_call(accounts.set_enabled, db, cli_actor(), username, enabled)
    click.echo(f"user {username} {'enabled' if enabled else 'disabled'}")


@users_group.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable an account: its sessions end and its tokens are revoked."""
    _set_enabled(ctx, username, False)


@users_group.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx: click.Context, username: str) -> None:
    """Enable a disabled account again."""
    _set_enabled(ctx, username, True)


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_context
def users_reset_password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password; the account's sessions end."""
    from . import accounts

    password = _password(password_stdin)
    with _connect(_settings(ctx)) as db:
        _account_call(accounts.reset_password, db, cli_actor(), username, password)
    click.echo(f"password of {username} reset")


users_group.add_command(users_reset_password, "passwd")


@users_group.command("reset-link")
@click.argument("username")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=720),
    default=None,
    help="Default: GRAPHSVC_RESET_LINK_HOURS (24).",
)
@click.option("--base-url", default="", help="The server's address, e.g. https://graphsvc.example.org")
@click.pass_context
def users_reset_link(ctx: click.Context, username: str, hours: float | None, base_url: str) -> None:
    """A one-time link where the user sets a new password (printed once; it expires)."""
    from . import team
    from .access import Subject
    from .errors import Refused

    settings = _settings(ctx)
    actor = cli_actor()
    seconds = int((hours or settings.reset_link_hours) * 3600)
    with _connect(settings) as db:
        try:
            token, expires_at = team.create_reset_link(db, Subject(actor.username, "admin"), actor, username, seconds)
        except Refused as exc:
            _fail(("no user " + repr(username)) if exc.kind == "not_found" else exc.why)
    click.echo(f"{base_url.rstrip('/')}/reset/{token}")
    click.echo(f"one use, until {expires_at:%Y-%m-%d %H:%M} UTC; give it to {username} in person", err=True)


@users_group.command("token")
@click.argument("username")
@click.option("--days", type=int, default=30, show_default=True)
@click.pass_context
def users_token(ctx: click.Context, username: str, days: int) -> None:
    """Create a personal access token; it is printed once and stored only hashed."""
    from . import accounts

    with _connect(_settings(ctx)) as db:
        token = _account_call(accounts.create_token, db, cli_actor(), username, days)
    click.echo(token)


@users_group.command("revoke-tokens")
@click.argument("username")
@click.pass_context
def users_revoke_tokens(ctx: click.Context, username: str) -> None:
    from . import accounts

    with _connect(_settings(ctx)) as db:
        n = _account_call(accounts.revoke_tokens, db, cli_actor(), username)
    click.echo(f"{n} tokens of {username} revoked")


def _freeze_call(ctx: click.Context, verb: str, username: str, reason: str) -> Any:
    """Freeze or unfreeze (graphsvc/freeze.py) as the operator: any account."""
    from . import freeze
    from .errors import Refused

    with _connect(_settings(ctx)) as db:
        try:
            if verb == "freeze":
                return freeze.freeze(db, None, cli_actor(), username, reason)
            return freeze.unfreeze(db, None, cli_actor(), username, reason)
        except Refused as exc:
            if exc.kind == "not_found":
                _fail(f"no user {username!r}")
            if exc.problems:
                _fail(f"--reason: {exc.problems[0].english()}")
            _fail(exc.why)


@users_group.command("freeze")
@click.argument("username")
@click.option("--reason", required=True, help="why (at most 300 characters; kept in the audit log)")
@click.pass_context
def users_freeze(ctx: click.Context, username: str, reason: str) -> None:
    """Freeze an account now: its sessions and tokens end in every process, its claims are
    released, and it cannot sign in until `users unfreeze`."""
    done = _freeze_call(ctx, "freeze", username, reason)
    click.echo(
        f"user {username} frozen: {done.sessions} sessions ended, {done.tokens} tokens revoked, "
        f"{len(done.released)} claims released"
    )


@users_group.command("unfreeze")
@click.argument("username")
@click.option("--reason", required=True, help="why (at most 300 characters; kept in the audit log)")
@click.pass_context
def users_unfreeze(ctx: click.Context, username: str, reason: str) -> None:
    """Let a frozen account sign in again (its tokens stay revoked)."""
    _freeze_call(ctx, "unfreeze", username, reason)
    click.echo(f"user {username} unfrozen")


# --- audit and keys -------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@click.option(
    "--checkpoints",
    "checkpoint_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also prove that the chain still passes through every signed checkpoint in this file "
    "(`audit checkpoint` writes them; a copy kept elsewhere is best).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    metavar="KEY",
    help="Trust checkpoints signed with this Ed25519 public key (base64url, as `audit checkpoint` "
    "prints it) besides this installation's own; repeatable.",
)
@click.pass_context
def audit_verify(ctx: click.Context, checkpoint_file: Path | None, public_keys: tuple[str, ...]) -> None:
    """Check the whole hash chain; name the first event edited, deleted or re-ordered.

    With --checkpoints FILE, also check every checkpoint's signature and that the event at
    its seq still has the hash it signed (a rewritten and re-hashed chain does not), and name
    the first checkpoint the chain no longer passes through. Exit status 2 when anything fails.
    """
    from . import audit, checkpoints

    report = None
    with _connect(_settings(ctx)) as db:
        if checkpoint_file is None:
            result = audit.verify(db)
        else:
            try:
                trusted = checkpoints.trusted_keys(public_keys)
                if not trusted:
                    _fail(
                        f"no checkpoint key to trust: this installation has none (${crypto.ENV_CHECKPOINT_KEY} "
                        f"or {crypto.secret_path(crypto.CHECKPOINT_KEY_FILE)}); pass --public-key"
                    )
                report = checkpoints.check(db, checkpoint_file, trusted)
            except checkpoints.CheckpointError as exc:
                _fail(str(exc))
            if not report.checkpoints and not report.problems:
                _fail(f"{checkpoint_file} holds no checkpoint (make one with `graphsvc audit checkpoint`)")
            result = report.chain
        first = report.problems[0] if report and report.problems else None
        problem = result.problem or (f"checkpoint {checkpoint_file}:{first.line}: {first.text}" if first else None)
        audit.append_now(
            db,
            **cli_actor().event(),
            action="audit.verify",
            outcome="ok" if problem is None else "failure",
            detail=problem,
        )
    if result.ok:
        click.echo(f"audit chain intact: {result.count:,} events verified in {result.seconds:.1f} s")
    else:
        click.echo(f"audit chain BROKEN at event {result.first_bad_seq}: {result.problem}")
    if report is not None:
        total = len(report.checkpoints) + sum(1 for p in report.problems if p.checkpoint is None)
        if first is None:
            newest = max(report.checkpoints, key=lambda c: c.seq)
            click.echo(
                f"checkpoints: all {total:,} in {checkpoint_file} pass; the newest is event "
                f"{newest.seq:,} of {newest.at}"
            )
        else:
            click.echo(f"checkpoint {checkpoint_file}:{first.line} FAILS: {first.text}")
            click.echo(
                f"checkpoints: {len(report.problems):,} of {total:,} fail (the first is named above), "
                f"{report.passed:,} pass"
            )
    if problem is not None:
        sys.exit(2)


@audit_group.command("checkpoint")
@click.option(
    "--file",
    "checkpoint_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The checkpoint file to append to (default: <state dir>/audit/checkpoints.jsonl).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    metavar="KEY",
    help="Also trust the file's checkpoints signed with this public key (an earlier checkpoint key); repeatable.",
)
@click.pass_context
def audit_checkpoint(ctx: click.Context, checkpoint_file: Path | None, public_keys: tuple[str, ...]) -> None:
    """Sign the chain's head with the checkpoint key and append it to the checkpoint file.

    The chain is verified first, through every checkpoint already in the file; nothing is
    signed when that fails (exit status 2). Copy the file elsewhere regularly (README).
    """
    from . import checkpoints

    settings = _settings(ctx)
    path = checkpoint_file or settings.audit_checkpoints
    with _connect(settings) as db:
        try:
            checkpoint = checkpoints.make(db, path, cli_actor().event(), trusted_extra=public_keys)
        except checkpoints.Refused as refused:
            chain = refused.report.chain
            if not chain.ok:
                click.echo(f"audit chain BROKEN at event {chain.first_bad_seq}: {chain.problem}")
            for problem in refused.report.problems[:1]:
                click.echo(f"checkpoint {path}:{problem.line} FAILS: {problem.text}")
            click.echo(
                "no checkpoint was made: nothing is signed until the chain passes "
                "(`graphsvc audit verify --checkpoints FILE` says more)"
            )
            sys.exit(2)
        except checkpoints.CheckpointError as exc:
            _fail(str(exc))
    click.echo(
        f"checkpoint: event {checkpoint.seq:,} (hash {checkpoint.hash[:16]}…) signed with key "
        f"{checkpoint.kid}, appended to {path}"
    )
    click.echo(f"public key: {checkpoint.key}")


@main.group("retention")
def retention_group() -> None:
    """Visit notes and audit details kept only for a while (graphsvc/retention.py)."""


@retention_group.command("run")
@click.pass_context
def retention_run(ctx: click.Context) -> None:
    """Shred visit notes older than GRAPHSVC_RETAIN_NOTES_DAYS and remove the address, program
    and detail of audit events older than GRAPHSVC_RETAIN_AUDIT_DETAIL_DAYS (0: keep for
    ever), in batches; one audit event for each kind that removed anything."""
    from . import retention

    settings = _settings(ctx)
    with _connect(settings) as db:
        report = retention.run(db, settings, actor=cli_actor().event())
    for line in report.lines():
        click.echo(line)


@audit_group.command("alerts")
@click.option("--all", "everything", is_flag=True, help="Add the recently acknowledged alerts (after the open ones).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of alerts instead of tab-separated lines.")
@click.option("--check", is_flag=True, help="Evaluate the alert rules first and raise what is new (for cron).")
@click.pass_context
def audit_alerts(ctx: click.Context, everything: bool, as_json: bool, check: bool) -> None:
    """List the open alerts for a script (graphsvc/alerts.py), newest first; exit status 0.

    One line per alert, tab-separated: id (the event's seq), time (UTC), rule, account (or
    -), address (or -), detail, and for acknowledged ones (--all) who acknowledged it and
    when. Run with --check every minute or so from cron so that alerts are raised when no
    admin has a page open. The listing is audited (alerts.read).
    """
    import json

    from . import alerts, audit

    settings = _settings(ctx)
    try:
        rules = alerts.Rules.from_settings(settings)
    except ValueError as exc:
        _fail(str(exc))
    with _connect(settings) as db:
        raised = alerts.check(db, rules) if check else []
        views = alerts.listing(db, everything=everything)
        accounts = sorted({v["account"] for v in views if v["account"]})
        open_count = sum(1 for v in views if v["acknowledged"] is None)
        audit.append_now(
            db,
            **cli_actor().event(),
            action="alerts.read",
            targets=accounts,
            detail=f"cli: {open_count} open, {len(views) - open_count} acknowledged, {len(raised)} raised",
        )
    if as_json:
        click.echo(json.dumps(views, ensure_ascii=False, indent=1))
        return
    for v in views:
        cells = [str(v["id"]), v["at"], v["rule"], v["account"] or "-", v["address"] or "-", v["detail"] or "-"]
        if v["acknowledged"]:
            cells += [v["acknowledged"]["by"], v["acknowledged"]["at"]]
        click.echo("\t".join(" ".join(str(c).split()) for c in cells))


@main.group("keys")
def keys_group() -> None:
    """The keys that encrypt identity fields (kept outside the database)."""


@keys_group.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make a new key current, re-encrypt every identity field with it, retire the old keys."""
    from . import filestore, rekey

    try:
        path = crypto.key_file_path()
        with _connect(_settings(ctx)) as db:  # before the key file changes: Neo4j must answer
            kid = crypto.rotate_key_file(path)
            keyring = crypto.load_keyring()
            counts = rekey.reencrypt(db, keyring, cli_actor(), progress=_Progress())
            files = filestore.reencrypt(db, _settings(ctx), keyring)  # issue 16: photos, receipts
        # a key that a stored file still needs stays (retiring it would make the file unreadable)
        needed = {k for k in filestore.key_ids(_settings(ctx)) if k in keyring.kids} - {kid}
        removed = crypto.retire_keys(path, {kid} | needed)
    except crypto.CryptoError as exc:
        _fail(str(exc))
    click.echo(
        f"new key {kid}; re-encrypted {counts['fields']:,} fields of {counts['records']:,} records; "
        f"rewrapped {counts.get('person_keys', 0):,} person keys; retired {len(removed)} old key(s)"
    )
    click.echo(f"re-encrypted {files:,} stored files")
    if needed:
        click.echo(f"kept old key(s) {', '.join(sorted(needed))}: stored files that no record names still need them")


@keys_group.command("personal")
@click.pass_context
def keys_personal(ctx: click.Context) -> None:
    """Move every person's identity fields under a key of that person's own (graphsvc/personkeys.py),
    so that erasing the person destroys them; safe to run again."""
    from . import personkeys

    keyring = _keyring()
    with _connect(_settings(ctx)) as db:
        counts = personkeys.upgrade(db, keyring, cli_actor())
    click.echo(f"{counts['fields']:,} identity fields of {counts['people']:,} people now under keys of their own")


@keys_group.command("new")
@click.option(
    "--env",
    "as_env",
    is_flag=True,
    help="Print the four key variables of a deployment as lines of a .env file instead.",
)
def keys_new(as_env: bool) -> None:
    """Print a new data key for GRAPHSVC_DATA_KEY (``kid:base64url-key``); with --env, new
    GRAPHSVC_DATA_KEY, GRAPHSVC_SECRET_KEY, GRAPHSVC_AUDIT_JOURNAL_KEY and
    GRAPHSVC_AUDIT_CHECKPOINT_KEY lines for docker-compose's .env. Only prints: reads and
    writes no key file. Keep a copy apart from the database's backups."""
    import base64
    import secrets

    def secret() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(crypto.SECRET_BYTES)).rstrip(b"=").decode("ascii")

    if not as_env:
        click.echo(crypto.new_key_entry())
        return
    click.echo(f"{crypto.ENV_KEYS}={crypto.new_key_entry()}")
    click.echo(f"GRAPHSVC_SECRET_KEY={secrets.token_urlsafe(48)}")
    click.echo(f"{crypto.ENV_JOURNAL_KEY}={secret()}")
    click.echo(f"{crypto.ENV_CHECKPOINT_KEY}={secret()}")


@keys_group.command("reindex")
@click.pass_context
def keys_reindex(ctx: click.Context) -> None:
    """Compute the blind indexes (duplicate matching) of every person who has none under the
    current key: once after an upgrade from a version without them; rotate does it too."""
    from . import rekey

    keyring = _keyring()
    with _connect(_settings(ctx)) as db:
        n = rekey.reindex(db, keyring, cli_actor(), progress=_Progress())
    click.echo(f"blind indexes of {n:,} people computed under key {keyring.current_kid}")


@main.command("erase")
@click.argument("kind", type=click.Choice(["person", "household"]))
@click.argument("record_id", metavar="ID")
@click.option("--reason", required=True, help="Why (audited; a few words, never a name).")
@click.pass_context
def erase_cmd(ctx: click.Context, kind: str, record_id: str, reason: str) -> None:
    """Erase a person or a household (all its members): identity and keys destroyed, the
    introduction chain kept with anonymous placeholders (graphsvc/erasure.py). README: Erasure."""
    from . import erasure
    from .access import Subject
    from .errors import Refused

    settings = _settings(ctx)
    actor = cli_actor()
    with _connect(settings) as db:
        try:
            done = erasure.erase(
                db,
                _keyring(),
                Subject(actor.username, "admin"),
                actor,
                kind,
                record_id,
                reason,
                state_dir=settings.state_dir,
            )
        except Refused as exc:
            _fail(f"{exc.field or kind}: {exc.why}; nothing was erased")
    click.echo(
        f"erased {kind} {record_id}: {len(done['people'])} people, {done['keys']} person keys destroyed, "
        f"{done['notes']} visit notes shredded, {done['answers']} stored answers dropped"
    )


# --- backup and restore ---------------------------------------------------------------------


def _passphrase(confirm: bool) -> str:
    """GRAPHSVC_BACKUP_PASSPHRASE when set, else a hidden prompt (twice when ``confirm``)."""
    from . import backup

    return backup.passphrase_from_env() or click.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm
    )


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@main.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", type=click.IntRange(min=1), default=None, help="Then delete the oldest backups beyond N.")
@click.pass_context
def backup_cmd(ctx: click.Context, folder: Path, keep: int | None) -> None:
    """Back up everything into FOLDER/graphsvc-<UTC time>/: Neo4j's dump of the database,
    the audit journal and checkpoints, stored files, and the keys and secrets encrypted with
    a passphrase (GRAPHSVC_BACKUP_PASSPHRASE, else asked twice). The local Neo4j is stopped
    for the dump (seconds) and started again if it was running. README: Backups."""
    from . import backup

    settings = _settings(ctx)
    try:
        if settings.neo4j_uri:
            backup.backup(settings, folder, "")  # refuses, naming Neo4j's own tools
        passphrase = _passphrase(confirm=True)
        backup.check_passphrase(passphrase)
        result = backup.backup(settings, folder, passphrase, keep=keep)
    except (backup.BackupError, crypto.CryptoError) as exc:
        _fail(_one_line(exc))
    except Exception as exc:
        _fail(f"backup failed, nothing was written: {_one_line(exc)}")
    head = result.manifest["audit_head"] or {"seq": 0, "hash": "-"}
    counts = result.manifest["counts"]
    click.echo(
        f"backup {result.folder}: {counts['households']:,} households, {counts['users']:,} users, "
        f"{counts['audit_events']:,} audit events (head {head['seq']:,}, {head['hash'][:16]}…)"
    )
    for path in result.removed:
        click.echo(f"removed the old backup {path}")


@main.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore over an instance that is not empty (replaces what is there).")
@click.pass_context
def restore_cmd(ctx: click.Context, folder: Path, force: bool) -> None:
    """Restore the backup FOLDER (one graphsvc-<time> folder) into the local instance.

    Every file is checked against the manifest first, then the passphrase
    (GRAPHSVC_BACKUP_PASSPHRASE, else asked); an instance that is not empty is refused
    unless --force. Then the dump is loaded, the journal, checkpoints, files and keys put
    back, and the audit chain verified. Nothing is changed when a check fails."""
    from . import backup

    settings = _settings(ctx)
    try:
        if settings.neo4j_uri:
            backup.restore(settings, folder, "")  # refuses, naming Neo4j's own tools
        backup.read_manifest(folder)  # checksums before the passphrase is asked
        result = backup.restore(settings, folder, _passphrase(confirm=False), force=force)
    except (backup.BackupError, crypto.CryptoError) as exc:
        _fail(_one_line(exc))
    except Exception as exc:
        _fail(f"restore failed: {_one_line(exc)}")
    head = result.manifest["audit_head"]
    if result.verified.ok:
        click.echo(f"audit chain intact: {result.verified.count:,} events verified")
    else:
        click.echo(f"audit chain BROKEN at event {result.verified.first_bad_seq}: {result.verified.problem}")
    if head and result.verified.ok:
        click.echo(f"backed-up head: event {head['seq']:,} ({head['hash'][:16]}…), found in the chain")
    click.echo(f"restored {folder}; audit head now event {result.head[0]:,} ({result.head[1][:16]}…)")
    for var in result.keys_from_env:
        click.echo(f"note: ${var} already holds the backup's value; keep it set", err=True)
    if not result.verified.ok:
        sys.exit(2)
    _reapply_erasures(settings)


def _reapply_erasures(settings: Settings) -> None:
    """Erasures made after the backup was taken (the erasure list, outside Neo4j) are made
    again: a restore does not bring erased people back (graphsvc/erasure.py)."""
    from . import erasure

    if not erasure.remembered(settings.state_dir):
        return
    with _connect(settings) as db:
        again = erasure.reapply(db, _keyring(), cli_actor(), settings.state_dir)
    click.echo(f"erasures re-applied: {again}")


# --- the web app -----------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    default=max(2, os.cpu_count() or 1),
    show_default="one per core, at least 2",
    type=click.IntRange(1, 64),
    help="processes",
)
@click.option(
    "--threads",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="threads per process (2: one runs Python while the other waits for Neo4j; answers keep their connection open)",
)
@click.option("--debug", is_flag=True, help="Flask's debug server instead of gunicorn (never in production).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int, workers: int, threads: int, debug: bool) -> None:
    """Serve the web app (gunicorn).

    Refuses to start when the audit journal cannot be written. Forwarded headers
    (X-Forwarded-For/-Proto) are trusted only as GRAPHSVC_PROXY_HOPS says, by the app:
    gunicorn itself trusts no peer. No gunicorn control socket.
    """
    from web import StartupError, check_audit_journal

    try:
        check_audit_journal(_settings(ctx))
    except StartupError as exc:
        _fail(str(exc))
    if debug:
        from web import create_app

        create_app().run(host=host, port=port, debug=True)
        return
    os.chdir(Path(__file__).resolve().parent.parent)
    os.execv(GUNICORN, gunicorn_args(host, port, workers, threads))


GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def gunicorn_args(host: str, port: int, workers: int, threads: int) -> list[str]:
    """gunicorn's command line for ``serve`` (the Dockerfile's CMD runs ``graphsvc serve``).

    ``--forwarded-allow-ips ""``: gunicorn would otherwise take X-Forwarded-Proto (and
    SCRIPT_NAME/PATH_INFO) from any peer on 127.0.0.1 or in FORWARDED_ALLOW_IPS and call the
    request https; the app's ProxyFix trusts exactly GRAPHSVC_PROXY_HOPS proxies, and only it.
    ``--worker-class``: gunicorn's threaded worker with a lane of its own for /healthz and
    /readyz (web/worker.py), so that they answer while every thread waits for Neo4j.
    ``--no-control-socket``: gunicorn 25+ opens one for ``gunicornc`` at one path per user
    ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), so every server took over
    the socket of the one before and removed it when it stopped; nothing here uses it.
    """
    return [
        GUNICORN,
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "web.worker.HealthLaneWorker",
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        "",
        "--no-control-socket",
        # above the app's own limits (web/edge.py), so a long URL or header is answered by
        # the app (JSON under /api), not by gunicorn's plain error page
        "--limit-request-line",
        "8190",
        "--limit-request-field_size",
        "16384",
        "web:create_app()",
    ]


if __name__ == "__main__":  # pragma: no cover
    main()
