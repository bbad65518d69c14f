"""Write the shipped model's fingerprint: its token probabilities on the hand-written fixture texts.

    python -m tests.fingerprints.write

Run it only when a new model ships: tests/test_model.py then checks that every install gives
these numbers, and says by how much they moved when they do not.
"""

import json
from pathlib import Path

import numpy as np

from propscope import environment
from propscope.model import Analyzer
from propscope.model_internals import Internals
from tests.conftest import CALM, PROPAGANDA, WAR_REPORT

FINGERPRINT = Path(__file__).resolve().parent / "propscope-minilm.npz"
TEXTS = {"WAR_REPORT": WAR_REPORT, "PROPAGANDA": PROPAGANDA, "CALM": CALM}


def token_probabilities(analyzer: Analyzer, text: str) -> np.ndarray:
    return Internals(analyzer).encode(text).materialized().token_probabilities()


if __name__ == "__main__":
    analyzer = Analyzer(threads=1)
    meta = {"sha256": analyzer.config["sha256"], "runtime": environment.runtime_versions(),
            "int8_path": environment.int8_path()}
    np.savez_compressed(FINGERPRINT, meta=np.array(json.dumps(meta)),
                        **{name: token_probabilities(analyzer, text) for name, text in TEXTS.items()})
    print(f"wrote {FINGERPRINT} ({FINGERPRINT.stat().st_size / 1e3:.0f} kB)")
