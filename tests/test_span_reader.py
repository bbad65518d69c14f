"""The span reader: its marked inputs, its training, and how a model folder uses it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from propscope import techniques
from propscope.cli import cli
from propscope.errors import ModelError
from propscope.model import Analyzer, shipped_model_dir
from propscope.span_reader import MAX_SPAN_TOKENS, LineContext, Marks, marked_ids
from propscope.text import load_tokenizer, tokenize

from .conftest import TINY_ARTICLES
from .test_crossval import with_recipe
from .test_training import train

TOKENIZER = load_tokenizer(shipped_model_dir() / "tokenizer.json")
MARKS = Marks.of(TOKENIZER)
TEXT = "A quiet first line.\nThe corrupt elite betrayed our glorious nation again, he said.\nA last line."


def decoded(ids: list[int]) -> str:
    return TOKENIZER.decode(ids, skip_special_tokens=False)


def test_the_span_sits_between_the_marks_inside_its_own_line() -> None:
    start = TEXT.index("corrupt elite")
    ids = marked_ids(tokenize(TOKENIZER, TEXT), LineContext(TEXT), start, start + len("corrupt elite"), MARKS, 128)
    assert ids[0] == MARKS.cls_id and ids[-1] == MARKS.sep_id
    assert decoded(ids[ids.index(MARKS.open_id) + 1 : ids.index(MARKS.close_id)]) == "corrupt elite"
    assert decoded(ids[1 : ids.index(MARKS.open_id)]) == "the"
    assert decoded(ids[ids.index(MARKS.close_id) + 1 : -1]) == "betrayed our glorious nation again, he said."


def test_a_span_over_two_lines_reads_both_and_no_more() -> None:
    start = TEXT.index("he said")
    end = TEXT.index("A last") + len("A last")
    ids = marked_ids(tokenize(TOKENIZER, TEXT), LineContext(TEXT), start, end, MARKS, 128)
    assert decoded(ids[1 : ids.index(MARKS.open_id)]).startswith("the corrupt elite")
    assert decoded(ids[ids.index(MARKS.close_id) + 1 : -1]) == "line."


def test_long_context_is_cut_evenly_and_a_long_span_keeps_its_ends() -> None:
    text = " ".join(f"w{i}" for i in range(400))
    tokens = tokenize(TOKENIZER, text)
    start = text.index("w200")
    ids = marked_ids(tokens, LineContext(text), start, start + len("w200"), MARKS, 64)
    assert len(ids) == 64
    left, right = ids.index(MARKS.open_id) - 1, len(ids) - 2 - ids.index(MARKS.close_id)
    assert abs(left - right) <= 1
    whole = marked_ids(tokens, LineContext(text), 0, len(text), MARKS, 128)
    span = whole[whole.index(MARKS.open_id) + 1 : whole.index(MARKS.close_id)]
    assert len(span) == MAX_SPAN_TOKENS
    assert span[:3] == tokens.ids[:3].tolist() and span[-3:] == tokens.ids[-3:].tolist()


@pytest.fixture(scope="module")
def read_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    """A tiny model whose reader trained long enough to learn the tiny corpus's spans."""
    from .conftest import write_tiny_corpus

    folder = tmp_path_factory.mktemp("reader")
    corpus = write_tiny_corpus(folder)
    train(corpus, tiny_encoder, folder / "model", "reader.weight=0.5", "reader.epochs=40", "reader.head_lr=0.01",
          "reader.encoder_lr=0.001")
    return folder / "model"


def test_a_trained_reader_names_its_training_spans_and_is_mixed_with_the_span_head(
    read_model: Path, tmp_path: Path
) -> None:
    config = json.loads((read_model / "config.json").read_text())
    assert config["span_reader"]["weight"] == 0.5 and len(config["span_reader"]["training_log"]) == 40
    card = (read_model / "MODEL_CARD.md").read_text()
    assert "Span reader:" in card and "| `span_reader.onnx` |" in card and "0.5 the reader's" in card
    with_reader = Analyzer(read_model)
    assert with_reader.reader is not None
    trained_on = json.loads((read_model / "recipe.json").read_text())["train_articles"]
    text, rows = next(TINY_ARTICLES[i] for i in sorted(trained_on) if TINY_ARTICLES[i][1])
    spans = [(text.index(fragment), text.index(fragment) + len(fragment)) for _, fragment in rows]
    read = with_reader.reader.probabilities(text, tokenize(with_reader.tokenizer, text), spans)
    assert np.allclose(read.sum(axis=1), 1.0, atol=1e-4)
    labels = [techniques.TECHNIQUES[int(i)].ptc_label for i in read.argmax(axis=1)]
    assert labels == [label for label, _ in rows]

    head_only = tmp_path / "head-only"
    shutil.copytree(read_model, head_only)
    (head_only / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "span_reader"}))
    without = Analyzer(head_only)
    assert without.decoder != with_reader.decoder  # stored analyses of one are not taken for the other's
    assert np.allclose(with_reader.classify(text, spans), 0.5 * without.classify(text, spans) + 0.5 * read, atol=1e-5)


def test_a_replaced_reader_file_is_refused(read_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(read_model, broken)
    with (broken / "span_reader.onnx").open("ab") as out:
        out.write(b"\0")
    with pytest.raises(ModelError, match=r"span_reader\.onnx: sha256 differs"):
        Analyzer(broken)


def test_crossval_gives_a_finished_run_s_fold_models_readers_and_tunes_them_again(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    from .conftest import write_tiny_corpus

    corpus = write_tiny_corpus(tmp_path)
    # Each fold model trains on both articles of the other fold, so that it has spans to read.
    args = ["crossval", "--data", str(corpus), "--out", str(tmp_path / "cv"), "--folds", "2"]
    first = CliRunner().invoke(cli, with_recipe(list(args), tiny_encoder, "data.tune_fraction=0"))
    assert first.exit_code == 0, first.output
    result = CliRunner().invoke(cli, with_recipe(list(args), tiny_encoder, "data.tune_fraction=0", "reader.weight=0.5",
                                                 "reader.epochs=1"))
    assert result.exit_code == 0, result.output
    for fold in (0, 1):
        model = tmp_path / "cv" / f"fold-{fold}" / "model"
        assert "span_reader" in json.loads((model / "config.json").read_text())
        assert "tuned_on" in json.loads((tmp_path / "cv" / f"fold-{fold}" / "figures.json").read_text())
    assert json.loads((tmp_path / "cv" / "config.json").read_text())["reader"]["weight"] == 0.5
    other = CliRunner().invoke(cli, with_recipe(list(args), tiny_encoder, "data.tune_fraction=0", "reader.weight=0.3",
                                                "reader.epochs=1"))
    assert other.exit_code != 0 and "reader.weight" in other.output
