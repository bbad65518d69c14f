"""Annotated texts to train on, from the three kinds of source a recipe can name.

- A PTC folder: ``articles/article<ID>.txt`` and ``labels-flc.tsv``.
- A PTC-format folder from a later annotation scheme (news-2024): the same, plus
  ``labels-2023-scheme.tsv`` with every span; the spans that have no PTC label there are
  persuasive but unnamed, so training masks them instead of taking them as negatives.
- A JSONL file of short texts (memes-2021): ``{"id", "text", "spans": [{"start", "end",
  "technique"}]}``, where a ``null`` technique marks such an unnamed span.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from propscope import ptc, techniques
from propscope.decoding import word_count
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


@dataclass(frozen=True)
class AnnotatedFolder:
    """A PTC-format folder read whole: articles, PTC-labelled spans, the spans to mask, and
    each article's language ("" where the folder does not say)."""

    articles: dict[str, str]
    labels: list[ptc.LabelledSpan]
    masked: dict[str, tuple[tuple[int, int], ...]]
    languages: dict[str, str]


def read_annotated_folder(folder: Path) -> AnnotatedFolder:
    """Read a PTC-format folder: ``articles/`` or one folder per language, ``labels-flc.tsv``
    and, from a later scheme, ``labels-2023-scheme.tsv``. In a later-scheme folder an article
    without a single span is left out: such articles may be unannotated, not free of
    techniques (multilingual-2023's README)."""
    articles, languages = ptc.read_corpus_articles(folder)
    labels = ptc.read_labels(folder / "labels-flc.tsv")
    ptc.check_in_range(labels, articles, name=str(folder / "labels-flc.tsv"))
    masked: dict[str, list[tuple[int, int]]] = {}
    if (folder / UNMAPPED_LABELS).is_file():
        every_span = ptc.read_labels(folder / UNMAPPED_LABELS, with_technique=False)
        mapped = {(row.article_id, row.start, row.end) for row in labels}
        for row in every_span:
            if (row.article_id, row.start, row.end) not in mapped:
                masked.setdefault(row.article_id, []).append((row.start, row.end))
        annotated = {row.article_id for row in every_span}
        articles = {i: text for i, text in articles.items() if i in annotated}
        languages = {i: languages[i] for i in articles}
    return AnnotatedFolder(articles, labels, {i: tuple(sorted(spans)) for i, spans in masked.items()}, languages)


def read_ptc_folder(folder: Path) -> list[AnnotatedText]:
    """Every article of a PTC-format folder with its labels, and its unmapped spans if any."""
    read = read_annotated_folder(folder)
    grouped = ptc.by_article(read.labels)
    return [AnnotatedText(i, text, tuple(grouped.get(i, ())), read.masked.get(i, ())) for i, text in read.articles.items()]


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


def split_articles(ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded split by article: (train ids, validation ids); none held out at fraction 0."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    n_validation = max(1, round(len(shuffled) * fraction)) if fraction > 0 else 0
    return sorted(shuffled[n_validation:]), sorted(shuffled[:n_validation])


@dataclass
class Corpus:
    """The PTC folder read once and split by article, and the extra sources with their weights."""

    articles: dict[str, str]
    labels: list[ptc.LabelledSpan]
    train_ids: list[str]
    validation_ids: list[str]
    extra: list[tuple[list[AnnotatedText], float]] = field(default_factory=list)
    masked: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    languages: dict[str, str] = field(default_factory=dict)

    def training_texts(self) -> list[tuple[AnnotatedText, float]]:
        """The training articles (weight 1) and every extra text with its source's weight."""
        grouped = ptc.by_article(self.labels)
        texts = [(AnnotatedText(i, self.articles[i], tuple(grouped.get(i, ())), self.masked.get(i, ())), 1.0)
                 for i in self.train_ids]
        return texts + [(text, weight) for source, weight in self.extra for text in source]


def span_words(corpus: Corpus) -> dict[str, int]:
    """How long each technique's spans run: per PTC label, the 95th percentile of the word
    counts of its spans in the training articles (what ``DecodingParams.long_span`` scales)."""
    train = set(corpus.train_ids)
    counts: dict[str, list[int]] = {}
    for row in corpus.labels:
        if row.article_id in train:
            counts.setdefault(row.technique, []).append(word_count(corpus.articles[row.article_id][row.start : row.end]))
    return {label: max(1, math.ceil(float(np.percentile(words, 95)))) for label, words in sorted(counts.items())}


def load_corpus(data_dir: Path, data_cfg: Mapping[str, Any]) -> Corpus:
    """Read the PTC-format folder and the recipe's extra sources (paths relative to ``data_dir``)."""
    main = read_annotated_folder(data_dir)
    train_ids, validation_ids = split_articles(
        list(main.articles), float(data_cfg["validation_fraction"]), int(data_cfg["split_seed"])
    )
    sources, weights = list(data_cfg.get("extra", [])), list(data_cfg.get("extra_weights", []))
    if len(sources) != len(weights):
        raise InputError(f"data.extra names {len(sources)} sources but data.extra_weights gives {len(weights)} weights")
    extra = [(read_source(data_dir / path), float(weight))
             for path, weight in zip(sources, weights, strict=True) if float(weight) > 0]
    return Corpus(main.articles, main.labels, train_ids, validation_ids, extra, main.masked, main.languages)


def data_digest(data_dir: Path) -> str:
    """sha256 over a source: a folder's label files and every article, in name order, or a file."""
    if not data_dir.is_dir():
        return hashlib.sha256(data_dir.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    labels = [data_dir / name for name in ("labels-flc.tsv", UNMAPPED_LABELS) if (data_dir / name).is_file()]
    articles = [path for folder in ptc.article_folders(data_dir).values() for path in folder.glob("article*.txt")]
    for path in [*labels, *sorted(articles)]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
