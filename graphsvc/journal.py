"""The audit journal: where a web request's audit event is on record before its answer leaves.

Why a journal
-------------
The audit log (audit.py) is a hash chain in Neo4j. Appending to it costs a write
transaction of its own: about 1.5–3 ms here, next to a 2 ms read, and appends queue on the
chain's head lock, so under concurrency every audited request waits for every other one
(bench/RESULTS.md). A read must still be on record before its answer leaves, and must fail
when it cannot be recorded.

So a request's event (``audit.to_journal``) is appended to this journal, a local file, before the
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
event to the chain inside their own transaction (``audit.append_in_tx``): the journal is only for
events recorded on their own. Such an event can enter the chain before journal events
recorded up to a shipment earlier, so ``seq`` is the order in which events entered the
chain, and ``at`` the time each was recorded. ``audit.append_now`` (an event on its own in a
transaction of its own, from the command line) ships the journal first.

The file
--------
``<dir>/journal.jsonl``: one JSON object per line, the event's fields (audit.py) plus
``at`` (taken under the lock, so file order is time order), ``id`` (random; the chain's
head keeps the id of the newest line it took, so that lines shipped just before a crash are
not shipped twice), ``prev`` and ``mac`` (below). Writers from every process append under
``journal.lock`` (flock), with O_APPEND, one ``write`` per line. Only one shipper at a time
holds ``ship.lock``; after each batch commits it removes the shipped lines (under the
writers' lock: an anchor line and the unshipped tail are written to a new file that replaces
the journal, so an acknowledged line is never at risk). A writer notices the replacement
(another inode at the path) and reopens. Folder 0700, files 0600. The journal holds ids,
never personal data (the event's rules in audit.py).

The lines are chained (tamper evidence before shipping)
-------------------------------------------------------
Each line carries ``prev``, the ``mac`` of the line written before it (64 zeros for the
first line of an empty journal), and its own::

    mac = HMAC-SHA256(journal key, prev + canonical(line without "mac"))     # lower-case hex

with audit.canonical's JSON (keys sorted, no whitespace, non-ASCII as itself); the line is
that canonical text with ``"mac"`` added last. The key is not in Neo4j: it is kept like the
data keys (crypto.journal_key: ``GRAPHSVC_AUDIT_JOURNAL_KEY`` or ``audit-journal.key`` in the key folder).
A writer finds ``prev`` under the journal's lock: the ``mac`` of the last line of the file
that has one (lines without one, torn or unreadable, are passed over), or the value it
remembers from its own last write when the file is unchanged since then (same inode and
size: the file only grows, and the shipper replaces it; no read at all, so that an append
stays about 0.1 ms).

Shipping drops the shipped lines, so the chain is anchored twice: the head in Neo4j keeps
the ``mac`` of the last line it took (``journal_mac``, set in the shipping transaction,
next to ``journal``, that line's id), and the new file starts with an *anchor line*
``{"anchor": <that id>, "mac": <that mac>}``, which writers chain to when nothing follows it
(it is no event; ``pending_bytes`` does not count it). The shipper checks every line it
ships against the head, not against the anchor, so the file cannot vouch for itself:

=====================================  =================================================
the line                               is shipped as
=====================================  =================================================
MAC right, ``prev`` = the line before  its event
MAC wrong                              ``audit.journal_damaged`` "edited or forged", then
                                       its event (its content as it now reads)
MAC wrong, and the next line chains    "inserted", then its event
past it to the line before
MAC right, ``prev`` is the MAC of      "out of order: written right after line X", then
another line of the journal            its event
MAC right, ``prev`` is no line's       "the lines before it are missing (deleted)", then
(nor the head's)                       its event
an id seen before (a replayed line)    "a copy …": a notice only (its event is in already)
no MAC                                 "has no MAC", then its event; except lines of an
                                       older version (below)
not JSON, or not an event (torn)       "an unreadable journal line of N bytes" only
=====================================  =================================================

Every notice names the line (its id) and the seq its event got, and the shipment goes on:
damage never stalls the chain and nothing acknowledged is left out. Lines from before this
format (no ``prev``, no ``mac``) are accepted while the head holds no ``journal_mac`` and no
chained line precedes them, i.e. only what an older version left in the file at the
upgrade: they are shipped with one ``audit.journal_unauthenticated`` notice. What a chain
of lines cannot show: the newest lines deleted before they ship (nothing follows them), in
the second or so before the shipper takes them; and someone who holds the journal key can
forge lines (the key is kept apart from the journal for that reason, and from Neo4j).

A line that cannot be read (a torn write after a crash or a full disk) is not dropped: it
becomes an ``audit.journal_damaged`` event in the chain, with its length.
"""

from __future__ import annotations

import atexit
import fcntl
import hmac
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import crypto
from .audit import ZERO_HASH, AuditError, _canonical, timestamp

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

_HEX64_BYTES = re.compile(rb"[0-9a-f]{64}\Z")
_ANCHOR_START = b'{"anchor":'


def line_mac(key: bytes, prev: str, text: str) -> str:
    """HMAC-SHA256(key, prev + text) as lower-case hex: ``text`` is the line's canonical
    JSON without its ``mac``."""
    return hmac.digest(key, (prev + text).encode("utf-8"), "sha256").hex()


class Journal:
    """One journal file, shared by every thread of this process (use ``at(path)``)."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, durability: str = "write", key: bytes | None = None):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.durability = durability
        self._key = key  # the journal key (crypto.journal_key), loaded on first use
        # The file as this process left it after its last append (inode, size) and that
        # line's mac: while the file is so, the next line chains to it without a read.
        self._tail_state: tuple[int, int] | None = None
        self._tail_mac = ZERO_HASH
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
        """Add one line (``record`` plus ``at``, ``prev``, ``mac``); raise AuditError when it cannot.

        Returns once the line is written to the operating system (``durability`` "write")
        or on disk ("fsync"); the syncer thread puts it on disk in either case, one
        fdatasync for all the lines written meanwhile by this process's threads.
        """
        self._check_synced()
        key = self.key()
        try:
            with self._locked():
                fd = self._current_fd()
                st = os.fstat(fd)
                size = st.st_size
                if size > self.max_bytes:
                    raise AuditError(
                        f"audit: the journal {self.path} holds {size} bytes not yet in the audit "
                        "log (shipping has stalled; see the server log and run `audit verify`)"
                    )
                torn = False
                if self._tail_state == (st.st_ino, size):
                    prev = self._tail_mac  # the file ends with this process's last line
                else:
                    self._tail_state = None
                    prev = _last_mac(fd, size)
                    torn = bool(size) and os.pread(fd, 1, size - 1) != b"\n"
                text = _canonical({**record, "at": timestamp(), "prev": prev})
                mac = line_mac(key, prev, text)
                line = (text[:-1] + ',"mac":"' + mac + '"}\n').encode("utf-8")
                if torn:
                    line = b"\n" + line  # a torn line before: keep this one whole
                if os.write(fd, line) != len(line):
                    raise OSError("short write")
                self._tail_state, self._tail_mac = (st.st_ino, size + len(line)), mac  # O_APPEND, locked
                with self._synced_cond:
                    self._written += 1
                    ticket = self._written
                    self._synced_cond.notify_all()  # the syncer has work
        except OSError as exc:
            self._tail_state = None
            raise AuditError(f"audit: the journal {self.path} cannot be written: {exc}") from exc
        self._start_syncer()
        if self.durability == "fsync":
            self.wait_synced(ticket)
        self.wake.set()

    def key(self) -> bytes:
        """The journal key (crypto.journal_key); AuditError when it cannot be loaded."""
        if self._key is None:
            try:
                self._key = crypto.journal_key()
            except crypto.CryptoError as exc:
                raise AuditError(f"audit: the journal key cannot be loaded: {exc}") from exc
        return self._key

    # --- syncing (group commit) ------------------------------------------------------------

    def _check_synced(self) -> None:
        if self._sync_error is not None:
            raise AuditError(
                f"audit: the journal {self.path} could not be put on disk "
                f"({self._sync_error}); restart the service once the disk is fixed"
            )

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
                    self._syncer = threading.Thread(
                        target=self._sync_loop, daemon=True, name=f"audit-journal-sync:{self.path}"
                    )
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

    def ship(self, deliver: Callable[[Shipment], tuple[str | None, str | None]]) -> int:
        """Hand every complete line to ``deliver`` in batches, dropping each batch once delivered.

        ``deliver`` must commit the batch's lines to the chain (checking them with
        ``Shipment.check`` against the head) and return the head's new ``journal`` id and
        ``journal_mac``, which the anchor line of the new file repeats; or raise: then the
        lines stay. Everything appended before this call is delivered when it returns.
        Returns the number of lines delivered (anchor lines are not counted).
        """
        with self.shipping():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n") + 1
            raw = [line for line in data[:end].split(b"\n") if line.strip()]
            if not raw:
                if end:
                    self._drop_prefix(end, None)  # only blank lines
                return 0
            if len(raw) == 1 and raw[0].startswith(_ANCHOR_START):
                return 0  # only the anchor: nothing to ship
            lines = [read_line(line, self.key()) for line in raw]
            by_mac: dict[str, int] = {}
            for i, line in enumerate(lines):
                if line.mac is not None and line.kind == "chained":
                    by_mac.setdefault(line.mac, i)
            done = 0
            offset = 0
            for lo in range(0, len(lines), BATCH_LINES):
                hi = min(len(lines), lo + BATCH_LINES)
                anchor = deliver(Shipment(lines, lo, hi, by_mac))
                done += sum(1 for line in lines[lo:hi] if line.kind != "anchor")
                offset = _offset_after(data, offset, hi - lo)
                self._drop_prefix(offset, anchor)
            return done

    def _drop_prefix(self, shipped: int, anchor: tuple[str | None, str | None] | None) -> None:
        """Replace the first ``shipped`` bytes (delivered lines) by the anchor line, keeping
        what came after. ``anchor``: the head's (journal id, journal mac) after delivering."""
        with self._locked():
            with open(self.path, "rb") as fh:
                fh.seek(shipped)
                tail = fh.read()
            first = b""
            if anchor is not None:
                first = (
                    json.dumps({"anchor": anchor[0], "mac": anchor[1] or ZERO_HASH}, separators=(",", ":")).encode(
                        "ascii"
                    )
                    + b"\n"
                )
            fresh = self.path.with_name(self.path.name + ".new")
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, first + tail)
                if tail:
                    # Acknowledged lines are in it. The anchor alone needs no fsync: lost in
                    # a crash, the old file comes back, whose lines the head knows as shipped.
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(fresh, self.path)
            if tail:
                _fsync_dir(self.path.parent)
            self._mark_synced()  # every line written so far is in the chain or in the new file

    def pending_bytes(self) -> int:
        """Bytes of the journal that are not yet in the chain (the anchor line aside)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            size = os.fstat(fd).st_size
            if size:
                first = os.pread(fd, 512, 0)
                if first.startswith(_ANCHOR_START):
                    newline = first.find(b"\n")
                    if newline >= 0:
                        return size - newline - 1
            return size
        finally:
            os.close(fd)


def _last_mac(fd: int, size: int) -> str:
    """The ``mac`` of the last line of the file that has one, else 64 zeros (read backwards)."""
    end = size
    carry = b""
    chunk = 4096  # a line is a few hundred bytes: the first read almost always holds the last one
    while end > 0:
        start = max(0, end - chunk)
        parts = (os.pread(fd, end - start, start) + carry).split(b"\n")
        carry = parts.pop(0) if start else b""
        for raw in reversed(parts):
            mac = _stated_mac(raw)
            if mac is not None:
                return mac
        end = start
        chunk = 65536
    return ZERO_HASH


def _stated_mac(raw: bytes) -> str | None:
    """The mac a line states, as writers and the shipper both read it: the line ends with
    ``,"mac":"<64 lower-case hex>"}`` (how graphsvc writes every line and anchor), else None.
    No JSON parsing, so that a writer that must look (another process wrote last) is quick."""
    raw = raw.rstrip()
    if len(raw) < 74 or raw[-2:] != b'"}' or raw[-74:-66] != b',"mac":"':
        return None
    mac = raw[-66:-2]
    return mac.decode("ascii") if _HEX64_BYTES.match(mac) else None


# --- checking the lines before they ship ----------------------------------------------------


@dataclass
class Line:
    """One journal line as read: its kind, and its MAC checked (not yet its place)."""

    raw: bytes
    kind: str  # "chained", "anchor", "legacy" (no mac: an older version's) or "unreadable"
    record: dict[str, Any] | None = None  # the event's fields with id and at (chained, legacy)
    id: str | None = None
    prev: str | None = None
    mac: str | None = None  # the mac it states (_stated_mac): what a line written after it chains to
    authentic: bool = False  # its mac matches its content and prev

    @property
    def name(self) -> str:
        return self.id if self.id else "without an id"


def read_line(raw: bytes, key: bytes) -> Line:
    mac = _stated_mac(raw)  # what a writer after this line chained to
    try:
        obj = json.loads(raw)
    except ValueError:
        return Line(raw, "unreadable", mac=mac)
    if not isinstance(obj, dict):
        return Line(raw, "unreadable", mac=mac)
    line_id = obj.get("id") if isinstance(obj.get("id"), str) else None
    if mac is not None and obj.get("mac") != mac:
        mac = None  # the ending is inside a string, not the line's mac
    if "anchor" in obj:
        anchor = obj["anchor"] if isinstance(obj["anchor"], str) else None
        return Line(raw, "anchor", id=anchor, mac=mac)
    if "mac" not in obj:
        return Line(raw, "legacy", record=obj, id=line_id)
    del obj["mac"]
    prev = obj.pop("prev", None)
    authentic = False
    if mac is not None and isinstance(prev, str):
        obj["prev"] = prev
        authentic = hmac.compare_digest(line_mac(key, prev, _canonical(obj)), mac)
        del obj["prev"]
    return Line(
        raw,
        "chained",
        record=obj,
        id=line_id,
        prev=prev if isinstance(prev, str) else None,
        mac=mac,
        authentic=authentic,
    )


@dataclass
class Step:
    """What shipping does with one line: a notice naming it (``problem``), its event, or both."""

    line: Line
    problem: str | None
    ship: bool  # its event goes into the chain (after the notice, if any)


@dataclass
class Checked:
    steps: list[Step]
    last_id: str | None  # the head's journal and journal_mac after these steps
    last_mac: str | None


@dataclass
class Shipment:
    """Lines ``lo``…``hi`` of the journal as read, to be checked against the head and shipped."""

    lines: list[Line]
    lo: int
    hi: int
    by_mac: dict[str, int] = field(default_factory=dict)  # mac -> the first line stating it

    def check(self, taken: str | None, taken_mac: str | None) -> Checked:
        """Place every line of the batch in the chain that the head (``taken``: the id of
        the last line it took, ``taken_mac``: its mac) continues; see the module's table."""
        lines = self.lines
        start = self._start(taken, taken_mac)
        seen_ids = {line.id for line in lines[:start] if line.id and line.kind != "anchor"}
        if taken:
            seen_ids.add(taken)
        chained_before = any(line.kind == "chained" for line in lines[:start])
        expected = taken_mac or ZERO_HASH  # what the next line must chain to
        chained = taken_mac is not None
        steps: list[Step] = []
        last_id = taken
        for i in range(start, self.hi):
            line = lines[i]
            if line.kind == "unreadable":
                steps.append(Step(line, None, False))  # audit.py: "an unreadable journal line"
                expected = line.mac or expected  # (a line damaged after the next one chained to it)
                continue
            if line.kind == "anchor":
                if i:
                    steps.append(Step(line, "an anchor line in the middle of the journal (inserted); ignored", False))
                continue
            if line.id is not None and line.id in seen_ids:
                steps.append(Step(line, "a copy of a line shipped or read before (replayed); not shipped again", False))
                continue
            if line.id is not None:
                seen_ids.add(line.id)
                last_id = line.id
            if line.kind == "legacy":
                if not chained and not chained_before:
                    steps.append(Step(line, None, True))  # an older version's, before the chain began
                else:
                    steps.append(
                        Step(line, "has no MAC (inserted, or written by an older version after the chain began)", True)
                    )
                continue
            chained_before = chained = True
            if not line.authentic:
                after = self._next_chained(i)
                if after is not None and after.prev == expected and line.mac != expected:
                    steps.append(
                        Step(line, "inserted: its MAC is wrong and the next line follows the line before it", True)
                    )
                else:
                    steps.append(Step(line, "edited or forged: its MAC does not match its content", True))
                    expected = line.mac or expected
                continue
            if line.prev != expected:
                j = self.by_mac.get(line.prev)  # type: ignore[arg-type]
                if j is not None and j != i:
                    problem = f"out of order: it was written right after line {lines[j].name}"
                else:
                    before = next((lines[k].name for k in range(i - 1, -1, -1) if lines[k].kind == "chained"), None)
                    problem = "the line(s) written before it are missing (deleted): it does not follow " + (
                        f"line {before}" if before else "the last line shipped"
                    )
                steps.append(Step(line, problem, True))
            else:
                steps.append(Step(line, None, True))
            expected = line.mac  # type: ignore[assignment]
        return Checked(steps, last_id, expected if chained else taken_mac)

    def _next_chained(self, i: int) -> Line | None:
        lines = self.lines
        return next((lines[k] for k in range(i + 1, len(lines)) if lines[k].kind == "chained"), None)

    def _start(self, taken: str | None, taken_mac: str | None) -> int:
        """The first line not yet in the chain: after the line the head took (a crash between
        commit and drop leaves shipped lines in the file), unless a line before it continues
        the head (then that one is a replayed copy, no proof that the lines before it
        shipped); else after the anchor, if the file starts with one."""
        lines = self.lines
        anchored = 1 if lines and lines[0].kind == "anchor" else 0
        found = None if taken is None else next((i for i in range(self.hi) if lines[i].id == taken), None)
        if found is None or (
            taken_mac is not None and any(line.kind == "chained" and line.prev == taken_mac for line in lines[:found])
        ):
            return max(self.lo, anchored)
        return max(self.lo, found + 1)


def _offset_after(data: bytes, offset: int, count: int) -> int:
    """The offset just past the next ``count`` non-blank lines starting at ``offset``."""
    while count:
        nl = data.index(b"\n", offset)
        if data[offset:nl].strip():
            count -= 1
        offset = nl + 1
    while offset < len(data) and data[offset : offset + 1] == b"\n":
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
        raise ValueError(f"audit journal durability must be one of {', '.join(DURABILITIES)}, not {durability!r}")
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
            log.warning(
                "audit: %d bytes of the journal %s are left for the next start",
                self.journal.pending_bytes(),
                self.journal.path,
            )
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
