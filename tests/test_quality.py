"""The shipped model against the acceptance floors of its cross-validation, and against its own
recorded figures.

The fingerprint test needs the PTC training split in ../shared/data/ptc-train: without it,
it is skipped with a reason, or fails when PROPSCOPE_REQUIRE_CORPUS=1.
"""

import json

import pytest

from propscope import calibration, ptc
from propscope.model import Analyzer

# Cross-validated means over 5 folds (propscope crossval) that the shipped recipe must reach.
FLOORS = {"si": 0.46, "tc": 0.63, "flc": 0.26, "slc": 0.62, "spearman": 0.55}


@pytest.fixture(scope="module")
def recipe(analyzer: Analyzer) -> dict:
    return json.loads((analyzer.model_dir / "recipe.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_crossval_of_the_shipped_recipe_reaches_the_floor(recipe: dict, key: str) -> None:
    assert recipe["crossval"]["folds"] == 5
    assert recipe["crossval"]["mean"][key] >= FLOORS[key]


@pytest.mark.corpus
def test_shipped_model_reproduces_its_fingerprint(analyzer: Analyzer, recipe: dict, shared_ptc) -> None:
    ids = set(recipe["fingerprint"]["articles"])
    articles = {i: t for i, t in ptc.read_articles(shared_ptc / "articles").items() if i in ids}
    gold = [row for row in ptc.read_labels(shared_ptc / "labels-flc.tsv") if row.article_id in ids]
    assert len(articles) == len(ids) > 30
    measured = calibration.measure(calibration.encode_articles(analyzer, articles), gold, analyzer.settings)
    recorded = recipe["fingerprint"]["figures"]
    for setting in ("low", "balanced", "high"):
        for key in ("si", "flc", "slc"):
            assert measured[setting][key]["f1"] == pytest.approx(recorded[setting][key]["f1"], abs=1e-3)
    assert measured["tc"]["micro_f1"] == pytest.approx(recorded["tc"]["micro_f1"], abs=1e-3)
