"""Tuning a model's decoding: the thresholds of each sensitivity setting and the span filter,
chosen on held-out articles, and the figures they give (for the model card). No torch here;
``model_folder`` writes the folder they go into.

Each setting maximises F-beta of SI plus F-beta of FLC: ``low`` with beta 0.5 (precision
counts more), ``balanced`` with beta 1, ``high`` with beta 2 (recall counts more). Its
``sentence_evidence``, which marks sentences and not spans, maximises F-beta of SLC.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import numpy as np

from propscope import label_trust, ptc, scoring, span_filter
from propscope.decoding import DISABLED, DecodingParams, Detection, FloatArray
from propscope.label_trust import LabelTrust
from propscope.model import Analyzer, Encoding
from propscope.model_internals import Internals
from propscope.predict import label_spans, labelled_rows
from propscope.text import line_bounds

BETA = {"low": 0.5, "balanced": 1.0, "high": 2.0}
HIGH = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
LOW_FRACTION = (0.5, 0.65, 0.8)
MAX_GAP = (0, 2, 4, 6)
SECOND_LABEL = (0.25, 0.4, DISABLED)
MIN_CONFIDENCE = (0.0, 0.1, 0.2)
MAX_NONE = (1.0, 0.6, 0.4)
TECHNIQUE_HIGH = (DISABLED, 0.7, 0.6, 0.5, 0.4, 0.3)
REPETITION = (DISABLED, 0.7, 0.55, 0.4, 0.3, 0.2)
MIN_SUPPORT = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
LONG_SPAN = (0.0, 3.0, 2.0, 1.5, 1.0)
RECUR = (DISABLED, 0.6, 0.5, 0.4, 0.3)
SENTENCE_EVIDENCE = (DISABLED, 0.5, 0.45, 0.4, 0.35, 0.3, 0.275, 0.25, 0.225, 0.2, 0.175, 0.15, 0.125, 0.1)
ROUNDS = 3


@dataclass(frozen=True)
class Tuned:
    """The decoding parameters of every sensitivity setting, and the span filter whose support
    their ``min_support`` thresholds (None where tuning fit none)."""

    settings: dict[str, DecodingParams]
    span_filter: span_filter.SpanFilter | None = None
    label_trust: LabelTrust | None = None

    def config(self) -> dict[str, Any]:
        """The model folder's config entries for this decoding."""
        entries: dict[str, Any] = {"decoding": {name: params.to_dict() for name, params in self.settings.items()}}
        if self.span_filter is not None:
            entries["span_filter"] = self.span_filter.to_dict()
        if self.label_trust is not None:
            entries["label_trust"] = self.label_trust.to_dict()
        return entries


# What tuning decodes: each article's encoding and the analyzer that made it (cross-validation
# tunes over the out-of-fold articles of several models at once).
Encoded = Mapping[str, tuple[Analyzer, Encoding]]


def encode_articles(
    analyzer: Analyzer, articles: Mapping[str, str], *, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, tuple[Analyzer, Encoding]]:
    """Run the encoder once over every article, for decoding many times."""
    encoded = {}
    for done, (article_id, text) in enumerate(sorted(articles.items()), start=1):
        encoded[article_id] = (analyzer, Internals(analyzer).encode(text).materialized())
        if progress:
            progress("tune", done, len(articles))
    return encoded


def _decode(encoded: Encoded, params: DecodingParams) -> dict[str, list[Detection]]:
    return {i: Internals(analyzer).decode(encoding, params) for i, (analyzer, encoding) in encoded.items()}


def tune(encoded: Encoded, gold: Sequence[ptc.LabelledSpan], *, workers: int = 1) -> Tuned:
    """The decoding parameters of every sensitivity setting, chosen on ``encoded`` articles.

    First the tagger's spans on a full grid; then, one after the other, the threshold for
    spans of single technique channels, the one for recurring phrases as Repetition, how much
    longer than its technique's spans a span may run before it is cut to its cores, and how
    sure a span must be for the other occurrences of its words to be judged too. They depend
    on each other, so the rounds repeat with the others in place until no choice changes (at
    most ``ROUNDS``). Then a span filter is fit on the spans of the balanced
    setting, and each setting gets the ``min_support`` that suits it best (0: no filtering).
    Last, each setting gets its ``sentence_evidence``. ``workers`` processes share the decoding.
    """
    return tune_pools({"": encoded}, gold, workers=workers)[""]


def tune_pools(
    pools: Mapping[Pool, Encoded], gold: Sequence[ptc.LabelledSpan], *, workers: int = 1
) -> dict[Pool, Tuned]:
    """``tune`` on each of several pools of articles, which may overlap (cross-validation tunes
    every fold on most of the same articles). Each article is decoded and scored once per
    candidate for all the pools that hold it: an article's SI and FLC credit adds up with the
    others' into any pool's scores."""
    credits = _Credits(pools, gold)
    has_channels = any(Internals(analyzer).n_channels > 1 for analyzer, _ in credits.units)
    has_lengths = any(analyzer.span_words for analyzer, _ in credits.units)
    settings = {pool: {name: DecodingParams() for name in BETA} for pool in pools}
    tuning = list(pools)
    with credits.workers(workers):
        for _ in range(ROUNDS):
            chosen = credits.stage_one({pool: settings[pool] for pool in tuning})
            if has_channels:
                chosen = credits.best_of(chosen, lambda p: [replace(p, technique_high=t) for t in TECHNIQUE_HIGH])
            chosen = credits.best_of(chosen, lambda p: [replace(p, repetition=r) for r in REPETITION])
            if has_lengths:
                chosen = credits.best_of(chosen, lambda p: [replace(p, long_span=f) for f in LONG_SPAN])
            chosen = credits.best_of(chosen, lambda p: [replace(p, recur=r) for r in RECUR])
            tuning = [pool for pool in tuning if chosen[pool] != settings[pool]]
            settings |= {pool: chosen[pool] for pool in tuning}
            if not tuning:
                break
    if not has_channels:  # a 0.1 model: the filter reads the technique channels
        return {pool: Tuned(settings[pool]) for pool in pools}
    tuned = {pool: _with_sentence_evidence(encoded, gold, _with_span_filter(encoded, credits.gold, settings[pool]))
             for pool, encoded in pools.items()}
    return {pool: replace(tuned[pool], label_trust=fit_label_trust(
                encoded, gold, tuned[pool].settings["balanced"], tuned[pool].span_filter))
            for pool, encoded in pools.items()}


def fit_label_trust(
    encoded: Encoded, gold: Sequence[ptc.LabelledSpan], params: DecodingParams,
    fitted: span_filter.SpanFilter | None,
) -> LabelTrust:
    """Label trust fit on the spans that ``params`` (and the span filter ``fitted``) shows in
    ``encoded`` articles: FLC precision per technique, and each span's confidence against
    whether it overlaps a gold span of its technique."""
    shown = _shown(encoded, params, fitted)
    rows = labelled_rows(shown, params)
    gold_rows = [row for row in gold if row.article_id in encoded]
    precision = {label: scores.precision
                 for label, (scores, _) in scoring.fragment_level_per_technique(gold_rows, rows).items()}
    by_place: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in gold_rows:
        by_place.setdefault((row.article_id, row.technique), []).append((row.start, row.end))
    spans = [(span.technique, span.confidence,
              any(start < span.end and span.start < end for start, end in by_place.get((i, span.technique), ())))
             for i, detections in shown.items() for detection in detections for span in detection.labelled(params)]
    return label_trust.fit(spans, precision)


def fit_span_filter(
    encoded: Encoded, gold: Sequence[ptc.LabelledSpan], params: DecodingParams
) -> span_filter.SpanFilter | None:
    """A span filter fit on the spans that ``params`` finds in ``encoded`` articles, before any
    filter of the analyzers that encoded them."""
    found = _decode(encoded, replace(params, min_support=0.0))
    rows = _filter_rows(encoded, found)
    return _fit(rows, found, scoring.GroupedGold(gold))


def _filter_rows(encoded: Encoded, found: Mapping[str, Sequence[Detection]]) -> dict[str, FloatArray]:
    return {i: span_filter.features(detections, encoded[i][1].tokens, encoded[i][1].token_probabilities())
            for i, detections in found.items()}


def _fit(
    rows: Mapping[str, FloatArray], found: Mapping[str, Sequence[Detection]], gold: scoring.GroupedGold
) -> span_filter.SpanFilter | None:
    """Fit the filter on whether each found span overlaps a gold span of its article."""
    overlaps = [
        any(start < d.end and d.start < end for start, end in gold.by_article.get(i, ()))
        for i, detections in found.items() for d in detections
    ]
    return span_filter.fit(np.concatenate(list(rows.values())), np.asarray(overlaps, dtype=bool))


def _filtered_objective(
    found: Mapping[str, Sequence[Detection]], support: Mapping[str, FloatArray], threshold: float,
    params: DecodingParams, gold: scoring.GroupedGold, beta: float,
) -> float:
    """F-beta of SI plus F-beta of FLC over the articles of ``found``, keeping the spans whose
    support reaches ``threshold``."""
    si = flc = scoring.Credit()
    for i, detections in found.items():
        article_si, article_flc = gold.article_credit(i, labelled_rows({i: _kept(detections, support[i], threshold)}, params))
        si, flc = si + article_si, flc + article_flc
    return si.scores().f_beta(beta) + flc.scores().f_beta(beta)


def _kept(detections: Sequence[Detection], support: FloatArray, threshold: float) -> list[Detection]:
    return [d for d, s in zip(detections, support, strict=True) if s >= threshold]


def _with_span_filter(encoded: Encoded, gold: scoring.GroupedGold, settings: Mapping[str, DecodingParams]) -> Tuned:
    """Fit a span filter on the balanced setting's spans of ``encoded``, then choose each
    setting's ``min_support`` on the same articles for its objective."""
    found = {name: _decode(encoded, params) for name, params in settings.items()}
    rows = {name: _filter_rows(encoded, found[name]) for name in settings}
    fitted = _fit(rows["balanced"], found["balanced"], gold)
    if fitted is None:
        return Tuned(dict(settings))
    chosen = {}
    for name, params in settings.items():
        support = {i: fitted.support(x) for i, x in rows[name].items()}
        objective = {threshold: _filtered_objective(found[name], support, threshold, params, gold, BETA[name])
                     for threshold in MIN_SUPPORT}
        chosen[name] = replace(params, min_support=max(MIN_SUPPORT, key=objective.__getitem__))
    return Tuned(chosen, fitted if any(params.min_support > 0 for params in chosen.values()) else None)


def _with_sentence_evidence(encoded: Encoded, gold: Sequence[ptc.LabelledSpan], tuned: Tuned) -> Tuned:
    """Choose each setting's ``sentence_evidence`` on ``encoded`` for its F-beta of SLC: the
    lines its shown spans mark, and besides them those where a technique channel reaches it."""
    if not encoded:
        return tuned
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    gold_lines = scoring.positive_lines(articles, [row for row in gold if row.article_id in articles])
    strongest = _strongest_by_line(encoded)
    chosen = {}
    for name, params in tuned.settings.items():
        shown = scoring.positive_lines(articles, labelled_rows(_shown(encoded, params, tuned.span_filter), params))
        objective = {threshold: scoring.line_scores(gold_lines, shown | _reaching(strongest, threshold)).f_beta(BETA[name])
                     for threshold in SENTENCE_EVIDENCE}
        chosen[name] = replace(params, sentence_evidence=max(SENTENCE_EVIDENCE, key=objective.__getitem__))
    return replace(tuned, settings=chosen)


def _shown(
    encoded: Encoded, params: DecodingParams, fitted: span_filter.SpanFilter | None
) -> dict[str, list[Detection]]:
    """The detections that ``params`` shows in ``encoded`` articles with the span filter ``fitted``."""
    found = _decode(encoded, replace(params, min_support=0.0))
    if fitted is None or params.min_support <= 0:
        return found
    rows = _filter_rows(encoded, found)
    return {i: _kept(detections, fitted.support(rows[i]), params.min_support) for i, detections in found.items()}


def line_evidence(encoding: Encoding) -> FloatArray:
    """Per line of a materialized encoding's text, the highest probability of any technique
    channel over its tokens: what ``sentence_evidence`` is compared with (-1 where no token
    can reach it: a line without tokens, or a model without technique channels)."""
    probs = encoding.token_probabilities()
    lines = line_bounds(encoding.text)
    out = np.full(len(lines), -1.0, np.float32)
    if probs.shape[1] < 2:
        return out
    strongest = probs[:, 1:].max(axis=1)
    for n, (start, end) in enumerate(lines):
        first, last = encoding.tokens.token_range(start, end)
        if last > first:
            out[n] = strongest[first:last].max()
    return out


def _strongest_by_line(encoded: Encoded) -> dict[tuple[str, int], float]:
    return {(i, n): float(p) for i, (_, encoding) in encoded.items() for n, p in enumerate(line_evidence(encoding))}


def _reaching(strongest: Mapping[tuple[str, int], float], threshold: float) -> set[tuple[str, int]]:
    """The (article id, line index) that a ``sentence_evidence`` of ``threshold`` marks."""
    return {line for line, p in strongest.items() if p >= threshold}


Pool = TypeVar("Pool", bound=Hashable)
_SHARED: _Credits[Any] | None = None  # what forked workers decode, inherited from their parent


class _Credits(Generic[Pool]):
    """Every pool's objectives of any candidate decoding, from each article's SI and FLC credit
    (an article that several pools hold by the same encoding counts once); candidates already
    scored are kept."""

    def __init__(self, pools: Mapping[Pool, Encoded], gold: Sequence[ptc.LabelledSpan]) -> None:
        index: dict[int, int] = {}
        self.article_ids: list[str] = []
        self.units: list[tuple[Analyzer, Encoding]] = []
        membership: list[list[int]] = []
        for encoded in pools.values():
            members = []
            for article_id, unit in encoded.items():
                if id(unit[1]) not in index:
                    index[id(unit[1])] = len(self.units)
                    self.article_ids.append(article_id)
                    self.units.append(unit)
                members.append(index[id(unit[1])])
            membership.append(members)
        self.rows = {pool: row for row, pool in enumerate(pools)}
        self.membership = np.zeros((len(pools), len(self.units)))
        for row, members in enumerate(membership):
            self.membership[row, members] = 1.0
        articles = set(self.article_ids)
        self.gold = scoring.GroupedGold(row for row in gold if row.article_id in articles)
        self.gold_counts = self.membership @ np.array(
            [[si.gold, flc.gold] for si, flc in (self.gold.article_credit(i, ()) for i in self.article_ids)], dtype=float
        )
        self.scored: dict[DecodingParams, np.ndarray] = {}
        self.done: dict[DecodingParams, np.ndarray] = {}  # which articles ``scored`` holds
        self.executor: ProcessPoolExecutor | None = None

    @contextmanager
    def workers(self, count: int) -> Iterator[None]:
        global _SHARED
        if count <= 1:
            yield
            return
        _SHARED = self
        try:
            with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as self.executor:
                yield
        finally:
            self.executor, _SHARED = None, None

    def credit(self, params: DecodingParams, units: Sequence[int], detections: Sequence[Sequence[Detection]]) -> np.ndarray:
        """Per article of ``units``: SI's precision sum, predicted spans and recall sum, then FLC's."""
        rows = np.empty((len(units), 6))
        for row, (unit, found) in enumerate(zip(units, detections, strict=True)):
            article_id = self.article_ids[unit]
            si, flc = self.gold.article_credit(article_id, labelled_rows({article_id: found}, params))
            rows[row] = (si.precision_sum, si.predicted, si.recall_sum, flc.precision_sum, flc.predicted, flc.recall_sum)
        return rows

    def score(self, candidates: Mapping[Pool, Sequence[DecodingParams]]) -> None:
        """Score each pool's candidates on its articles not scored yet; candidates that differ only
        in labelling share a decoding."""
        jobs: dict[DecodingParams, tuple[list[DecodingParams], np.ndarray]] = {}
        for pool, choices in candidates.items():
            members = self.membership[self.rows[pool]] > 0
            for params in choices:
                if params not in self.scored:
                    self.scored[params] = np.zeros((len(self.units), 6))
                    self.done[params] = np.zeros(len(self.units), dtype=bool)
                missing = members & ~self.done[params]
                if missing.any():
                    labellings, needed = jobs.setdefault(_decoding_of(params), ([], np.zeros(len(self.units), bool)))
                    labellings.append(params)
                    needed |= missing
        work = [(list(dict.fromkeys(labellings)), np.flatnonzero(needed).tolist()) for labellings, needed in jobs.values()]
        results = self.executor.map(_score_shared, work) if self.executor else (self.score_units(*job) for job in work)
        for (labellings, units), rows in zip(work, results, strict=True):
            for params, credit in zip(labellings, rows, strict=True):
                self.scored[params][units] = credit
                self.done[params][units] = True

    def score_units(self, labellings: Sequence[DecodingParams], units: Sequence[int]) -> list[np.ndarray]:
        detections = [Internals(self.units[unit][0]).decode(self.units[unit][1], labellings[0]) for unit in units]
        return [self.credit(params, units, detections) for params in labellings]

    def objectives(self, params: DecodingParams) -> dict[str, list[float]]:
        """F-beta of SI plus F-beta of FLC in every pool, for the beta of every setting."""
        values: dict[str, list[float]] = {name: [] for name in BETA}
        for (si_p, si_n, si_r, flc_p, flc_n, flc_r), (si_gold, flc_gold) in zip(
            self.membership @ self.scored[params], self.gold_counts, strict=True
        ):
            si = scoring.Credit(si_p, int(si_n), si_r, int(si_gold)).scores()
            flc = scoring.Credit(flc_p, int(flc_n), flc_r, int(flc_gold)).scores()
            for name, beta in BETA.items():
                values[name].append(si.f_beta(beta) + flc.f_beta(beta))
        return values

    def stage_one(self, current: Mapping[Pool, Mapping[str, DecodingParams]]) -> dict[Pool, dict[str, DecodingParams]]:
        """Per pool and setting, the best choice on the full grid of the tagger's own spans, with
        the setting's ``current`` thresholds for technique channels and recurring phrases in place."""
        groups: dict[tuple[float, float], list[tuple[Pool, str]]] = {}
        for pool, settings in current.items():
            for name, params in settings.items():
                groups.setdefault((params.technique_high, params.repetition), []).append((pool, name))
        best: dict[tuple[Pool, str], tuple[float, DecodingParams]] = {}
        for (technique_high, repetition), members in groups.items():
            grid = [
                DecodingParams(high=high, low=round(high * fraction, 4), max_gap=gap, technique_high=technique_high,
                               repetition=repetition, second_label=second, min_confidence=least, max_none=none)
                for high, fraction, gap in itertools.product(HIGH, LOW_FRACTION, MAX_GAP)
                for second, least, none in itertools.product(SECOND_LABEL, MIN_CONFIDENCE, MAX_NONE)
            ]
            self.score({pool: grid for pool, _ in members})
            for params in grid:
                values = self.objectives(params)
                for pool, name in members:
                    value = values[name][self.rows[pool]]
                    if (pool, name) not in best or value > best[pool, name][0]:
                        best[pool, name] = (value, params)
        chosen: dict[Pool, dict[str, DecodingParams]] = {pool: {} for pool in current}
        for (pool, name), (_, params) in best.items():
            chosen[pool][name] = params
        return chosen

    def best_of(
        self,
        current: Mapping[Pool, Mapping[str, DecodingParams]],
        options: Callable[[DecodingParams], list[DecodingParams]],
    ) -> dict[Pool, dict[str, DecodingParams]]:
        """Per pool and setting, the best of the ``options`` of its current choice."""
        candidates = {(pool, name): options(params)
                      for pool, settings in current.items() for name, params in settings.items()}
        by_pool: dict[Pool, list[DecodingParams]] = {}
        for (pool, _), choices in candidates.items():
            by_pool.setdefault(pool, []).extend(choices)
        self.score(by_pool)
        chosen: dict[Pool, dict[str, DecodingParams]] = {pool: {} for pool in current}
        for (pool, name), choices in candidates.items():
            row = self.rows[pool]
            chosen[pool][name] = max(choices, key=lambda params: self.objectives(params)[name][row])
        return chosen


def _score_shared(job: tuple[Sequence[DecodingParams], Sequence[int]]) -> list[np.ndarray]:
    assert _SHARED is not None
    return _SHARED.score_units(*job)


def _decoding_of(params: DecodingParams) -> DecodingParams:
    """The parameters that decide the spans found, with the labelling ones at their defaults."""
    default = DecodingParams()
    return replace(params, second_label=default.second_label, min_confidence=default.min_confidence,
                   max_none=default.max_none)


def measure(
    encoded: Encoded, gold: Sequence[ptc.LabelledSpan], settings: Mapping[str, DecodingParams]
) -> dict[str, Any]:
    """SI, FLC and SLC of every setting, TC on the gold spans, and the settings themselves."""
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    gold = [row for row in gold if row.article_id in articles]
    figures: dict[str, Any] = {}
    strongest = _strongest_by_line(encoded)
    for name, params in settings.items():
        rows = labelled_rows(_decode(encoded, params), params)
        marked = scoring.positive_lines(articles, rows) | _reaching(strongest, params.sentence_evidence)
        figures[name] = scoring.evaluate(articles, gold, rows, predicted_lines=marked)
    figures["tc"] = scoring.technique_classification(gold, label_gold_spans(encoded, gold)).to_dict()
    figures["decoding"] = {name: params.to_dict() for name, params in settings.items()}
    figures["articles"] = len(articles)
    figures["gold_spans"] = len(gold)
    return figures


def label_gold_spans(encoded: Encoded, gold: Sequence[ptc.LabelledSpan]) -> list[ptc.LabelledSpan]:
    """TC: every gold span labelled by the analyzer that encoded its article, in gold order."""
    articles = {i: encoding.text for i, (_, encoding) in encoded.items()}
    template = [ptc.LabelledSpan(g.article_id, ptc.UNLABELLED, g.start, g.end) for g in gold]
    by_analyzer: dict[int, list[int]] = {}
    for index, row in enumerate(template):
        by_analyzer.setdefault(id(encoded[row.article_id][0]), []).append(index)
    labelled: list[ptc.LabelledSpan] = list(template)
    for indices in by_analyzer.values():
        analyzer = encoded[template[indices[0]].article_id][0]
        rows = label_spans(analyzer, articles, [template[k] for k in indices])
        for k, row in zip(indices, rows, strict=True):
            labelled[k] = row
    return labelled
