"""What a request brings: its query arguments and its JSON body, parsed in one place.

Each view declares the arguments it takes (``takes``); the guard answers 400 naming the
first argument a view does not take, before the view runs, so that a typo or a probe
(``?_method=POST``, ``?fmt=x``) is told so instead of being ignored or reaching code that
did not expect it. ``lang`` (the page's language) is taken everywhere.

Every parser answers a malformed value with ``BadField`` (400, the argument named, the
problem in the page's language). Numbers are ASCII digits only (``int("²")`` fails, and
``"٣".isdigit()`` is true); dates are ``YYYY-MM-DD`` within ``DATE_RANGE``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, overload

from flask import request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from graphsvc import netmap
from graphsvc.mapping import VIEWS, MapFilters
from graphsvc.records import parse_date

ALWAYS = frozenset({"lang"})
DIGITS = re.compile(r"[0-9]{1,18}")
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))
MAX_JSON_DEPTH = 16
SURROGATE = re.compile("[\ud800-\udfff]")


class BadField(BadRequest):
    """A malformed request argument or field: 400 with a message naming it."""

    def __init__(self, field: str, problem: str):
        super().__init__(description="field")
        self.field = field
        self.problem = problem


def takes(*names: str) -> Callable:
    """Declare the query arguments a view takes (besides ``lang``)."""

    def mark(view: Callable) -> Callable:
        # a mark on the view function, read by taken_by (mypy does not know function attributes)
        view.takes_args = frozenset(names) | ALWAYS  # type: ignore[attr-defined]
        return view

    return mark


def taken_by(view: Callable | None) -> frozenset[str]:
    return getattr(view, "takes_args", ALWAYS)


def check_known(view: Callable | None, args: Mapping[str, str]) -> None:
    """BadField for the first argument the view does not take."""
    allowed = taken_by(view)
    for name in args:
        if name not in allowed:
            raise BadField(name[:40], _("this page takes no such argument"))


def _raw(name: str, args: Mapping[str, str] | None) -> str:
    return ((request.args if args is None else args).get(name) or "").strip()


def text_arg(name: str, limit: int = 100, args: Mapping[str, str] | None = None) -> str | None:
    """A text argument, stripped; None when absent or empty."""
    value = _raw(name, args)
    if len(value) > limit:
        raise BadField(name, _("at most %(n)d characters", n=limit))
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise BadField(name, _("contains a control character"))
    return value or None


@overload
def int_arg(name: str, default: int, low: int, high: int, args: Mapping[str, str] | None = None) -> int: ...
@overload
def int_arg(name: str, default: None, low: int, high: int, args: Mapping[str, str] | None = None) -> int | None: ...
def int_arg(name: str, default: int | None, low: int, high: int, args: Mapping[str, str] | None = None) -> int | None:
    """An integer argument within [low, high], in ASCII digits; empty is the default.
    Nothing else is taken for empty: Python's strip() would drop a control character like
    U+001E, and a number with one around it would pass (schemathesis found it)."""
    raw = (request.args if args is None else args).get(name) or ""
    if not raw.strip(" "):
        return default
    if not DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadField(name, _("a whole number from %(low)d to %(high)d", low=low, high=high))
    return int(raw)


def date_arg(name: str, args: Mapping[str, str] | None = None) -> dt.date | None:
    """A date argument (YYYY-MM-DD, ASCII digits, within DATE_RANGE)."""
    raw = _raw(name, args)
    if not raw:
        return None
    value = parse_date(raw)
    if value is None or not DATE_RANGE[0] <= value <= DATE_RANGE[1]:
        raise BadField(
            name,
            _(
                "a date like 2026-03-01, from %(low)s to %(high)s",
                low=DATE_RANGE[0].isoformat(),
                high=DATE_RANGE[1].isoformat(),
            ),
        )
    return value


def flag_arg(name: str, args: Mapping[str, str] | None = None) -> bool:
    """A yes/no argument: 1, true, yes; 0, false, no or absent."""
    raw = _raw(name, args).lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise BadField(name, _("1 or 0"))


def choice_arg(
    name: str, choices: tuple[str, ...], default: str | None = None, args: Mapping[str, str] | None = None
) -> str | None:
    raw = _raw(name, args)
    if not raw:
        return default
    if raw not in choices:
        raise BadField(name, _("one of %(values)s", values=", ".join(choices)))
    return raw


AUDIT_FILTERS = ("actor", "target", "action", "outcome", "since", "until")


def audit_filters(args: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validated filters for audit.query from request arguments; 400 on a malformed one."""
    out: dict[str, Any] = {}
    for key in ("actor", "target", "action", "outcome"):
        value = text_arg(key, args=args)
        if value:
            out[key] = value
    for key in ("since", "until"):
        day = date_arg(key, args=args)
        if day:
            out[key] = day
    return out


def _depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests (a scalar is 0); stops counting past ``limit``."""
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return 0
    if limit <= 0:
        return 1
    return 1 + max((_depth(v, limit - 1) for v in items), default=0)


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object; BadField("body") when it is not one (not JSON,
    not UTF-8, nested deeper than MAX_JSON_DEPTH, or not an object)."""
    if not request.is_json:
        raise BadField("body", _("a JSON object is expected (Content-Type: application/json)"))
    try:
        value = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise BadField("body", _("not valid JSON")) from None
    if not isinstance(value, dict):
        raise BadField("body", _("a JSON object is expected"))
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadField("body", _("nested more than %(n)d levels deep", n=MAX_JSON_DEPTH))
    where = _not_text(value, "body")
    if where is not None:  # JSON's \ud800 escapes decode to text that cannot be stored
        raise BadField(where, _("contains an unpaired surrogate (not Unicode text)"))
    return value


def _not_text(value: Any, where: str) -> str | None:
    """The field (top-level key) of the first string holding a lone surrogate, if any."""
    if isinstance(value, str):
        return where if SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = key if where == "body" else where
            if SURROGATE.search(key):
                return "body"
            found = _not_text(item, name[:40])
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _not_text(item, where)
            if found is not None:
                return found
    return None


# --- the map's filters ---------------------------------------------------------------


def parse_filters(args: Mapping[str, str] | None = None) -> MapFilters:
    """The map's filters from request arguments; ``BadField`` (400, naming the argument)
    for a malformed one. ``depth`` (the API's word) is ``hops``."""
    args = dict(request.args if args is None else args)
    if "depth" in args:
        args["hops"] = args.pop("depth")
    raw_classes = [c for c in (args.get("status") or "").replace(" ", "").split(",") if c]
    for c in raw_classes:
        if c not in netmap.VISIT_CLASSES:
            raise BadField("status", _("one of %(values)s", values=", ".join(netmap.VISIT_CLASSES)))
    view = (args.get("view") or "households").strip()
    if view not in VIEWS:
        raise BadField("view", _("one of %(values)s", values=", ".join(VIEWS)))
    f = MapFilters(
        district=text_arg("district", args=args),
        chain_of=text_arg("chain_of", 64, args),
        root=text_arg("root", 64, args),
        hops=int_arg("hops", 2, 1, 6, args),
        classes=tuple(dict.fromkeys(raw_classes)) or None,
        wave_min=int_arg("wave_min", None, 0, 1000, args),
        wave_max=int_arg("wave_max", None, 0, 1000, args),
        since=date_arg("since", args),
        until=date_arg("until", args),
        q=text_arg("q", args=args),
        max_nodes=int_arg("max_nodes", netmap.NODE_BUDGET, 1, netmap.MAX_NODES, args),
        view=view,
        rest=(args.get("rest") or "") in ("1", "true", "yes"),
    )
    if f.wave_min is not None and f.wave_max is not None and f.wave_min > f.wave_max:
        raise BadField("wave_max", _("not below wave_min"))
    if f.since and f.until and f.since > f.until:
        raise BadField("until", _("not before since"))
    if f.view == "people" and not (f.chain_of or f.root):
        raise BadField("view", _("the people view needs chain_of or root"))
    if f.rest and not f.district:
        raise BadField("rest", _("needs a district"))
    return f
