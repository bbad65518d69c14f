"""The span filter: its features, its fit and its round trip through a model folder's config."""

import numpy as np
import pytest

from propscope import span_filter
from propscope.decoding import REPETITION, Detection
from propscope.text import Tokens


def tokens_of(n: int) -> Tokens:
    """``n`` one-letter tokens with a space between each."""
    starts = np.arange(n, dtype=np.int64) * 2
    return Tokens(np.zeros(n, dtype=np.int64), np.stack([starts, starts + 1], axis=1))


def test_features_describe_each_kind_of_span_from_its_tokens() -> None:
    probs = np.zeros((10, 15), dtype=np.float32)
    probs[2:6, 0] = (0.6, 0.9, 0.3, 0.3)
    probs[3, 1 + 4] = 0.7
    named = np.full(14, 0.01, dtype=np.float32)
    named[4] = 0.87
    detections = [
        Detection(4, 9, 0.6, named, 0.2),  # tokens 2 to 4, named by the span head
        Detection(12, 15, 0.5, np.zeros(0, np.float32), 0.0, technique=7),  # a technique channel's run
        Detection(16, 19, 0.4, named, 0.1, technique=REPETITION),
    ]
    rows = span_filter.features(detections, tokens_of(10), probs)
    assert rows.shape == (3, span_filter.N_FEATURES)
    assert rows[:, :3].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    tagger = rows[0]
    assert tagger[3:7] == pytest.approx([0.6, 0.2, 0.87, 0.01])
    assert tagger[9:14] == pytest.approx([0.9, 0.3, 0.6, 0.6, 0.3])  # max, min, mean, first, last
    assert tagger[14] == pytest.approx(0.0) and tagger[15] == pytest.approx(0.1)  # before, after
    assert tagger[16] == pytest.approx(0.7)  # the highest technique channel inside
    assert tagger[20 + 4] == 1 and tagger[20:34].sum() == 1  # the span head's technique
    assert tagger[34 + 4] == pytest.approx(0.7)
    assert rows[1, 20 + 7] == 1 and rows[1, 5:7].tolist() == [0, 0]  # its own technique; no span head
    assert rows[2, 20 + REPETITION] == 1 and rows[2, 5] == pytest.approx(0.87)  # Repetition, named by the head
    assert rows[0, 17] == pytest.approx(probs[:, 0].mean())  # the article's level, the same for all
    assert rows[2, 19] == pytest.approx(100 * 3 / 10)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose first feature decides, noisily, whether a span overlaps gold."""
    generator = np.random.default_rng(seed)
    rows = generator.normal(size=(n, span_filter.N_FEATURES)).astype(np.float32)
    rows[:, 40] = 0.5  # a constant feature must not break the standardisation
    overlaps = rows[:, 3] + 0.2 * generator.normal(size=n) > 0
    return rows, overlaps


def test_the_filter_learns_which_spans_overlap_gold() -> None:
    rows, overlaps = synthetic(600, seed=1)
    fitted = span_filter.fit(rows, overlaps)
    assert fitted is not None
    test_rows, test_overlaps = synthetic(400, seed=2)
    support = fitted.support(test_rows)
    assert ((support >= 0.5) == test_overlaps).mean() > 0.85
    assert np.argmax(np.abs(fitted.weights)) == 3
    assert span_filter.SpanFilter.from_dict(fitted.to_dict()) == fitted


def test_too_few_spans_of_either_kind_fit_no_filter() -> None:
    rows, _ = synthetic(600, seed=3)
    overlaps = np.zeros(600, dtype=bool)
    overlaps[: span_filter.MIN_SPANS - 1] = True
    assert span_filter.fit(rows, overlaps) is None


def test_a_filter_of_another_shape_is_refused() -> None:
    fitted = span_filter.fit(*synthetic(600, seed=4))
    assert fitted is not None
    data = fitted.to_dict() | {"weights": [0.0] * 5}
    with pytest.raises(ValueError, match=f"needs {span_filter.N_FEATURES} values"):
        span_filter.SpanFilter.from_dict(data)
