"""propscope as a spaCy pipeline component: ``nlp.add_pipe("propscope")``.

The component fills ``doc.spans["propaganda"]`` with one span per technique found, labelled
with its PTC label; overlapping spans stay, as span groups allow. ``span._.confidence`` is the
model's confidence and ``doc._.propaganda_score`` the article score of ``Analysis``.

propscope finds spans in characters, spaCy counts tokens. Where a span edge falls inside a
spaCy token, the span widens to the whole token (``Doc.char_span`` with
``alignment_mode="expand"``), so that a highlight never cuts a word in two.

spaCy finds the factory through the ``spacy_factories`` entry point, and displaCy takes the
technique colours through ``spacy_displacy_colors``, so neither needs this module imported.
"""

from pathlib import Path

from propscope import techniques
from propscope.decoding import check_sensitivity
from propscope.errors import MissingExtra
from propscope.model import Analyzer

try:
    from spacy.language import Language
    from spacy.tokens import Doc
    from spacy.tokens import Span as SpacySpan
except ImportError:
    raise MissingExtra("the spaCy component needs spaCy: pip install 'propscope[spacy]'") from None

SPANS_KEY = "propaganda"


def _confidence_key(start_char: int, end_char: int, label: str) -> str:
    return f"propscope.confidence {start_char} {end_char} {label}"


def _confidence(span: SpacySpan) -> float | None:
    # spaCy keys span extensions by character range alone, and two techniques often share a
    # range, so the confidences live in the Doc's user data under range and label.
    value = span.doc.user_data.get(_confidence_key(span.start_char, span.end_char, span.label_))
    return None if value is None else float(value)


Doc.set_extension("propaganda_score", default=None, force=True)
SpacySpan.set_extension("confidence", getter=_confidence, force=True)


class PropagandaTagger:
    """Finds propaganda technique spans in a Doc with a propscope model, loaded once."""

    def __init__(self, *, name: str = "propscope", sensitivity: str = "balanced", model: Path | None = None) -> None:
        checked = check_sensitivity(sensitivity, option=f"the {name} component's sensitivity")
        self.name = name
        self.analyzer = Analyzer(model, sensitivity=checked)

    def __call__(self, doc: Doc) -> Doc:
        spans: dict[str, SpacySpan] = {}
        score = 0.0
        if doc.text.strip():
            analysis = self.analyzer.analyze(doc.text)
            score = analysis.score
            for found in analysis.spans:
                span = doc.char_span(found.start, found.end, label=found.technique, alignment_mode="expand")
                if span is None:  # only a span of whitespace between tokens has no token to snap to
                    continue
                # Two spans can snap to the same tokens; the group keeps one, with the higher confidence.
                key = _confidence_key(span.start_char, span.end_char, span.label_)
                doc.user_data[key] = max(found.confidence, doc.user_data.get(key, 0.0))
                spans[key] = span
        doc.spans[SPANS_KEY] = list(spans.values())
        doc._.propaganda_score = score
        return doc


@Language.factory(
    "propscope",
    default_config={"sensitivity": "balanced", "model": None},
    assigns=["doc.spans", "doc._.propaganda_score", "span._.confidence"],
)
def make_propscope(nlp: Language, name: str, sensitivity: str, model: str | None) -> PropagandaTagger:
    """The factory behind ``nlp.add_pipe("propscope", config={"sensitivity": ..., "model": ...})``;
    ``model`` is a model folder, or None for the shipped model."""
    return PropagandaTagger(name=name, sensitivity=sensitivity, model=Path(model) if model else None)


def displacy_colours() -> dict[str, str]:
    """Technique colours for displaCy's span view, keyed by PTC label."""
    return {t.ptc_label: t.colour for t in techniques.TECHNIQUES}
