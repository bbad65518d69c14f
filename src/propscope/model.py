"""Inference: ONNX Runtime and tokenizers turn a text into an ``Analysis``.

This module never imports torch. A model folder holds ``model.onnx`` (the encoder with its
in-span token head), ``span_head.npz`` (the technique classifier), ``tokenizer.json`` and
``config.json`` (windowing, decoding thresholds, and the ONNX file's sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from propscope import decoding, techniques
from propscope.analysis import Analysis, ModelInfo, Source, Span
from propscope.decoding import DecodingParams, FloatArray
from propscope.errors import ModelError
from propscope.text import Tokens, blocks, line_cut_points, load_tokenizer, require_text, tokenize, windows

MODEL_NAME = "propscope-minilm"
_PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_FILES = ("model.onnx", "span_head.npz", "tokenizer.json", "config.json")


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


@dataclass(frozen=True)
class Encoding:
    """A tokenized text and, per block, its windows' hidden states and token probabilities.

    ``blocks`` is a one-shot iterator when it comes from ``Analyzer.encode``, so a long text
    never holds all its hidden states at once; make it a list to decode more than once.
    """

    text: str
    tokens: Tokens
    blocks: Iterable[tuple[list[_Window], FloatArray]]

    def materialized(self) -> Encoding:
        return Encoding(self.text, self.tokens, list(self.blocks))


@dataclass(frozen=True)
class Detection:
    """A span the tagger found, how sure it is, and the technique probabilities for it."""

    start: int
    end: int
    span_probability: float
    technique_probabilities: FloatArray
    none_probability: float  # the span head's belief that this is no propaganda at all

    def labelled(self, params: DecodingParams) -> list[Span]:
        """The top technique, and the second one when its probability reaches
        ``params.second_label``; either only if its confidence reaches ``params.min_confidence``,
        and none when the span head rejects the span."""
        if self.none_probability > params.max_none:
            return []
        first, second = np.argsort(-self.technique_probabilities)[:2]
        chosen = [first] if self.technique_probabilities[second] < params.second_label else [first, second]
        spans = [
            Span(self.start, self.end, techniques.TECHNIQUES[i].ptc_label,
                 self.span_probability * float(self.technique_probabilities[i]))
            for i in chosen
        ]
        return [span for span in spans if span.confidence >= params.min_confidence]


class Analyzer:
    """Load the model once; analyse many texts."""

    def __init__(self, model_dir: Path | None = None, *, threads: int = 2, batch_size: int = 8) -> None:
        import onnxruntime

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
        self.info = ModelInfo(self.config["name"], self.config["version"], actual)
        self.params = DecodingParams(**self.config["decoding"])
        self.tokenizer = load_tokenizer(self.model_dir / "tokenizer.json")
        with np.load(self.model_dir / "span_head.npz") as head:
            self.head: dict[str, FloatArray] = {key: head[key] for key in head.files}
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.batch_size = batch_size
        self._cls = self.tokenizer.token_to_id("[CLS]")
        self._sep = self.tokenizer.token_to_id("[SEP]")

    # ------------------------------------------------------------ public

    def analyze(self, text: str, *, name: str = "text", source: Source | None = None) -> Analysis:
        """Find technique spans in ``text`` (any length) and score it. ``name`` is used in errors."""
        require_text(text, name=name)
        return Analysis.build(text, self._spans(text), self.info, source)

    def analyze_many(self, texts: Iterable[str]) -> Iterator[Analysis]:
        """Analyse texts one after another with the loaded model."""
        for text in texts:
            yield self.analyze(text)

    def classify(self, text: str, spans: Sequence[tuple[int, int]]) -> FloatArray:
        """Technique probabilities (n_spans, 14) for given character spans of ``text``."""
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
        for block_windows, _ in self._encode(tokens, cut_points):
            for i, (first, last) in enumerate(token_spans):
                if block_windows[0].start <= first < block_windows[-1].end:
                    pooled[i] = self._pool(block_windows, max(first, 0), max(last, first + 1))
        features = decoding.span_features(text, tokens, spans)
        return decoding.technique_probabilities(pooled, features, self.head)[0]

    def encode(self, text: str) -> Encoding:
        """Run the encoder over ``text``. Blocks are computed lazily as they are iterated."""
        tokens = tokenize(self.tokenizer, text)
        return Encoding(text, tokens, self._encode(tokens, line_cut_points(text, tokens)))

    def detect(self, text: str) -> list[Detection]:
        """Spans found in ``text`` with their technique probabilities, before labelling."""
        return self.decode(self.encode(text), self.params)

    def decode(self, encoding: Encoding, params: DecodingParams) -> list[Detection]:
        """Decode spans from an encoding with the given parameters, and classify them."""
        text, tokens = encoding.text, encoding.tokens
        paragraphs = decoding.paragraph_starts(text, tokens)
        found: list[tuple[int, int, float, FloatArray]] = []
        for block_windows, probs in encoding.blocks:
            offset = block_windows[0].start
            runs = [(first + offset, last + offset) for first, last in decoding.token_runs(probs, params)]
            for start, end, first, last in decoding.char_spans(text, tokens, runs, paragraphs):
                pooled = self._pool(block_windows, first, last)
                found.append((start, end, float(probs[first - offset : last - offset].mean()), pooled))
        if not found:
            return []
        features = decoding.span_features(text, tokens, [(s, e) for s, e, _, _ in found])
        probs, none = decoding.technique_probabilities(np.stack([p for *_, p in found]), features, self.head)
        return [Detection(s, e, p, t, float(n)) for (s, e, p, _), t, n in zip(found, probs, none, strict=True)]

    # ------------------------------------------------------------ internals

    @property
    def _width(self) -> int:
        return int(self.head["hidden_weight"].shape[0] - decoding.N_FEATURES) // 3

    def _spans(self, text: str) -> list[Span]:
        return [span for found in self.detect(text) for span in found.labelled(self.params)]

    def _encode(self, tokens: Tokens, cut_points: np.ndarray) -> Iterator[tuple[list[_Window], FloatArray]]:
        """Per block of the text: its windows' hidden states and the stitched token probabilities."""
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
            yield block_windows, decoding.stitch(window_probs, local, block_end - block_start)

    def _run(self, tokens: Tokens, ranges: Sequence[tuple[int, int]]) -> tuple[FloatArray, FloatArray]:
        width = max(end - start for start, end in ranges) + 2
        ids = np.zeros((len(ranges), width), dtype=np.int64)
        mask = np.zeros((len(ranges), width), dtype=np.int64)
        for row, (start, end) in enumerate(ranges):
            ids[row, : end - start + 2] = [self._cls, *tokens.ids[start:end], self._sep]
            mask[row, : end - start + 2] = 1
        probs, hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return probs[:, 1:], hidden[:, 1:]

    def _pool(self, block_windows: Sequence[_Window], first: int, last: int) -> FloatArray:
        index = decoding.best_window([(w.start, w.end) for w in block_windows], first, last)
        window = block_windows[index]
        start = min(max(first - window.start, 0), window.end - window.start - 1)
        end = max(min(last - window.start, window.end - window.start), start + 1)
        return decoding.pool(window.hidden, start, end)


@cache
def default_analyzer() -> Analyzer:
    """The shipped model, loaded once per process."""
    return Analyzer()


def analyze(text: str) -> Analysis:
    """Analyse one text with the shipped model."""
    return default_analyzer().analyze(text)
