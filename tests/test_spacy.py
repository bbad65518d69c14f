"""The spaCy component with real spaCy: spans, extensions, snapping, nlp.pipe, saving and
loading a pipeline, and displaCy's span view."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import spacy
from spacy import displacy
from spacy.tokens import Doc

from propscope import techniques
from propscope.errors import InputError
from propscope.model import Analyzer

from .conftest import CALM, PROPAGANDA


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("propscope")
    return pipeline


def test_component_fills_the_span_group_with_the_models_spans(nlp: spacy.language.Language,
                                                              analyzer: Analyzer) -> None:
    doc = nlp(PROPAGANDA)
    analysis = analyzer.analyze(PROPAGANDA)
    group = doc.spans["propaganda"]
    assert len(group) == len(analysis.spans) > 5
    for span, found in zip(group, analysis.spans, strict=True):
        assert (span.start_char, span.end_char, span.label_) == (found.start, found.end, found.technique)
        assert span._.confidence == pytest.approx(found.confidence)
    shared = [(a, b) for a, b in pairwise(group) if (a.start_char, a.end_char) == (b.start_char, b.end_char)]
    assert shared, "the example has two techniques on one range; each keeps its own confidence"
    assert doc._.propaganda_score == pytest.approx(analysis.score)
    assert {span.label_ for span in group} <= set(techniques.PTC_LABELS)


def test_spans_snap_outward_to_whole_tokens(nlp: spacy.language.Language, analyzer: Analyzer) -> None:
    # Split only at spaces, so that punctuation stays inside the tokens: spans then end inside them.
    words = PROPAGANDA.split(" ")
    doc = nlp(Doc(nlp.vocab, words=words, spaces=[True] * (len(words) - 1) + [False]))
    token_edges = {token.idx for token in doc} | {token.idx + len(token) for token in doc}
    group = doc.spans["propaganda"]
    widened = 0
    for found in analyzer.analyze(PROPAGANDA).spans:
        snapped = [s for s in group if s.label_ == found.technique
                   and s.start_char <= found.start and found.end <= s.end_char]
        assert snapped, f"{found} has no span in the group"
        span = min(snapped, key=len)
        assert {span.start_char, span.end_char} <= token_edges
        assert span._.confidence >= found.confidence
        widened += (span.start_char, span.end_char) != (found.start, found.end)
    assert widened > 0


def test_pipe_over_many_texts_matches_one_by_one(nlp: spacy.language.Language) -> None:
    texts = [PROPAGANDA, CALM, "", PROPAGANDA[:400]]
    piped = list(nlp.pipe(texts, batch_size=2))
    for text, doc in zip(texts, piped, strict=True):
        alone = nlp(text)
        assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["propaganda"]] == \
               [(s.start_char, s.end_char, s.label_) for s in alone.spans["propaganda"]]
    assert len(piped[1].spans["propaganda"]) < len(piped[0].spans["propaganda"])


def test_empty_doc_gets_an_empty_group(nlp: spacy.language.Language) -> None:
    for text in ("", "  \n "):
        doc = nlp(text)
        assert len(doc.spans["propaganda"]) == 0 and doc._.propaganda_score == 0.0


def test_unknown_sensitivity_names_the_valid_ones() -> None:
    pipeline = spacy.blank("en")
    with pytest.raises(InputError, match="sensitivity 'loud': choose one of low, balanced, high"):
        pipeline.add_pipe("propscope", config={"sensitivity": "loud"})


def test_pipeline_saves_and_loads_with_its_settings(tmp_path: Path) -> None:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("propscope", config={"sensitivity": "high"})
    pipeline.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("propscope").analyzer.sensitivity == "high"
    docs = {name: nlp(PROPAGANDA) for name, nlp in (("saved", pipeline), ("loaded", loaded))}
    assert [(s.start_char, s.end_char, s.label_) for s in docs["loaded"].spans["propaganda"]] == \
           [(s.start_char, s.end_char, s.label_) for s in docs["saved"].spans["propaganda"]]
    balanced = spacy.blank("en")
    balanced.add_pipe("propscope")
    assert len(docs["loaded"].spans["propaganda"]) > len(balanced(PROPAGANDA).spans["propaganda"])


def test_add_pipe_works_without_importing_propscope() -> None:
    code = ("import sys, spacy; nlp = spacy.blank('en'); nlp.add_pipe('propscope'); "
            "doc = nlp('These corrupt traitors will destroy our glorious nation!'); "
            "print(len(doc.spans['propaganda']) > 0, round(doc._.propaganda_score, 3) > 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_displacy_span_view_shows_spans_in_technique_colours(nlp: spacy.language.Language) -> None:
    doc = nlp(PROPAGANDA)
    page = displacy.render(doc, style="span", options={"spans_key": "propaganda"}, page=True)
    for span in doc.spans["propaganda"]:
        assert span.label_ in page
        assert techniques.get(span.label_).colour in page
    assert "#ddd" not in page  # displaCy's colour for labels it does not know
