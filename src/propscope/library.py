"""One answer to "analyse this text, from the library if it is there", for the CLI, batch and the server.

The library keeps an analysis per text, model file, sensitivity and decoder (``Analyzer.decoder``).
One rule for the source: an analysis taken from the library carries the source that the caller
gives for the text now (a file name, a URL, a title), while the library keeps the one it was
first stored with.
"""

from __future__ import annotations

from dataclasses import replace

from propscope.analysis import Analysis
from propscope.decoding import Sensitivity
from propscope.ingest import Article
from propscope.model import Analyzer
from propscope.store import Library, Stored


def lookup(
    library: Library | None, analyzer: Analyzer, article: Article, sensitivity: Sensitivity | None = None
) -> Stored | None:
    """The stored analysis of the article's text by this analyzer at ``sensitivity`` (default its own), if any."""
    if library is None:
        return None
    chosen = sensitivity or analyzer.sensitivity
    stored = library.cached(article.text, analyzer.info.sha256, chosen, analyzer.decoder)
    if stored is None:
        return None
    return replace(stored, analysis=replace(stored.analysis, source=article.source))


def store(library: Library, analyzer: Analyzer, analysis: Analysis) -> int:
    """Store a new analysis made by ``analyzer``; returns its id in the library."""
    return library.put(analysis, analyzer.decoder)


def analyze_with_library(
    analyzer: Analyzer, article: Article, library: Library | None, *, name: str, sensitivity: Sensitivity | None = None
) -> Analysis:
    """The stored analysis of the article, or a new one, stored when there is a library. ``name``
    names the text in errors."""
    stored = lookup(library, analyzer, article, sensitivity)
    if stored is not None:
        return stored.analysis
    analysis = analyzer.analyze(article.text, name=name, source=article.source, sensitivity=sensitivity)
    if library is not None:
        store(library, analyzer, analysis)
    return analysis
