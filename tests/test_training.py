"""Training end to end on a tiny invented corpus with a tiny random encoder (seconds, not hours)."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from propscope import training
from propscope.cli import cli
from propscope.datasets import load_corpus
from propscope.errors import InputError
from propscope.model import Analyzer
from propscope.recipe import DEFAULT_CONFIG, load_config

from .conftest import PROPAGANDA, TINY_MEMES, TINY_NEWS, write_tiny_extra


def train(corpus: Path, encoder: Path, out: Path, *extra: str, config: Path | None = None) -> dict:
    overrides = [
        f'model.encoder="{encoder}"', "model.window_tokens=32", "model.inference_stride=24",
        "model.span_hidden=16", "train.epochs=2", "train.batch_size=4", "data.validation_fraction=0.25",
        "data.extra=[]", "data.extra_weights=[]",
        *extra,
    ]
    args = ["train", "--data", str(corpus), "--out", str(out)] + (["--config", str(config)] if config else [])
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "recipe.json").read_text())


def test_train_writes_a_loadable_model_with_card(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    recipe = train(tiny_corpus, tiny_encoder, tmp_path / "model")
    assert recipe["config"]["train"]["epochs"] == 2
    assert len(recipe["validation_articles"]) == 1
    assert set(recipe["validation_figures"]) >= {"low", "balanced", "high", "tc", "decoding"}
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "Validation figures" in card and "sha256" in card
    assert f"Article score: `1 - exp(-{recipe['config']['model']['score_rate']:g} * D)`" in card
    analyzer = Analyzer(tmp_path / "model")
    assert analyzer.span_words and analyzer.trust is not None  # from the training and validation articles
    analysis = analyzer.analyze(PROPAGANDA)
    assert analysis.text == PROPAGANDA and analysis.model.sha256 == analyzer.config["sha256"]
    assert analyzer.score_rate == recipe["config"]["model"]["score_rate"]


def test_train_with_extra_sources_uses_them(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    write_tiny_extra(tiny_corpus.parent)
    recipe = train(tiny_corpus, tiny_encoder, tmp_path / "model",
                   'data.extra=["../news", "../memes.jsonl"]', "data.extra_weights=[1.0, 0.5]")
    # n2 has no span in the later scheme, so it may be unannotated and is left out
    assert recipe["extra_texts"] == [len(TINY_NEWS) - 1, len(TINY_MEMES)]
    without = train(tiny_corpus, tiny_encoder, tmp_path / "plain")
    assert without["extra_texts"] == []
    assert recipe["training_log"][-1]["token_loss"] != without["training_log"][-1]["token_loss"]


def test_extra_sources_need_one_weight_each(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_corpus), "--out", str(tmp_path),
                                      "--set", 'data.extra=["../news"]', "--set", "data.extra_weights=[]"])
    assert result.exit_code == 1 and "names 1 sources but data.extra_weights gives 0 weights" in result.output


def test_training_is_reproducible(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    first = train(tiny_corpus, tiny_encoder, tmp_path / "a", "export.quantize=\"fp32\"")
    second = train(tiny_corpus, tiny_encoder, tmp_path / "b", "export.quantize=\"fp32\"")
    assert first["training_log"][-1]["token_loss"] == second["training_log"][-1]["token_loss"]


@pytest.mark.parametrize(("device", "message"), [
    ("tpu", 'train.device = \'tpu\': expected "cpu" or "cuda"'),
    pytest.param("cuda", 'train.device = "cuda" but torch sees no GPU here',
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
])
def test_training_device_is_checked(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path, device: str,
                                    message: str) -> None:
    overrides = [f'model.encoder="{tiny_encoder}"', "data.extra=[]", "data.extra_weights=[]",
                 "data.validation_fraction=0.25", f'train.device="{device}"']
    args = ["train", "--data", str(tiny_corpus), "--out", str(tmp_path / "model")]
    result = CliRunner().invoke(cli, args + [arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code == 1 and message in result.output, result.output


@pytest.mark.parametrize(("override", "message"), [
    ("train.nope=1", "expected section.key=value with a key the config has"),
    ("train.epochs=abc", "'abc' is not a TOML value (quote text: train.epochs=\"...\")"),
    ("train.epochs=6.5", "train.epochs takes a whole number, like 6"),
    ("train.bf16=1", "train.bf16 takes true or false, like false"),
])
def test_bad_override_is_explained(tiny_corpus: Path, tmp_path: Path, override: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["train", "--data", str(tiny_corpus), "--out", str(tmp_path), "--set", override])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_training_on_every_article_takes_the_decoding_from_the_config(
    tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    from propscope.recipe import DEFAULT_CONFIG

    settings = {"low": 0.6, "balanced": 0.45, "high": 0.3}
    config = tmp_path / "recipe.toml"
    config.write_text(DEFAULT_CONFIG.read_text() + "".join(
        f"\n[decoding.{name}]\nhigh = {high}\nlow = {high / 2}\nmax_gap = 2\n" for name, high in settings.items()))
    missing = CliRunner().invoke(cli, ["train", "--data", str(tiny_corpus), "--out", str(tmp_path / "m"),
                                       "--set", "data.validation_fraction=0", "--set", "data.extra=[]",
                                       "--set", "data.extra_weights=[]"])
    assert missing.exit_code == 1 and "give --crossval with a finished cross-validation of this recipe" in missing.output
    recipe = train(tiny_corpus, tiny_encoder, tmp_path / "model", "data.validation_fraction=0",
                   config=config)
    assert recipe["validation_articles"] == [] and len(recipe["train_articles"]) == 4
    analyzer = Analyzer(tmp_path / "model")
    assert {name: p.high for name, p in analyzer.settings.items()} == settings
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "no validation split" in card and "none held out" in card


def test_weight_averaging_changes_the_export_not_the_training(
    tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    import numpy as np

    plain = train(tiny_corpus, tiny_encoder, tmp_path / "plain", 'export.quantize="fp32"')
    averaged = train(tiny_corpus, tiny_encoder, tmp_path / "ema", 'export.quantize="fp32"', "train.ema_decay=0.5")
    assert plain["training_log"][-1]["token_loss"] == averaged["training_log"][-1]["token_loss"]
    with np.load(tmp_path / "plain" / "span_head.npz") as a, np.load(tmp_path / "ema" / "span_head.npz") as b:
        assert not np.allclose(a["out_weight"], b["out_weight"])


def test_a_teacher_trains_first_and_shapes_the_student_targets(
    tiny_corpus: Path, tiny_encoder: Path, tiny_teacher: Path, tmp_path: Path
) -> None:
    write_tiny_extra(tiny_corpus.parent)
    extra = ['data.extra=["../news"]', "data.extra_weights=[1.0]"]
    taught = train(tiny_corpus, tiny_encoder, tmp_path / "taught", *extra, f'distill.teacher="{tiny_teacher}"',
                   "distill.teacher_epochs=3")
    plain = train(tiny_corpus, tiny_encoder, tmp_path / "plain", *extra)
    assert [row.get("model") for row in taught["training_log"]] == ["teacher"] * 3 + ["student"] * 2
    assert taught["config"]["distill"]["teacher"] == str(tiny_teacher)
    assert taught["training_log"][-1]["token_loss"] != plain["training_log"][-1]["token_loss"]
    card = (tmp_path / "taught" / "MODEL_CARD.md").read_text()
    assert f"the teacher `{tiny_teacher}` first trains" in card and "| teacher 3 |" in card
    assert "Distilled" not in (tmp_path / "plain" / "MODEL_CARD.md").read_text()
    assert Analyzer(tmp_path / "taught").analyze(PROPAGANDA).text == PROPAGANDA


def test_teacher_probabilities_reach_the_student_tokens_through_characters() -> None:
    import numpy as np

    from propscope.text import Tokens, carry_over

    def tokens(*spans: tuple[int, int]) -> Tokens:
        return Tokens(ids=np.arange(len(spans)), char_spans=np.asarray(spans))

    # "deplorable thugs!": the teacher cuts "de|plorable", the student "deplor|able", and only
    # the student keeps "!" as a token.
    teacher = tokens((0, 2), (2, 10), (11, 16))
    values = np.asarray([[1.0, 0.0], [0.5, 0.2], [0.2, 0.9]], dtype=np.float32)
    student = tokens((0, 6), (6, 10), (11, 16), (16, 17))
    carried = carry_over(teacher, values, student)
    np.testing.assert_allclose(carried[0], [(2 * 1.0 + 4 * 0.5) / 6, (2 * 0.0 + 4 * 0.2) / 6], rtol=1e-6)
    np.testing.assert_allclose(carried[1:3], values[1:3])
    assert np.isnan(carried[3]).all()


@pytest.mark.parametrize(("override", "message"), [
    ('distill.teacher="nowhere/encoder"', "nowhere/encoder: no such encoder folder"),
    ('distill.teacher=".teachers/all-mpnet-base-v2"', "`make teacher` puts all-mpnet-base-v2 there"),
    ("distill.weight=1.5", "distill.weight = 1.5: expected the teacher's share of the targets, from 0 to 1"),
])
def test_a_bad_teacher_is_explained(tiny_corpus: Path, tiny_encoder: Path, tiny_teacher: Path, tmp_path: Path,
                                    override: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = [f'model.encoder="{tiny_encoder}"', "data.extra=[]", "data.extra_weights=[]",
                 "data.validation_fraction=0.25", f'distill.teacher="{tiny_teacher}"', override]
    args = ["train", "--data", str(tiny_corpus), "--out", str(tmp_path / "model")]
    result = CliRunner().invoke(cli, args + [arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_from_its_last_epoch_to_the_same_weights(
    tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    config = load_config(DEFAULT_CONFIG, [f'model.encoder="{tiny_encoder}"', "model.window_tokens=32",
                                          "model.span_hidden=16", "train.epochs=3", "train.batch_size=2",
                                          "data.extra=[]", "data.extra_weights=[]"])
    corpus = load_corpus(tiny_corpus, config["data"])
    whole, whole_log = training.fit(config, corpus)

    steps: list[int] = []

    def cut_in_the_last_epoch(stage: str, done: int, total: int) -> None:
        steps.append(done)
        if done == total:  # the last step has run, its epoch is not yet saved
            raise Interrupted

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(Interrupted):
        training.fit(config, corpus, checkpoints=checkpoints, progress=cut_in_the_last_epoch)
    per_epoch = steps[-1] // 3
    steps.clear()
    resumed, resumed_log = training.fit(config, corpus, checkpoints=checkpoints,
                                        progress=lambda stage, done, total: steps.append(done))
    assert steps[0] == 2 * per_epoch + 1  # only the last epoch ran again
    assert [row["token_loss"] for row in resumed_log] == [row["token_loss"] for row in whole_log]
    for name, weights in whole.state_dict().items():
        assert torch.equal(weights, resumed.state_dict()[name]), name

    other = {**config, "train": {**config["train"], "encoder_lr": 1e-3}}
    with pytest.raises(InputError, match="checkpoint is of another recipe or other training texts"):
        training.fit(other, corpus, checkpoints=checkpoints)
    (checkpoints / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"not a readable training checkpoint.*delete it to start over"):
        training.fit(config, corpus, checkpoints=checkpoints)


def test_train_leaves_no_checkpoint_behind(tiny_corpus: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    train(tiny_corpus, tiny_encoder, tmp_path / "model")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus", "model"]
