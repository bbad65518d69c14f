"""Cross-validation end to end on the tiny invented corpus with a tiny random encoder."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from propscope import crossval
from propscope.cli import cli
from propscope.errors import InputError

from .conftest import TINY_ARTICLES

TINY_RECIPE = [
    "model.window_tokens=32", "model.inference_stride=24", "model.span_hidden=16", "train.epochs=1",
    "train.batch_size=4", "data.validation_fraction=0.25",
]


def test_assign_folds_deals_every_article_once_and_evenly() -> None:
    ids = [str(i) for i in range(11)]
    folds = crossval.assign_folds(ids, 3, seed=1)
    assert sorted(folds) == sorted(ids)
    assert sorted(list(folds.values()).count(k) for k in range(3)) == [3, 4, 4]
    assert folds == crossval.assign_folds(list(reversed(ids)), 3, seed=1)
    assert folds != crossval.assign_folds(ids, 3, seed=2)


@pytest.mark.parametrize(("n_ids", "k", "message"), [(3, 5, "only 3 articles, fewer than the folds"),
                                                      (10, 1, "at least 2 folds")])
def test_assign_folds_refuses_impossible_folds(n_ids: int, k: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        crossval.assign_folds([str(i) for i in range(n_ids)], k, seed=0)


def test_crossval_cli_reports_figures_and_resumes(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv"
    args = ["crossval", "--data", str(tiny_corpus), "--out", str(out), "--folds", "2",
            "--set", f'model.encoder="{tiny_encoder}"']
    for override in TINY_RECIPE:
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "spearman" in result.output and "± " in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds"] == 2 and set(summary["mean"]) == set(crossval.HEADLINE)
    folds = dict(line.split("\t") for line in (out / "folds.tsv").read_text().splitlines())
    assert sorted(folds) == sorted(TINY_ARTICLES)
    # Every gold span of every article gets exactly one out-of-fold technique.
    n_gold = sum(len(spans) for _, spans in TINY_ARTICLES.values())
    assert len((out / "tc.tsv").read_text().splitlines()) == n_gold
    for fold in range(2):
        recipe = json.loads((out / f"fold-{fold}" / "model" / "recipe.json").read_text())
        tested = {i for i, f in folds.items() if int(f) == fold}
        assert not tested & set(recipe["train_articles"] + recipe["validation_articles"])

    # A second run trains nothing: the finished folds are kept.
    stamp = (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns == stamp
    assert json.loads((out / "summary.json").read_text()) == summary


def test_crossval_with_more_folds_than_articles_is_explained(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["crossval", "--data", str(tiny_corpus), "--out", str(tmp_path / "cv"),
                                      "--folds", "5"])
    assert result.exit_code == 1
    assert "--folds 5: the folder has only 4 articles, fewer than the folds" in result.output
