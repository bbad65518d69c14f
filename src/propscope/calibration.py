"""Turning a trained network into a shipped model folder: quantize, tune decoding on held-out
articles, and measure the figures that go into the model card. No torch here.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from propscope import __version__, ptc, scoring
from propscope.decoding import DecodingParams, FloatArray
from propscope.model import MODEL_NAME, Analyzer, Encoding, file_sha256
from propscope.predict import label_spans, labelled_rows

HIGH = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LOW_FRACTION = (0.5, 0.65, 0.8)
MAX_GAP = (0, 2, 4, 6)
SECOND_LABEL = (0.25, 0.4, 1.01)
MIN_CONFIDENCE = (0.0, 0.1, 0.2)
MAX_NONE = (1.0, 0.6, 0.4)


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


Candidate = tuple[DecodingParams, dict[str, list[ptc.LabelledSpan]]]


def _candidates(analyzer: Analyzer, encodings: Mapping[str, Encoding]) -> Iterator[Candidate]:
    """Every decoding choice on the grid, with the rows it predicts per article."""
    for high, fraction, gap in itertools.product(HIGH, LOW_FRACTION, MAX_GAP):
        params = DecodingParams(high=high, low=round(high * fraction, 4), max_gap=gap)
        detections = {i: analyzer.decode(encoding, params) for i, encoding in encodings.items()}
        for second, least, none in itertools.product(SECOND_LABEL, MIN_CONFIDENCE, MAX_NONE):
            tuned = replace(params, second_label=second, min_confidence=least, max_none=none)
            yield tuned, {i: labelled_rows({i: found}, tuned) for i, found in detections.items()}


def _objective(gold: Sequence[ptc.LabelledSpan], rows: Mapping[str, list[ptc.LabelledSpan]], ids: set[str]) -> tuple[float, float]:
    """(SI F1, FLC F1) on the articles ``ids``."""
    gold_part = [g for g in gold if g.article_id in ids]
    pred_part = [row for i in ids for row in rows[i]]
    return (scoring.span_identification(gold_part, pred_part).f1,
            scoring.fragment_level(gold_part, pred_part).f1)


def tune(
    analyzer: Analyzer,
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[DecodingParams, dict[str, Any]]:
    """Choose the decoding parameters that maximise SI F1 + FLC F1 on ``articles``, and
    measure every figure with them.

    The articles are also split in two halves: parameters chosen on one half and measured on
    the other give the ``cross_fitted`` figures, which carry no tuning optimism.
    """
    ids = sorted(articles)
    encodings = {}
    for done, article_id in enumerate(ids, start=1):
        encodings[article_id] = analyzer.encode(articles[article_id]).materialized()
        if progress:
            progress("tune", done, len(ids))
    halves = (set(ids[::2]), set(ids[1::2]))
    scored = []
    for params, rows in _candidates(analyzer, encodings):
        scored.append((params, [_objective(gold, rows, part) for part in (*halves, set(ids))]))
    best = max(scored, key=lambda item: sum(item[1][2]))[0]
    cross = []
    for chosen_on, measured_on in ((0, 1), (1, 0)):
        _, scores = max(scored, key=lambda item: sum(item[1][chosen_on]))
        cross.append(scores[measured_on])
    figures = measure(analyzer, articles, gold, params=best, encodings=encodings)
    figures["cross_fitted"] = {
        "si_f1": round(float(np.mean([c[0] for c in cross])), 4),
        "flc_f1": round(float(np.mean([c[1] for c in cross])), 4),
    }
    figures["decoding"] = best.to_dict()
    return best, figures


def measure(
    analyzer: Analyzer,
    articles: Mapping[str, str],
    gold: Sequence[ptc.LabelledSpan],
    *,
    params: DecodingParams | None = None,
    encodings: Mapping[str, Encoding] | None = None,
) -> dict[str, Any]:
    """SI, FLC, SLC of the analyzer's spans and TC on the gold spans of ``articles``."""
    params = params or analyzer.params
    encodings = encodings or {i: analyzer.encode(text) for i, text in articles.items()}
    detections = {i: analyzer.decode(encoding, params) for i, encoding in encodings.items()}
    pred = labelled_rows(detections, params)
    figures = scoring.evaluate(articles, gold, pred)
    template = [ptc.LabelledSpan(g.article_id, ptc.UNLABELLED, g.start, g.end) for g in gold]
    figures["tc"] = scoring.technique_classification(gold, label_spans(analyzer, articles, template)).to_dict()
    figures["articles"] = len(articles)
    figures["gold_spans"] = len(gold)
    return figures
