"""Trends per source over time: the queries against the stored analyses, `propscope library
trends`, the JSON API and the /trends page in Chromium."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from click.testing import CliRunner, Result

from propscope import techniques, trends
from propscope.analysis import Analysis, Source
from propscope.cli import cli
from propscope.errors import InputError
from propscope.model import Analyzer
from propscope.server import Settings
from propscope.server.trends_page import Point, line_chart
from propscope.store import Library

from .conftest import CALM, PROPAGANDA, WAR_REPORT, LiveServer

LOUD = [p for p in PROPAGANDA.split("\n\n") if p.strip()][1:]
WAR = [line for line in WAR_REPORT.splitlines()[1:] if line.strip()]
QUIET = [p for p in CALM.split("\n\n") if p.strip()][1:]
# (source, date, title, paragraphs): three sources over five weeks, one week empty, one date a
# Sunday (counted in the week of the Monday before) and one a time with an offset.
ARTICLES = (
    ("Daily Planet", "2026-11-02", "Harbour betrayal", LOUD[0:3]),
    ("Daily Planet", "2026-11-05", "Patriots rise", LOUD[3:6]),
    ("Daily Planet", "2026-11-18T23:30:00-05:00", "Thugs shell village", WAR[0:4]),
    ("Daily Planet", "2026-11-29", "Savages driven back", WAR[4:9]),
    ("Daily Planet", "2026-12-01", "Committee wants silence", LOUD[6:]),
    ("Harbour Herald", "2026-11-03", "Ridership up", QUIET[0:2]),
    ("Harbour Herald", "2026-11-17", "Punctuality improves", QUIET[1:]),
    ("Harbour Herald", "2026-11-30", "Council vote", LOUD[2:4] + QUIET[0:1]),
    (None, "2026-11-19", "A letter", WAR[2:5]),
)


@pytest.fixture(scope="module")
def analyses(analyzer: Analyzer) -> list[Analysis]:
    return [analyzer.analyze("\n\n".join([title, *paragraphs]), source=Source(name=name, date=day, title=title))
            for name, day, title, paragraphs in ARTICLES]


@pytest.fixture
def library(library_path: Path, analyses: list[Analysis]) -> Iterator[Library]:
    """The articles in the test's own library (also $PROPSCOPE_DB, which the CLI reads)."""
    with Library(library_path) as lib:
        for analysis in analyses:
            lib.put(analysis)
        yield lib


def period_of(day: date, by: str) -> str:
    if by == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.isoformat()[: 7 if by == "month" else 10]


def expected(library: Library, by: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The figures computed directly from the stored analyses."""
    groups: dict[tuple[str, str], list[Analysis]] = {}
    for stored in library.all():
        source = stored.analysis.source or Source()
        day = date.fromisoformat((source.date or stored.created_at)[:10])
        groups.setdefault((source.name or "(unknown)", period_of(day, by)), []).append(stored.analysis)
    figures = {}
    for key, group in groups.items():
        counts = Counter(techniques.get(span.technique).id for analysis in group for span in analysis.spans)
        total = sum(counts.values())
        figures[key] = {"articles": len(group), "mean_score": statistics.fmean(a.score for a in group), "spans": total,
                        "shares": {t: counts[t] / total if total else 0.0 for t in techniques.IDS}}
    return figures


def figures(rows: list[trends.TrendRow]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row.source, row.period): {"articles": row.articles, "mean_score": row.mean_score, "spans": row.spans,
                                       "shares": dict(row.shares)} for row in rows}


def flat(table: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, ...], float]:
    """One number per (source, period, figure), shares as ``share:<id>``, for pytest.approx."""
    return {(*key, name): value for key, row in table.items()
            for name, value in [*((k, v) for k, v in row.items() if k != "shares"),
                                *((f"share:{t}", share) for t, share in row["shares"].items())]}


def run(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


# ------------------------------------------------------------------ queries


@pytest.mark.parametrize("by", trends.PERIODS)
def test_by_period_matches_the_stored_analyses(library: Library, by: str) -> None:
    rows = trends.by_period(library, by)
    assert flat(figures(rows)) == pytest.approx(flat(expected(library, by)))
    assert [(row.source, row.period) for row in rows] == sorted((row.source, row.period) for row in rows)
    assert sum(row.articles for row in rows) == len(ARTICLES)
    assert sum(row.spans for row in rows) == sum(len(s.analysis.spans) for s in library.all()) > 0
    for row in rows:
        assert list(row.shares) == list(techniques.IDS)
        assert sum(row.shares.values()) == pytest.approx(1.0 if row.spans else 0.0)


def test_weeks_are_named_by_their_monday_and_dates_keep_their_calendar_day(library: Library) -> None:
    weeks = {(row.source, row.period): row.articles for row in trends.by_period(library, "week")}
    assert weeks[("Daily Planet", "2026-11-23")] == 1  # 2026-11-29 is a Sunday
    assert weeks[("Daily Planet", "2026-11-02")] == 2
    assert ("Daily Planet", "2026-11-09") not in weeks
    days = {row.period for row in trends.by_period(library, "day", source="Daily Planet")}
    assert "2026-11-18" in days  # 23:30 at -05:00, not the next day in UTC
    assert {row.period for row in trends.by_period(library, "month")} == {"2026-11", "2026-12"}


def test_by_period_takes_one_source_and_one_period(library: Library) -> None:
    herald = trends.by_period(library, "week", source="Harbour Herald")
    assert [row.period for row in herald] == ["2026-11-02", "2026-11-16", "2026-11-30"]
    unknown = trends.by_period(library, "month", source="(unknown)")
    assert [(row.period, row.articles) for row in unknown] == [("2026-11", 1)]
    one = trends.by_period(library, "week", period="2026-11-16")
    assert {row.source for row in one} == {"Daily Planet", "Harbour Herald", "(unknown)"}
    assert trends.by_period(library, "week", source="Nobody") == []


def test_across_sources_puts_one_period_side_by_side(library: Library) -> None:
    rows = trends.across_sources(library, "week", "2026-11-16")
    assert [row.mean_score for row in rows] == sorted((row.mean_score for row in rows), reverse=True)
    assert flat(figures(rows)) == pytest.approx(flat({key: value for key, value in expected(library, "week").items()
                                                     if key[1] == "2026-11-16"}))


def test_articles_lists_the_analyses_of_one_period(library: Library) -> None:
    listed = trends.articles(library, "week", "2026-11-30")
    assert {(a.source, a.title, a.date) for a in listed} == {
        ("Daily Planet", "Committee wants silence", "2026-12-01"), ("Harbour Herald", "Council vote", "2026-11-30")}
    assert [a.score for a in listed] == sorted((a.score for a in listed), reverse=True)
    for article in listed:
        stored = library.get(article.id).analysis
        assert (article.score, article.n_spans) == (stored.score, len(stored.spans))
    assert [a.title for a in trends.articles(library, "month", "2026-11", source="(unknown)")] == ["A letter"]


def test_an_article_without_a_date_counts_on_the_day_it_was_stored(library_path: Path, analyses: list[Analysis]) -> None:
    with Library(library_path) as lib:
        undated = Analysis.from_dict(analyses[0].to_dict() | {"source": Source(name="Undated").to_dict()})
        lib.put(undated)
        odd = Analysis.from_dict(analyses[1].to_dict() | {"source": Source(name="Odd", date="last Tuesday").to_dict()})
        lib.put(odd)
        stored_on = {s.analysis.source.name: s.created_at[:10] for s in lib.all() if s.analysis.source}
        rows = trends.by_period(lib, "day")
    assert {(row.source, row.period) for row in rows} == {("Undated", stored_on["Undated"]), ("Odd", stored_on["Odd"])}


@pytest.mark.parametrize(("by", "period", "message"), [
    ("week", "2026-12-02", "week '2026-12-02' is a Wednesday; a week is named by its Monday, 2026-11-30"),
    ("week", "2026-W49", "week '2026-W49': write it as the Monday's YYYY-MM-DD, e.g. 2026-11-30"),
    ("month", "2026-13", "month '2026-13': write it as YYYY-MM, e.g. 2026-11"),
    ("day", "2026-02-30", "day '2026-02-30': write it as YYYY-MM-DD"),
    ("year", "2026", "period length 'year': choose one of day, week, month"),
])
def test_a_bad_period_is_an_input_error_that_says_how_to_write_it(library: Library, by: str, period: str,
                                                                 message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        trends.articles(library, by, period)


def test_period_range_leaves_no_period_out() -> None:
    assert trends.period_range("month", "2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert trends.period_range("week", "2026-11-23", "2026-12-07") == ["2026-11-23", "2026-11-30", "2026-12-07"]
    assert trends.period_range("day", "2026-12-31", "2027-01-01") == ["2026-12-31", "2027-01-01"]


def test_line_chart_tells_sources_apart_without_colour() -> None:
    periods = ["2026-11-02", "2026-11-09", "2026-11-16"]
    series = [(name, [Point(0.1 * (i + n), f"/trends?p={i}&s={n}", f"{name} {i}") for i in range(3)])
              for n, name in enumerate(["Alpha", "Beta <b>", "Gamma"])]
    svg = ET.fromstring(line_chart(periods, series, title="Mean score", maximum=1.0))
    ns = "{http://www.w3.org/2000/svg}"
    links = svg.findall(f"{ns}a")
    assert len(links) == 9 and all(link.get("href", "").startswith("/trends?") for link in links)
    assert len({link[0].tag for link in links[::3]}) == 3  # a circle, a square and a triangle
    dashes = [line.get("stroke-dasharray") for line in svg.findall(f"{ns}polyline")]
    assert len(set(dashes)) == 3
    assert {text.text for text in svg.findall(f"{ns}text")} >= {"Alpha", "Beta <b>", "Gamma", "2026-11-09"}


# ------------------------------------------------------------------ the command


def test_library_trends_prints_a_table_of_every_source_and_period(library: Library) -> None:
    result = run("library", "trends", "--by", "week")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["source", "week", "articles"]
    for row in trends.by_period(library, "week"):
        line = next(line for line in lines if line.strip().startswith(row.source) and f" {row.period} " in line)
        assert f" {row.articles} " in line and f" {row.mean_score:.2f} " in line
        if row.spans:
            technique, share = row.leading(1)[0]
            assert f"{technique.name} {share:.0%}" in line


def test_library_trends_csv_has_a_share_column_per_technique(library: Library) -> None:
    import pandas as pd

    result = run("library", "trends", "--by", "month", "--format", "csv", "--db", str(library.path))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and list(rows[0]) == ["source", "period", "articles", "mean_score", "spans", *techniques.IDS]
    direct = expected(library, "month")
    assert len(rows) == len(direct)
    for row in rows:
        figures = direct[(row["source"], row["period"])]
        assert int(row["articles"]) == figures["articles"] and int(row["spans"]) == figures["spans"]
        assert float(row["mean_score"]) == pytest.approx(figures["mean_score"], abs=5e-5)
        for technique_id in techniques.IDS:
            assert float(row[technique_id]) == pytest.approx(figures["shares"][technique_id], abs=5e-5)
    frame = pd.read_csv(io.StringIO(result.output))
    assert list(frame.columns) == list(trends.COLUMNS) and len(frame) == len(direct)
    assert frame[list(techniques.IDS)].dtypes.map(pd.api.types.is_float_dtype).all()
    herald = json.loads(run("library", "trends", "--by", "month", "--source", "Harbour Herald", "--format", "json").output)
    assert herald == [row.to_dict() for row in trends.by_period(library, "month", source="Harbour Herald")]


def test_library_trends_bad_by_or_source_is_one_clear_error(library: Library) -> None:
    bad = run("library", "trends", "--by", "year")
    assert bad.exit_code == 1
    assert bad.output.splitlines() == ["Error: period length 'year': choose one of day, week, month"]
    nobody = run("library", "trends", "--source", "Nobody")
    assert nobody.exit_code == 1 and "--source 'Nobody': no analyses from it" in nobody.output
    assert "Traceback" not in bad.output + nobody.output


# ------------------------------------------------------------------ the API and the page


@pytest.fixture
def trend_server(library: Library) -> Iterator[LiveServer]:
    server = LiveServer(Settings(db=library.path))
    yield server
    server.stop()


def test_api_trends_returns_the_rows_and_the_articles(library: Library, trend_server: LiveServer) -> None:
    with httpx.Client(base_url=trend_server.url) as client:
        rows = client.get("/api/v1/trends", params={"by": "week"}).json()
        assert rows == [row.to_dict() for row in trends.by_period(library, "week")]
        one = client.get("/api/v1/trends", params={"by": "week", "source": "Harbour Herald", "period": "2026-11-16"})
        assert [(row["source"], row["articles"]) for row in one.json()] == [("Harbour Herald", 1)]
        listed = client.get("/api/v1/trends/articles", params={"by": "month", "period": "2026-12"}).json()
        assert [a["title"] for a in listed] == ["Committee wants silence"]
        bad = client.get("/api/v1/trends/articles", params={"by": "week", "period": "2026-12-02"})
        assert bad.status_code == 422 and "named by its Monday" in bad.json()["detail"]
        page = client.get("/trends", params={"by": "fortnight"}, headers={"accept": "text/html"})
        assert page.status_code == 422 and "choose one of day, week, month" in page.text


def _cells(page: Any, selector: str) -> list[list[str]]:
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


@pytest.mark.browser
def test_trends_page_charts_tables_drill_down_and_keyboard(browser: Any, library: Library, trend_server: LiveServer,
                                                           tmp_path: Path) -> None:
    rows = trends.by_period(library, "week")
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(trend_server.url + "/")
    page.click("nav >> text=Trends")
    page.wait_for_url("**/trends")
    sources = sorted({row.source for row in rows})
    assert page.locator("svg.chart").count() == 2 + len(sources)  # scores, articles, a share grid per source
    assert all(url.startswith(trend_server.url) for url in requests)  # no CDN, no outside asset

    assert _cells(page, "#per-period") == [
        [row.source, row.period, str(row.articles), f"{row.mean_score:.2f}", str(row.spans),
         ", ".join(f"{t.name} {share * 100:.0f}%" for t, share in row.leading(3))] for row in rows]
    for source in sources:
        mine = [row for row in rows if row.source == source]
        table = page.locator(f'table.shares[data-source="{source}"]')
        assert table.locator("thead th").all_inner_texts()[1:] == [row.period for row in mine]
        for cells in _cells(page, f'table.shares[data-source="{source}"]'):
            technique = next(t for t in techniques.TECHNIQUES if t.name == cells[0])
            assert cells[1:] == [f"{row.shares[technique.id] * 100:.0f}%" for row in mine]
    score_chart = page.locator("svg.chart").first
    assert score_chart.locator("a").count() == len(rows)
    assert set(score_chart.locator("text").all_text_contents()) >= set(sources)  # every line named
    page.screenshot(path=str(tmp_path / "trends.png"), full_page=True)

    # Tab from the form's button reaches the first point of the first chart; Enter opens it.
    page.locator(".trend-form button").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.closest('svg.chart') !== null, "
                            "document.activeElement.getAttribute('href')]")
    first = rows[0]
    assert focused == [True, "/trends?" + urlencode({"by": "week", "period": first.period, "source": first.source})]
    page.keyboard.press("Enter")
    page.wait_for_url(f"**period={first.period}**")
    listed = [a.id for a in trends.articles(library, "week", first.period, source=first.source)]
    assert page.locator("#articles a[href^='/a/']").evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        f"/a/{i}" for i in listed]

    # Clicking a point lists that period's articles; the across-sources view has its own chart and table.
    page.goto(trend_server.url + "/trends?by=week")
    page.locator('svg.chart a[href="/trends?by=week&period=2026-11-16&source=Harbour+Herald"]').first.click()
    page.wait_for_url("**period=2026-11-16**")
    herald = trends.articles(library, "week", "2026-11-16", source="Harbour Herald")
    assert page.locator("#articles tbody a").all_inner_texts() == [a.title for a in herald]
    across = trends.across_sources(library, "week", "2026-11-16")
    assert page.locator("svg.chart a").count() == len(across)
    assert _cells(page, "#across") == [
        [row.source, str(row.articles), f"{row.mean_score:.2f}", str(row.spans),
         ", ".join(f"{t.name} {share * 100:.0f}%" for t, share in row.leading(3))] for row in across]
    page.locator("#articles tbody a").first.click()
    page.wait_for_url(f"**/a/{herald[0].id}")
    assert page.locator("#article").inner_text().startswith("Punctuality improves")
    page.close()
