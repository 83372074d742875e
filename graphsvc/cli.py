"""The ``graphsvc`` command: set-up, the local Neo4j, import/export, the demo, the server."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import click

from . import csvio, neo4j_local
from .config import DEFAULT_PORTS, Settings, load_settings
from .db import Database, connection_params


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj


def _fail(message: str) -> None:
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
        _fail(f"cannot reach Neo4j at {uri}: {exc}. Is it running? (`graphsvc neo4j start`)")
    raise AssertionError("unreachable")


class _Progress:
    """Progress on stderr: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
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


@click.group()
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
        click.echo(f"NEO4J_URI is set ({settings.neo4j_uri}): the local instance is left alone ({verb} skipped)", err=True)
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
    if _external(settings, "start"):
        _connect(settings).close()
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
        click.echo(f"{where}, but it does not answer: {exc}")
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


def _run_import(settings: Settings, folder: Path, dry_run: bool) -> None:
    from .importer import import_folder

    with _connect(settings) as db:
        db.apply_schema()
        report = import_folder(db, folder, dry_run=dry_run, batch_size=settings.batch_size,
                               progress=_Progress())
    for notice in report.plan.notices:
        click.echo(f"note: {notice}", err=True)
    if not report.ok:
        for problem in report.plan.problems:
            click.echo(str(problem), err=True)
        n = len(report.plan.problems)
        _fail(f"{n} problem{'s' if n != 1 else ''} found; nothing was written")
    counts = ", ".join(f"{n:,} {name}" for name, n in report.plan.counts().items())
    verb = "valid (dry run, nothing written)" if dry_run else "imported"
    click.echo(f"{verb}: {counts} in {report.seconds:.1f} s")


@main.command("import")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.pass_context
def import_cmd(ctx: click.Context, folder: Path, dry_run: bool) -> None:
    """Import households.csv, people.csv, introductions.csv, visits.csv (and users.csv)."""
    _run_import(_settings(ctx), folder, dry_run)


@main.command("export")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--bom/--no-bom", default=True, show_default=True,
              help="Start files with a UTF-8 byte-order mark (spreadsheets need it for Korean).")
@click.pass_context
def export_cmd(ctx: click.Context, folder: Path, bom: bool) -> None:
    """Write the whole graph as CSV files in the import format."""
    from .exporter import export_folder

    with _connect(_settings(ctx)) as db:
        counts = export_folder(db, folder, bom=bom,
                               progress=lambda f, n: click.echo(f"  {f}: {n:,} rows", err=True))
    click.echo(f"exported {sum(counts.values()):,} rows to {folder}")


@main.command("demo")
@click.option("--households", "n", type=click.IntRange(1, 1_000_000), default=300, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The demo's 'today' (default: today); same seed and date, same network.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the CSV files here instead of loading them.")
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no household.")
@click.pass_context
def demo_cmd(ctx: click.Context, n: int, seed: int, as_of, out: Path | None, if_empty: bool) -> None:
    """Generate a deterministic demo network and load it (or write it with --out)."""
    from . import demo

    settings = _settings(ctx)
    if if_empty and out is None:
        with _connect(settings) as db:
            counts = db.read("graph_counts")[0]
        if counts["households"]:
            click.echo(f"the database already holds {counts['households']:,} households: demo not loaded")
            return
    day = as_of.date() if as_of else dt.date.today()
    started = time.perf_counter()
    tables = demo.generate(n, seed=seed, as_of=day)
    summary = demo.summary(tables)
    click.echo(f"generated in {time.perf_counter() - started:.1f} s: "
               + ", ".join(f"{v:,} {k}" for k, v in summary.items()), err=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, table in csvio.TABLES.items():
            csvio.write_table(out / table.filename, table, tables[name])
        click.echo(f"wrote the demo network to {out}")
        return
    with tempfile.TemporaryDirectory(prefix="graphsvc-demo-") as tmp:
        for name, table in csvio.TABLES.items():
            csvio.write_table(Path(tmp) / table.filename, table, tables[name])
        _run_import(settings, Path(tmp), dry_run=False)


# --- the web app -----------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Flask's debug server instead of gunicorn (never in production).")
def serve_cmd(host: str, port: int, workers: int, debug: bool) -> None:
    """Serve the web app (gunicorn)."""
    if debug:
        from web import create_app

        create_app().run(host=host, port=port, debug=True)
        return
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [str(gunicorn), "--bind", f"{host}:{port}", "--workers", str(workers),
            "--access-logfile", "-", "--forwarded-allow-ips", "127.0.0.1", "web:create_app()"]
    os.chdir(Path(__file__).resolve().parent.parent)
    os.execv(args[0], args)


if __name__ == "__main__":  # pragma: no cover
    main()
