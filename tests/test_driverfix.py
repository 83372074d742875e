"""The guard of graphsvc/driverfix.py: the driver's EOF check of an idle connection must
return at once even while another thread sets that socket's timeout (without the guard the
check could spin for ever: CPython retries a non-blocking recv that another thread made
"blocking" without polling)."""

from __future__ import annotations

import socket
import threading

from neo4j._async_compat.network import _bolt_socket

from graphsvc import driverfix


class _Conn:
    """Just what at_eof reads: the peeked bytes and the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._peeked = bytearray()
        self._socket = sock


def _race(at_eof, rounds: int = 3000) -> tuple[bool, list[bool]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(4.0)
    conn = _Conn(ours)
    stop = threading.Event()
    answers: list[bool] = []

    def meddle() -> None:  # another thread setting the same socket's timeout, as the pool may
        while not stop.is_set():
            ours.settimeout(4.0)

    def check() -> None:
        for _ in range(rounds):
            answers.append(at_eof(conn))

    meddler = threading.Thread(target=meddle, daemon=True)
    checker = threading.Thread(target=check, daemon=True)  # a spinning one must not hold the run
    meddler.start()
    checker.start()
    checker.join(20)
    stop.set()
    done = not checker.is_alive()
    theirs.close()  # ends a spinning recv: it then reads EOF
    checker.join(5)
    ours.close()
    return done, answers


def test_the_eof_check_of_an_idle_connection_returns_while_another_thread_sets_its_timeout():
    driverfix.install()
    done, answers = _race(_bolt_socket.BoltSocketBase.at_eof)
    assert done, "the EOF check spun"
    assert answers and not any(answers)  # an idle, open connection is not at its end


def test_a_closed_peer_is_still_seen_as_the_end_and_data_is_kept():
    driverfix.install()
    ours, theirs = socket.socketpair()
    conn = _Conn(ours)
    theirs.sendall(b"x")
    assert _bolt_socket.BoltSocketBase.at_eof(conn) is False and conn._peeked == b"x"
    conn._peeked.clear()
    theirs.close()
    assert _bolt_socket.BoltSocketBase.at_eof(conn) is True
    ours.close()
