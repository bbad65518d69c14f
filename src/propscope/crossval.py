"""Cross-validation: the yardstick every recipe is judged by.

The articles of a PTC folder are dealt into k seeded folds, never splitting an article nor a
group of near-duplicate articles (``folds``). For each fold, the recipe trains on the other
folds, less a part of them (``data.tune_fraction``) held out, and the model it gives predicts
the fold's articles. Once every fold has its model, each fold's decoding is tuned on the
held-out parts of all the fold models, less the fold's own articles: each article decoded by
the model that held it out, with five folds three times as many as one fold's part, for
choices that vary less by sample. At ``data.tune_fraction = 0`` nothing is held out: every
fold model trains on all the other folds, as the final model trains on every article, and
each fold is tuned on the other folds' out-of-fold predictions instead. Nothing about a
fold's articles, not even a threshold, is chosen with their labels. The out-of-fold
predictions are scored per fold; the summary is the mean and spread over folds.

A run is resumable: a fold whose ``figures.json`` exists is not trained again, and a fold cut
off while training goes on from its last finished epoch.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from propscope import calibration, datasets, model_folder, ptc, scoring
from propscope.decoding import SENSITIVITIES, sensitivity_settings
from propscope.errors import InputError
from propscope.folds import GROUPING, fold_ids
from propscope.folds import assign as assign_folds
from propscope.model import Analyzer, Encoding
from propscope.predict import marked_lines
from propscope.text import sentence_bounds

HEADLINE = ("si", "tc", "flc", "slc", "spearman")
SPAN_FILTER = "span_filter.json"  # the span filter for the model trained on every article
LABEL_TRUST = "label_trust.json"  # and its label trust


# Settings that change how fast a recipe runs or how its final model is split, not what it learns.
NOT_RECIPE = {("data", "validation_fraction"), ("model", "score_rate"), ("model", "name"), ("model", "languages"),
              ("train", "threads"), ("train", "device")}


def read_summary(out_dir: Path, config: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of a finished cross-validation of the recipe ``config``; refuses a run of
    another recipe, or an unfinished one."""
    try:
        summary: dict[str, Any] = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{out_dir}: not a finished cross-validation run ({exc})") from None
    check_same_recipe(out_dir, config)
    if "decoding" not in summary:
        raise InputError(f"{out_dir}: the cross-validation has not finished every fold; run it again to finish")
    return summary


def read_baseline(out_dir: Path, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of another recipe's finished cross-validation on the same folds as ``summary``,
    for the model card to report beside it; refuses one on other folds."""
    try:
        baseline: dict[str, Any] = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        per_fold = baseline["per_fold"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{out_dir}: not a finished cross-validation run ({exc})") from None
    if len(per_fold) != summary["folds"]:
        raise InputError(f"{out_dir}: that cross-validation has {len(per_fold)} folds on record and --crossval has "
                         f"{summary['folds']}; finish its folds, or give one on the same folds")
    for key in ("seed", "articles", "grouping"):
        if baseline.get(key) != summary.get(key):
            raise InputError(f"{out_dir}: that cross-validation is not on the same folds as --crossval "
                             f"({key} {baseline[key]}, not {summary.get(key)})")
    return {"run": out_dir.resolve().name, "folds": len(per_fold), "mean": baseline["mean"], "sd": baseline["sd"]}


def _without_unused_parts(config: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The recipe without its distill section when it names no teacher, and without its reader
    section when the reader has no weight: recipes from before distillation or the reader have
    none, and the other keys are unused without them."""
    unused = {"distill"} if not config.get("distill", {}).get("teacher") else set()
    if not float(config.get("reader", {}).get("weight", 0)):
        unused.add("reader")
    return {section: values for section, values in config.items() if section not in unused}


def check_same_recipe(out_dir: Path, config: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise unless the cross-validation in ``out_dir`` ran the recipe ``config``."""
    try:
        ran: dict[str, dict[str, Any]] = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{out_dir}: not a cross-validation run ({exc})") from None
    before, now = _without_unused_parts(ran), _without_unused_parts(config)
    if "reader" not in before:  # fold models without a reader gain one (see _add_fold_reader)
        now = {section: values for section, values in now.items() if section != "reader"}
    differing = sorted(
        f"{section}.{key}"
        for section in set(before) | set(now) if section != "decoding"
        for key in set(before.get(section, {})) | set(now.get(section, {}))
        if (section, key) not in NOT_RECIPE and before.get(section, {}).get(key) != now.get(section, {}).get(key)
    )
    if differing:
        raise InputError(f"{out_dir}: that cross-validation ran another recipe (it differs in {', '.join(differing)})")


def gold_density(text: str, rows: Sequence[ptc.LabelledSpan]) -> float:
    """Gold technique spans per sentence: what the article score should rank articles by."""
    return len(rows) / max(1, len(sentence_bounds(text)))


def run(
    config: Mapping[str, Mapping[str, Any]],
    data_dir: Path,
    out_dir: Path,
    *,
    folds: int = 5,
    seed: int = 2020,
    only: Sequence[int] | None = None,
    retune: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Cross-validate the recipe ``config`` on the PTC folder ``data_dir``; write every fold's
    model, predictions and figures under ``out_dir`` and return the summary. ``only`` runs
    some of the folds, for a cheaper comparison on the same folds. ``retune`` tunes the
    decoding of folds already trained again, on their own tuning articles, and measures them
    again: for a change in decoding or scoring that needs no new training."""
    outside = sorted({k for k in only or () if not 0 <= k < folds})
    if outside:
        raise InputError(f"--fold {outside[0]}: the folds are numbered 0 to {folds - 1}")
    corpus = datasets.load_corpus(data_dir, config["data"])
    assignment = assign_folds(corpus.articles, folds, seed)
    if (out_dir / "config.json").is_file():
        check_same_recipe(out_dir, config)
    dealt = "".join(f"{article_id}\t{fold}\n" for article_id, fold in sorted(assignment.items()))
    if (out_dir / "folds.tsv").is_file() and (out_dir / "folds.tsv").read_text(encoding="utf-8") != dealt:
        raise InputError(f"{out_dir}: its folds were dealt otherwise (another corpus, seed or fold grouping); "
                         "give a new --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "folds.tsv").write_text(dealt, encoding="utf-8")
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    digest = datasets.data_digest(data_dir)
    per_fold = []
    chosen = sorted(set(only)) if only is not None else list(range(folds))
    for fold in chosen:
        fold_dir = out_dir / f"fold-{fold}"
        if not (fold_dir / "figures.json").is_file():
            _run_fold(config, corpus, assignment, fold, fold_dir, digest, progress)
        elif _lacks_reader(config, fold_dir):
            _add_fold_reader(config, corpus, assignment, fold, fold_dir, progress)
        elif retune and only is not None:
            _retune_fold(corpus, assignment, fold, fold_dir, progress)
    if only is None:
        _tune_pooled(corpus, assignment, out_dir, folds, again=retune, workers=int(config["train"]["threads"]),
                     progress=progress)
    for fold in chosen:
        per_fold.append(json.loads((out_dir / f"fold-{fold}" / "figures.json").read_text(encoding="utf-8")))
    summary = summarise(per_fold)
    summary |= {"articles": len(assignment), "seed": seed, "grouping": GROUPING}
    if only is None:
        summary["decoding"] = median_settings(per_fold)
        for key, name in (("span_filter", SPAN_FILTER), ("label_trust", LABEL_TRUST)):
            if (out_dir / name).is_file():
                summary[key] = json.loads((out_dir / name).read_text(encoding="utf-8"))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name in ("pred.tsv", "tc.tsv"):
        with (out_dir / name).open("w", encoding="utf-8", newline="") as out:
            for fold in chosen:
                out.write((out_dir / f"fold-{fold}" / name).read_text(encoding="utf-8"))
    return summary


def median_settings(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """The decoding of each setting for a model trained on every article, which has no held-out
    part to tune on: per parameter, the median of what the folds chose."""
    return {
        name: {key: statistics.median(f["decoding"][name][key] for f in per_fold)
               for key in per_fold[0]["decoding"][name]}
        for name in SENSITIVITIES
    }


def _run_fold(
    config: Mapping[str, Mapping[str, Any]],
    corpus: datasets.Corpus,
    assignment: Mapping[str, int],
    fold: int,
    fold_dir: Path,
    digest: str,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    from propscope import training  # torch and transformers: only a fold that trains needs them

    started = time.monotonic()
    test_ids = fold_ids(assignment, fold)
    train_ids, tune_ids = datasets.split_articles(
        sorted(i for i, f in assignment.items() if f != fold),
        float(config["data"]["tune_fraction"]), int(config["data"]["split_seed"]),
    )
    inner = replace(corpus, train_ids=train_ids, validation_ids=tune_ids)
    model, log = training.fit(config, inner, checkpoints=fold_dir / "checkpoints", progress=progress)
    training.export(model, config, inner, fold_dir / "model", log=log, data_sha256=digest, progress=progress)
    analyzer = Analyzer(fold_dir / "model")
    articles = {i: corpus.articles[i] for i in test_ids}
    gold = [row for row in corpus.labels if row.article_id in articles]
    figures = evaluate_fold(analyzer, articles, gold, fold_dir, corpus)
    figures |= {"fold": fold, "test_articles": len(test_ids), "train_articles": len(train_ids),
                "tune_articles": len(tune_ids), "minutes": round((time.monotonic() - started) / 60, 1)}
    (fold_dir / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(fold_dir / "checkpoints")


def _lacks_reader(config: Mapping[str, Mapping[str, Any]], fold_dir: Path) -> bool:
    model_config = json.loads((fold_dir / "model" / "config.json").read_text(encoding="utf-8"))
    return bool(float(config.get("reader", {}).get("weight", 0))) and "span_reader" not in model_config


def _add_fold_reader(
    config: Mapping[str, Mapping[str, Any]],
    corpus: datasets.Corpus,
    assignment: Mapping[str, int],
    fold: int,
    fold_dir: Path,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Give a fold model trained without the recipe's span reader one, trained on the fold
    model's own training articles, and measure the fold again; its decoding is tuned anew. So a
    copy of a finished run, run again with a reader in the recipe, measures the reader on the
    same fold models, at the cost of training readers only."""
    from propscope.span_reader_training import add_reader  # torch: only a fold that trains needs it

    recipe = json.loads((fold_dir / "model" / "recipe.json").read_text(encoding="utf-8"))
    inner = replace(corpus, train_ids=recipe["train_articles"], validation_ids=recipe["validation_articles"])
    add_reader(config, inner, fold_dir / "model", progress=progress)
    _measure_again(corpus, assignment, fold, fold_dir, None, tuned_on=None)


def _retune_fold(
    corpus: datasets.Corpus,
    assignment: Mapping[str, int],
    fold: int,
    fold_dir: Path,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Tune a fold's decoding again on its own model's held-out articles, and measure it again."""
    held_out = held_out_ids(fold_dir)
    if not held_out:
        raise InputError(f"--retune --fold {fold}: the fold's model holds no article out to tune on "
                         "(data.tune_fraction = 0); run --retune without --fold to tune every fold on the pool")
    analyzer = Analyzer(fold_dir / "model")
    encoded = calibration.encode_articles(analyzer, {i: corpus.articles[i] for i in held_out}, progress=progress)
    _measure_again(corpus, assignment, fold, fold_dir, calibration.tune(encoded, corpus.labels), tuned_on=None)


def tuning_pool(assignment: Mapping[str, int], unseen: Mapping[int, Sequence[str]], fold: int) -> dict[str, int]:
    """The articles that tune ``fold``'s decoding, each with the fold whose model decodes it:
    the articles each fold model tunes on (``unseen``: its held-out part, or its own fold where
    it holds none out), less the fold's own. An article in several is decoded by the fold's own
    model, else by the first."""
    pool: dict[str, int] = {}
    for model in [fold, *sorted(set(unseen) - {fold})]:
        for article_id in unseen[model]:
            if assignment[article_id] != fold:
                pool.setdefault(article_id, model)
    return pool


def held_out_ids(fold_dir: Path) -> list[str]:
    """The articles of the training side that a fold's model was not trained on, kept out to tune on."""
    recipe = json.loads((fold_dir / "model" / "recipe.json").read_text(encoding="utf-8"))
    return list(recipe["validation_articles"])


def _tune_pooled(
    corpus: datasets.Corpus,
    assignment: Mapping[str, int],
    out_dir: Path,
    folds: int,
    *,
    again: bool,
    workers: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    """Tune each fold's decoding on its ``tuning_pool`` and measure the fold again; folds tuned
    so already are left, unless ``again``. The pools share most articles, so they are tuned
    together, by ``workers`` processes."""
    fold_dirs = [out_dir / f"fold-{fold}" for fold in range(folds)]
    todo = [fold for fold, fold_dir in enumerate(fold_dirs) if again
            or "tuned_on" not in json.loads((fold_dir / "figures.json").read_text(encoding="utf-8"))]
    if not todo:
        return
    unseen = {fold: held_out_ids(fold_dir) or fold_ids(assignment, fold)
              for fold, fold_dir in enumerate(fold_dirs)}
    chosen = {fold: tuning_pool(assignment, unseen, fold) for fold in todo}
    decoded_by = [sorted({i for pool in chosen.values() for i, model in pool.items() if model == fold})
                  for fold in range(folds)]
    encoded = {fold: calibration.encode_articles(Analyzer(fold_dirs[fold] / "model"),
                                                 {i: corpus.articles[i] for i in ids}, progress=progress)
               for fold, ids in enumerate(decoded_by)}
    pools = {fold: {i: encoded[model][i] for i, model in chosen[fold].items()} for fold in todo}
    tuned = calibration.tune_pools(pools, corpus.labels, workers=workers)
    for fold in todo:
        _measure_again(corpus, assignment, fold, fold_dirs[fold], tuned[fold], tuned_on=len(pools[fold]))
    # The model trained on every article gets the folds' median decoding, and a span filter and
    # label trust fit on every out-of-fold article, each decoded by the fold model that did not
    # train on it.
    medians = median_settings([json.loads((d / "figures.json").read_text(encoding="utf-8")) for d in fold_dirs])
    unseen_encoded: dict[str, tuple[Analyzer, Encoding]] = {}
    for fold, ids in unseen.items():
        missing = {i: corpus.articles[i] for i in ids if i not in encoded[fold]}  # in no pool tuned now
        if missing:
            encoded[fold] |= calibration.encode_articles(Analyzer(fold_dirs[fold] / "model"), missing)
        for i in ids:
            unseen_encoded.setdefault(i, encoded[fold][i])
    balanced = sensitivity_settings(medians)["balanced"]
    final_filter = calibration.fit_span_filter(unseen_encoded, corpus.labels, balanced)
    (out_dir / SPAN_FILTER).write_text(
        json.dumps(final_filter.to_dict() if final_filter else None) + "\n", encoding="utf-8"
    )
    final_trust = calibration.fit_label_trust(unseen_encoded, corpus.labels, balanced, final_filter)
    (out_dir / LABEL_TRUST).write_text(json.dumps(final_trust.to_dict(), indent=2) + "\n", encoding="utf-8")


def _measure_again(
    corpus: datasets.Corpus,
    assignment: Mapping[str, int],
    fold: int,
    fold_dir: Path,
    tuned: calibration.Tuned | None,
    *,
    tuned_on: int | None,
) -> None:
    """Give a fold's model the ``tuned`` decoding, if any, and measure the fold with it;
    ``tuned_on`` records how many articles a pooled tuning chose it on."""
    model_dir = fold_dir / "model"
    if tuned:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        config.pop("span_filter", None)
        model_folder.write_config(model_dir, config | tuned.config())
    figures = json.loads((fold_dir / "figures.json").read_text(encoding="utf-8"))
    test_articles = {i: corpus.articles[i] for i in fold_ids(assignment, fold)}
    gold = [row for row in corpus.labels if row.article_id in test_articles]
    keep = {key: figures[key] for key in ("fold", "test_articles", "train_articles", "tune_articles", "minutes")}
    figures = evaluate_fold(Analyzer(model_dir), test_articles, gold, fold_dir, corpus) | keep
    if tuned_on is not None:
        figures["tuned_on"] = tuned_on
    (fold_dir / "figures.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def evaluate_fold(
    analyzer: Analyzer, articles: Mapping[str, str], gold: Sequence[ptc.LabelledSpan], fold_dir: Path,
    corpus: datasets.Corpus,
) -> dict[str, Any]:
    """Score a fold's articles at every sensitivity setting, and write ``pred.tsv`` (the spans
    at the default setting), ``sentences.tsv`` (its verdict on every line), ``tc.tsv`` (the
    technique of each gold span) and ``scores.tsv`` (article score and gold density). A corpus
    of several languages is also scored per language (``by_language``)."""
    encoded = calibration.encode_articles(analyzer, articles)
    figures = calibration.measure(encoded, gold, analyzer.settings)
    grouped = ptc.by_article(gold)
    pred, scores, density = [], [], []
    with (fold_dir / "sentences.tsv").open("w", encoding="utf-8", newline="") as verdicts:
        for article_id, text in articles.items():
            analysis = analyzer.analyze(text, name=f"article{article_id}.txt")
            pred += [ptc.LabelledSpan(article_id, s.technique, s.start, s.end) for s in analysis.spans]
            ptc.write_sentence_labels(article_id, marked_lines(analysis), verdicts)
            scores.append(analysis.score)
            density.append(gold_density(text, grouped.get(article_id, [])))
    for name, rows in (("pred.tsv", pred), ("tc.tsv", calibration.label_gold_spans(encoded, gold))):
        with (fold_dir / name).open("w", encoding="utf-8", newline="") as out:
            ptc.write_labels(rows, out)
    (fold_dir / "scores.tsv").write_text(
        "".join(f"{i}\t{s:.6f}\t{d:.6f}\n" for i, s, d in zip(articles, scores, density, strict=True)),
        encoding="utf-8",
    )
    figures["spearman"] = round(scoring.spearman(scores, density), 4)
    languages = {corpus.languages.get(article_id, "") for article_id in articles}
    if len(languages) > 1 or languages - {""}:
        figures["by_language"] = by_language(articles, gold, pred, dict(zip(articles, scores, strict=True)),
                                             dict(zip(articles, density, strict=True)), corpus)
    return figures


def by_language(
    articles: Mapping[str, str], gold: Sequence[ptc.LabelledSpan], pred: Sequence[ptc.LabelledSpan],
    scores: Mapping[str, float], density: Mapping[str, float], corpus: datasets.Corpus,
) -> dict[str, dict[str, float]]:
    """SI, FLC and SLC F1 and Spearman of each language's articles, at the default setting. A
    predicted span inside a stretch that the later scheme annotates with a technique the PTC does
    not name (``corpus.masked``) counts neither way, as it counts neither way in training."""
    def unmasked(span: ptc.LabelledSpan) -> bool:
        return not any(start <= span.start and span.end <= end for start, end in corpus.masked.get(span.article_id, ()))

    figures = {}
    for language in sorted({corpus.languages.get(article_id, "") for article_id in articles}):
        ids = [article_id for article_id in articles if corpus.languages.get(article_id, "") == language]
        chosen = set(ids)
        measured = scoring.evaluate({i: articles[i] for i in ids}, [row for row in gold if row.article_id in chosen],
                                    [row for row in pred if row.article_id in chosen and unmasked(row)])
        figures[language or "unknown"] = {
            "articles": len(ids), **{key: round(measured[key]["f1"], 4) for key in ("si", "flc", "slc")},
            "flc_precision": round(measured["flc"]["precision"], 4), "flc_recall": round(measured["flc"]["recall"], 4),
            "spearman": round(scoring.spearman([scores[i] for i in ids], [density[i] for i in ids]), 4),
        }
    return figures


def language_figures(analyzer: Analyzer, corpus: datasets.Corpus) -> dict[str, dict[str, float]]:
    """``by_language`` of every article of ``corpus`` read at the model's default setting, as it
    is: nothing is tuned, so on languages the model never saw these are its zero-shot figures."""
    pred, scores, density = [], {}, {}
    grouped = ptc.by_article(corpus.labels)
    for article_id, text in corpus.articles.items():
        analysis = analyzer.analyze(text, name=f"article{article_id}.txt")
        pred += [ptc.LabelledSpan(article_id, s.technique, s.start, s.end) for s in analysis.spans]
        scores[article_id] = analysis.score
        density[article_id] = gold_density(text, grouped.get(article_id, []))
    return by_language(corpus.articles, corpus.labels, pred, scores, density, corpus)


def headline(figures: Mapping[str, Any]) -> dict[str, float]:
    """The five acceptance figures of one fold, at the default setting."""
    balanced = figures["balanced"]
    return {
        "si": balanced["si"]["f1"], "tc": figures["tc"]["micro_f1"], "flc": balanced["flc"]["f1"],
        "slc": balanced["slc"]["f1"], "spearman": figures["spearman"],
    }


def summarise(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of every headline figure."""
    rows = [headline(f) for f in per_fold]
    settings = {
        name: {measure: {key: round(statistics.fmean(f[name][measure][key] for f in per_fold), 4)
                         for key in ("precision", "recall", "f1")}
               for measure in ("si", "flc", "slc")}
        for name in SENSITIVITIES
    }
    summary = {
        "folds": len(rows),
        "mean": {key: round(statistics.fmean(r[key] for r in rows), 4) for key in HEADLINE},
        "sd": {key: round(statistics.stdev(r[key] for r in rows), 4) if len(rows) > 1 else 0.0 for key in HEADLINE},
        "per_fold": rows,
        "settings": settings,
    }
    if all("by_language" in f for f in per_fold):
        languages = sorted({language for f in per_fold for language in f["by_language"]})
        summary["by_language"] = {
            language: {key: round(statistics.fmean(f["by_language"][language][key] for f in per_fold
                                                   if language in f["by_language"]), 4)
                       for key in ("si", "flc", "flc_precision", "flc_recall", "slc", "spearman")}
            | {"articles": sum(f["by_language"].get(language, {}).get("articles", 0) for f in per_fold)}
            for language in languages
        }
    if all("flc_per_technique" in f["balanced"] for f in per_fold):  # folds measured by older code lack it
        summary["flc_per_technique"] = _flc_per_technique([f["balanced"]["flc_per_technique"] for f in per_fold])
    return summary


def _flc_per_technique(tables: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """FLC of each technique at the default setting, mean over the folds it occurs in, with its
    gold spans over all folds; the most frequent first."""
    labels = {label for table in tables for label in table}
    gold = {label: sum(t[label]["gold_spans"] for t in tables if label in t) for label in labels}
    return {
        label: {key: round(statistics.fmean(t[label][key] for t in tables if label in t), 4)
                for key in ("precision", "recall", "f1")} | {"gold_spans": gold[label]}
        for label in sorted(gold, key=lambda label: (-gold[label], label))
    }
