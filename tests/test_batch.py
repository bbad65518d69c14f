"""Batch runs: every record gives one row, bad ones included, and runs resume."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from propscope import ingest
from propscope.batch import run_batch
from propscope.cli import cli
from propscope.ingest import Article, Record
from propscope.language import Readers
from propscope.model import Analyzer
from propscope.store import Library

from . import newspages
from .conftest import CALM, PROPAGANDA


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def records(n: int) -> list[Record]:
    return [Record(f"r{i}", article=Article(f"Item {i}. " + (PROPAGANDA if i % 2 else CALM))) for i in range(n)]


def test_folder_batch_reports_bad_files_and_goes_on(tmp_path: Path, readers: Readers) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(PROPAGANDA, encoding="utf-8")
    (folder / "b.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (folder / "c.html").write_text(newspages.page("/news/rail-ridership.html"), encoding="utf-8")
    (folder / "d.txt").write_text("   ", encoding="utf-8")
    summary = run_batch(ingest.records(folder), tmp_path / "out.jsonl", readers=readers)
    rows = {row["id"]: row for row in read_rows(tmp_path / "out.jsonl")}
    assert set(rows) == {"a.txt", "b.txt", "c.html", "d.txt"}
    assert summary.done == 4 and summary.errors == 2
    assert "binary" in rows["b.txt"]["error"] and "empty" in rows["d.txt"]["error"]
    assert rows["a.txt"]["spans"] and rows["a.txt"]["score"] > 0.5
    span = rows["a.txt"]["spans"][0]
    assert PROPAGANDA[span["start"]:span["end"]] == span["text"]
    assert rows["c.html"]["title"] == "Rail operator reports quarterly ridership"


def test_interrupted_run_resumes_without_duplicates(tmp_path: Path, readers: Readers) -> None:
    items = records(12)

    def interrupted() -> Iterator[Record]:
        for index, record in enumerate(items):
            if index == 5:
                raise KeyboardInterrupt
            yield record

    out = tmp_path / "out.jsonl"
    first = run_batch(interrupted(), out, readers=readers)
    # Analyses still running on the second core when the interrupt comes are done again later.
    assert first.interrupted and 1 <= first.done <= 5
    with out.open("a", encoding="utf-8") as handle:  # a torn line, as a kill mid-write leaves
        handle.write('{"id": "r5", "sco')
    second = run_batch(items, out, readers=readers)
    assert second.skipped == first.done and second.done == 12 - first.done and not second.interrupted
    ids = [row["id"] for row in read_rows(out)]
    assert sorted(ids) == sorted(r.id for r in items) and len(ids) == len(set(ids))


def test_parquet_output(tmp_path: Path, readers: Readers) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    run_batch(records(4), out, readers=readers)
    table = pq.read_table(out).to_pylist()
    assert [row["id"] for row in table] == ["r0", "r1", "r2", "r3"]
    assert table[1]["spans"] and table[1]["score"] > table[0]["score"]


def test_batch_stores_in_the_library_and_hits_the_cache(tmp_path: Path, readers: Readers) -> None:
    with Library(tmp_path / "lib.db") as library:
        run_batch(records(3), tmp_path / "a.jsonl", readers=readers, library=library)
        assert len(library) == 3
        run_batch(records(3), tmp_path / "b.jsonl", readers=readers, library=library)
        assert len(library) == 3
    assert [r["spans"] for r in read_rows(tmp_path / "a.jsonl")] == [r["spans"] for r in read_rows(tmp_path / "b.jsonl")]


def test_cli_batch_over_urls_matches_direct_analysis(tmp_path: Path, news_server: str, analyzer: Analyzer) -> None:
    paths = sorted(newspages.ARTICLES)
    lines = [json.dumps({"id": str(i), "url": news_server + p}) for i, p in enumerate(paths)]
    lines.insert(1, '{"id": "broken", ')
    lines.append(json.dumps({"id": "gone", "url": news_server + "/missing.html"}))
    source = tmp_path / "urls.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(paths)} analysed, 2 errors, 0 already done" in result.output
    rows = {row["id"]: row for row in read_rows(out)}
    for i, path in enumerate(paths):
        direct = analyzer.analyze(ingest.fetch(news_server + path).text)
        assert [(s["start"], s["end"], s["technique"]) for s in rows[str(i)]["spans"]] == [
            (s.start, s.end, s.technique) for s in direct.spans]
    assert "urls.jsonl line 2: not valid JSON" in rows["urls.jsonl line 2"]["error"]
    assert "404" in rows["gone"]["error"]
    rerun = CliRunner().invoke(cli, ["batch", str(source), "-o", str(out)])
    assert "0 analysed, 0 errors, 5 already done" in rerun.output
    assert len(read_rows(out)) == 5


def test_batch_refuses_unknown_output(tmp_path: Path, analyzer: Analyzer) -> None:
    result = CliRunner().invoke(cli, ["batch", str(tmp_path), "-o", str(tmp_path / "out.xlsx")])
    assert result.exit_code == 1 and "out.xlsx: write to a .jsonl or .parquet file, or to a folder" in result.output


@pytest.mark.parametrize("name", ["missing.jsonl", "data.xml"])
def test_batch_bad_input_path(tmp_path: Path, name: str) -> None:
    (tmp_path / "data.xml").write_text("<x/>")
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / name), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output
