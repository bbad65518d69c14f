from pathlib import Path

import pytest

from propscope import ptc
from propscope.errors import InputError, MalformedRow, NoArticles, SpanOutOfRange


def test_read_articles_by_id(tiny_corpus: Path) -> None:
    articles = ptc.read_articles(tiny_corpus / "articles")
    assert list(articles) == ["1", "2", "3", "4"]


def test_read_articles_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        ptc.read_articles(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NoArticles, match=r"no article<ID>.txt files"):
        ptc.read_articles(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1\tDoubt\t3", "line 2: expected 4 tab-separated fields"),
        ("1\tDoubt\tthree\t9", "line 2: START and END must be whole numbers"),
        ("1\tDoubt\t9\t3", "line 2: need 0 <= START < END"),
        ("1\tLies\t3\t9", "line 2: unknown technique 'Lies'"),
    ],
)
def test_read_labels_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text(f"1\tDoubt\t0\t4\n{line}\n", encoding="utf-8")
    with pytest.raises(MalformedRow, match=message):
        ptc.read_labels(path)


def test_template_rows_keep_the_question_mark(tmp_path: Path) -> None:
    path = tmp_path / "spans.tsv"
    path.write_text("1\t?\t0\t4\n", encoding="utf-8")
    assert ptc.read_labels(path, with_technique=False) == [ptc.LabelledSpan("1", "?", 0, 4)]


def test_check_in_range() -> None:
    articles = {"1": "short"}
    with pytest.raises(SpanOutOfRange, match="span 2-9 of article 1 ends past"):
        ptc.check_in_range([ptc.LabelledSpan("1", "?", 2, 9)], articles, name="spans.tsv")
    with pytest.raises(InputError, match="article 2 is not in the articles folder"):
        ptc.check_in_range([ptc.LabelledSpan("2", "?", 0, 1)], articles, name="spans.tsv")


def test_sentence_labels_round_trip(tmp_path: Path) -> None:
    articles = {"1": "one\n\nthree", "2": "only"}
    path = tmp_path / "sentences.tsv"
    with path.open("w", encoding="utf-8") as out:
        ptc.write_sentence_labels("1", [True, False, True], out)
        ptc.write_sentence_labels("2", [False], out)
    assert path.read_text().splitlines() == ["1\t1\tpropaganda", "1\t2\tnon-propaganda", "1\t3\tpropaganda",
                                             "2\t1\tnon-propaganda"]
    assert ptc.read_sentence_labels(path, articles) == {("1", 0), ("1", 2)}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1\t2", "line 2: expected 3 tab-separated fields"),
        ("1\tzero\tpropaganda", "line 2: LINE must be a line number from 1, got 'zero'"),
        ("1\t0\tpropaganda", "line 2: LINE must be a line number from 1"),
        ("1\t2\tmaybe", "line 2: LABEL must be propaganda or non-propaganda, got 'maybe'"),
        ("9\t1\tpropaganda", "line 2: article 9 is not in the articles folder"),
        ("1\t4\tpropaganda", "line 2: article 1 has 3 lines, not 4"),
    ],
)
def test_read_sentence_labels_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "sentences.tsv"
    path.write_text(f"1\t1\tpropaganda\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        ptc.read_sentence_labels(path, {"1": "one\n\nthree"})
