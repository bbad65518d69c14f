"""The one result type: an ``Analysis`` of a text, which every output consumes.

JSON schema (version 1), as written by ``Analysis.to_dict``::

    {
      "schema_version": 1,
      "text": str,                       # exactly as read
      "spans": [{"start": int, "end": int, "technique": str, "confidence": float,
                 "alternatives": [{"technique": str, "probability": float}]}],
                                         # alternatives, where not empty: the label is not to be
                                         # trusted, and these are the two likeliest techniques
      "sentences": [{"start": int, "end": int, "propaganda": bool, "techniques": [str]}],
                                         # propaganda without techniques: the model sees a
                                         # technique there, but no span sure enough to show
      "score": float,                    # 0..1, see article_score
      "model": {"name": str, "version": str, "sha256": str, "sensitivity": str},
      "source": null | {"name", "url", "site", "title", "author", "date"},  # each str or null
      "language": null | {"code": str, "name": str, "detected": bool, "note": str | null}
                                         # code: ISO 639-1, "" when none can be told; note: said in
                                         # every output (an untrained language, a mixed text)
    }

Offsets are code-point indices into ``text``, end exclusive. ``technique`` is a PTC label.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from propscope import techniques
from propscope.errors import InputError, SpanOutOfRange
from propscope.text import sentence_bounds

SCHEMA_VERSION = 1
# The score's rate for a model whose config names none: it put the median held-out PTC article
# near 0.5 for the 0.1 model. Later models set their own ``score_rate``.
DEFAULT_SCORE_RATE = 8.0


@dataclass(frozen=True, slots=True)
class Span:
    """A technique found in the text: characters [start, end) and how sure the model is."""

    start: int
    end: int
    technique: str  # the likeliest technique
    confidence: float
    # Where the model's labels of ``technique`` are too seldom right (see ``label_trust``): the
    # two likeliest techniques and their probabilities, and the span is shown as "a technique,
    # unsure which". Empty where the label is trusted.
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def unsure(self) -> bool:
        return bool(self.alternatives)

    def encloses(self, other: Span) -> bool:
        """Whether ``other`` lies inside this span and is shorter."""
        return (self.start <= other.start and other.end <= self.end
                and other.end - other.start < self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "technique": self.technique,
                "confidence": self.confidence,
                "alternatives": [{"technique": label, "probability": p} for label, p in self.alternatives]}


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of the text, the techniques of the spans that overlap it, and whether the
    model sees a technique in it without a span sure enough to show (``evidence``)."""

    start: int
    end: int
    techniques: tuple[str, ...]
    evidence: bool = False

    @property
    def propaganda(self) -> bool:
        """Whether the sentence is marked as using some technique: by a span, or by evidence."""
        return bool(self.techniques) or self.evidence

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "propaganda": self.propaganda,
                "techniques": list(self.techniques)}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Which model produced an analysis."""

    name: str
    version: str
    sha256: str
    sensitivity: str = "balanced"  # the decoding setting: low, balanced or high

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "sensitivity": self.sensitivity}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a text came from, as far as it is known."""

    name: str | None = None  # the outlet or collection, e.g. "Millbrook Gazette"
    url: str | None = None
    site: str | None = None
    title: str | None = None
    author: str | None = None
    date: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "url": self.url, "site": self.site, "title": self.title,
                "author": self.author, "date": self.date}


@dataclass(frozen=True, slots=True)
class TextLanguage:
    """The language a text was read as, and what a reader must know about that."""

    code: str              # ISO 639-1; "" when no language can be told
    name: str              # "Russian"
    detected: bool = True  # False when the user named it
    note: str | None = None  # "not trained on Bulgarian; ...", "mixed languages: ..."

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "detected": self.detected, "note": self.note}


@dataclass(frozen=True, slots=True)
class Analysis:
    """A text, the technique spans found in it, its sentences, and its article score."""

    text: str
    spans: tuple[Span, ...]
    sentences: tuple[Sentence, ...]
    score: float
    model: ModelInfo
    source: Source | None = None
    language: TextLanguage | None = None  # None: not routed by language (a model used directly)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        for span in self.spans:
            if not 0 <= span.start < span.end <= len(self.text):
                raise SpanOutOfRange(
                    f"span {span.start}-{span.end} ({span.technique}) does not lie inside "
                    f"the text of {len(self.text)} characters"
                )
            techniques.get(span.technique)

    @classmethod
    def build(
        cls, text: str, spans: Iterable[Span], model: ModelInfo, source: Source | None = None, *,
        candidates: Iterable[Span] = (), evidence: Iterable[tuple[int, int]] = (),
        score_rate: float = DEFAULT_SCORE_RATE,
    ) -> Analysis:
        """Derive sentences and score from the spans; the only place either is computed.

        The score counts ``candidates`` too: every span the model proposes at its most
        sensitive setting, so that an article scores the same whichever setting chose the
        spans that are shown. ``score_rate`` is the model's (see ``article_score``). The
        sentences that ``evidence`` (character ranges) overlaps are marked as propaganda
        even where no span is shown.
        """
        ordered = tuple(sorted(spans, key=lambda s: (s.start, s.end, s.technique)))
        bounds = sentence_bounds(text)
        found: list[set[str]] = [set() for _ in bounds]
        sentence_strength = [0.0] * len(bounds)
        starts, ends = [start for start, _ in bounds], [end for _, end in bounds]

        def overlapped(start: int, end: int) -> range:  # the sentences that characters [start, end) touch
            return range(bisect_right(ends, start), bisect_left(starts, end))

        for span, shown in [(s, True) for s in ordered] + [(s, False) for s in candidates]:
            for index in overlapped(span.start, span.end):
                if shown:
                    found[index].add(span.technique)
                sentence_strength[index] = max(sentence_strength[index], span.confidence)
        evident = [False] * len(bounds)
        for start, end in evidence:
            for index in overlapped(start, end):
                evident[index] = True
        sentences = tuple(Sentence(start, end, tuple(sorted(techniques_in)), seen and not techniques_in)
                          for (start, end), techniques_in, seen in zip(bounds, found, evident, strict=True))
        return cls(text, ordered, sentences, article_score(sentence_strength, score_rate), model, source)

    def span_text(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def enclosing_spans(self) -> set[Span]:
        """The spans with a shorter span inside them: reports draw them paler around it."""
        return {span for span in self.spans if any(span.encloses(other) for other in self.spans)}

    def technique_counts(self, *, trusted_only: bool = False) -> dict[str, int]:
        """Spans per PTC label, in glossary order, techniques with no span left out;
        ``trusted_only`` leaves out the spans shown as "a technique, unsure which"."""
        counts = {label: 0 for label in techniques.PTC_LABELS}
        for span in self.spans:
            if not (trusted_only and span.unsure):
                counts[span.technique] += 1
        return {label: n for label, n in counts.items() if n}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "text": self.text,
            "spans": [span.to_dict() for span in self.spans],
            "sentences": [sentence.to_dict() for sentence in self.sentences],
            "score": self.score,
            "model": self.model.to_dict(),
            "source": self.source.to_dict() if self.source else None,
            "language": self.language.to_dict() if self.language else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Analysis:
        """Read back what ``to_dict`` wrote; a wrong shape raises InputError."""
        try:
            if data["schema_version"] != SCHEMA_VERSION:
                raise InputError(
                    f"analysis has schema version {data['schema_version']}; "
                    f"this propscope reads version {SCHEMA_VERSION}"
                )
            return cls(
                text=data["text"],
                spans=tuple(Span(int(s["start"]), int(s["end"]), s["technique"], float(s["confidence"]),
                                 tuple((a["technique"], float(a["probability"])) for a in s.get("alternatives", ())))
                            for s in data["spans"]),
                sentences=tuple(Sentence(int(s["start"]), int(s["end"]), tuple(s["techniques"]),
                                         bool(s["propaganda"]) and not s["techniques"])
                                for s in data["sentences"]),
                score=float(data["score"]),
                model=ModelInfo(**data["model"]),
                source=Source(**data["source"]) if data.get("source") else None,
                language=TextLanguage(**data["language"]) if data.get("language") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a propscope analysis: missing or bad field ({exc})") from None


def article_score(sentence_strength: Sequence[float], rate: float = DEFAULT_SCORE_RATE) -> float:
    """Article score: 1 - exp(-rate * D), where D is the mean over sentences of the
    highest span confidence in each (0 for a sentence with no span). Each model sets its
    ``rate`` so that the median of out-of-fold PTC articles scores about 0.5.

    D is the confidence-weighted share of sentences that carry a technique, so the score
    never falls when a span is added or made more confident. An article with a technique
    in every sentence at full confidence scores 1 - exp(-rate); one with none scores 0.
    """
    if not sentence_strength:
        return 0.0
    density = sum(sentence_strength) / len(sentence_strength)
    return 1.0 - math.exp(-rate * density)
