"""Writing a model folder: the quantized encoder, the span head, the tokenizer and ``config.json``
(windowing, decoding, the ONNX file's sha256), tuned on held-out articles when there are some."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from propscope import ptc
from propscope._version import __version__
from propscope.analysis import DEFAULT_SCORE_RATE
from propscope.calibration import encode_articles, measure, tune
from propscope.decoding import SENSITIVITIES, DecodingParams, FloatArray
from propscope.model import MODEL_NAME, Analyzer, file_sha256
from propscope.quantization import quantize as write_quantized


def build_model_folder(
    out_dir: Path,
    *,
    onnx_path: Path,
    tokenizer_path: Path,
    head: Mapping[str, FloatArray],
    model_cfg: Mapping[str, Any],
    quantize: str,
    validation: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    decoding: Mapping[str, Mapping[str, float]] | None = None,
    span_filter_config: Mapping[str, Any] | None = None,
    label_trust_config: Mapping[str, Any] | None = None,
    span_words: Mapping[str, int] | None = None,
    add_reader: Callable[[Path], object] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Write a complete model folder in ``out_dir``. The decoding settings and span filter are
    tuned on the ``validation`` articles, or taken from ``decoding``, ``span_filter_config`` and
    ``label_trust_config`` when there are none; returns the validation figures (empty without validation articles).
    ``span_words`` is how long each technique's training spans run (``datasets.span_words``);
    ``add_reader`` puts a span reader into the folder before it is tuned."""
    final = out_dir / "model.onnx"
    write_quantized(onnx_path, final, quantize)
    onnx_path.unlink()
    shutil.copyfile(tokenizer_path, out_dir / "tokenizer.json")
    arrays = {key: np.asarray(value, dtype=np.float32) for key, value in head.items()}
    np.savez(out_dir / "span_head.npz", **arrays)  # type: ignore[arg-type]
    config = {
        "name": str(model_cfg.get("name", MODEL_NAME)),
        "languages": {code: {} for code in model_cfg.get("languages", ["en"])},
        "version": __version__,
        "sha256": file_sha256(final),
        "quantization": quantize,
        "window_tokens": int(model_cfg["window_tokens"]),
        "inference_stride": int(model_cfg["inference_stride"]),
        "block_tokens": int(model_cfg["block_tokens"]),
        "score_rate": float(model_cfg.get("score_rate", DEFAULT_SCORE_RATE)),
        "decoding": {name: dict(decoding[name]) if decoding else DecodingParams().to_dict() for name in SENSITIVITIES},
    }
    if span_filter_config is not None:
        config["span_filter"] = dict(span_filter_config)
    if label_trust_config is not None:
        config["label_trust"] = dict(label_trust_config)
    if span_words:
        config["span_words"] = dict(span_words)
    write_config(out_dir, config)
    if add_reader:
        add_reader(out_dir)
        config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    if not validation:
        return {}
    encoded = encode_articles(Analyzer(out_dir), validation, progress=progress)
    tuned = tune(encoded, gold)
    write_config(out_dir, config | tuned.config())
    analyzer = Analyzer(out_dir)  # decodes with the span filter just written
    return measure({i: (analyzer, encoding) for i, (_, encoding) in encoded.items()}, gold, tuned.settings)


def write_config(out_dir: Path, config: Mapping[str, Any]) -> None:
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


