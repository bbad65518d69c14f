"""propscope against a BERT-base token tagger (the architecture behind QCRI's Prta), on the
same articles, timed side by side in one run.

    python benchmarks/peer_speed.py [--articles DIR] [--limit 75] [--rounds 2] [--model DIR]

The peer is a ``BertForTokenClassification`` with the BERT-base configuration and random
weights (speed does not depend on the weights), 19 labels, 510-piece windows (512 with [CLS]
and [SEP]), batches of 8 windows, 2 torch threads, fp32, under ``torch.inference_mode``,
tokenised with propscope's own tokenizer. Its clock starts at tokenising and stops at the last
logits; building the network is not counted. propscope is timed end to end: a fresh
``propscope predict`` process, start-up and model loading included. The two alternate for
--rounds rounds, so that a shared, noisy machine slows both alike; medians are printed.

Needs the ``train`` extra (torch and transformers): pip install -e '.[train]'.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PTC_ARTICLES = REPO.parent / "shared" / "data" / "ptc-train" / "articles"
PEER_WINDOW = 510
PEER_BATCH = 8
PEER_LABELS = 19

try:
    import torch
    from transformers import BertConfig, BertForTokenClassification
except ImportError:
    sys.exit("peer_speed.py needs torch and transformers, the train extra: pip install -e '.[train]'")

from propscope.model import shipped_model_dir  # noqa: E402  (after the extra's check)
from propscope.text import load_tokenizer, tokenize  # noqa: E402


def peer_seconds(peer: BertForTokenClassification, texts: list[str], cls: int, sep: int) -> float:
    """Tokenise, cut into 510-piece windows and tag every window with the peer."""
    tokenizer = load_tokenizer(shipped_model_dir() / "tokenizer.json")
    started = time.perf_counter()
    windows = []
    for text in texts:
        ids = tokenize(tokenizer, text).ids
        windows += [[cls, *ids[i : i + PEER_WINDOW], sep] for i in range(0, len(ids), PEER_WINDOW)]
    with torch.inference_mode():
        for first in range(0, len(windows), PEER_BATCH):
            batch = windows[first : first + PEER_BATCH]
            width = max(len(w) for w in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, window in enumerate(batch):
                ids[row, : len(window)] = torch.tensor(window)
                mask[row, : len(window)] = 1
            peer(input_ids=ids, attention_mask=mask).logits.argmax(-1)
    return time.perf_counter() - started


def propscope_seconds(folder: Path, output: Path, model: Path | None) -> float:
    command = shutil.which("propscope") or str(Path(sys.executable).parent / "propscope")
    flags = ["--model", str(model)] if model else []
    started = time.perf_counter()
    subprocess.run([command, "predict", str(folder), "-o", str(output), *flags], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=PTC_ARTICLES, help="folder of article<ID>.txt")
    parser.add_argument("--limit", type=int, default=75, help="the first N articles, by name")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--model", type=Path, default=None, help="propscope model folder (default: the shipped one)")
    args = parser.parse_args()
    paths = sorted(args.articles.glob("article*.txt"))[: args.limit]
    if not paths:
        sys.exit(f"{args.articles}: no article<ID>.txt files; give a folder with --articles")
    texts = [p.read_text(encoding="utf-8") for p in paths]
    tokenizer = load_tokenizer(shipped_model_dir() / "tokenizer.json")
    pieces = sum(len(tokenize(tokenizer, text)) for text in texts)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")

    torch.set_num_threads(2)
    torch.manual_seed(0)
    peer = BertForTokenClassification(BertConfig(num_labels=PEER_LABELS)).eval()
    print(f"{len(paths)} articles from {args.articles}, {pieces:,} word pieces; "
          f"peer: BERT-base, {sum(p.numel() for p in peer.parameters()) / 1e6:.1f}M parameters, fp32, 2 threads")
    timings: dict[str, list[float]] = {"peer": [], "propscope": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        for path in paths:
            shutil.copy(path, folder / path.name)
        for round_ in range(args.rounds):
            timings["peer"].append(peer_seconds(peer, texts, cls, sep))
            timings["propscope"].append(propscope_seconds(folder, Path(tmp) / "pred.tsv", args.model))
            print(f"round {round_ + 1}: peer {timings['peer'][-1]:.1f} s, propscope {timings['propscope'][-1]:.1f} s")
    speed = {name: pieces / statistics.median(seconds) for name, seconds in timings.items()}
    print(f"peer (BERT-base tagger)   {speed['peer']:8.0f} pieces/s")
    print(f"propscope predict         {speed['propscope']:8.0f} pieces/s (end to end, start-up included)")
    print(f"ratio                     {speed['propscope'] / speed['peer']:8.1f}x")


if __name__ == "__main__":
    main()
