"""The terminal report: the article with coloured spans, a legend, the findings, the score.

Colour comes from rich, which drops it when the output is not a terminal or NO_COLOR is set;
the findings list below the text keeps the report complete without colour.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from propscope import techniques
from propscope.analysis import Analysis

SNIPPET_CHARS = 70


def score_reading(score: float) -> str:
    """The article score in plain words."""
    if score < 0.2:
        return "little or no propaganda found"
    if score < 0.45:
        return "some propaganda techniques"
    if score < 0.7:
        return "many propaganda techniques"
    return "propaganda throughout"


def highlight(technique: str) -> str:
    """The rich style of a span: dark text on the technique's colour, readable on any terminal."""
    return f"{techniques.HIGHLIGHT_TEXT} on {techniques.get(technique).colour}"


def render(analysis: Analysis, console: Console) -> None:
    """Print ``analysis`` to ``console``."""
    body = Text(analysis.text)
    # Longer spans first, so a short span nested inside a long one keeps its own colour.
    for span in sorted(analysis.spans, key=lambda s: s.start - s.end):
        body.stylize(highlight(span.technique), span.start, span.end)
    console.print(body)
    console.print()

    counts = analysis.technique_counts()
    legend = Text("Legend: ")
    for label, count in counts.items():
        technique = techniques.get(label)
        legend.append(f"■ {technique.name} ({count})", style=f"bold {technique.colour}")
        legend.append("  ")
    if not counts:
        legend.append("no techniques found")
    console.print(legend)

    if analysis.spans:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("chars", justify="right")
        table.add_column("technique")
        table.add_column("conf.", justify="right")
        table.add_column("text")
        for span in analysis.spans:
            technique = techniques.get(span.technique)
            snippet = " ".join(analysis.span_text(span).split())
            if len(snippet) > SNIPPET_CHARS:
                snippet = snippet[: SNIPPET_CHARS - 1] + "…"
            table.add_row(f"{span.start}-{span.end}", Text(technique.name, style=highlight(span.technique)),
                          f"{span.confidence:.2f}", snippet)
        console.print(table)

    flagged = sum(sentence.propaganda for sentence in analysis.sentences)
    console.print(
        f"Score: [bold]{analysis.score:.2f}[/bold] ({score_reading(analysis.score)}); "
        f"{len(analysis.spans)} spans in {flagged} of {len(analysis.sentences)} sentences. "
        f"Model {analysis.model.name} {analysis.model.version}."
    )
