"""Renderers that take an ``Analysis`` and nothing else."""

from __future__ import annotations

import json
import re
from typing import TextIO

from rich.console import Console

from propscope import ptc
from propscope.analysis import Analysis
from propscope.reports import html, markdown, terminal

FORMATS = ("terminal", "json", "html", "markdown", "ptc")


def article_id(name: str) -> str:
    """The PTC article id for a source name: ``article123.txt`` gives ``123``."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name.rsplit("/", 1)[-1]) or "text"
    return stem.removeprefix("article") or stem


def emit(analysis: Analysis, fmt: str, out: TextIO, *, name: str = "text") -> None:
    """Write ``analysis`` to ``out`` in one of FORMATS; ``name`` identifies the input."""
    title = (analysis.source.title if analysis.source else None) or name
    if fmt == "json":
        json.dump(analysis.to_dict(), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "html":
        out.write(html.render(analysis, title=title))
    elif fmt == "markdown":
        out.write(markdown.render(analysis, title=title))
    elif fmt == "ptc":
        rows = [ptc.LabelledSpan(article_id(name), s.technique, s.start, s.end) for s in analysis.spans]
        ptc.write_labels(rows, out)
    else:
        terminal.render(analysis, Console(file=out, highlight=False, soft_wrap=True))
