"""Pure functions that turn model outputs into spans: stitching windows, decoding token
probabilities into character spans, pooling span states and naming their technique.

Nothing here runs the encoder, so all of it is tested on hand-made arrays.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from propscope.analysis import Span
from propscope.errors import InputError
from propscope.techniques import TECHNIQUES
from propscope.text import Tokens, line_bounds, snap_to_words

FloatArray = npt.NDArray[np.float32]
N_FEATURES = 7
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
NONE = len(TECHNIQUES)  # the span head's extra class: "this span is not propaganda"
N_CLASSES = NONE + 1
N_CHANNELS = 1 + len(TECHNIQUES)  # token probabilities: inside any span, then inside each technique
REPETITION = next(i for i, t in enumerate(TECHNIQUES) if t.ptc_label == "Repetition")
DISABLED = 1.01  # a threshold no probability reaches
CORE_STEP = 0.1  # how much higher each cut of a too-long span sets the bar for its cores
REPETITION_FLOOR = 0.01  # a recurring phrase is a Repetition candidate only where that channel reaches this
_WORD = re.compile(r"\w+(?:['’-]\w+)*")
_PHRASE_WORDS = 5
_STOPWORDS = frozenset(
    "a an the of to in on at for by with and or but is are was were be been being it its this that these those "
    "as from he she they we you i his her their our your my me him them us not no so if than then there here "
    "has have had do does did will would can could should may might must just also about into over after "
    "before more most very what which who whom whose when where why how all any some such only own same other "
    "s t".split()
)


@dataclass(frozen=True)
class DecodingParams:
    """How token probabilities become spans; tuned on held-out articles."""

    high: float = 0.5  # a span needs at least one token this sure
    low: float = 0.35  # and grows over neighbouring tokens at least this sure
    max_gap: int = 1  # spans this few tokens apart are joined
    second_label: float = 0.5  # a span gets its second technique too at this probability
    min_confidence: float = 0.0  # labelled spans less sure than this are dropped
    max_none: float = 1.0  # spans the span head calls "no propaganda" more surely than this are dropped
    technique_high: float = DISABLED  # a technique channel's run this sure is a span of that technique
    repetition: float = DISABLED  # a recurring phrase this likely to be Repetition is a span
    min_support: float = 0.0  # spans the model's span filter supports less than this are dropped
    sentence_evidence: float = DISABLED  # a sentence where a technique channel is this sure is marked, span or not
    long_span: float = 0.0  # a tagger's span this many times longer than its technique's spans are is cut to its
                            # cores (see ``too_long``); 0 keeps every length
    recur: float = DISABLED  # a span this confident makes the other occurrences of its words candidates

    def to_dict(self) -> dict[str, float]:
        return {"high": self.high, "low": self.low, "max_gap": self.max_gap, "second_label": self.second_label,
                "min_confidence": self.min_confidence, "max_none": self.max_none,
                "technique_high": self.technique_high, "repetition": self.repetition, "min_support": self.min_support,
                "sentence_evidence": self.sentence_evidence, "long_span": self.long_span, "recur": self.recur}


Sensitivity = Literal["low", "balanced", "high"]
SENSITIVITIES: tuple[Sensitivity, ...] = ("low", "balanced", "high")


def check_sensitivity(value: str, *, option: str = "--sensitivity") -> Sensitivity:
    """Return ``value`` if it names a sensitivity setting, else raise InputError listing them;
    ``option`` is how the user gave it."""
    if value not in SENSITIVITIES:
        raise InputError(f"{option} {value!r}: choose one of {', '.join(SENSITIVITIES)}")
    return value


@dataclass(frozen=True)
class Detection:
    """A span the tagger found, how sure it is, and the technique probabilities for it.

    ``technique`` is set when the span was found for one technique (by its token channel, or
    as a recurring phrase): it is then labelled with that technique and ``span_probability``.
    """

    start: int
    end: int
    span_probability: float
    technique_probabilities: FloatArray
    none_probability: float  # the span head's belief that this is no propaganda at all
    technique: int | None = None
    # The span head's technique probabilities where ``technique`` was chosen by a token channel
    # and the label is not trusted: what the alternatives shown instead are named from.
    named: FloatArray | None = None

    @cached_property
    def _top_two(self) -> tuple[int, int]:  # tuning labels each detection 27 ways
        first, second = np.argsort(-self.technique_probabilities)[:2]
        return int(first), int(second)

    def likeliest(self) -> tuple[tuple[str, float], ...]:
        """The two likeliest techniques by the span head, with their probabilities."""
        probabilities = self.named if self.named is not None else self.technique_probabilities
        order = np.argsort(-probabilities)[:2]
        return tuple((TECHNIQUES[int(i)].ptc_label, round(float(probabilities[i]), 4)) for i in order)

    @property
    def top_technique(self) -> int:
        """The technique the span is found for, else the span head's likeliest."""
        return self.technique if self.technique is not None else self._top_two[0]

    @property
    def confidence(self) -> float:
        """The confidence of its top label (see ``labelled``)."""
        if self.technique is not None:
            return self.span_probability
        return self.span_probability * float(self.technique_probabilities[self._top_two[0]])

    def labelled(self, params: DecodingParams) -> list[Span]:
        """The top technique, and the second one when its probability reaches
        ``params.second_label``; either only if its confidence reaches ``params.min_confidence``,
        and none when the span head rejects the span."""
        if self.technique is not None:
            return [Span(self.start, self.end, TECHNIQUES[self.technique].ptc_label, self.span_probability)]
        if self.none_probability > params.max_none:
            return []
        first, second = self._top_two
        chosen = [first] if self.technique_probabilities[second] < params.second_label else [first, second]
        spans = [
            Span(self.start, self.end, TECHNIQUES[i].ptc_label,
                 self.span_probability * float(self.technique_probabilities[i]))
            for i in chosen
        ]
        return [span for span in spans if span.confidence >= params.min_confidence]


def sensitivity_settings(config: Mapping[str, Any]) -> dict[str, DecodingParams]:
    """Decoding parameters per sensitivity from a model's config; a 0.1 model has one set,
    which is its balanced setting."""
    if set(config) <= set(SENSITIVITIES):
        return {name: DecodingParams(**config[name]) for name in SENSITIVITIES if name in config}
    return {"balanced": DecodingParams(**config)}


def distinct(spans: Iterable[Span]) -> list[Span]:
    """One span per (start, end, technique): the most confident, where several found it."""
    best: dict[tuple[int, int, str], Span] = {}
    for span in spans:
        key = (span.start, span.end, span.technique)
        if key not in best or span.confidence > best[key].confidence:
            best[key] = span
    return list(best.values())


def stitch(
    window_probs: Sequence[FloatArray], window_ranges: Sequence[tuple[int, int]], n_tokens: int
) -> FloatArray:
    """Average the per-token probabilities (of one or several channels) of overlapping windows."""
    total = np.zeros((n_tokens, *window_probs[0].shape[1:]), dtype=np.float64)
    counts = np.zeros(n_tokens, dtype=np.float64)
    for probs, (start, end) in zip(window_probs, window_ranges, strict=True):
        total[start:end] += probs[: end - start]
        counts[start:end] += 1
    if not counts.all():
        raise ValueError("the windows leave some tokens uncovered")
    return (total / counts.reshape(-1, *[1] * (total.ndim - 1))).astype(np.float32)


def token_runs(probs: FloatArray, params: DecodingParams) -> list[tuple[int, int]]:
    """Token ranges [first, last): hysteresis over ``probs``, then joining near neighbours."""
    above = np.concatenate([[False], probs >= params.low, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    runs = [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True) if probs[s:e].max() >= params.high]
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] <= params.max_gap:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def word_count(fragment: str) -> int:
    return len(_WORD.findall(fragment))


def too_long(fragment: str, technique: int, span_words: Mapping[str, int], factor: float) -> bool:
    """Whether ``fragment`` has over ``factor`` times the words of its technique's long spans
    (``span_words``: per PTC label, the 95th percentile of word counts in the training spans)."""
    usual = span_words.get(TECHNIQUES[technique].ptc_label)
    return factor > 0 and usual is not None and word_count(fragment) > factor * usual


def cores(probs: FloatArray, first: int, last: int, high: float) -> list[tuple[int, int]]:
    """The token ranges inside [first, last) where ``probs`` reaches ``high``, one token's gap
    joined: the confident parts of a span too long to show whole."""
    runs = token_runs(probs[first:last], DecodingParams(high=high, low=high, max_gap=1))
    return [(first + start, first + end) for start, end in runs]


def occurrences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The other places where the words of [start, end) occur in ``text``, case ignored, as
    whole words."""
    fragment = text[start:end]
    if not fragment.strip():
        return []
    pattern = re.compile(rf"(?<!\w){re.escape(fragment)}(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(text) if m.start() != start]


def evidence_ranges(tokens: Tokens, probs: FloatArray, threshold: float) -> list[tuple[int, int]]:
    """Character ranges of the tokens where some technique's channel reaches ``threshold``: the
    model sees a technique there, whether or not a span sure enough to show was found."""
    if threshold >= DISABLED or probs.shape[1] < 2:
        return []
    return [(int(start), int(end)) for start, end in tokens.char_spans[probs[:, 1:].max(axis=1) >= threshold]]


def token_runs_at(probs: FloatArray, high: float, low_fraction: float) -> list[tuple[int, int]]:
    """Hysteresis runs of one channel with ``low = high * low_fraction``, no gap joining."""
    return token_runs(probs, DecodingParams(high=high, low=high * low_fraction, max_gap=0))


# Possessive pronouns stand alone ("ours"), so they can make a span of their own but not a
# technique; they stay out of _STOPWORDS, which also bounds the recurring phrases.
_NOT_CONTENT = _STOPWORDS | frozenset("ours yours theirs hers".split())


def has_content_word(fragment: str) -> bool:
    """Whether ``fragment`` holds a word that is no stopword or possessive pronoun."""
    return any(match.group().lower() not in _NOT_CONTENT for match in _WORD.finditer(fragment))


def repeated_phrases(text: str) -> list[tuple[int, int]]:
    """Character spans of the phrases (1 to 5 words inside one clause, neither first nor last
    word a stopword, some word of 3 letters or more) that occur more than once in ``text``,
    case ignored: the candidates for Repetition, which a window of the tagger cannot see across."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    clause = 0
    clauses = []
    for i, (start, _, _) in enumerate(words):
        gap = text[words[i - 1][1] : start] if i else ""
        if gap.strip(" \t") or "\n" in gap:
            clause += 1
        clauses.append(clause)
    stop = [word in _STOPWORDS for _, _, word in words]
    content = [len(word) >= 3 and not word.isdigit() for _, _, word in words]
    found: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for first in range(len(words)):
        if stop[first]:
            continue
        has_content = False
        key: tuple[str, ...] = ()
        for last in range(first, min(first + _PHRASE_WORDS, len(words))):
            if clauses[last] != clauses[first]:
                break
            key += (words[last][2],)
            has_content = has_content or content[last]
            if has_content and not stop[last]:
                found.setdefault(key, []).append((words[first][0], words[last][1]))
    return sorted(span for spans in found.values() if len(spans) > 1 for span in spans)


def paragraph_starts(text: str, tokens: Tokens) -> npt.NDArray[np.int64]:
    """Indices of the tokens that begin a paragraph (follow a blank line)."""
    ends = [match.end() for match in _BLANK_LINE.finditer(text)]
    return np.unique(np.searchsorted(tokens.char_spans[:, 0], np.asarray(ends, dtype=np.int64)))


def char_spans(
    text: str, tokens: Tokens, runs: Sequence[tuple[int, int]], paragraphs: npt.NDArray[np.int64]
) -> list[tuple[int, int, int, int]]:
    """Turn token runs into (start, end, first token, last token) spans snapped to words.

    A run is cut where a paragraph begins: annotated spans never cross a blank line. A span
    of function words alone ("our", "she", "if this") is dropped: no technique lives in it.
    """
    spans = []
    for run_first, run_last in runs:
        cuts = paragraphs[(paragraphs > run_first) & (paragraphs < run_last)].tolist()
        for first, last in zip([run_first, *cuts], [*cuts, run_last], strict=True):
            start, end = snap_to_words(
                text, int(tokens.char_spans[first, 0]), int(tokens.char_spans[last - 1, 1])
            )
            if end > start and has_content_word(text[start:end]):
                spans.append((start, end, first, last))
    return spans


def _match_ends(text: str, fragment: str) -> list[int]:
    """End offsets of the non-overlapping matches of ``fragment`` that ``str.count`` counts."""
    ends = []
    found = text.find(fragment)
    while found >= 0:
        ends.append(found + len(fragment))
        found = text.find(fragment, found + len(fragment))
    return ends


def span_features(text: str, tokens: Tokens, spans: Sequence[tuple[int, int]], *, lowered: str | None = None) -> FloatArray:
    """Article-level facts about each span that a window cannot see, mainly repetition."""
    lowered = text.lower() if lowered is None else lowered
    lines = line_bounds(text)
    line_starts = np.asarray([start for start, _ in lines], dtype=np.int64)
    features = np.zeros((len(spans), N_FEATURES), dtype=np.float32)
    match_ends: dict[str, list[int]] = {}  # per fragment, where its non-overlapping matches end
    for i, (start, end) in enumerate(spans):
        # Lower-casing can change a text's length, so slice the original, then lower it.
        fragment = text[start:end].lower().strip()
        if fragment and fragment not in match_ends:
            match_ends[fragment] = _match_ends(lowered, fragment)
        occurrences = len(match_ends[fragment]) if fragment else 1
        # Matching from the left is the same on a prefix, so the matches before ``start`` are
        # the ones that end there or earlier (what ``lowered.count(fragment, 0, start)`` counts).
        earlier = bisect_right(match_ends[fragment], start) if fragment else 0
        first, last = tokens.token_range(start, end)
        line = lines[max(0, int(np.searchsorted(line_starts, start, side="right")) - 1)]
        line_length = max(1, line[1] - line[0])
        features[i] = (
            np.log1p(max(0, occurrences - 1)),
            float(occurrences > 1),
            np.log1p(last - first),
            np.log1p(end - start),
            start / max(1, len(text)),
            min(1.0, (end - start) / line_length),
            np.log1p(earlier),
        )
    return features


def pool(hidden: FloatArray, first: int, last: int) -> FloatArray:
    """[mean, first, last] of one window's hidden states over positions [first, last)."""
    mean = hidden[first:last].mean(axis=0, dtype=np.float32)
    return np.concatenate([mean, hidden[first], hidden[last - 1]])


def _gelu(x: FloatArray) -> FloatArray:
    return (0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))).astype(np.float32)


# The BLAS limit is process-wide: analyses on several threads take turns in the (small) head.
_HEAD_LOCK = threading.Lock()


@cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()


def technique_probabilities(
    pooled: FloatArray, features: FloatArray, head: dict[str, FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """The span head: pooled states and features -> (probabilities over the 14 techniques,
    probability that the span is no propaganda at all). A head trained with fewer features
    (a 0.1 model has the first 6) reads only those."""
    n_features = head["hidden_weight"].shape[0] - pooled.shape[1]
    inputs = np.concatenate([pooled, features[:, :n_features]], axis=1)
    # One BLAS thread, always: BLAS sums in another order with another thread count, and an
    # article must get the same confidences in every process (Ray workers run one thread).
    # Many threads would also fight ONNX Runtime's for the cores.
    with _HEAD_LOCK, _blas_threads().limit(limits=1, user_api="blas"):
        hidden = _gelu(inputs @ head["hidden_weight"] + head["hidden_bias"])
        logits = hidden @ head["out_weight"] + head["out_bias"]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    techniques = exp[:, :NONE]
    none: FloatArray = (exp[:, NONE] / exp.sum(axis=1)).astype(np.float32)
    return (techniques / techniques.sum(axis=1, keepdims=True)).astype(np.float32), none


def best_window(window_ranges: Sequence[tuple[int, int]], first: int, last: int) -> int:
    """Index of the window that holds most of [first, last), most centrally."""
    def fit(index: int) -> tuple[int, int]:
        start, end = window_ranges[index]
        covered = min(end, last) - max(start, first)
        margin = min(first - start, end - last)
        return covered, margin
    return max(range(len(window_ranges)), key=fit)
