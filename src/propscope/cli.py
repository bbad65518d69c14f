"""The ``propscope`` command: thin commands that parse, call the library and print."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from propscope import __version__, ptc, reports, scoring
from propscope.errors import InputError, PropscopeError
from propscope.text import decode, read_text

stderr = Console(stderr=True, highlight=False)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn propscope's errors into one line on stderr and exit status 1."""
    try:
        yield
    except PropscopeError as exc:
        stderr.print(f"[red]Error:[/red] {exc}", markup=True)
        sys.exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, transient=True,
    )


def _analyzer(model_dir: Path | None):  # type: ignore[no-untyped-def]
    from propscope.model import Analyzer, default_analyzer

    return Analyzer(model_dir) if model_dir else default_analyzer()


model_option = click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=None,
    help="Model folder (default: the shipped model).",
)
encoding_option = click.option(
    "--encoding", default="utf-8", show_default=True, help="Text encoding of the input files."
)


@click.group()
@click.version_option(__version__, prog_name="propscope")
def cli() -> None:
    """Find propaganda techniques in news articles, span by span."""


@cli.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="terminal", show_default=True)
@encoding_option
@model_option
def analyze(source: str, fmt: str, encoding: str, model_dir: Path | None) -> None:
    """Highlight propaganda techniques in SOURCE (a text file, or - for stdin)."""
    with reported_errors():
        if source == "-":
            text = decode(sys.stdin.buffer.read(), name="stdin", encoding=encoding)
        else:
            text = read_text(Path(source), encoding=encoding)
        analysis = _analyzer(model_dir).analyze(text, name="stdin" if source == "-" else source)
        reports.emit(analysis, fmt, sys.stdout)


@cli.command()
@click.argument("articles_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PTC label file to write.")
@click.option("--spans", "spans_file", type=click.Path(path_type=Path), default=None,
              help="TC template (ID, ?, START, END): label these spans instead of finding spans.")
@encoding_option
@model_option
def predict(articles_dir: Path, output: Path, spans_file: Path | None, encoding: str, model_dir: Path | None) -> None:
    """Find spans in every article<ID>.txt of ARTICLES_DIR and write them in PTC format."""
    from propscope.calibration import label_spans

    with reported_errors():
        articles = ptc.read_articles(articles_dir, encoding=encoding)
        analyzer = _analyzer(model_dir)
        if spans_file is not None:
            template = ptc.read_labels(spans_file, with_technique=False)
            ptc.check_in_range(template, articles, name=str(spans_file))
            rows = label_spans(analyzer, articles, template)
        else:
            rows = []
            with _progress() as progress:
                task = progress.add_task("Analysing", total=len(articles))
                for article_id, text in articles.items():
                    if not text.strip():
                        stderr.print(f"Skipped article{article_id}.txt: the text is empty")
                    else:
                        analysis = analyzer.analyze(text, name=f"article{article_id}.txt")
                        rows += [ptc.LabelledSpan(article_id, s.technique, s.start, s.end) for s in analysis.spans]
                    progress.advance(task)
        with output.open("w", encoding="utf-8", newline="") as out:
            ptc.write_labels(rows, out)
        stderr.print(f"Wrote {len(rows)} rows for {len(articles)} articles to {output}")


@cli.command()
@click.argument("articles_dir", type=click.Path(path_type=Path))
@click.option("--gold", type=click.Path(path_type=Path), required=True, help="Gold PTC label file.")
@click.option("--pred", type=click.Path(path_type=Path), required=True, help="Predicted PTC label file.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@encoding_option
def evaluate(articles_dir: Path, gold: Path, pred: Path, as_json: bool, encoding: str) -> None:
    """Score predicted spans against gold ones: SI, FLC, SLC, and TC when PRED labels the gold
    spans row for row (as `predict --spans` writes it)."""
    with reported_errors():
        articles = ptc.read_articles(articles_dir, encoding=encoding)
        gold_rows, pred_rows = ptc.read_labels(gold), ptc.read_labels(pred)
        ptc.check_in_range(gold_rows, articles, name=str(gold))
        ptc.check_in_range(pred_rows, articles, name=str(pred))
        figures = scoring.evaluate(articles, gold_rows, pred_rows)
        try:
            figures["tc"] = scoring.technique_classification(gold_rows, pred_rows).to_dict()
        except InputError as exc:
            figures["tc"] = {"skipped": str(exc)}
        if as_json:
            click.echo(json.dumps(figures, indent=2))
            return
        for key, title in (("si", "SI "), ("flc", "FLC"), ("slc", "SLC")):
            s = figures[key]
            click.echo(f"{title}  F1 {s['f1']:.4f}  precision {s['precision']:.4f}  recall {s['recall']:.4f}")
        if "micro_f1" in figures["tc"]:
            click.echo(f"TC   micro-F1 {figures['tc']['micro_f1']:.4f}  macro-F1 {figures['tc']['macro_f1']:.4f}")
            for label, s in figures["tc"]["per_technique"].items():
                click.echo(f"     {label:<36} F1 {s['f1']:.4f}")
        else:
            click.echo(f"TC   not computed: {figures['tc']['skipped']}")


@cli.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="PTC folder with articles/ and labels-flc.tsv.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Training recipe (default: configs/minilm.toml).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a config value.")
def train(data_dir: Path, out_dir: Path, config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Train a model on the PTC training split and write it, with its model card, to OUT."""
    with reported_errors():
        from propscope import training

        config = training.load_config(config_path or training.DEFAULT_CONFIG, overrides)
        with _progress() as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage.capitalize(), total=total)
                progress.update(tasks[stage], completed=done)

            figures = training.train(config, data_dir, out_dir, progress=advance)
        click.echo(json.dumps({k: figures[k] for k in ("si", "flc", "slc")} | {"tc_micro_f1": figures["tc"]["micro_f1"]}))


def main() -> None:
    cli()
