"""Corpus runs: Parquet and JSONL shards in, two tables of Parquet parts out, on one machine
or on a Ray cluster.

The work is cut into parts: a JSONL file is one part, a Parquet file one part per run of
whole row groups of at most ``part_rows`` rows. Whoever analyses a part writes it, the
process itself on one machine, a Ray worker on a cluster: ``OUT/spans/NAME.parquet`` first
and ``OUT/articles/NAME.parquet`` last, each under a temporary name and then moved into
place, so a part whose articles file exists is complete and a re-run skips it. The plan is
the same on every run of the same inputs, so every id lands in exactly one part. What comes
back to the driver is a ``Tally`` per part: counts, a few error lines and the score totals
per source, a few hundred bytes.

The output may be a local folder, a shared file system seen under the same path by every
node, or an object store URI (``s3://bucket/prefix``) that pyarrow's file systems open.

Each article is run through the encoder on its own: the int8 model quantizes activations
per batch, so sharing a batch with other articles would change an article's spans. Windows
are cut to full length from the end of each text, so no window is ever padded.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from propscope import tables, techniques
from propscope.analysis import Analysis, ModelInfo, Source, Span, TextLanguage
from propscope.batch import Summary
from propscope.decoding import Sensitivity, check_sensitivity
from propscope.errors import ClusterError, InputError, MissingExtra, ModelError, PropscopeError, storage_error
from propscope.ingest import Record, jsonl_records, row_record
from propscope.language import Readers, language_name
from propscope.model import model_sha256, shipped_model_dir

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs

    from propscope.store import Library

logger = logging.getLogger(__name__)
SHARD_SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl"}
ENGINES = ("local", "ray")
INPUT_KEY = b"propscope.input"
ROW_GROUPS_KEY = b"propscope.row_groups"
SOURCES_KEY = b"propscope.sources"
BATCH_ROWS = 16  # articles per call of AnalyzeBatch: a few seconds of work on one CPU
PART_ROWS = 1000  # articles per part at most, unless one row group is larger
PLAN_FILE = "_propscope.json"  # the part size, so that a re-run cuts the same parts
TASK_RETRIES = 3  # tries of a part whose worker or node dies, after the first


@dataclass(frozen=True)
class Part:
    """The unit of work and of output: whole row groups of one Parquet file, or one JSONL file."""

    input: str
    name: str
    row_groups: tuple[int, ...] = ()  # empty for a JSONL file
    rows: int | None = None  # unknown for a JSONL file until it is read

    @property
    def kind(self) -> str:
        return SHARD_SUFFIXES[Path(self.input).suffix.lower()]


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.fs
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


def plan(inputs: Sequence[Path], *, part_rows: int = PART_ROWS) -> list[Part]:
    """The parts of the given files and folders (a folder stands for its .parquet and .jsonl files)."""
    if part_rows < 1:
        raise InputError(f"--part-rows {part_rows}: a part holds at least one row")
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
    seen: dict[str, Path] = {}
    parts: list[Part] = []
    for path in (p.resolve() for p in paths):
        if path.stem in seen:
            if seen[path.stem] != path:
                raise InputError(f"{path} and {seen[path.stem]} would both write the parts '{path.stem}-*'; "
                                 "rename one of them")
            continue
        seen[path.stem] = path
        parts += _parts_of(path, part_rows)
    return parts


def _parts_of(path: Path, part_rows: int) -> list[Part]:
    if path.suffix.lower() == ".jsonl":
        return [Part(str(path), f"{path.stem}-00000")]
    group_rows = _row_groups(path)
    runs: list[list[int]] = [[]]
    for group, rows in enumerate(group_rows):
        if runs[-1] and sum(group_rows[g] for g in runs[-1]) + rows > part_rows:
            runs.append([])
        runs[-1].append(group)
    return [Part(str(path), f"{path.stem}-{index:05d}", tuple(groups), sum(group_rows[g] for g in groups))
            for index, groups in enumerate(runs)]


def _row_groups(path: Path) -> list[int]:
    """Rows per row group of a Parquet corpus file, read from its footer."""
    pa = _pyarrow()
    try:
        metadata = pa.parquet.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    names = metadata.schema.to_arrow_schema().names
    missing = [column for column in ("id", "text") if column not in names]
    if missing:
        raise InputError(f"{path}: a corpus file needs the columns id and text; it has no {' or '.join(missing)} "
                         f"(its columns: {', '.join(names)})")
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


# ------------------------------------------------------------------ the output location


@dataclass(frozen=True)
class Output:
    """Where a corpus run writes: a local or shared folder, or an object store URI."""

    location: str  # as the user gave it, for messages
    filesystem: pyarrow.fs.FileSystem
    base: str

    @classmethod
    def open(cls, location: str | Path) -> Output:
        pa = _pyarrow()
        location = str(location)
        if "://" not in location:
            path = Path(location).resolve()
            if path.exists() and not path.is_dir():
                raise InputError(f"{location}: a corpus run writes a folder, and this is a file")
            return cls(location, pa.fs.LocalFileSystem(), str(path))
        try:
            filesystem, base = pa.fs.FileSystem.from_uri(location)
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise InputError(f"{location}: not an output location that pyarrow can open ({exc}); give a folder "
                             "or a URI such as s3://bucket/prefix") from None
        return cls(location, filesystem, base.rstrip("/"))

    def keep_plan(self, part_rows: int) -> None:
        """Record the part size on a first run; refuse another one later, whose parts would overlap."""
        pa = _pyarrow()
        path = f"{self.base}/{PLAN_FILE}"
        try:
            if self.filesystem.get_file_info(path).type == pa.fs.FileType.File:
                with self.filesystem.open_input_stream(path) as file:
                    recorded = json.loads(file.read())["part_rows"]
                if recorded != part_rows:
                    raise InputError(f"{self.location}: this output was cut into parts of up to {recorded} rows; "
                                     f"run again with --part-rows {recorded}, or write to a new folder")
                return
            if self.complete():
                raise InputError(f"{self.location}: holds the output of an earlier propscope version, cut "
                                 "differently; write to a new folder")
            self.filesystem.create_dir(self.base, recursive=True)
            with self.filesystem.open_output_stream(path) as file:
                file.write(json.dumps({"part_rows": part_rows}).encode())
        except OSError as exc:
            raise storage_error(path, exc) from None

    def path(self, table: str, name: str) -> str:
        return f"{self.base}/{table}/{name}.parquet"

    def complete(self) -> set[str]:
        """The names of the parts whose articles file is in place."""
        pa = _pyarrow()
        try:
            found = self.filesystem.get_file_info(pa.fs.FileSelector(f"{self.base}/articles", allow_not_found=True))
        except OSError as exc:
            raise InputError(f"{self.location}: cannot list the output ({exc})") from None
        return {Path(info.path).stem for info in found
                if info.type == pa.fs.FileType.File and info.path.endswith(".parquet")
                and not Path(info.path).name.startswith(".")}

    def write(self, table: pa.Table, target: str) -> None:
        """Write ``table`` to ``target`` so that it appears whole or not at all."""
        pa = _pyarrow()
        folder, name = target.rsplit("/", 1)
        # A name of its own per try: a retried part may still be written by its first, lost try.
        partial = f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.partial"
        try:
            self.filesystem.create_dir(folder, recursive=True)
            pa.parquet.write_table(table, partial, filesystem=self.filesystem)
            self.filesystem.move(partial, target)  # a rename on a file system, a copy on an object store
        except OSError as exc:  # pyarrow's IO errors are OSErrors too
            with suppress(OSError):
                self.filesystem.delete_file(partial)
            raise storage_error(target, exc) from None

    def read_metadata(self, name: str) -> dict[bytes, bytes]:
        with self.filesystem.open_input_file(self.path("articles", name)) as file:
            return _pyarrow().parquet.read_schema(file).metadata or {}

    def read_table(self, table: str, name: str) -> pa.Table:
        return _pyarrow().parquet.read_table(self.path(table, name), filesystem=self.filesystem)


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


def read_part(part: Part, *, batch_rows: int = BATCH_ROWS, encoding: str = "utf-8") -> Iterator[pa.Table]:
    """Record rows of one part in batches; a bad record is a row with an error."""
    pa = _pyarrow()
    name = Path(part.input).name
    if part.kind == "jsonl":
        lines = io.StringIO(Path(part.input).read_bytes().decode(encoding, "surrogateescape"), newline="")
        rows = [_record_row(record, part.input) for record in jsonl_records(lines, name, fetch_urls=False)]
        yield from _record_table(rows).to_batches(batch_rows)
        return
    if not part.row_groups:
        return
    parquet = pa.parquet.ParquetFile(part.input)
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=list(part.row_groups)):
        yield _record_table([_record_row(row_record(raw, name, fetch_urls=False), part.input)
                             for raw in batch.to_pylist()])


# ------------------------------------------------------------------ analysing


class AnalyzeBatch:
    """Record rows in, result rows out. One instance per worker loads the model once."""

    def __init__(self, model_dir: str | None = None, expected_sha256: str | None = None, threads: int = 1,
                 sensitivity: Sensitivity = "balanced") -> None:
        self.readers = Readers(Path(model_dir) if model_dir else None, threads=threads, sensitivity=sensitivity)
        english = self.readers.english
        if expected_sha256 and english.info.sha256 != expected_sha256:
            raise ModelError(f"{english.model_dir}: this worker's model (sha256 "
                             f"{english.info.sha256[:12]}…) is not the driver's ({expected_sha256[:12]}…); "
                             "install the same propscope version on every node")

    def __call__(self, batch: pa.Table) -> pa.Table:
        pa = _pyarrow()
        results = list(self.readers.map(self.result, batch.to_pylist()))
        return pa.Table.from_pylist(results, schema=result_schema())

    def result(self, row: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {key: row[key] for key in ("input", "id", "source", "url", "title", "date", "error")}
        result |= {"score": None, "n_spans": None, **{t.id: None for t in techniques.TECHNIQUES}, "spans": [],
                   "model": None, "model_version": None, "model_sha256": None,
                   "sensitivity": self.readers.sensitivity, "language": None, "language_note": None}
        if row["error"] is not None:
            return result
        name = f"{Path(row['input']).name} (id {row['id']})"
        try:
            analysis = self.readers.analyze(row["text"], name=name)
        except InputError as exc:
            return result | {"error": str(exc)}
        except Exception as exc:  # one article must not stop a run over millions
            logger.exception("analysing %s failed", name)
            return result | {"error": f"{name}: the analysis failed ({type(exc).__name__}: {exc})"}
        info = analysis.model
        return result | {"score": analysis.score, **tables.count_columns(analysis), "spans": tables.span_rows(analysis),
                         "model": info.name, "model_version": info.version, "model_sha256": info.sha256,
                         **tables.language_columns(analysis)}


@cache
def result_schema() -> pa.Schema:
    pa = _pyarrow()
    _, articles, spans = _schemas()
    span = pa.struct([f for f in spans if f.name != "id"])
    return pa.schema([("input", pa.string()), *articles, ("spans", pa.list_(span))])


@dataclass
class Tally:
    """What analysing some rows came to: all that a worker sends back to the driver."""

    rows: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    sources: dict[str, list[float]] = field(default_factory=dict)  # source: [articles scored, score total]

    EXAMPLES = 5

    @classmethod
    def of(cls, results: pa.Table) -> Tally:
        errors = [e for e in results.column("error").to_pylist() if e is not None]
        tally = cls(len(results), len(errors), errors[:cls.EXAMPLES])
        for source, score in zip(results.column("source").to_pylist(), results.column("score").to_pylist(), strict=True):
            if score is not None:
                totals = tally.sources.setdefault(source or "(unknown)", [0, 0.0])
                totals[0] += 1
                totals[1] += score
        return tally

    def add(self, other: Tally) -> None:
        self.rows += other.rows
        self.errors += other.errors
        self.error_examples += other.error_examples[:self.EXAMPLES - len(self.error_examples)]
        for source, (articles, total) in other.sources.items():
            mine = self.sources.setdefault(source, [0, 0.0])
            mine[0] += articles
            mine[1] += total

    def to_json(self) -> bytes:
        return json.dumps([self.rows, self.errors, self.error_examples, self.sources]).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Tally:
        rows, errors, examples, sources = json.loads(data)
        return cls(rows, errors, examples, sources)


def analyze_part(part: Part, output: Output, analyze: AnalyzeBatch, *, encoding: str = "utf-8") -> Iterator[Tally]:
    """A tally per batch of ``part``, and, once the last batch is through, the part written."""
    results = []
    for records in read_part(part, encoding=encoding):
        results.append(analyze(records))
        yield Tally.of(results[-1])
    write_part(output, part, _pyarrow().concat_tables(results) if results else result_schema().empty_table())


def write_part(output: Output, part: Part, results: pa.Table) -> None:
    """Write one part's spans and then its articles, which mark it complete."""
    pa = _pyarrow()
    _, articles_schema, spans_schema = _schemas()
    tally = Tally.of(results)
    metadata = {INPUT_KEY: part.input.encode(), ROW_GROUPS_KEY: json.dumps(part.row_groups).encode(),
                SOURCES_KEY: json.dumps(tally.sources, sort_keys=True).encode()}
    span_rows = [{"id": row_id, **span} for row_id, spans in
                 zip(results.column("id").to_pylist(), results.column("spans").to_pylist(), strict=True)
                 for span in spans]
    spans = pa.Table.from_pylist(span_rows, schema=spans_schema.with_metadata(metadata))
    articles = results.select(articles_schema.names).cast(articles_schema).replace_schema_metadata(metadata)
    output.write(spans, output.path("spans", part.name))
    output.write(articles, output.path("articles", part.name))


# ------------------------------------------------------------------ engines


def run(
    inputs: Sequence[Path],
    out: str | Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    model_dir: Path | None = None,
    progress: Callable[[Summary], None] | None = None,
    encoding: str = "utf-8",
    sensitivity: str = "balanced",
    part_rows: int = PART_ROWS,
) -> Summary:
    """Analyse every part of ``inputs`` not yet complete in ``out`` with the chosen engine."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
    sensitivity = check_sensitivity(sensitivity)
    parts = plan(inputs, part_rows=part_rows)
    output = Output.open(out)
    output.keep_plan(part_rows)
    complete = output.complete()
    todo = [part for part in parts if part.name not in complete]
    summary = Summary(parts_skipped=len(parts) - len(todo))
    if all(part.rows is not None for part in todo):
        summary.total = sum(part.rows or 0 for part in todo)
    tally = Tally()
    started = time.perf_counter()

    def take(part_tally: Tally, *, part_done: bool) -> None:
        tally.add(part_tally)
        summary.done, summary.errors, summary.error_examples = tally.rows, tally.errors, tally.error_examples
        summary.parts_done += part_done
        summary.seconds = time.perf_counter() - started
        if progress:
            progress(summary)

    if todo:
        if engine == "local":
            _run_local(todo, output, take, model_dir, encoding, sensitivity)
        else:
            _run_ray(todo, output, take, summary, model_dir, ray_address, encoding, sensitivity)
    summary.seconds = time.perf_counter() - started
    for name in sorted(complete & {part.name for part in parts}):
        tally.add(Tally(sources=json.loads(output.read_metadata(name).get(SOURCES_KEY, b"{}"))))
    summary.top_sources = top_sources(tally)
    return summary


def top_sources(tally: Tally, *, limit: int = 5) -> list[tuple[str, int, float]]:
    """(source, articles, mean score) for the sources with the highest mean score."""
    means = [(source, int(articles), total / articles) for source, (articles, total) in tally.sources.items()]
    return sorted(means, key=lambda item: (-item[2], -item[1], item[0]))[:limit]


def _run_local(parts: Sequence[Part], output: Output, take: Callable[..., None], model_dir: Path | None,
               encoding: str, sensitivity: Sensitivity) -> None:
    analyze = AnalyzeBatch(str(model_dir) if model_dir else None, threads=os.cpu_count() or 1,
                           sensitivity=sensitivity)
    for part in parts:
        for tally in analyze_part(part, output, analyze, encoding=encoding):
            take(tally, part_done=False)
        take(Tally(), part_done=True)


def _import_ray() -> Any:
    try:
        import ray
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


@cache
def _worker_analyzer(model_dir: str | None, expected_sha256: str, sensitivity: Sensitivity) -> AnalyzeBatch:
    """One model per Ray worker process, kept for every part the process is given."""
    return AnalyzeBatch(model_dir, expected_sha256, threads=1, sensitivity=sensitivity)


def analyze_part_on_worker(part: Part, location: str, model_dir: str | None, expected_sha256: str,
                           sensitivity: Sensitivity, encoding: str) -> bytes:
    """A Ray task: analyse and write one part; returns its tally as JSON."""
    tally = Tally()
    for batch_tally in analyze_part(part, Output.open(location), _worker_analyzer(model_dir, expected_sha256, sensitivity),
                                    encoding=encoding):
        tally.add(batch_tally)
    return tally.to_json()


def _run_ray(parts: Sequence[Part], output: Output, take: Callable[..., None], summary: Summary,
             model_dir: Path | None, address: str | None, encoding: str, sensitivity: Sensitivity) -> None:
    ray = _import_ray()
    expected = model_sha256(model_dir or shipped_model_dir())
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    try:
        # Ray started here serves this process alone, so it listens on loopback only.
        here = {"_node_ip_address": "127.0.0.1"} if address is None else {}
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, **here)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--ray-address {address}: cannot connect to a Ray cluster ({exc})") from None
    try:
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(analyze_part_on_worker)
        location = output.location if "://" in output.location else output.base
        model = str(model_dir.resolve()) if model_dir else None
        queue = iter(parts)
        in_flight: dict[Any, Part] = {}

        def submit(count: int) -> None:
            for part in islice(queue, count):
                in_flight[task.remote(part, location, model, expected, sensitivity, encoding)] = part

        # A few parts per CPU in flight, so a worker never waits, and a huge plan is not all queued at once.
        submit(2 * max(1, int(ray.cluster_resources().get("CPU", 1))))
        while in_flight:
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            part = in_flight.pop(ready)
            try:
                payload = ray.get(ready)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, PropscopeError):
                    raise exc.cause from None
                raise ClusterError(f"{part.input}: part {part.name} failed on a worker ({exc.cause!r}); "
                                   "run the same command again to redo it") from None
            except ray.exceptions.RayError as exc:
                raise ClusterError(f"{part.input}: part {part.name} was lost {TASK_RETRIES + 1} times "
                                   f"({type(exc).__name__}); run the same command again to redo it") from None
            summary.received_bytes += len(payload)
            take(Tally.from_json(payload), part_done=True)
            submit(1)
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ reading the output


def import_into(library: Library, out: str | Path, *, encoding: str = "utf-8") -> int:
    """Store every analysed article of a corpus output in ``library``; returns how many.

    The output keeps spans but not article texts, so the texts are read again from the input
    files recorded in each part."""
    output = Output.open(out)
    names = sorted(output.complete())
    if not names:
        raise InputError(f"{out}: no corpus output here (expected {output.base}/articles/*.parquet "
                         "written by `propscope batch INPUT... -o FOLDER`)")
    stored = 0
    for name in names:
        metadata = output.read_metadata(name)
        if INPUT_KEY not in metadata:
            raise InputError(f"{output.path('articles', name)}: not a propscope articles table")
        input_path = Path(metadata[INPUT_KEY].decode())
        if not input_path.is_file():
            raise InputError(f"{output.path('articles', name)}: its input {input_path} is gone; the library needs "
                             "the article texts, so import while the input files are in place")
        part = Part(str(input_path), name, tuple(json.loads(metadata.get(ROW_GROUPS_KEY, b"[]"))))
        spans = iter(output.read_table("spans", name).to_pylist())
        records = (row for batch in read_part(part, encoding=encoding) for row in batch.to_pylist())
        for article, record in zip(output.read_table("articles", name).to_pylist(), records, strict=False):
            if article["id"] != record["id"]:
                raise InputError(f"{input_path}: changed since {output.path('articles', name)} was written "
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
            if article.get("language") is not None:
                analysis = replace(analysis, language=TextLanguage(
                    article["language"], language_name(article["language"]) if article["language"] else "unknown",
                    True, article.get("language_note")))
            # The score also counted candidate spans that the output does not keep.
            library.put(replace(analysis, score=article["score"]))
            stored += 1
    return stored
