"""Does the shipped model give the same numbers under other onnxruntime releases and CPU paths?

    python benchmarks/runtime_agreement.py [--versions 1.29.0 1.32.0] [--articles DIR] [--limit N]
                                           [--emulate-cpu Haswell]

Each onnxruntime release is installed with pip into .runtimes/VERSION (so this needs the package
registry) and run in a child process over the same articles, three ways:

- ``shipped``: the model as propscope runs it (``session.x64quantprecision`` on);
- ``no-precision``: the same session without that option (onnxruntime's default);
- ``fp32-reference``: the shipped int8 weights in a graph with float32 activations
  (``quantization.float_activations``, the ``int8-weights`` export): what the int8 model
  approximates, with the same weights.

It prints, against the first version's ``fp32-reference`` and against the first version's
``shipped`` run, the largest and the mean absolute difference of the first channel's token
probabilities, and the share of default-setting spans (start, end, technique) that are identical
in both runs, with the seconds each run took. ``--emulate-cpu`` runs the children under
``qemu-x86_64 -cpu MODEL`` (Debian's qemu-user), for example ``Haswell`` for AVX2 without
AVX-512 or VNNI: slow, so use a small ``--limit``; its timings mean nothing.

Defaults: the PTC training articles beside the repository (or examples/ without them), every one.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PTC_ARTICLES = REPO.parent / "shared" / "data" / "ptc-train" / "articles"
RUNTIMES = REPO / ".runtimes"
VARIANTS = ("fp32-reference", "shipped", "no-precision")


def fp32_reference(model_dir: Path, out_dir: Path) -> Path:
    """A copy of the model folder whose graph multiplies the same int8 weights in float32."""
    from propscope.model import file_sha256
    from propscope.quantization import float_activations

    shutil.copytree(model_dir, out_dir)
    float_activations(model_dir / "model.onnx", out_dir / "model.onnx")
    config = json.loads((out_dir / "config.json").read_text(encoding="utf-8"))
    config.update(sha256=file_sha256(out_dir / "model.onnx"), quantization="int8-weights")
    (out_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return out_dir


def child(model_dir: Path, articles_dir: Path, limit: int, precision: bool, out: Path) -> None:
    """Run in the environment under test: token probabilities and default spans of each article."""
    import onnxruntime

    from propscope import ptc
    from propscope.model import Analyzer
    from propscope.model_internals import Internals

    analyzer = Analyzer(model_dir, threads=1)
    internals = Internals(analyzer)
    if not precision:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        internals.session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), options,
                                                         providers=["CPUExecutionProvider"])
    articles = ptc.read_articles(articles_dir)
    chosen = sorted(articles)[: limit or None]
    started = time.perf_counter()
    probabilities, spans = {}, {}
    for article_id in chosen:
        probabilities[article_id] = internals.encode(articles[article_id]).materialized().token_probabilities()[:, 0]
        spans[article_id] = [[s.start, s.end, s.technique] for s in analyzer.analyze(articles[article_id]).spans]
    np.savez_compressed(out.with_suffix(".npz"), **probabilities)
    out.with_suffix(".json").write_text(json.dumps({
        "onnxruntime": onnxruntime.__version__, "seconds": time.perf_counter() - started, "spans": spans}))


def runtime(version: str) -> Path:
    target = RUNTIMES / version
    if not (target / "onnxruntime").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                        f"onnxruntime=={version}"], check=True)
    return target


def compare(reference: tuple[dict[str, np.ndarray], dict[str, list[list[object]]]],
            other: tuple[dict[str, np.ndarray], dict[str, list[list[object]]]]) -> tuple[float, float, float]:
    """Largest and mean |difference| of the first channel, and the share of identical spans."""
    differences = np.concatenate([np.abs(reference[0][k] - other[0][k]) for k in reference[0]])
    same = total = 0
    for article_id, spans in reference[1].items():
        mine = collections.Counter(map(tuple, spans))
        theirs = collections.Counter(map(tuple, other[1][article_id]))
        same += sum((mine & theirs).values())
        total += max(sum(mine.values()), sum(theirs.values()))
    return float(differences.max()), float(differences.mean()), same / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=["1.29.0", "1.32.0"])
    parser.add_argument("--articles", type=Path, default=PTC_ARTICLES if PTC_ARTICLES.is_dir() else None)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--emulate-cpu", default=None, metavar="MODEL")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "ARTICLES", "PRECISION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, articles, precision, out = args.child
        child(Path(model), Path(articles), args.limit, precision == "1", Path(out))
        return

    from propscope.model import shipped_model_dir

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        articles = args.articles
        if articles is None:
            articles = work / "articles"
            articles.mkdir()
            shutil.copy(REPO / "examples" / "article.txt", articles / "article1.txt")
        models = {"fp32-reference": fp32_reference(shipped_model_dir(), work / "reference"),
                  "shipped": shipped_model_dir(), "no-precision": shipped_model_dir()}
        prefix = ["qemu-x86_64", "-cpu", args.emulate_cpu] if args.emulate_cpu else []
        results = {}
        for version in args.versions:
            for variant in VARIANTS:
                out = work / f"{version}-{variant}"
                subprocess.run(
                    [*prefix, sys.executable, __file__, "--limit", str(args.limit), "--child", str(models[variant]),
                     str(articles), "0" if variant == "no-precision" else "1", str(out)],
                    check=True, env={"PYTHONPATH": str(runtime(version)), "PATH": "/usr/bin:/bin"},
                    stderr=subprocess.DEVNULL if args.emulate_cpu else None)
                with np.load(out.with_suffix(".npz")) as stored:
                    probabilities = {k: stored[k] for k in stored.files}
                report = json.loads(out.with_suffix(".json").read_text())
                results[version, variant] = (probabilities, report["spans"]), report["seconds"]
        first = args.versions[0]
        cpu = f", emulated CPU {args.emulate_cpu}" if args.emulate_cpu else ""
        print(f"{len(results[first, 'shipped'][0][1])} articles from {articles}{cpu}")
        print(f"{'onnxruntime':<12} {'run':<15} {'seconds':>8} | vs {first} fp32-reference: max, mean |dp|, same spans "
              f"| vs {first} shipped: max, mean |dp|, same spans")
        for (version, variant), (found, seconds) in results.items():
            row = [compare(results[first, reference][0], found) for reference in ("fp32-reference", "shipped")]
            print(f"{version:<12} {variant:<15} {seconds:8.1f} | "
                  + " | ".join(f"{top:.4f}, {mean:.5f}, {same:7.2%}" for top, mean, same in row))


if __name__ == "__main__":
    main()
