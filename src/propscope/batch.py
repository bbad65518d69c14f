"""Batch analysis: records in, one output row per record, resumable and never aborted by a
bad record.

Rows are appended to a JSONL journal and flushed one by one, so an interrupted run loses at
most the row being written, and a re-run skips every id already in the journal. A Parquet
output is written from the journal when the run completes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from propscope import tables
from propscope.analysis import Analysis, Source, TextLanguage
from propscope.errors import InputError, MissingExtra, storage_error
from propscope.ingest import Record
from propscope.language import Readers
from propscope.library import lookup, store
from propscope.model import Analyzer
from propscope.store import Library

OUTPUT_SUFFIXES = (".jsonl", ".parquet")


@dataclass
class Summary:
    """What a batch run or a corpus run did (shards.py counts its parts, sources and bytes too)."""

    done: int = 0  # records written, errors included
    skipped: int = 0  # records already in the output from an earlier run
    errors: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    error_examples: list[str] = field(default_factory=list)
    total: int | None = None  # records to do in this run, where known beforehand
    parts_done: int = 0
    parts_skipped: int = 0
    received_bytes: int = 0  # what the workers of a Ray run sent back to this process
    top_sources: list[tuple[str, int, float]] = field(default_factory=list)  # (source, articles, mean score)

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.total is None or not self.done:
            return None
        return max(0, self.total - self.done) / self.per_second


def output_row(record: Record, analysis: Analysis | None) -> dict[str, Any]:
    """The output row of one record: summary, counts per technique, spans, or the error."""
    source = record.article.source if record.article else Source()
    row: dict[str, Any] = {
        "id": record.id,
        "source": source.name or record.meta.get("source"),
        "url": source.url,
        "title": source.title or record.meta.get("title"),
        "date": source.date or record.meta.get("date"),
        "error": record.error,
        "score": None,
        "model_version": None,
        "model": None,
        "language": None,
        "language_note": None,
        "counts": {},
        "spans": [],
    }
    if analysis is not None:
        row |= {
            "score": analysis.score,
            "model_version": analysis.model.version,
            "model": analysis.model.name,
            **tables.language_columns(analysis),
            "counts": analysis.technique_counts(),
            "spans": tables.span_rows(analysis),
        }
    return row


def _journal_path(output: Path) -> Path:
    return output if output.suffix == ".jsonl" else output.with_name(output.name + ".journal.jsonl")


def _done_ids(journal: Path) -> set[str]:
    """Ids already written; a torn last line from an interrupted run is cut off."""
    if not journal.exists():
        return set()
    done = set()
    good_bytes = 0
    with journal.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                done.add(str(json.loads(line)["id"]))
            except (ValueError, KeyError):
                break
            good_bytes += len(line)
    if good_bytes != journal.stat().st_size:
        with journal.open("rb+") as handle:
            handle.truncate(good_bytes)
    return done


def run_batch(
    records: Iterable[Record],
    output: Path,
    *,
    readers: Readers,
    library: Library | None = None,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Analyse every record not yet in ``output``; Ctrl-C stops cleanly and a re-run resumes."""
    if output.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{output}: the output must end in .jsonl or .parquet")
    journal = _journal_path(output)
    journal.parent.mkdir(parents=True, exist_ok=True)
    done = _done_ids(journal)
    summary = Summary()
    started = time.perf_counter()

    def new_records() -> Iterator[tuple[Record, Analyzer | None, TextLanguage | None, Analysis | None]]:
        """Records not yet in the journal, each with the analyzer for its language and its stored
        analysis if the library has one; read in this thread, as the library's connection belongs to it."""
        for record in records:
            if record.id in done:
                summary.skipped += 1
                continue
            done.add(record.id)  # a repeated id is analysed once
            if record.article is None:
                yield record, None, None, None
                continue
            try:
                analyzer, language = readers.route(record.article.text, name=record.id)
            except InputError as exc:
                yield Record(record.id, article=record.article, error=str(exc), meta=record.meta), None, None, None
                continue
            stored = lookup(library, analyzer, record.article, language=language)
            yield record, analyzer, language, stored.analysis if stored else None

    def analysed(
        item: tuple[Record, Analyzer | None, TextLanguage | None, Analysis | None],
    ) -> tuple[Record, Analyzer | None, Analysis | None]:
        """The record (with its error, if the text is unusable), the analyzer of a new analysis, and the analysis."""
        record, analyzer, language, stored = item
        if record.article is None or analyzer is None or stored is not None:
            return record, None, stored
        try:
            analysis = analyzer.analyze(record.article.text, name=record.id, source=record.article.source)
            return record, analyzer, replace(analysis, language=language)
        except InputError as exc:
            return Record(record.id, article=record.article, error=str(exc), meta=record.meta), None, None

    try:
        with journal.open("a", encoding="utf-8") as out:
            for record, fresh_by, analysis in readers.map(analysed, new_records()):
                if fresh_by is not None and library is not None and analysis is not None:
                    store(library, fresh_by, analysis)
                row = output_row(record, analysis)
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                summary.done += 1
                if row["error"]:
                    summary.errors += 1
                    if len(summary.error_examples) < 5:
                        summary.error_examples.append(row["error"])
                summary.seconds = time.perf_counter() - started
                if progress:
                    progress(summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    except OSError as exc:  # a torn last line is cut off by the rerun, which resumes after the last whole row
        raise storage_error(journal, exc) from None
    summary.seconds = time.perf_counter() - started
    if output.suffix == ".parquet" and not summary.interrupted:
        try:
            _write_parquet(journal, output)
        except OSError as exc:
            raise storage_error(output, exc) from None
    return summary


def _write_parquet(journal: Path, output: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("Parquet output needs pyarrow: pip install 'propscope[parquet]'") from None
    rows = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row["counts"] = [{"technique": k, "n": v} for k, v in row["counts"].items()]
    temporary = output.with_name(output.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows), temporary)
    temporary.replace(output)

