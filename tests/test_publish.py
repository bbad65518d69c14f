"""Shipping one fold's model (``propscope publish``): a tiny multilingual cross-validation fold,
published with its held-out figures per language and zero-shot figures on Bulgarian."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from propscope.cli import cli
from propscope.language import Readers
from propscope.model import shipped_model_dir

from .conftest import SENTENCES, tiny_multilingual_recipe


@pytest.fixture(scope="module")
def fold_run(tiny_multilingual_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tiny_multilingual_model.parent
    out = tmp_path_factory.mktemp("publish") / "cv"
    args = ["crossval", "--data", str(root / "corpus"), "--out", str(out), "--folds", "2", "--fold", "0",
            *tiny_multilingual_recipe(root / "encoder"), "--set", "data.tune_fraction=0.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


def bulgarian_folder(folder: Path) -> Path:
    text = SENTENCES["bg"]
    (folder / "bg").mkdir(parents=True)
    (folder / "bg" / "articleb1.txt").write_text(text, encoding="utf-8")
    start = text.index("предатели")
    (folder / "labels-flc.tsv").write_text(f"b1\tName_Calling,Labeling\t{start}\t{start + 9}\n", encoding="utf-8")
    return folder


def test_a_published_fold_carries_its_held_out_and_zero_shot_figures(fold_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "propscope-multilingual"
    args = ["publish", "--crossval", str(fold_run), "--fold", "0", "--out", str(out),
            "--zero-shot", str(bulgarian_folder(tmp_path / "bg-test"))]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    measured = json.loads((fold_run / "fold-0" / "figures.json").read_text(encoding="utf-8"))["by_language"]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert {code: figures for code, figures in config["languages"].items() if figures} == measured
    assert set(config["zero_shot"]) == {"bg"} and config["zero_shot"]["bg"]["articles"] == 1
    for code, figures in measured.items():
        assert f"{code:<4} held out   SI {figures['si']:.4f}" in result.output
    assert "bg   zero-shot" in result.output

    recipe = json.loads((out / "recipe.json").read_text(encoding="utf-8"))
    held_out = [line.split("\t")[0] for line in (fold_run / "folds.tsv").read_text(encoding="utf-8").splitlines()
                if line.endswith("\t0")]
    assert recipe["fold"]["test_articles"] == sorted(held_out)
    assert not set(held_out) & set(recipe["train_articles"] + recipe["validation_articles"])
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"Held out: the {len(held_out)} articles of fold 0 of 2" in card
    assert "| bg | zero-shot | 1 |" in card and "propscope publish --crossval CV_DIR --fold 0 --zero-shot bg-test" in card

    bulgarian = Readers(shipped_model_dir(), out).analyze(SENTENCES["bg"], language="bg")
    zero_shot = config["zero_shot"]["bg"]
    assert bulgarian.language is not None and bulgarian.language.note == (
        "not trained on Bulgarian; measured on Bulgarian articles without training on any: "
        f"SI {zero_shot['si']:.2f}, FLC {zero_shot['flc']:.2f}")


def test_zero_shot_figures_on_a_trained_language_are_refused(
    fold_run: Path, tiny_multilingual_model: Path, tmp_path: Path
) -> None:
    corpus = tiny_multilingual_model.parent / "corpus"
    result = CliRunner().invoke(cli, ["publish", "--crossval", str(fold_run), "--fold", "0",
                                      "--out", str(tmp_path / "model"), "--zero-shot", str(corpus)])
    assert result.exit_code == 1 and "a language the model trained on" in result.output
    assert not (tmp_path / "model").exists()


def test_publishing_an_unfinished_fold_is_explained(fold_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["publish", "--crossval", str(fold_run), "--fold", "1", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1 and "no finished fold there" in result.output and "--fold 1" in result.output
