"""Tuning the decoding of the sensitivity settings, on the shipped model and invented articles."""

from dataclasses import replace

import numpy as np
import pytest

from propscope import calibration, ptc, scoring, span_filter
from propscope.decoding import DISABLED, evidence_ranges
from propscope.model import Analyzer
from propscope.model_internals import Internals

from .conftest import CALM, WAR_REPORT, WAR_REPORT_OBVIOUS


def war_report_gold() -> list[ptc.LabelledSpan]:
    body = WAR_REPORT.index("\n\n")
    rows = []
    for phrase in WAR_REPORT_OBVIOUS:
        start = WAR_REPORT.index(phrase, body)
        technique = "Loaded_Language" if phrase in ("cowardly act", "terrorising", "massacre") else "Name_Calling,Labeling"
        rows.append(ptc.LabelledSpan("1", technique, start, start + len(phrase)))
    return rows


def test_tuned_settings_are_stable_when_tuned_again_with_each_other_in_place(analyzer: Analyzer) -> None:
    encoded = calibration.encode_articles(analyzer, {"1": WAR_REPORT, "2": CALM})
    gold = war_report_gold()
    tuned = calibration.tune(encoded, gold)
    assert tuned.span_filter is None  # two articles propose too few spans to fit one
    settings = tuned.settings
    assert set(settings) == {"low", "balanced", "high"}
    # The tagger's own spans, chosen again with the channel and repetition thresholds in place,
    # and those thresholds chosen again: nothing moves.
    credits = calibration._Credits({"": encoded}, gold)
    assert credits.stage_one({"": settings}) == {"": settings}
    assert credits.best_of({"": settings}, lambda p: [
        replace(p, technique_high=t) for t in calibration.TECHNIQUE_HIGH]) == {"": settings}
    balanced = calibration.measure(encoded, gold, settings)["balanced"]
    assert balanced["si"]["f1"] > 0.5, balanced["si"]


def test_pools_tuned_together_choose_what_each_pool_tuned_alone_chooses(analyzer: Analyzer) -> None:
    cut = WAR_REPORT.index("These barbarians")
    encoded = calibration.encode_articles(analyzer, {"1": WAR_REPORT, "2": CALM, "3": WAR_REPORT[:cut]})
    gold = war_report_gold() + [replace(row, article_id="3") for row in war_report_gold() if row.end <= cut]
    pools = {"one and two": {i: encoded[i] for i in ("1", "2")}, "two and three": {i: encoded[i] for i in ("2", "3")}}
    alone = {name: calibration.tune(pool, gold) for name, pool in pools.items()}
    assert calibration.tune_pools(pools, gold) == alone
    assert calibration.tune_pools(pools, gold, workers=2) == alone
    assert alone["one and two"] != alone["two and three"]  # else the pools could not tell a mix-up


def test_a_span_filter_fit_on_the_tuning_articles_supports_the_spans_that_overlap_gold(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(span_filter, "MIN_SPANS", 3)
    encoded = calibration.encode_articles(analyzer, {"1": WAR_REPORT, "2": CALM})
    gold = war_report_gold()
    params = analyzer.settings["high"]
    fitted = calibration.fit_span_filter(encoded, gold, params)
    assert fitted is not None
    detections = Internals(analyzer).decode(encoded["1"][1], params)
    support = fitted.support(span_filter.features(detections, encoded["1"][1].tokens,
                                                  encoded["1"][1].token_probabilities()))
    overlaps = np.array([any(g.start < d.end and d.start < g.end for g in gold) for d in detections])
    assert overlaps.any() and not overlaps.all()
    assert support[overlaps].mean() > support[~overlaps].mean() + 0.2
    tuned = calibration.tune(encoded, gold)
    assert tuned.span_filter is not None
    assert all(p.min_support in calibration.MIN_SUPPORT[1:] for p in tuned.settings.values())
    assert tuned.config()["span_filter"] == tuned.span_filter.to_dict()


def test_sentence_evidence_is_tuned_for_slc_and_measured_as_tuned(analyzer: Analyzer) -> None:
    encoded = calibration.encode_articles(analyzer, {"1": WAR_REPORT, "2": CALM})
    gold = war_report_gold()
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    for threshold in calibration.SENTENCE_EVIDENCE[1:]:  # tuning's line maxima agree with the analyzer's ranges
        by_lines = {(i, n) for i, (_, encoding) in encoded.items()
                    for n, p in enumerate(calibration.line_evidence(encoding)) if p >= threshold}
        by_ranges = scoring.positive_lines(articles, [
            ptc.LabelledSpan(i, ptc.UNLABELLED, start, end) for i, (_, encoding) in encoded.items()
            for start, end in evidence_ranges(encoding.tokens, encoding.token_probabilities(), threshold)])
        assert by_lines == by_ranges
    tuned = calibration.tune(encoded, gold)
    assert all(p.sentence_evidence in calibration.SENTENCE_EVIDENCE for p in tuned.settings.values())
    balanced = tuned.settings["balanced"]
    figures = {name: calibration.measure(encoded, gold, {"balanced": params})["balanced"] for name, params in (
        ("tuned", balanced), ("off", replace(balanced, sentence_evidence=DISABLED)),
        ("everywhere", replace(balanced, sentence_evidence=0.0)))}
    assert figures["everywhere"]["slc"]["recall"] == 1.0
    assert figures["everywhere"]["slc"]["precision"] < figures["off"]["slc"]["precision"]  # the calm lines count
    assert figures["tuned"]["slc"]["f1"] >= figures["off"]["slc"]["f1"]
    assert figures["off"]["si"] == figures["tuned"]["si"] == figures["everywhere"]["si"]  # spans stay as they are
