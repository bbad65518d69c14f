"""Analyses as table rows: the columns of the corpus engine's Parquet tables, and pandas frames
with the same names, so that a user can move between the two."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from propscope import techniques
from propscope.analysis import Analysis
from propscope.errors import InputError, MissingExtra

if TYPE_CHECKING:
    import pandas as pd

SPAN_COLUMNS = ("id", "start", "end", "technique", "confidence", "text")
ARTICLE_COLUMNS = ("id", "source", "url", "title", "date", "score", "n_spans", *techniques.IDS,
                   "model", "model_version", "model_sha256", "sensitivity", "language", "language_note")


def count_columns(analysis: Analysis) -> dict[str, int]:
    """``n_spans`` and the number of spans of each technique, keyed by technique id."""
    counts = analysis.technique_counts()
    return {"n_spans": len(analysis.spans), **{t.id: counts.get(t.ptc_label, 0) for t in techniques.TECHNIQUES}}


def span_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per span, with the text it covers; ``technique`` is the PTC label."""
    return [span.to_dict() | {"text": analysis.span_text(span)} for span in analysis.spans]


def article_row(article_id: str, analysis: Analysis) -> dict[str, Any]:
    source = analysis.source
    return {
        "id": article_id, "source": source and source.name, "url": source and source.url,
        "title": source and source.title, "date": source and source.date, "score": analysis.score,
        **count_columns(analysis), "model": analysis.model.name, "model_version": analysis.model.version,
        "model_sha256": analysis.model.sha256, "sensitivity": analysis.model.sensitivity,
        **language_columns(analysis),
    }


def language_columns(analysis: Analysis) -> dict[str, str | None]:
    """The language the text was read as, and its note (None for an analysis not routed by language)."""
    language = analysis.language
    return {"language": language.code if language else None, "language_note": language.note if language else None}


def to_frame(
    analyses: Analysis | Iterable[Analysis] | Mapping[str, Analysis], *, level: Literal["span", "article"] = "span"
) -> pd.DataFrame:
    """A pandas DataFrame of ``analyses``: one row per span (``level="span"``) or per article
    (``level="article"``). A mapping's keys are the article ids; otherwise the ids are the
    positions, "0", "1", ... Needs the ``pandas`` extra."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra("to_frame needs pandas: pip install 'propscope[pandas]'") from None
    if level not in ("span", "article"):
        raise InputError(f"to_frame level {level!r}: choose span or article")
    if isinstance(analyses, Analysis):
        items: Iterable[tuple[str, object]] = [("0", analyses)]
    elif isinstance(analyses, Mapping):
        items = ((str(key), value) for key, value in analyses.items())
    elif isinstance(analyses, Iterable) and not isinstance(analyses, (str, bytes)):
        items = ((str(position), value) for position, value in enumerate(analyses))
    else:
        raise InputError(f"to_frame takes Analysis objects, not a {type(analyses).__name__}")
    rows: list[dict[str, Any]] = []
    for article_id, analysis in items:
        if not isinstance(analysis, Analysis):
            raise InputError(f"to_frame: article {article_id} is a {type(analysis).__name__}, not an Analysis; "
                             "pass what propscope.analyze or Analyzer.analyze returns")
        if level == "article":
            rows.append(article_row(article_id, analysis))
        else:
            rows += [{"id": article_id, **row} for row in span_rows(analysis)]
    columns = ARTICLE_COLUMNS if level == "article" else SPAN_COLUMNS
    return pd.DataFrame(rows, columns=list(columns))
