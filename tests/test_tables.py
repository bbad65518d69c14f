"""pandas frames of analyses, with the names of the corpus engine's Parquet tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import propscope
from propscope import shards, techniques
from propscope.analysis import Source
from propscope.errors import InputError
from propscope.model import Analyzer

from .conftest import CALM, PROPAGANDA


def test_span_frame_has_one_row_per_span_with_its_text(analyzer: Analyzer) -> None:
    analyses = {"harbour": analyzer.analyze(PROPAGANDA), "rail": analyzer.analyze(CALM)}
    frame = propscope.to_frame(analyses)
    assert list(frame.columns) == ["id", "start", "end", "technique", "confidence", "text"]
    assert len(frame) == sum(len(a.spans) for a in analyses.values())
    harbour = frame[frame["id"] == "harbour"]
    assert list(harbour["text"]) == [PROPAGANDA[s.start : s.end] for s in analyses["harbour"].spans]
    assert set(frame["technique"]) <= set(techniques.PTC_LABELS)
    assert frame["confidence"].between(0, 1).all()


def test_article_frame_counts_techniques_per_article(analyzer: Analyzer) -> None:
    analyses = [analyzer.analyze(PROPAGANDA, source=Source(name="Gazette", title="Harbour")),
                analyzer.analyze(CALM)]
    frame = propscope.to_frame(analyses, level="article")
    assert list(frame["id"]) == ["0", "1"]
    assert frame.loc[0, "source"] == "Gazette" and pd.isna(frame.loc[1, "source"])
    assert frame.loc[0, "score"] > frame.loc[1, "score"]
    technique_columns = list(techniques.IDS)
    assert (frame[technique_columns].sum(axis=1) == frame["n_spans"]).all()
    assert frame.loc[0, "loaded_language"] == analyses[0].technique_counts().get("Loaded_Language", 0) > 0
    assert (frame["sensitivity"] == "balanced").all()


def test_frames_use_the_corpus_tables_names_and_values(tmp_path: Path, analyzer: Analyzer) -> None:
    rows = [{"id": "a", "text": PROPAGANDA, "source": "Gazette"}, {"id": "b", "text": CALM, "source": "Wire"}]
    (tmp_path / "in").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in" / "part.parquet")
    shards.run([tmp_path / "in"], tmp_path / "out")
    parquet_articles = pd.read_parquet(tmp_path / "out" / "articles")
    parquet_spans = pd.read_parquet(tmp_path / "out" / "spans")
    analyses = {row["id"]: analyzer.analyze(row["text"], source=Source(name=row["source"])) for row in rows}
    articles = propscope.to_frame(analyses, level="article")
    spans = propscope.to_frame(analyses)
    assert list(articles.columns) == [c for c in parquet_articles.columns if c != "error"]
    assert list(spans.columns) == list(parquet_spans.columns)
    pd.testing.assert_frame_equal(spans, parquet_spans, check_dtype=False)
    shared = ["id", "source", "score", "n_spans", *techniques.IDS]
    pd.testing.assert_frame_equal(articles[shared], parquet_articles[shared], check_dtype=False)


def test_to_frame_refuses_what_is_not_an_analysis(analyzer: Analyzer) -> None:
    with pytest.raises(InputError, match="article 1 is a str, not an Analysis"):
        propscope.to_frame([analyzer.analyze(CALM), "some text"])
    with pytest.raises(InputError, match="not a str"):
        propscope.to_frame("some text")
    with pytest.raises(InputError, match="level 'sentence': choose span or article"):
        propscope.to_frame([], level="sentence")  # type: ignore[arg-type]


def test_empty_input_gives_empty_frames_with_the_columns() -> None:
    assert list(propscope.to_frame([]).columns)[:2] == ["id", "start"]
    assert len(propscope.to_frame({}, level="article")) == 0
