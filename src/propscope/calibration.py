"""Turning a trained network into a shipped model folder: quantize, tune the decoding of each
sensitivity setting on held-out articles, and measure the figures that go into the model card.
No torch here.

Each setting maximises F-beta of SI plus F-beta of FLC: ``low`` with beta 0.5 (precision
counts more), ``balanced`` with beta 1, ``high`` with beta 2 (recall counts more).
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

from propscope import __version__, ptc, scoring
from propscope.decoding import DISABLED, SENSITIVITIES, DecodingParams, FloatArray
from propscope.model import MODEL_NAME, Analyzer, Detection, Encoding, file_sha256
from propscope.predict import label_spans, labelled_rows

BETA = {"low": 0.5, "balanced": 1.0, "high": 2.0}
HIGH = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LOW_FRACTION = (0.5, 0.65, 0.8)
MAX_GAP = (0, 2, 4, 6)
SECOND_LABEL = (0.25, 0.4, DISABLED)
MIN_CONFIDENCE = (0.0, 0.1, 0.2)
MAX_NONE = (1.0, 0.6, 0.4)
TECHNIQUE_HIGH = (DISABLED, 0.7, 0.6, 0.5, 0.4, 0.3)
REPETITION = (DISABLED, 0.7, 0.55, 0.4, 0.3, 0.2)
ROUNDS = 3

# What tuning decodes: each article's encoding and the analyzer that made it (cross-validation
# tunes over the out-of-fold articles of several models at once).
Encoded = Mapping[str, tuple[Analyzer, Encoding]]


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
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Write a complete model folder in ``out_dir``. The decoding settings are tuned on the
    ``validation`` articles, or taken from ``decoding`` when there are none; returns the
    validation figures (empty without validation articles)."""
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
        "decoding": {name: dict(decoding[name]) if decoding else DecodingParams().to_dict() for name in SENSITIVITIES},
    }
    write_config(out_dir, config)
    if not validation:
        return {}
    analyzer = Analyzer(out_dir)
    encoded = encode_articles(analyzer, validation, progress=progress)
    settings = tune(encoded, gold)
    config["decoding"] = {name: params.to_dict() for name, params in settings.items()}
    write_config(out_dir, config)
    return measure(encoded, gold, settings)


def write_config(out_dir: Path, config: Mapping[str, Any]) -> None:
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def encode_articles(
    analyzer: Analyzer, articles: Mapping[str, str], *, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, tuple[Analyzer, Encoding]]:
    """Run the encoder once over every article, for decoding many times."""
    encoded = {}
    for done, (article_id, text) in enumerate(sorted(articles.items()), start=1):
        encoded[article_id] = (analyzer, analyzer.encode(text).materialized())
        if progress:
            progress("tune", done, len(articles))
    return encoded


def _decode(encoded: Encoded, params: DecodingParams) -> dict[str, list[Detection]]:
    return {i: analyzer.decode(encoding, params) for i, (analyzer, encoding) in encoded.items()}


def _stage_one(
    encoded: Encoded, gold: scoring.GroupedGold, current: Mapping[str, DecodingParams]
) -> dict[str, DecodingParams]:
    """Per setting, the best choice on the full grid of the tagger's own spans, with the
    setting's ``current`` thresholds for technique channels and recurring phrases in place.
    Settings that share those thresholds share each decoding."""
    groups: dict[tuple[float, float], list[str]] = {}
    for name, params in current.items():
        groups.setdefault((params.technique_high, params.repetition), []).append(name)
    best: dict[str, tuple[float, DecodingParams]] = {}
    for (technique_high, repetition), names in groups.items():
        for high, fraction, gap in itertools.product(HIGH, LOW_FRACTION, MAX_GAP):
            params = DecodingParams(high=high, low=round(high * fraction, 4), max_gap=gap,
                                    technique_high=technique_high, repetition=repetition)
            detections = _decode(encoded, params)
            for second, least, none in itertools.product(SECOND_LABEL, MIN_CONFIDENCE, MAX_NONE):
                tuned = replace(params, second_label=second, min_confidence=least, max_none=none)
                values = _objectives(gold, labelled_rows(detections, tuned))
                for name in names:
                    if name not in best or values[name] > best[name][0]:
                        best[name] = (values[name], tuned)
    return {name: params for name, (_, params) in best.items()}


def _objectives(gold: scoring.GroupedGold, rows: Sequence[ptc.LabelledSpan]) -> dict[str, float]:
    """F-beta of SI plus F-beta of FLC, for the beta of every setting."""
    si = gold.span_identification(rows)
    flc = gold.fragment_level(rows)
    return {name: si.f_beta(beta) + flc.f_beta(beta) for name, beta in BETA.items()}


def tune(encoded: Encoded, gold: Sequence[ptc.LabelledSpan]) -> dict[str, DecodingParams]:
    """The decoding parameters of every sensitivity setting, chosen on ``encoded`` articles.

    First the tagger's spans on a full grid; then, one after the other, the threshold for
    spans of single technique channels and the one for recurring phrases as Repetition. The
    three depend on each other, so the rounds repeat with the others in place until no choice
    changes (at most ``ROUNDS``).
    """
    grouped = scoring.GroupedGold(row for row in gold if row.article_id in encoded)
    has_channels = any(analyzer.n_channels > 1 for analyzer, _ in encoded.values())
    settings = {name: DecodingParams() for name in BETA}
    for _ in range(ROUNDS):
        chosen = _stage_one(encoded, grouped, settings)
        for name, params in chosen.items():
            if has_channels:
                params = _best_of(encoded, grouped, name, [replace(params, technique_high=t) for t in TECHNIQUE_HIGH])
            chosen[name] = _best_of(encoded, grouped, name, [replace(params, repetition=r) for r in REPETITION])
        if chosen == settings:
            break
        settings = chosen
    return settings


def _best_of(
    encoded: Encoded, gold: scoring.GroupedGold, name: str, candidates: Sequence[DecodingParams]
) -> DecodingParams:
    scored = [(_objectives(gold, labelled_rows(_decode(encoded, p), p))[name], p) for p in candidates]
    return max(scored, key=lambda item: item[0])[1]


def measure(
    encoded: Encoded, gold: Sequence[ptc.LabelledSpan], settings: Mapping[str, DecodingParams]
) -> dict[str, Any]:
    """SI, FLC and SLC of every setting, TC on the gold spans, and the settings themselves."""
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    gold = [row for row in gold if row.article_id in articles]
    figures: dict[str, Any] = {}
    for name, params in settings.items():
        rows = labelled_rows(_decode(encoded, params), params)
        figures[name] = scoring.evaluate(articles, gold, rows)
    figures["tc"] = scoring.technique_classification(gold, label_gold_spans(encoded, gold)).to_dict()
    figures["decoding"] = {name: params.to_dict() for name, params in settings.items()}
    figures["articles"] = len(articles)
    figures["gold_spans"] = len(gold)
    return figures


def label_gold_spans(encoded: Encoded, gold: Sequence[ptc.LabelledSpan]) -> list[ptc.LabelledSpan]:
    """TC: every gold span labelled by the analyzer that encoded its article, in gold order."""
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    template = [ptc.LabelledSpan(g.article_id, ptc.UNLABELLED, g.start, g.end) for g in gold]
    by_analyzer: dict[int, list[int]] = {}
    for index, row in enumerate(template):
        by_analyzer.setdefault(id(encoded[row.article_id][0]), []).append(index)
    labelled: list[ptc.LabelledSpan] = list(template)
    for indices in by_analyzer.values():
        analyzer = encoded[template[indices[0]].article_id][0]
        rows = label_spans(analyzer, articles, [template[k] for k in indices])
        for k, row in zip(indices, rows, strict=True):
            labelled[k] = row
    return labelled
