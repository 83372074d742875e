"""A guard around one method of the Neo4j driver (neo4j 6.4): ``BoltSocket.at_eof``.

``at_eof`` asks whether a pooled connection was closed by the server: it sets the socket's
timeout to 0, reads one byte, and puts the timeout back. When another thread sets that
socket's timeout in between (the driver's pool and a request can both look at one
connection), CPython's ``recv`` starts as non-blocking and then sees a positive timeout
after EAGAIN: it retries at once, without polling, for as long as nothing arrives. An
idle connection sends nothing, so the thread spins for ever at full CPU (seen twice in CI:
a claim that never returned, a pool health check that never did).

The guard asks ``select`` first, without touching the timeout: a socket with nothing to
read is not at its end, and ``recv`` is called only when it cannot block (data or EOF), so
that loop has nothing to spin on. Everything else is the driver's own code.
"""

from __future__ import annotations

import select
from typing import Any

from neo4j._async_compat.network import _bolt_socket

_original = _bolt_socket.BoltSocketBase.at_eof


def _at_eof(self: Any) -> bool:
    if self._peeked:
        return False
    try:
        readable, _, _ = select.select([self._socket], [], [], 0)
    except (OSError, ValueError):  # closed, or not a socket any more: gone
        return True
    if not readable:
        return False  # nothing to read: not at its end, and no read that could spin
    return bool(_original(self))


def install() -> None:
    """Put the guard in place (idempotent)."""
    if _bolt_socket.BoltSocketBase.at_eof is not _at_eof:
        _bolt_socket.BoltSocketBase.at_eof = _at_eof  # type: ignore[method-assign]
