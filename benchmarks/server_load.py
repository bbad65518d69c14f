"""Load on `propscope serve` over loopback, compared with `propscope predict` on the same texts.

    python benchmarks/server_load.py [--clients 32] [--seconds 60]

Texts of 300 to 3,000 words are cut from the PTC training articles beside the repository
(or from examples/ when they are absent); every request carries a unique first line, so no
answer comes from the library cache, and every response is checked against its request.
It prints the server's start-up time, requests/second, latency percentiles, errors by status,
and the words/second of the server against `predict` on the same texts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PTC_ARTICLES = REPO.parent / "shared" / "data" / "ptc-train" / "articles"
PROPSCOPE = str(Path(sys.executable).parent / "propscope")


def word_pool() -> list[str]:
    if PTC_ARTICLES.is_dir():
        return " ".join(p.read_text(encoding="utf-8") for p in sorted(PTC_ARTICLES.glob("article*.txt"))).split(" ")
    return (REPO / "examples" / "article.txt").read_text(encoding="utf-8").split(" ") * 50


def make_texts(count: int, rng: random.Random) -> list[str]:
    words = word_pool()
    texts = []
    for _ in range(count):
        length = rng.randint(300, 3000)
        start = rng.randrange(0, len(words) - length)
        texts.append(" ".join(words[start : start + length]))
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def client_loop(client: httpx.AsyncClient, texts: list[str], stop: float, results: list, counter: list[int]) -> None:
    while time.perf_counter() < stop:
        counter[0] += 1
        text = f"Request {counter[0]}\n" + texts[counter[0] % len(texts)]
        started = time.perf_counter()
        try:
            response = await client.post("/api/v1/analyze", json={"text": text})
            status = response.status_code
            mixed = status == 200 and response.json()["text"] != text
        except httpx.HTTPError as exc:
            status, mixed = type(exc).__name__, False
        results.append((status, time.perf_counter() - started, mixed, len(text.split())))
        if status == 503:
            await asyncio.sleep(0.5)


async def load(base: str, clients: int, seconds: float, texts: list[str]) -> list:
    results: list = []
    counter = [0]
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        await asyncio.gather(*(client_loop(client, texts, stop, results, counter) for _ in range(clients)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="the server's --workers")
    args = parser.parse_args()
    texts = make_texts(200, random.Random(3))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = os.environ | {"PROPSCOPE_DB": str(tmp / "library.db")}
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen([PROPSCOPE, "serve", "--port", str(port), "--workers", str(args.workers)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
                if time.perf_counter() - started > 60:
                    sys.exit("the server did not start within 60 s")
            print(f"server start-up: {time.perf_counter() - started:.2f} s until /healthz answered")
            load_started = time.perf_counter()
            results = asyncio.run(load(base, args.clients, args.seconds, texts))
            wall = time.perf_counter() - load_started  # includes the requests still running at the end
        finally:
            server.terminate()
            server.wait(timeout=30)

        ok = [r for r in results if r[0] == 200]
        latencies = sorted(r[1] for r in ok)
        statuses = Counter(str(r[0]) for r in results)
        server_errors = sum(n for s, n in statuses.items() if s.startswith("5") and s != "503")
        print(f"{args.clients} clients sending for {args.seconds:.0f} s ({wall:.0f} s until the last answer), "
              "texts of 300-3,000 words")
        print(f"  requests/second  {len(ok) / wall:.2f} answered (200), {len(results) / wall:.2f} sent")
        if latencies:
            q = statistics.quantiles(latencies, n=100)
            print(f"  latency          p50 {q[49]:.2f} s  p95 {q[94]:.2f} s  p99 {q[98]:.2f} s")
        print(f"  statuses         {dict(statuses)}")
        print(f"  5xx other than deliberate 503: {server_errors}")
        print(f"  responses whose text differs from their request: {sum(r[2] for r in results)}")
        server_words = sum(r[3] for r in ok) / wall

        folder = tmp / "articles"
        folder.mkdir()
        for i, text in enumerate(texts):
            (folder / f"article{i}.txt").write_text(text, encoding="utf-8")
        started = time.perf_counter()
        subprocess.run([PROPSCOPE, "predict", str(folder), "-o", str(tmp / "pred.tsv")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        predict_words = sum(len(t.split()) for t in texts) / (time.perf_counter() - started)
        print(f"  words/second     server {server_words:.0f}, predict {predict_words:.0f}, "
              f"ratio {server_words / predict_words:.2f}")


if __name__ == "__main__":
    main()
