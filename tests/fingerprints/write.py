"""Write the shipped models' fingerprints: their token probabilities on hand-written texts.

    python -m tests.fingerprints.write

Run it only when a new model ships: tests/test_model.py then checks that every install gives
these numbers, and says by how much they moved when they do not.
"""

import json
from pathlib import Path

import numpy as np

from propscope import environment
from propscope.language import MULTILINGUAL_NAME, shipped_multilingual_dir
from propscope.model import MODEL_NAME, Analyzer, shipped_model_dir
from propscope.model_internals import Internals
from tests.conftest import CALM, PROPAGANDA, REPO, WAR_REPORT

FINGERPRINTS = Path(__file__).resolve().parent
EXAMPLES = REPO / "examples"
# Each shipped model's texts: the English ones hand-written for the tests, the others the examples.
TEXTS = {
    MODEL_NAME: {"WAR_REPORT": WAR_REPORT, "PROPAGANDA": PROPAGANDA, "CALM": CALM},
    MULTILINGUAL_NAME: {code: (EXAMPLES / f"article-{code}.txt").read_text(encoding="utf-8") for code in ("fr", "ru", "pl")},
}


def model_dir(model: str) -> Path | None:
    return shipped_model_dir() if model == MODEL_NAME else shipped_multilingual_dir()


def token_probabilities(analyzer: Analyzer, text: str) -> np.ndarray:
    return Internals(analyzer).encode(text).materialized().token_probabilities()


if __name__ == "__main__":
    for model, texts in TEXTS.items():
        folder = model_dir(model)
        if folder is None:
            print(f"{model}: not installed, its fingerprint left as it is")
            continue
        analyzer = Analyzer(folder, threads=1)
        meta = {"sha256": analyzer.config["sha256"], "runtime": environment.runtime_versions(),
                "int8_path": environment.int8_path()}
        written = FINGERPRINTS / f"{model}.npz"
        np.savez_compressed(written, meta=np.array(json.dumps(meta)),
                            **{name: token_probabilities(analyzer, text) for name, text in texts.items()})
        print(f"wrote {written} ({written.stat().st_size / 1e3:.0f} kB)")
