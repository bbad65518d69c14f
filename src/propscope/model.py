"""Inference: ONNX Runtime and tokenizers turn a text into an ``Analysis``.

This module never imports torch. A model folder holds ``model.onnx`` (the encoder with its
in-span token head), ``span_head.npz`` (the technique classifier), ``tokenizer.json`` and
``config.json`` (windowing, decoding thresholds, and the ONNX file's sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from propscope import decoding, span_filter, techniques
from propscope._version import __version__
from propscope.analysis import DEFAULT_SCORE_RATE, Analysis, ModelInfo, Source, Span
from propscope.decoding import DecodingParams, Detection, FloatArray, Sensitivity
from propscope.errors import ModelError
from propscope.label_trust import LabelTrust
from propscope.span_reader import SpanReader
from propscope.text import (
    Tokens,
    blocks,
    line_cut_points,
    load_tokenizer,
    require_text,
    special_ids,
    tokenize,
    windows,
)

MODEL_NAME = "propscope-minilm"
_PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_FILES = ("model.onnx", "span_head.npz", "tokenizer.json", "config.json")
SCORED_SETTING = "high"  # the article score counts the candidate spans of this setting, unfiltered
T = TypeVar("T")
R = TypeVar("R")
# Set on a thread of a worker pool that keeps several analyses going at once: every analyzer
# then runs its model there on one core (map(), the server's workers).
_ONE_CORE = threading.local()


def shipped_model_dir() -> Path:
    """The model that ships with propscope: inside the wheel, or in a source checkout."""
    override = os.environ.get("PROPSCOPE_MODEL")
    if override:
        return Path(override)
    for candidate in (_PACKAGE_DIR / "model", _PACKAGE_DIR.parents[1] / "models" / MODEL_NAME):
        if (candidate / "config.json").is_file():
            return candidate
    raise ModelError(
        f"the shipped model was not found in {_PACKAGE_DIR / 'model'} or "
        f"{_PACKAGE_DIR.parents[1] / 'models' / MODEL_NAME}; reinstall propscope, "
        "or point PROPSCOPE_MODEL at a model folder"
    )


def model_sha256(model_dir: Path) -> str:
    """The sha256 a model folder declares for its ONNX file (checked when it is loaded)."""
    try:
        return str(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["sha256"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{model_dir}: not a propscope model folder ({exc})") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Window:
    start: int  # absolute token index of the first content token
    end: int
    hidden: FloatArray  # (end - start, width) contextual states


Block = tuple[list[_Window], FloatArray]  # a block's windows, and its tokens' probabilities (all channels)


@dataclass(frozen=True)
class Encoding:
    """A tokenized text and, per block, its windows' hidden states and token probabilities.

    ``blocks`` is a one-shot iterator when it comes from ``Internals.encode``, so a long text
    never holds all its hidden states at once; make it a list to decode more than once. Each
    block's token probabilities are kept in ``computed`` as the block is computed: the one
    place they are read from, through ``token_probabilities``.
    """

    text: str
    tokens: Tokens
    blocks: Iterable[Block]
    computed: list[tuple[int, FloatArray]] = field(default_factory=list, compare=False, repr=False)
    # What decoding computes independently of its parameters, kept for the next decoding.
    cache: dict[tuple[str, int], list[Detection]] = field(default_factory=dict, compare=False, repr=False)
    read: dict[tuple[int, int], FloatArray] = field(default_factory=dict, compare=False, repr=False)

    def materialized(self) -> Encoding:
        """The encoding with every block computed and kept."""
        return Encoding(self.text, self.tokens, list(self.blocks), self.computed)

    def token_probabilities(self) -> FloatArray:
        """Every token's probabilities (all channels), once every block has been computed: after
        a pass over a one-shot encoding's blocks, or at any time from a materialized one."""
        if not self.computed or sum(len(probs) for _, probs in self.computed) != len(self.tokens):
            raise ValueError("token_probabilities: not every block of the encoding has been computed yet")
        stitched = np.zeros((len(self.tokens), self.computed[0][1].shape[1]), dtype=np.float32)
        for start, probs in self.computed:
            stitched[start : start + len(probs)] = probs
        return stitched


class Analyzer:
    """Load the model once; analyse many texts.

    The steps inside ``analyze`` are private; tuning reaches them through ``Internals``.
    """

    def __init__(
        self, model_dir: Path | None = None, *, threads: int = 2, batch_size: int = 8,
        sensitivity: Sensitivity = "balanced",
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else shipped_model_dir()
        missing = [name for name in MODEL_FILES if not (self.model_dir / name).is_file()]
        if missing:
            raise ModelError(f"{self.model_dir}: not a propscope model folder (missing {', '.join(missing)})")
        self.config: dict[str, Any] = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
        onnx_path = self.model_dir / "model.onnx"
        actual = file_sha256(onnx_path)
        if actual != self.config["sha256"]:
            raise ModelError(
                f"{onnx_path}: sha256 is {actual[:12]}…, expected {self.config['sha256'][:12]}…; "
                "the file is corrupt or was replaced"
            )
        self.settings = decoding.sensitivity_settings(self.config["decoding"])
        self._filter = self._load_span_filter()
        self.sensitivity = self._checked_sensitivity(sensitivity)
        self.info = ModelInfo(self.config["name"], self.config["version"], actual)
        self.score_rate = float(self.config.get("score_rate", DEFAULT_SCORE_RATE))
        # The same ONNX file gives other spans or scores under other settings or code; the library
        # keeps analyses per decoder, so a release that changes decoding code bumps the version.
        scoring_settings = {key: self.config.get(key) for key in ("decoding", "score_rate", "span_filter")}
        # Models before 0.6 have none of these, and keep their decoder name.
        scoring_settings |= {key: self.config[key] for key in ("span_words", "label_trust", "span_reader")
                             if key in self.config}
        self.span_words: dict[str, int] = self.config.get("span_words", {})
        self.trust = LabelTrust.from_dict(self.config["label_trust"]) if "label_trust" in self.config else None
        settings_digest = hashlib.sha256(json.dumps(scoring_settings, sort_keys=True).encode()).hexdigest()
        self.decoder = f"propscope {__version__}, decoding {settings_digest[:12]}"
        self.tokenizer = load_tokenizer(self.model_dir / "tokenizer.json")
        with np.load(self.model_dir / "span_head.npz") as head:
            self._head: dict[str, FloatArray] = {key: head[key] for key in head.files}
        self.reader = (SpanReader(self.model_dir, self.config["span_reader"], self.tokenizer,
                                  lambda path: _session(path, threads))
                       if "span_reader" in self.config else None)
        self.threads = threads
        self._session = _session(onnx_path, threads)
        self._one_core_session: Any = None
        self._worker_lock = threading.Lock()
        self.batch_size = batch_size
        self._cls, self._sep = special_ids(self.tokenizer)

    # ------------------------------------------------------------ public

    @property
    def params(self) -> DecodingParams:
        """The decoding parameters of the analyzer's sensitivity."""
        return self.settings[self.sensitivity]

    def analyze(
        self, text: str, *, name: str = "text", source: Source | None = None, sensitivity: Sensitivity | None = None
    ) -> Analysis:
        """Find technique spans in ``text`` (any length) and score it. ``name`` is used in errors;
        ``sensitivity`` (low, balanced or high) overrides the analyzer's own for this text."""
        require_text(text, name=name)
        chosen = self._checked_sensitivity(sensitivity) if sensitivity else self.sensitivity
        # The span filter chooses what is shown, not what is counted: the score's rate was set,
        # and ranks articles best (docs/experiments.md), on the unfiltered candidates.
        scored = replace(self.settings[SCORED_SETTING if SCORED_SETTING in self.settings else chosen], min_support=0.0)
        settings = [self.settings[chosen]] + ([scored] if scored != self.settings[chosen] else [])
        (shown, *candidates), trusted, evidence = self._spans(text, settings)
        info = replace(self.info, sensitivity=chosen)
        analysis = Analysis.build(text, shown, info, source, candidates=candidates[0] if candidates else (),
                                  evidence=evidence, score_rate=self.score_rate)
        # Label trust changes how a span is shown, never the score: the score's rate was set
        # on the confidences as decoded.
        as_shown = {(span.start, span.end, span.technique): span for span in trusted}
        return replace(analysis, spans=tuple(as_shown[span.start, span.end, span.technique] for span in analysis.spans))

    def analyze_many(self, texts: Iterable[str]) -> Iterator[Analysis]:
        """Analyse texts with the loaded model and yield the analyses in order (see ``map``)."""
        return self.map(self.analyze, texts)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``function(item)`` for every item, yielded in order; ``function`` analyses with this
        Analyzer. With ``threads`` above 1, that many items are worked on at once, each on one
        core: one text at a time on all cores leaves them idle while Python tokenises and
        decodes. The results are the same either way. At most twice ``threads`` items are in
        flight, and ``items`` is read in the caller's thread."""
        if self.threads <= 1:
            yield from map(function, items)
            return
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="propscope", initializer=self._run_on_one_core)
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * self.threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(cancel_futures=True)

    def classify(self, text: str, spans: Sequence[tuple[int, int]]) -> FloatArray:
        """Technique probabilities (n_spans, 14), columns in the order of ``TECHNIQUES``, for
        given character spans of ``text``: the technique-classification task."""
        if not spans:
            return np.zeros((0, len(techniques.TECHNIQUES)), dtype=np.float32)
        tokens = tokenize(self.tokenizer, text)
        token_spans = [tokens.token_range(start, end) for start, end in spans]
        # A cut inside a given span would hide part of it from every window.
        inside = np.zeros(len(tokens) + 1, dtype=bool)
        for first, last in token_spans:
            inside[first + 1 : last] = True
        cut_points = line_cut_points(text, tokens)
        cut_points = cut_points[~inside[cut_points]]
        pooled = np.zeros((len(spans), 3 * self._width), dtype=np.float32)
        for block_windows, _ in self._blocks(tokens, cut_points, []):
            for i, (first, last) in enumerate(token_spans):
                if block_windows[0].start <= first < block_windows[-1].end:
                    pooled[i] = self._pool(block_windows, max(first, 0), max(last, first + 1))
        features = decoding.span_features(text, tokens, spans)
        head = decoding.technique_probabilities(pooled, features, self._head)[0]
        return self.reader.mix(head, self.reader.probabilities(text, tokens, spans)) if self.reader else head

    # ------------------------------------------------------------ internals (see Internals)

    def _load_span_filter(self) -> span_filter.SpanFilter | None:
        if "span_filter" not in self.config:
            if any(params.min_support > 0 for params in self.settings.values()):
                raise ModelError(f"{self.model_dir}: config.json sets a min_support but holds no span_filter")
            return None
        try:
            return span_filter.SpanFilter.from_dict(self.config["span_filter"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.model_dir}: config.json has a broken span_filter ({exc})") from None

    def _checked_sensitivity(self, sensitivity: str) -> Sensitivity:
        """The Python API's edge: a sensitivity a caller gave, checked against this model too."""
        chosen = decoding.check_sensitivity(sensitivity)
        if chosen not in self.settings:
            raise ModelError(
                f"{self.model_dir}: this {self.config['name']} {self.config['version']} model has only the "
                f"{', '.join(self.settings)} setting; --sensitivity {chosen} needs a model folder "
                "of propscope-minilm 0.2 or later"
            )
        return chosen

    def _run_on_one_core(self) -> None:
        _ONE_CORE.on = True

    def _current_session(self) -> Any:
        """The one-core session on a thread that runs on one core (any analyzer's), else the full one."""
        if not getattr(_ONE_CORE, "on", False):
            return self._session
        with self._worker_lock:
            if self._one_core_session is None:
                self._one_core_session = _session(self.model_dir / "model.onnx", 1)
        return self._one_core_session

    def _encode(self, text: str) -> Encoding:
        tokens = tokenize(self.tokenizer, text)
        computed: list[tuple[int, FloatArray]] = []
        return Encoding(text, tokens, self._blocks(tokens, line_cut_points(text, tokens), computed), computed)

    def _decode_settings(self, encoding: Encoding, settings: Sequence[DecodingParams]) -> list[list[Detection]]:
        """The detections of an encoding at each of several parameter sets, in one pass over the
        blocks, so that a one-shot encoding of a long text need not be kept.

        Three kinds of span: runs of the "any technique" channel, named by the span head; runs
        of one technique's channel (``params.technique_high``); and recurring phrases the span
        head calls Repetition (``params.repetition``). A run far longer than its technique's
        spans is cut to its cores (``params.long_span``), and the other occurrences of a
        confident span's words are judged as candidates too (``params.recur``).
        """
        text, tokens = encoding.text, encoding.tokens
        paragraphs = decoding.paragraph_starts(text, tokens)
        lowered = text.lower()
        found: list[list[Detection]] = [[] for _ in settings]
        phrases: list[tuple[int, int, int, int]] | None = None
        for block, (block_windows, probs) in enumerate(encoding.blocks):
            offset = block_windows[0].start
            for params, detections in zip(settings, found, strict=True):
                runs = [(first + offset, last + offset) for first, last in decoding.token_runs(probs[:, 0], params)]
                block_found = self._tagged(block_windows, encoding, probs, decoding.char_spans(text, tokens, runs,
                                                                                              paragraphs), lowered)
                if params.long_span > 0 and self.span_words:
                    block_found = self._cut_to_cores(block_windows, encoding, probs, block_found, params, paragraphs,
                                                     lowered)
                if probs.shape[1] > 1 and params.technique_high < decoding.DISABLED:
                    block_found += self._technique_runs(block_windows, encoding, probs, params, paragraphs,
                                                        lowered)
                if params.repetition < decoding.DISABLED:
                    key = ("repeated", block)
                    if key not in encoding.cache:
                        if phrases is None:
                            phrases = tokens.with_token_ranges(decoding.repeated_phrases(text))
                        encoding.cache[key] = self._repeated_phrases(block_windows, probs, encoding, phrases, lowered)
                    block_found += [d for d in encoding.cache[key] if d.span_probability >= params.repetition]
                if params.recur < decoding.DISABLED:
                    block_found += self._recurrences(block_windows, encoding, block_found, params.recur, lowered)
                detections += block_found
        if self._filter is not None and any(params.min_support > 0 for params in settings):
            all_probs = encoding.token_probabilities()
            found = [self._supported(detections, tokens, all_probs, params.min_support)
                     for params, detections in zip(settings, found, strict=True)]
        return found

    def _supported(
        self, detections: list[Detection], tokens: Tokens, probs: FloatArray, min_support: float
    ) -> list[Detection]:
        """The ``detections`` of a text whose support by the span filter reaches ``min_support``."""
        if self._filter is None or min_support <= 0 or not detections:
            return detections
        support = self._filter.support(span_filter.features(detections, tokens, probs))
        return [d for d, s in zip(detections, support, strict=True) if s >= min_support]

    def _tagged(
        self, block_windows: Sequence[_Window], encoding: Encoding, probs: FloatArray,
        spans: Sequence[tuple[int, int, int, int]], lowered: str,
    ) -> list[Detection]:
        """Detections of spans of the "any technique" channel, with its mean over their tokens."""
        offset = block_windows[0].start
        return self._classified(block_windows, encoding, spans, lowered, [
            float(probs[first - offset : last - offset, 0].mean()) for _, _, first, last in spans
        ])

    def _cut_to_cores(
        self, block_windows: Sequence[_Window], encoding: Encoding, probs: FloatArray, found: list[Detection],
        params: DecodingParams, paragraphs: np.ndarray, lowered: str,
    ) -> list[Detection]:
        """``found``, with each span far longer than its technique's spans (``params.long_span``)
        replaced by its cores: the stretches where the channel reaches ``params.high``, and
        where one is still too long, a threshold higher by ``CORE_STEP``, and so on. Each core
        is named again on its own; a long span without one is dropped."""
        offset = block_windows[0].start
        kept, spans = [], []
        for detection in found:
            technique = detection.top_technique
            if not decoding.too_long(encoding.text[detection.start : detection.end], technique, self.span_words,
                                     params.long_span):
                kept.append(detection)
                continue
            pending = [(detection.start, detection.end, params.high)]
            while pending:
                start, end, threshold = pending.pop()
                first, last = encoding.tokens.token_range(start, end)
                runs = [(a + offset, b + offset)
                        for a, b in decoding.cores(probs[:, 0], first - offset, last - offset, threshold)]
                for core_start, core_end, _, _ in decoding.char_spans(encoding.text, encoding.tokens, runs, paragraphs):
                    if not decoding.too_long(encoding.text[core_start:core_end], technique, self.span_words,
                                             params.long_span):
                        spans.append((core_start, core_end))
                    elif threshold + decoding.CORE_STEP < 1.0:
                        pending.append((core_start, core_end, threshold + decoding.CORE_STEP))
        found_again = encoding.tokens.with_token_ranges(sorted(set(spans)))
        return kept + self._tagged(block_windows, encoding, probs, found_again, lowered)

    def _recurrences(
        self, block_windows: Sequence[_Window], encoding: Encoding, found: Sequence[Detection], recur: float,
        lowered: str,
    ) -> list[Detection]:
        """Where the words of a span at least ``recur`` confident occur again in the block, a
        candidate there, named and judged by the span head in its own context (with the span's
        probability of being propaganda): an insult is then marked everywhere it is one."""
        first_token, end_token = block_windows[0].start, block_windows[-1].end
        taken = {(d.start, d.end) for d in found}
        places, probabilities = [], []
        for source in sorted(found, key=lambda d: -d.confidence):
            if source.confidence < recur:
                break
            for start, end in decoding.occurrences(encoding.text, source.start, source.end):
                first, last = encoding.tokens.token_range(start, end)
                if (start, end) not in taken and first_token <= first < last <= end_token:
                    taken.add((start, end))
                    places.append((start, end, first, last))
                    probabilities.append(source.span_probability)
        return self._classified(block_windows, encoding, places, lowered, probabilities)

    def _technique_runs(
        self, block_windows: Sequence[_Window], encoding: Encoding, probs: FloatArray, params: DecodingParams,
        paragraphs: np.ndarray, lowered: str,
    ) -> list[Detection]:
        """Spans of single techniques: hysteresis runs of each technique's channel in a block,
        with the same ratio of low to high threshold as the tagger's own spans. Those of a
        technique whose labels are not trusted are named by the span head too."""
        offset = block_windows[0].start
        unsure = self.trust.unsure if self.trust else frozenset()
        found = []
        for technique in range(len(techniques.TECHNIQUES)):
            channel = probs[:, 1 + technique]
            runs = decoding.token_runs_at(channel, params.technique_high, params.low / params.high)
            shifted = [(first + offset, last + offset) for first, last in runs]
            spans = decoding.char_spans(encoding.text, encoding.tokens, shifted, paragraphs)
            named: list[FloatArray | None] = [None] * len(spans)
            if spans and techniques.TECHNIQUES[technique].ptc_label in unsure:
                named = [d.technique_probabilities
                         for d in self._classified(block_windows, encoding, spans, lowered, [1.0] * len(spans))]
            for (start, end, first, last), names in zip(spans, named, strict=True):
                confidence = float(channel[first - offset : last - offset].mean())
                found.append(Detection(start, end, confidence, np.zeros(0, np.float32), 0.0, technique, names))
        return found

    def _repeated_phrases(
        self, block_windows: Sequence[_Window], probs: FloatArray, encoding: Encoding,
        phrases: Sequence[tuple[int, int, int, int]], lowered: str,
    ) -> list[Detection]:
        """The block's recurring ``phrases`` (start, end, first token, last token) as Repetition,
        with the span head's probability of Repetition (and not "none") as confidence. Only
        phrases where the Repetition channel stirs at all are put to the span head, which
        keeps nearly every phrase it would accept at a sixth of the cost."""
        offset, end = block_windows[0].start, block_windows[-1].end
        channel = probs[:, 1 + decoding.REPETITION]
        candidates = [p for p in phrases if offset <= p[2] < p[3] <= end
                      and channel[p[2] - offset : p[3] - offset].max() >= decoding.REPETITION_FLOOR]
        detections = self._classified(block_windows, encoding, candidates, lowered, [1.0] * len(candidates))
        return [
            replace(d, span_probability=float(d.technique_probabilities[decoding.REPETITION]) * (1 - d.none_probability),
                    technique=decoding.REPETITION)
            for d in detections
        ]

    def _classified(
        self, block_windows: Sequence[_Window], encoding: Encoding, spans: Sequence[tuple[int, int, int, int]],
        lowered: str, span_probabilities: Sequence[float],
    ) -> list[Detection]:
        """Detections of (start, end, first token, last token) spans, named by the span head."""
        if not spans:
            return []
        pooled = np.stack([self._pool(block_windows, first, last) for _, _, first, last in spans])
        features = decoding.span_features(encoding.text, encoding.tokens, [(s, e) for s, e, _, _ in spans],
                                          lowered=lowered)
        probs, none = decoding.technique_probabilities(pooled, features, self._head)
        if self.reader:
            probs = self._read(encoding, [(s, e) for s, e, _, _ in spans], probs)
        return [Detection(s, e, p, t, float(n))
                for (s, e, _, _), p, t, n in zip(spans, span_probabilities, probs, none, strict=True)]

    def _read(self, encoding: Encoding, spans: Sequence[tuple[int, int]], head: FloatArray) -> FloatArray:
        """``head`` mixed with the span reader's probabilities, each span read once per encoding
        (tuning decodes an encoding hundreds of times)."""
        assert self.reader is not None
        unread = sorted({span for span in spans if span not in encoding.read})
        if unread:
            probs = self.reader.probabilities(encoding.text, encoding.tokens, unread)
            encoding.read.update(zip(unread, probs, strict=True))
        return self.reader.mix(head, np.stack([encoding.read[span] for span in spans]))

    @property
    def _width(self) -> int:
        return int(self._session.get_outputs()[1].shape[-1])

    def _spans(
        self, text: str, settings: Sequence[DecodingParams]
    ) -> tuple[list[list[Span]], list[Span], list[tuple[int, int]]]:
        """The labelled spans of ``text`` at each of the ``settings``; those of the first setting
        as they are shown (``_trusted``); and its sentence evidence (``decoding.evidence_ranges``)."""
        encoding = self._encode(text)
        decoded = self._decode_settings(encoding, settings)
        spans = [decoding.distinct([span for found in detections for span in found.labelled(params)])
                 for params, detections in zip(settings, decoded, strict=True)]
        trusted = decoding.distinct([self._trusted(span, found)
                                     for found in decoded[0] for span in found.labelled(settings[0])])
        threshold = settings[0].sentence_evidence
        if threshold >= decoding.DISABLED:
            return spans, trusted, []
        return spans, trusted, decoding.evidence_ranges(encoding.tokens, encoding.token_probabilities(), threshold)

    def _trusted(self, span: Span, detection: Detection) -> Span:
        """``span`` as the model's label trust shows it: its confidence calibrated, and, where
        its technique's labels are too seldom right, the two likeliest techniques instead."""
        if self.trust is None:
            return span
        alternatives = detection.likeliest() if span.technique in self.trust.unsure else ()
        return replace(span, confidence=self.trust.calibrated(span.technique, span.confidence),
                       alternatives=alternatives)

    def _blocks(
        self, tokens: Tokens, cut_points: np.ndarray, computed: list[tuple[int, FloatArray]]
    ) -> Iterator[Block]:
        """Per block of the text: its windows' hidden states and the stitched token probabilities,
        which are also appended to ``computed`` with the block's first token."""
        size = int(self.config["window_tokens"]) - 2
        stride = int(self.config["inference_stride"])
        for block_start, block_end in blocks(len(tokens), cut_points, int(self.config["block_tokens"])):
            ranges = [(s + block_start, e + block_start) for s, e in windows(block_end - block_start, size, stride)]
            window_probs, block_windows = [], []
            for first in range(0, len(ranges), self.batch_size):
                batch = ranges[first : first + self.batch_size]
                probs, hidden = self._run(tokens, batch)
                for (start, end), p, h in zip(batch, probs, hidden, strict=True):
                    window_probs.append(p[: end - start])
                    block_windows.append(_Window(start, end, h[: end - start]))
            local = [(s - block_start, e - block_start) for s, e in ranges]
            stitched = decoding.stitch(window_probs, local, block_end - block_start)
            computed.append((block_start, stitched))
            yield block_windows, stitched

    def _run(self, tokens: Tokens, ranges: Sequence[tuple[int, int]]) -> tuple[FloatArray, FloatArray]:
        width = max(end - start for start, end in ranges) + 2
        ids = np.zeros((len(ranges), width), dtype=np.int64)
        mask = np.zeros((len(ranges), width), dtype=np.int64)
        for row, (start, end) in enumerate(ranges):
            ids[row, : end - start + 2] = [self._cls, *tokens.ids[start:end], self._sep]
            mask[row, : end - start + 2] = 1
        session = self._current_session()
        probs, hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})
        if probs.ndim == 2:  # a 0.1 model: only the "any technique" channel
            probs = probs[..., None]
        return probs[:, 1:], hidden[:, 1:]

    def _pool(self, block_windows: Sequence[_Window], first: int, last: int) -> FloatArray:
        index = decoding.best_window([(w.start, w.end) for w in block_windows], first, last)
        window = block_windows[index]
        start = min(max(first - window.start, 0), window.end - window.start - 1)
        end = max(min(last - window.start, window.end - window.start), start + 1)
        return decoding.pool(window.hidden, start, end)


def _session(onnx_path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Without VNNI, x86 int8 kernels sum pairs of u8 x s8 products in a saturating 16-bit integer;
    # this makes them widen to u8 x u8, exact like VNNI, so that every x86-64 CPU gives the same spans.
    options.add_session_config_entry("session.x64quantprecision", "1")
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


@cache
def default_analyzer() -> Analyzer:
    """The shipped model, loaded once per process."""
    return Analyzer()
