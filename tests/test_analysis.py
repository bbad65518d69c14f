import math

import pytest

from propscope.analysis import DEFAULT_SCORE_RATE, Analysis, ModelInfo, Span, article_score
from propscope.errors import InputError, SpanOutOfRange, UnknownTechnique

MODEL = ModelInfo("test", "0", "0" * 64)
TEXT = "They are traitors. The vote is Tuesday.\nWe will win!"


def build(*spans: Span) -> Analysis:
    return Analysis.build(TEXT, spans, MODEL)


def test_build_derives_sentences_from_spans() -> None:
    analysis = build(Span(9, 17, "Name_Calling,Labeling", 0.9))
    assert [TEXT[s.start:s.end] for s in analysis.sentences] == ["They are traitors.", "The vote is Tuesday.", "We will win!"]
    assert [s.propaganda for s in analysis.sentences] == [True, False, False]
    assert analysis.sentences[0].techniques == ("Name_Calling,Labeling",)


def test_span_outside_the_text_is_refused() -> None:
    with pytest.raises(SpanOutOfRange, match="span 40-99"):
        build(Span(40, 99, "Doubt", 0.5))
    with pytest.raises(SpanOutOfRange):
        build(Span(5, 5, "Doubt", 0.5))


def test_unknown_technique_is_refused() -> None:
    with pytest.raises(UnknownTechnique, match="valid ids"):
        build(Span(0, 4, "Propaganda", 0.5))


def test_score_never_falls_when_spans_are_added() -> None:
    spans = [Span(9, 17, "Name_Calling,Labeling", 0.6), Span(40, 52, "Slogans", 0.3), Span(0, 17, "Loaded_Language", 0.9)]
    scores = [build(*spans[:n]).score for n in range(len(spans) + 1)]
    assert scores[0] == 0.0
    assert scores == sorted(scores) and scores[-1] > scores[0]
    assert 0.0 <= scores[-1] <= 1.0


def test_article_score_bounds() -> None:
    assert article_score([]) == 0.0
    assert article_score([0.0, 0.0]) == 0.0
    assert article_score([1.0] * 5) == pytest.approx(1 - math.exp(-DEFAULT_SCORE_RATE))
    assert article_score([0.5, 0.0]) == pytest.approx(1 - math.exp(-DEFAULT_SCORE_RATE / 4))
    assert article_score([0.2, 0.0]) < article_score([0.2, 0.1]) < article_score([0.3, 0.1]) < 1


def test_dict_round_trip() -> None:
    analysis = build(Span(9, 17, "Name_Calling,Labeling", 0.5), Span(9, 17, "Loaded_Language", 0.25))
    data = analysis.to_dict()
    assert data["spans"][0] == {"start": 9, "end": 17, "technique": "Loaded_Language", "confidence": 0.25,
                                "alternatives": []}
    assert Analysis.from_dict(data) == analysis


def test_from_dict_names_the_problem() -> None:
    with pytest.raises(InputError, match="schema version 7"):
        Analysis.from_dict({**build().to_dict(), "schema_version": 7})
    with pytest.raises(InputError, match="missing or bad field"):
        Analysis.from_dict({"schema_version": 1})


def test_candidates_count_in_the_score_but_are_not_shown() -> None:
    shown = [Span(0, 5, "Loaded_Language", 0.5)]
    alone = Analysis.build(TEXT, shown, MODEL)
    with_candidates = Analysis.build(TEXT, shown, MODEL, candidates=[Span(0, 5, "Loaded_Language", 0.9)])
    assert with_candidates.spans == alone.spans and with_candidates.sentences == alone.sentences
    assert with_candidates.score > alone.score
    weaker = Analysis.build(TEXT, shown, MODEL, candidates=[Span(0, 5, "Loaded_Language", 0.1)])
    assert weaker.score == alone.score  # a shown span always counts


def test_evidence_marks_its_sentences_without_spans() -> None:
    spans = [Span(9, 17, "Name_Calling,Labeling", 0.9)]
    start = TEXT.index("Tuesday")
    analysis = Analysis.build(TEXT, spans, MODEL, evidence=[(start, start + 3), (0, 4)])
    assert [s.propaganda for s in analysis.sentences] == [True, True, False]
    assert [s.evidence for s in analysis.sentences] == [False, True, False]  # the first has a span
    assert analysis.sentences[1].techniques == ()
    assert analysis.spans == build(*spans).spans and analysis.score == build(*spans).score
    assert Analysis.from_dict(analysis.to_dict()) == analysis
