"""Horizontal bar charts as inline SVG: no plotting library, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR_HEIGHT = 22
LABEL_WIDTH = 260
BAR_WIDTH = 320


def bar_chart(bars: Sequence[tuple[str, float, str]], *, title: str, value_format: str = "{:g}") -> str:
    """An SVG of (label, value, colour) bars, longest value filling the width."""
    height = max(len(bars), 1) * BAR_HEIGHT + 10
    largest = max((value for _, value, _ in bars), default=0) or 1
    parts = _opening(title, height)
    for index, (label, value, colour) in enumerate(bars):
        y = index * BAR_HEIGHT + 5
        width = round(BAR_WIDTH * value / largest, 1)
        parts += [
            f'<text x="0" y="{y + 15}">{escape(label)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" height="{BAR_HEIGHT - 6}" width="{width}" fill="{escape(colour)}"/>',
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{escape(value_format.format(value))}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def stacked_bar_chart(rows: Sequence[tuple[str, Sequence[tuple[str, float, str]]]], *, title: str) -> str:
    """An SVG of one bar per row, split into (name, value, colour) parts; each part has a tooltip."""
    height = max(len(rows), 1) * BAR_HEIGHT + 10
    largest = max((sum(value for _, value, _ in parts) for _, parts in rows), default=0) or 1
    svg = _opening(title, height)
    for index, (label, parts) in enumerate(rows):
        y = index * BAR_HEIGHT + 5
        x = float(LABEL_WIDTH)
        svg.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>')
        for name, value, colour in parts:
            width = round(BAR_WIDTH * value / largest, 1)
            svg.append(f'<rect x="{x}" y="{y + 3}" height="{BAR_HEIGHT - 6}" width="{width}" fill="{escape(colour)}">'
                       f"<title>{escape(name)}: {value:g}</title></rect>")
            x += width
        total = sum(value for _, value, _ in parts)
        svg.append(f'<text x="{x + 6}" y="{y + 15}">{total:g}</text>')
    svg.append("</svg>")
    return "\n".join(svg)


def _opening(title: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="100%" viewBox="0 0 {LABEL_WIDTH + BAR_WIDTH + 60} {height}">',
        f"<title>{escape(title)}</title>",
        '<style>text { font: 12px system-ui, sans-serif; fill: #111827; }</style>',
    ]
