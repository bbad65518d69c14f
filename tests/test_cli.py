"""The propscope command, driven through click's CliRunner with the shipped model."""

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from propscope import ptc, scoring
from propscope.cli import cli
from propscope.text import line_bounds

from .conftest import CALM, PROPAGANDA, TINY_ARTICLES


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def assert_clean_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_analyze_prints_a_legend_and_score(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(PROPAGANDA, encoding="utf-8")
    result = run("analyze", str(path))
    assert result.exit_code == 0, result.output
    assert "Legend:" in result.output and "Score:" in result.output
    assert "\x1b[" not in result.output  # not a terminal: no colour codes


def test_analyze_json_keeps_the_exact_text(tmp_path: Path) -> None:
    text = "\ufeff" + PROPAGANDA.replace("\n", "\r\n")
    path = tmp_path / "article.txt"
    path.write_bytes(text.encode("utf-8"))
    data = json.loads(run("analyze", str(path), "--format", "json").output)
    assert data["text"] == text
    assert data["schema_version"] == 1 and data["model"]["name"] == "propscope-minilm"
    assert data["spans"] and all(text[s["start"]:s["end"]].strip() for s in data["spans"])
    assert set(data["sentences"][0]) == {"start", "end", "propaganda", "techniques"}
    assert 0 <= data["score"] <= 1


def test_analyze_reads_stdin() -> None:
    result = run("analyze", "-", "--format", "json", stdin=CALM.encode())
    assert result.exit_code == 0
    assert json.loads(result.output)["text"] == CALM


def test_predict_writes_ptc_rows(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.tsv"
    result = run("predict", str(tiny_corpus / "articles"), "-o", str(out))
    assert result.exit_code == 0, result.output
    for line in out.read_text().splitlines():
        article_id, _technique, start, end = line.split("\t")
        assert article_id in TINY_ARTICLES and int(start) < int(end)


def test_predict_spans_labels_every_row_in_order(tiny_corpus: Path, tmp_path: Path) -> None:
    template = tmp_path / "spans.tsv"
    template.write_text("2\t?\t44\t52\n1\t?\t15\t28\n1\t?\t15\t28\n", encoding="utf-8")
    out = tmp_path / "pred.tsv"
    result = run("predict", str(tiny_corpus / "articles"), "--spans", str(template), "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert [(r[0], r[2], r[3]) for r in rows] == [("2", "44", "52"), ("1", "15", "28"), ("1", "15", "28")]
    assert rows[1][1] != rows[2][1]  # a repeated span gets its next-best technique


def test_predict_sentences_writes_a_verdict_per_line_that_evaluate_scores(tiny_corpus: Path, tmp_path: Path) -> None:
    articles, gold = tiny_corpus / "articles", tiny_corpus / "labels-flc.tsv"
    pred, sentences = tmp_path / "pred.tsv", tmp_path / "sentences.tsv"
    result = run("predict", str(articles), "-o", str(pred), "--sentences", str(sentences))
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in sentences.read_text().splitlines()]
    texts = ptc.read_articles(articles)
    assert [(r[0], int(r[1])) for r in rows] == [(i, n) for i, text in texts.items()
                                                 for n in range(1, len(line_bounds(text)) + 1)]
    spans = ptc.read_labels(pred)
    assert scoring.positive_lines(texts, spans) <= {(r[0], int(r[1]) - 1) for r in rows if r[2] == "propaganda"}
    every_line = tmp_path / "every-line.tsv"
    every_line.write_text("".join(f"{r[0]}\t{r[1]}\tpropaganda\n" for r in rows), encoding="utf-8")
    figures = json.loads(run("evaluate", str(articles), "--gold", str(gold), "--pred", str(pred),
                             "--sentences", str(every_line), "--json").output)
    assert figures["slc"]["recall"] == 1.0
    assert_clean_error(run("predict", str(articles), "-o", str(pred), "--spans", str(gold), "--sentences", str(sentences)),
                       "--sentences needs the model to find spans; it cannot be used with --spans")
    every_line.write_text("1\t99\tpropaganda\n", encoding="utf-8")
    assert_clean_error(run("evaluate", str(articles), "--gold", str(gold), "--pred", str(pred), "--sentences", str(every_line)),
                       "every-line.tsv line 1: article 1 has")


def test_evaluate_prints_all_four_measures(tiny_corpus: Path, tmp_path: Path) -> None:
    gold = tiny_corpus / "labels-flc.tsv"
    result = run("evaluate", str(tiny_corpus / "articles"), "--gold", str(gold), "--pred", str(gold), "--json")
    figures = json.loads(result.output)
    assert figures["si"]["f1"] == figures["flc"]["f1"] == figures["slc"]["f1"] == 1.0
    assert figures["tc"]["micro_f1"] == 1.0
    text = run("evaluate", str(tiny_corpus / "articles"), "--gold", str(gold), "--pred", str(gold)).output
    assert "SI " in text and "FLC" in text and "SLC" in text and "TC   micro-F1 1.0000" in text
    assert set(figures["flc_per_technique"]) == {t for _, spans in TINY_ARTICLES.values() for t, _ in spans}
    assert "     Loaded_Language                      F1 1.0000  precision 1.0000  recall 1.0000  gold spans 1" in text


def test_evaluate_without_row_for_row_labels_skips_tc(tiny_corpus: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred.tsv"
    pred.write_text("1\tDoubt\t0\t5\n", encoding="utf-8")
    result = run("evaluate", str(tiny_corpus / "articles"), "--gold", str(tiny_corpus / "labels-flc.tsv"), "--pred", str(pred))
    assert result.exit_code == 0 and "TC   not computed" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the text is empty or only whitespace"),
        (b"  \n\t\n", "the text is empty or only whitespace"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "looks like a binary file"),
        ("caf\u00e9".encode("cp1252"), "not valid utf-8 at byte 3; if you know its encoding, pass it with --encoding"),
    ],
)
def test_analyze_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    assert_clean_error(run("analyze", str(path)), f"{path}: {message}")


def test_analyze_other_encoding_when_told(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("The caf\u00e9 opened on Monday.".encode("cp1252"))
    result = run("analyze", str(path), "--encoding", "cp1252", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.output)["text"] == "The caf\u00e9 opened on Monday."


def test_analyze_missing_file_and_empty_stdin(tmp_path: Path) -> None:
    assert_clean_error(run("analyze", str(tmp_path / "nope.txt")), "nope.txt: no such file")
    assert_clean_error(run("analyze", "-", stdin=b" \n"), "stdin: the text is empty")


def test_predict_folder_without_articles(tmp_path: Path) -> None:
    assert_clean_error(run("predict", str(tmp_path), "-o", str(tmp_path / "p.tsv")), "no article<ID>.txt files")


def test_malformed_label_row_names_the_line(tiny_corpus: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred.tsv"
    pred.write_text("1\tDoubt\t0\t5\n1\tDoubt\t7\n", encoding="utf-8")
    result = run("evaluate", str(tiny_corpus / "articles"), "--gold", str(tiny_corpus / "labels-flc.tsv"), "--pred", str(pred))
    assert_clean_error(result, f"{pred} line 2: expected 4 tab-separated fields")


def test_spans_out_of_range(tiny_corpus: Path, tmp_path: Path) -> None:
    template = tmp_path / "spans.tsv"
    template.write_text("1\t?\t10\t5000\n", encoding="utf-8")
    result = run("predict", str(tiny_corpus / "articles"), "--spans", str(template), "-o", str(tmp_path / "p.tsv"))
    assert_clean_error(result, "span 10-5000 of article 1 ends past the article's")


def test_predict_reports_and_skips_unreadable_articles(tiny_corpus: Path, tmp_path: Path) -> None:
    (tiny_corpus / "articles" / "article9.txt").write_bytes(b"\x00\x01binary")
    out = tmp_path / "pred.tsv"
    result = run("predict", str(tiny_corpus / "articles"), "-o", str(out))
    assert result.exit_code == 0
    assert "Skipped" in result.output and "article9.txt: looks like a binary file" in result.output
    assert "Wrote" in result.output and "for 4 articles" in result.output


@pytest.mark.parametrize("command", [["analyze", "-"], ["predict", ".", "-o", "x.tsv"], ["batch", ".", "-o", "x.jsonl"],
                                     ["serve"]])
def test_unknown_sensitivity_is_a_usage_error_naming_the_valid_ones(command: list[str]) -> None:
    result = run(*command, "--sensitivity", "loud", stdin=b"text")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--sensitivity': 'loud' is not one of 'low', 'balanced', 'high'." in result.output


def test_high_sensitivity_shows_more_spans_than_low(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(PROPAGANDA, encoding="utf-8")
    found = {}
    for setting in ("low", "high"):
        result = run("analyze", str(path), "--format", "json", "--sensitivity", setting, "--no-store")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["model"]["sensitivity"] == setting
        found[setting] = len(data["spans"])
    assert found["low"] < found["high"]


def test_serve_on_a_port_in_use_says_so_before_claiming_to_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--db", str(tmp_path / "s.db"))
    assert_clean_error(result, f"127.0.0.1:{port}: cannot listen there (Address already in use)")
    assert "serving on" not in result.output


def test_serve_on_port_0_announces_the_port_it_took_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    server = subprocess.Popen([Path(sys.executable).parent / "propscope", "serve", "--port", "0", "--db", str(tmp_path / "s.db")],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        announced = server.stderr.readline()
        assert announced.startswith("propscope serving on http://127.0.0.1:"), announced
        url = announced.split()[-1]
        assert httpx.get(url + "/healthz", timeout=30).json()["status"] == "ok"
    finally:
        server.send_signal(signal.SIGINT)
        _, rest = server.communicate(timeout=30)
    assert server.returncode == 0 and "propscope stopped." in rest, rest


def test_output_paths_are_checked_before_the_work(tmp_path: Path, tiny_corpus: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_text(PROPAGANDA)
    assert_clean_error(run("analyze", str(article), "-o", str(tmp_path), "--no-store"), f"{tmp_path}: is a folder")
    assert_clean_error(run("predict", str(tiny_corpus / "articles"), "-o", str(tmp_path)), f"{tmp_path}: is a folder")
    assert_clean_error(run("analyze", str(article), "-o", str(article / "x.json"), "--no-store"),
                       f"{article} is not a folder (a part of it is a file)")
    nested = tmp_path / "new" / "deeper" / "analysis.json"
    written = run("analyze", str(article), "-o", str(nested), "--format", "json", "--no-store")
    assert written.exit_code == 0, written.output
    assert json.loads(nested.read_text())["text"] == PROPAGANDA


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc, where no file can be created")
def test_a_file_system_refusal_is_one_line_naming_the_path(tmp_path: Path) -> None:
    article = tmp_path / "article.txt"
    article.write_text(PROPAGANDA)
    assert_clean_error(run("analyze", str(article), "-o", "/proc/propscope.json", "--no-store"),
                       "/proc/propscope.json: no such file or directory")


def test_a_library_path_that_is_no_database_is_explained(tmp_path: Path) -> None:
    not_a_library = tmp_path / "notes.txt"
    not_a_library.write_text("shopping list\n" * 100)
    assert_clean_error(run("library", "list", "--db", str(not_a_library)),
                       f"{not_a_library}: not a propscope library (file is not a database)")


def test_python_dash_m_runs_the_same_command_line() -> None:
    from propscope import __version__

    version = subprocess.run([sys.executable, "-m", "propscope", "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith(f"propscope {__version__}\nmodel propscope-minilm ")
    result = subprocess.run([sys.executable, "-m", "propscope", "analyze", "--sensitivity", "loud", "-"],
                            input="The corrupt elite lied.", capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "'loud' is not one of 'low', 'balanced', 'high'" in result.stderr
