"""Tuning the decoding of the sensitivity settings, on the shipped model and invented articles."""

from dataclasses import replace

from propscope import calibration, ptc, scoring
from propscope.model import Analyzer

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
    settings = calibration.tune(encoded, gold)
    assert set(settings) == {"low", "balanced", "high"}
    # The tagger's own spans, chosen again with the channel and repetition thresholds in place,
    # and those thresholds chosen again: nothing moves.
    grouped = scoring.GroupedGold(gold)
    assert calibration._stage_one(encoded, grouped, settings) == settings
    for name, params in settings.items():
        assert calibration._best_of(encoded, grouped, name, [
            replace(params, technique_high=t) for t in calibration.TECHNIQUE_HIGH
        ]) == params
    balanced = calibration.measure(encoded, gold, settings)["balanced"]
    assert balanced["si"]["f1"] > 0.5, balanced["si"]
