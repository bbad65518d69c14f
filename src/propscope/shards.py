"""Corpus runs: Parquet and JSONL shards in, two sharded Parquet tables out, on one machine
or on a Ray cluster.

Both engines run the same three steps: ``read_*`` turns an input file into record rows,
``AnalyzeBatch`` turns record rows into result rows, and ``ShardWriter`` splits a shard's
results into ``OUT/articles/NAME.parquet`` and ``OUT/spans/NAME.parquet``. The spans file is
written first and the articles file last, each by an atomic rename, so a shard whose articles
file exists is complete and a re-run skips it. Results reach the writer in input order, so
a shard is written as soon as its last row arrives.

Each article is run through the encoder on its own: the int8 model quantizes activations
per batch, so sharing a batch with other articles would change an article's spans. Windows
are cut to full length from the end of each text, so no window is ever padded.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from propscope import tables, techniques
from propscope.analysis import Analysis, ModelInfo, Source, Span
from propscope.batch import Summary
from propscope.decoding import Sensitivity, check_sensitivity
from propscope.errors import InputError, MissingExtra, ModelError, storage_error
from propscope.ingest import Record, jsonl_records, row_record
from propscope.model import Analyzer, model_sha256, shipped_model_dir

if TYPE_CHECKING:
    import pyarrow as pa

    from propscope.store import Library

logger = logging.getLogger(__name__)
SHARD_SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl"}
ENGINES = ("local", "ray")
INPUT_KEY = b"propscope.input"
BATCH_ROWS = 16  # articles per call of AnalyzeBatch: a few seconds of work on one CPU


@dataclass(frozen=True)
class Shard:
    """One input file and the name of its output files."""

    path: Path
    name: str

    @property
    def kind(self) -> str:
        return SHARD_SUFFIXES[self.path.suffix.lower()]


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingExtra("corpus runs need pyarrow: pip install 'propscope[parquet]'") from None
    return pyarrow


@cache
def _schemas() -> tuple[pa.Schema, pa.Schema, pa.Schema]:
    """The record rows, the articles table and the spans table."""
    pa = _pyarrow()
    text = pa.string()
    records = pa.schema([("input", text), ("id", text), ("text", text), ("source", text), ("url", text),
                         ("title", text), ("date", text), ("error", text)])
    types = {"start": pa.int64(), "end": pa.int64(), "confidence": pa.float64(), "score": pa.float64(),
             "n_spans": pa.int64(), **{t.id: pa.int64() for t in techniques.TECHNIQUES}}
    articles = pa.schema([(name, types.get(name, text)) for name in (*tables.ARTICLE_COLUMNS, "error")])
    spans = pa.schema([(name, types.get(name, text)) for name in tables.SPAN_COLUMNS])
    return records, articles, spans


# ------------------------------------------------------------------ planning


def plan(inputs: Sequence[Path]) -> list[Shard]:
    """The shards of the given files and folders (a folder stands for its .parquet and .jsonl files)."""
    paths: list[Path] = []
    for given in inputs:
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.suffix.lower() in SHARD_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{given}: no .parquet or .jsonl files in this folder")
            paths += found
        elif not given.exists():
            raise InputError(f"{given}: no such file or folder")
        elif given.suffix.lower() not in SHARD_SUFFIXES:
            raise InputError(f"{given}: a corpus run reads .parquet and .jsonl files")
        else:
            paths.append(given)
    for path in paths:
        if path.suffix.lower() == ".parquet":
            _check_columns(path)
    shards: dict[str, Shard] = {}
    for path in paths:
        shard = Shard(path.resolve(), path.stem)
        if shard.name in shards and shards[shard.name].path != shard.path:
            raise InputError(f"{path} and {shards[shard.name].path} would both write the shard '{shard.name}'; "
                             "rename one of them")
        shards.setdefault(shard.name, shard)
    return list(shards.values())


def _check_columns(path: Path) -> None:
    pa = _pyarrow()
    try:
        names = pa.parquet.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [column for column in ("id", "text") if column not in names]
    if missing:
        raise InputError(f"{path}: a corpus file needs the columns id and text; it has no {' or '.join(missing)} "
                         f"(its columns: {', '.join(names)})")


def articles_path(out: Path, name: str) -> Path:
    return out / "articles" / f"{name}.parquet"


def spans_path(out: Path, name: str) -> Path:
    return out / "spans" / f"{name}.parquet"


def is_complete(out: Path, shard: Shard) -> bool:
    return articles_path(out, shard.name).is_file()


# ------------------------------------------------------------------ reading


def _record_row(record: Record, input_path: str) -> dict[str, Any]:
    source = record.article.source if record.article else None
    return {
        "input": input_path, "id": record.id, "text": record.article.text if record.article else None,
        "source": source.name if source else record.meta.get("source"),
        "url": source.url if source else None,
        "title": source.title if source else record.meta.get("title"),
        "date": source.date if source else record.meta.get("date"),
        "error": record.error,
    }


def _record_table(rows: list[dict[str, Any]]) -> pa.Table:
    record_schema, _, _ = _schemas()
    return _pyarrow().Table.from_pylist(rows, schema=record_schema)


def parquet_records(batch: pa.Table) -> pa.Table:
    """Record rows from a batch of Parquet rows read with an ``input`` column naming their file."""
    return _record_table([_record_row(row_record(raw, Path(raw["input"]).name, fetch_urls=False), raw["input"])
                          for raw in batch.to_pylist()])


def jsonl_file_records(batch: pa.Table, encoding: str = "utf-8") -> pa.Table:
    """Record rows from whole JSONL files (columns ``bytes`` and ``input``); a bad line is an error row."""
    rows = []
    for data, input_path in zip(batch.column("bytes").to_pylist(), batch.column("input").to_pylist(), strict=True):
        lines = io.StringIO(data.decode(encoding, "surrogateescape"), newline="")
        rows += [_record_row(record, input_path)
                 for record in jsonl_records(lines, Path(input_path).name, fetch_urls=False)]
    return _record_table(rows)


def read_local(shard: Shard, *, batch_rows: int = BATCH_ROWS, encoding: str = "utf-8") -> Iterator[pa.Table]:
    """Record rows of one shard in batches, read in this process."""
    pa = _pyarrow()
    if shard.kind == "jsonl":
        data = shard.path.read_bytes()
        records = jsonl_file_records(pa.table({"bytes": [data], "input": [str(shard.path)]}), encoding)
        yield from records.to_batches(batch_rows)
        return
    for batch in pa.parquet.ParquetFile(shard.path).iter_batches(batch_size=batch_rows):
        table = pa.Table.from_batches([batch])
        yield parquet_records(table.append_column("input", pa.array([str(shard.path)] * len(table), pa.string())))


# ------------------------------------------------------------------ analysing


class AnalyzeBatch:
    """Record rows in, result rows out. One instance per worker loads the model once."""

    def __init__(self, model_dir: str | None = None, expected_sha256: str | None = None, threads: int = 1,
                 sensitivity: Sensitivity = "balanced") -> None:
        self.analyzer = Analyzer(Path(model_dir) if model_dir else None, threads=threads, sensitivity=sensitivity)
        if expected_sha256 and self.analyzer.info.sha256 != expected_sha256:
            raise ModelError(f"{self.analyzer.model_dir}: this worker's model (sha256 "
                             f"{self.analyzer.info.sha256[:12]}…) is not the driver's ({expected_sha256[:12]}…); "
                             "install the same propscope version on every node")

    def __call__(self, batch: pa.Table) -> pa.Table:
        pa = _pyarrow()
        results = list(self.analyzer.map(self.result, batch.to_pylist()))
        return pa.Table.from_pylist(results, schema=result_schema())

    def result(self, row: dict[str, Any]) -> dict[str, Any]:
        info = self.analyzer.info
        result: dict[str, Any] = {key: row[key] for key in ("input", "id", "source", "url", "title", "date", "error")}
        result |= {"score": None, "n_spans": None, **{t.id: None for t in techniques.TECHNIQUES}, "spans": [],
                   "model": info.name, "model_version": info.version, "model_sha256": info.sha256,
                   "sensitivity": self.analyzer.sensitivity}
        if row["error"] is not None:
            return result
        name = f"{Path(row['input']).name} (id {row['id']})"
        try:
            analysis = self.analyzer.analyze(row["text"], name=name)
        except InputError as exc:
            return result | {"error": str(exc)}
        except Exception as exc:  # one article must not stop a run over millions
            logger.exception("analysing %s failed", name)
            return result | {"error": f"{name}: the analysis failed ({type(exc).__name__}: {exc})"}
        return result | {"score": analysis.score, **tables.count_columns(analysis),
                         "spans": tables.span_rows(analysis)}


@cache
def result_schema() -> pa.Schema:
    pa = _pyarrow()
    _, articles, spans = _schemas()
    span = pa.struct([f for f in spans if f.name != "id"])
    return pa.schema([("input", pa.string()), *articles, ("spans", pa.list_(span))])


# ------------------------------------------------------------------ writing


class ShardWriter:
    """Collects result rows in input order and writes each shard when its last row has arrived."""

    def __init__(self, out: Path, shards: Sequence[Shard], summary: Summary) -> None:
        self.out = out
        self.by_input = {str(shard.path): shard for shard in shards}
        self.summary = summary
        self.pending: list[pa.Table] = []
        self.current: str | None = None
        self.done: set[str] = set()
        for folder in ("articles", "spans"):
            (out / folder).mkdir(parents=True, exist_ok=True)

    def add(self, results: pa.Table) -> None:
        inputs = results.column("input").to_pylist()
        start = 0
        for end in range(1, len(inputs) + 1):
            if end == len(inputs) or inputs[end] != inputs[start]:
                self._append(inputs[start], results.slice(start, end - start))
                start = end

    def _append(self, input_path: str, results: pa.Table) -> None:
        if input_path != self.current:
            self._flush()
            if input_path in self.done:
                raise RuntimeError(f"rows of {input_path} arrived after the shard was written")
            self.current = input_path
        self.pending.append(results)

    def close(self) -> None:
        """Write the last shard, and the shards that had no rows at all."""
        self._flush()
        for input_path, shard in self.by_input.items():
            if input_path not in self.done:
                write_shard(self.out, shard, result_schema().empty_table())
                self.summary.shards_done += 1

    def _flush(self) -> None:
        if self.current is None:
            return
        write_shard(self.out, self.by_input[self.current], _pyarrow().concat_tables(self.pending))
        self.done.add(self.current)
        self.current, self.pending = None, []
        self.summary.shards_done += 1


def write_shard(out: Path, shard: Shard, results: pa.Table) -> None:
    """Write one shard's articles and spans tables; the articles file marks it complete."""
    pa = _pyarrow()
    _, articles_schema, spans_schema = _schemas()
    metadata = {INPUT_KEY: str(shard.path).encode()}
    span_rows = [{"id": row_id, **span} for row_id, spans in
                 zip(results.column("id").to_pylist(), results.column("spans").to_pylist(), strict=True)
                 for span in spans]
    spans = pa.Table.from_pylist(span_rows, schema=spans_schema.with_metadata(metadata))
    articles = results.select(articles_schema.names).cast(articles_schema).replace_schema_metadata(metadata)
    for table, target in ((spans, spans_path(out, shard.name)), (articles, articles_path(out, shard.name))):
        partial = target.with_name(f".{target.name}.partial")
        try:
            pa.parquet.write_table(table, partial)
            os.replace(partial, target)
        except OSError as exc:  # pyarrow's IO errors are OSErrors too
            raise storage_error(target, exc) from None


def input_of(articles_file: Path) -> Path:
    """The input file a shard's articles table was made from."""
    metadata = _pyarrow().parquet.read_schema(articles_file).metadata or {}
    if INPUT_KEY not in metadata:
        raise InputError(f"{articles_file}: not a propscope articles table")
    return Path(metadata[INPUT_KEY].decode())


# ------------------------------------------------------------------ engines


def run(
    inputs: Sequence[Path],
    out: Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    model_dir: Path | None = None,
    progress: Callable[[Summary], None] | None = None,
    encoding: str = "utf-8",
    sensitivity: str = "balanced",
) -> Summary:
    """Analyse every shard of ``inputs`` not yet complete in ``out`` with the chosen engine."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
    sensitivity = check_sensitivity(sensitivity)
    shards = plan(inputs)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: a corpus run writes a folder, and this is a file")
    todo = [shard for shard in shards if not is_complete(out, shard)]
    summary = Summary(shards_skipped=len(shards) - len(todo))
    writer = ShardWriter(out, todo, summary)
    started = time.perf_counter()

    def take(results: pa.Table) -> None:
        writer.add(results)
        summary.done += len(results)
        errors = results.column("error")
        summary.errors += len(results) - errors.null_count
        if errors.null_count < len(results) and len(summary.error_examples) < 5:
            summary.error_examples += [e for e in errors.to_pylist() if e is not None][:5 - len(summary.error_examples)]
        summary.seconds = time.perf_counter() - started
        if progress:
            progress(summary)

    if todo:
        if engine == "local":
            _run_local(todo, take, model_dir, encoding, sensitivity)
        else:
            _run_ray(todo, take, model_dir, ray_address, encoding, sensitivity)
        writer.close()
    summary.seconds = time.perf_counter() - started
    summary.top_sources = top_sources(out, [shard.name for shard in shards])
    return summary


def _run_local(shards: Sequence[Shard], take: Callable[[pa.Table], None], model_dir: Path | None,
               encoding: str, sensitivity: Sensitivity) -> None:
    analyze = AnalyzeBatch(str(model_dir) if model_dir else None, threads=os.cpu_count() or 1,
                           sensitivity=sensitivity)
    for shard in shards:
        for batch in read_local(shard, encoding=encoding):
            take(analyze(batch))


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingExtra("--engine ray needs Ray: pip install 'propscope[ray]'") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT where no cluster listens (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray-address {address}: expected 'auto' or HOST:PORT of the cluster's head node")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise InputError(f"--ray-address {address}: nothing answers there ({exc}); start the cluster with "
                         "`ray start --head`, or check the address it printed") from None


def _run_ray(shards: Sequence[Shard], take: Callable[[pa.Table], None], model_dir: Path | None,
             address: str | None, encoding: str, sensitivity: str) -> None:
    ray = _import_ray()
    expected = model_sha256(model_dir or shipped_model_dir())
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--ray-address {address}: cannot connect to a Ray cluster ({exc})") from None
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the writer closes a shard when the next begins
        context.enable_progress_bars = False
        parts = []
        parquet = [str(s.path) for s in shards if s.kind == "parquet"]
        jsonl = [str(s.path) for s in shards if s.kind == "jsonl"]
        if parquet:
            parts.append(ray.data.read_parquet(parquet, include_paths=True)
                         .rename_columns({"path": "input"})
                         .map_batches(parquet_records, batch_format="pyarrow"))
        if jsonl:
            parts.append(ray.data.read_binary_files(jsonl, include_paths=True)
                         .rename_columns({"path": "input"})
                         .map_batches(jsonl_file_records, batch_format="pyarrow", batch_size=1,
                                      fn_kwargs={"encoding": encoding}))
        records = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
        # Small blocks, so that every actor gets work even when the shards are few.
        records = records.repartition(target_num_rows_per_block=BATCH_ROWS)
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        results = records.map_batches(
            AnalyzeBatch,
            fn_constructor_kwargs={"model_dir": str(model_dir.resolve()) if model_dir else None,
                                   "expected_sha256": expected, "threads": 1, "sensitivity": sensitivity},
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
            batch_size=BATCH_ROWS, batch_format="pyarrow", num_cpus=1,
        )  # Ray Data restarts a dead actor and retries its batches by default
        for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
            take(batch)
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ reading the output


def top_sources(out: Path, names: Sequence[str], *, limit: int = 5) -> list[tuple[str, int, float]]:
    """(source, articles, mean score) for the sources with the highest mean score."""
    pa = _pyarrow()
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for name in names:
        path = articles_path(out, name)
        if not path.is_file():
            continue
        table = pa.parquet.read_table(path, columns=["source", "score"])
        for source, score in zip(table.column("source").to_pylist(), table.column("score").to_pylist(), strict=True):
            if score is not None:
                totals[source or "(unknown)"] += score
                counts[source or "(unknown)"] += 1
    means = sorted(((source, counts[source], totals[source] / counts[source]) for source in counts),
                   key=lambda item: (-item[2], -item[1], item[0]))
    return means[:limit]


def import_into(library: Library, out: Path, *, encoding: str = "utf-8") -> int:
    """Store every analysed article of a corpus output in ``library``; returns how many.

    The output keeps spans but not article texts, so the texts are read again from the input
    files recorded in each shard."""
    pa = _pyarrow()
    files = sorted((out / "articles").glob("*.parquet"))
    if not files:
        raise InputError(f"{out}: no corpus output here (expected {out / 'articles'}/*.parquet "
                         "written by `propscope batch INPUT... -o FOLDER`)")
    stored = 0
    for articles_file in files:
        input_path = input_of(articles_file)
        if not input_path.is_file():
            raise InputError(f"{articles_file}: its input {input_path} is gone; the library needs the article "
                             "texts, so import while the input files are in place")
        spans = iter(pa.parquet.read_table(spans_path(out, articles_file.stem)).to_pylist())
        records = (row for batch in read_local(Shard(input_path, articles_file.stem), encoding=encoding)
                   for row in batch.to_pylist())
        for article, record in zip(pa.parquet.read_table(articles_file).to_pylist(), records, strict=False):
            if article["id"] != record["id"]:
                raise InputError(f"{input_path}: changed since {articles_file} was written "
                                 f"(found id {record['id']} where the output has {article['id']})")
            if article["error"] is not None:
                continue
            found = [next(spans) for _ in range(article["n_spans"])]
            analysis = Analysis.build(
                record["text"], [Span(s["start"], s["end"], s["technique"], s["confidence"]) for s in found],
                ModelInfo(article["model"], article["model_version"], article["model_sha256"],
                          article.get("sensitivity") or "balanced"),
                Source(name=article["source"], url=article["url"], title=article["title"], date=article["date"]),
            )
            # The score also counted candidate spans that the output does not keep.
            library.put(replace(analysis, score=article["score"]))
            stored += 1
    return stored
