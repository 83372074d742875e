"""gunicorn's threaded worker with a lane of its own for /healthz and /readyz.

A load balancer or supervisor asks these while the service is in trouble: every worker
thread may then be busy (a slow database, a burst of maps), and a probe queued behind them
would time out and get a healthy process restarted, or keep traffic on a dead one. Here the
first bytes of each request are peeked at (never read) in the worker's main loop; a
``GET /healthz`` or ``GET /readyz`` is handed to two threads kept for them, everything else
to the usual pool. A connection that has sent nothing yet waits on gunicorn's poller (its
own "pending" lane) rather than in a thread, so that its first bytes can be looked at.

It also notes when each request was put in the queue (``queued_at``): a request's deadline
(graphsvc/waits.py) counts from there, so that time spent waiting for a free thread is
part of it and a request whose client has given up is not started.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from concurrent import futures
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

HEALTH = re.compile(rb"^(GET|HEAD) /(healthz|readyz)[ ?]")
PEEK = 16  # bytes enough for the request line's start
_local = threading.local()


def queued_at() -> float | None:
    """When the request this thread serves was queued (time.monotonic), under this worker."""
    return getattr(_local, "queued_at", None)


def first_bytes(sock: socket.socket) -> bytes | None:
    """What the client has sent so far (left in the socket), or None when nothing yet."""
    try:
        return sock.recv(PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return None
    except OSError:
        return b""  # closed or reset: the usual path ends it


class HealthLaneWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no type hints
    def init_process(self) -> None:
        self.health_pool = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="graphsvc-health")
        super().init_process()

    def enqueue_req(self, conn) -> None:
        start = first_bytes(conn.sock)
        if start is None and not conn.initialized and not conn.data_ready:
            # nothing sent yet: wait on the poller, as gunicorn does for a slow client
            conn.sock.setblocking(False)
            conn.timeout = time.monotonic() + self.cfg.keepalive
            self.pending_conns.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))
            return
        conn.queued_at = time.monotonic()
        if start and HEALTH.match(start):
            done = self.health_pool.submit(self.handle, conn)
            done.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))
            return
        super().enqueue_req(conn)

    def handle(self, conn):
        _local.queued_at = getattr(conn, "queued_at", None)
        try:
            return super().handle(conn)
        finally:
            _local.queued_at = None
