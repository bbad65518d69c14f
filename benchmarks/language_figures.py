"""SI, FLC and SLC per language of one model on a PTC-format folder of several languages.

    python benchmarks/language_figures.py --model DIR --data ../shared/data/checkthat-2024-test

For a model's zero-shot figures on languages it never trained on (checkthat-2024-test:
Bulgarian and Portuguese), as `propscope publish --zero-shot` records them in the model it
ships. The model reads every article at its default setting, and the spans are scored as
cross-validation scores a fold of several languages (``crossval.by_language``): a predicted
span inside a stretch whose technique has no PTC label counts neither way. Nothing is tuned.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from propscope import crossval, datasets
from propscope.model import Analyzer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="A model folder.")
    parser.add_argument("--data", type=Path, required=True, help="A PTC-format folder, one folder per language.")
    args = parser.parse_args()
    corpus = datasets.load_corpus(args.data, {"validation_fraction": 0.0, "split_seed": 0})
    analyzer = Analyzer(args.model)
    figures = crossval.language_figures(analyzer, corpus)
    print(json.dumps({"model": analyzer.info.to_dict(), "data": str(args.data), "by_language": figures}, indent=2))


if __name__ == "__main__":
    main()
