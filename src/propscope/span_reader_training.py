"""Training the span reader (see ``span_reader``) on the gold spans of the training texts
([train] extra). Its inputs are single spans in their lines, so it trains in minutes on CPU.

A span with several gold techniques is one example whose target shares its weight among them.
The recipe's ``[reader]`` section sets it up; seed, threads, device, dropout, weight decay and
warmup come from ``[train]``.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from propscope import techniques
from propscope.checkpoints import training_device
from propscope.datasets import AnnotatedText, Corpus
from propscope.errors import TRAIN_EXTRA_MISSING, InputError, MissingExtra
from propscope.model import file_sha256
from propscope.quantization import quantize
from propscope.recipe import encoder_dir
from propscope.span_reader import READER_FILE, LineContext, Marks, marked_ids, padded
from propscope.text import load_tokenizer, tokenize

try:
    import torch
    from torch import nn
    from transformers import AutoModel
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtra(TRAIN_EXTRA_MISSING) from exc

_INDEX = {technique.ptc_label: i for i, technique in enumerate(techniques.TECHNIQUES)}
Example = tuple[list[int], np.ndarray, float]


def reader_settings(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The recipe's ``[reader]`` section, or None where it has none or gives it no weight."""
    settings = config.get("reader")
    if not settings or float(settings["weight"]) == 0:
        return None
    if not 0 < float(settings["weight"]) <= 1:
        raise InputError(f"reader.weight = {settings['weight']}: expected the reader's share, from 0 to 1")
    return settings


def examples(texts: Sequence[tuple[AnnotatedText, float]], marks: Marks, tokenizer: Any, max_tokens: int) -> list[Example]:
    """One example per distinct gold span: its marked input, technique target and loss weight."""
    out = []
    for text, weight in texts:
        tokens = tokenize(tokenizer, text.text)
        context = LineContext(text.text)
        labels: dict[tuple[int, int], list[int]] = {}
        for row in text.rows:
            labels.setdefault((row.start, row.end), []).append(_INDEX[row.technique])
        for (start, end), indices in sorted(labels.items()):
            target = np.zeros(len(techniques.TECHNIQUES), dtype=np.float32)
            for index in indices:
                target[index] += 1 / len(indices)
            out.append((marked_ids(tokens, context, start, end, marks, max_tokens), target, weight))
    return out


class ReaderModel(nn.Module):
    """The encoder, then the [CLS] state and the mean state of the span's pieces, then 14 logits."""

    def __init__(self, source: Path, dropout: float) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(str(source))
        width = int(self.encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * width, len(techniques.TECHNIQUES))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, span_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        span = (hidden * span_mask[..., None]).sum(1) / span_mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.out(self.dropout(torch.cat([hidden[:, 0], span], dim=-1)))  # type: ignore[no-any-return]


class _Exported(nn.Module):
    def __init__(self, model: ReaderModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, span_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(input_ids, attention_mask, span_mask), dim=-1)


def fit_reader(
    config: Mapping[str, Mapping[str, Any]],
    corpus: Corpus,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[ReaderModel, list[dict[str, Any]]]:
    """Train a reader on the gold spans of the corpus's training texts; returns it and its log."""
    settings, train_cfg = config["reader"], config["train"]
    seed = int(train_cfg["seed"])
    rng = random.Random(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(int(train_cfg["threads"]))
    device = training_device(str(train_cfg.get("device", "cpu")))
    source = encoder_dir(config["model"]["encoder"])
    tokenizer = load_tokenizer(source / "tokenizer.json")
    marks = Marks.of(tokenizer)
    data = examples(corpus.training_texts(), marks, tokenizer, int(settings["max_tokens"]))
    if not data:
        raise InputError("the training texts hold no gold span for the span reader to learn from")
    model = ReaderModel(source, float(train_cfg["dropout"])).to(device)
    optimizer = torch.optim.AdamW(
        [{"params": model.encoder.parameters(), "lr": float(settings["encoder_lr"])},
         {"params": model.out.parameters(), "lr": float(settings["head_lr"])}],
        weight_decay=float(train_cfg["weight_decay"]),
    )
    batch_size, epochs = int(settings["batch_size"]), int(settings["epochs"])
    total_steps = epochs * math.ceil(len(data) / batch_size)
    warmup = max(1, int(total_steps * float(train_cfg["warmup_fraction"])))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    )
    log: list[dict[str, Any]] = []
    started = time.monotonic()
    step = 0
    model.train()
    for epoch in range(epochs):
        # Batches of inputs of about one length pad little; their order is shuffled.
        order = sorted(range(len(data)), key=lambda k: len(data[k][0]) + 8 * rng.random())
        batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for batch in batches:
            ids, mask, span_mask = (torch.from_numpy(a).to(device) for a in padded([data[k][0] for k in batch], marks))
            targets = torch.from_numpy(np.stack([data[k][1] for k in batch])).to(device)
            weights = torch.tensor([data[k][2] for k in batch], dtype=torch.float32, device=device)
            per_span = -(torch.log_softmax(model(ids, mask, span_mask).float(), dim=-1) * targets).sum(-1)
            loss = (per_span * weights).sum() / weights.sum()
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += loss.detach().item()
            step += 1
            if progress:
                progress("reader", step, total_steps)
        log.append({"epoch": epoch + 1, "loss": total / len(batches), "minutes": (time.monotonic() - started) / 60})
    model.eval()
    return model.cpu(), log


def add_reader(
    config: Mapping[str, Mapping[str, Any]],
    corpus: Corpus,
    model_dir: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Train a reader on ``corpus`` and put it in the model folder ``model_dir``, quantized as
    the recipe's encoder is; returns its training log."""
    model, log = fit_reader(config, corpus, progress=progress)
    fp32 = model_dir / "span_reader.fp32.onnx"
    _export_onnx(model, fp32)
    quantize(fp32, model_dir / READER_FILE, str(config["export"]["quantize"]))
    fp32.unlink()
    settings = config["reader"]
    entry = {"weight": float(settings["weight"]), "max_tokens": int(settings["max_tokens"]),
             "sha256": file_sha256(model_dir / READER_FILE), "training_log": log}
    folder_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    (model_dir / "config.json").write_text(json.dumps(folder_config | {"span_reader": entry}, indent=2) + "\n",
                                           encoding="utf-8")
    return log


def _export_onnx(model: ReaderModel, path: Path) -> None:
    """Export with dynamic batch and length, and check ONNX Runtime agrees with torch."""
    import onnxruntime

    example = torch.ones((2, 8), dtype=torch.long)
    names = ("input_ids", "attention_mask", "span_mask")
    with warnings.catch_warnings():  # see training._export_onnx
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Exported(model).eval(), (example, example, example.float()), str(path),
            input_names=list(names), output_names=["technique_probs"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "technique_probs": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    generator = torch.Generator().manual_seed(0)
    high = min(2000, int(model.encoder.config.vocab_size))  # pieces 1000-2000 of a full vocabulary
    ids = torch.randint(high // 2, high, (3, 30), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    span_mask = torch.zeros(3, 30)
    span_mask[:, 3:9] = 1.0
    with torch.no_grad():
        expected = _Exported(model)(ids, mask, span_mask).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                "span_mask": span_mask.numpy()})[0]
    if not np.allclose(actual, expected, atol=1e-3):
        raise RuntimeError(f"span reader ONNX export disagrees with torch (max diff {abs(actual - expected).max():.4f})")
