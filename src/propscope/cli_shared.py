"""What every ``propscope`` command shares: one-line errors, the common options, progress displays."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.text import Text

from propscope.decoding import SENSITIVITIES, Sensitivity
from propscope.errors import InputError, PropscopeError
from propscope.language import Readers, default_readers
from propscope.model import Analyzer, default_analyzer
from propscope.store import Library

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn propscope's errors into one line on stderr and exit status 1."""
    try:
        yield
    except PropscopeError as exc:
        stderr.print(Text.assemble(("Error:", "bold red"), f" {exc}"))
        sys.exit(1)
    except OSError as exc:
        if exc.filename is None:
            raise
        problem = exc.strerror or str(exc)
        stderr.print(Text.assemble(("Error:", "bold red"), f" {exc.filename}: {problem[:1].lower()}{problem[1:]}"))
        sys.exit(1)


def writable(path: Path) -> Path:
    """``path``, once its folder is made (as batch runs do) and a file can be written there: checked
    before the work, so that a long run does not fail at its end."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{path}: {path.parent} is not a folder (a part of it is a file)") from None
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name to write")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"{path}: cannot write in {path.parent} (permission denied)")
    return path


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, transient=True,
    )


@contextmanager
def staged_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per stage of a long job (train, tune), as ``advance(stage, done, total)``;
    where stderr is no terminal (a job's log file), a timed line at every tenth of a stage."""
    if not stderr.is_terminal:
        yield _progress_lines()
        return
    with progress_bar() as progress:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage.capitalize(), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield advance


def _progress_lines() -> Callable[[str, int, int], None]:
    tenths: dict[str, int] = {}

    def advance(stage: str, done: int, total: int) -> None:
        tenth = 10 * done // max(1, total)
        if tenths.get(stage) != tenth:
            tenths[stage] = tenth
            stderr.print(f"{time.strftime('%H:%M:%S')} {stage.capitalize()} {done}/{total}")

    return advance



def rate_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                    TimeRemainingColumn(), console=stderr, transient=True)


def analyzer_for(model_dir: Path | None, sensitivity: Sensitivity = "balanced") -> Analyzer:
    if model_dir is None and sensitivity == "balanced":
        return default_analyzer()
    return Analyzer(model_dir, sensitivity=sensitivity)


def readers_for(model_dir: Path | None, sensitivity: Sensitivity = "balanced") -> Readers:
    """The models by language; ``model_dir`` takes the English model's place."""
    if model_dir is None and sensitivity == "balanced":
        return default_readers()
    return Readers(model_dir, sensitivity=sensitivity)


language_option = click.option(
    "--language", default=None, metavar="CODE",
    help="The text's language as an ISO 639-1 code (en, fr, ru, ...), instead of detecting it; it chooses the model.",
)


model_option = click.option(
    "--model", "model_dir", type=click.Path(path_type=Path), default=None,
    help="Model folder (default: the shipped model).",
)
sensitivity_option = click.option(
    "--sensitivity", type=click.Choice(SENSITIVITIES), default="balanced", show_default=True,
    help="low: only spans the model is sure of; balanced: the best F1; high: every plausible candidate.",
)
encoding_option = click.option(
    "--encoding", default="utf-8", show_default=True, help="Text encoding of the input files."
)



db_option = click.option(
    "--db", type=click.Path(path_type=Path), default=None,
    help="Library file (default: $PROPSCOPE_DB, else the user data folder).",
)
no_store_option = click.option("--no-store", is_flag=True, help="Do not keep the analysis in the library.")


def library_or_none(db: Path | None, no_store: bool = False) -> Library | None:
    return None if no_store else Library(db)
