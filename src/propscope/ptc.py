"""The PTC corpus format: folders of ``article<ID>.txt`` and tab-separated label files."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from propscope import techniques
from propscope.errors import InputError, MalformedRow, NoArticles, SpanOutOfRange
from propscope.text import line_bounds, read_text

_ARTICLE_NAME = re.compile(r"article(?P<id>[^./\\]+)\.txt")
UNLABELLED = "?"
PROPAGANDA, NON_PROPAGANDA = "propaganda", "non-propaganda"  # the labels of a sentence label file


@dataclass(frozen=True, slots=True)
class LabelledSpan:
    """One row of a label file. ``technique`` is a PTC label, or ``?`` in a TC template."""

    article_id: str
    technique: str
    start: int
    end: int


def article_folders(corpus: Path) -> dict[str, Path]:
    """A corpus folder's article folders by language: ``articles/`` (language "") as in the
    PTC, or one folder per language (``fr/``, ``ru/``, ...) as in the multilingual corpora."""
    if (corpus / "articles").is_dir():
        return {"": corpus / "articles"}
    by_language = {path.name: path for path in sorted(corpus.iterdir())
                   if path.is_dir() and any(_ARTICLE_NAME.fullmatch(p.name) for p in path.iterdir())} \
        if corpus.is_dir() else {}
    if not by_language:
        raise NoArticles(f"{corpus}: neither an articles/ folder nor language folders of article<ID>.txt files")
    return by_language


def read_corpus_articles(corpus: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Every article of a corpus folder by ID, and each article's language ("" where the
    folder does not say)."""
    articles: dict[str, str] = {}
    languages: dict[str, str] = {}
    for language, folder in article_folders(corpus).items():
        found = read_articles(folder)
        articles |= found
        languages |= dict.fromkeys(found, language)
    return dict(sorted(articles.items())), languages


def read_articles(
    folder: Path, *, encoding: str = "utf-8", on_bad_file: Callable[[InputError], None] | None = None
) -> dict[str, str]:
    """Every ``article<ID>.txt`` in ``folder``, by ID, sorted by ID.

    An unreadable file raises, unless ``on_bad_file`` is given: then it is reported to it
    and skipped.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(
        (match["id"], path)
        for path in folder.iterdir()
        if (match := _ARTICLE_NAME.fullmatch(path.name)) and path.is_file()
    )
    if not paths:
        raise NoArticles(f"{folder}: no article<ID>.txt files in this folder")
    articles = {}
    for article_id, path in paths:
        try:
            articles[article_id] = read_text(path, encoding=encoding)
        except InputError as exc:
            if on_bad_file is None:
                raise
            on_bad_file(exc)
    return articles


def read_labels(path: Path, *, with_technique: bool = True) -> list[LabelledSpan]:
    """Read ``ID<TAB>TECHNIQUE<TAB>START<TAB>END`` rows (the technique may be ``?`` when
    ``with_technique`` is false). Every malformed row is reported with its line number."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        rows.append(_parse_row(line, where=f"{path} line {number}", with_technique=with_technique))
    return rows


def _parse_row(line: str, *, where: str, with_technique: bool) -> LabelledSpan:
    fields = line.split("\t")
    if len(fields) != 4:
        raise MalformedRow(
            f"{where}: expected 4 tab-separated fields (ID, TECHNIQUE, START, END), "
            f"got {len(fields)}"
        )
    article_id, technique, start_text, end_text = (field.strip() for field in fields)
    try:
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise MalformedRow(
            f"{where}: START and END must be whole numbers, got {start_text!r} and {end_text!r}"
        ) from None
    if not 0 <= start < end:
        raise MalformedRow(f"{where}: need 0 <= START < END, got {start} and {end}")
    if with_technique:
        try:
            technique = techniques.get(technique).ptc_label
        except InputError:
            raise MalformedRow(
                f"{where}: unknown technique {technique!r}; "
                f"expected one of {', '.join(techniques.PTC_LABELS)}"
            ) from None
    return LabelledSpan(article_id, technique, start, end)


def check_in_range(rows: Iterable[LabelledSpan], articles: Mapping[str, str], *, name: str) -> None:
    """Raise when a row names an unknown article or a span past the end of its article."""
    for row in rows:
        if row.article_id not in articles:
            raise InputError(f"{name}: article {row.article_id} is not in the articles folder")
        length = len(articles[row.article_id])
        if row.end > length:
            raise SpanOutOfRange(
                f"{name}: span {row.start}-{row.end} of article {row.article_id} "
                f"ends past the article's {length} characters"
            )


def by_article(rows: Iterable[LabelledSpan]) -> dict[str, list[LabelledSpan]]:
    """Group rows by article id."""
    grouped: dict[str, list[LabelledSpan]] = defaultdict(list)
    for row in rows:
        grouped[row.article_id].append(row)
    return dict(grouped)


def write_labels(rows: Sequence[LabelledSpan], out: TextIO) -> None:
    """Write rows in the PTC format."""
    for row in rows:
        out.write(f"{row.article_id}\t{row.technique}\t{row.start}\t{row.end}\n")


def write_sentence_labels(article_id: str, marked: Sequence[bool], out: TextIO) -> None:
    """Write one ``ID<TAB>LINE<TAB>LABEL`` row per line of an article (the SemEval-2019 SLC
    format): LINE counts from 1, blank lines included, and LABEL is ``propaganda`` where
    ``marked`` and ``non-propaganda`` elsewhere."""
    for number, flag in enumerate(marked, start=1):
        out.write(f"{article_id}\t{number}\t{PROPAGANDA if flag else NON_PROPAGANDA}\n")


def read_sentence_labels(path: Path, articles: Mapping[str, str]) -> set[tuple[str, int]]:
    """The (article id, line index from 0) that a sentence label file marks ``propaganda``.
    A malformed row, an unknown article or a line past its article's end is reported with
    the row's line number."""
    marked = set()
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 3:
            raise MalformedRow(f"{where}: expected 3 tab-separated fields (ID, LINE, LABEL), got {len(fields)}")
        article_id, line_text, label = fields
        if not line_text.isdigit() or int(line_text) < 1:
            raise MalformedRow(f"{where}: LINE must be a line number from 1, got {line_text!r}")
        if label not in (PROPAGANDA, NON_PROPAGANDA):
            raise MalformedRow(f"{where}: LABEL must be {PROPAGANDA} or {NON_PROPAGANDA}, got {label!r}")
        if article_id not in articles:
            raise InputError(f"{where}: article {article_id} is not in the articles folder")
        lines = len(line_bounds(articles[article_id]))
        if int(line_text) > lines:
            raise InputError(f"{where}: article {article_id} has {lines} lines, not {line_text}")
        if label == PROPAGANDA:
            marked.add((article_id, int(line_text) - 1))
    return marked
