"""The shipped model against the acceptance floors, on its held-out PTC articles.

Needs the PTC training split in ../shared/data/ptc-train: without it these tests fail,
they never pass silently.
"""

import json

import pytest

from propscope import ptc
from propscope.calibration import measure
from propscope.model import Analyzer

FLOORS = {"si": 0.40, "flc": 0.20, "slc": 0.55}
TC_FLOOR = 0.55

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def figures(analyzer: Analyzer, shared_ptc) -> dict:
    recipe = json.loads((analyzer.model_dir / "recipe.json").read_text(encoding="utf-8"))
    held_out = set(recipe["validation_articles"])
    articles = {i: t for i, t in ptc.read_articles(shared_ptc / "articles").items() if i in held_out}
    gold = [row for row in ptc.read_labels(shared_ptc / "labels-flc.tsv") if row.article_id in held_out]
    assert len(articles) == len(held_out) > 30
    return {"measured": measure(analyzer, articles, gold), "card": recipe["validation_figures"]}


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_span_figures_reach_the_floor(figures: dict, key: str) -> None:
    assert figures["measured"][key]["f1"] >= FLOORS[key]


def test_technique_classification_reaches_the_floor(figures: dict) -> None:
    assert figures["measured"]["tc"]["micro_f1"] >= TC_FLOOR


def test_model_card_figures_are_reproduced(figures: dict) -> None:
    for key in ("si", "flc", "slc"):
        assert figures["measured"][key]["f1"] == pytest.approx(figures["card"][key]["f1"], abs=1e-3)
    assert figures["measured"]["tc"]["micro_f1"] == pytest.approx(figures["card"]["tc"]["micro_f1"], abs=1e-3)
