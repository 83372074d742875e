"""Bounding what one hostile client can cost: failures per address, and repeated denials
folded into one audit event per window.

Every refused request is on record (an ``access.unauthenticated``, ``token.invalid``,
``csrf.rejected`` or denied event): that is what the audit is for. But one client without an
account could add about 13,500 events a minute that way, and events are never pruned. So,
per web process:

- **A budget of failures per address** (``per_minute``, sliding over the last 60 s). While
  an address is over it, its requests that carry no credentials, and any that fail, are
  answered 429 with ``Retry-After`` before any work is done; they are counted, not recorded
  one by one.
- **Identical denials fold.** The first denial of a kind (address, actor, action, outcome,
  targets, detail) in a window is recorded at once; the ones that follow within the window
  are counted, and one event says how many when the window ends ("… 57 more like this
  between 10:01:02 and 10:02:01"). The 429s of an address over its budget fold the same way.
  The fact is kept; the volume is bounded: at most about ``per_minute`` events a minute per
  address and process, plus one summary per kind.

No Flask here, and no database: the web layer asks ``over_budget`` and ``note``, records
what ``note`` lets through, and at the start of every request (and at exit) the summaries
``drain`` hands back.

>>> gate = Gate(per_minute=2, clock=iter([0, 1, 2, 3, 61, 62]).__next__)
>>> gate.note("1.2.3.4", {"action": "access.unauthenticated", "detail": "/x"})  # t=0: first of its kind
True
>>> gate.note("1.2.3.4", {"action": "access.unauthenticated", "detail": "/x"})  # t=1: folded
False
>>> gate.over_budget("1.2.3.4")  # t=2: two failures in the last 60 s; free again at t=60
58.0
>>> [e["detail"] for e in gate.drain()]  # t=3: its window is still open
[]
>>> [e["detail"][:14] for e in gate.drain()]  # t=61: the window closed
['/x; 1 more lik']
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW = 60.0
MAX_ADDRESSES = 10_000  # addresses remembered at once (oldest forgotten first)


@dataclass
class _Fold:
    event: dict[str, Any]
    first: float
    count: int = 0  # after the first, which was recorded
    last: float = 0.0


@dataclass
class Gate:
    """One process's failure budgets and folded denials (thread-safe)."""

    per_minute: int = 30  # failures in the last WINDOW seconds; 0: no budget (denials still fold)
    window: float = WINDOW  # identical denials within it fold into one event; 0: none fold
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _failures: dict[str, deque[float]] = field(default_factory=dict)  # clock() times of failures
    _folds: dict[tuple[Any, ...], _Fold] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def over_budget(self, address: str) -> float | None:
        """Seconds until ``address`` is under its budget again, or None when it is now."""
        if not self.per_minute:
            return None
        now = self.clock()
        with self._lock:
            times = self._failures.get(address)
            if times is None:
                return None
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) < self.per_minute:
                return None
            return max(1.0, times[0] + WINDOW - now)

    def failed(self, address: str) -> None:
        """Count a failure of ``address`` whose event is on record elsewhere (a sign-in)."""
        with self._lock:
            self._times(address).append(self.clock())

    def _times(self, address: str) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))
            times = self._failures[address] = deque(maxlen=max(self.per_minute, 1))
        return times

    def note(self, address: str, event: dict[str, Any], where: str | None = None) -> bool:
        """Count a failure of ``address``; return True when ``event`` is to be recorded
        now (the first of its kind in this window), False when it was folded. ``where``
        (the route) is part of the kind: the same refusal by a page and by the API is two."""
        now = self.clock()
        key = (
            address,
            where,
            event.get("actor"),
            event.get("action"),
            event.get("outcome"),
            tuple(event.get("targets") or ()),
            event.get("detail"),
        )
        with self._lock:
            self._times(address).append(now)
            fold = self._folds.get(key)
            if fold is None or now - fold.first >= self.window:  # window 0: nothing folds
                self._folds[key] = _Fold(dict(event), now, 0, now)
                return True
            fold.count += 1
            fold.last = now
            return False

    def drain(self, everything: bool = False) -> list[dict[str, Any]]:
        """The summary events of windows that closed (all of them with ``everything``, at
        exit): the first event of each kind again, its detail saying how many more came."""
        now = self.clock()
        offset = self.wall() - now  # monotonic → wall-clock seconds, for the summary's words
        out = []
        with self._lock:
            for key, fold in list(self._folds.items()):
                if not everything and now - fold.first < self.window:
                    continue
                del self._folds[key]
                if fold.count:
                    event = dict(fold.event)
                    span = (
                        f"{fold.count} more like this between {_hms(fold.first + offset)} and "
                        f"{_hms(fold.last + offset)} UTC"
                    )
                    event["detail"] = f"{event['detail']}; {span}" if event.get("detail") else span
                    out.append(event)
        return out


def _hms(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))
