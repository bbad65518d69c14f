"""SI, FLC and SLC per language of one model on a PTC-format folder of several languages.

    python benchmarks/language_figures.py --model DIR --data ../shared/data/checkthat-2024-test

For the multilingual model's zero-shot figures on languages it never trained on
(checkthat-2024-test: Bulgarian and Portuguese). The model reads every article at its default
setting, and the spans are scored as cross-validation scores a fold of several languages
(``crossval.by_language``): a predicted span inside a stretch whose technique has no PTC label
counts neither way. Nothing is tuned here: the model's own decoding is used as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from propscope import crossval, datasets, ptc
from propscope.model import Analyzer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="A model folder.")
    parser.add_argument("--data", type=Path, required=True, help="A PTC-format folder, one folder per language.")
    args = parser.parse_args()
    corpus = datasets.load_corpus(args.data, {"validation_fraction": 0.0, "split_seed": 0})
    analyzer = Analyzer(args.model)
    pred, scores, density = [], {}, {}
    grouped = ptc.by_article(corpus.labels)
    for article_id, text in corpus.articles.items():
        analysis = analyzer.analyze(text, name=f"article{article_id}.txt")
        pred += [ptc.LabelledSpan(article_id, s.technique, s.start, s.end) for s in analysis.spans]
        scores[article_id] = analysis.score
        density[article_id] = crossval.gold_density(text, grouped.get(article_id, []))
    figures = crossval.by_language(corpus.articles, corpus.labels, pred, scores, density, corpus)
    print(json.dumps({"model": analyzer.info.to_dict(), "data": str(args.data), "by_language": figures}, indent=2))


if __name__ == "__main__":
    main()
