"""Routing by language: the detector, the models it chooses, and the language in every output.
The multilingual model is the tiny one of conftest.tiny_multilingual_model, trained here."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from propscope import ingest
from propscope.analysis import Analysis
from propscope.batch import run_batch
from propscope.cli import cli
from propscope.errors import EmptyText, InputError, UnsupportedLanguage
from propscope.language import Readers, closest, detect, untrained_note
from propscope.model import Analyzer, shipped_model_dir
from propscope.server import Settings
from propscope.store import Library

from .conftest import PROPAGANDA, REPO, SENTENCES, LiveServer

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def readers(analyzer: Analyzer, tiny_multilingual_model: Path) -> Readers:
    return Readers(multilingual_dir=tiny_multilingual_model, loaded=[analyzer])


def test_each_language_goes_to_the_model_that_reads_it(readers: Readers) -> None:
    english = readers.analyze(PROPAGANDA)
    assert (english.model.name, english.language.code, english.language.note) == ("propscope-minilm", "en", None)
    french = readers.analyze(SENTENCES["fr"])
    assert french.model.name == "propscope-multilingual"
    assert (french.language.code, french.language.name, french.language.detected, french.language.note) == (
        "fr", "French", True, None)
    assert Analysis.from_dict(json.loads(json.dumps(french.to_dict()))) == french
    for code in ("fr", "ru", "pl"):  # the example articles of docs/languages.md
        example = readers.analyze((EXAMPLES / f"article-{code}.txt").read_text(encoding="utf-8"))
        assert (example.language.code, example.model.name, example.language.note) == (
            code, "propscope-multilingual", None)


def test_an_untrained_language_is_read_with_a_note_naming_the_closest_trained_ones(readers: Readers) -> None:
    bulgarian = readers.analyze(SENTENCES["bg"])
    assert bulgarian.model.name == "propscope-multilingual" and bulgarian.language.code == "bg"
    assert bulgarian.language.note == ("not trained on Bulgarian; the closest languages it trained on are "
                                       "Russian, Polish (no held-out figures in this model)")
    figures = {"en": {}, "ru": {"si": 0.41, "flc": 0.22}, "pl": {"si": 0.38, "flc": 0.19}}
    assert untrained_note("bg", figures) == ("not trained on Bulgarian; figures for similar languages are "
                                             "Russian SI 0.41, FLC 0.22; Polish SI 0.38, FLC 0.19 (held-out articles)")
    assert untrained_note("bg", figures, {"bg": {"si": 0.3, "flc": 0.12}}) == (
        "not trained on Bulgarian; measured on Bulgarian articles without training on any: SI 0.30, FLC 0.12")
    assert untrained_note("ja", figures) == (
        "not trained on Japanese; figures for the languages it trained on, none close to it, are Russian SI 0.41, "
        "FLC 0.22; Polish SI 0.38, FLC 0.19 (held-out articles)")
    japanese = readers.analyze(SENTENCES["ja"])
    assert japanese.language.note == ("not trained on Japanese; it trained on no language close to it (French, Italian, "
                                      "Russian, Polish) (no held-out figures in this model)")
    assert closest("pt", ["en", "fr", "it", "ru", "pl"]) == ["fr", "it"]
    assert closest("de", ["en", "fr"]) == ["en"] and closest("ko", ["en", "fr", "ru"]) == ["fr", "ru"]


def test_a_language_outside_the_encoder_gets_an_error_not_spans(readers: Readers) -> None:
    with pytest.raises(UnsupportedLanguage, match=r"article\.txt: written in Zulu"):
        readers.analyze(SENTENCES["zu"], name="article.txt")


def test_texts_without_a_sure_language(readers: Readers) -> None:
    numbers = readers.analyze("12 345 678 !!!")
    assert numbers.model.name == "propscope-minilm" and numbers.language.code == ""
    assert "no language can be told" in numbers.language.note
    short = readers.analyze("Stop the steal!")
    assert short.model.name == "propscope-minilm" and "too short to tell its language" in short.language.note
    with pytest.raises(EmptyText):
        readers.analyze("  \n ")


def test_a_mixed_text_is_noted_and_read_by_the_multilingual_model(readers: Readers) -> None:
    mixed = PROPAGANDA.split("\n\n")[1] + "\n" + SENTENCES["ru"] * 3
    shares = detect(mixed).shares
    assert set(shares) == {"en", "ru"}
    analysis = readers.analyze(mixed)
    assert analysis.model.name == "propscope-multilingual" and "mixed languages: " in analysis.language.note


def test_the_language_given_overrides_the_detector(readers: Readers) -> None:
    forced = readers.analyze(SENTENCES["ru"], language="EN")
    assert forced.model.name == "propscope-minilm"
    assert (forced.language.code, forced.language.detected) == ("en", False)
    with pytest.raises(InputError, match="--language 'xx'"):
        readers.analyze(SENTENCES["ru"], language="xx")


def test_cli_shows_the_language_and_refuses_an_unreadable_one(
    tmp_path: Path, tiny_multilingual_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROPSCOPE_MULTILINGUAL_MODEL", str(tiny_multilingual_model))
    (tmp_path / "ru.txt").write_text(SENTENCES["ru"], encoding="utf-8")
    (tmp_path / "zu.txt").write_text(SENTENCES["zu"], encoding="utf-8")
    model = ["--model", str(shipped_model_dir())]  # a Readers of its own, which reads the variable
    shown = CliRunner().invoke(cli, ["analyze", str(tmp_path / "ru.txt"), *model])
    assert shown.exit_code == 0, shown.output
    assert "Language: Russian (detected), read by propscope-multilingual" in shown.output
    as_json = CliRunner().invoke(cli, ["analyze", str(tmp_path / "ru.txt"), "--format", "json", "--language", "pl", *model])
    assert json.loads(as_json.output)["language"] == {"code": "pl", "name": "Polish", "detected": False, "note": None}
    for fmt, shown_as in (("html", 'lang="ru"'), ("markdown", "Language: Russian (detected)")):
        report = CliRunner().invoke(cli, ["analyze", str(tmp_path / "ru.txt"), "--format", fmt, *model])
        assert shown_as in report.output and "read by propscope-multilingual" in report.output
    (tmp_path / "bg.txt").write_text(SENTENCES["bg"], encoding="utf-8")
    noted = CliRunner().invoke(cli, ["analyze", str(tmp_path / "bg.txt"), *model])
    assert "Note: not trained on Bulgarian" in noted.output
    refused = CliRunner().invoke(cli, ["analyze", str(tmp_path / "zu.txt"), *model])
    assert refused.exit_code == 1 and "zu.txt: written in Zulu" in refused.output
    assert "Traceback" not in refused.output


def test_batch_records_each_language_and_skips_an_unreadable_one(tmp_path: Path, readers: Readers) -> None:
    records = [ingest.Record(code, article=ingest.Article(SENTENCES[code] if code != "en" else PROPAGANDA))
               for code in ("en", "ru", "zu")]
    with Library(tmp_path / "library.db") as library:
        summary = run_batch(records, tmp_path / "out.jsonl", readers=readers, library=library)
        rows = {row["id"]: row for row in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
        assert (summary.done, summary.errors) == (3, 1)
        assert (rows["en"]["language"], rows["en"]["model"]) == ("en", "propscope-minilm")
        assert (rows["ru"]["language"], rows["ru"]["model"]) == ("ru", "propscope-multilingual")
        assert "written in Zulu" in rows["zu"]["error"] and rows["zu"]["language"] is None
        assert [row["language"] for row in library.rows(language="ru")] == ["ru"]
        assert {row["language"] for row in library.languages()} == {"en", "ru"}


def test_api_and_pages_show_and_filter_by_language(tmp_path: Path, tiny_multilingual_model: Path) -> None:
    server = LiveServer(Settings(db=tmp_path / "library.db", multilingual_dir=tiny_multilingual_model))
    try:
        with httpx.Client(base_url=server.url) as client:
            russian = client.post("/api/v1/analyze", json={"text": SENTENCES["ru"]}).json()
            assert russian["language"]["code"] == "ru" and russian["model"]["name"] == "propscope-multilingual"
            english = client.post("/api/v1/analyze", json={"text": PROPAGANDA}).json()
            assert english["language"]["code"] == "en"
            forced = client.post("/api/v1/analyze", json={"text": SENTENCES["bg"], "language": "ru"}).json()
            assert forced["language"] == {"code": "ru", "name": "Russian", "detected": False, "note": None}
            listed = client.get("/api/v1/analyses", params={"language": "ru"}).json()
            assert [row["id"] for row in listed] == [forced["id"], russian["id"]]
            refused = client.post("/api/v1/analyze", json={"text": SENTENCES["zu"]})
            assert refused.status_code == 422 and "Zulu" in refused.json()["detail"]
            page = client.get(f"/a/{russian['id']}").text
            assert "Language: Russian (detected), read by propscope-multilingual" in page and 'lang="ru"' in page
            history = client.get("/history", params={"language": "en"}).text
            assert f"/a/{english['id']}" in history and f"/a/{russian['id']}" not in history
            assert '<option value="ru"' in history
    finally:
        server.stop()


def test_a_corpus_run_routes_by_language_and_the_import_keeps_it(
    tmp_path: Path, tiny_multilingual_model: Path, monkeypatch: pytest.MonkeyPatch, library_path: Path
) -> None:
    import pyarrow.parquet as pq

    from propscope import shards

    monkeypatch.setenv("PROPSCOPE_MULTILINGUAL_MODEL", str(tiny_multilingual_model))
    rows = [{"id": "en", "text": PROPAGANDA}, {"id": "ru", "text": SENTENCES["ru"]}, {"id": "zu", "text": SENTENCES["zu"]}]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mixed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    summary = shards.run([tmp_path / "in"], tmp_path / "out")
    articles = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "articles").to_pylist()}
    assert (summary.done, summary.errors) == (3, 1)
    assert (articles["en"]["language"], articles["en"]["model"]) == ("en", "propscope-minilm")
    assert (articles["ru"]["language"], articles["ru"]["model"]) == ("ru", "propscope-multilingual")
    assert "written in Zulu" in articles["zu"]["error"]
    assert CliRunner().invoke(cli, ["library", "import", str(tmp_path / "out")]).exit_code == 0
    with Library(library_path) as library:
        assert sorted(row["language"] for row in library.rows()) == ["en", "ru"]
