"""Small charts rendered on the server as inline SVG strings, without I/O.

The coordinator's pages show them beside the network map. They need no JavaScript, no
CDN and no inline CSS (the pages run under ``style-src 'self'``): colours, sizes and
fonts are SVG presentation attributes (``fill="…"``, ``font-size="…"``), and every part
carries a class (``chart-bar``, ``chart-label``, ``chart-value``, ``chart-axis``) that the
app's own stylesheet may refine.

Every function returns one ``<svg>`` element as a ``str`` with ``xmlns``, ``viewBox``,
``role="img"``, an ``aria-label`` and a ``<title>`` child (the chart's title). Each bar has
a ``<title>`` child "label: value", so hovering it shows the number. All text is
XML-escaped, so the result may be put into a template unescaped (``|safe``). The output
is deterministic: the same input gives the same bytes; coordinates are rounded to one
decimal.

>>> svg = bar_chart([("Kim", 4), ("Lee", 2)], title="Top introducers")
>>> svg.count('class="chart-bar"')
2
>>> print(bar_chart([], title="Top introducers", empty_text="none yet"))  # doctest: +ELLIPSIS
<svg ...><title>Top introducers</title><text ...>none yet</text></svg>
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

__all__ = ["bar_chart", "column_chart"]

BAR_COLOUR = "#2f5d8a"
TEXT_COLOUR = "#5b6475"  # axis lines and all text
FONT_SIZE = 10
CHAR_WIDTH = 6  # the approximate width of one (narrow) character at FONT_SIZE, in px
LABEL_CHARS = 14  # labels longer than this (wide characters count two) are cut with "…"

_SVG_NS = "http://www.w3.org/2000/svg"
# Characters XML 1.0 does not allow (a label from the database could hold one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")


# ---------------------------------------------------------------- text and numbers


def _clean(text: object) -> str:
    """The text as one line of NFC-normalised characters that XML allows."""
    s = unicodedata.normalize("NFC", str(text))
    return _SPACE.sub(" ", _NOT_XML.sub("\ufffd", s)).strip()


def _text(text: str) -> str:
    """Escaped for element content."""
    return escape(text)


def _attr(text: str) -> str:
    """Escaped for a double-quoted attribute value."""
    return escape(text, {'"': "&quot;"})


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    """The display width in narrow characters: a wide (e.g. Korean) character counts two.

    >>> _width("Kim"), _width("김철수")
    (3, 6)
    """
    return sum(_char_width(ch) for ch in text)


def _truncate(text: str, limit: int = LABEL_CHARS) -> str:
    """The text cut to ``limit`` display columns, ending in "…" when it was cut.

    >>> _truncate("Household of the Park family", 14)
    'Household of …'
    >>> _truncate("박지성 가정의 소개 사슬", 14)
    '박지성 가정의…'
    """
    if _width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > limit - 1:  # one column for the ellipsis
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def _num(x: float) -> str:
    """A coordinate rounded to one decimal, without a trailing ".0" or a "-0".

    >>> _num(12.0), _num(3.14159), _num(-0.01)
    ('12', '3.1', '0')
    """
    s = f"{round(x, 1) + 0.0:.1f}"
    s = s[:-2] if s.endswith(".0") else s
    return "0" if s == "-0" else s


def _values(items: Sequence[tuple[object, int | float]]) -> list[tuple[str, int | float]]:
    """The items with cleaned labels; ValueError for a negative or non-finite value."""
    out: list[tuple[str, int | float]] = []
    for item in items:
        label, value = item
        label = _clean(label)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"chart value of {label!r} is not a number: {value!r}")
        if math.isnan(value):
            raise ValueError(f"chart value of {label!r} is NaN")
        if math.isinf(value):
            raise ValueError(f"chart value of {label!r} is infinite")
        if value < 0:
            raise ValueError(f"chart value of {label!r} is negative: {value!r}")
        out.append((label, value))
    return out


def _positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


# ---------------------------------------------------------------- SVG pieces


def _svg(title: str, width: float, height: float, kind: str, body: list[str]) -> str:
    t = _clean(title)
    return (
        f'<svg xmlns="{_SVG_NS}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="{_num(width)}" height="{_num(height)}" role="img" aria-label="{_attr(t)}" '
        f'class="chart {kind}" font-family="sans-serif" font-size="{FONT_SIZE}">'
        f"<title>{_text(t)}</title>" + "".join(body) + "</svg>"
    )


def _text_el(cls: str, x: float, y: float, text: str, anchor: str = "start") -> str:
    return (
        f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" '
        f'fill="{TEXT_COLOUR}">{_text(text)}</text>'
    )


def _bar_el(x: float, y: float, w: float, h: float, tooltip: str) -> str:
    return (
        f'<rect class="chart-bar" x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" '
        f'height="{_num(h)}" fill="{BAR_COLOUR}"><title>{_text(tooltip)}</title></rect>'
    )


def _line_el(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<line class="chart-axis" x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" '
        f'y2="{_num(y2)}" stroke="{TEXT_COLOUR}" stroke-width="1"/>'
    )


def _empty(title: str, width: float, height: float, kind: str, empty_text: str) -> str:
    body = [_text_el("chart-label chart-empty", width / 2, height / 2 + FONT_SIZE * 0.35, _clean(empty_text), "middle")]
    return _svg(title, width, height, kind, body)


# Steps that suit months (3, 6, 12, 24) and counts (2, 5, 10, 20, 50).
_NICE_STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 20, 24, 25, 50, 60, 100)


def _nice_step(minimum: int) -> int:
    """The smallest "nice" label step of at least ``minimum``.

    >>> _nice_step(0), _nice_step(7), _nice_step(11), _nice_step(130)
    (1, 10, 12, 130)
    """
    return next((n for n in _NICE_STEPS if n >= minimum), max(minimum, 1))


def _baseline(middle: float) -> float:
    """The text baseline that centres a line of FONT_SIZE text vertically on ``middle``."""
    return middle + FONT_SIZE * 0.35


# ---------------------------------------------------------------- the charts


def bar_chart(
    items: Sequence[tuple[str, int | float]],
    *,
    title: str,
    width: int = 320,
    bar_height: int = 18,
    max_items: int = 20,
    value_format: Callable[[int | float], str] = "{:,}".format,
    empty_text: str = "–",
) -> str:
    """Horizontal bars, one per item in the given order (e.g. top introducers).

    Each row shows the label on the left (cut with "…" beyond about 14 characters; the
    bar's ``<title>`` holds the full label), the bar, and the value at the bar's end.
    The largest value gets the full bar length, the others in proportion. Only the first
    ``max_items`` items are drawn, so sort them first. With no items, or only zeros, the
    chart shows ``empty_text`` instead.

    Raises ValueError for a negative or NaN value, naming the item.

    >>> svg = bar_chart([("Kim", 1200), ("Lee", 600)], title="Top introducers")
    >>> svg.count('class="chart-bar"'), "1,200" in svg
    (2, True)
    >>> bar_chart([("Kim", -1)], title="Top introducers")
    Traceback (most recent call last):
    ...
    ValueError: chart value of 'Kim' is negative: -1
    """
    for name, size in (("width", width), ("bar_height", bar_height), ("max_items", max_items)):
        _positive(name, size)
    rows = _values(items)[:max_items]
    gap = 4
    if not rows or not any(v for _, v in rows):
        return _empty(title, width, bar_height + 2 * gap, "chart-bars", empty_text)

    labels = [_truncate(label) for label, _ in rows]
    shown = [_clean(value_format(v)) for _, v in rows]
    label_w = max(_width(s) for s in labels) * CHAR_WIDTH + 8
    value_w = max(_width(s) for s in shown) * CHAR_WIDTH + 6
    full = width - label_w - value_w
    if full < 10:
        raise ValueError(f"width {width} leaves no room for the bars")
    top = max(v for _, v in rows)

    body = []
    for i, ((label, value), short, text) in enumerate(zip(rows, labels, shown)):
        y = gap + i * (bar_height + gap)
        w = full * value / top
        middle = _baseline(y + bar_height / 2)
        body.append(_text_el("chart-label", label_w - 6, middle, short, "end"))
        body.append(_bar_el(label_w, y, w, bar_height, f"{label}: {text}"))
        body.append(_text_el("chart-value", label_w + w + 4, middle, text))
    height = gap + len(rows) * (bar_height + gap)
    return _svg(title, width, height, "chart-bars", body)


def column_chart(
    items: Sequence[tuple[str, int | float]],
    *,
    title: str,
    width: int = 320,
    height: int = 140,
    label_every: int | None = None,
    value_format: Callable[[int | float], str] = "{:,}".format,
    empty_text: str = "–",
) -> str:
    """Vertical columns in the given order (e.g. people by wave, introductions per month).

    The x axis labels the columns; when there are many (say 72 months) only every
    ``label_every``-th label is printed, chosen when None as the smallest step of 1, 2, 3,
    4, 5, 6, 10, 12, 20, 24, … at which the printed labels do not overlap (about 6 px per
    character at font size 10): 72 months get one label a year. The y axis labels 0 and the
    largest value. Each column's ``<title>`` holds its label and value. With no items, or
    only zeros, the chart shows ``empty_text`` instead.

    Raises ValueError for a negative or NaN value, naming the item.

    >>> svg = column_chart([("0", 5), ("1", 12), ("2", 3)], title="People by wave")
    >>> svg.count('class="chart-bar"'), svg.count('class="chart-label"')
    (3, 3)
    >>> svg = column_chart([(f"2026-{m:02}", m) for m in range(1, 13)], title="Per month")
    >>> svg.count('class="chart-label"') < 12
    True
    """
    for name, size in (("width", width), ("height", height)):
        _positive(name, size)
    if label_every is not None:
        _positive("label_every", label_every)
    cols = _values(items)
    if not cols or not any(v for _, v in cols):
        return _empty(title, width, height, "chart-columns", empty_text)

    top = max(v for _, v in cols)
    top_text = _clean(value_format(top))
    labels = [_truncate(label) for label, _ in cols]
    label_px = max(_width(s) for s in labels) * CHAR_WIDTH
    # Room for the y labels on the left, and for half an x label beyond either end.
    left = max(_width(top_text) * CHAR_WIDTH + 6, label_px / 2)
    right = max(4, label_px / 2)
    plot_top, plot_bottom = FONT_SIZE / 2 + 2, height - FONT_SIZE - 6
    plot_w, plot_h = width - left - right, plot_bottom - plot_top
    if plot_w < 10 or plot_h < 10:
        raise ValueError(f"a {width}x{height} chart leaves no room for the columns")
    slot = plot_w / len(cols)
    if label_every is None:
        label_every = _nice_step(math.ceil((label_px + CHAR_WIDTH / 2) / slot))

    body = [
        _line_el(left, plot_top, left, plot_bottom),
        _line_el(left, plot_bottom, width - right, plot_bottom),
        _line_el(left - 3, plot_top, left, plot_top),
        _text_el("chart-axis", left - 5, _baseline(plot_top), top_text, "end"),
        _text_el("chart-axis", left - 5, _baseline(plot_bottom), "0", "end"),
    ]
    bar_w = slot * 0.8
    for i, ((label, value), short) in enumerate(zip(cols, labels)):
        h = plot_h * value / top
        x = left + i * slot + (slot - bar_w) / 2
        body.append(_bar_el(x, plot_bottom - h, bar_w, h, f"{label}: {_clean(value_format(value))}"))
        if i % label_every == 0:
            body.append(_text_el("chart-label", left + (i + 0.5) * slot, height - 4, short, "middle"))
    return _svg(title, width, height, "chart-columns", body)
