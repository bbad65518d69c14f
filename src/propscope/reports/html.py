"""The HTML report and the notebook view: self-contained, no external assets, all text escaped."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from jinja2 import Environment, PackageLoader, select_autoescape

from propscope import techniques
from propscope.analysis import Analysis, Span
from propscope.reports.charts import bar_chart
from propscope.reports.words import language_line, score_reading, sentence_summary, span_colour

TEMPLATES = PackageLoader("propscope.reports", "templates")
_ENV = Environment(
    loader=TEMPLATES,
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Segment:
    """A stretch of text covered by the same set of spans (possibly none), the innermost first:
    its colour fills the segment, and each span around it adds a stripe below."""

    text: str
    spans: tuple[Span, ...]
    sentence: str  # the sentence the segment starts in, when it carries spans
    evidence: bool = False  # the segment lies in a sentence marked by the model's evidence alone
    pale: bool = False  # the innermost span here has another span nested in it, elsewhere

    @property
    def background(self) -> str:
        colour = span_colour(self.spans[0])
        return techniques.paler(colour) if self.pale else colour

    @property
    def stripes(self) -> str:
        """A CSS box-shadow: a 3-pixel stripe in the colour of each enclosing span, each above a
        white line that parts it from the same colour."""
        layers = []
        for depth, span in enumerate(self.spans[1:]):
            layers += [f"inset 0 -{4 * depth + 3}px 0 {span_colour(span)}",
                       f"inset 0 -{4 * depth + 4}px 0 #ffffff"]
        return ", ".join(layers)


def segments(analysis: Analysis) -> list[Segment]:
    """Cut the text at every span boundary, so nested and overlapping spans stay visible, and
    at the bounds of the sentences marked by evidence alone."""
    marked = [s for s in analysis.sentences if s.evidence]
    bounds = [(s.start, s.end) for s in analysis.spans] + [(s.start, s.end) for s in marked]
    cuts = sorted({0, len(analysis.text), *(start for start, _ in bounds), *(end for _, end in bounds)})
    enclosing = analysis.enclosing_spans()
    result = []
    for start, end in pairwise(cuts):
        covering = tuple(sorted((s for s in analysis.spans if s.start <= start and end <= s.end),
                                key=lambda s: s.end - s.start))
        sentence = next((s for s in analysis.sentences if s.start <= start < s.end), None) if covering else None
        result.append(Segment(analysis.text[start:end], covering,
                              analysis.text[sentence.start:sentence.end] if sentence else "",
                              any(s.start <= start and end <= s.end for s in marked),
                              bool(covering) and covering[0] in enclosing))
    return result


def render(analysis: Analysis, *, title: str | None = None) -> str:
    """The report as one HTML document."""
    counts = analysis.technique_counts(trusted_only=True)
    return _ENV.get_template("report.html").render(
        analysis=analysis,
        title=title or "propscope report",
        segments=segments(analysis),
        techniques=techniques,
        counts=counts,
        chart=bar_chart(
            [(techniques.get(label).name, n, techniques.get(label).colour) for label, n in counts.items()],
            title="Spans per technique",
        ),
        reading=score_reading(analysis.score),
        summary=sentence_summary(analysis),
        language=language_line(analysis),
    )


def render_notebook(analysis: Analysis) -> str:
    """The highlighted text with a compact legend and the score, as one HTML fragment whose
    styles apply only inside it; what ``Analysis._repr_html_`` shows in Jupyter."""
    return _ENV.get_template("notebook.html").render(
        analysis=analysis, segments=segments(analysis), techniques=techniques,
        counts=analysis.technique_counts(trusted_only=True), reading=score_reading(analysis.score),
        language=language_line(analysis),
    )
