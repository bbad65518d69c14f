"""Annotated texts to train on, from the three kinds of source a recipe can name.

- A PTC folder: ``articles/article<ID>.txt`` and ``labels-flc.tsv``.
- A PTC-format folder from a later annotation scheme (news-2024): the same, plus
  ``labels-2023-scheme.tsv`` with every span; the spans that have no PTC label there are
  persuasive but unnamed, so training masks them instead of taking them as negatives.
- A JSONL file of short texts (memes-2021): ``{"id", "text", "spans": [{"start", "end",
  "technique"}]}``, where a ``null`` technique marks such an unnamed span.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from propscope import ptc, techniques
from propscope.errors import InputError, MalformedRow
from propscope.text import read_text

UNMAPPED_LABELS = "labels-2023-scheme.tsv"


@dataclass(frozen=True)
class AnnotatedText:
    """A text with its technique spans and the spans a training loss must ignore."""

    text_id: str
    text: str
    rows: tuple[ptc.LabelledSpan, ...]
    masked: tuple[tuple[int, int], ...] = ()


def read_ptc_folder(folder: Path) -> list[AnnotatedText]:
    """Every article of a PTC-format folder with its labels, and its unmapped spans if any."""
    articles = ptc.read_articles(folder / "articles")
    labels = ptc.read_labels(folder / "labels-flc.tsv")
    ptc.check_in_range(labels, articles, name=str(folder / "labels-flc.tsv"))
    grouped = ptc.by_article(labels)
    masked: dict[str, list[tuple[int, int]]] = {}
    if (folder / UNMAPPED_LABELS).is_file():
        mapped = {(row.article_id, row.start, row.end) for row in labels}
        for row in ptc.read_labels(folder / UNMAPPED_LABELS, with_technique=False):
            if (row.article_id, row.start, row.end) not in mapped:
                masked.setdefault(row.article_id, []).append((row.start, row.end))
    return [
        AnnotatedText(i, text, tuple(grouped.get(i, ())), tuple(sorted(masked.get(i, ()))))
        for i, text in articles.items()
    ]


def read_jsonl(path: Path) -> list[AnnotatedText]:
    """Short texts with spans, one JSON object per line."""
    texts = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
            text_id, text = str(record["id"]), record["text"]
            spans = [(s["technique"], int(s["start"]), int(s["end"])) for s in record["spans"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedRow(f"{where}: expected an object with id, text and spans ({exc})") from None
        rows, masked = [], []
        for technique, start, end in spans:
            start, end = _trimmed(text, start, end)
            if not 0 <= start < end <= len(text):
                continue  # a span of bare whitespace
            if technique is None:
                masked.append((start, end))
            else:
                try:
                    label = techniques.get(technique).ptc_label
                except InputError:
                    raise MalformedRow(f"{where}: unknown technique {technique!r}") from None
                rows.append(ptc.LabelledSpan(text_id, label, start, end))
        texts.append(AnnotatedText(text_id, text, tuple(rows), tuple(sorted(masked))))
    if not texts:
        raise InputError(f"{path}: no texts in this file")
    return texts


def read_source(path: Path) -> list[AnnotatedText]:
    """A PTC-format folder or a JSONL file of short texts."""
    if path.is_dir():
        return read_ptc_folder(path)
    if path.suffix == ".jsonl" and path.is_file():
        return read_jsonl(path)
    raise InputError(f"{path}: not a PTC-format folder or a .jsonl file of annotated texts")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop the whitespace some annotators left at the ends of a span."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
