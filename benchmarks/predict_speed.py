"""Throughput and peak memory of `propscope predict` on a folder of articles, end to end.

    python benchmarks/predict_speed.py [--articles DIR] [--big-mb 1]

By default it reads the PTC training articles beside the repository when they are there,
and otherwise a folder it writes itself from examples/. Each run is a fresh `propscope`
process, so the figures include start-up, model loading, tokenizing and writing the output.
It also analyses one synthetic text of --big-mb megabytes to show that memory stays bounded.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    args = parser.parse_args()
    propscope = shutil.which("propscope") or str(Path(sys.executable).parent / "propscope")

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.articles or (PTC_ARTICLES if PTC_ARTICLES.is_dir() else synthetic_folder(Path(tmp), 200))
        n_articles, n_tokens = count_tokens(folder)
        seconds, peak_mb = run_measured([propscope, "predict", str(folder), "-o", str(Path(tmp) / "pred.tsv")])
        print(f"predict on {folder}: {n_articles} articles, {n_tokens:,} word pieces")
        print(f"  wall time        {seconds:8.1f} s (including start-up and model load)")
        print(f"  tokens/second    {n_tokens / seconds:8.0f}")
        print(f"  articles/second  {n_articles / seconds:8.2f}")
        print(f"  peak memory      {peak_mb:8.0f} MB")

        example = (REPO / "examples" / "article.txt").read_text(encoding="utf-8")
        big = Path(tmp) / "big.txt"
        big.write_text(example * int(args.big_mb * 1e6 / len(example.encode("utf-8")) + 1), encoding="utf-8")
        seconds, peak_mb = run_measured([propscope, "analyze", str(big), "--format", "json"])
        print(f"analyze one {big.stat().st_size / 1e6:.1f} MB text: {seconds:.1f} s, peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
