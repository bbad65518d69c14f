"""Batch against predict on the same texts, a kill-and-resume run, and memory over a run.

    python benchmarks/batch_speed.py [--articles 1000]

Texts are the PTC training articles beside the repository when they are there (each used
several times with a distinct first line, so the library cache never hits), otherwise copies
of examples/article.txt. It prints:
  1. articles/second of `propscope predict` on a folder and of `propscope batch` on a JSONL
     of the same texts, and their ratio;
  2. a batch run killed with SIGKILL halfway, then re-run: rows, distinct ids, duplicates;
  3. the resident memory of the first batch process, sampled every second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PTC_ARTICLES = REPO.parent / "shared" / "data" / "ptc-train" / "articles"
PROPSCOPE = str(Path(sys.executable).parent / "propscope")


def texts(n: int) -> list[str]:
    if PTC_ARTICLES.is_dir():
        pool = [p.read_text(encoding="utf-8") for p in sorted(PTC_ARTICLES.glob("article*.txt"))]
    else:
        pool = [(REPO / "examples" / "article.txt").read_text(encoding="utf-8")]
    return [f"Copy {i}\n" + pool[i % len(pool)] for i in range(n)]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def rows_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError, KeyError):
            ids.append(json.loads(line)["id"])
    return ids


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=1000)
    n = parser.parse_args().articles
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = os.environ | {"PROPSCOPE_DB": str(tmp / "library.db")}
        folder = tmp / "articles"
        folder.mkdir()
        corpus = texts(n)
        with (tmp / "input.jsonl").open("w", encoding="utf-8") as jsonl:
            for i, text in enumerate(corpus):
                (folder / f"article{i}.txt").write_text(text, encoding="utf-8")
                jsonl.write(json.dumps({"id": str(i), "text": text, "source": f"outlet-{i % 7}"}) + "\n")

        predict_s = timed([PROPSCOPE, "predict", str(folder), "-o", str(tmp / "pred.tsv")], env)
        started = time.perf_counter()
        full = tmp / "full.jsonl"
        process = subprocess.Popen([PROPSCOPE, "batch", str(tmp / "input.jsonl"), "-o", str(full)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []
        while process.poll() is None:
            samples.append((len(rows_in(full)), rss_mb(process.pid)))
            time.sleep(1.0)
        batch_s = time.perf_counter() - started
        print(f"{n} articles")
        print(f"  predict  {n / predict_s:7.2f} articles/s ({predict_s:.0f} s)")
        print(f"  batch    {n / batch_s:7.2f} articles/s ({batch_s:.0f} s, storing every analysis)")
        print(f"  batch / predict = {predict_s / batch_s:.2f}")

        out = tmp / "killed.jsonl"
        env_fresh = env | {"PROPSCOPE_DB": str(tmp / "library2.db")}
        process = subprocess.Popen([PROPSCOPE, "batch", str(tmp / "input.jsonl"), "-o", str(out)],
                                   env=env_fresh, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None and len(rows_in(out)) < n // 2:
            time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = len(rows_in(out))
        timed([PROPSCOPE, "batch", str(tmp / "input.jsonl"), "-o", str(out)], env_fresh)
        ids = rows_in(out)
        print(f"kill -9 after {before} rows, then re-run: {len(ids)} rows, {len(set(ids))} distinct ids, "
              f"{len(ids) - len(set(ids))} duplicates, {n - len(set(ids))} missing")
        marks = [samples[int(len(samples) * q)] for q in (0.1, 0.5, 0.9)] if len(samples) >= 10 else samples
        print("memory of the full batch run: " + ", ".join(f"{mb:.0f} MB after {done} rows" for done, mb in marks))


if __name__ == "__main__":
    main()
