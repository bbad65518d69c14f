"""Label trust: how far the technique named for a span can be believed.

Both parts are fit on spans the model did not train on (cross-validation's out-of-fold
articles, or a validation split), per technique, at the default setting:

- its precision, as FLC counts it; where it falls under ``FLOOR``, a span of that technique is
  shown as "a technique, unsure which", with the span head's two likeliest techniques, and
  never as a confident label;
- a calibration of its confidence (Platt scaling on the logit): the shown confidence is the
  probability that a span given that confidence overlaps a gold span of that technique.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from propscope.techniques import PTC_LABELS

# Under this out-of-fold precision, fewer than about one label in seven is right: too few for a
# reader to act on. 0.5's labels of clichés, whataboutism, appeal to authority, causal
# oversimplification and black-and-white fallacy were all under 0.1 (docs/experiments.md).
FLOOR = 0.15
MIN_SPANS = 20  # a technique with fewer spans to fit on gets its mean rate as confidence
_NEWTON_STEPS = 50
_HALVINGS = 30
_L2 = 1e-2


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * z))  # never overflows, unlike 1 / (1 + exp(-z))


@dataclass(frozen=True)
class LabelTrust:
    """Per PTC label: out-of-fold precision, and slope and intercept of the calibration."""

    precision: dict[str, float]
    calibration: dict[str, tuple[float, float]]
    floor: float = FLOOR

    @property
    def unsure(self) -> frozenset[str]:
        """The labels never shown as such: under the floor, or never seen out of fold."""
        return frozenset(label for label in PTC_LABELS if self.precision.get(label, 0.0) < self.floor)

    def calibrated(self, technique: str, confidence: float) -> float:
        if technique not in self.calibration:
            return confidence
        slope, intercept = self.calibration[technique]
        return round(_sigmoid(slope * _logit(confidence) + intercept), 6)

    def to_dict(self) -> dict[str, Any]:
        return {"floor": self.floor, "precision": self.precision,
                "calibration": {label: list(pair) for label, pair in self.calibration.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelTrust:
        return cls({str(k): float(v) for k, v in data["precision"].items()},
                   {str(k): (float(v[0]), float(v[1])) for k, v in data["calibration"].items()},
                   float(data["floor"]))


def fit(spans: Sequence[tuple[str, float, bool]], precision: Mapping[str, float]) -> LabelTrust:
    """Fit the calibration on (technique, confidence, right) of out-of-fold spans, where right
    means the span overlaps a gold span of its technique; ``precision`` is FLC's per technique."""
    by_technique: dict[str, list[tuple[float, bool]]] = {}
    for technique, confidence, right in spans:
        by_technique.setdefault(technique, []).append((confidence, right))
    calibration = {}
    for technique, rows in sorted(by_technique.items()):
        x = np.array([_logit(c) for c, _ in rows])
        y = np.array([float(r) for _, r in rows])
        if len(rows) < MIN_SPANS or y.min() == y.max() or np.ptp(x) < 1e-6:
            calibration[technique] = (0.0, _logit(float(y.mean())))
        else:
            calibration[technique] = _platt(x, y)
    return LabelTrust({label: round(float(p), 4) for label, p in sorted(precision.items())}, calibration)


def _platt(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a logistic regression of ``y`` on ``x``: Newton's method, each
    step halved until the penalised log-loss falls, with a little L2 on the slope so that a
    perfectly separable technique stays finite."""
    design = np.stack([x, np.ones_like(x)], axis=1)

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * _L2 * theta[0] ** 2)

    theta = np.array([1.0, 0.0])
    current = loss(theta)
    for _ in range(_NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design @ theta)))
        gradient = design.T @ (p - y) + np.array([_L2 * theta[0], 0.0])
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag([_L2, 1e-6])
        step = np.linalg.solve(hessian, gradient)
        for _ in range(_HALVINGS):
            if (tried := loss(theta - step)) <= current:
                break
            step = step / 2
        else:
            break
        theta, current = theta - step, tried
        if np.abs(step).max() < 1e-8:
            break
    return round(float(theta[0]), 6), round(float(theta[1]), 6)
