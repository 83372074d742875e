"""How a ``graphsvc`` command fails: one line on stderr, a non-zero status, no traceback.

Every command of graphsvc/cli.py runs through ``Command.invoke`` (the click group's
``command_class``), which catches what escapes it and says in one line what happened and
what is true afterwards:

* Neo4j stopped answering (the driver's ServiceUnavailable, SessionExpired,
  IncompleteCommit, … or a server error): where, and for ``import`` how far the write got;
* a key that cannot decrypt, a file that cannot be read or written: the reason, from the
  exception;
* anything else: its type and first line.

Status 1 (130 for Ctrl-C; click's own 2 for bad arguments, also on one line). The
traceback is appended to ``<state dir>/cli/errors.log`` (folder 0700, file 0600: a
message may name an id or a path), and printed as well with ``GRAPHSVC_DEBUG=1``. What a
command writes is its own business: ``export`` writes into a staging folder it removes on
failure (exporter.py); ``import`` writes batches that are whole or absent and upserts by id
(importer.py), so running it again finishes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click
import neo4j.exceptions

LOG_FOLDER, LOG_NAME = "cli", "errors.log"
ENV_DEBUG = "GRAPHSVC_DEBUG"

# importer.WRITE_ORDER's statements and the file each one writes from
IMPORT_FILES = {
    "import_users": "users.csv",
    "import_households": "households.csv",
    "import_people": "people.csv",
    "import_user_people": "users.csv (person links)",
    "import_introductions": "introductions.csv",
    "import_visits": "visits.csv",
}


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n", 1)[0].split())
    return text or type(exc).__name__


def _uri(ctx: click.Context) -> str:
    settings = ctx.find_root().obj
    try:
        return str(settings.neo4j_uri or settings.local.uri)
    except AttributeError:
        return "the configured server"


def _import_progress(ctx: click.Context) -> str:
    """What an interrupted ``import`` wrote, from its progress (cli._Progress): each batch is
    one transaction, whole or absent; every row is an upsert by id."""
    steps: dict[str, tuple[int, int]] = ctx.meta.get("graphsvc.progress", {})
    written = [(s, d, t) for s, (d, t) in steps.items() if s in IMPORT_FILES]
    if not written:
        return "no row of the files was written"
    parts = []
    for step, done, total in written:
        name = IMPORT_FILES[step]
        parts.append(f"{name} whole" if done >= total else f"the first {done:,} of {total:,} rows of {name}")
    return "written: " + ", ".join(parts) + " (a batch being sent may or may not have been committed, never half)"


def explain(ctx: click.Context, exc: BaseException) -> str:
    """The one line that says what failed (without the command's name)."""
    from .crypto import CryptoError

    command = ctx.command.name
    if isinstance(exc, (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError)):
        kind = type(exc).__name__
        if isinstance(exc, neo4j.exceptions.Neo4jError) and not isinstance(
            exc, (neo4j.exceptions.TransientError, neo4j.exceptions.DatabaseUnavailable)
        ):
            where = f"Neo4j at {_uri(ctx)} refused a statement ({kind}: {_first_line(exc)})"
        else:
            where = f"Neo4j at {_uri(ctx)} stopped answering ({kind})"
        if command == "import":
            return (
                f"{where} during the import; {_import_progress(ctx)}; run the same import again to finish "
                "it: rows are written by id, so none is doubled"
            )
        return f"{where}; the command did not finish: run it again when Neo4j answers (`graphsvc neo4j status`)"
    if isinstance(exc, CryptoError):
        return _first_line(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or _first_line(exc)}"
    return f"failed: {type(exc).__name__}: {_first_line(exc)}"


def log_traceback(ctx: click.Context, exc: BaseException) -> Path | None:
    """Append the traceback to the state folder's CLI error log (0600 in a 0700 folder);
    its path, or None when it cannot be written."""
    settings = ctx.find_root().obj
    try:
        folder = Path(settings.state_dir) / LOG_FOLDER
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / LOG_NAME
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            fh.write(f"--- {when} {ctx.command_path} (pid {os.getpid()})\n")
            fh.write("".join(traceback.format_exception(exc)))
        return path
    except Exception:  # noqa: BLE001 - the one line is said anyway; the log is extra
        return None


def fail(ctx: click.Context, exc: BaseException) -> NoReturn:
    """Say ``exc`` in one line (the traceback to the log, or stderr with GRAPHSVC_DEBUG) and exit."""
    if isinstance(exc, KeyboardInterrupt):
        click.echo(f"{ctx.command_path}: interrupted", err=True)
        sys.exit(130)
    log = log_traceback(ctx, exc)
    if os.environ.get(ENV_DEBUG, "") not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    line = f"{ctx.command_path}: {explain(ctx, exc)}"
    if ctx.command.name == "export":
        line += "; no file of the export was written"
    if log is not None and not isinstance(exc, OSError):
        line += f" (details: {log})"
    click.echo(line, err=True)
    sys.exit(1)


def quiet_driver() -> None:
    """The driver logs a lost connection (``[#8C46] _: <CONNECTION> error: Failed to read
    from defunct connection …``) through Python's last-resort handler, on stderr, before the
    exception reaches ``fail``: a second line. Without a handler of the caller's own, its
    records go nowhere; the exception says what happened."""
    driver = logging.getLogger("neo4j")
    if not driver.handlers:
        driver.addHandler(logging.NullHandler())


class Command(click.Command):
    """A command whose failures are one line (``fail``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            fail(ctx, exc)


class Group(click.Group):
    """The ``graphsvc`` group: its commands (and those of its subgroups) are ``Command``s;
    bad arguments are one line too (``graphsvc import: Missing argument 'FOLDER'. (--help
    says more)``, status 2)."""

    command_class = Command
    group_class = type

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        name = prog_name or "graphsvc"
        quiet_driver()
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else name
            click.echo(f"{where}: {exc.format_message()} (`{where} --help` says more)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"{name}: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(f"{name}: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
