"""The SQLite library: migrations, caching, statistics, export, and concurrent writers."""

import csv
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from propscope.analysis import Analysis, ModelInfo, Source, Span
from propscope.errors import InputError
from propscope.model import Analyzer
from propscope.store import MIGRATIONS, Library, export

MODEL = ModelInfo("test", "0", "a" * 64)


def make(text: str, *spans: Span, source: str | None = "Wire", date: str | None = "2024-05-01") -> Analysis:
    return Analysis.build(text, spans, MODEL, Source(name=source, title=text[:10], date=date))


def test_new_library_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    with Library(tmp_path / "lib.db") as lib:
        assert lib.schema_version == len(MIGRATIONS)
        assert lib.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Library(tmp_path / "lib.db") as again:  # reopening applies nothing twice
        assert again.schema_version == len(MIGRATIONS)


def test_put_get_and_cache(tmp_path: Path) -> None:
    analysis = make("They are traitors.", Span(9, 17, "Name_Calling,Labeling", 0.8))
    with Library(tmp_path / "lib.db") as lib:
        first = lib.put(analysis, "decoder 1")
        assert lib.put(analysis, "decoder 1") == first and len(lib) == 1
        assert lib.get(first).analysis == analysis
        hit = lib.cached("They are traitors.", MODEL.sha256, "balanced", "decoder 1")
        assert hit is not None and hit.id == first
        assert lib.cached("They are traitors.", "b" * 64, "balanced", "decoder 1") is None
        with pytest.raises(InputError, match="no analysis with id 99"):
            lib.get(99)


def test_rows_filter_by_source_and_text(tmp_path: Path) -> None:
    with Library(tmp_path / "lib.db") as lib:
        lib.put(make("The harbour deal is a betrayal.", source="Patriot"))
        lib.put(make("Ridership rose 3 percent.", source="Wire"))
        assert [r["source"] for r in lib.rows(source="Wire")] == ["Wire"]
        assert [r["source"] for r in lib.rows(query="harbour")] == ["Patriot"]


def test_stats_and_exports(tmp_path: Path) -> None:
    with Library(tmp_path / "lib.db") as lib:
        lib.put(make("They are traitors. Ours!", Span(9, 17, "Name_Calling,Labeling", 0.9), source="Patriot"))
        lib.put(make("Ridership rose.", source="Wire", date="2024-06-02"))
        stats = lib.stats()
        assert stats["top_sources"][0]["source"] == "Patriot"
        assert stats["by_source"] == [{"source": "Patriot", "technique": "Name_Calling,Labeling", "spans": 1}]
        assert stats["by_month"][0]["month"] == "2024-05"
        assert export(lib, tmp_path / "out.jsonl") == 2
        lines = (tmp_path / "out.jsonl").read_text().splitlines()
        assert Analysis.from_dict(json.loads(lines[0])["analysis"]).spans[0].technique == "Name_Calling,Labeling"
        export(lib, tmp_path / "out.csv")
        with (tmp_path / "out.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0]["Name_Calling,Labeling"] == "1" and rows[1]["source"] == "Wire"
        with pytest.raises(InputError, match=r"export to a .jsonl, .csv or .parquet file"):
            export(lib, tmp_path / "out.xlsx")


def _writer(path: str, worker: int, count: int) -> None:
    with Library(Path(path)) as lib:
        for i in range(count):
            lib.put(make(f"Worker {worker} text {i}.", Span(0, 6, "Doubt", 0.5)))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    Library(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w, 150)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM analyses").fetchone()[0] == 300
    assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 300


def test_each_sensitivity_is_kept_apart(tmp_path: Path) -> None:
    text = "They are traitors."
    low = Analysis.build(text, [], ModelInfo("test", "0", "a" * 64, "low"))
    high = Analysis.build(text, [Span(9, 17, "Name_Calling,Labeling", 0.4)], ModelInfo("test", "0", "a" * 64, "high"))
    with Library(tmp_path / "lib.db") as lib:
        assert lib.put(low, "d") != lib.put(high, "d")
        hit = lib.cached(text, "a" * 64, "high", "d")
        assert hit is not None and hit.analysis == high
        assert lib.cached(text, "a" * 64, "balanced", "d") is None


def test_an_analysis_by_another_decoder_is_not_served_and_is_replaced_in_place(tmp_path: Path) -> None:
    text = "They are traitors. Ours!"
    before = make(text, Span(9, 17, "Name_Calling,Labeling", 0.8), Span(19, 23, "Flag-Waving", 0.5), source="Wire")
    after = make(text, Span(9, 17, "Name_Calling,Labeling", 0.8), source="Wire")
    with Library(tmp_path / "lib.db") as lib:
        first = lib.put(before, "propscope 0.2.0, decoding aaa")
        assert lib.cached(text, MODEL.sha256, "balanced", "propscope 0.2.1, decoding aaa") is None
        assert lib.put(after, "propscope 0.2.1, decoding aaa") == first and len(lib) == 1
        hit = lib.cached(text, MODEL.sha256, "balanced", "propscope 0.2.1, decoding aaa")
        assert hit is not None and hit.id == first and hit.analysis == after
        assert lib.stats()["by_source"] == [{"source": "Wire", "technique": "Name_Calling,Labeling", "spans": 1}]


def test_sensitivity_migration_keeps_old_analyses_and_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, analyzer: Analyzer
) -> None:
    from propscope import store

    old = make("They are traitors.", Span(9, 17, "Name_Calling,Labeling", 0.8))
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:1])
    with Library(tmp_path / "lib.db") as lib:
        lib.conn.execute(
            "INSERT INTO analyses (text_sha256, model_sha256, model_version, source, url, title, published, score, "
            "n_spans, created_at, analysis) VALUES (?, ?, '0', 'Wire', NULL, NULL, NULL, ?, 1, 'then', ?)",
            (store.text_sha256(old.text), MODEL.sha256, old.score, json.dumps(old.to_dict())))
        lib.conn.execute("INSERT INTO spans VALUES (1, 9, 17, 'Name_Calling,Labeling', 0.8)")
    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS)
    with Library(tmp_path / "lib.db") as lib:
        assert lib.schema_version == len(MIGRATIONS)
        hit = lib.cached(old.text, MODEL.sha256, "balanced", "")  # no decoder on record
        assert hit is not None and hit.analysis == old
        assert lib.cached(old.text, MODEL.sha256, "balanced", analyzer.decoder) is None
        assert lib.stats()["by_source"] == [{"source": "Wire", "technique": "Name_Calling,Labeling", "spans": 1}]
