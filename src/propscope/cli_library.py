"""``propscope library``: list, show, chart, export, import and trend the stored analyses."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from propscope import reports, shards, trends
from propscope.cli_shared import db_option, encoding_option, reported_errors, stderr, writable
from propscope.errors import InputError
from propscope.reports.charts import bar_chart
from propscope.store import Library, export


@click.group()
def library() -> None:
    """Query the library of stored analyses."""


@library.command("list")
@click.option("--source", default=None, help="Only this source.")
@click.option("-q", "--query", default=None, help="Search titles, sources and texts.")
@click.option("--limit", type=int, default=50, show_default=True)
@db_option
def library_list(source: str | None, query: str | None, limit: int, db: Path | None) -> None:
    """List stored analyses, newest first."""
    with reported_errors(), Library(db) as lib:
        table = Table(box=None, header_style="bold")
        for column in ("id", "score", "spans", "source", "title", "date"):
            table.add_column(column, justify="right" if column in ("id", "score", "spans") else "left")
        for row in lib.rows(source=source, query=query, limit=limit):
            table.add_row(str(row["id"]), f"{row['score']:.2f}", str(row["n_spans"]), row["source"] or "",
                          (row["title"] or "")[:60], row["published"] or row["created_at"][:10])
        Console(highlight=False).print(table)


@library.command("show")
@click.argument("analysis_id", type=int)
@click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="terminal", show_default=True)
@db_option
def library_show(analysis_id: int, fmt: str, db: Path | None) -> None:
    """Show one stored analysis."""
    with reported_errors(), Library(db) as lib:
        reports.emit(lib.get(analysis_id).analysis, fmt, sys.stdout, name=f"analysis {analysis_id}")


@library.command("stats")
@click.option("--chart", type=click.Path(path_type=Path), default=None,
              help="Also write an SVG chart of the sources with the highest mean score.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@db_option
def library_stats(chart: Path | None, as_json: bool, db: Path | None) -> None:
    """Techniques per source and per month, and the most propagandistic sources."""
    with reported_errors(), Library(db) as lib:
        stats = lib.stats()
        if chart is not None and chart.suffix.lower() != ".svg":
            raise InputError(f"{chart}: charts are written as SVG; give a file name ending in .svg")
        if chart is not None:
            writable(chart)
        if as_json:
            click.echo(json.dumps(stats, indent=2))
        else:
            console = Console(highlight=False)
            for key, title in (("top_sources", "Most propagandistic sources"),
                               ("by_source", "Techniques per source"), ("by_month", "Techniques per month")):
                table = Table(title=title, box=None, header_style="bold", title_justify="left")
                for column in stats[key][0] if stats[key] else ("(empty library)",):
                    table.add_column(column)
                for row in stats[key]:
                    table.add_row(*(str(value) for value in row.values()))
                console.print(table)
        if chart is not None:
            bars = [(row["source"], row["mean_score"], "#be123c") for row in stats["top_sources"]]
            chart.write_text(bar_chart(bars, title="Mean article score by source", value_format="{:.2f}"),
                             encoding="utf-8")
            stderr.print(f"Wrote {chart}")


@library.command("export")
@click.argument("output", type=click.Path(path_type=Path))
@db_option
def library_export(output: Path, db: Path | None) -> None:
    """Export every stored analysis to OUTPUT: .jsonl (whole analyses), .csv or .parquet."""
    with reported_errors(), Library(db) as lib:
        n = export(lib, writable(output))
        stderr.print(f"Exported {n} analyses to {output}")


@library.command("import")
@click.argument("output")
@encoding_option
@db_option
def library_import(output: str, encoding: str, db: Path | None) -> None:
    """Load the results of a corpus run (`propscope batch ... -o OUTPUT`) into the library.
    The article texts are read again from the run's input files."""
    with reported_errors(), Library(db) as lib:
        n = shards.import_into(lib, output, encoding=encoding)
        stderr.print(f"Imported {n} analyses from {output} into {lib.path}")


@library.command("trends")
@click.option("--by", default="week", show_default=True, metavar="day|week|month",
              help="The period: a day, an ISO week (named by its Monday) or a month.")
@click.option("--source", default=None, help="Only this source.")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True,
              help="csv: one row per source and period, one share column per technique id.")
@db_option
def library_trends(by: str, source: str | None, fmt: str, db: Path | None) -> None:
    """Articles, mean score and technique shares per source and period.

    An article counts on its published date, else the day it was stored. `propscope serve`
    draws the same figures at /trends."""
    with reported_errors(), Library(db) as lib:
        rows = trends.by_period(lib, by, source=source)
        if source is not None and not rows:
            raise InputError(f"--source {source!r}: no analyses from it in {lib.path}")
        if fmt == "csv":
            writer = csv.DictWriter(sys.stdout, fieldnames=trends.COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(row.to_row() for row in rows)
        elif fmt == "json":
            click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        else:
            table = Table(box=None, header_style="bold")
            for column in ("source", by, "articles", "mean score", "spans", "leading techniques"):
                table.add_column(column, justify="right" if column in ("articles", "mean score", "spans") else "left")
            for row in rows:
                table.add_row(row.source, row.period, str(row.articles), f"{row.mean_score:.2f}", str(row.spans),
                              ", ".join(f"{technique.name} {share:.0%}" for technique, share in row.leading()))
            Console(highlight=False).print(table)
