"""The library: every analysis in one SQLite file, with named migrations.

The database runs in WAL mode with a busy timeout, and every write is one ``BEGIN IMMEDIATE``
transaction, so several processes can write at once without losing rows. An analysis is stored
whole (``Analysis.to_dict``) next to indexed columns for listing and statistics.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from propscope import techniques
from propscope.analysis import Analysis, Source
from propscope.errors import InputError, MissingExtra, storage_error

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
migration = MIGRATIONS.append
BUSY_TIMEOUT_MS = 30_000


def default_path() -> Path:
    """``PROPSCOPE_DB``, else ``library.db`` in the user's data directory."""
    if env := os.environ.get("PROPSCOPE_DB"):
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "propscope" / "library.db"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@migration
def m001_analyses(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE analyses (
            id INTEGER PRIMARY KEY,
            text_sha256 TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            model_version TEXT NOT NULL,
            source TEXT,
            url TEXT,
            title TEXT,
            published TEXT,
            score REAL NOT NULL,
            n_spans INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            analysis TEXT NOT NULL,
            UNIQUE (text_sha256, model_sha256)
        )"""
    )
    conn.execute(
        """CREATE TABLE spans (
            analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            technique TEXT NOT NULL,
            confidence REAL NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX spans_by_analysis ON spans (analysis_id)")
    conn.execute("CREATE INDEX analyses_by_source ON analyses (source)")
    conn.execute("CREATE INDEX analyses_by_published ON analyses (published)")


@migration
def m002_sensitivity(conn: sqlite3.Connection) -> None:
    """Analyses are kept per text, model and sensitivity setting (rows before it are balanced).

    SQLite cannot drop a UNIQUE constraint, so the table is rebuilt; dropping the old one would
    cascade to the spans, which are set aside and put back."""
    conn.execute(
        """CREATE TABLE analyses_v2 (
            id INTEGER PRIMARY KEY,
            text_sha256 TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            sensitivity TEXT NOT NULL DEFAULT 'balanced',
            model_version TEXT NOT NULL,
            source TEXT,
            url TEXT,
            title TEXT,
            published TEXT,
            score REAL NOT NULL,
            n_spans INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            analysis TEXT NOT NULL,
            UNIQUE (text_sha256, model_sha256, sensitivity)
        )"""
    )
    columns = "id, text_sha256, model_sha256, model_version, source, url, title, published, score, n_spans, " \
              "created_at, analysis"
    conn.execute(f"INSERT INTO analyses_v2 ({columns}) SELECT {columns} FROM analyses")
    conn.execute("CREATE TEMP TABLE spans_kept AS SELECT * FROM spans")
    conn.execute("DROP TABLE analyses")
    conn.execute("ALTER TABLE analyses_v2 RENAME TO analyses")
    conn.execute("DELETE FROM spans")
    conn.execute("INSERT INTO spans SELECT * FROM spans_kept")
    conn.execute("DROP TABLE spans_kept")
    conn.execute("CREATE INDEX analyses_by_source ON analyses (source)")
    conn.execute("CREATE INDEX analyses_by_published ON analyses (published)")


@migration
def m003_decoder(conn: sqlite3.Connection) -> None:
    """Analyses also record the decoder that made them (propscope's version and the model's
    decoding settings): the same model files decode differently after an upgrade or a retune.
    Rows before it record none, so they are analysed again when next asked for."""
    conn.execute("ALTER TABLE analyses ADD COLUMN decoder TEXT NOT NULL DEFAULT ''")


@migration
def m004_watch(conn: sqlite3.Connection) -> None:
    """What `propscope watch` remembers between passes and restarts: each feed's conditional-GET
    state and back-off, every entry seen (by URL, with its text hash once fetched), and every
    alert with its deliveries."""
    conn.execute(
        """CREATE TABLE feeds (
            source TEXT PRIMARY KEY,
            feed TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            next_poll REAL NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        )"""
    )
    conn.execute(
        """CREATE TABLE entries (
            url TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            title TEXT,
            published TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            seen_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            tries INTEGER NOT NULL DEFAULT 0,
            next_try REAL NOT NULL DEFAULT 0,
            error TEXT,
            text_sha256 TEXT,
            analysis_id INTEGER REFERENCES analyses(id) ON DELETE SET NULL
        )"""
    )
    conn.execute("CREATE INDEX entries_by_status ON entries (status, source)")
    conn.execute("CREATE INDEX entries_by_text ON entries (text_sha256)")
    conn.execute(
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            key TEXT NOT NULL,
            source TEXT,
            analysis_id INTEGER REFERENCES analyses(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            UNIQUE (rule, key)
        )"""
    )
    conn.execute(
        """CREATE TABLE alert_deliveries (
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            channel TEXT NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0,
            delivered_at TEXT,
            error TEXT,
            PRIMARY KEY (alert_id, channel)
        )"""
    )


@dataclass(frozen=True)
class Stored:
    """One row of the library."""

    id: int
    analysis: Analysis
    created_at: str


@migration
def m005_language(conn: sqlite3.Connection) -> None:
    """The language each text was read as, from its analysis, to filter by (null before routing)."""
    conn.execute("ALTER TABLE analyses ADD COLUMN language TEXT "
                 "GENERATED ALWAYS AS (json_extract(analysis, '$.language.code')) VIRTUAL")
    conn.execute("CREATE INDEX analyses_by_language ON analyses (language)")


class Library:
    """A propscope library in one SQLite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The server shares one connection between threads, always under its own lock.
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                        check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"{self.path}: cannot open the library ({exc})") from None
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")  # the first statement that reads the file
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise InputError(f"{self.path}: not a propscope library ({exc}); give another --db") from None
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a full disk, a read-only file or a lock held too long is a ``StorageError``."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise storage_error(self.path, exc) from None

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            done = {row["name"] for row in conn.execute("SELECT name FROM _migrations")}
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(conn)
                    conn.execute("INSERT INTO _migrations VALUES (?, ?)", (step.__name__, now()))

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM _migrations").fetchone()[0])

    def cached(self, text: str, model_sha256: str, sensitivity: str, decoder: str) -> Stored | None:
        """The stored analysis of exactly this text by this model at this sensitivity, made by
        the same decoder (``Analyzer.decoder``), if any."""
        row = self.conn.execute(
            "SELECT * FROM analyses WHERE text_sha256 = ? AND model_sha256 = ? AND sensitivity = ? AND decoder = ?",
            (text_sha256(text), model_sha256, sensitivity, decoder),
        ).fetchone()
        return _stored(row) if row else None

    def put(self, analysis: Analysis, decoder: str = "") -> int:
        """Store an analysis (once per text, model and sensitivity) and return its id. One stored
        by another decoder is replaced, under the same id."""
        key = (text_sha256(analysis.text), analysis.model.sha256, analysis.model.sensitivity)
        source = analysis.source or Source()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, decoder, language, json_extract(analysis, '$.language.detected') AS detected "
                "FROM analyses WHERE text_sha256 = ? AND model_sha256 = ? AND sensitivity = ?", key
            ).fetchone()
            reading = (analysis.language.code, int(analysis.language.detected)) if analysis.language else (None, None)
            if row and row["decoder"] == decoder and (row["language"], row["detected"]) == reading:
                return int(row["id"])
            values = (analysis.model.version, source.name, source.url, source.title, source.date, analysis.score,
                      len(analysis.spans), now(), json.dumps(analysis.to_dict(), ensure_ascii=False), decoder)
            if row:
                analysis_id = int(row["id"])
                conn.execute(
                    """UPDATE analyses SET model_version = ?, source = ?, url = ?, title = ?, published = ?, score = ?,
                       n_spans = ?, created_at = ?, analysis = ?, decoder = ? WHERE id = ?""",
                    (*values, analysis_id),
                )
                conn.execute("DELETE FROM spans WHERE analysis_id = ?", (analysis_id,))
            else:
                cursor = conn.execute(
                    """INSERT INTO analyses (text_sha256, model_sha256, sensitivity, model_version, source, url, title,
                       published, score, n_spans, created_at, analysis, decoder) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (*key, *values),
                )
                analysis_id = int(cursor.lastrowid or 0)
            conn.executemany(
                'INSERT INTO spans (analysis_id, start, "end", technique, confidence) VALUES (?,?,?,?,?)',
                [(analysis_id, s.start, s.end, s.technique, s.confidence) for s in analysis.spans],
            )
            return analysis_id

    def get(self, analysis_id: int) -> Stored:
        row = self.conn.execute("SELECT * FROM analyses WHERE id = ?", (analysis_id,)).fetchone()
        if row is None:
            raise InputError(f"{self.path}: no analysis with id {analysis_id}")
        return _stored(row)

    def rows(self, *, source: str | None = None, query: str | None = None, language: str | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """Summary rows, newest first, optionally filtered by source, language and a text search."""
        sql = "SELECT id, source, url, title, published, score, n_spans, model_version, language, created_at FROM analyses"
        where, args = [], []
        if source:
            where.append("source = ?")
            args.append(source)
        if language:
            where.append("language = ?")
            args.append(language.strip().lower())
        if query:
            where.append("(title LIKE ? OR source LIKE ? OR json_extract(analysis, '$.text') LIKE ?)")
            args += [f"%{query}%"] * 3
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._query(sql, args)

    def languages(self) -> list[dict[str, Any]]:
        """The languages of the stored analyses, with how many each, most first."""
        return self._query("SELECT language, json_extract(analysis, '$.language.name') AS name, count(*) AS analyses "
                           "FROM analyses WHERE language IS NOT NULL AND language != '' "
                           "GROUP BY language ORDER BY analyses DESC, language")

    def stats(self, *, top: int = 10) -> dict[str, list[dict[str, Any]]]:
        """Techniques per source and per month, and the sources with the highest mean score."""
        month = "substr(coalesce(a.published, a.created_at), 1, 7)"
        return {
            "by_source": self._query(
                "SELECT coalesce(a.source, '(unknown)') AS source, s.technique, count(*) AS spans "
                "FROM spans s JOIN analyses a ON a.id = s.analysis_id GROUP BY 1, 2 ORDER BY 1, 3 DESC"
            ),
            "by_month": self._query(
                f"SELECT {month} AS month, s.technique, count(*) AS spans "
                "FROM spans s JOIN analyses a ON a.id = s.analysis_id GROUP BY 1, 2 ORDER BY 1, 3 DESC"
            ),
            "top_sources": self._query(
                "SELECT coalesce(source, '(unknown)') AS source, count(*) AS articles, "
                "round(avg(score), 4) AS mean_score FROM analyses GROUP BY 1 ORDER BY 3 DESC, 2 DESC "
                f"LIMIT {int(top)}"
            ),
        }

    def top_scores(self, *, limit: int = 10) -> list[dict[str, Any]]:
        """The analyses with the highest article scores."""
        return self._query("SELECT id, source, title, score, n_spans FROM analyses ORDER BY score DESC, id LIMIT ?",
                           (limit,))

    def examples(self, technique: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Spans of one technique across the library, most confident first, with their text
        and the sentence they occur in."""
        rows = self._query(
            'SELECT s.analysis_id, s.start, s."end", s.confidence, a.source, a.title FROM spans s '
            "JOIN analyses a ON a.id = s.analysis_id WHERE s.technique = ? ORDER BY s.confidence DESC LIMIT ?",
            (technique, limit),
        )
        analyses: dict[int, Analysis] = {}
        for row in rows:
            if row["analysis_id"] not in analyses:
                analyses[row["analysis_id"]] = self.get(row["analysis_id"]).analysis
            analysis = analyses[row["analysis_id"]]
            sentence = next((s for s in analysis.sentences if s.start <= row["start"] < s.end), None)
            row["text"] = analysis.text[row["start"]:row["end"]]
            row["sentence"] = analysis.text[sentence.start:sentence.end] if sentence else row["text"]
        return rows

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute(sql, args)]

    def all(self) -> Iterator[Stored]:
        """Every stored analysis, oldest first."""
        for row in self.conn.execute("SELECT * FROM analyses ORDER BY id"):
            yield _stored(row)

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM analyses").fetchone()[0])


def _stored(row: sqlite3.Row) -> Stored:
    return Stored(row["id"], Analysis.from_dict(json.loads(row["analysis"])), row["created_at"])


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def summary_row(stored: Stored) -> dict[str, Any]:
    """A flat row for CSV and Parquet: metadata, score, and spans per technique."""
    analysis = stored.analysis
    source = analysis.source or Source()
    counts = analysis.technique_counts()
    return {
        "id": stored.id, "source": source.name, "url": source.url, "title": source.title, "date": source.date,
        "score": analysis.score, "n_spans": len(analysis.spans), "model_version": analysis.model.version,
        "language": analysis.language.code if analysis.language else None, "created_at": stored.created_at,
        **{label: counts.get(label, 0) for label in techniques.PTC_LABELS},
    }


def export(library: Library, output: Path) -> int:
    """Write every analysis to ``output`` (.jsonl, .csv or .parquet); returns how many."""
    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".parquet"):
        raise InputError(f"{output}: export to a .jsonl, .csv or .parquet file")
    count = 0
    if suffix == ".jsonl":
        with output.open("w", encoding="utf-8") as out:
            for stored in library.all():
                out.write(json.dumps({"id": stored.id, "created_at": stored.created_at,
                                      "analysis": stored.analysis.to_dict()}, ensure_ascii=False) + "\n")
                count += 1
    elif suffix == ".csv":
        with output.open("w", encoding="utf-8", newline="") as out:
            writer: csv.DictWriter[str] | None = None
            for stored in library.all():
                row = summary_row(stored)
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                count += 1
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingExtra("Parquet export needs pyarrow: pip install 'propscope[parquet]'") from None
        rows = [summary_row(stored) | {"spans": [s.to_dict() for s in stored.analysis.spans]}
                for stored in library.all()]
        pq.write_table(pa.Table.from_pylist(rows), output)
        count = len(rows)
    return count
