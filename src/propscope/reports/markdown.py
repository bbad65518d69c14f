"""A Markdown summary for pasting into notes: score, counts, and every span quoted."""

from __future__ import annotations

from propscope import techniques
from propscope.analysis import Analysis
from propscope.reports.words import language_line, score_reading, sentence_summary, span_name

QUOTE_CHARS = 120


def _escape(text: str) -> str:
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def render(analysis: Analysis, *, title: str | None = None) -> str:
    """The analysis as Markdown."""
    lines = [
        f"# {_escape(title or 'propscope report')}",
        "",
        f"**Score {analysis.score:.2f}**: {score_reading(analysis.score)}. "
        f"{sentence_summary(analysis)}; model {analysis.model.name} {analysis.model.version}.",
        "",
    ]
    if language := language_line(analysis):
        lines += [_escape(language) + ("" if language.endswith(".") else "."), ""]
    counts = analysis.technique_counts(trusted_only=True)
    unsure = sum(span.unsure for span in analysis.spans)
    if analysis.spans:
        lines += ["| technique | spans |", "|---|---|"]
        lines += [f"| {techniques.get(label).name} | {n} |" for label, n in counts.items()]
        lines += [f"| {techniques.UNSURE_NAME} | {unsure} |"] if unsure else []
        lines += ["", "## Findings", ""]
    else:
        lines.append("No techniques found.")
    for span in analysis.spans:
        quote = " ".join(analysis.span_text(span).split())
        if len(quote) > QUOTE_CHARS:
            quote = quote[: QUOTE_CHARS - 1] + "…"
        lines.append(f"- **{span_name(span)}** ({span.confidence:.2f}, chars {span.start}–{span.end}): “{_escape(quote)}”")
    return "\n".join(lines) + "\n"
