"""Shared fixtures: hand-made texts and corpora, the shipped model, and a tiny encoder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from propscope.language import Readers
from propscope.model import Analyzer, shipped_model_dir

from . import newspages

if TYPE_CHECKING:
    from propscope.server import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_PTC = REPO.parent / "shared" / "data" / "ptc-train"

PROPAGANDA = (REPO / "examples" / "article.txt").read_text(encoding="utf-8")

CALM = """Regional rail operator reports quarterly ridership

The regional rail operator said on Monday that 4.2 million passengers used its trains in the third quarter, up 3 percent from the same period last year.

The company attributed the increase to two new weekday services between the airport and the city centre, which began in June.

Average punctuality was 91 percent, compared with 89 percent a year earlier, according to figures published on the operator's website.

The operator plans to publish its annual report in March. A spokesperson said ticket prices would be reviewed in the autumn, as in previous years.
"""

# An invented war report full of open name calling and loaded language, and the phrases in it
# that any reader would mark.
WAR_REPORT = """Army repels attack as terrorist thugs shell village

Terrorist thugs shelled the village of Karvan again on Monday, killing two farmers.

The ministry called the attack a cowardly act by bloodthirsty mercenaries and their masters in Washington and Brussels.

Residents describe a deplorable situation, with criminal gangs looting homes and terrorising families.

These barbarians have no respect for human life, a commander told reporters.

The puppet regime keeps sending its henchmen across the border.

Our heroic soldiers drove the savages back into the mountains.

Western propaganda outlets, as usual, ignored the massacre.

The so-called rebels are nothing but a band of cutthroats.

Aid convoys reached the town on Tuesday.
"""
WAR_REPORT_OBVIOUS = (
    "Terrorist thugs", "cowardly act", "bloodthirsty mercenaries", "their masters in Washington and Brussels",
    "deplorable situation", "criminal gangs", "terrorising", "barbarians", "puppet regime", "henchmen",
    "heroic soldiers", "savages", "propaganda outlets", "massacre", "so-called rebels", "band of cutthroats",
)

# Invented articles in the PTC layout: (text, [(technique, fragment), ...]).
TINY_ARTICLES = {
    "1": ("Title one\n\nThe corrupt elite betrayed our glorious nation again.\nThe vote is on Tuesday.\n",
          [("Loaded_Language", "corrupt elite"), ("Flag-Waving", "our glorious nation")]),
    "2": ("Title two\n\nThe council met on Monday.\nThese traitors will destroy everything we love.\n",
          [("Name_Calling,Labeling", "traitors"), ("Appeal_to_fear-prejudice", "will destroy everything we love")]),
    "3": ("Title three\n\nCan we trust anything they say?\nThe budget was published.\nStop the steal!\n",
          [("Doubt", "Can we trust anything they say?"), ("Slogans", "Stop the steal!")]),
    "4": ("Title four\n\nThe report was released on Friday. Officials said it was on time.\n", []),
}


def write_tiny_corpus(folder: Path) -> Path:
    """A PTC-shaped folder (articles/, labels-flc.tsv) built from TINY_ARTICLES."""
    (folder / "articles").mkdir(parents=True)
    rows = []
    for article_id, (text, spans) in TINY_ARTICLES.items():
        (folder / "articles" / f"article{article_id}.txt").write_text(text, encoding="utf-8")
        for technique, fragment in spans:
            start = text.index(fragment)
            rows.append(f"{article_id}\t{technique}\t{start}\t{start + len(fragment)}\n")
    (folder / "labels-flc.tsv").write_text("".join(rows), encoding="utf-8")
    return folder


# Invented extra sources: a later-scheme news folder, where one span has no PTC label, and short
# texts in JSONL, where a null technique marks such a span.
TINY_NEWS = {
    "n1": ("Headline\n\nThe reckless mayor ruined the harbour. Critics call him a liar.\n",
           [("Loaded_Language", "reckless"), (None, "Critics call him a liar")]),
    "n2": ("Headline two\n\nFerries run every hour from the harbour.\n", []),
}
TINY_MEMES = [
    {"id": "m1", "text": "SHAMELESS CROOKS EVERYWHERE ", "spans": [
        {"start": 0, "end": 10, "technique": "Loaded_Language"},
        {"start": 10, "end": 28, "technique": None}]},
    {"id": "m2", "text": "Vote today.", "spans": []},
]


def write_tiny_extra(folder: Path) -> tuple[Path, Path]:
    """A news folder in the PTC layout with a later-scheme label file, and a memes JSONL file."""
    import json

    news = folder / "news"
    (news / "articles").mkdir(parents=True)
    mapped, every = [], []
    for article_id, (text, spans) in TINY_NEWS.items():
        (news / "articles" / f"article{article_id}.txt").write_text(text, encoding="utf-8")
        for technique, fragment in spans:
            start = text.index(fragment)
            row = f"{article_id}\t{technique or 'Questioning_the_Reputation'}\t{start}\t{start + len(fragment)}\n"
            every.append(row)
            if technique:
                mapped.append(row)
    (news / "labels-flc.tsv").write_text("".join(mapped), encoding="utf-8")
    (news / "labels-2023-scheme.tsv").write_text("".join(every), encoding="utf-8")
    memes = folder / "memes.jsonl"
    memes.write_text("".join(json.dumps(m) + "\n" for m in TINY_MEMES), encoding="utf-8")
    return news, memes


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return write_tiny_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    """The shipped model, loaded once per test session."""
    return Analyzer()


@pytest.fixture(scope="session")
def readers(analyzer: Analyzer) -> Readers:
    """The shipped models by language, sharing the session's English analyzer."""
    return Readers(loaded=[analyzer])


@pytest.fixture(scope="session")
def shared_ptc() -> Path:
    """The PTC training split beside the repository. Without it, the tests that use it are
    skipped with the reason, or fail when PROPSCOPE_REQUIRE_CORPUS=1 (as in CI)."""
    if not (SHARED_PTC / "labels-flc.tsv").is_file():
        message = f"this test needs the PTC training split in {SHARED_PTC}, which is missing"
        if os.environ.get("PROPSCOPE_REQUIRE_CORPUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_PTC


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer BERT with the MiniLM vocabulary, saved like a real one."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    shutil.copyfile(shipped_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    return folder


# Invented articles in four languages, in multilingual-2023's layout (a folder per language).
TINY_MULTILINGUAL = {
    "fr": {"f1": ("Ces traîtres ont menti au peuple français encore une fois, et la presse se tait.\n",
                  [("Name_Calling,Labeling", "traîtres")]),
           "f2": ("Le conseil municipal se réunit mardi pour voter le budget de la ville.\n", [])},
    "ru": {"r1": ("Эти предатели снова солгали народу, а продажные журналисты молчат.\n",
                  [("Name_Calling,Labeling", "предатели"), ("Loaded_Language", "продажные журналисты")])},
    "pl": {"p1": ("Ci zdrajcy znowu okłamali naród, a skorumpowani dziennikarze milczą.\n",
                  [("Name_Calling,Labeling", "zdrajcy")])},
}
SENTENCES = {
    "fr": TINY_MULTILINGUAL["fr"]["f1"][0],
    "ru": TINY_MULTILINGUAL["ru"]["r1"][0],
    "bg": "Тези предатели отново излъгаха народа, а продажните журналисти мълчат.\n",
    "ja": "これらの裏切り者は再び国民に嘘をついた。\n",
    "zu": "Laba bakhapheli baphinde baqamba amanga abantu, futhi izintatheli zithule.\n",
}


def write_tiny_multilingual(folder: Path) -> Path:
    rows = []
    for language, articles in TINY_MULTILINGUAL.items():
        (folder / language).mkdir(parents=True)
        for article_id, (text, spans) in articles.items():
            (folder / language / f"article{article_id}.txt").write_text(text, encoding="utf-8")
            for technique, fragment in spans:
                start = text.index(fragment)
                rows.append(f"{article_id}\t{technique}\t{start}\t{start + len(fragment)}\n")
    (folder / "labels-flc.tsv").write_text("".join(rows), encoding="utf-8")
    return folder


def tiny_multilingual_recipe(encoder: Path) -> list[str]:
    """The multilingual recipe's options, shrunk for a tiny encoder and corpus."""
    args = ["--config", str(REPO / "configs" / "multilingual.toml")]
    for override in (f'model.encoder="{encoder}"', "model.window_tokens=32", "model.inference_stride=24",
                     "model.span_hidden=16", "train.epochs=2", "train.batch_size=4", "data.extra=[]",
                     "data.extra_weights=[]"):
        args += ["--set", override]
    return args


@pytest.fixture(scope="session")
def tiny_multilingual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny propscope-multilingual: the converter's encoder from a tiny Q4 file, trained for
    two epochs on TINY_MULTILINGUAL with the multilingual recipe."""
    from click.testing import CliRunner

    from propscope import q4_encoder
    from propscope.cli import cli

    from .q4_files import write_tiny_q4

    root = tmp_path_factory.mktemp("tiny-multilingual")
    corpus = write_tiny_multilingual(root / "corpus")
    texts = {language: [text for text, _ in articles.values()] for language, articles in TINY_MULTILINGUAL.items()}
    q4_encoder.convert(write_tiny_q4(root / "tiny.bin").path, root / "encoder", texts, size=40)
    args = ["train", "--data", str(corpus), "--out", str(root / "model"), *tiny_multilingual_recipe(root / "encoder"),
            "--set", "data.validation_fraction=0.25"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return root / "model"


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer MPNet with its own word-piece vocabulary, learnt from the
    invented articles, that wraps texts in <s> ... </s>: a teacher that shares neither token ids
    nor token boundaries with the student, as all-mpnet-base-v2 does not."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import MPNetConfig, MPNetModel

    folder = tmp_path_factory.mktemp("tiny-teacher")
    tokenizer = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    texts = [text for text, _ in [*TINY_ARTICLES.values(), *TINY_NEWS.values()]]
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer.save(str(folder / "tokenizer.json"))
    config = MPNetConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=24, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=48, max_position_embeddings=514)
    MPNetModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def library_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own library file, never the user's."""
    path = tmp_path / "library.db"
    monkeypatch.setenv("PROPSCOPE_DB", str(path))
    return path


@pytest.fixture(scope="session")
def news_server() -> Iterator[str]:
    """Base URL of a loopback server with three news pages and some broken URLs."""
    with newspages.serve() as base:
        yield base


class LiveServer:
    """uvicorn serving the app on 127.0.0.1 in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import socket
        import threading

        import uvicorn

        from propscope.server import create_app

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        import time

        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start within 20 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    from propscope.server import Settings

    server = LiveServer(Settings(db=tmp_path / "server.db"))
    yield server
    server.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser download does not work here); one per
    module, since the extension tests start a Playwright of their own."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()
