"""The terminal report: the article with coloured spans, a legend, the findings, the score.

Colour comes from rich, which drops it when the output is not a terminal or NO_COLOR is set;
the findings list below the text keeps the report complete without colour.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from propscope import techniques
from propscope.analysis import Analysis, Span
from propscope.reports.words import language_line, score_reading, sentence_summary, span_colour, span_name

SNIPPET_CHARS = 70
EVIDENCE_STYLE = "underline"  # a sentence marked by the model's evidence alone


def _snippet(text: str) -> str:
    snippet = " ".join(text.split())
    return snippet[: SNIPPET_CHARS - 1] + "…" if len(snippet) > SNIPPET_CHARS else snippet


def highlight(span: Span, *, pale: bool = False) -> str:
    """The rich style of a span: dark text on its technique's colour (grey where the label is
    not to be trusted), readable on any terminal; ``pale`` around the spans nested in it."""
    colour = span_colour(span)
    return f"{techniques.HIGHLIGHT_TEXT} on {techniques.paler(colour) if pale else colour}"


def render(analysis: Analysis, console: Console) -> None:
    """Print ``analysis`` to ``console``."""
    body = Text(analysis.text)
    marked = [sentence for sentence in analysis.sentences if sentence.evidence]
    for sentence in marked:
        body.stylize(EVIDENCE_STYLE, sentence.start, sentence.end)
    # Longer spans first, so a short span nested inside a long one keeps its own colour; the long
    # one is paler, and the nested one underlined, so that they part even in the same colour.
    enclosing = analysis.enclosing_spans()
    for span in sorted(analysis.spans, key=lambda s: s.start - s.end):
        nested = any(outer.encloses(span) for outer in enclosing)
        style = highlight(span, pale=span in enclosing)
        body.stylize(f"{style} underline" if nested else style, span.start, span.end)
    console.print(body)
    console.print()

    counts = analysis.technique_counts(trusted_only=True)
    legend = Text("Legend: ")
    for label, count in counts.items():
        technique = techniques.get(label)
        legend.append(f"■ {technique.name} ({count})", style=f"bold {technique.colour}")
        legend.append("  ")
    unsure = sum(span.unsure for span in analysis.spans)
    if unsure:
        legend.append(f"■ {techniques.UNSURE_NAME} ({unsure})", style=f"bold {techniques.UNSURE_COLOUR}")
        legend.append("  ")
    if not analysis.spans:
        legend.append("no techniques found")
    if marked:
        legend.append("underlined", style=EVIDENCE_STYLE)
        legend.append(": signs of a technique without a sure span")
    console.print(legend)

    if analysis.spans:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("chars", justify="right")
        table.add_column("technique")
        table.add_column("conf.", justify="right")
        table.add_column("text")
        for span in analysis.spans:
            table.add_row(f"{span.start}-{span.end}", Text(span_name(span), style=highlight(span)),
                          f"{span.confidence:.2f}", _snippet(analysis.span_text(span)))
        console.print(table)
    if marked:
        console.print("Sentences with signs of a technique, but no span sure enough to show:")
        for sentence in marked:
            console.print(f"  {sentence.start}-{sentence.end}  {_snippet(analysis.text[sentence.start:sentence.end])}",
                          highlight=False)

    console.print(
        f"Score: [bold]{analysis.score:.2f}[/bold] ({score_reading(analysis.score)}); "
        f"{sentence_summary(analysis)}. Model {analysis.model.name} {analysis.model.version}."
    )
    if language := language_line(analysis):
        console.print(language, style="bold yellow" if analysis.language and analysis.language.note else None,
                      highlight=False, markup=False)
