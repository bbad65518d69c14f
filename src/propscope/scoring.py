"""The SemEval-2020 Task 11 measures, written from their definitions.

- SI: span identification F1, techniques ignored, with partial-overlap credit.
- TC: technique classification micro-F1 over given spans, plus macro-F1 and per technique.
- FLC: SI's formula, but credit only between spans of the same technique; also per technique.
- SLC: F1 of the positive class over lines: positive in gold where some gold span overlaps
  the line; predicted as the spans, or a sentence-level prediction, mark it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from propscope import techniques
from propscope.errors import InputError
from propscope.ptc import LabelledSpan
from propscope.text import line_bounds


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one measure."""

    precision: float
    recall: float

    @property
    def f1(self) -> float:
        return self.f_beta(1.0)

    def f_beta(self, beta: float) -> float:
        """F-beta: recall counts ``beta`` times as much as precision."""
        total = beta**2 * self.precision + self.recall
        return (1 + beta**2) * self.precision * self.recall / total if total else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass(frozen=True)
class ClassificationScores:
    """TC figures: micro-F1 (the official one), macro-F1, and F1 per technique."""

    micro_f1: float
    macro_f1: float
    per_technique: dict[str, Scores]

    def to_dict(self) -> dict[str, Any]:
        return {
            "micro_f1": round(self.micro_f1, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_technique": {label: s.to_dict() for label, s in self.per_technique.items()},
        }


def merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge intervals that share at least one character."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Credit:
    """The sums behind a precision and a recall with partial-overlap credit. They add up over
    articles, so the scores of any set of articles follow from each article's credit."""

    precision_sum: float = 0.0
    predicted: int = 0
    recall_sum: float = 0.0
    gold: int = 0

    def __add__(self, other: Credit) -> Credit:
        return Credit(self.precision_sum + other.precision_sum, self.predicted + other.predicted,
                      self.recall_sum + other.recall_sum, self.gold + other.gold)

    def scores(self) -> Scores:
        return Scores(self.precision_sum / self.predicted if self.predicted else 0.0,
                      self.recall_sum / self.gold if self.gold else 0.0)


def overlap_credit(golden: Sequence[tuple[int, int]], predicted: Sequence[tuple[int, int]]) -> Credit:
    """Partial credit between spans that share characters; both sides sorted and merged, so
    one sweep finds every overlapping pair."""
    precision_sum = recall_sum = 0.0
    g = 0
    for p_start, p_end in predicted:
        while g < len(golden) and golden[g][1] <= p_start:
            g += 1
        k = g
        while k < len(golden) and golden[k][0] < p_end:
            g_start, g_end = golden[k]
            shared = min(p_end, g_end) - max(p_start, g_start)
            precision_sum += shared / (p_end - p_start)
            recall_sum += shared / (g_end - g_start)
            k += 1
    return Credit(precision_sum, len(predicted), recall_sum, len(golden))


def _overlap_credit(
    gold: Mapping[Any, Sequence[tuple[int, int]]], pred: Mapping[Any, Sequence[tuple[int, int]]]
) -> Scores:
    total = Credit()
    for key in [*pred, *(key for key in gold if key not in pred)]:  # a fixed order, for the same float sums
        total += overlap_credit(gold.get(key, ()), pred.get(key, ()))
    return total.scores()


def _grouped(rows: Iterable[LabelledSpan], *, by_technique: bool) -> dict[Any, list[tuple[int, int]]]:
    groups: dict[Any, list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        key = (row.article_id, row.technique) if by_technique else row.article_id
        groups[key].append((row.start, row.end))
    return {key: merge(spans) for key, spans in groups.items()}


class GroupedGold:
    """Gold spans merged once, for scoring many predictions against them article by article
    (tuning scores thousands): summed over articles, the same figures as ``span_identification``
    and ``fragment_level``."""

    def __init__(self, gold: Iterable[LabelledSpan]) -> None:
        gold = list(gold)
        self.by_article = _grouped(gold, by_technique=False)
        self.by_technique = _grouped(gold, by_technique=True)
        self.techniques: dict[str, set[str]] = defaultdict(set)
        for article_id, technique in self.by_technique:
            self.techniques[article_id].add(technique)

    def article_credit(self, article_id: str, pred: Iterable[LabelledSpan]) -> tuple[Credit, Credit]:
        """SI's and FLC's credit of one article's predicted spans."""
        pred = list(pred)
        si = overlap_credit(self.by_article.get(article_id, ()), merge((row.start, row.end) for row in pred))
        flc = Credit()
        for technique in sorted(self.techniques.get(article_id, set()) | {row.technique for row in pred}):
            spans = merge((row.start, row.end) for row in pred if row.technique == technique)
            flc += overlap_credit(self.by_technique.get((article_id, technique), ()), spans)
        return si, flc


def span_identification(gold: Iterable[LabelledSpan], pred: Iterable[LabelledSpan]) -> Scores:
    """SI: overlapping spans merged per article, techniques ignored."""
    return _overlap_credit(_grouped(gold, by_technique=False), _grouped(pred, by_technique=False))


def fragment_level(gold: Iterable[LabelledSpan], pred: Iterable[LabelledSpan]) -> Scores:
    """FLC: like SI, but spans only earn credit from gold spans of the same technique."""
    return _overlap_credit(_grouped(gold, by_technique=True), _grouped(pred, by_technique=True))


def fragment_level_per_technique(
    gold: Sequence[LabelledSpan], pred: Sequence[LabelledSpan]
) -> dict[str, tuple[Scores, int]]:
    """FLC of each technique that is in ``gold`` or ``pred``, with its number of gold spans;
    the most frequent technique in ``gold`` first."""
    counts = Counter(row.technique for row in gold)
    present = sorted(counts.keys() | {row.technique for row in pred}, key=lambda label: (-counts[label], label))
    return {
        label: (fragment_level([g for g in gold if g.technique == label], [p for p in pred if p.technique == label]),
                counts[label])
        for label in present
    }


def technique_classification(
    gold: Sequence[LabelledSpan], pred: Sequence[LabelledSpan]
) -> ClassificationScores:
    """TC: ``pred`` labels the same rows as ``gold``, in the same order."""
    if len(gold) != len(pred):
        raise InputError(f"TC needs one prediction per gold row: got {len(pred)} for {len(gold)}")
    for number, (g, p) in enumerate(zip(gold, pred, strict=True), start=1):
        if (g.article_id, g.start, g.end) != (p.article_id, p.start, p.end):
            raise InputError(
                f"prediction row {number} is for {p.article_id} {p.start}-{p.end}, "
                f"but gold row {number} is {g.article_id} {g.start}-{g.end}"
            )
    per_technique = {}
    for label in techniques.PTC_LABELS:
        hits = sum(g.technique == label == p.technique for g, p in zip(gold, pred, strict=True))
        n_pred = sum(p.technique == label for p in pred)
        n_gold = sum(g.technique == label for g in gold)
        if n_pred or n_gold:
            per_technique[label] = Scores(hits / n_pred if n_pred else 0.0, hits / n_gold if n_gold else 0.0)
    correct = sum(g.technique == p.technique for g, p in zip(gold, pred, strict=True))
    micro = correct / len(gold) if gold else 0.0
    macro = sum(s.f1 for s in per_technique.values()) / len(per_technique) if per_technique else 0.0
    return ClassificationScores(micro, macro, per_technique)


def sentence_level(
    articles: Mapping[str, str], gold: Iterable[LabelledSpan], predicted_lines: set[tuple[str, int]]
) -> Scores:
    """SLC: each line is a sentence, positive when a gold span overlaps it; ``predicted_lines``
    are the (article id, line index) that the prediction marks."""
    return line_scores(positive_lines(articles, gold), predicted_lines)


def line_scores(gold_lines: set[tuple[str, int]], predicted_lines: set[tuple[str, int]]) -> Scores:
    """SLC from the positive lines of gold and prediction."""
    hits = len(gold_lines & predicted_lines)
    return Scores(hits / len(predicted_lines) if predicted_lines else 0.0,
                  hits / len(gold_lines) if gold_lines else 0.0)


def positive_lines(articles: Mapping[str, str], rows: Iterable[LabelledSpan]) -> set[tuple[str, int]]:
    """(article id, line index) of every line that one of ``rows`` overlaps."""
    lines = {article_id: line_bounds(text) for article_id, text in articles.items()}
    positive = set()
    for row in rows:
        for number, (start, end) in enumerate(lines[row.article_id]):
            if start < row.end and row.start < end:
                positive.add((row.article_id, number))
    return positive


def evaluate(
    articles: Mapping[str, str], gold: Sequence[LabelledSpan], pred: Sequence[LabelledSpan],
    *, predicted_lines: set[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """SI, FLC and SLC of predicted spans against gold spans, and FLC per technique, as one dict.
    SLC scores ``predicted_lines`` where given (see ``sentence_level``), else the lines the
    predicted spans overlap."""
    if predicted_lines is None:
        predicted_lines = positive_lines(articles, pred)
    return {
        "si": span_identification(gold, pred).to_dict(),
        "flc": fragment_level(gold, pred).to_dict(),
        "slc": sentence_level(articles, gold, predicted_lines).to_dict(),
        "flc_per_technique": {label: scores.to_dict() | {"gold_spans": n}
                              for label, (scores, n) in fragment_level_per_technique(gold, pred).items()},
    }


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (0 when either is constant)."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs equally long sequences, got {len(x)} and {len(y)}")
    rx, ry = _ranks(x), _ranks(y)
    n = len(x)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else 0.0
