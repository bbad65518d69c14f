"""Training checkpoints: the whole state of a run after an epoch, so that an interrupted run
goes on where it stopped and ends with the weights an uninterrupted one gives; and the device
a run trains on."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from propscope.datasets import Corpus
from propscope.errors import TRAIN_EXTRA_MISSING, InputError, MissingExtra

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtra(TRAIN_EXTRA_MISSING) from exc


def run_digest(config: Mapping[str, Mapping[str, Any]], corpus: Corpus) -> str:
    """What a checkpoint must have been trained on to be resumed: the recipe (less what changes
    only the speed, or only what the model folder says) and the training articles."""
    not_training = {("train", "threads"), ("train", "device"), ("model", "score_rate"), ("model", "name"),
                    ("model", "languages")}
    recipe = {section: {k: v for k, v in values.items() if (section, k) not in not_training}
              for section, values in config.items() if section != "decoding"}
    texts = [(repr(text), weight) for text, weight in corpus.training_texts()]
    return hashlib.sha256(json.dumps([recipe, texts], sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class TrainingState:
    """Everything a training run needs to go on where it stopped, as torch states."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    rng: random.Random
    averaged: list[torch.Tensor]
    digest: str

    def save(self, path: Path, log: list[dict[str, Any]]) -> None:
        state = {"digest": self.digest, "log": log, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "rng": self.rng.getstate(), "python": random.getstate(), "numpy": np.random.get_state(),
                 "torch": torch.get_rng_state(), "averaged": self.averaged}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(state, partial)
        partial.replace(path)  # a kill while saving leaves the previous epoch's checkpoint whole

    def restore(self, path: Path) -> list[dict[str, Any]]:
        """Load the state saved in ``path``; returns the log of the epochs it had done."""
        try:
            state = torch.load(path, map_location=next(self.model.parameters()).device, weights_only=False)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise InputError(f"{path}: not a readable training checkpoint ({exc}); delete it to start over") from None
        if state.get("digest") != self.digest:
            raise InputError(f"{path}: this checkpoint is of another recipe or other training texts; "
                             "delete it to start over, or resume with the recipe it was trained with")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.setstate(state["rng"])
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        for mine, saved in zip(self.averaged, state["averaged"], strict=True):
            mine.copy_(saved)
        return list(state["log"])


def training_device(name: str) -> torch.device:
    """The device that ``train.device`` names: "cpu", or "cuda" where torch sees a GPU."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError('train.device = "cuda" but torch sees no GPU here; use train.device="cpu"')
        return torch.device("cuda")
    raise InputError(f'train.device = {name!r}: expected "cpu" or "cuda"')
