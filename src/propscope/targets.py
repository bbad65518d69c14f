"""What training reads from an annotated text: per-token targets, its gold spans with their
features, recurring phrases to teach as "none", and the windows of each epoch. numpy only."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from propscope import datasets, decoding, techniques
from propscope.text import Tokens, tokenize

SHORT_WINDOW = 64  # tokens; windows this short are batched apart from full ones

@dataclass
class TrainingArticle:
    """A text tokenized, with its per-token targets and its distinct gold spans."""

    article_id: str
    text: str
    tokens: Tokens
    targets: np.ndarray  # (n_tokens, N_CHANNELS) float32: inside any span, then inside each technique
    loss_targets: np.ndarray  # what the token loss trains towards: the targets, or blended with a teacher's
    loss_mask: np.ndarray  # (n_tokens,) float32, 0 inside a span whose technique has no PTC label
    weight: float  # loss weight of the text's source
    span_tokens: np.ndarray  # (n_spans, 2) token [first, last)
    span_targets: np.ndarray  # (n_spans, N_CLASSES) label distribution
    span_features: np.ndarray  # (n_spans, N_FEATURES)
    repeated: np.ndarray  # (n, 2) token [first, last) of repeated phrases that touch no span


def prepare(annotated: datasets.AnnotatedText, tokenizer: Any, weight: float = 1.0) -> TrainingArticle:
    text = annotated.text
    tokens = tokenize(tokenizer, text)
    targets = np.zeros((len(tokens), decoding.N_CHANNELS), dtype=np.float32)
    loss_mask = np.ones(len(tokens), dtype=np.float32)
    labels: dict[tuple[int, int], set[int]] = {}
    for row in annotated.rows:
        first, last = tokens.token_range(row.start, row.end)
        technique = techniques.index(row.technique)
        targets[first:last, 0] = 1.0
        targets[first:last, 1 + technique] = 1.0
        labels.setdefault((row.start, row.end), set()).add(technique)
    for start, end in annotated.masked:
        first, last = tokens.token_range(start, end)
        loss_mask[first:last] = np.minimum(loss_mask[first:last], 1.0 - targets[first:last, 0])
    spans = sorted(labels)
    span_targets = np.zeros((len(spans), decoding.N_CLASSES), dtype=np.float32)
    for i, span in enumerate(spans):
        span_targets[i, sorted(labels[span])] = 1.0 / len(labels[span])
    touched = targets[:, 0] + (1.0 - loss_mask)
    repeated = [
        tokens.token_range(start, end) for start, end in decoding.repeated_phrases(text)
    ]
    repeated = [(first, last) for first, last in repeated if last > first and not touched[first:last].any()]
    return TrainingArticle(
        article_id=annotated.text_id,
        text=text,
        tokens=tokens,
        targets=targets,
        loss_targets=targets,
        loss_mask=loss_mask,
        weight=weight,
        span_tokens=np.asarray([tokens.token_range(s, e) for s, e in spans], dtype=np.int64).reshape(-1, 2),
        span_targets=span_targets,
        span_features=decoding.span_features(text, tokens, spans),
        repeated=np.asarray(repeated, dtype=np.int64).reshape(-1, 2),
    )


def epoch_windows(
    articles: Sequence[TrainingArticle], content_tokens: int, rng: random.Random
) -> list[tuple[int, int, int]]:
    """(article index, start, end) windows of whole articles, at a fresh random offset."""
    result = []
    for index, article in enumerate(articles):
        n = len(article.tokens)
        offset = rng.randrange(content_tokens)
        starts = {max(0, min(s, n - content_tokens)) for s in range(-offset, n, content_tokens)}
        result += [(index, s, min(n, s + content_tokens)) for s in sorted(starts)]
    rng.shuffle(result)
    return result


def epoch_batches(
    articles: Sequence[TrainingArticle], content_tokens: int, batch_size: int, rng: random.Random
) -> list[list[tuple[int, int, int]]]:
    """The windows of one epoch in batches; short windows (whole short texts) are batched
    together, so that they are not padded to the length of an article's window."""
    windows = epoch_windows(articles, content_tokens, rng)
    short = [w for w in windows if w[2] - w[1] <= SHORT_WINDOW]
    full = [w for w in windows if w[2] - w[1] > SHORT_WINDOW]
    batches = [group[i : i + batch_size] for group in (full, short) for i in range(0, len(group), batch_size)]
    rng.shuffle(batches)
    return batches
