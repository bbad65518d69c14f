"""Turning a trained network into a shipped model folder: quantize, tune decoding on held-out
articles, and measure the figures that go into the model card. No torch here.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from propscope import __version__, decoding, ptc, scoring, techniques
from propscope.decoding import DecodingParams, FloatArray
from propscope.model import MODEL_NAME, Analyzer, Detection, file_sha256
from propscope.text import Tokens

HIGH = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LOW_FRACTION = (0.5, 0.65, 0.8, 1.0)
MAX_GAP = (0, 1, 2, 4)
SECOND_LABEL = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.01)


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
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Write a complete model folder in ``out_dir`` and return its validation figures."""
    final = out_dir / "model.onnx"
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(onnx_path), str(final), weight_type=QuantType.QInt8, per_channel=True)
        onnx_path.unlink()
    else:
        onnx_path.replace(final)
    shutil.copyfile(tokenizer_path, out_dir / "tokenizer.json")
    arrays = {key: np.asarray(value, dtype=np.float32) for key, value in head.items()}
    np.savez(out_dir / "span_head.npz", **arrays)  # type: ignore[arg-type]
    config = {
        "name": MODEL_NAME,
        "version": __version__,
        "sha256": file_sha256(final),
        "quantization": quantize,
        "window_tokens": int(model_cfg["window_tokens"]),
        "inference_stride": int(model_cfg["inference_stride"]),
        "block_tokens": int(model_cfg["block_tokens"]),
        "decoding": DecodingParams().to_dict(),
    }
    write_config(out_dir, config)
    analyzer = Analyzer(out_dir)
    params, figures = tune(analyzer, validation, gold, progress=progress)
    config["decoding"] = params.to_dict()
    write_config(out_dir, config)
    return figures


def write_config(out_dir: Path, config: Mapping[str, Any]) -> None:
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _si_f1(
    probs: Mapping[str, tuple[Tokens, FloatArray]],
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    params: DecodingParams,
) -> float:
    pred = [
        ptc.LabelledSpan(article_id, "?", start, end)
        for article_id, (tokens, p) in probs.items()
        for start, end, _, _ in decoding.char_spans(articles[article_id], tokens, decoding.token_runs(p, params))
    ]
    return scoring.span_identification(gold, pred).f1


def _best_span_params(
    probs: Mapping[str, tuple[Tokens, FloatArray]],
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
) -> DecodingParams:
    grid = [
        DecodingParams(high=high, low=round(high * fraction, 4), max_gap=gap)
        for high, fraction, gap in itertools.product(HIGH, LOW_FRACTION, MAX_GAP)
    ]
    return max(grid, key=lambda params: _si_f1(probs, articles, gold, params))


def labelled_rows(detections: Mapping[str, Sequence[Detection]], second_label: float) -> list[ptc.LabelledSpan]:
    return [
        ptc.LabelledSpan(article_id, span.technique, span.start, span.end)
        for article_id, found in detections.items()
        for detection in found
        for span in detection.labelled(second_label)
    ]


def tune(
    analyzer: Analyzer,
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[DecodingParams, dict[str, Any]]:
    """Choose decoding parameters on ``articles`` and measure every figure with them.

    The held-out articles are also split in two halves: parameters tuned on one half and
    measured on the other give ``si_cross_fitted``, an estimate free of tuning optimism.
    """
    ids = sorted(articles)
    probs = {}
    for done, article_id in enumerate(ids, start=1):
        probs[article_id] = analyzer.token_probabilities(articles[article_id])
        if progress:
            progress("tune", done, len(ids))
    halves = (set(ids[::2]), set(ids[1::2]))
    cross = []
    for tune_half, test_half in (halves, halves[::-1]):
        params = _best_span_params({i: probs[i] for i in tune_half}, articles, [g for g in gold if g.article_id in tune_half])
        cross.append(_si_f1({i: probs[i] for i in test_half}, articles, [g for g in gold if g.article_id in test_half], params))
    params = _best_span_params(probs, articles, gold)
    detections = {article_id: analyzer.detect(articles[article_id], params) for article_id in ids}
    second = max(SECOND_LABEL, key=lambda t: scoring.fragment_level(gold, labelled_rows(detections, t)).f1)
    params = replace(params, second_label=second)
    figures = measure(analyzer, articles, gold, detections=detections, params=params)
    figures["si_cross_fitted_f1"] = round(float(np.mean(cross)), 4)
    figures["decoding"] = params.to_dict()
    return params, figures


def measure(
    analyzer: Analyzer,
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    *,
    detections: Mapping[str, Sequence[Detection]] | None = None,
    params: DecodingParams | None = None,
) -> dict[str, Any]:
    """SI, FLC, SLC of the analyzer's spans and TC on the gold spans of ``articles``."""
    params = params or analyzer.params
    if detections is None:
        detections = {i: analyzer.detect(text, params) for i, text in articles.items()}
    pred = labelled_rows(detections, params.second_label)
    figures = scoring.evaluate(articles, gold, pred)
    template = [ptc.LabelledSpan(g.article_id, ptc.UNLABELLED, g.start, g.end) for g in gold]
    figures["tc"] = scoring.technique_classification(gold, label_spans(analyzer, articles, template)).to_dict()
    figures["articles"] = len(articles)
    figures["gold_spans"] = len(gold)
    return figures


def label_spans(
    analyzer: Analyzer, articles: Mapping[str, str], rows: Sequence[ptc.LabelledSpan]
) -> list[ptc.LabelledSpan]:
    """Fill in the technique of every row; repeated rows of one span get the next-best ones."""
    result: list[ptc.LabelledSpan | None] = [None] * len(rows)
    grouped: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        grouped.setdefault(row.article_id, []).append(index)
    for article_id, indices in grouped.items():
        distinct = sorted({(rows[i].start, rows[i].end) for i in indices})
        probs = dict(zip(distinct, analyzer.classify(articles[article_id], distinct), strict=True))
        seen: dict[tuple[int, int], int] = {}
        for i in indices:
            key = (rows[i].start, rows[i].end)
            rank = seen.get(key, 0)
            seen[key] = rank + 1
            choice = int(np.argsort(-probs[key])[rank % len(techniques.TECHNIQUES)])
            result[i] = replace(rows[i], technique=techniques.TECHNIQUES[choice].ptc_label)
    return [row for row in result if row is not None]
