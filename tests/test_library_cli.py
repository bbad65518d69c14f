"""`propscope analyze` stores into the library; `propscope library` reads it back."""

import json
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from propscope.cli import cli
from propscope.model import shipped_model_dir
from propscope.store import Library

from .conftest import CALM, PROPAGANDA


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_analyze_stores_and_caches(tmp_path: Path, library_path: Path) -> None:
    article = write(tmp_path, "loud.txt", PROPAGANDA)
    first = run("analyze", article, "--format", "json")
    assert first.exit_code == 0
    with Library(library_path) as lib:
        assert len(lib) == 1
    second = run("analyze", article, "--format", "json")
    assert json.loads(second.output)["spans"] == json.loads(first.output)["spans"]
    run("analyze", write(tmp_path, "calm.txt", CALM), "--no-store")
    with Library(library_path) as lib:
        assert len(lib) == 1


def test_a_retuned_model_is_not_served_its_old_analyses(tmp_path: Path, library_path: Path) -> None:
    retuned = tmp_path / "retuned"
    shutil.copytree(shipped_model_dir(), retuned)
    config = json.loads((retuned / "config.json").read_text())
    config["decoding"]["balanced"] |= {"high": 0.99, "technique_high": 1.01, "repetition": 1.01}
    (retuned / "config.json").write_text(json.dumps(config))
    article = write(tmp_path, "loud.txt", PROPAGANDA)
    shipped = json.loads(run("analyze", article, "--format", "json").output)
    strict = json.loads(run("analyze", article, "--format", "json", "--model", str(retuned)).output)
    assert shipped["model"]["sha256"] == strict["model"]["sha256"]  # the same ONNX file
    assert shipped["spans"] and len(strict["spans"]) < len(shipped["spans"])
    with Library(library_path) as lib:
        assert len(lib) == 1 and lib.rows()[0]["n_spans"] == len(strict["spans"])


def test_library_list_show_stats_export(tmp_path: Path) -> None:
    db = str(tmp_path / "own.db")
    run("analyze", write(tmp_path, "loud.txt", PROPAGANDA), "--db", db)
    run("analyze", write(tmp_path, "calm.txt", CALM), "--db", db)
    listing = run("library", "list", "--db", db)
    assert listing.exit_code == 0 and listing.output.count("\n") >= 3
    shown = run("library", "show", "1", "--format", "json", "--db", db)
    assert json.loads(shown.output)["text"] == PROPAGANDA
    chart = tmp_path / "chart.svg"
    stats = run("library", "stats", "--db", db, "--chart", str(chart))
    assert stats.exit_code == 0 and "Most propagandistic sources" in stats.output
    assert chart.read_text().startswith("<svg")
    export = tmp_path / "all.jsonl"
    assert run("library", "export", str(export), "--db", db).exit_code == 0
    assert len(export.read_text().splitlines()) == 2


def test_library_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "own.db")
    missing = run("library", "show", "42", "--db", db)
    assert missing.exit_code == 1 and "no analysis with id 42" in missing.output
    png = run("library", "stats", "--db", db, "--chart", str(tmp_path / "c.png"))
    assert png.exit_code == 1 and "charts are written as SVG" in png.output


def test_analyze_writes_html_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run("analyze", write(tmp_path, "loud.txt", PROPAGANDA), "--format", "html", "-o", str(out))
    assert result.exit_code == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="hl"' in page
