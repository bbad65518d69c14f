"""Training: with ``checkpoints``, the only module that imports torch, and the only one that
imports transformers (the ``train`` extra).

One encoder pass per window feeds two heads: a token tagger with one sigmoid per token for
"inside any technique span" and one per technique, and a span classifier that names the
technique of a span from the pooled contextual states of its tokens plus a few article-level
features (such as how often the span's text recurs). At inference the same pooling runs in
numpy, see ``decoding``.

Besides the PTC articles, a recipe may name extra annotated sources (``data.extra``), each with
a loss weight. Their spans without a PTC label are masked: neither positive nor negative.

A recipe may also name a teacher (``distill.teacher``): a larger encoder trained the same way on
the same texts first, whose token probabilities, carried over to the student's word pieces
through character offsets (the two vocabularies differ), make up part of the student's token
targets.
"""

from __future__ import annotations

import random
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from propscope import decoding, environment
from propscope.checkpoints import TrainingState, run_digest, training_device
from propscope.datasets import Corpus, data_digest, load_corpus, span_words
from propscope.errors import TRAIN_EXTRA_MISSING, InputError, MissingExtra
from propscope.recipe import encoder_dir
from propscope.targets import TrainingArticle, epoch_batches, prepare
from propscope.text import Tokens, carry_over, load_tokenizer, special_ids, tokenize
from propscope.text import windows as text_windows

try:
    import torch
    from torch import nn
    from transformers import AutoModel
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtra(TRAIN_EXTRA_MISSING) from exc

NEGATIVE_THRESHOLD = 0.3


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor  # (batch, width, N_CHANNELS)
    token_weights: torch.Tensor  # (batch, width): source weight, 0 where the loss is masked
    span_rows: torch.Tensor  # (n_spans,) batch row of each span
    span_tokens: torch.Tensor  # (n_spans, 2) positions inside the padded window
    span_features: torch.Tensor
    span_targets: torch.Tensor
    span_weights: torch.Tensor  # (n_spans,) source weight

    def to(self, device: torch.device) -> Batch:
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def collate(
    articles: Sequence[TrainingArticle],
    windows: Sequence[tuple[int, int, int]],
    cls_id: int,
    sep_id: int,
) -> Batch:
    width = max(end - start for _, start, end in windows) + 2
    ids = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    targets = np.zeros((len(windows), width, decoding.N_CHANNELS), dtype=np.float32)
    token_weights = np.zeros((len(windows), width), dtype=np.float32)
    rows, positions, features, span_targets, span_weights = [], [], [], [], []
    for row, (index, start, end) in enumerate(windows):
        article = articles[index]
        n = end - start
        ids[row, : n + 2] = [cls_id, *article.tokens.ids[start:end], sep_id]
        mask[row, : n + 2] = 1
        targets[row, 1 : n + 1] = article.loss_targets[start:end]
        token_weights[row, 1 : n + 2] = article.weight
        token_weights[row, 1 : n + 1] *= article.loss_mask[start:end]
        inside = (article.span_tokens[:, 0] >= start) & (article.span_tokens[:, 1] <= end)
        inside &= article.span_tokens[:, 1] > article.span_tokens[:, 0]
        for span in np.flatnonzero(inside):
            rows.append(row)
            positions.append(article.span_tokens[span] - start + 1)
        features.append(article.span_features[inside])
        span_targets.append(article.span_targets[inside])
        span_weights += [article.weight] * int(inside.sum())
    return Batch(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        targets=torch.from_numpy(targets),
        token_weights=torch.from_numpy(token_weights),
        span_rows=torch.tensor(rows, dtype=torch.long),
        span_tokens=torch.from_numpy(np.asarray(positions, dtype=np.int64).reshape(-1, 2)),
        span_features=torch.from_numpy(np.concatenate(features).astype(np.float32)),
        span_targets=torch.from_numpy(np.concatenate(span_targets)),
        span_weights=torch.tensor(span_weights, dtype=torch.float32),
    )


def with_negatives(
    batch: Batch,
    articles: Sequence[TrainingArticle],
    windows: Sequence[tuple[int, int, int]],
    logits: torch.Tensor,
    rng: random.Random,
    per_window: int,
    repeated_per_window: int,
) -> Batch:
    """Add spans that are not propaganda, labelled with the "none" class, so the span head
    learns to reject candidates: runs the tagger currently believes in that touch no gold span
    (its false positives), topped up with random stretches of plain text, and phrases that
    recur in the article without being a span (the candidates Repetition is proposed from)."""
    believed = (torch.sigmoid(logits.detach()[..., 0].float()) >= NEGATIVE_THRESHOLD).cpu().numpy()
    rows, positions, features, weights = [], [], [], []
    for row, (index, start, end) in enumerate(windows):
        article = articles[index]
        touched = article.targets[start:end, 0] + (1.0 - article.loss_mask[start:end])
        n = end - start
        candidates = []
        inside = np.concatenate([[False], believed[row, 1 : n + 1], [False]])
        edges = np.flatnonzero(np.diff(inside.astype(np.int8)))
        candidates += [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
        for _ in range(per_window):
            length = rng.randint(1, min(24, n))
            first = rng.randrange(0, n - length + 1)
            candidates.append((first, first + length))
        chosen = [(s, e) for s, e in candidates if not touched[s:e].any()][:per_window]
        repeated = [(int(s) - start, int(e) - start) for s, e in article.repeated if s >= start and e <= end]
        chosen += rng.sample(repeated, min(repeated_per_window, len(repeated)))
        for s, e in chosen:
            rows.append(row)
            positions.append((s + 1, e + 1))
            char_span = (int(article.tokens.char_spans[start + s, 0]), int(article.tokens.char_spans[start + e - 1, 1]))
            features.append(decoding.span_features(article.text, article.tokens, [char_span])[0])
            weights.append(article.weight)
    if not rows:
        return batch
    targets = np.zeros((len(rows), decoding.N_CLASSES), dtype=np.float32)
    targets[:, decoding.NONE] = 1.0
    return Batch(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        targets=batch.targets,
        token_weights=batch.token_weights,
        span_rows=torch.cat([batch.span_rows, torch.tensor(rows, dtype=torch.long)]),
        span_tokens=torch.cat([batch.span_tokens, torch.tensor(positions, dtype=torch.long)]),
        span_features=torch.cat([batch.span_features, torch.from_numpy(np.stack(features))]),
        span_targets=torch.cat([batch.span_targets, torch.from_numpy(targets)]),
        span_weights=torch.cat([batch.span_weights, torch.tensor(weights, dtype=torch.float32)]),
    )


# ---------------------------------------------------------------- model


class TaggerModel(nn.Module):
    """Encoder + token head (any technique, then each technique) + span technique head."""

    def __init__(self, encoder_path: Path, span_hidden: int, dropout: float, prior: np.ndarray) -> None:
        super().__init__()
        # fp32 whatever the checkpoint stores: the optimizer needs full-precision weights.
        self.encoder = AutoModel.from_pretrained(encoder_path, add_pooling_layer=False, dtype=torch.float32)
        width = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.token_head = nn.Linear(width, decoding.N_CHANNELS)
        # Start at the base rates' log-odds: a zero bias makes the tagger collapse early on.
        nn.init.zeros_(self.token_head.weight)
        with torch.no_grad():
            self.token_head.bias.copy_(torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)))
        self.span_hidden = nn.Linear(3 * width + decoding.N_FEATURES, span_hidden)
        self.span_out = nn.Linear(span_hidden, decoding.N_CLASSES)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.token_head(self.dropout(hidden)), hidden

    def classify(
        self, hidden: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        # Means from running sums: gathering every span's whole window would cost far more.
        sums = torch.cat([hidden.new_zeros(hidden.shape[0], 1, hidden.shape[2]), hidden.cumsum(1)], dim=1)
        lengths = (positions[:, 1] - positions[:, 0]).unsqueeze(1).to(hidden.dtype)
        mean = (sums[rows, positions[:, 1]] - sums[rows, positions[:, 0]]) / lengths
        first = hidden[rows, positions[:, 0]]
        last = hidden[rows, positions[:, 1] - 1]
        pooled = self.dropout(torch.cat([mean, first, last, features], dim=-1))
        hidden_layer = nn.functional.gelu(self.span_hidden(pooled), approximate="tanh")
        logits: torch.Tensor = self.span_out(self.dropout(hidden_layer))
        return logits


class _Exported(nn.Module):
    def __init__(self, model: TaggerModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = self.model(input_ids, attention_mask)
        return torch.sigmoid(logits), hidden


# ---------------------------------------------------------------- training loop


def _token_loss(logits: torch.Tensor, batch: Batch, technique_weight: float) -> torch.Tensor:
    """Weighted binary cross-entropy of the "any technique" channel, plus ``technique_weight``
    times the mean over the technique channels."""
    per_channel = nn.functional.binary_cross_entropy_with_logits(logits.float(), batch.targets, reduction="none")
    per_token = per_channel[..., 0] + technique_weight * per_channel[..., 1:].mean(-1)
    return (per_token * batch.token_weights).sum() / batch.token_weights.sum().clamp(min=1e-6)


def teacher_config(config: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The recipe of the teacher: the student's, with the teacher's encoder, epochs and encoder
    learning rate."""
    distill = config["distill"]
    return {**{section: dict(values) for section, values in config.items()},
            "model": {**config["model"], "encoder": distill["teacher"]},
            "train": {**config["train"], "epochs": distill["teacher_epochs"],
                      "encoder_lr": distill["teacher_encoder_lr"]}}


def fit(
    config: Mapping[str, Mapping[str, Any]],
    corpus: Corpus,
    *,
    checkpoints: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[TaggerModel, list[dict[str, Any]]]:
    """Train the model on the corpus's training texts; returns it and the per-epoch log. With a
    teacher in the recipe, the teacher trains first (its epochs are logged as "teacher").

    With ``checkpoints``, the state after every epoch is kept in that folder, and a run of the
    same recipe on the same texts resumes from it: an interrupted run, resumed, ends with the
    weights that an uninterrupted one gives."""
    teacher_name = str(config.get("distill", {}).get("teacher", ""))
    if not teacher_name:
        return _fit(config, corpus, checkpoint=checkpoints / "model.pt" if checkpoints else None, progress=progress)
    share = config["distill"]["weight"]
    if not 0 <= share <= 1:
        raise InputError(f"distill.weight = {share}: expected the teacher's share of the targets, from 0 to 1")
    tokenizer = load_tokenizer(encoder_dir(teacher_name) / "tokenizer.json")
    teacher, teacher_log = _fit(teacher_config(config), corpus,
                                checkpoint=checkpoints / "teacher.pt" if checkpoints else None,
                                progress=_renamed(progress, "teacher"))
    device = training_device(str(config["train"].get("device", "cpu")))
    texts = [text.text for text, _ in corpus.training_texts()]
    taught_tokens = [tokenize(tokenizer, text) for text in texts]
    probabilities = token_probabilities(teacher.to(device), taught_tokens, special_ids(tokenizer),
                                        int(config["model"]["window_tokens"]) - 2,
                                        int(config["model"]["inference_stride"]), int(config["train"]["batch_size"]))
    del teacher  # its memory is free again before the student trains
    model, log = _fit(config, corpus, teacher=list(zip(taught_tokens, probabilities, strict=True)),
                      checkpoint=checkpoints / "model.pt" if checkpoints else None, progress=progress)
    return model, [{"model": "teacher", **row} for row in teacher_log] + [{"model": "student", **row} for row in log]


def _renamed(
    progress: Callable[[str, int, int], None] | None, stage: str
) -> Callable[[str, int, int], None] | None:
    return (lambda _, done, total: progress(stage, done, total)) if progress else None


@torch.no_grad()
def token_probabilities(
    model: TaggerModel,
    texts: Sequence[Tokens],
    special_ids: tuple[int, int],
    content_tokens: int,
    stride: int,
    batch_size: int,
) -> list[np.ndarray]:
    """A trained model's token probabilities over whole texts, in overlapping windows averaged
    as at inference; (n_tokens, N_CHANNELS) per text."""
    model.eval()
    device = next(model.parameters()).device
    sums = [np.zeros((len(tokens), decoding.N_CHANNELS), dtype=np.float32) for tokens in texts]
    counts = [np.zeros((len(tokens), 1), dtype=np.float32) for tokens in texts]
    windows = [(index, start, end) for index, tokens in enumerate(texts)
               for start, end in text_windows(len(tokens), content_tokens, stride) if end > start]
    cls_id, sep_id = special_ids
    for first in range(0, len(windows), batch_size):
        chunk = windows[first : first + batch_size]
        width = max(end - start for _, start, end in chunk) + 2
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        for row, (index, start, end) in enumerate(chunk):
            ids[row, : end - start + 2] = [cls_id, *texts[index].ids[start:end], sep_id]
            mask[row, : end - start + 2] = 1
        logits, _ = model(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
        probabilities = torch.sigmoid(logits.float()).cpu().numpy()
        for row, (index, start, end) in enumerate(chunk):
            sums[index][start:end] += probabilities[row, 1 : end - start + 1]
            counts[index][start:end] += 1
    return [total / np.maximum(count, 1) for total, count in zip(sums, counts, strict=True)]


def _fit(
    config: Mapping[str, Mapping[str, Any]],
    corpus: Corpus,
    *,
    teacher: Sequence[tuple[Tokens, np.ndarray]] = (),
    checkpoint: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[TaggerModel, list[dict[str, Any]]]:
    train_cfg, model_cfg = config["train"], config["model"]
    seed = int(train_cfg["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(int(train_cfg["threads"]))
    device = training_device(str(train_cfg.get("device", "cpu")))

    source = encoder_dir(model_cfg["encoder"])
    tokenizer = load_tokenizer(source / "tokenizer.json")
    prepared = [prepare(text, tokenizer, weight) for text, weight in corpus.training_texts()]
    if teacher:
        share = float(config["distill"]["weight"])
        for article, (taught_tokens, probabilities) in zip(prepared, teacher, strict=True):
            carried = carry_over(taught_tokens, probabilities, article.tokens)
            article.loss_targets = np.where(np.isnan(carried), article.targets,
                                            (1 - share) * article.targets + share * carried).astype(np.float32)
    targets = np.concatenate([a.targets for a in prepared])
    prior = np.clip(targets.mean(axis=0), 1e-3, 1 - 1e-3)

    model = TaggerModel(source, int(model_cfg["span_hidden"]), float(train_cfg["dropout"]), prior).to(device)
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": float(train_cfg["encoder_lr"])},
            {"params": heads, "lr": float(train_cfg["head_lr"])},
        ],
        weight_decay=float(train_cfg["weight_decay"]),
    )
    content = int(model_cfg["window_tokens"]) - 2
    batch_size = int(train_cfg["batch_size"])
    epochs = int(train_cfg["epochs"])
    rng = random.Random(seed)
    per_epoch = len(epoch_batches(prepared, content, batch_size, random.Random(0)))
    total_steps = per_epoch * epochs
    warmup = max(1, int(total_steps * float(train_cfg["warmup_fraction"])))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    )
    cls_id, sep_id = special_ids(tokenizer)
    span_weight = float(train_cfg["span_loss_weight"])
    technique_weight = float(train_cfg["technique_loss_weight"])
    log: list[dict[str, Any]] = []
    step = 0
    ema_decay = float(train_cfg.get("ema_decay", 0.0))
    averaged = [p.detach().clone() for p in model.parameters()] if ema_decay else []
    run = TrainingState(model, optimizer, scheduler, rng, averaged, run_digest(config, corpus))
    if checkpoint and checkpoint.is_file():
        log = run.restore(checkpoint)
        step = len(log) * per_epoch
    started = time.monotonic() - 60 * (log[-1]["minutes"] if log else 0.0)
    model.train()
    for epoch in range(len(log), epochs):
        batches = epoch_batches(prepared, content, batch_size, rng)
        totals = {"token_loss": 0.0, "span_loss": 0.0}
        for windows in batches:
            batch = collate(prepared, windows, cls_id, sep_id)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(train_cfg["bf16"])):
                logits, hidden = model(batch.input_ids.to(device), batch.attention_mask.to(device))
                batch = with_negatives(batch, prepared, windows, logits, rng, int(train_cfg["negatives_per_window"]),
                                       int(train_cfg["repeated_negatives_per_window"])).to(device)
                span_logits = model.classify(hidden, batch.span_rows, batch.span_tokens, batch.span_features)
            token_loss = _token_loss(logits, batch, technique_weight)
            loss = token_loss
            if len(batch.span_rows):
                per_span = nn.functional.cross_entropy(span_logits.float(), batch.span_targets, reduction="none")
                span_loss = (per_span * batch.span_weights).sum() / batch.span_weights.sum()
                loss = loss + span_weight * span_loss
                totals["span_loss"] += span_loss.detach().item()
            totals["token_loss"] += token_loss.detach().item()
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            if averaged:
                torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1 - ema_decay)
            step += 1
            if progress:
                progress("train", step, total_steps)
        log.append({"epoch": epoch + 1, **{k: v / len(batches) for k, v in totals.items()},
                    "minutes": (time.monotonic() - started) / 60})
        if checkpoint:
            run.save(checkpoint, log)

    if averaged:
        with torch.no_grad():
            for parameter, average in zip(model.parameters(), averaged, strict=True):
                parameter.copy_(average)
    model.eval()
    return model.cpu(), log


def train(
    config: Mapping[str, Mapping[str, Any]],
    data_dir: Path,
    out_dir: Path,
    *,
    crossval: Mapping[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Train, export ONNX, tune decoding on the held-out articles, and write the model folder.
    Every epoch is kept in ``OUT.checkpoints`` beside it until the folder is written, so the same command,
    run again after an interruption, resumes from the last finished epoch.

    Returns the validation figures. ``crossval`` is the summary of this recipe's cross-validation,
    for the model card; a model trained on every article takes its decoding settings from it,
    unless the config has its own. ``progress(stage, done, total)`` is called as work advances.
    """
    corpus = load_corpus(data_dir, config["data"])
    span_filter = trust = None
    if not corpus.validation_ids and crossval and "decoding" not in config:
        config = {**config, "decoding": crossval["decoding"]}
        span_filter, trust = crossval.get("span_filter"), crossval.get("label_trust")
    if not corpus.validation_ids and set(config.get("decoding", {})) != set(decoding.SENSITIVITIES):
        raise InputError(
            "data.validation_fraction = 0 holds no article out to tune the decoding on, so give --crossval with "
            "a finished cross-validation of this recipe, or put [decoding.low], [decoding.balanced] and "
            "[decoding.high] in the config"
        )
    checkpoints = out_dir.with_name(out_dir.name + ".checkpoints")
    model, log = fit(config, corpus, checkpoints=checkpoints, progress=progress)
    digests = [data_digest(data_dir / path) for path in config["data"].get("extra", [])]
    figures = export(model, config, corpus, out_dir, log=log, data_sha256=data_digest(data_dir),
                     extra_sha256=digests, crossval=crossval, span_filter=span_filter, label_trust=trust,
                     progress=progress)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return figures


def export(
    model: TaggerModel,
    config: Mapping[str, Mapping[str, Any]],
    corpus: Corpus,
    out_dir: Path,
    *,
    log: list[dict[str, Any]],
    data_sha256: str,
    extra_sha256: Sequence[str] = (),
    crossval: Mapping[str, Any] | None = None,
    span_filter: Mapping[str, Any] | None = None,
    label_trust: Mapping[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Write ONNX and the span head, tune decoding on validation articles (or take it from the
    config, and ``span_filter`` and ``label_trust`` from a cross-validation), write the card."""
    from propscope import model_card
    from propscope.model_folder import build_model_folder
    from propscope.span_reader_training import add_reader, reader_settings

    model_cfg = config["model"]
    source = encoder_dir(model_cfg["encoder"])
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "encoder.fp32.onnx"
    _export_onnx(model, onnx_path)
    head = {
        "hidden_weight": model.span_hidden.weight.detach().float().numpy().T,
        "hidden_bias": model.span_hidden.bias.detach().float().numpy(),
        "out_weight": model.span_out.weight.detach().float().numpy().T,
        "out_bias": model.span_out.bias.detach().float().numpy(),
    }
    recipe = {"config": config, "train_articles": corpus.train_ids,
              "validation_articles": corpus.validation_ids, "data_sha256": data_sha256,
              "extra_texts": [len(texts) for texts, _ in corpus.extra], "extra_sha256": list(extra_sha256),
              "training_log": log, "crossval": crossval}
    figures = build_model_folder(
        out_dir,
        onnx_path=onnx_path,
        tokenizer_path=source / "tokenizer.json",
        head=head,
        model_cfg=model_cfg,
        quantize=str(config["export"]["quantize"]),
        validation={i: corpus.articles[i] for i in corpus.validation_ids},
        gold=[row for row in corpus.labels if row.article_id in set(corpus.validation_ids)],
        decoding=config.get("decoding"),
        span_filter_config=span_filter,
        label_trust_config=label_trust,
        span_words=span_words(corpus),
        add_reader=(lambda folder: add_reader(config, corpus, folder, progress=progress))
        if reader_settings(config) else None,
        progress=progress,
    )
    if not figures:
        recipe["fingerprint"] = fingerprint(out_dir, corpus)
    recipe["runtime"] = {"versions": environment.runtime_versions(), "int8_path": environment.int8_path()}
    model_card.write(out_dir, recipe=recipe, figures=figures)
    return figures


FINGERPRINT_ARTICLES = 40


def fingerprint(model_dir: Path, corpus: Corpus) -> dict[str, Any]:
    """The figures of a model trained on every article, measured on the first of them: not a
    quality figure (it has seen them), but what a later run of the same files must reproduce."""
    from propscope import calibration
    from propscope.model import Analyzer

    analyzer = Analyzer(model_dir)
    ids = sorted(corpus.articles)[:FINGERPRINT_ARTICLES]
    encoded = calibration.encode_articles(analyzer, {i: corpus.articles[i] for i in ids})
    return {"articles": ids, "figures": calibration.measure(encoded, corpus.labels, analyzer.settings)}


def _export_onnx(model: TaggerModel, path: Path) -> None:
    """Export with dynamic batch and length, then check ONNX Runtime agrees with torch on a
    padded batch of another shape: tracing can freeze shape-dependent branches."""
    import onnxruntime

    example = torch.ones((2, 16), dtype=torch.long)
    # The TorchScript exporter gives a plain graph that the int8 quantizer handles well;
    # torch calls it deprecated and warns about traced branches, which the check below covers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Exported(model).eval(),
            (example, example),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["token_probs", "hidden"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_probs", "hidden")},
            opset_version=17,
            dynamo=False,
        )
    model.eval()
    generator = torch.Generator().manual_seed(0)
    high = min(2000, int(model.encoder.config.vocab_size))  # pieces 1000-2000 of a full vocabulary
    ids = torch.randint(high // 2, high, (3, 40), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0
    with torch.no_grad():
        expected = torch.sigmoid(model(ids, mask)[0]).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(["token_probs"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    real = mask.numpy().astype(bool)
    if not np.allclose(actual[real], expected[real], atol=1e-3):
        raise RuntimeError(f"ONNX export disagrees with torch (max diff {abs(actual - expected)[real].max():.4f})")
