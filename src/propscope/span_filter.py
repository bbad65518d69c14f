"""The span filter: a second look at every span the decoding proposes, which drops the ones
unlikely to overlap any technique.

The span head names a span's technique from the encoder's states, and learns "no propaganda"
from spans the tagger proposes on its own training texts, where it is nearly always right. So
it rejects few of the spans the tagger proposes on new text: out of fold, about half of them
overlap no gold span. The filter is a logistic regression over what decoding already knows
about a span (how sure the tagger and the span head are, its length, the token probabilities
in and around it, the article's overall level, its technique), fit on spans that models
proposed for articles they did not train on. A span is kept when its support reaches the
setting's ``min_support``.

Numpy only: fitting happens while tuning, which must not need torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from propscope.decoding import REPETITION, Detection, FloatArray
from propscope.techniques import TECHNIQUES
from propscope.text import Tokens

_CONTEXT_TOKENS = 3  # the tokens on either side whose probability says whether a span is cut short
_ARTICLE_LEVEL = 0.3  # the article's share of tokens at least this likely to be inside a span
N_FEATURES = 20 + 2 * len(TECHNIQUES)
MIN_SPANS = 50  # fewer spans than this that overlap gold, or that do not, fit no filter
_L2 = 1.0  # the penalty on the weights of the standardised features
_NEWTON_STEPS = 25


def features(detections: Sequence[Detection], tokens: Tokens, probs: FloatArray) -> FloatArray:
    """One row per detection of a text; ``probs`` holds the text's token probabilities (every
    channel, every token)."""
    rows = np.zeros((len(detections), N_FEATURES), dtype=np.float32)
    inside = probs[:, 0]
    article = (float(inside.mean()), float((inside >= _ARTICLE_LEVEL).mean()),
               100 * len(detections) / max(1, len(tokens)))
    n_techniques = len(TECHNIQUES)
    for row, detection in enumerate(detections):
        first, last = tokens.token_range(detection.start, detection.end)
        last = max(last, first + 1)
        span = inside[first:last]
        before = inside[max(0, first - _CONTEXT_TOKENS) : first]
        after = inside[last : last + _CONTEXT_TOKENS]
        channels = probs[first:last, 1:].max(axis=0) if probs.shape[1] > 1 else np.zeros(n_techniques)
        named = detection.technique_probabilities
        top = np.sort(named)[::-1][:2] if len(named) else np.zeros(2)
        technique = detection.technique if detection.technique is not None else int(np.argmax(named))
        kind = 0 if detection.technique is None else 2 if detection.technique == REPETITION else 1
        rows[row, kind] = 1.0
        rows[row, 3:20] = (
            detection.span_probability, detection.none_probability, top[0], top[1],
            np.log1p(detection.end - detection.start), np.log1p(last - first),
            span.max(), span.min(), span.mean(), span[0], span[-1],
            before.mean() if len(before) else 0.0, after.mean() if len(after) else 0.0,
            channels.max(), *article,
        )
        rows[row, 20 + technique] = 1.0
        rows[row, 20 + n_techniques :] = channels
    return rows


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    result: npt.NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow, however far from 0
    return result


@dataclass(frozen=True, eq=False)
class SpanFilter:
    """Standardise the features, then a logistic regression: the probability that a proposed
    span overlaps a technique."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: float

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpanFilter) and self.to_dict() == other.to_dict()

    def support(self, rows: FloatArray) -> FloatArray:
        return _sigmoid(((rows - self.mean) / self.scale) @ self.weights + self.bias).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(),
                "bias": self.bias}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpanFilter:
        mean, scale, weights = (np.asarray(data[key], dtype=np.float32) for key in ("mean", "scale", "weights"))
        if any(array.shape != (N_FEATURES,) for array in (mean, scale, weights)):
            raise ValueError(f"a span filter needs {N_FEATURES} values per array")
        return cls(mean, scale, weights, float(data["bias"]))


def fit(rows: FloatArray, overlaps: npt.NDArray[np.bool_]) -> SpanFilter | None:
    """Fit the filter on proposed spans and whether each overlaps a gold span (L2-penalised
    logistic regression by Newton's method); None when there are too few of either kind."""
    positives = int(overlaps.sum())
    if min(positives, len(overlaps) - positives) < MIN_SPANS:
        return None
    x = rows.astype(np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    design = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    target = overlaps.astype(np.float64)
    penalty = np.full(design.shape[1], _L2)
    penalty[-1] = 0.0  # the bias is not penalised
    theta = np.zeros(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        p = _sigmoid(design @ theta)
        gradient = design.T @ (p - target) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-6:
            break
    return SpanFilter(mean.astype(np.float32), scale.astype(np.float32), theta[:-1].astype(np.float32),
                      float(theta[-1]))
