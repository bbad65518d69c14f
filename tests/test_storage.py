"""A full disk gives one clear error line (or a 507 problem), never a traceback, and a rerun resumes.

The disk is made full for real: each command runs in a child process whose file size limit
(RLIMIT_FSIZE) is smaller than what it must write, so the kernel refuses the write ("File too
large", which SQLite reports as a disk I/O error; a full disk gives ENOSPC and SQLITE_FULL).
"""

import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from .conftest import PROPAGANDA

BIN = Path(sys.executable).parent
LIMIT = 128_000  # bytes: an empty library fits (45 kB), the analysis of a long text does not
LONG = PROPAGANDA * 30


def at_most(max_bytes: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def propscope(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "propscope"), *args], capture_output=True, text=True, timeout=600,
                          preexec_fn=at_most(limit) if limit else None, env={**os.environ, "NO_COLOR": "1"})


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *paths: Path) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.match(rf"Error: ({'|'.join(re.escape(str(p)) for p in paths)}): (the disk is full|it could not be written)",
                    lines[0]), lines[0]
    assert lines[0].endswith("what was already written is kept, and the rerun resumes")


def intact(library: Path) -> bool:
    with sqlite3.connect(library) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_analyze_on_a_full_disk_names_the_library_and_a_rerun_stores_it(tmp_path: Path) -> None:
    article, library = tmp_path / "long.txt", tmp_path / "library.db"
    article.write_text(LONG, encoding="utf-8")
    assert_one_clear_line(propscope("analyze", str(article), "--db", str(library), limit=LIMIT), library)
    assert intact(library)
    again = propscope("analyze", str(article), "--db", str(library), "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["text"] == LONG
    listed = propscope("library", "list", "--db", str(library))
    assert listed.returncode == 0 and "long.txt" in listed.stdout


def test_batch_on_a_full_disk_stops_with_one_line_and_the_rerun_finishes_every_record_once(tmp_path: Path) -> None:
    records, output, library = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "library.db"
    texts = [f"Report {i}. " + PROPAGANDA for i in range(60)]
    records.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    assert_one_clear_line(propscope("batch", str(records), "-o", str(output), "--db", str(library), limit=4 * LIMIT),
                          library, output)
    assert intact(library)
    finished = propscope("batch", str(records), "-o", str(output), "--db", str(library))
    assert finished.returncode == 0, finished.stderr
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert sorted(ids, key=int) == [str(i) for i in range(60)]
    assert intact(library)


def test_server_on_a_full_disk_answers_507_with_a_problem_and_keeps_serving(tmp_path: Path) -> None:
    library = tmp_path / "library.db"
    server = subprocess.Popen([str(BIN / "propscope"), "serve", "--port", "0", "--db", str(library)],
                              stderr=subprocess.PIPE, text=True, preexec_fn=at_most(LIMIT))
    try:
        assert server.stderr is not None
        url = re.search(r"http://\S+", server.stderr.readline())
        assert url, "the server did not start"
        with httpx.Client(base_url=url.group(0), timeout=300) as client:
            full = client.post("/api/v1/analyze", json={"text": LONG})
            assert full.status_code == 507 and full.headers["content-type"] == "application/problem+json"
            problem = full.json()
            assert problem["title"] == "Insufficient storage" and problem["detail"].startswith(f"{library}: ")
            assert client.get("/healthz").status_code == 200
            small = client.post("/api/v1/analyze", json={"text": "The corrupt elite lied to you."})
            assert small.status_code == 200  # small enough to fit: the server goes on
    finally:
        server.terminate()
        server.wait(timeout=60)
        if server.stderr:
            server.stderr.close()
    assert intact(library)
