"""Corpus runs: sharded Parquet output, resuming, errors, library import, and the Ray engine
on a real local cluster (started with `ray start --head` on loopback)."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from propscope import batch, shards, techniques
from propscope.cli import cli
from propscope.model import Analyzer
from propscope.store import Library

BIN = Path(sys.executable).parent
# Keep the test cluster on 127.0.0.1 (Ray otherwise advertises the machine's own address),
# with Ray's token authentication as on a real cluster, and a token of its own.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
# The loopback object store takes any key; the cluster's nodes hold it, as on a real cluster.
S3_ENV = {"AWS_ACCESS_KEY_ID": "propscope-test", "AWS_SECRET_ACCESS_KEY": "propscope-test", "AWS_DEFAULT_REGION": "us-east-1"}

SENTENCES = [
    "The council approved the budget on Tuesday after a short debate.",
    "These corrupt traitors will destroy everything our brave ancestors built!",
    "Officials said the bridge would reopen in March.",
    "Only a fool would believe the lies of this disgraceful regime.",
    "Make our nation great again, and never surrender to the globalist elite!",
    "Can we really trust anything the so-called experts tell us?",
    "Rainfall this autumn was close to the long-term average.",
    "If we do nothing now, our children will pay a terrible price.",
    "The company reported revenue of 4.1 million dollars.",
    "Wake up, people: they are coming for your freedom, your jobs and your families.",
]


def article_text(rng: random.Random, row_id: str) -> str:
    paragraphs = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 3)))
                  for _ in range(rng.randint(1, 4))]
    return "\n\n".join([*paragraphs, f"Filed as {row_id}."])


def write_corpus(folder: Path, *, parquet_shards: int, rows_per_shard: int, jsonl_rows: int, seed: int = 5) -> Path:
    """Parquet shards and one JSONL shard of generated articles, with a few bad records."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(parquet_shards):
        rows = [{"id": f"p{shard}-{i}", "text": article_text(rng, f"p{shard}-{i}"), "source": f"outlet-{i % 4}",
                 "date": f"2026-0{1 + i % 9}-1{i % 10}", "title": f"Story {i}"} for i in range(rows_per_shard)]
        rows[1]["text"] = "   "  # a blank article is an error row
        if shard % 2:  # optional columns may be missing from some files
            rows = [{k: v for k, v in row.items() if k != "title"} for row in rows]
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{shard:03d}.parquet")
    lines = [json.dumps({"id": f"j{i}", "text": article_text(rng, f"j{i}"), "source": "wire"}) for i in range(jsonl_rows)]
    lines[2] = "{this is not json"
    lines[3] = json.dumps({"id": "no-text", "source": "wire"})
    body = ("\n".join(lines) + "\n").encode()
    body = body.replace(b'"id": "j4"', b'"id": "j4", "note": "caf\xe9"')  # not UTF-8
    (folder / "wire.jsonl").write_bytes(body)
    return folder


def read_output(out: Path) -> dict[str, pa.Table]:
    return {f"{kind}/{path.name}": pq.read_table(path) for kind in ("articles", "spans")
            for path in sorted((out / kind).glob("*.parquet"))}


def all_ids(out: Path) -> list[str]:
    return [row_id for path in sorted((out / "articles").glob("*.parquet"))
            for row_id in pq.read_table(path, columns=["id"]).column("id").to_pylist()]


def test_local_run_writes_articles_and_spans(tmp_path: Path, analyzer: Analyzer) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=2, rows_per_shard=6, jsonl_rows=6)
    summary = shards.run([inputs], tmp_path / "out")
    assert (summary.done, summary.errors, summary.parts_done, summary.parts_skipped) == (18, 5, 3, 0)
    articles = pq.read_table(tmp_path / "out" / "articles" / "part-000-00000.parquet").to_pylist()
    spans = pq.read_table(tmp_path / "out" / "spans" / "part-000-00000.parquet").to_pylist()
    texts = {row["id"]: row["text"] for row in pq.read_table(inputs / "part-000.parquet").to_pylist()}
    assert [row["id"] for row in articles] == [f"p0-{i}" for i in range(6)]
    blank = articles[1]
    assert blank["score"] is None and "the text is empty" in blank["error"]
    for row in articles[:1] + articles[2:]:
        direct = analyzer.analyze(texts[row["id"]])
        assert row["error"] is None and row["score"] == direct.score
        assert row["model_version"] == analyzer.info.version and row["model_sha256"] == analyzer.info.sha256
        assert row["n_spans"] == sum(row[t.id] for t in techniques.TECHNIQUES) == len(direct.spans)
        assert [(s["start"], s["end"], s["technique"], s["confidence"], s["text"])
                for s in spans if s["id"] == row["id"]] == [
            (s.start, s.end, s.technique, s.confidence, direct.span_text(s)) for s in direct.spans]
    assert sum(row["n_spans"] or 0 for row in articles) == len(spans) > 0
    wire = {row["id"]: row["error"] for row in pq.read_table(tmp_path / "out" / "articles" / "wire-00000.parquet").to_pylist()}
    assert wire["wire.jsonl line 3"].startswith("wire.jsonl line 3: not valid JSON")
    assert wire["no-text"] == "wire.jsonl line 4 (id no-text): the row has no text"
    assert "not valid text in the file's encoding" in wire["j4"]
    assert sum(error is None for error in wire.values()) == 3


def test_rerun_skips_complete_shards_and_redoes_the_rest(tmp_path: Path, analyzer: Analyzer) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=3, rows_per_shard=4, jsonl_rows=5)
    (inputs / "empty.jsonl").write_text("\n")
    out = tmp_path / "out"
    assert shards.run([inputs], out).parts_done == 5
    assert pq.read_table(out / "articles" / "empty-00000.parquet").num_rows == 0
    first = read_output(out)
    (out / "articles" / "part-001-00000.parquet").unlink()
    again = shards.run([inputs], out)
    assert (again.parts_done, again.parts_skipped, again.done) == (1, 4, 4)
    assert read_output(out).keys() == first.keys()
    assert all(read_output(out)[name].equals(table) for name, table in first.items())


def test_interrupted_run_leaves_only_complete_shards(tmp_path: Path, analyzer: Analyzer) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=3, rows_per_shard=300, jsonl_rows=5)
    out = tmp_path / "out"

    def stop_in_second_shard(summary: batch.Summary) -> None:
        if summary.done > 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shards.run([inputs], out, progress=stop_in_second_shard)
    assert sorted(p.name for p in (out / "articles").iterdir()) == ["part-000-00000.parquet"]
    resumed = shards.run([inputs], out)
    assert (resumed.parts_done, resumed.parts_skipped) == (3, 1)
    assert sorted(all_ids(out)) == sorted(set(all_ids(out))) and len(all_ids(out)) == 905


def test_parts_follow_row_groups_and_every_id_lands_once(tmp_path: Path, analyzer: Analyzer) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=2, rows_per_shard=30, jsonl_rows=6)
    grouped = inputs / "part-000.parquet"
    pq.write_table(pq.read_table(grouped), grouped, row_group_size=10)
    out = tmp_path / "out"
    summary = shards.run([inputs], out, part_rows=25)
    # Row groups are never split: 10 + 10 rows make a part, and a single group of 30 is one part.
    assert sorted(p.name for p in (out / "articles").iterdir()) == [
        "part-000-00000.parquet", "part-000-00001.parquet", "part-001-00000.parquet", "wire-00000.parquet"]
    assert [pq.read_table(out / "articles" / f"part-000-0000{i}.parquet").num_rows for i in (0, 1)] == [20, 10]
    ids = all_ids(out)
    assert len(ids) == len(set(ids)) == summary.done == 66 and summary.parts_done == 4
    assert summary.total is None  # a JSONL file's rows are not counted before it is read
    assert pq.read_table(out / "articles").num_rows == 66 and not list(out.rglob(".*"))
    assert shards.run([inputs / "part-000.parquet"], tmp_path / "grouped", part_rows=25).total == 30
    refused = CliRunner().invoke(cli, ["batch", str(inputs), "-o", str(out), "--part-rows", "10"])
    assert refused.exit_code == 1 and "run again with --part-rows 25, or write to a new folder" in refused.output
    assert sorted(all_ids(out)) == sorted(ids)
    (out / "_propscope.json").unlink()  # what an output of propscope 0.5 looks like
    older = CliRunner().invoke(cli, ["batch", str(inputs), "-o", str(out)])
    assert older.exit_code == 1 and "holds the output of an earlier propscope version" in older.output


def test_a_run_without_a_terminal_logs_its_rate_and_time_left(
    tmp_path: Path, analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=2, rows_per_shard=6, jsonl_rows=6)
    (inputs / "wire.jsonl").unlink()  # its rows are not known before it is read
    monkeypatch.setattr("propscope.cli.PROGRESS_LINE_SECONDS", 0)
    result = CliRunner().invoke(cli, ["batch", str(inputs), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " of 12 articles, " in line]
    assert [line.split()[1] for line in lines][::len(lines) - 1] == ["6", "12"]
    assert "min left" in lines[0] and "articles/s" in lines[-1]


@pytest.fixture(scope="module")
def object_store() -> Iterator[str]:
    """A real S3-compatible server (moto's) on loopback with a bucket 'corpus'; yields its HOST:PORT."""
    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    saved = {key: os.environ.get(key) for key in S3_ENV}
    os.environ.update(S3_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    fs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True).create_dir("corpus")
    try:
        yield f"{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.update({key: value})


def s3_uri(endpoint: str, prefix: str) -> str:
    return f"s3://corpus/{prefix}?endpoint_override={endpoint}&scheme=http"


def read_s3_output(endpoint: str, prefix: str) -> dict[str, pa.Table]:
    output = shards.Output.open(s3_uri(endpoint, prefix))
    return {f"{kind}/{name}.parquet": output.read_table(kind, name) for kind in ("articles", "spans")
            for name in sorted(output.complete())}


def test_a_run_writes_to_an_object_store(
    tmp_path: Path, analyzer: Analyzer, object_store: str, library_path: Path
) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=2, rows_per_shard=5, jsonl_rows=6)
    shards.run([inputs], tmp_path / "local")
    uri = s3_uri(object_store, "local-engine")
    result = CliRunner().invoke(cli, ["batch", str(inputs), "-o", uri])
    assert result.exit_code == 0 and "3 parts written" in result.output, result.output
    expected = read_output(tmp_path / "local")
    assert read_s3_output(object_store, "local-engine") == expected and len(expected) == 6
    again = CliRunner().invoke(cli, ["batch", str(inputs), "-o", uri])
    assert "0 parts written, 3 already complete" in again.output
    imported = CliRunner().invoke(cli, ["library", "import", uri])
    assert imported.exit_code == 0 and "Imported 11 analyses" in imported.output, imported.output
    with Library(library_path) as library:
        assert len(library) == 11
    unknown = CliRunner().invoke(cli, ["batch", str(inputs), "-o", "nosuch://bucket/x"])
    assert unknown.exit_code == 1 and "not an output location that pyarrow can open" in unknown.output


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: pq.write_table(pa.table({"id": ["1"], "body": ["x"]}), d / "c.parquet"),
         "c.parquet: a corpus file needs the columns id and text; it has no text (its columns: id, body)"),
        (lambda d: (d / "c.parquet").write_bytes(b"not parquet"), "c.parquet: not a readable Parquet file"),
        (lambda d: (d / "c.txt").write_text("an article"), "c.txt: a corpus run reads .parquet and .jsonl files"),
        (lambda d: None, "c.jsonl: no such file or folder"),
    ],
)
def test_bad_corpus_inputs_are_named(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    make(tmp_path)
    name = next((p.name for p in tmp_path.iterdir()), "c.jsonl")
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / name), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output


def test_corpus_cli_refuses_mixed_up_outputs(tmp_path: Path) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=1, rows_per_shard=3, jsonl_rows=5)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "wire.jsonl").write_text("{}\n")
    runner = CliRunner()
    clash = runner.invoke(cli, ["batch", str(inputs), str(tmp_path / "a"), "-o", str(tmp_path / "out")])
    assert clash.exit_code == 1 and "would both write the parts 'wire-*'; rename one of them" in clash.output
    ray_to_file = runner.invoke(cli, ["batch", str(inputs), "-o", str(tmp_path / "o.jsonl"), "--engine", "ray"])
    assert ray_to_file.exit_code == 1 and "give -o a folder for a corpus run" in ray_to_file.output
    (tmp_path / "taken").write_text("x")
    result = runner.invoke(cli, ["batch", str(inputs), "-o", str(tmp_path / "taken")])
    assert result.exit_code == 1 and "taken: a corpus run writes a folder, and this is a file" in result.output


def test_a_failing_analysis_becomes_an_error_row(
    tmp_path: Path, analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=1, rows_per_shard=4, jsonl_rows=5)
    doomed = pq.read_table(inputs / "part-000.parquet").column("text").to_pylist()[2]
    analyze = Analyzer.analyze

    def analyze_or_break(self: Analyzer, text: str, **kwargs: object) -> object:
        if text == doomed:  # stands in for a bug that only one article triggers
            raise RuntimeError("index out of range")
        return analyze(self, text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Analyzer, "analyze", analyze_or_break)
    summary = shards.run([inputs / "part-000.parquet"], tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / "articles" / "part-000-00000.parquet").to_pylist()
    assert summary.done == 4 and summary.errors == 2
    assert rows[2]["error"] == "part-000.parquet (id p0-2): the analysis failed (RuntimeError: index out of range)"
    assert rows[3]["error"] is None and rows[3]["score"] is not None


@pytest.mark.ray
@pytest.mark.parametrize(
    ("address", "expected"),
    [("nonsense", "expected 'auto' or HOST:PORT"), ("127.0.0.1:{port}", "nothing answers there")],
)
def test_a_wrong_ray_address_fails_fast(tmp_path: Path, address: str, expected: str) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=1, rows_per_shard=3, jsonl_rows=5)
    address = address.format(port=_free_port())
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["batch", str(inputs), "-o", str(tmp_path / "out"), "--engine", "ray", "--ray-address", address])
    assert result.exit_code == 1 and f"--ray-address {address}: {expected}" in result.output
    assert time.monotonic() - started < 30


def test_ray_engine_without_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=1, rows_per_shard=3, jsonl_rows=5)
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra looks like
    result = CliRunner().invoke(cli, ["batch", str(inputs), "-o", str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == 1 and "pip install 'propscope[ray]'" in result.output


def test_library_import_loads_a_corpus_run(tmp_path: Path, analyzer: Analyzer, library_path: Path) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=2, rows_per_shard=5, jsonl_rows=6)
    out = tmp_path / "out"
    shards.run([inputs], out)
    result = CliRunner().invoke(cli, ["library", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "Imported 11 analyses" in result.output
    with Library(library_path) as library:
        assert len(library) == 11
        assert {row["source"] for row in library.stats()["top_sources"]} == {"outlet-0", "outlet-2", "outlet-3", "wire"}
        text = pq.read_table(inputs / "part-000.parquet").to_pylist()[0]["text"]
        first = pq.read_table(out / "articles" / "part-000-00000.parquet").to_pylist()[0]
        imported = next(a for a in library.all() if a.analysis.text == text).analysis
        assert imported.score == first["score"] and imported.spans == analyzer.analyze(text).spans
        assert imported.source and imported.source.name == "outlet-0" and imported.source.date == first["date"]
    (inputs / "wire.jsonl").unlink()
    gone = CliRunner().invoke(cli, ["library", "import", str(out)])
    assert gone.exit_code == 1 and "wire.jsonl is gone" in gone.output
    empty = CliRunner().invoke(cli, ["library", "import", str(tmp_path)])
    assert empty.exit_code == 1 and "no corpus output here" in empty.output


# ------------------------------------------------------------------ Ray


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A real two-CPU Ray head on loopback, as `ray start --head` makes it."""
    env = os.environ | RAY_ENV | S3_ENV
    port = _free_port()
    started = subprocess.run(
        [BIN / "ray", "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([BIN / "ray", "stop", "--force"], env=env, capture_output=True, timeout=180)


def propscope_ray(inputs: Path, out: Path | str, address: str, *options: str,
                  env: dict[str, str] = RAY_ENV) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BIN / "propscope", "batch", str(inputs), "-o", str(out), "--engine", "ray", "--ray-address", address, *options],
        env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.ray
def test_ray_run_equals_local_row_for_row(tmp_path: Path, analyzer: Analyzer, ray_cluster: str) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=4, rows_per_shard=450, jsonl_rows=200)
    local = shards.run([inputs], tmp_path / "local")
    assert local.done == 2000
    job = propscope_ray(inputs, tmp_path / "ray", ray_cluster)
    output, _ = job.communicate(timeout=900)
    assert job.returncode == 0, output
    assert "1993 articles analysed, 7 errors" in output and "5 parts written" in output
    assert "Top sources by mean score" in output and "  error: part-000.parquet (id p0-1): the text is empty" in output
    expected, actual = read_output(tmp_path / "local"), read_output(tmp_path / "ray")
    assert actual.keys() == expected.keys() and len(expected) == 10
    for name, table in expected.items():
        assert actual[name].to_pylist() == table.to_pylist(), name
        assert actual[name].schema.metadata == table.schema.metadata
    rerun = propscope_ray(inputs, tmp_path / "ray", ray_cluster)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0 and "0 parts written, 5 already complete" in output, output


def _busy_workers() -> list[int]:
    """Ray worker processes analysing a part now (Ray names them after the task)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ray::analyze_part_on_worker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.ray
def test_ray_job_survives_a_killed_worker(tmp_path: Path, analyzer: Analyzer, ray_cluster: str) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=6, rows_per_shard=150, jsonl_rows=100, seed=9)
    out = tmp_path / "ray"
    job = propscope_ray(inputs, out, ray_cluster)
    deadline = time.monotonic() + 600
    while not list((out / "articles").glob("*.parquet")) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    victims = _busy_workers()
    assert victims and job.poll() is None, "the job ended before a worker could be killed"
    os.kill(victims[0], signal.SIGKILL)
    written_at_kill = len(list((out / "articles").glob("*.parquet")))
    output, _ = job.communicate(timeout=900)
    assert job.returncode == 0, output
    assert written_at_kill < 7 and victims[0] not in _busy_workers()
    ids = all_ids(out)
    assert len(ids) == len(set(ids)) == 1000
    shards.run([inputs], tmp_path / "local")
    expected, actual = read_output(tmp_path / "local"), read_output(out)
    assert all(actual[name].to_pylist() == table.to_pylist() for name, table in expected.items())


@pytest.mark.ray
def test_ray_workers_write_to_an_object_store(
    tmp_path: Path, analyzer: Analyzer, ray_cluster: str, object_store: str
) -> None:
    inputs = write_corpus(tmp_path / "in", parquet_shards=3, rows_per_shard=8, jsonl_rows=6, seed=3)
    shards.run([inputs], tmp_path / "local")
    job = propscope_ray(inputs, s3_uri(object_store, "ray-engine"), ray_cluster)
    output, _ = job.communicate(timeout=600)
    assert job.returncode == 0 and "4 parts written" in output, output
    assert read_s3_output(object_store, "ray-engine") == read_output(tmp_path / "local")


def _grouped_corpus(folder: Path, *, shards_: int, rows: int, group: int, seed: int) -> Path:
    inputs = write_corpus(folder, parquet_shards=shards_, rows_per_shard=rows, jsonl_rows=20, seed=seed)
    for path in inputs.glob("*.parquet"):
        pq.write_table(pq.read_table(path), path, row_group_size=group)
    return inputs


@pytest.mark.ray
def test_ray_run_survives_a_lost_node(tmp_path: Path, analyzer: Analyzer) -> None:
    from ray.cluster_utils import Cluster

    inputs = _grouped_corpus(tmp_path / "in", shards_=4, rows=150, group=15, seed=13)
    out = tmp_path / "ray"
    # A head that runs no work and two one-CPU worker nodes, all on loopback.
    loopback = {"node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **loopback})
    nodes = [cluster.add_node(num_cpus=1, **loopback) for _ in range(2)]
    cluster.wait_for_nodes()
    try:
        env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        job = propscope_ray(inputs, out, cluster.address, "--part-rows", "30", env=env)
        deadline = time.monotonic() + 600
        while len(list((out / "articles").glob("*.parquet"))) < 3 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.2)
        while len(_busy_workers()) < 2 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.05)  # both nodes analysing, so the lost one takes a part with it
        assert job.poll() is None, "the job ended before a node could be lost"
        cluster.remove_node(nodes[0], allow_graceful=False)
        written_at_loss = len(list((out / "articles").glob("*.parquet")))
        output, _ = job.communicate(timeout=900)
        if job.returncode != 0:  # the run may stop on a lost part; a re-run must then finish it
            assert "run the same command again" in output, output
            rerun = propscope_ray(inputs, out, cluster.address, "--part-rows", "30", env=env)
            output, _ = rerun.communicate(timeout=900)
            assert rerun.returncode == 0, output
    finally:
        cluster.shutdown()
    assert written_at_loss < 21
    ids = all_ids(out)
    assert len(ids) == len(set(ids)) == 620
    shards.run([inputs], tmp_path / "local", part_rows=30)
    assert read_output(out) == read_output(tmp_path / "local")
