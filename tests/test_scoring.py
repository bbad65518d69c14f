import pytest
from hypothesis import given
from hypothesis import strategies as st

from propscope import scoring
from propscope.errors import InputError
from propscope.ptc import LabelledSpan
from propscope.scoring import (
    evaluate,
    fragment_level,
    merge,
    positive_lines,
    sentence_level,
    span_identification,
    technique_classification,
)


def rows(*spec: tuple[str, str, int, int]) -> list[LabelledSpan]:
    return [LabelledSpan(*row) for row in spec]


def test_merge_joins_only_spans_that_share_a_character() -> None:
    assert merge([(5, 15), (0, 10), (15, 20), (30, 31)]) == [(0, 15), (15, 20), (30, 31)]


@pytest.mark.parametrize(
    ("gold", "pred", "precision", "recall"),
    [
        # partial overlap with one of two gold spans: P = 5/10, R = (5/10) / 2
        (rows(("A", "x", 0, 10), ("A", "x", 20, 30)), rows(("A", "x", 5, 15)), 0.5, 0.25),
        # a prediction nested inside a gold span
        (rows(("A", "x", 0, 20)), rows(("A", "x", 5, 10)), 1.0, 0.25),
        # overlapping gold spans are merged first, so one exact prediction gets full credit
        (rows(("A", "x", 0, 10), ("A", "y", 5, 15)), rows(("A", "z", 0, 15)), 1.0, 1.0),
        # a prediction in an article without gold counts against precision only
        (rows(("A", "x", 0, 10)), rows(("A", "x", 0, 10), ("B", "x", 0, 5)), 0.5, 1.0),
        # an empty prediction
        (rows(("A", "x", 0, 10)), [], 0.0, 0.0),
        # two predictions covering one gold span: each is precise, recall adds up
        (rows(("A", "x", 0, 10)), rows(("A", "x", 0, 4), ("A", "x", 6, 10)), 1.0, 0.8),
    ],
)
def test_span_identification_hand_computed(gold, pred, precision, recall) -> None:
    scores = span_identification(gold, pred)
    assert scores.precision == pytest.approx(precision)
    assert scores.recall == pytest.approx(recall)


def test_span_identification_f1_is_harmonic_mean() -> None:
    scores = span_identification(rows(("A", "x", 0, 10), ("A", "x", 20, 30)), rows(("A", "x", 5, 15)))
    assert scores.f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75)


def test_fragment_level_credits_only_the_same_technique() -> None:
    gold = rows(("A", "Loaded_Language", 0, 10), ("A", "Name_Calling,Labeling", 0, 10))
    scores = fragment_level(gold, rows(("A", "Loaded_Language", 0, 10)))
    assert (scores.precision, scores.recall) == (1.0, 0.5)
    wrong = fragment_level(gold, rows(("A", "Doubt", 0, 10)))
    assert (wrong.precision, wrong.recall) == (0.0, 0.0)


def test_fragment_level_per_technique_lists_the_most_frequent_first() -> None:
    gold = rows(("A", "Doubt", 0, 10), ("A", "Loaded_Language", 20, 30), ("B", "Loaded_Language", 0, 10))
    pred = rows(("A", "Loaded_Language", 20, 30), ("A", "Slogans", 0, 10))
    table = scoring.fragment_level_per_technique(gold, pred)
    assert list(table) == ["Loaded_Language", "Doubt", "Slogans"]
    loaded, n_loaded = table["Loaded_Language"]
    assert (loaded.precision, loaded.recall, n_loaded) == (1.0, 0.5, 2)
    assert table["Doubt"][0].f1 == 0.0 and table["Slogans"] == (scoring.Scores(0.0, 0.0), 0)


def test_technique_classification_micro_macro_and_per_technique() -> None:
    gold = rows(("A", "Loaded_Language", 0, 5), ("A", "Name_Calling,Labeling", 0, 5), ("A", "Doubt", 10, 20))
    pred = rows(("A", "Loaded_Language", 0, 5), ("A", "Doubt", 0, 5), ("A", "Doubt", 10, 20))
    scores = technique_classification(gold, pred)
    assert scores.micro_f1 == pytest.approx(2 / 3)
    assert scores.per_technique["Loaded_Language"].f1 == 1.0
    assert scores.per_technique["Name_Calling,Labeling"].f1 == 0.0
    assert scores.per_technique["Doubt"].f1 == pytest.approx(2 / 3)
    assert scores.macro_f1 == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_technique_classification_needs_rows_in_the_same_order() -> None:
    with pytest.raises(InputError, match="row 1"):
        technique_classification(rows(("A", "Doubt", 0, 5)), rows(("A", "Doubt", 1, 5)))


def test_sentence_level_counts_lines_touched_by_spans() -> None:
    articles = {"A": "aa\nbb\ncc", "B": "dd"}
    gold = rows(("A", "x", 3, 4))
    pred = rows(("A", "x", 0, 4))
    assert positive_lines(articles, pred) == {("A", 0), ("A", 1)}
    scores = sentence_level(articles, gold, positive_lines(articles, pred))
    assert (scores.precision, scores.recall) == (0.5, 1.0)
    assert sentence_level(articles, gold, set()).f1 == 0.0


def test_evaluate_scores_sentence_marks_without_spans() -> None:
    articles = {"A": "aa\nbb\ncc"}
    gold = rows(("A", "Doubt", 3, 4), ("A", "Doubt", 7, 8))
    pred = rows(("A", "Doubt", 3, 5))
    assert evaluate(articles, gold, pred)["slc"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667}
    marked = positive_lines(articles, [*pred, *rows(("A", "?", 6, 7))])  # a sentence-level mark
    assert evaluate(articles, gold, pred, predicted_lines=marked)["slc"]["f1"] == 1.0
    assert evaluate(articles, gold, pred, predicted_lines=marked)["si"] == evaluate(articles, gold, pred)["si"]


@pytest.mark.parametrize(("x", "y", "expected"), [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3], [5, 5, 5], 0.0),
    # ranks of x: 1, 2.5, 2.5, 4; of y: 1, 2, 3, 4 -> r = 4.5 / sqrt(4.5 * 5)
    ([1, 2, 2, 3], [1, 2, 3, 4], 4.5 / (4.5 * 5) ** 0.5),
])
def test_spearman_on_worked_examples(x: list[float], y: list[float], expected: float) -> None:
    assert scoring.spearman(x, y) == pytest.approx(expected)


def _brute_force_credit(gold: list[tuple[int, int]], pred: list[tuple[int, int]]) -> tuple[float, float]:
    gold, pred = merge(gold), merge(pred)
    p = sum(max(0, min(pe, ge) - max(ps, gs)) / (pe - ps) for ps, pe in pred for gs, ge in gold)
    r = sum(max(0, min(pe, ge) - max(ps, gs)) / (ge - gs) for ps, pe in pred for gs, ge in gold)
    return (p / len(pred) if pred else 0.0), (r / len(gold) if gold else 0.0)


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 15)), max_size=8),
       st.lists(st.tuples(st.integers(0, 60), st.integers(1, 15)), max_size=8))
def test_span_identification_equals_the_all_pairs_definition(
    gold_spans: list[tuple[int, int]], pred_spans: list[tuple[int, int]]
) -> None:
    gold = [LabelledSpan("a", "Doubt", s, s + n) for s, n in gold_spans]
    pred = [LabelledSpan("a", "Doubt", s, s + n) for s, n in pred_spans]
    scores = span_identification(gold, pred)
    expected = _brute_force_credit([(g.start, g.end) for g in gold], [(p.start, p.end) for p in pred])
    assert (scores.precision, scores.recall) == pytest.approx(expected)


_TECHNIQUES = st.sampled_from(["Doubt", "Slogans", "Loaded_Language"])
_ROWS = st.lists(st.tuples(st.sampled_from("ab"), _TECHNIQUES, st.integers(0, 60), st.integers(1, 15)), max_size=10)


@given(_ROWS, _ROWS)
def test_credits_of_each_article_add_up_to_the_scores_of_all(gold_rows: list, pred_rows: list) -> None:
    gold = [LabelledSpan(a, t, s, s + n) for a, t, s, n in gold_rows]
    pred = [LabelledSpan(a, t, s, s + n) for a, t, s, n in pred_rows]
    grouped = scoring.GroupedGold(gold)
    si = flc = scoring.Credit()
    for article_id in "ab":
        article_si, article_flc = grouped.article_credit(article_id, [p for p in pred if p.article_id == article_id])
        si, flc = si + article_si, flc + article_flc
    expected_si, expected_flc = span_identification(gold, pred), scoring.fragment_level(gold, pred)
    assert (si.scores().precision, si.scores().recall) == pytest.approx((expected_si.precision, expected_si.recall))
    assert (flc.scores().precision, flc.scores().recall) == pytest.approx((expected_flc.precision, expected_flc.recall))
