"""Trends per source over time: articles, mean score and technique shares per day, week or month.

An article's date is its published date, else the day it was stored (also when the published
date is no date). A week is an ISO week, named by its Monday (``2026-11-30``); a month is
``YYYY-MM``. Analyses without a source are counted under ``(unknown)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from propscope import techniques
from propscope.errors import InputError
from propscope.store import Library

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
UNKNOWN = "(unknown)"
COLUMNS = ("source", "period", "articles", "mean_score", "spans", *techniques.IDS)

# The calendar date as written (a published time's offset is not applied); '+0 days' rolls an
# impossible date such as 2026-02-30 over, as date() alone does not.
_DAY = "coalesce(date(substr(published, 1, 10), '+0 days'), date(substr(created_at, 1, 10), '+0 days'))"
_PERIOD_OF_DAY = {"day": "day", "week": "date(day, '-6 days', 'weekday 1')", "month": "substr(day, 1, 7)"}
_WRITTEN = {"day": (r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", "2026-12-02"),
            "week": (r"\d{4}-\d{2}-\d{2}", "the Monday's YYYY-MM-DD", "2026-11-30"),
            "month": (r"\d{4}-\d{2}", "YYYY-MM", "2026-11")}


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One source in one period: its articles, their mean score, and how its spans divide
    among the techniques."""

    source: str
    period: str
    articles: int
    mean_score: float
    spans: int
    shares: Mapping[str, float]  # every technique id, in techniques.IDS order: its share of the spans, 0..1

    def leading(self, n: int = 3) -> list[tuple[techniques.Technique, float]]:
        """The ``n`` techniques with the largest shares, largest first; none without spans."""
        ranked = sorted((item for item in self.shares.items() if item[1] > 0), key=lambda item: -item[1])
        return [(techniques.get(technique_id), share) for technique_id, share in ranked[:n]]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "period": self.period, "articles": self.articles,
                "mean_score": self.mean_score, "spans": self.spans, "shares": dict(self.shares)}

    def to_row(self) -> dict[str, Any]:
        """A flat row with the keys in ``COLUMNS`` (one share column per technique id), figures
        rounded to 4 decimals: for CSV."""
        return {"source": self.source, "period": self.period, "articles": self.articles,
                "mean_score": round(self.mean_score, 4), "spans": self.spans,
                **{technique_id: round(share, 4) for technique_id, share in self.shares.items()}}


@dataclass(frozen=True, slots=True)
class TrendArticle:
    """One analysis in a period, for drilling down from a trend."""

    id: int
    source: str
    title: str | None
    url: str | None
    score: float
    n_spans: int
    date: str  # the day it is counted on

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "title": self.title, "url": self.url, "score": self.score,
                "n_spans": self.n_spans, "date": self.date}


def check_by(by: str) -> Period:
    """``by`` if it names a period length, else an InputError listing them."""
    if by not in PERIODS:
        raise InputError(f"period length {by!r}: choose one of {', '.join(PERIODS)}")
    return by


def check_period(by: str, period: str) -> str:
    """``period`` if it names one period of length ``by`` (a day, a week's Monday or a month),
    else an InputError that says how to write it."""
    length = check_by(by)
    pattern, shape, example = _WRITTEN[length]
    try:
        first = date.fromisoformat(period + ("-01" if length == "month" else "")) if re.fullmatch(pattern, period) else None
    except ValueError:
        first = None
    if first is None:
        raise InputError(f"{length} {period!r}: write it as {shape}, e.g. {example}")
    if length == "week" and first.weekday() != 0:
        monday = first - timedelta(days=first.weekday())
        raise InputError(f"week {period!r} is a {first:%A}; a week is named by its Monday, {monday.isoformat()}")
    return period


def period_range(by: str, first: str, last: str) -> list[str]:
    """Every period from ``first`` to ``last``, both included, none skipped."""
    length = check_by(by)
    start, end = (date.fromisoformat(check_period(length, p) + ("-01" if length == "month" else "")) for p in (first, last))
    found = []
    while start <= end:
        found.append(start.isoformat()[:7] if length == "month" else start.isoformat())
        if length == "month":
            start = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        else:
            start += timedelta(days=1 if length == "day" else 7)
    return found


def sources(library: Library) -> list[str]:
    """Every source in the library, by name."""
    return [row[0] for row in library.conn.execute(
        "SELECT DISTINCT coalesce(source, ?) FROM analyses ORDER BY 1", (UNKNOWN,))]


def by_period(library: Library, by: str, *, source: str | None = None, period: str | None = None) -> list[TrendRow]:
    """Per source and period, oldest first within each source: optionally only one source, one period."""
    length = check_by(by)
    where, args = _filters(length, source, period)
    figures = library.conn.execute(
        f"{_periods(length)} SELECT p.source, p.period, count(*), avg(p.score) FROM periods p{where} "
        "GROUP BY 1, 2 ORDER BY 1, 2", args).fetchall()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for row_source, row_period, label, n in library.conn.execute(
        f"{_periods(length)} SELECT p.source, p.period, s.technique, count(*) FROM periods p "
        f"JOIN spans s ON s.analysis_id = p.id{where} "
        "GROUP BY 1, 2, 3", args):
        counts.setdefault((row_source, row_period), {})[techniques.get(label).id] = n
    rows = []
    for row_source, row_period, n_articles, mean_score in figures:
        spans = counts.get((row_source, row_period), {})
        total = sum(spans.values())
        rows.append(TrendRow(row_source, row_period, n_articles, float(mean_score), total,
                             {t: spans.get(t, 0) / total if total else 0.0 for t in techniques.IDS}))
    return rows


def across_sources(library: Library, by: str, period: str) -> list[TrendRow]:
    """Every source's figures for one period, side by side: highest mean score first."""
    return sorted(by_period(library, by, period=period), key=lambda row: (-row.mean_score, row.source))


def articles(library: Library, by: str, period: str, *, source: str | None = None) -> list[TrendArticle]:
    """The analyses of one period (and one source), highest score first."""
    length = check_by(by)
    where, args = _filters(length, source, period)
    return [TrendArticle(*row) for row in library.conn.execute(
        f"{_periods(length)} SELECT p.id, p.source, p.title, p.url, p.score, p.n_spans, p.day FROM periods p{where} "
        "ORDER BY p.score DESC, p.id", args)]


def _periods(by: Period) -> str:
    """A ``WITH`` clause: ``periods``, every analysis with its source (never null), day and period."""
    return (f"WITH dated AS (SELECT id, coalesce(source, '{UNKNOWN}') AS source, title, url, score, n_spans, "
            f"{_DAY} AS day FROM analyses), "
            f"periods AS (SELECT *, {_PERIOD_OF_DAY[by]} AS period FROM dated)")


def _filters(by: Period, source: str | None, period: str | None) -> tuple[str, list[str]]:
    where, args = [], []
    if source is not None:
        where.append(" p.source = ?")
        args.append(source)
    if period is not None:
        where.append(" p.period = ?")
        args.append(check_period(by, period))
    return (" WHERE" + " AND".join(where) if where else ""), args
