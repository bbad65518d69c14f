"""Renderers that take an ``Analysis`` and nothing else."""

from __future__ import annotations

import json
from typing import TextIO

from rich.console import Console

from propscope.analysis import Analysis
from propscope.reports import terminal

FORMATS = ("terminal", "json")


def emit(analysis: Analysis, fmt: str, out: TextIO) -> None:
    """Write ``analysis`` to ``out`` in one of FORMATS."""
    if fmt == "json":
        json.dump(analysis.to_dict(), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        terminal.render(analysis, Console(file=out, highlight=False, soft_wrap=True))
