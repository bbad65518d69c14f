"""Reading the extra training sources: mapped spans kept, unmapped spans masked."""

from pathlib import Path

import pytest

from propscope import datasets
from propscope.errors import InputError, MalformedRow
from propscope.ptc import LabelledSpan

from .conftest import TINY_NEWS, write_tiny_extra


def test_later_scheme_folder_masks_spans_without_a_ptc_label(tmp_path: Path) -> None:
    news, _ = write_tiny_extra(tmp_path)
    texts = {t.text_id: t for t in datasets.read_source(news)}
    first = texts["n1"]
    assert [(r.technique, first.text[r.start:r.end]) for r in first.rows] == [("Loaded_Language", "reckless")]
    assert [first.text[s:e] for s, e in first.masked] == ["Critics call him a liar"]
    # an article without a single span in the later scheme may be unannotated: left out
    assert TINY_NEWS["n2"][1] == [] and sorted(texts) == ["n1"]


def test_a_folder_of_language_folders_reads_as_one_corpus(tmp_path: Path) -> None:
    for language, article_id, text in (("fr", "f1", "Les traîtres mentent.\n"), ("pl", "p1", "Zdrajcy kłamią.\n")):
        (tmp_path / language).mkdir()
        (tmp_path / language / f"article{article_id}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "labels-flc.tsv").write_text("f1\tName_Calling,Labeling\t4\t12\np1\tLoaded_Language\t8\t14\n",
                                            encoding="utf-8")
    corpus = datasets.load_corpus(tmp_path, {"validation_fraction": 0.0, "split_seed": 1})
    assert corpus.languages == {"f1": "fr", "p1": "pl"}
    assert [corpus.articles[r.article_id][r.start:r.end] for r in corpus.labels] == ["traîtres", "kłamią"]
    before = datasets.data_digest(tmp_path)
    (tmp_path / "pl" / "articlep1.txt").write_text("Zdrajcy kłamią!\n", encoding="utf-8")
    assert datasets.data_digest(tmp_path) != before


def test_jsonl_masks_null_techniques_and_trims_whitespace(tmp_path: Path) -> None:
    _, memes = write_tiny_extra(tmp_path)
    texts = {t.text_id: t for t in datasets.read_source(memes)}
    meme = texts["m1"]
    assert [(r.technique, meme.text[r.start:r.end]) for r in meme.rows] == [("Loaded_Language", "SHAMELESS")]
    assert [meme.text[s:e] for s, e in meme.masked] == ["CROOKS EVERYWHERE"]


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": "x", "text": "a"}\n', "line 1: expected an object with id, text and spans"),
    ('{"id": "x", "text": "abc", "spans": [{"start": 0, "end": 2, "technique": "Shouting"}]}\n',
     "line 1: unknown technique 'Shouting'"),
])
def test_jsonl_bad_rows_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MalformedRow, match=message):
        datasets.read_source(path)


def test_unknown_source_kind_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match=r"not a PTC-format folder or a .jsonl file"):
        datasets.read_source(path)


@pytest.mark.corpus
def test_the_real_extra_sources_read_as_their_readmes_describe(shared_ptc: Path) -> None:
    news = datasets.read_source(shared_ptc.parent / "news-2024")
    assert len(news) == 98 and sum(len(t.rows) for t in news) == 2020
    assert sum(len(t.masked) for t in news) == 2599 - 2020  # the five techniques without a PTC label
    memes = datasets.read_source(shared_ptc.parent / "memes-2021" / "memes.jsonl")
    assert len(memes) == 951
    assert sum(len(t.masked) for t in memes) == 266 + 45 + 5  # smears, glittering generalities, obfuscation
    for text in news + memes:
        for row in text.rows:
            assert text.text[row.start:row.end].strip() == text.text[row.start:row.end]


def test_span_words_is_how_long_each_technique_s_training_spans_run() -> None:
    text = " ".join(f"w{i}" for i in range(60))

    def words(article_id: str, technique: str, start_word: int, n: int) -> LabelledSpan:
        start = text.index(f"w{start_word} ") if start_word else 0
        end = text.index(f"w{start_word + n - 1}") + len(f"w{start_word + n - 1}")
        return LabelledSpan(article_id, technique, start, end)

    # Loaded language runs 1 to 20 words in training; one 50-word span is in an article held out.
    labels = [words("1", "Loaded_Language", 0, n) for n in range(1, 21)] + [words("2", "Loaded_Language", 0, 50),
                                                                          words("1", "Doubt", 5, 7)]
    corpus = datasets.Corpus({"1": text, "2": text}, labels, ["1"], ["2"])
    assert datasets.span_words(corpus) == {"Doubt": 7, "Loaded_Language": 20}  # 95th percentile 19.05, rounded up
