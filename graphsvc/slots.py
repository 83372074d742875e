"""Slots for heavy requests, shared by every process of a server: a user's big maps and
lists must not take every thread and core from everyone else.

A heavy request (a map, a people view, a list of thousands) holds one slot of its user's
``per_user`` and one of the server's ``total`` while it runs; when none is free it is
refused at once (the caller answers 429 with ``Retry-After``), it never waits holding a
thread. Slots are files under the state folder, taken with ``flock(LOCK_EX | LOCK_NB)`` on a
descriptor of their own, so they are shared by the processes of one server (gunicorn
workers), exclude threads of one process as well (each open() is its own lock), and are
released by the kernel if a process dies holding one.

>>> import tempfile
>>> slots = Slots(Path(tempfile.mkdtemp()), per_user=1, total=2)
>>> first = slots.take("minji")
>>> slots.take("minji") is None, slots.take("junho") is not None  # her one slot is taken
(True, True)
>>> first.release(); slots.take("minji") is not None
True
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path


class Held:
    """Slots taken by one request; ``release`` gives them back (idempotent)."""

    def __init__(self, fds: list[int]):
        self._fds = fds

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)  # closing the descriptor releases its flock


class Slots:
    def __init__(self, folder: Path, per_user: int = 1, total: int = 1):
        self.folder = Path(folder)
        self.per_user = per_user
        self.total = total

    def _try(self, prefix: str, count: int) -> int | None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for k in range(count):
            fd = os.open(self.folder / f"{prefix}.{k}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    def take(self, username: str) -> Held | None:
        """One of the user's slots and one of the server's, or None when either is full."""
        if self.per_user <= 0 or self.total <= 0:
            return Held([])  # no limit
        user = hashlib.sha256(username.encode()).hexdigest()[:16]  # no username in file names
        mine = self._try(f"user-{user}", self.per_user)
        if mine is None:
            return None
        shared = self._try("server", self.total)
        if shared is None:
            os.close(mine)
            return None
        return Held([mine, shared])
