"""The words every report uses for an analysis: the score in plain words, the one-line summary, and the
language it was read as."""

from __future__ import annotations

from propscope import techniques
from propscope.analysis import Analysis, Span


def span_name(span: Span) -> str:
    """What a report calls a span's technique: its name, or, where the label is not to be
    trusted, that the model is unsure which, with the two likeliest and their probabilities."""
    if not span.unsure:
        return techniques.get(span.technique).name
    likeliest = " or ".join(f"{techniques.get(label).name} ({p:.2f})" for label, p in span.alternatives)
    return f"{techniques.UNSURE_NAME}: {likeliest}"


def span_colour(span: Span) -> str:
    return techniques.UNSURE_COLOUR if span.unsure else techniques.get(span.technique).colour


def score_reading(score: float) -> str:
    """The article score in plain words."""
    if score < 0.2:
        return "little or no propaganda found"
    if score < 0.45:
        return "some propaganda techniques"
    if score < 0.7:
        return "many propaganda techniques"
    return "propaganda throughout"


def sentence_summary(analysis: Analysis) -> str:
    """The spans, the sentences they lie in, and the sentences marked by the model's evidence alone."""
    with_spans = sum(bool(sentence.techniques) for sentence in analysis.sentences)
    spans = "1 span" if len(analysis.spans) == 1 else f"{len(analysis.spans)} spans"
    summary = f"{spans} in {with_spans} of {len(analysis.sentences)} sentences"
    if evidence := sum(sentence.evidence for sentence in analysis.sentences):
        summary += f", and signs of a technique without a sure span in {evidence} more"
    return summary


def language_line(analysis: Analysis) -> str | None:
    """The language the text was read as, by which model, and its note; None for an analysis
    not routed by language."""
    language = analysis.language
    if language is None:
        return None
    name = language.name if language.code else "not told"
    line = f"Language: {name} ({'detected' if language.detected else 'as given'}), read by {analysis.model.name}"
    return f"{line}. Note: {language.note}" if language.note else line
