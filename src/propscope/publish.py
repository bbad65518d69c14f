"""Shipping one cross-validation fold's model: where training every fold and a final model
costs more than the compute at hand (the multilingual model on two cores), the model of one
fold ships, and the fold it never saw measures it. Its config gains those held-out figures per
language, and the zero-shot ones of languages it never trained on; its card says how it was
made and measured."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from propscope import crossval, datasets, model_card
from propscope.errors import InputError
from propscope.model import Analyzer


def _fold_assignment(cv_dir: Path) -> dict[str, int]:
    folds = cv_dir / "folds.tsv"
    if not folds.is_file():
        raise InputError(f"{cv_dir}: not a `propscope crossval` run (no folds.tsv)")
    return {article_id: int(fold) for article_id, fold in
            (line.split("\t") for line in folds.read_text(encoding="utf-8").splitlines())}


def publish_fold(cv_dir: Path, fold: int, out_dir: Path, zero_shot: Sequence[Path] = ()) -> dict[str, Any]:
    """Copy fold ``fold``'s model of the cross-validation ``cv_dir`` to ``out_dir`` with its
    held-out figures per language and the zero-shot figures on the PTC-format folders
    ``zero_shot``; rewrite its card. Returns the model's config."""
    fold_dir = cv_dir / f"fold-{fold}"
    if not (fold_dir / "figures.json").is_file():
        raise InputError(f"{fold_dir}: no finished fold there (no figures.json); run "
                         f"`propscope crossval ... --out {cv_dir} --fold {fold}` first")
    measured = json.loads((fold_dir / "figures.json").read_text(encoding="utf-8"))
    if "by_language" not in measured:
        raise InputError(f"{fold_dir}: measured on one unnamed language; a fold ships only from a corpus of "
                         "language folders, which gives its figures per language")
    if out_dir.exists() and not (out_dir / "config.json").is_file():
        raise InputError(f"{out_dir}: exists and is not a model folder; give a new --out")
    assignment = _fold_assignment(cv_dir)
    dealt = json.loads((cv_dir / "summary.json").read_text(encoding="utf-8"))
    config: dict[str, Any] = json.loads((fold_dir / "model" / "config.json").read_text(encoding="utf-8"))
    config["languages"] = {code: measured["by_language"].get(code, {}) for code in config["languages"]}
    config["zero_shot"] = {}
    for folder in zero_shot:
        corpus = datasets.load_corpus(folder, {"validation_fraction": 0.0, "split_seed": 0})
        for code, figures in crossval.language_figures(Analyzer(fold_dir / "model"), corpus).items():
            if code in config["languages"]:
                raise InputError(f"{folder}: holds {code} articles, a language the model trained on; "
                                 "zero-shot figures are for languages it never saw")
            config["zero_shot"][code] = figures
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(fold_dir / "model", out_dir)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    recipe = json.loads((out_dir / "recipe.json").read_text(encoding="utf-8"))
    recipe["fold"] = {
        "fold": fold, "folds": max(assignment.values()) + 1, "seed": dealt["seed"], "grouping": dealt["grouping"],
        "test_articles": sorted(article_id for article_id, k in assignment.items() if k == fold),
        "figures": crossval.headline(measured),
        "zero_shot_data": [folder.name for folder in zero_shot],
    }
    model_card.write(out_dir, recipe=recipe, figures=recipe.pop("validation_figures"))
    return config
