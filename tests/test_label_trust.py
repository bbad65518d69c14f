"""Label trust: which techniques are named, and calibrated confidences, fit out of fold."""

import dataclasses
import random

import pytest

from propscope import label_trust, techniques
from propscope.analysis import Analysis, ModelInfo, Span
from propscope.label_trust import FLOOR, LabelTrust
from propscope.model import Analyzer
from propscope.reports import html, markdown, terminal

from .test_model import EDITORIAL


def test_techniques_under_the_floor_or_never_seen_are_unsure() -> None:
    trust = label_trust.fit([], {"Loaded_Language": 0.33, "Doubt": FLOOR, "Whataboutism,Straw_Men,Red_Herring": 0.006})
    assert "Whataboutism,Straw_Men,Red_Herring" in trust.unsure and "Slogans" in trust.unsure  # never seen
    assert "Loaded_Language" not in trust.unsure and "Doubt" not in trust.unsure
    assert LabelTrust.from_dict(trust.to_dict()) == trust


def test_calibration_follows_how_often_spans_of_a_confidence_are_right() -> None:
    rng = random.Random(3)
    spans = []
    for _ in range(4000):  # a model that is over-sure: at confidence c, right with probability c / 2
        confidence = rng.uniform(0.05, 0.95)
        spans.append(("Loaded_Language", confidence, rng.random() < confidence / 2))
    spans += [("Slogans", 0.9, True), ("Slogans", 0.8, False)] * 5  # too few to fit a curve
    trust = label_trust.fit(spans, {"Loaded_Language": 0.3, "Slogans": 0.5})
    for confidence in (0.2, 0.5, 0.8):
        assert trust.calibrated("Loaded_Language", confidence) == pytest.approx(confidence / 2, abs=0.05)
    assert trust.calibrated("Slogans", 0.95) == trust.calibrated("Slogans", 0.1) == pytest.approx(0.5, abs=1e-3)
    assert trust.calibrated("Doubt", 0.37) == 0.37  # not fit: the confidence as decoded


def test_calibration_stays_finite_where_confidence_separates_right_from_wrong() -> None:
    # As Repetition's spans once did: a few confidences, each all right or all wrong.
    spans = [("Repetition", 0.31, False)] * 40 + [("Repetition", 0.32, True)] * 30 + [("Repetition", 1.0, True)] * 5
    trust = label_trust.fit(spans, {"Repetition": 0.4})
    slope, intercept = trust.calibration["Repetition"]
    assert abs(slope) < 1e4 and abs(intercept) < 1e4
    assert trust.calibrated("Repetition", 0.31) < 0.5 < trust.calibrated("Repetition", 0.32)
    assert 0.0 <= trust.calibrated("Repetition", 0.0) <= trust.calibrated("Repetition", 1.0) <= 1.0
    steep = LabelTrust({"Repetition": 0.4}, {"Repetition": (7409.1, -2.2e10)})  # a fit that diverged before
    assert steep.calibrated("Repetition", 0.5) == 0.0


def test_an_unsure_label_is_shown_with_the_two_likeliest_and_the_score_stays(analyzer: Analyzer) -> None:
    trusting = Analyzer()
    everything_right = {label: 1.0 for label in techniques.PTC_LABELS}
    trusting.trust = LabelTrust(everything_right | {"Name_Calling,Labeling": 0.05}, {"Loaded_Language": (1.0, -1.0)})
    plain, shown = analyzer.analyze(EDITORIAL), trusting.analyze(EDITORIAL)
    assert shown.score == plain.score
    assert [(s.start, s.end, s.technique) for s in shown.spans] == [(s.start, s.end, s.technique) for s in plain.spans]
    unsure = [s for s in shown.spans if s.unsure]
    assert unsure and all(s.technique == "Name_Calling,Labeling" for s in unsure)
    for span in unsure:
        (first, p1), (second, p2) = span.alternatives
        assert first != second and 1 >= p1 >= p2 > 0 and p1 + p2 <= 1 + 1e-6
    for before, after in zip(plain.spans, shown.spans, strict=True):
        if after.technique == "Loaded_Language":  # slope 1, intercept -1 on the logit
            assert after.confidence < before.confidence
            assert after.confidence == pytest.approx(trusting.trust.calibrated("Loaded_Language", before.confidence))
        else:
            assert after.confidence == before.confidence
    assert Analysis.from_dict(shown.to_dict()) == shown


def unsure_analysis() -> Analysis:
    text = "What about the other side? They did worse. The corrupt elite lied."
    return Analysis.build(text, [
        Span(0, 26, "Whataboutism,Straw_Men,Red_Herring", 0.3,
             (("Whataboutism,Straw_Men,Red_Herring", 0.41), ("Doubt", 0.3))),
        Span(text.index("corrupt"), text.index("corrupt") + 13, "Loaded_Language", 0.7),
    ], ModelInfo("test", "0", "c" * 64))


def test_reports_never_name_an_unsure_label_as_sure() -> None:
    analysis = unsure_analysis()
    page = html.render(analysis)
    assert "A technique, unsure which · confidence 0.30" in page
    assert ("<p>Likeliest: Whataboutism, straw man or red herring (0.41) or Doubt (0.30). The model's labels of this "
            "kind are too seldom right to name one.</p>") in page
    assert "Whataboutism, straw man or red herring (1)" not in page and "A technique, unsure which (1)" in page
    unsure_segment = next(s for s in html.segments(analysis) if s.spans and s.spans[0].unsure)
    assert unsure_segment.background == techniques.UNSURE_COLOUR
    text = markdown.render(analysis)
    assert "**A technique, unsure which: Whataboutism, straw man or red herring (0.41) or Doubt (0.30)** (0.30" in text
    assert "| A technique, unsure which | 1 |" in text and "| Loaded language | 1 |" in text
    assert analysis.technique_counts() == {"Loaded_Language": 1, "Whataboutism,Straw_Men,Red_Herring": 1}
    assert analysis.technique_counts(trusted_only=True) == {"Loaded_Language": 1}


def test_the_terminal_names_an_unsure_span_unsure() -> None:
    import io

    from rich.console import Console

    out = io.StringIO()
    terminal.render(unsure_analysis(), Console(file=out, width=200, color_system=None))
    shown = out.getvalue()
    assert "A technique, unsure which (1)" in shown
    assert "A technique, unsure which: Whataboutism, straw man or red herring (0.41) or Doubt (0.30)" in shown
    assert "Whataboutism, straw man or red herring (1)" not in shown


def test_an_analysis_written_before_label_trust_reads_back() -> None:
    data = unsure_analysis().to_dict()
    for span in data["spans"]:
        del span["alternatives"]
    assert not any(span.unsure for span in Analysis.from_dict(data).spans)
    assert dataclasses.asdict(Analysis.from_dict(unsure_analysis().to_dict()).spans[0])["alternatives"]
