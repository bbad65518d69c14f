"""Cross-validation end to end on the tiny invented corpus with a tiny random encoder."""

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from propscope import crossval, datasets, folds, span_filter
from propscope.cli import cli
from propscope.errors import InputError
from propscope.ptc import LabelledSpan

from .conftest import TINY_ARTICLES, write_tiny_corpus

TINY_RECIPE = [
    "model.window_tokens=32", "model.inference_stride=24", "model.span_hidden=16", "train.epochs=1",
    "train.batch_size=4", "data.tune_fraction=0.25", "data.extra=[]", "data.extra_weights=[]",
]


def with_recipe(args: list[str], encoder: Path, *extra: str) -> list[str]:
    for override in [f'model.encoder="{encoder}"', *TINY_RECIPE, *extra]:
        args += ["--set", override]
    return args


def read_assignment(out: Path) -> dict[str, int]:
    """The fold of each article, from a run's ``folds.tsv``."""
    return {i: int(f) for i, f in (line.split("\t") for line in (out / "folds.tsv").read_text().splitlines())}


@pytest.fixture(scope="module")
def tiny_cv(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> tuple[Path, Path, list[str]]:
    """(corpus, run folder, command) of a finished 2-fold cross-validation."""
    folder = tmp_path_factory.mktemp("cv")
    corpus = write_tiny_corpus(folder / "corpus")
    args = with_recipe(["crossval", "--data", str(corpus), "--out", str(folder / "cv"), "--folds", "2"], tiny_encoder)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "spearman" in result.output and "± " in result.output
    assert re.search(r"^\d\d:\d\d:\d\d Train 1/\d+$", result.output, re.MULTILINE)  # progress in a log
    return corpus, folder / "cv", args


def invented_articles(n: int, seed: int = 0) -> dict[str, str]:
    """``n`` articles of random words that share nothing but a signature line."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]
    return {str(i): " ".join(rng.choices(words, k=120)) + "\nShare this story with your friends on social media."
            for i in range(n)}


def test_folds_deal_every_article_once_and_evenly() -> None:
    texts = invented_articles(11)
    assignment = folds.assign(texts, 3, seed=1)
    assert sorted(assignment) == sorted(texts)
    assert sorted(list(assignment.values()).count(k) for k in range(3)) == [3, 4, 4]
    assert assignment == folds.assign(dict(reversed(texts.items())), 3, seed=1)
    assert assignment != folds.assign(texts, 3, seed=2)
    assert folds.near_duplicate_pairs(texts) == []  # a shared signature is not a shared story


def test_near_duplicates_always_share_a_fold() -> None:
    texts = invented_articles(100)
    rng = random.Random(5)
    for original, copy in [("0", "copy-of-0"), ("1", "update-of-1"), ("update-of-1", "update-2-of-1")]:
        words = texts[original].split()
        kept = words[: len(words) // 3] + [f"new{rng.randrange(10**6)}" for _ in range(len(words))]
        texts[copy] = " ".join(kept)  # a third of the story again, and as much that is new
    pairs = {(a, b) for a, b, _ in folds.near_duplicate_pairs(texts)}
    assert pairs == {("0", "copy-of-0"), ("1", "update-of-1"), ("update-2-of-1", "update-of-1"),
                     ("1", "update-2-of-1")}
    assert ["1", "update-2-of-1", "update-of-1"] in folds.groups(texts)
    for seed in range(20):
        assignment = folds.assign(texts, 5, seed)
        assert assignment["0"] == assignment["copy-of-0"]
        assert assignment["1"] == assignment["update-of-1"] == assignment["update-2-of-1"]
        assert sorted(list(assignment.values()).count(k) for k in range(5)) == [20, 20, 21, 21, 21]


@pytest.mark.parametrize(("n_ids", "k", "message"), [(3, 5, "only 3 articles, fewer than the folds"),
                                                      (10, 1, "at least 2 folds")])
def test_assign_folds_refuses_impossible_folds(n_ids: int, k: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        folds.assign(invented_articles(n_ids), k, seed=0)


def test_crossval_predicts_every_article_out_of_fold(tiny_cv: tuple[Path, Path, list[str]]) -> None:
    _, out, _ = tiny_cv
    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds"] == 2 and set(summary["mean"]) == set(crossval.HEADLINE)
    assert set(summary["settings"]) == set(summary["decoding"]) == {"low", "balanced", "high"}
    folds = dict(line.split("\t") for line in (out / "folds.tsv").read_text().splitlines())
    assert sorted(folds) == sorted(TINY_ARTICLES)
    # Every gold span of every article gets exactly one out-of-fold technique.
    n_gold = sum(len(spans) for _, spans in TINY_ARTICLES.values())
    assert len((out / "tc.tsv").read_text().splitlines()) == n_gold
    assert sum(t["gold_spans"] for t in summary["flc_per_technique"].values()) == n_gold
    assert set(summary["label_trust"]) == {"floor", "precision", "calibration"}
    for fold in range(2):
        config = json.loads((out / f"fold-{fold}" / "model" / "config.json").read_text())
        assert "label_trust" in config  # fit inside the folds
        recipe = json.loads((out / f"fold-{fold}" / "model" / "recipe.json").read_text())
        tested = {i for i, f in folds.items() if int(f) == fold}
        assert not tested & set(recipe["train_articles"] + recipe["validation_articles"])


def test_tuning_pool_takes_every_model_s_held_out_articles_but_the_fold_s_own() -> None:
    assignment = {"a": 0, "b": 0, "c": 1, "d": 1, "e": 2, "f": 2}
    held_out = {0: ["c", "e"], 1: ["a", "e", "f"], 2: ["b", "d"]}
    assert crossval.tuning_pool(assignment, held_out, 0) == {"c": 0, "e": 0, "f": 1, "d": 2}
    assert crossval.tuning_pool(assignment, held_out, 1) == {"a": 1, "e": 1, "f": 1, "b": 2}
    assert crossval.tuning_pool(assignment, held_out, 2) == {"b": 2, "d": 2, "c": 0, "a": 1}


def test_without_held_out_parts_the_pools_are_the_other_folds_out_of_fold_articles() -> None:
    assignment = {"a": 0, "b": 0, "c": 1, "d": 2}
    unseen = {0: ["a", "b"], 1: ["c"], 2: ["d"]}
    assert crossval.tuning_pool(assignment, unseen, 0) == {"c": 1, "d": 2}
    assert crossval.tuning_pool(assignment, unseen, 2) == {"a": 0, "b": 0, "c": 1}


def test_every_fold_is_tuned_on_the_pool_of_held_out_articles(tiny_cv: tuple[Path, Path, list[str]]) -> None:
    _, out, _ = tiny_cv
    assignment = read_assignment(out)
    held_out = {k: crossval.held_out_ids(out / f"fold-{k}") for k in range(2)}
    for fold in range(2):
        figures = json.loads((out / f"fold-{fold}" / "figures.json").read_text())
        assert figures["tuned_on"] == len(crossval.tuning_pool(assignment, held_out, fold)) > 0
        decoding = json.loads((out / f"fold-{fold}" / "model" / "config.json").read_text())["decoding"]
        assert figures["decoding"] == decoding


def test_crossval_rerun_trains_nothing(tiny_cv: tuple[Path, Path, list[str]]) -> None:
    _, out, args = tiny_cv
    summary = json.loads((out / "summary.json").read_text())
    stamp = (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns == stamp
    assert json.loads((out / "summary.json").read_text()) == summary


def test_retune_measures_finished_folds_again_without_training(tiny_cv: tuple[Path, Path, list[str]]) -> None:
    _, out, args = tiny_cv
    stamp = (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns
    figures = json.loads((out / "fold-0" / "figures.json").read_text())
    again = CliRunner().invoke(cli, [*args, "--retune"])
    assert again.exit_code == 0, again.output
    assert (out / "fold-0" / "model" / "model.onnx").stat().st_mtime_ns == stamp
    retuned = json.loads((out / "fold-0" / "figures.json").read_text())
    assert retuned["balanced"] == figures["balanced"] and retuned["minutes"] == figures["minutes"]


BLOCKED_TRAINING = """
import sys
for name in ("torch", "transformers"):
    sys.modules[name] = None  # import torch now raises ImportError, as where the train extra is missing
from propscope.cli import main
sys.argv = ["propscope", *sys.argv[1:]]
main()
"""


def test_retune_needs_no_torch(tiny_cv: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    _, out, args = tiny_cv
    copy = tmp_path / "cv"
    shutil.copytree(out, copy)
    args = [str(copy) if arg == str(out) else arg for arg in args]
    result = subprocess.run([sys.executable, "-c", BLOCKED_TRAINING, *args, "--retune"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "spearman" in result.stdout
    assert json.loads((copy / "summary.json").read_text())["mean"] == json.loads((out / "summary.json").read_text())["mean"]
    blocked = subprocess.run([sys.executable, "-c", BLOCKED_TRAINING, *args[:4], str(tmp_path / "new"), *args[5:]],
                             capture_output=True, text=True, timeout=600)
    assert blocked.returncode == 1 and "training needs torch and transformers" in blocked.stderr


def test_final_model_card_reports_the_crossval(
    tiny_cv: tuple[Path, Path, list[str]], tiny_encoder: Path, tmp_path: Path
) -> None:
    corpus, out, _ = tiny_cv
    summary = json.loads((out / "summary.json").read_text())
    earlier = tmp_path / "cv-earlier"  # another recipe's run on the same folds, as a baseline
    earlier.mkdir()
    earlier_summary = {**summary, "mean": {key: value / 2 for key, value in summary["mean"].items()}}
    (earlier / "summary.json").write_text(json.dumps(earlier_summary))
    args = ["train", "--data", str(corpus), "--out", str(tmp_path / "model"), "--crossval", str(out)]
    result = CliRunner().invoke(cli, with_recipe([*args, "--baseline", str(earlier)], tiny_encoder,
                                                 "data.validation_fraction=0"))
    assert result.exit_code == 0, result.output
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "## Cross-validated figures" in card
    assert "trained by this recipe on the other folds, less 25% of them held out, and" in card
    si_row = next(line for line in card.splitlines() if line.startswith("| SI F1"))
    assert si_row == (f"| SI F1 (span identification) | {summary['mean']['si']:.3f} | {summary['sd']['si']:.3f} |"
                      f" {summary['mean']['si'] / 2:.3f} ± {summary['sd']['si']:.3f} |")
    assert "`cv-earlier`, same folds" in card
    assert "then `propscope train --data PTC_DIR --out models/propscope-minilm --crossval CV_DIR`" in card
    for label, t in summary["flc_per_technique"].items():
        assert f"| {label} | {t['gold_spans']} | {t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} |" in card
    shipped = json.loads((tmp_path / "model" / "config.json").read_text())["decoding"]
    assert shipped == summary["decoding"]
    other = CliRunner().invoke(cli, with_recipe(args, tiny_encoder, "data.validation_fraction=0", "train.epochs=2"))
    assert other.exit_code == 1 and "that cross-validation ran another recipe (it differs in train.epochs)" in other.output


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": 7}, "is not on the same folds as --crossval (seed 7, not 2020)"),
    ({"per_fold": []}, "has 0 folds on record and --crossval has 2"),
    ({"per_fold": None}, "not a finished cross-validation run"),
])
def test_baseline_on_other_folds_is_refused(
    tiny_cv: tuple[Path, Path, list[str]], tiny_encoder: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    corpus, out, _ = tiny_cv
    summary = json.loads((out / "summary.json").read_text())
    baseline = {key: value for key, value in (summary | change).items() if value is not None}
    (tmp_path / "summary.json").write_text(json.dumps(baseline))
    args = ["train", "--data", str(corpus), "--out", str(tmp_path / "model"), "--crossval", str(out),
            "--baseline", str(tmp_path)]
    result = CliRunner().invoke(cli, with_recipe(args, tiny_encoder))
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "model").exists()


def test_baseline_without_crossval_is_refused(tiny_cv: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    corpus, out, _ = tiny_cv
    result = CliRunner().invoke(cli, ["train", "--data", str(corpus), "--out", str(tmp_path / "model"),
                                      "--baseline", str(out)])
    assert result.exit_code == 1 and "give --crossval too" in result.output


def test_crossval_with_more_folds_than_articles_is_explained(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["crossval", "--data", str(tiny_corpus), "--out", str(tmp_path / "cv"),
                                      "--folds", "5", "--set", "data.extra=[]", "--set", "data.extra_weights=[]"])
    assert result.exit_code == 1
    assert "--folds 5: the folder has only 4 articles, fewer than the folds" in result.output


def test_one_fold_at_a_time(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    args = with_recipe(["crossval", "--data", str(tiny_corpus), "--out", str(tmp_path / "cv"), "--folds", "2",
                        "--fold", "1"], tiny_encoder)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Folds 1 of 2 only" in result.output
    assert not (tmp_path / "cv" / "fold-0").exists() and (tmp_path / "cv" / "fold-1" / "figures.json").is_file()
    summary = json.loads((tmp_path / "cv" / "summary.json").read_text())
    assert summary["folds"] == 1 and "decoding" not in summary
    refused = CliRunner().invoke(cli, ["train", "--data", str(tiny_corpus), "--out", str(tmp_path / "m"),
                                       "--crossval", str(tmp_path / "cv"), *args[args.index("--set"):]])
    assert refused.exit_code == 1 and "has not finished every fold" in refused.output


def test_without_held_out_parts_each_fold_trains_on_all_the_others_and_is_tuned_on_their_predictions(
    tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(span_filter, "MIN_SPANS", 1)  # the tiny articles propose a few spans each
    out = tmp_path / "cv"
    args = with_recipe(["crossval", "--data", str(tiny_corpus), "--out", str(out), "--folds", "2"], tiny_encoder,
                       "data.tune_fraction=0")
    first = CliRunner().invoke(cli, [*args, "--fold", "0"])
    assert first.exit_code == 0, first.output
    assert "at the default decoding until every fold is trained and tuned on the pool" in first.output
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assignment = read_assignment(out)
    for fold in range(2):
        config = json.loads((out / f"fold-{fold}" / "model" / "config.json").read_text())
        assert "label_trust" in config  # fit inside the folds
        recipe = json.loads((out / f"fold-{fold}" / "model" / "recipe.json").read_text())
        assert recipe["validation_articles"] == []
        assert sorted(recipe["train_articles"]) == sorted(i for i, f in assignment.items() if f != fold)
        figures = json.loads((out / f"fold-{fold}" / "figures.json").read_text())
        assert figures["tune_articles"] == 0 and figures["tuned_on"] == len(recipe["train_articles"])
    final = CliRunner().invoke(cli, with_recipe(["train", "--data", str(tiny_corpus), "--out", str(tmp_path / "model"),
                                                 "--crossval", str(out)], tiny_encoder,
                                                "data.tune_fraction=0", "data.validation_fraction=0"))
    assert final.exit_code == 0, final.output
    trust = json.loads((out / "label_trust.json").read_text())
    assert json.loads((tmp_path / "model" / "config.json").read_text())["label_trust"] == trust  # fit out of fold
    card = " ".join((tmp_path / "model" / "MODEL_CARD.md").read_text().split())
    assert ("on the other folds (all of them, as the final model trains on every article), and predicts the fold; "
            "its decoding is tuned on the other folds' out-of-fold predictions.") in card
    summary = json.loads((out / "summary.json").read_text())
    shipped = json.loads((tmp_path / "model" / "config.json").read_text())
    assert summary["span_filter"] is not None and shipped["span_filter"] == summary["span_filter"]
    assert shipped["decoding"] == summary["decoding"]
    refused = CliRunner().invoke(cli, [*args, "--fold", "1", "--retune"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "--retune --fold 1: the fold's model holds no article out to tune on" in refused.output


def test_fold_outside_the_folds_is_explained(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["crossval", "--data", str(tiny_corpus), "--out", str(tmp_path / "cv"),
                                      "--folds", "2", "--fold", "2"])
    assert result.exit_code == 1
    assert "--fold 2: the folds are numbered 0 to 1" in result.output


def test_a_cross_validation_from_before_distillation_is_the_same_recipe_without_a_teacher(tmp_path: Path) -> None:
    from propscope.recipe import DEFAULT_CONFIG, load_config

    config = load_config(DEFAULT_CONFIG)
    before = {section: values for section, values in config.items() if section != "distill"}
    (tmp_path / "config.json").write_text(json.dumps(before))
    crossval.check_same_recipe(tmp_path, config)
    with pytest.raises(InputError, match=r"it differs in distill\.teacher, "):
        crossval.check_same_recipe(tmp_path, load_config(DEFAULT_CONFIG, ['distill.teacher="teachers/x"']))


def test_a_run_folder_of_other_folds_is_refused(tiny_cv: tuple[Path, Path, list[str]], tmp_path: Path) -> None:
    _, out, args = tiny_cv
    shutil.copy(out / "config.json", tmp_path / "config.json")
    assignment = read_assignment(out)
    (tmp_path / "folds.tsv").write_text("".join(f"{i}\t{1 - f}\n" for i, f in sorted(assignment.items())))
    moved = [str(tmp_path) if arg == str(out) else arg for arg in args]
    result = CliRunner().invoke(cli, moved)
    assert result.exit_code == 1
    assert "its folds were dealt otherwise (another corpus, seed or fold grouping); give a new --out" in result.output
    assert not (tmp_path / "fold-0").exists()


def test_a_corpus_of_several_languages_is_scored_per_language_with_masked_stretches_neutral() -> None:
    articles = {"f1": "Ces traîtres mentent. Le maire ment aussi.\n", "r1": "Эти предатели лгут.\n"}
    gold = [LabelledSpan("f1", "Name_Calling,Labeling", 4, 12), LabelledSpan("r1", "Name_Calling,Labeling", 4, 13)]
    corpus = datasets.Corpus(articles, gold, [], [], masked={"f1": ((22, 42),)}, languages={"f1": "fr", "r1": "ru"})
    pred = [LabelledSpan("f1", "Name_Calling,Labeling", 4, 12),
            LabelledSpan("f1", "Loaded_Language", 25, 30),   # inside the masked stretch: counts neither way
            LabelledSpan("r1", "Loaded_Language", 14, 18)]
    figures = crossval.by_language(articles, gold, pred, {"f1": 0.9, "r1": 0.1}, {"f1": 0.5, "r1": 0.2}, corpus)
    assert figures["fr"]["flc"] == 1.0 and figures["fr"]["si"] == 1.0 and figures["fr"]["articles"] == 1
    assert figures["ru"]["flc"] == 0.0 and figures["ru"]["si"] == 0.0
    unmasked = datasets.Corpus(articles, gold, [], [], languages=corpus.languages)
    assert crossval.by_language(articles, gold, pred, {"f1": 0.9, "r1": 0.1}, {"f1": 0.5, "r1": 0.2},
                                unmasked)["fr"]["flc_precision"] == 0.5
