"""One answer to "analyse this text, from the library if it is there", for the CLI, batch and the server.

The library keeps an analysis per text, model file, sensitivity and decoder (``Analyzer.decoder``).
One rule for the source: an analysis taken from the library carries the source that the caller
gives for the text now (a file name, a URL, a title), while the library keeps the one it was first
stored with. A text read as another language than its stored analysis says is analysed and stored
again.
"""

from __future__ import annotations

from dataclasses import replace

from propscope.analysis import Analysis, TextLanguage
from propscope.decoding import Sensitivity
from propscope.ingest import Article
from propscope.language import Readers
from propscope.model import Analyzer
from propscope.store import Library, Stored


def lookup(
    library: Library | None, analyzer: Analyzer, article: Article, sensitivity: Sensitivity | None = None,
    language: TextLanguage | None = None,
) -> Stored | None:
    """The stored analysis of the article's text by this analyzer at ``sensitivity`` (default
    its own), if any, read as ``language``."""
    if library is None:
        return None
    chosen = sensitivity or analyzer.sensitivity
    stored = library.cached(article.text, analyzer.info.sha256, chosen, analyzer.decoder)
    if stored is None or not _same_reading(stored.analysis.language, language):
        return None
    return replace(stored, analysis=replace(stored.analysis, source=article.source,
                                            language=language or stored.analysis.language))


def _same_reading(stored: TextLanguage | None, now: TextLanguage | None) -> bool:
    """Whether a stored analysis was read as the language a text is read as now: a text read
    again as another language (or named where it was detected) is analysed and stored anew, so
    that its page says how it was read last."""
    return now is None or stored is None or (stored.code, stored.detected) == (now.code, now.detected)


def store(library: Library, analyzer: Analyzer, analysis: Analysis) -> int:
    """Store a new analysis made by ``analyzer``; returns its id in the library."""
    return library.put(analysis, analyzer.decoder)


def analyze_with_library(
    readers: Readers, article: Article, library: Library | None, *, name: str, sensitivity: Sensitivity | None = None,
    language: str | None = None,
) -> Analysis:
    """The stored analysis of the article, or a new one by the model for its language (``language``
    overrides the detector), stored when there is a library. ``name`` names the text in errors."""
    if library is None:
        return readers.analyze(article.text, name=name, source=article.source, sensitivity=sensitivity,
                               language=language)
    return analyzed(readers, article, library, name=name, sensitivity=sensitivity, language=language)[1]


def analyzed(
    readers: Readers, article: Article, library: Library, *, name: str, sensitivity: Sensitivity | None = None,
    language: str | None = None,
) -> tuple[int, Analysis]:
    """As ``analyze_with_library``, with the analysis's id in the library."""
    analyzer, found = readers.route(article.text, language, name=name)
    stored = lookup(library, analyzer, article, sensitivity, found)
    if stored is not None:
        return stored.id, stored.analysis
    analysis = replace(analyzer.analyze(article.text, name=name, source=article.source, sensitivity=sensitivity),
                       language=found)
    return store(library, analyzer, analysis), analysis
