"""Throughput and peak memory of `propscope predict` on a folder of articles, end to end.

    python benchmarks/predict_speed.py [--articles DIR] [--big-mb 1] [--model DIR --model DIR2 --rounds 3]

By default it reads the PTC training articles beside the repository when they are there,
and otherwise a folder it writes itself from examples/. Each run is a fresh `propscope`
process, so the figures include start-up, model loading, tokenizing and writing the output.
It also analyses one synthetic text of --big-mb megabytes to show that memory stays bounded.

With several --model folders, the runs are interleaved (A, B, A, B, ...) for --rounds rounds,
so that a shared, noisy machine slows every model alike, and the median speed of each model
and their ratio to the first are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PTC_ARTICLES = REPO.parent / "shared" / "data" / "ptc-train" / "articles"


def run_measured(args: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak resident memory in MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def synthetic_folder(folder: Path, copies: int) -> Path:
    example = (REPO / "examples" / "article.txt").read_text(encoding="utf-8")
    for i in range(copies):
        (folder / f"article{i}.txt").write_text(example * (1 + i % 8), encoding="utf-8")
    return folder


def count_tokens(folder: Path) -> tuple[int, int]:
    from propscope.model import shipped_model_dir
    from propscope.text import load_tokenizer, tokenize

    tokenizer = load_tokenizer(shipped_model_dir() / "tokenizer.json")
    paths = sorted(folder.glob("article*.txt"))
    tokens = sum(len(tokenize(tokenizer, p.read_text(encoding="utf-8"))) for p in paths)
    return len(paths), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=None, help="folder of article<ID>.txt")
    parser.add_argument("--big-mb", type=float, default=1.0, help="size of the one long text")
    parser.add_argument("--model", type=Path, action="append", default=None,
                        help="model folder (repeat to compare models; default: the shipped one)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs per model")
    args = parser.parse_args()
    propscope = shutil.which("propscope") or str(Path(sys.executable).parent / "propscope")
    models: list[Path | None] = list(args.model) if args.model else [None]

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.articles or (PTC_ARTICLES if PTC_ARTICLES.is_dir() else synthetic_folder(Path(tmp), 200))
        n_articles, n_tokens = count_tokens(folder)
        print(f"predict on {folder}: {n_articles} articles, {n_tokens:,} word pieces")
        runs: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(models))}
        for _ in range(args.rounds):
            for i, model in enumerate(models):
                flags = ["--model", str(model)] if model else []
                runs[i].append(run_measured([propscope, "predict", str(folder), "-o", str(Path(tmp) / "pred.tsv"),
                                             *flags]))
        first_speed = None
        for i, model in enumerate(models):
            seconds = statistics.median(s for s, _ in runs[i])
            peak_mb = max(m for _, m in runs[i])
            first_speed = first_speed or n_tokens / seconds
            print(f"model {model or 'shipped'} ({args.rounds} runs, median)")
            print(f"  wall time        {seconds:8.1f} s (including start-up and model load)")
            print(f"  tokens/second    {n_tokens / seconds:8.0f}   ({n_tokens / seconds / first_speed:.2f}x the first)")
            print(f"  articles/second  {n_articles / seconds:8.2f}")
            print(f"  peak memory      {peak_mb:8.0f} MB")

        example = (REPO / "examples" / "article.txt").read_text(encoding="utf-8")
        big = Path(tmp) / "big.txt"
        big.write_text(example * int(args.big_mb * 1e6 / len(example.encode("utf-8")) + 1), encoding="utf-8")
        for model in models:
            flags = ["--model", str(model)] if model else []
            seconds, peak_mb = run_measured([propscope, "analyze", str(big), "--format", "json", "--no-store", *flags])
            print(f"analyze one {big.stat().st_size / 1e6:.1f} MB text with {model or 'the shipped model'}: "
                  f"{seconds:.1f} s, peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
