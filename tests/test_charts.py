"""The server-side SVG charts: well-formed, proportional, escaped, CSP-safe, deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from graphsvc.charts import CHAR_WIDTH, bar_chart, column_chart

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<img src=x onerror=alert(1)>"
MONTHS = [(f"{2026 + m // 12}-{m % 12 + 1:02}", (m * 7) % 23) for m in range(72)]


def parse(svg: str) -> ET.Element:
    assert isinstance(svg, str)
    root = ET.fromstring(svg.encode("utf-8"))  # raises unless well-formed
    assert root.tag == NS + "svg"
    return root


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def bars(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter(NS + "rect") if "chart-bar" in classes(el)]


def texts(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(NS + "text") if cls in classes(el)]


def all_text(root: ET.Element) -> str:
    return "\n".join(t for el in root.iter() for t in (el.text,) if t)


def check_root(root: ET.Element, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    assert len(root.get("viewBox").split()) == 4
    first = root[0]
    assert first.tag == NS + "title" and first.text == title


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
def test_root_title_and_one_bar_per_item_with_its_tooltip(chart):
    root = parse(chart([("Kim", 3), ("Lee", 1), ("Park", 0)], title="Top introducers"))
    check_root(root, "Top introducers")
    found = bars(root)
    assert len(found) == 3
    assert [b.find(NS + "title").text for b in found] == ["Kim: 3", "Lee: 1", "Park: 0"]
    assert {b.get("fill") for b in found} == {"#2f5d8a"}
    assert {el.get("fill") for el in root.iter(NS + "text")} == {"#5b6475"}


def test_bar_lengths_are_proportional_and_the_largest_is_full_length():
    root = parse(bar_chart([("a", 10), ("b", 5), ("c", 2.5), ("d", 0)], title="t", width=400))
    widths = [float(b.get("width")) for b in bars(root)]
    assert widths[0] == max(widths) > 0
    assert widths[1] == pytest.approx(widths[0] / 2, abs=0.1)
    assert widths[2] == pytest.approx(widths[0] / 4, abs=0.1)
    assert widths[3] == 0
    # The full length uses the width: the largest bar and its value fit in the viewBox.
    big = bars(root)[0]
    value = texts(root, "chart-value")[0]
    assert value.text == "10"
    end = float(big.get("x")) + widths[0]
    assert float(value.get("x")) >= end
    assert float(value.get("x")) + len(value.text) * CHAR_WIDTH <= 400
    assert end > 400 / 2
    wider = parse(bar_chart([("a", 10), ("b", 5), ("c", 2.5), ("d", 0)], title="t", width=600))
    assert float(bars(wider)[0].get("width")) == pytest.approx(widths[0] + 200, abs=0.1)


def test_bar_chart_formats_values_and_keeps_only_max_items():
    items = [(f"p{i}", 1000 * (30 - i)) for i in range(30)]
    root = parse(bar_chart(items, title="t"))
    assert len(bars(root)) == 20
    assert texts(root, "chart-value")[0].text == "30,000"
    root = parse(bar_chart(items, title="t", max_items=3, value_format="{:.1f}".format))
    assert [t.text for t in texts(root, "chart-value")] == ["30000.0", "29000.0", "28000.0"]


def test_column_heights_are_proportional_and_stand_on_the_baseline():
    root = parse(column_chart([("0", 4), ("1", 8), ("2", 2)], title="People by wave"))
    cols = bars(root)
    heights = [float(c.get("height")) for c in cols]
    assert heights[0] == pytest.approx(heights[1] / 2, abs=0.1)
    assert heights[2] == pytest.approx(heights[1] / 4, abs=0.1)
    bottoms = {round(float(c.get("y")) + float(c.get("height")), 0) for c in cols}
    assert len(bottoms) == 1
    xs = [float(c.get("x")) for c in cols]
    assert xs == sorted(xs)
    assert [t.text for t in texts(root, "chart-label")] == ["0", "1", "2"]
    # The y axis labels 0 and the maximum.
    assert sorted(t.text for t in texts(root, "chart-axis")) == ["0", "8"]


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
def test_malicious_label_and_title_are_text_never_markup(chart):
    svg = chart([(EVIL, 5), ('a"b&c', 1)], title=f'Top {EVIL} "x"')
    root = parse(svg)
    assert not [el for el in root.iter() if el.tag.split("}")[-1].lower() == "img"]
    assert "<img" not in svg
    assert root.get("aria-label") == f'Top {EVIL} "x"'
    tooltips = [b.find(NS + "title").text for b in bars(root)]
    assert tooltips == [f"{EVIL}: 5", 'a"b&c: 1']
    # The visible label holds the literal characters too (cut to fit, so a prefix).
    label = texts(root, "chart-label")[0].text
    assert label.endswith("…") and EVIL.startswith(label[:-1]) and label.startswith("<img")


def test_korean_labels_count_characters_not_bytes():
    long = "김철수 가정에서 소개한 사람들"
    root = parse(bar_chart([("김철수", 7), (long, 3)], title="소개 많은 사람"))
    check_root(root, "소개 많은 사람")
    labels = [t.text for t in texts(root, "chart-label")]
    assert labels[0] == "김철수"
    assert labels[1].endswith("…") and long.startswith(labels[1][:-1])
    assert len(labels[1]) > 4  # cut by characters (wide ones count two), not by bytes
    assert [b.find(NS + "title").text for b in bars(root)] == ["김철수: 7", f"{long}: 3"]


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
@pytest.mark.parametrize("items", [[], [("a", 0), ("b", 0)]])
def test_empty_shows_the_empty_text(chart, items):
    root = parse(chart(items, title="Chains", empty_text="아직 없음 <none>"))
    check_root(root, "Chains")
    assert bars(root) == []
    assert [t.text for t in root.iter(NS + "text")] == ["아직 없음 <none>"]
    assert [t.text for t in parse(chart(items, title="Chains")).iter(NS + "text")] == ["–"]


@pytest.mark.parametrize("chart", [bar_chart, column_chart])
@pytest.mark.parametrize("bad", [-1, -0.5, float("nan")])
def test_negative_or_nan_value_raises_naming_the_item(chart, bad):
    with pytest.raises(ValueError, match="Lee"):
        chart([("Kim", 3), ("Lee", bad)], title="t")


@pytest.mark.parametrize(
    "svg",
    [
        bar_chart([("a", 1), (EVIL, 2)], title="t"),
        column_chart(MONTHS, title="t"),
        bar_chart([], title="t"),
        column_chart([], title="t"),
    ],
)
def test_no_inline_style_anywhere(svg):
    root = parse(svg)
    for el in root.iter():
        assert "style" not in el.attrib
        assert el.tag.split("}")[-1] != "style"
    assert "style" not in svg.lower()


def test_column_chart_thins_72_month_labels_so_they_do_not_overlap():
    root = parse(column_chart(MONTHS, title="Introductions per month"))
    assert len(bars(root)) == 72
    labels = texts(root, "chart-label")
    assert 2 <= len(labels) < 72
    assert [t.text for t in labels] == ["2026-01", "2027-01", "2028-01", "2029-01", "2030-01", "2031-01"]
    xs = [float(t.get("x")) for t in labels]
    for (a, b), text in zip(zip(xs, xs[1:]), labels):
        assert b - a >= len(text.text) * CHAR_WIDTH  # ~6 px a character at font-size 10
    # Centred labels stay inside the viewBox.
    width = float(root.get("viewBox").split()[2])
    assert xs[0] - len(labels[0].text) * CHAR_WIDTH / 2 >= 0
    assert xs[-1] + len(labels[-1].text) * CHAR_WIDTH / 2 <= width
    # Every month keeps its tooltip even when its label is not printed.
    assert bars(root)[71].find(NS + "title").text == f"{MONTHS[71][0]}: {MONTHS[71][1]}"


def test_column_chart_label_every_is_honoured():
    root = parse(column_chart(MONTHS, title="t", label_every=6))
    assert [t.text for t in texts(root, "chart-label")] == [MONTHS[i][0] for i in range(0, 72, 6)]
    few = parse(column_chart([("0", 1), ("1", 2), ("2", 3)], title="t"))
    assert len(texts(few, "chart-label")) == 3


def test_output_is_deterministic():
    items = [("김철수", 7), (EVIL, 3.333333), ("Lee", 1)]
    assert bar_chart(items, title="t") == bar_chart(tuple(items), title="t")
    assert column_chart(MONTHS, title="t") == column_chart(list(MONTHS), title="t")
    svg = column_chart([("a", 1), ("b", 3)], title="t", width=333)
    numbers = [v for el in parse(svg).iter() for k, v in el.attrib.items() if k in ("x", "y", "width", "height")]
    assert all(len(n.partition(".")[2]) <= 1 for n in numbers)  # rounded to one decimal


@pytest.mark.parametrize("n, width", [(5, 320), (30, 320), (72, 200), (200, 320), (72, 900)])
def test_auto_labels_never_overlap(n, width):
    items = [(f"{2020 + m // 12}-{m % 12 + 1:02}", m % 5 + 1) for m in range(n)]
    labels = texts(parse(column_chart(items, title="t", width=width)), "chart-label")
    assert labels
    xs = [float(t.get("x")) for t in labels]
    assert all(b - a >= len(t.text) * CHAR_WIDTH for a, b, t in zip(xs, xs[1:], labels))
