"""Corpus engines: articles per second of `--engine local` and `--engine ray`, and what the Ray driver costs.

Makes a synthetic corpus (Parquet shards) whose article lengths follow the PTC training split
(title, blank line, one sentence a line), from sentences it generates itself. Runs the engines
on it, checks that their outputs are equal, and prints the figures and a projection for a
larger cluster. With --nodes N, Ray runs on a simulated cluster of N one-CPU nodes on this
machine (ray.cluster_utils.Cluster, all on loopback); the driver's CPU time is this process's
own, and the bytes that reach it are the tallies its workers send back.

    python benchmarks/corpus_speed.py --nodes 2                  # 20,000 articles, both engines
    python benchmarks/corpus_speed.py --nodes 2 --engines ray    # Ray only (about 40 min on 2 cores)
    python benchmarks/corpus_speed.py --articles 2000            # the same distribution, smaller
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from propscope import shards
from propscope.model import Analyzer

# Article length in characters at every 2nd percentile (0, 2, ..., 100) of the 371 PTC
# training articles: statistics only; no corpus text is used or stored. Mean 5,612.
PTC_LENGTH_PERCENTILES = [
    761, 1043, 1416, 1668, 1891, 2021, 2102, 2194, 2333, 2409, 2483, 2558, 2642, 2741, 2826, 2935, 3010,
    3085, 3198, 3309, 3386, 3637, 3679, 3894, 4021, 4184, 4299, 4399, 4500, 4724, 4835, 4891, 5031, 5316,
    5492, 5665, 5928, 6213, 6362, 6743, 7225, 7562, 7899, 8698, 9669, 11114, 12202, 13057, 15573, 22360,
    47473,
]

SUBJECTS = ["The minister", "Our brave soldiers", "The so-called experts", "The city council", "These traitors",
            "The opposition leader", "Local farmers", "The mainstream media", "A spokesperson", "The corrupt elite",
            "Voters in the region", "The central bank", "Foreign agents", "The committee"]
VERBS = ["announced", "will destroy", "rejected", "defended", "betrayed", "approved", "attacked", "questioned",
         "reported", "praised", "covered up", "warned about", "published", "demanded"]
OBJECTS = ["the new budget", "our great nation", "everything we hold dear", "the quarterly figures",
           "the lies of the regime", "the rail project", "the freedom of every citizen", "the report on Friday",
           "our children's future", "a modest tax increase", "the truth", "the election results"]
TAILS = ["", " on Monday", ", according to officials", " and nobody will stop them", " again",
         ", which is a disgrace", " after a short debate", " without any evidence", ". Wake up, people",
         " in March", "! Never again", ", as everyone knows"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}."


def ptc_like_length(rng: random.Random) -> int:
    return int(np.interp(rng.random(), np.linspace(0, 1, len(PTC_LENGTH_PERCENTILES)), PTC_LENGTH_PERCENTILES))


def article(rng: random.Random, length: int) -> str:
    lines = [sentence(rng).rstrip("."), ""]
    size = 0
    while size < length:
        lines.append(sentence(rng))
        size += len(lines[-1]) + 1
    return "\n".join(lines)


def make_corpus(folder: Path, articles: int, shards: int, row_group: int, seed: int = 11) -> int:
    """Write the corpus; returns its size in characters."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    chars = 0
    per_shard = -(-articles // shards)
    for shard in range(shards):
        rows = []
        for i in range(shard * per_shard, min(articles, (shard + 1) * per_shard)):
            text = article(rng, ptc_like_length(rng))
            chars += len(text)
            rows.append({"id": f"a{i}", "text": text, "source": f"outlet-{rng.randrange(12)}",
                         "date": f"2026-{1 + i % 12:02d}-15"})
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{shard:04d}.parquet", row_group_size=row_group)
    return chars


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def output_bytes(out: Path) -> int:
    return sum(path.stat().st_size for path in out.rglob("*.parquet"))


@contextmanager
def simulated_cluster(nodes: int) -> Iterator[str | None]:
    """The address of a cluster of one-CPU nodes on loopback (a head with no CPU), or None: Ray starts here."""
    if not nodes:
        yield None
        return
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # this process, the driver, on loopback too
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    for _ in range(nodes):
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    try:
        yield cluster.address
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--part-rows", type=int, default=shards.PART_ROWS)
    parser.add_argument("--row-group", type=int, default=500, help="Rows per Parquet row group of the corpus.")
    parser.add_argument("--nodes", type=int, default=0, help="Simulated one-CPU Ray nodes (0: Ray starts here).")
    parser.add_argument("--engines", nargs="+", choices=shards.ENGINES, default=list(shards.ENGINES))
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the corpus and outputs here.")
    parser.add_argument("--project-nodes", type=int, default=100, help="Cluster size for the projection.")
    parser.add_argument("--node-cpus", type=int, default=16, help="CPUs per node for the projection.")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="propscope-corpus-"))
    inputs = work / "corpus"
    chars = make_corpus(inputs, args.articles, args.shards, args.row_group)
    analyzer = Analyzer()
    sample = pq.read_table(next(inputs.glob("*.parquet"))).column("text").to_pylist()[:50]
    tokens_per_char = sum(len(analyzer.tokenizer.encode(t).ids) for t in sample) / sum(len(t) for t in sample)
    del analyzer
    print(f"corpus: {args.articles} articles in {args.shards} Parquet shards, {chars / args.articles:.0f} characters "
          f"(about {chars * tokens_per_char / args.articles:.0f} word pieces) per article, "
          f"{sum(p.stat().st_size for p in inputs.iterdir()) / 1e6:.1f} MB on disk; {os.cpu_count()} CPUs; "
          f"parts of up to {args.part_rows} rows in row groups of {args.row_group}")

    rates, driver_cpu, received = {}, {}, {}
    for engine in args.engines:
        out = work / f"out-{engine}"
        with simulated_cluster(args.nodes if engine == "ray" else 0) as address:
            cpu_before = cpu_seconds()
            started = time.perf_counter()
            summary = shards.run([inputs], out, engine=engine, ray_address=address, part_rows=args.part_rows)
            seconds = time.perf_counter() - started
            driver_cpu[engine] = cpu_seconds() - cpu_before
        rates[engine], received[engine] = summary.done / seconds, summary.received_bytes
        print(f"{engine:>5}: {summary.done} articles, {summary.errors} errors, {summary.parts_done} parts, "
              f"{seconds:.1f} s, {rates[engine]:.2f} articles/s, "
              f"{rates[engine] * chars * tokens_per_char / args.articles:.0f} word pieces/s (wall time, Ray start-up "
              f"included); driver CPU {driver_cpu[engine]:.1f} s, {1000 * driver_cpu[engine] / args.articles:.2f} s "
              f"per 1,000 articles")
    if set(args.engines) == set(shards.ENGINES):
        same = all(pq.read_table(path).equals(pq.read_table(work / "out-ray" / path.relative_to(work / "out-local")))
                   for path in (work / "out-local").rglob("*.parquet"))
        print(f"ray / local: {rates['ray'] / rates['local']:.2f}; outputs equal: {same}")
    print(f"driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    if "ray" in args.engines:
        size = output_bytes(work / "out-ray")
        print(f"bytes reaching the driver: {received['ray']:,} ({100 * received['ray'] / size:.3f}% of the "
              f"{size:,}-byte output)")
        # One worker per CPU, each with its own copy of the model, so inference scales with the CPUs;
        # the driver only schedules parts and adds up their tallies.
        per_cpu = rates["ray"] / max(1, args.nodes or (os.cpu_count() or 1))
        inference = per_cpu * args.project_nodes * args.node_cpus
        print(f"per CPU on Ray: {per_cpu:.2f} articles/s; projection, {args.project_nodes} nodes x {args.node_cpus} "
              f"CPUs: inference {inference:,.0f} articles/s ({inference * 86400 / 1e6:,.0f} M/day); the driver's "
              f"CPU follows time, not rows: {60 * driver_cpu['ray'] / max(1.0, seconds):.2f} CPU s a minute here")
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
