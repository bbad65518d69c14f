"""The shipped model against the cross-validation that chose its recipe, and that recipe against
the first one (0.1) on the same folds.

The shipped model trains on every PTC training article, so none is left to measure it on: its
recipe is judged by the 5-fold cross-validation on record in ``docs/crossval/`` (figures only,
no corpus text). The data test needs the PTC training split in ../shared/data/ptc-train:
without it, it is skipped with a reason, or fails when PROPSCOPE_REQUIRE_CORPUS=1.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from propscope import crossval, datasets, ptc
from propscope.model import Analyzer

from .conftest import REPO

RECORD = REPO / "docs" / "crossval"


def folds_on_record(recipe: str) -> dict[int, dict[str, Any]]:
    return {int(path.stem.removeprefix("fold-")): json.loads(path.read_text(encoding="utf-8"))
            for path in (RECORD / recipe).glob("fold-*.json")}


def first_recipe_headline(figures: dict[str, Any]) -> dict[str, float]:
    """The 0.1 recipe's folds were measured by its own code, which scored one setting."""
    return {"si": figures["si"]["f1"], "tc": figures["tc"]["micro_f1"], "flc": figures["flc"]["f1"],
            "slc": figures["slc"]["f1"], "spearman": figures["spearman"]}


@pytest.fixture(scope="module")
def recipe(analyzer: Analyzer) -> dict[str, Any]:
    return json.loads((analyzer.model_dir / "recipe.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shipped_folds(analyzer: Analyzer) -> dict[int, dict[str, Any]]:
    major, minor, _ = analyzer.config["version"].split(".")
    return folds_on_record(f"{major}.{minor}")


# SLC and the Spearman correlation are ahead of 0.1's on the mean, not on every fold (issue #9).
@pytest.mark.parametrize("key", ["si", "tc", "flc"])
def test_shipped_recipe_beats_the_first_on_every_fold_both_have_on_record(
    shipped_folds: dict[int, dict[str, Any]], key: str
) -> None:
    first = folds_on_record("0.1")
    shared = sorted(first.keys() & shipped_folds.keys())
    assert len(shared) >= 3
    for fold in shared:
        assert crossval.headline(shipped_folds[fold])[key] > first_recipe_headline(first[fold])[key], f"fold {fold}"


def test_shipped_model_carries_the_cross_validation_on_record(
    analyzer: Analyzer, recipe: dict[str, Any], shipped_folds: dict[int, dict[str, Any]]
) -> None:
    assert sorted(shipped_folds) == [0, 1, 2, 3, 4]
    per_fold = [shipped_folds[fold] for fold in sorted(shipped_folds)]
    assert recipe["crossval"]["mean"] == crossval.summarise(per_fold)["mean"]
    assert recipe["crossval"]["articles"] == 371
    assert analyzer.config["decoding"] == crossval.median_settings(per_fold)
    assert recipe["validation_articles"] == [] and recipe["validation_figures"] == {}


@pytest.mark.corpus
def test_shipped_model_was_trained_on_every_article_of_the_training_split(
    recipe: dict[str, Any], shared_ptc: Path
) -> None:
    assert recipe["train_articles"] == sorted(ptc.read_articles(shared_ptc / "articles"))
    assert recipe["data_sha256"] == datasets.data_digest(shared_ptc)


@pytest.mark.corpus
def test_shipped_model_reproduces_the_figures_recorded_when_it_was_built(
    analyzer: Analyzer, recipe: dict[str, Any], shared_ptc: Path
) -> None:
    from propscope import calibration

    fingerprint = recipe["fingerprint"]
    articles = ptc.read_articles(shared_ptc / "articles")
    encoded = calibration.encode_articles(analyzer, {i: articles[i] for i in fingerprint["articles"]})
    figures = calibration.measure(encoded, ptc.read_labels(shared_ptc / "labels-flc.tsv"), analyzer.settings)
    recorded = fingerprint["figures"]
    assert {k: v for k, v in figures.items() if k != "decoding"} == {k: v for k, v in recorded.items() if k != "decoding"}
    # A model built before a decoding parameter existed recorded none of it, and decodes at its default.
    assert all(figures["decoding"][name].items() >= recorded["decoding"][name].items() for name in recorded["decoding"])
