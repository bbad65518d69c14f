"""Which language a text is in, and which model reads it.

lingua (lingua-language-detector) tells the language, offline, from the models it ships; its
low-accuracy mode needs about 80 MB and named every one of 140 sampled training and test
articles in seven languages right. Routing then follows one table:

- English goes to the English model (``propscope-minilm``).
- A language the multilingual model trained on goes to it (``propscope-multilingual``).
- Another language that its encoder (multilingual-e5-small, XLM-R's 100 languages) read in
  pretraining also goes to it, with a note in every output: not trained on this language,
  and the figures for the closest trained languages.
- A language outside the encoder's reach gets an error, not spans.
- No language at all (numbers, symbols): the English model, with a note.

A text in several languages is read as its main one and noted as mixed; when a non-English
language holds a quarter of it or more, the multilingual model reads it all. A text too short
for a sure answer goes to the English model, with a note: lingua's confidence must reach one
half, and 0.9 for another language than English in a text of under 200 letters ("Stop the
steal!" looks Basque to it).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from propscope.analysis import Analysis, Source, TextLanguage
from propscope.decoding import Sensitivity
from propscope.errors import InputError, ModelError, UnsupportedLanguage
from propscope.model import Analyzer, shipped_model_dir
from propscope.text import line_bounds

T = TypeVar("T")
R = TypeVar("R")
MULTILINGUAL_NAME = "propscope-multilingual"
_PACKAGE_DIR = Path(__file__).resolve().parent
MIXED_SHARE = 0.25   # a second language this share of the letters makes a text mixed
MIN_LINE_LETTERS = 20  # lines shorter than this are too short to tell a language by
MIN_CONFIDENCE = 0.5
# Under this many letters, lingua is often sure of a wrong language ("They are traitors. <script>"
# reads as Latin at 0.69), so a short text goes to a model other than English only at this confidence.
SHORT_LETTERS, SHORT_CONFIDENCE = 200, 0.9

# The languages lingua tells that XLM-R's pretraining (CC-100) did not include.
OUTSIDE_ENCODER = frozenset({"lg", "mi", "sn", "st", "tn", "ts", "yo", "zu"})
# For the note on an untrained language: the trained languages of its family are the closest.
FAMILIES = (
    frozenset({"ru", "pl", "be", "uk", "bg", "mk", "sr", "bs", "hr", "sl", "cs", "sk"}),  # Slavic
    frozenset({"fr", "it", "es", "pt", "ca", "ro", "la", "gl"}),                          # Romance
    frozenset({"en", "de", "nl", "af", "da", "sv", "nb", "nn", "is"}),                    # Germanic
)


@dataclass(frozen=True)
class Detected:
    """The main language of a text, how sure lingua is of it (0 to 1), and the share of the
    text's letters in each language found line by line."""

    code: str
    confidence: float
    shares: dict[str, float]


@cache
def _detector() -> Any:
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


_detector_lock = threading.Lock()


def _detect_one(text: str) -> str | None:
    with _detector_lock:
        found = _detector().detect_language_of(text)
    return None if found is None else str(found.iso_code_639_1.name).lower()


def detect(text: str) -> Detected | None:
    """The text's language, or None when no language can be told (no words in it)."""
    with _detector_lock:
        likeliest = _detector().compute_language_confidence_values(text)[:1]
    if not likeliest or likeliest[0].value == 0:
        return None
    whole, confidence = str(likeliest[0].language.iso_code_639_1.name).lower(), float(likeliest[0].value)
    letters: dict[str, int] = {}
    for start, end in line_bounds(text):
        line = text[start:end]
        count = sum(character.isalpha() for character in line)
        if count >= MIN_LINE_LETTERS and (code := _detect_one(line)) is not None:
            letters[code] = letters.get(code, 0) + count
    total = sum(letters.values())
    shares = {code: n / total for code, n in sorted(letters.items(), key=lambda item: -item[1])} if total else {whole: 1.0}
    return Detected(whole, confidence, shares)


@cache
def language_name(code: str) -> str:
    """The English name of an ISO 639-1 code (Russian for ru); the code itself for one lingua does not know."""
    from lingua import IsoCode639_1, Language

    try:
        return str(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name).capitalize()
    except (AttributeError, ValueError):
        return code


def known_code(code: str) -> str:
    """A language code as given to --language, checked: ISO 639-1, two letters."""
    from lingua import IsoCode639_1

    checked = code.strip().lower()
    if not hasattr(IsoCode639_1, checked.upper()) or len(checked) != 2:
        raise InputError(f"--language {code!r}: not an ISO 639-1 code that propscope knows (like en, fr, ru, pl)")
    return checked


def shipped_multilingual_dir() -> Path | None:
    """The multilingual model: PROPSCOPE_MULTILINGUAL_MODEL, inside the wheel, or in a source
    checkout; None where none is installed."""
    override = os.environ.get("PROPSCOPE_MULTILINGUAL_MODEL")
    if override:
        if not (Path(override) / "config.json").is_file():
            raise ModelError(f"PROPSCOPE_MULTILINGUAL_MODEL={override}: not a model folder (no config.json)")
        return Path(override)
    for candidate in (_PACKAGE_DIR / "multilingual_model", _PACKAGE_DIR.parents[1] / "models" / MULTILINGUAL_NAME):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def model_languages(model_dir: Path) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The languages a model trained on, each with its held-out figures (possibly none), and the
    languages it was measured on without training on them, with those figures."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return ({code: dict(figures) for code, figures in config.get("languages", {"en": {}}).items()},
            {code: dict(figures) for code, figures in config.get("zero_shot", {}).items()})


def closest(code: str, trained: Iterable[str]) -> list[str]:
    """The trained languages of ``code``'s family; else every trained language but English."""
    trained = list(trained)
    family = next((family for family in FAMILIES if code in family), frozenset())
    return [language for language in trained if language in family] or [
        language for language in trained if language != "en"] or trained


def _figures(figures: dict[str, float]) -> str:
    return ", ".join(f"{key.upper()} {figures[key]:.2f}" for key in ("si", "flc") if key in figures)


def untrained_note(code: str, languages: dict[str, dict[str, float]],
                   zero_shot: dict[str, dict[str, float]] | None = None) -> str:
    """The note on a language the model did not train on: its own zero-shot figures where it was
    measured, else the closest trained languages, with their held-out SI and FLC where the
    model's config has them."""
    name = language_name(code)
    if zero_shot and code in zero_shot:
        return f"not trained on {name}; measured on {name} articles without training on any: {_figures(zero_shot[code])}"
    near = closest(code, languages)
    similar = any(code in family and family.issuperset(near) for family in FAMILIES)
    if not any(languages[language] for language in near):
        named = ", ".join(map(language_name, near))
        kind = f"the closest languages it trained on are {named}" if similar else (
            f"it trained on no language close to it ({named})")
        return f"not trained on {name}; {kind} (no held-out figures in this model)"
    measured = "; ".join(f"{language_name(language)} {_figures(languages[language])}" for language in near)
    kind = "similar languages" if similar else "the languages it trained on, none close to it,"
    return f"not trained on {name}; figures for {kind} are {measured} (held-out articles)"


class Readers:
    """The models that read texts, chosen by each text's language. Models load on first use."""

    def __init__(self, english_dir: Path | None = None, multilingual_dir: Path | None = None, *,
                 sensitivity: Sensitivity = "balanced", threads: int | None = None,
                 loaded: Iterable[Analyzer] = ()) -> None:
        """``loaded``: analyzers already made for some of these folders, to use instead of new ones."""
        self.english_dir = english_dir or shipped_model_dir()
        self.multilingual_dir = multilingual_dir or shipped_multilingual_dir()
        self.sensitivity = sensitivity
        self.threads = threads
        self._analyzers: dict[Path, Analyzer] = {analyzer.model_dir: analyzer for analyzer in loaded}
        self._lock = threading.Lock()
        self.multilingual_languages, self.zero_shot = (model_languages(self.multilingual_dir)
                                                       if self.multilingual_dir else ({}, {}))

    def analyzer(self, model_dir: Path) -> Analyzer:
        with self._lock:
            if model_dir not in self._analyzers:
                extra = {} if self.threads is None else {"threads": self.threads}
                self._analyzers[model_dir] = Analyzer(model_dir, sensitivity=self.sensitivity, **extra)
            return self._analyzers[model_dir]

    @property
    def english(self) -> Analyzer:
        return self.analyzer(self.english_dir)

    def route(self, text: str, language: str | None = None, *, name: str = "text") -> tuple[Analyzer, TextLanguage]:
        """The analyzer for ``text`` and the language to record; ``language`` (an ISO 639-1 code)
        overrides the detector. Raises UnsupportedLanguage for a language no model can read."""
        if language is not None:
            code, shares = known_code(language), {}
        else:
            detected = detect(text)
            if detected is None:
                return self.english, TextLanguage("", "unknown", True, "no language can be told from this text; "
                                                  "read by the English model (give --language to choose)")
            short = sum(character.isalpha() for character in text) < SHORT_LETTERS and detected.code != "en"
            if detected.confidence < (SHORT_CONFIDENCE if short else MIN_CONFIDENCE):
                return self.english, TextLanguage(
                    "en", language_name("en"), True,
                    f"too short to tell its language for sure (likeliest {language_name(detected.code)}, "
                    f"{detected.confidence:.0%}); read as English (give --language to choose)")
            code, shares = detected.code, detected.shares
        notes = []
        if len(shares) > 1 and max(shares.values()) < 1 - MIXED_SHARE + 1e-9:
            notes.append("mixed languages: " + ", ".join(f"{language_name(c)} {share:.0%}"
                                                         for c, share in shares.items()))
        foreign = code != "en" or any(c != "en" and share >= MIXED_SHARE for c, share in shares.items())
        if not foreign:
            return self.english, TextLanguage(code, language_name(code), language is None, "; ".join(notes) or None)
        if code in OUTSIDE_ENCODER:
            raise UnsupportedLanguage(f"{name}: written in {language_name(code)}, a language propscope's encoders "
                                      "never read, so it shows no spans for it (if the language was told wrong, "
                                      "give --language)")
        if self.multilingual_dir is None:
            raise UnsupportedLanguage(f"{name}: written in {language_name(code)}, which needs the multilingual model "
                             f"({MULTILINGUAL_NAME}), and none is installed; give --language en to read it "
                             "with the English model anyway")
        if code not in self.multilingual_languages:
            notes.insert(0, untrained_note(code, self.multilingual_languages, self.zero_shot))
        return (self.analyzer(self.multilingual_dir),
                TextLanguage(code, language_name(code), language is None, "; ".join(notes) or None))

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``function(item)`` for every item, in order, on the English analyzer's workers (see
        ``Analyzer.map``); the function may use any of the analyzers."""
        return self.english.map(function, items)

    def analyze(self, text: str, *, name: str = "text", source: Source | None = None,
                sensitivity: Sensitivity | None = None, language: str | None = None) -> Analysis:
        """Analyse ``text`` with the model for its language; the Analysis records the language."""
        analyzer, found = self.route(text, language, name=name)
        return replace(analyzer.analyze(text, name=name, source=source, sensitivity=sensitivity), language=found)


@cache
def default_readers() -> Readers:
    """The shipped models, loaded once per process."""
    return Readers()


def analyze(text: str, *, sensitivity: Sensitivity | None = None, language: str | None = None) -> Analysis:
    """Analyse one text with the shipped model for its language, at ``sensitivity`` (low,
    balanced or high; default balanced); ``language`` (ISO 639-1) overrides the detector."""
    return default_readers().analyze(text, sensitivity=sensitivity, language=language)
