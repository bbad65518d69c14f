"""propscope: find propaganda techniques in news articles, span by span."""

from propscope._version import __version__
from propscope.analysis import Analysis, ModelInfo, Sentence, Source, Span, TextLanguage
from propscope.decoding import Sensitivity
from propscope.errors import (
    ClusterError,
    EmptyText,
    FetchError,
    InputError,
    MalformedRow,
    MissingExtra,
    ModelError,
    NoArticles,
    NotText,
    PropscopeError,
    SpanOutOfRange,
    StorageError,
    UnknownTechnique,
    UnsupportedLanguage,
)
from propscope.language import Readers, analyze
from propscope.model import Analyzer
from propscope.reports.html import render_notebook as _render_notebook
from propscope.tables import to_frame
from propscope.techniques import TECHNIQUES, Technique

__all__ = [
    "__version__",
    "Analysis",
    "analyze",
    "Analyzer",
    "ClusterError",
    "EmptyText",
    "FetchError",
    "InputError",
    "MalformedRow",
    "MissingExtra",
    "ModelError",
    "ModelInfo",
    "NoArticles",
    "NotText",
    "PropscopeError",
    "Readers",
    "Sensitivity",
    "Sentence",
    "Source",
    "Span",
    "SpanOutOfRange",
    "StorageError",
    "Technique",
    "TECHNIQUES",
    "TextLanguage",
    "to_frame",
    "UnknownTechnique",
    "UnsupportedLanguage",
]

# Jupyter shows a value through its _repr_html_. The package face wires the notebook view to the
# result type, so that analysis.py never depends on the reports that consume it.
setattr(Analysis, "_repr_html_", _render_notebook)  # noqa: B010
