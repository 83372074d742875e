"""The audit journal: where a web request's audit event is on record before its answer leaves.

Why a journal
-------------
The audit log (audit.py) is a hash chain in Neo4j. Appending to it costs a write
transaction of its own: about 1.5–3 ms here, next to a 2 ms read, and appends queue on the
chain's head lock, so under concurrency every audited request waits for every other one
(bench/RESULTS.md). A read must still be on record before its answer leaves, and must fail
when it cannot be recorded.

So a request's event (``audit.log``) is appended to this journal, a local file, before the
request goes on: about 0.12 ms, failing closed like the database append did (an
``AuditError`` when the file cannot be written, when the backlog is over ``max_bytes``
because shipping has stalled, or once an fdatasync of it has failed). A shipper thread in
every web process (``Shipper``) moves the journal's events into the chain in batches, one
transaction for many events (group commit), within about a second; ``audit.flush`` does the
same on demand, and everything that reads the log flushes first (``audit.query``,
``verify``, the visitor's "was it suggested to me" check), so that nobody reads a log that
is missing what the journal holds. It is the design of an audit device that writes a local
file synchronously and ships it elsewhere; the chain itself is unchanged.

What an append waits for (``durability``, GRAPHSVC_AUDIT_DURABILITY)
--------------------------------------------------------------------
``write`` (the default): until the line is written to the operating system. From then on
it survives a crash of the web process or of Neo4j; a syncer thread puts it on disk right
after (one fdatasync for every line written meanwhile, within about 0.3 ms here), so only a
power loss or a kernel crash in that moment can lose it. This is what auditd does by
default (``flush = INCREMENTAL_ASYNC``). ``fsync``: until the line is on disk, so that it
survives a power loss too; concurrent requests share one fdatasync (group commit), but a
lone request pays a whole one (+0.3 ms p50 on a 2 ms read here; bench/audit_cost.py). A
failed fdatasync fails every later append of the process in either mode: after such a
failure the kernel may have dropped the pages, and nothing written since can be trusted.

Writes to the graph (imports, claims, visit reports, account changes) still append their
event to the chain inside their own transaction (``audit.append``): the journal is only for
events recorded on their own. Such an event can enter the chain before journal events
recorded up to a shipment earlier, so ``seq`` is the order in which events entered the
chain, and ``at`` the time each was recorded. ``audit.record`` (an event on its own in a
transaction of its own, from the command line) ships the journal first.

The file
--------
``<dir>/journal.jsonl``: one JSON object per line, the event's fields (audit.py) plus
``at`` (taken under the lock, so file order is time order) and ``id`` (random; the chain's
head keeps the id of the newest line it took, so that lines shipped just before a crash are
not shipped twice). Writers from every process append under ``journal.lock`` (flock), with
O_APPEND, one ``write`` per line. Only one shipper at a time holds ``ship.lock``; after each
batch commits it removes the shipped lines (under the writers' lock: the unshipped tail is
written to a new file that replaces the journal, so an acknowledged line is never at risk).
A writer notices the replacement (another inode at the path) and reopens. Folder 0700,
files 0600. The journal holds ids, never personal data (the event's rules in audit.py).

A line that cannot be read (a torn write after a crash or a full disk) is not dropped: it
becomes an ``audit.journal_damaged`` event in the chain, with its length.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from .audit import AuditError, timestamp

log = logging.getLogger(__name__)

#: An append fails (closed) when the journal holds more than this: shipping has stalled.
MAX_BYTES = 16 * 1024 * 1024
#: Lines per shipping transaction.
BATCH_LINES = 2000
#: How long the shipper waits after being woken, to gather more events into one transaction.
LINGER_SECONDS = 0.5
#: How an append waits for its line (GRAPHSVC_AUDIT_DURABILITY): ``write`` until the line is
#: written to the operating system (it survives any crash of this process or of Neo4j; the
#: syncer thread puts it on disk right after, within about one fdatasync), ``fsync`` until
#: it is on disk (it survives a power loss too; about +0.3 ms per audited request here).
DURABILITIES = ("write", "fsync")


class Journal:
    """One journal file, shared by every thread of this process (use ``at(path)``)."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, durability: str = "write"):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.durability = durability
        self._lock_path = self.path.with_name(self.path.stem + ".lock")
        self._ship_lock_path = self.path.with_name(self.path.stem + ".ship.lock")
        # flock is per open file description, which this process's threads share: they
        # exclude each other with this mutex, taken with the flock (``_locked``)
        self._file_mutex = threading.Lock()
        self._ship_mutex = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self._lock_fd: int | None = None
        self.wake = threading.Event()  # set by every append: the shipper has work
        # The syncer (group commit): lines this process wrote, and how many of them are
        # known to be on disk; the first fdatasync failure, which fails every later append.
        self._synced_cond = threading.Condition(threading.Lock())
        self._written = 0
        self._synced = 0
        self._sync_error: OSError | None = None
        self._syncer: threading.Thread | None = None

    # --- writing ---------------------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> None:
        """Add one line (``record`` plus ``at``); raise AuditError when it cannot.

        Returns once the line is written to the operating system (``durability`` "write")
        or on disk ("fsync"); the syncer thread puts it on disk in either case, one
        fdatasync for all the lines written meanwhile by this process's threads.
        """
        self._check_synced()
        try:
            with self._locked():
                fd = self._current_fd()
                size = os.fstat(fd).st_size
                if size > self.max_bytes:
                    raise AuditError(
                        f"audit: the journal {self.path} holds {size} bytes not yet in the audit "
                        "log (shipping has stalled; see the server log and run `audit verify`)")
                line = json.dumps({**record, "at": timestamp()}, ensure_ascii=False,
                                  separators=(",", ":")).encode("utf-8") + b"\n"
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn line before: keep this one whole
                if os.write(fd, line) != len(line):
                    raise OSError("short write")
                with self._synced_cond:
                    self._written += 1
                    ticket = self._written
                    self._synced_cond.notify_all()  # the syncer has work
        except OSError as exc:
            raise AuditError(f"audit: the journal {self.path} cannot be written: {exc}") from exc
        self._start_syncer()
        if self.durability == "fsync":
            self.wait_synced(ticket)
        self.wake.set()

    # --- syncing (group commit) ------------------------------------------------------------

    def _check_synced(self) -> None:
        if self._sync_error is not None:
            raise AuditError(f"audit: the journal {self.path} could not be put on disk "
                             f"({self._sync_error}); restart the service once the disk is fixed")

    def wait_synced(self, ticket: int | None = None) -> None:
        """Return when this process's lines up to ``ticket`` (default: all) are on disk."""
        with self._synced_cond:
            target = self._written if ticket is None else ticket
            while self._synced < target and self._sync_error is None:
                self._synced_cond.wait()
        self._check_synced()

    def _start_syncer(self) -> None:
        if self._syncer is None:
            with self._synced_cond:
                if self._syncer is None:
                    self._syncer = threading.Thread(target=self._sync_loop, daemon=True,
                                                    name=f"audit-journal-sync:{self.path}")
                    self._syncer.start()
                    atexit.register(self._sync_at_exit)

    def _sync_loop(self) -> None:
        while True:
            with self._synced_cond:
                while self._synced >= self._written:
                    self._synced_cond.wait()
            self.sync()
            if self._sync_error is not None:
                return

    def sync(self) -> None:
        """One fdatasync for every line this process has written so far."""
        with self._locked():
            with self._synced_cond:
                target = self._written
            fd = os.dup(self._fd) if self._fd is not None else None
        try:
            if fd is not None:
                # Lines written before a replacement of the file are in the new file, which
                # the shipper put on disk; the rest are in this one.
                os.fdatasync(fd)
        except OSError as exc:
            log.error("audit: fdatasync of the journal %s failed: %s", self.path, exc)
            with self._synced_cond:
                self._sync_error = exc  # a failed fsync may have lost pages: never trust it again
                self._synced_cond.notify_all()
            return
        finally:
            if fd is not None:
                os.close(fd)
        self._mark_synced(target)

    def _mark_synced(self, upto: int | None = None) -> None:
        """This process's lines up to ``upto`` (default: all written so far) are on disk."""
        with self._synced_cond:
            self._synced = max(self._synced, self._written if upto is None else upto)
            self._synced_cond.notify_all()

    def _sync_at_exit(self) -> None:
        try:
            if self._written > self._synced and self._sync_error is None:
                self.sync()
        except OSError:  # noqa: PERF203 - best effort at exit
            pass

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The journal file to oneself: against this process's other threads (the mutex)
        and against other processes (the flock)."""
        with self._file_mutex:
            if self._lock_fd is None:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_fd(self) -> int:
        """The journal open for appending; reopened when the shipper replaced the file."""
        try:
            ino = os.stat(self.path).st_ino
        except FileNotFoundError:
            ino = None
        if self._fd is None or ino != self._ino:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            if ino is None:  # created: make its name durable too
                _fsync_dir(self.path.parent)
            self._fd, self._ino = fd, os.fstat(fd).st_ino
        return self._fd

    # --- shipping --------------------------------------------------------------------------

    @contextmanager
    def shipping(self) -> Iterator[None]:
        """Be the only shipper (of this process and of every other) while inside."""
        with self._ship_mutex:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._ship_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def ship(self, deliver: Callable[[list[bytes]], None]) -> int:
        """Hand every complete line to ``deliver`` in batches, dropping each batch once delivered.

        ``deliver`` must commit the lines to the chain (or raise: then they stay). Everything
        appended before this call is delivered when it returns. Returns the number of lines.
        """
        with self.shipping():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n") + 1
            lines = [line for line in data[:end].split(b"\n") if line.strip()]
            done = 0
            offset = 0
            for start in range(0, len(lines), BATCH_LINES):
                batch = lines[start:start + BATCH_LINES]
                deliver(batch)
                done += len(batch)
                offset = _offset_after(data, offset, len(batch))
                self._drop_prefix(offset)
            if not lines and end:
                self._drop_prefix(end)  # only blank lines
            return done

    def _drop_prefix(self, shipped: int) -> None:
        """Remove the first ``shipped`` bytes (delivered lines), keeping what came after."""
        with self._locked():
            with open(self.path, "rb") as fh:
                fh.seek(shipped)
                tail = fh.read()
            if not tail:
                os.truncate(self.path, 0)
                self._mark_synced()  # every line written so far is in the chain
                return
            fresh = self.path.with_name(self.path.name + ".new")
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, tail)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(fresh, self.path)
            _fsync_dir(self.path.parent)
            self._mark_synced()  # every line written so far is on disk, in the new file

    def pending_bytes(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0


def _offset_after(data: bytes, offset: int, count: int) -> int:
    """The offset just past the next ``count`` non-blank lines starting at ``offset``."""
    while count:
        nl = data.index(b"\n", offset)
        if data[offset:nl].strip():
            count -= 1
        offset = nl + 1
    while offset < len(data) and data[offset:offset + 1] == b"\n":
        offset += 1  # blank lines right after the batch go with it
    return offset


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_journals: dict[Path, Journal] = {}
_journals_lock = threading.Lock()


def at(path: Path, durability: str = "write") -> Journal:
    """This process's Journal for ``path`` (one object per file, so threads share its locks)."""
    if durability not in DURABILITIES:
        raise ValueError(f"audit journal durability must be one of {', '.join(DURABILITIES)}, "
                         f"not {durability!r}")
    key = Path(os.path.abspath(path))
    with _journals_lock:
        journal = _journals.get(key)
        if journal is None:
            journal = _journals[key] = Journal(key)
        journal.durability = durability
        return journal


class Shipper(threading.Thread):
    """Moves a journal's events into the chain shortly after they are appended (daemon).

    One per journal per process (``start_shipper``). It ships when woken by an append (after
    ``LINGER_SECONDS``, so that concurrent requests share one transaction) and every second
    otherwise (lines left by another process or by a crash). A failure is logged and retried
    with a growing pause; the lines stay in the journal meanwhile.
    """

    def __init__(self, journal: Journal, connect: Callable[[], Any], flush: Callable[[Any], int]):
        super().__init__(name=f"audit-shipper:{journal.path}", daemon=True)
        self.journal = journal
        self._connect = connect
        self._flush = flush
        self._halt = threading.Event()
        self._db = None

    def run(self) -> None:
        pause = 0.0
        while not self._halt.is_set():
            if self.journal.wake.wait(timeout=1.0):
                self._halt.wait(LINGER_SECONDS)
            self.journal.wake.clear()
            try:
                self.ship_now()
                pause = 0.0
            except Exception:  # noqa: BLE001 - logged; the lines stay and are retried
                log.exception("audit: shipping the journal %s failed; retrying", self.journal.path)
                pause = min(5.0, pause * 2 or 0.2)
                self._halt.wait(pause)

    def ship_now(self) -> int:
        if self._db is None:
            self._db = self._connect()
        return self._flush(self._db)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, then ship what is left (best effort: lines stay for the next start)."""
        if self._halt.is_set():
            return
        self._halt.set()
        self.journal.wake.set()
        self.join(timeout)
        try:
            if self.journal.pending_bytes():
                self.ship_now()
        except Exception:  # noqa: BLE001
            log.warning("audit: %d bytes of the journal %s are left for the next start",
                        self.journal.pending_bytes(), self.journal.path)
        if self._db is not None:
            self._db.close()
            self._db = None


_shippers: dict[Path, Shipper] = {}


def start_shipper(journal: Journal, connect: Callable[[], Any], flush: Callable[[Any], int]) -> Shipper:
    """Start this process's shipper for ``journal`` unless it runs already; stopped at exit."""
    with _journals_lock:
        shipper = _shippers.get(journal.path)
        if shipper is None or not shipper.is_alive():
            shipper = _shippers[journal.path] = Shipper(journal, connect, flush)
            shipper.start()
            atexit.register(shipper.stop)
        return shipper


def stop_shippers() -> None:
    """Stop every shipper of this process (before its database goes away)."""
    with _journals_lock:
        shippers = list(_shippers.values())
        _shippers.clear()
    for shipper in shippers:
        shipper.stop()
