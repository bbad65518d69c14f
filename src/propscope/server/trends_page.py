"""The ``/trends`` page: the figures of ``propscope.trends`` as inline SVG charts whose every point
and bar links to the articles behind it.

The charts need neither colour nor script: each source has its own marker shape and dash
pattern and is named at the end of its line, and the page shows every chart's figures in a
table as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from propscope import techniques, trends
from propscope.store import Library

SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down", "plus")
DASHES = ("", "7 4", "2 3", "9 3 2 3")
# Okabe and Ito's palette, darkened where needed to 3:1 or more against white.
COLOURS = ("#0072b2", "#c44e00", "#007a5a", "#a8488a", "#111827", "#7a5c00")
INK = "#111827"
GRID = "#e5e7eb"
FONT = '<style>text { font: 12px system-ui, sans-serif; fill: #111827; }</style>'


@dataclass(frozen=True, slots=True)
class Point:
    """A value on a chart, where it links to (if anywhere), and what it says to a screen reader."""

    value: float
    href: str | None
    label: str


def link(by: str, period: str | None = None, source: str | None = None) -> str:
    """The page's URL for a period length, and optionally one period and one source."""
    query = {"by": by} | ({"period": period} if period else {}) | ({"source": source} if source else {})
    return "/trends?" + urlencode(query)


def period_name(by: str, period: str) -> str:
    return f"week of {period}" if by == "week" else period


def view(library: Library, by: str, source: str | None, period: str | None) -> dict[str, Any]:
    """What ``trends.html`` shows: the charts and tables over time, or one period's sources and articles."""
    context: dict[str, Any] = {"by": trends.check_by(by), "source": source, "period": period, "lengths": trends.PERIODS,
                               "sources": trends.sources(library), "link": link, "period_name": period_name}
    if period:
        across = trends.across_sources(library, by, period)
        bars = [(row.source, Point(row.mean_score, link(by, period, row.source),
                                   f"{row.source}: mean score {row.mean_score:.2f} over {row.articles} articles"))
                for row in across]
        return context | {"across": across, "articles": trends.articles(library, by, period, source=source),
                          "across_chart": bar_chart(bars, title=f"Mean score by source, {period_name(by, period)}")}
    rows = trends.by_period(library, by, source=source)
    if not rows:
        return context | {"rows": []}
    periods = trends.period_range(by, min(row.period for row in rows), max(row.period for row in rows))
    names = sorted({row.source for row in rows})
    found = {(row.source, row.period): row for row in rows}
    scores = [(name, [_score(by, name, p, found.get((name, p))) for p in periods]) for name in names]
    counts = [(name, [_count(by, name, p, found.get((name, p))) for p in periods]) for name in names]
    shown = [t for t in techniques.TECHNIQUES if any(row.shares[t.id] > 0 for row in rows)]
    grids = []
    for name in names:
        mine = [row for row in rows if row.source == name]
        grids.append({"source": name, "rows": mine, "techniques": shown, "chart": share_grid(
            [(row.period, link(by, row.period, name), f"{name}, {period_name(by, row.period)}: {row.spans} spans")
             for row in mine],
            [(t.name, [row.shares[t.id] for row in mine]) for t in shown],
            title=f"Technique shares of {name}'s spans per {by}")})
    return context | {
        "rows": rows, "grids": grids,
        "score_chart": line_chart(periods, scores, title=f"Mean article score per {by}", maximum=1.0),
        "count_chart": line_chart(periods, counts, title=f"Articles per {by}", value_format="{:g}",
                                  maximum=max(4, *(row.articles for row in rows))),
    }


def _score(by: str, name: str, period: str, row: trends.TrendRow | None) -> Point | None:
    if row is None:
        return None
    return Point(row.mean_score, link(by, period, name),
                 f"{name}, {period_name(by, period)}: mean score {row.mean_score:.2f} over {row.articles} articles")


def _count(by: str, name: str, period: str, row: trends.TrendRow | None) -> Point:
    if row is None:
        return Point(0, None, f"{name}, {period_name(by, period)}: no articles")
    return Point(row.articles, link(by, period, name), f"{name}, {period_name(by, period)}: {row.articles} articles")


def line_chart(periods: Sequence[str], series: Sequence[tuple[str, Sequence[Point | None]]], *, title: str,
               maximum: float, value_format: str = "{:.2f}") -> str:
    """One line per series over ``periods`` (None leaves a gap), named at its right end; the
    scale runs from 0 to ``maximum`` or a little over."""
    left, top, plot_width, plot_height, label_width = 44, 12, 520, 220, 190
    ticks = _ticks(maximum)
    step = plot_width / max(len(periods) - 1, 1)

    def x(i: int) -> float:
        return round(left + (i * step if len(periods) > 1 else plot_width / 2), 1)

    def y(value: float) -> float:
        return round(top + plot_height * (1 - value / ticks[-1]), 1)

    svg = _opening(title, left + plot_width + label_width, top + plot_height + 40)
    for tick in ticks:
        svg += [f'<line x1="{left}" x2="{left + plot_width}" y1="{y(tick)}" y2="{y(tick)}" stroke="{GRID}"/>',
                f'<text x="{left - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:g}</text>']
    every = math.ceil(len(periods) * 76 / plot_width) or 1
    svg += [f'<text x="{x(i)}" y="{top + plot_height + 18}" text-anchor="middle">{escape(p)}</text>'
            for i, p in enumerate(periods) if i % every == 0]
    ends: list[tuple[float, int, str]] = []
    for number, (name, points) in enumerate(series):
        colour, dash, shape, hollow = _style(number)
        run: list[str] = []
        for i, point in enumerate([*points, None]):
            if point is None:
                if len(run) > 1:
                    svg.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"'
                               + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
                run = []
                continue
            run.append(f"{x(i)},{y(point.value)}")
        for i, point in enumerate(points):
            if point is not None:
                svg.append(_linked(point, _marker(shape, x(i), y(point.value), colour, hollow)
                                   + f"<title>{escape(point.label)} ({value_format.format(point.value)})</title>"))
        last = next((p for p in reversed(points) if p is not None), None)
        if last is not None:
            ends.append((y(last.value), number, name))
    for label_y, number, name in _spread(sorted(ends), top, top + plot_height):
        colour, dash, shape, hollow = _style(number)
        start = left + plot_width + 12
        svg += [f'<line x1="{start}" x2="{start + 28}" y1="{label_y}" y2="{label_y}" stroke="{colour}" stroke-width="2"'
                + (f' stroke-dasharray="{dash}"' if dash else "") + "/>",
                _marker(shape, start + 14, label_y, colour, hollow),
                f'<text x="{start + 34}" y="{label_y + 4}">{escape(_short(name))}</text>']
    svg.append("</svg>")
    return "\n".join(svg)


def bar_chart(bars: Sequence[tuple[str, Point]], *, title: str) -> str:
    """Horizontal bars of scores (0..1), one per (label, point), each a link with its value written after it."""
    label_width, bar_width, height = 200, 360, 24
    svg = _opening(title, label_width + bar_width + 60, max(len(bars), 1) * height + 8)
    for index, (label, point) in enumerate(bars):
        y = index * height + 4
        width = round(bar_width * min(point.value, 1), 1)
        svg.append(_linked(point, f'<text x="0" y="{y + 16}">{escape(_short(label))}</text>'
                                  f'<rect class="mark" x="{label_width}" y="{y + 3}" width="{max(width, 1)}" '
                                  f'height="{height - 6}" fill="#374151"/>'
                                  f'<text x="{label_width + width + 6}" y="{y + 16}">{point.value:.2f}</text>'
                                  f"<title>{escape(point.label)}</title>"))
    svg.append("</svg>")
    return "\n".join(svg)


def share_grid(columns: Sequence[tuple[str, str, str]], rows: Sequence[tuple[str, Sequence[float]]], *,
               title: str) -> str:
    """Rows of shares (0..1) under (period, href, label) columns: each share a square of that
    area, each column a link."""
    label_width, cell, header = 230, 26, 78
    svg = _opening(title, label_width + cell * len(columns) + header, header + cell * len(rows) + 6)
    for r, (name, _) in enumerate(rows):
        svg.append(f'<text x="0" y="{header + r * cell + 17}">{escape(name)}</text>')
    for c, (period, href, label) in enumerate(columns):
        x = label_width + c * cell
        parts = [f'<text x="{x + 15}" y="{header - 6}" transform="rotate(-50 {x + 15} {header - 6})">'
                 f"{escape(period)}</text>"]
        for r, (name, shares) in enumerate(rows):
            side = round(math.sqrt(shares[c]) * (cell - 4), 1)
            top = header + r * cell
            parts += [f'<rect x="{x}" y="{top}" width="{cell - 1}" height="{cell - 1}" fill="#f3f4f6"/>',
                      f'<rect class="mark" x="{x + (cell - 1 - side) / 2:.1f}" y="{top + (cell - 1 - side) / 2:.1f}" '
                      f'width="{side}" height="{side}" fill="#1f2937"><title>{escape(name)}, {escape(period)}: '
                      f"{shares[c]:.0%}</title></rect>"]
        svg.append(_linked(Point(0, href, label), "".join(parts)))
    svg.append("</svg>")
    return "\n".join(svg)


def _opening(title: str, width: float, height: float) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="group" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
            f"<title>{escape(title)}</title>", FONT]


def _linked(point: Point, inner: str) -> str:
    if point.href is None:
        return inner
    return f'<a href="{escape(point.href)}" aria-label="{escape(point.label)}">{inner}</a>'


def _style(number: int) -> tuple[str, str, str, bool]:
    """A series' colour, dash pattern, marker shape, and whether the marker is hollow: no two
    of the first 12 series look alike, even without colour."""
    return (COLOURS[number % len(COLOURS)], DASHES[number % len(DASHES)], SHAPES[number % len(SHAPES)],
            number // len(SHAPES) % 2 == 1)


def _marker(shape: str, x: float, y: float, colour: str, hollow: bool) -> str:
    fill = "#fff" if hollow else colour
    look = f'class="mark" fill="{fill}" stroke="{colour}" stroke-width="1.5"'
    r = 5
    if shape == "circle":
        return f'<circle cx="{x}" cy="{y}" r="{r}" {look}/>'
    if shape == "square":
        return f'<rect x="{x - r}" y="{y - r}" width="{2 * r}" height="{2 * r}" {look}/>'
    corners = {
        "triangle": [(0, -r - 1), (r + 1, r), (-r - 1, r)],
        "triangle-down": [(0, r + 1), (r + 1, -r), (-r - 1, -r)],
        "diamond": [(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
        "plus": [(-2, -r - 1), (2, -r - 1), (2, -2), (r + 1, -2), (r + 1, 2), (2, 2), (2, r + 1), (-2, r + 1),
                 (-2, 2), (-r - 1, 2), (-r - 1, -2), (-2, -2)],
    }[shape]
    return f'<polygon points="{" ".join(f"{x + dx:g},{y + dy:g}" for dx, dy in corners)}" {look}/>'


def _ticks(maximum: float) -> list[float]:
    """Round gridline values from 0 to at least ``maximum``: three to five steps of 1, 2 or 5 times a
    power of ten (whole numbers from a ``maximum`` of 4 up)."""
    rough = maximum / 5
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return [round(i * step, 10) for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def _spread(ends: list[tuple[float, int, str]], low: float, high: float, gap: float = 15) -> list[tuple[float, int, str]]:
    """Line-end labels, top to bottom, moved apart so that none overlaps the next."""
    placed: list[tuple[float, int, str]] = []
    for label_y, number, name in ends:
        placed.append((max(label_y, placed[-1][0] + gap if placed else low), number, name))
    overflow = placed[-1][0] - high if placed else 0
    if overflow > 0:
        placed = [(max(label_y - overflow, low + i * gap), number, name) for i, (label_y, number, name) in enumerate(placed)]
    return placed


def _short(name: str, length: int = 26) -> str:
    return name if len(name) <= length else name[: length - 1] + "…"
