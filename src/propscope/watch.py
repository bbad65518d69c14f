"""`propscope watch`: follow outlets' RSS and Atom feeds, analyse each new entry once, and
raise alerts.

Everything the watcher knows lives in the library (``feeds``, ``entries``, ``alerts``), and
each step is its own transaction, so it can be killed at any moment and started again:

1. A feed is polled politely: one request at a time, a conditional GET with the ETag and
   Last-Modified it last sent, its own interval, and a back-off after errors that honours
   ``Retry-After``. Its new entries are recorded, by URL, in the same transaction as the
   feed's new validators, so an entry is never lost between a poll and a crash.
2. Each recorded entry's page is fetched and extracted as ``analyze`` does it, analysed and
   stored, and only then marked done. An entry whose text another entry already had is
   marked a duplicate; one whose text the library already holds (a crash after the store and
   before the mark) takes the stored analysis, so nothing is analysed twice. A page that fails
   is tried again on later passes, up to ``max_tries``.
3. Alert rules are checked on each new analysis and on each source's weekly mean
   (``alerts.py``).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from propscope import alerts
from propscope.errors import FetchError, InputError, MissingExtra
from propscope.ingest import FETCH_TIMEOUT_S, MAX_DOWNLOAD_BYTES, USER_AGENT, Article, fetch
from propscope.language import Readers
from propscope.library import analyzed
from propscope.store import Library, now, text_sha256

DEFAULT_INTERVAL_S = 15 * 60.0
MAX_BACKOFF_S = 6 * 3600.0
DEFAULT_MAX_TRIES = 5
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class FeedSource:
    """An outlet's feed, as the watch file names it."""

    name: str
    feed: str
    tags: tuple[str, ...] = ()
    interval: float = DEFAULT_INTERVAL_S


@dataclass(frozen=True)
class WatchFile:
    """Sources, alert rules and the mail server of one watch file."""

    path: Path
    sources: tuple[FeedSource, ...]
    rules: tuple[alerts.Rule, ...] = ()
    smtp: alerts.Smtp | None = None
    max_tries: int = DEFAULT_MAX_TRIES


# ------------------------------------------------------------------ the watch file


def load(path: Path) -> WatchFile:
    """Read a watch file (TOML, see docs/watch.md) or an OPML export of feed subscriptions."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the watch file ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".opml":
        return WatchFile(path, tuple(_opml_sources(data, path, DEFAULT_INTERVAL_S)))
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML watch file ({exc})") from None
    known = {"interval", "max_tries", "opml", "source", "alert", "smtp"}
    if unknown := sorted(set(table) - known):
        raise InputError(f"{path}: unknown key {', '.join(unknown)} (a watch file has {', '.join(sorted(known))})")
    interval = _duration(table.get("interval", DEFAULT_INTERVAL_S), f"{path}: interval")
    sources = [_source(entry, f"{path}: source {i}", interval) for i, entry in enumerate(table.get("source", []), 1)]
    for opml in [table["opml"]] if isinstance(table.get("opml"), str) else table.get("opml", []):
        opml_path = path.parent / opml
        try:
            sources += _opml_sources(opml_path.read_bytes(), opml_path, interval)
        except OSError as exc:
            raise InputError(f"{opml_path}: cannot read the OPML file ({exc.strerror or exc})") from None
    if not sources:
        raise InputError(f"{path}: no sources; add a [[source]] with a name and a feed URL, or an opml file")
    names = [source.name for source in sources]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise InputError(f"{path}: source names must differ; {', '.join(duplicates)} is given twice")
    rules = tuple(alerts.parse_rule(rule, f"{path}: alert {i}", path.parent)
                  for i, rule in enumerate(table.get("alert", []), 1))
    if len({rule.name for rule in rules}) < len(rules):
        raise InputError(f"{path}: alert names must differ")
    return WatchFile(path, tuple(sources), rules, _smtp(table.get("smtp"), path),
                     int(table.get("max_tries", DEFAULT_MAX_TRIES)))


def _source(entry: dict[str, Any], where: str, interval: float) -> FeedSource:
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("feed"):
        raise InputError(f"{where}: a source needs a name and a feed URL")
    if unknown := sorted(set(entry) - {"name", "feed", "tags", "interval"}):
        raise InputError(f"{where}: unknown key {', '.join(unknown)} (a source has name, feed, tags, interval)")
    feed = str(entry["feed"])
    if urllib.parse.urlsplit(feed).scheme not in ("http", "https"):
        raise InputError(f"{where}: feed {feed} is not an http(s) URL")
    tags = entry.get("tags", [])
    return FeedSource(str(entry["name"]), feed, (tags,) if isinstance(tags, str) else tuple(map(str, tags)),
                      _duration(entry.get("interval", interval), f"{where}: interval"))


def _duration(value: Any, where: str) -> float:
    """Seconds from 90, "90s", "15m", "2h" or "1d"."""
    match = _DURATION.match(str(value))
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"{where} {value!r}: give seconds, or a number with s, m, h or d (\"15m\")")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _smtp(table: dict[str, Any] | None, path: Path) -> alerts.Smtp | None:
    if table is None:
        return None
    if not table.get("host"):
        raise InputError(f"{path}: [smtp] needs a host")
    return alerts.Smtp(str(table["host"]), int(table.get("port", 25)), str(table.get("from", "propscope@localhost")),
                       bool(table.get("starttls", False)), table.get("username"), table.get("password_env"))


def _opml_sources(data: bytes, path: Path, interval: float) -> list[FeedSource]:
    """Each outline with an xmlUrl; its folders' titles and its category attribute become tags."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise InputError(f"{path}: not a valid OPML file ({exc})") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise InputError(f"{path}: not an OPML file (no <opml><body>)")
    sources: list[FeedSource] = []

    def walk(outline: ElementTree.Element, folders: tuple[str, ...]) -> None:
        for child in outline.findall("outline"):
            title = child.get("title") or child.get("text") or ""
            if feed := child.get("xmlUrl"):
                categories = [c.strip(" /") for c in child.get("category", "").split(",") if c.strip(" /")]
                sources.append(FeedSource(title or feed, feed, (*folders, *categories), interval))
            else:
                walk(child, (*folders, title) if title else folders)

    walk(body, ())
    return sources


# ------------------------------------------------------------------ fetching feeds


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str | None
    published: str | None  # ISO 8601 in UTC


@dataclass
class PassLine:
    """What one pass did for one source: the line `watch` prints."""

    source: str
    new: int = 0
    analysed: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        notes = "".join(f"; {note}" for note in self.notes)
        return f"{self.source}: {self.new} new, {self.analysed} analysed, {self.errors} errors{notes}"


class FeedUnavailable(Exception):
    """A feed answered with an error; ``retry_after`` is the server's wish in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _feedparser() -> Any:
    try:
        import feedparser
    except ImportError:
        raise MissingExtra("propscope watch needs feedparser: pip install 'propscope[watch]'") from None
    return feedparser


def get_feed(source: FeedSource, etag: str | None, last_modified: str | None) -> tuple[bytes, dict[str, str]] | None:
    """The feed's body and its validators, or None when it has not changed (304)."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(source.feed, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_DOWNLOAD_BYTES + 1)
            if len(body) > MAX_DOWNLOAD_BYTES:
                raise FeedUnavailable(f"the feed is larger than {MAX_DOWNLOAD_BYTES / 1e6:g} MB")
            validators = {key: value for key in ("ETag", "Last-Modified") if (value := response.headers.get(key))}
            return body, validators
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        raise FeedUnavailable(f"the server answered {exc.code} {exc.reason}",
                              _retry_after(exc.headers.get("Retry-After"))) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FeedUnavailable(f"cannot connect ({getattr(exc, 'reason', exc)})") from None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_feed(body: bytes, feed_url: str) -> list[FeedEntry]:
    """The entries of an RSS or Atom document; a document that is neither is a ``FeedUnavailable``."""
    parsed = _feedparser().parse(body)
    if parsed.bozo and not parsed.entries:
        raise FeedUnavailable(f"not a valid RSS or Atom feed ({parsed.get('bozo_exception', 'unreadable')})")
    entries = []
    for item in parsed.entries:
        link = item.get("link") or (item.get("id") if str(item.get("id", "")).startswith("http") else None)
        if not link:
            continue
        moment = item.get("published_parsed") or item.get("updated_parsed")
        published = datetime(*moment[:6]).replace(tzinfo=UTC).isoformat() if moment else None
        entries.append(FeedEntry(urllib.parse.urljoin(feed_url, link), item.get("title"), published))
    return entries


# ------------------------------------------------------------------ the watcher


class Watcher:
    """One watch file over one library: ``run_pass`` polls what is due and analyses what is new."""

    def __init__(self, watch_file: WatchFile, library: Library, readers: Readers, *,
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.time) -> None:
        _feedparser()
        self.file, self.library, self.readers, self.say, self.clock = watch_file, library, readers, say, clock
        with library.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO feeds (source, feed) VALUES (?, ?)",
                             [(source.name, source.feed) for source in watch_file.sources])
            # A feed whose URL changed in the watch file starts afresh.
            conn.executemany("UPDATE feeds SET feed = ?, etag = NULL, last_modified = NULL WHERE source = ? AND feed != ?",
                             [(source.feed, source.name, source.feed) for source in watch_file.sources])

    def run(self, *, once: bool = False) -> None:
        """Passes until stopped (Ctrl-C or SIGTERM), sleeping until something is due; one with ``once``."""
        while True:
            self.run_pass(force=once)
            if once:
                return
            time.sleep(max(1.0, min(self.next_due() - self.clock(), 60.0)))

    def next_due(self) -> float:
        row = self.library.conn.execute(
            "SELECT min(t) FROM (SELECT min(next_poll) AS t FROM feeds UNION ALL "
            "SELECT min(next_try) FROM entries WHERE status = 'new')").fetchone()
        return float(row[0] or 0.0)

    def run_pass(self, *, force: bool = False) -> list[PassLine]:
        """Poll each source that is due (every one not held back by errors, with ``force``), analyse
        its waiting entries, then raise and deliver alerts. Prints and returns a line per source."""
        lines = []
        for source in self.file.sources:
            line = PassLine(source.name)
            self._poll(source, line, force)
            self._analyse_waiting(source, line)
            self.say(f"{time.strftime('%H:%M:%S')} {line}")
            lines.append(line)
        if self.file.rules:
            alerts.raise_weekly(self.library, self.file.rules, [source.name for source in self.file.sources])
            alerts.deliver_pending(self.library, self.file.rules, self.file.smtp, self.say)
        return lines

    def _poll(self, source: FeedSource, line: PassLine, force: bool) -> None:
        state = self.library.conn.execute("SELECT * FROM feeds WHERE source = ?", (source.name,)).fetchone()
        moment = self.clock()
        if moment < state["next_poll"] and (not force or state["failures"]):
            wait = state["next_poll"] - moment
            line.notes.append(f"next poll in {wait:.0f} s" + (f" (after: {state['last_error']})" if state["failures"] else ""))
            return
        try:
            answer = get_feed(source, state["etag"], state["last_modified"])
            entries = parse_feed(answer[0], source.feed) if answer else []
        except FeedUnavailable as exc:
            failures = state["failures"] + 1
            backoff = min(source.interval * 2 ** (failures - 1), MAX_BACKOFF_S)
            delay = max(backoff, exc.retry_after or 0.0)
            with self.library.transaction() as conn:
                conn.execute("UPDATE feeds SET failures = ?, last_error = ?, next_poll = ? WHERE source = ?",
                             (failures, str(exc), moment + delay, source.name))
            line.errors += 1
            line.notes.append(f"feed {source.feed}: {exc}; next poll in {delay:.0f} s")
            return
        if answer is None:
            line.notes.append("not modified")
        validators = answer[1] if answer else {}
        with self.library.transaction() as conn:
            for entry in entries:
                line.new += conn.execute(
                    "INSERT OR IGNORE INTO entries (url, source, title, published, tags, seen_at) VALUES (?,?,?,?,?,?)",
                    (entry.url, source.name, entry.title, entry.published, json.dumps(source.tags), now()),
                ).rowcount
            conn.execute(
                "UPDATE feeds SET failures = 0, last_error = NULL, next_poll = ?, etag = coalesce(?, etag), "
                "last_modified = coalesce(?, last_modified) WHERE source = ?",
                (moment + source.interval, validators.get("ETag"), validators.get("Last-Modified"), source.name),
            )

    def _analyse_waiting(self, source: FeedSource, line: PassLine) -> None:
        waiting = self.library.conn.execute(
            "SELECT * FROM entries WHERE source = ? AND status = 'new' AND next_try <= ? ORDER BY seen_at, url",
            (source.name, self.clock())).fetchall()
        for entry in waiting:
            try:
                self._analyse(entry, source)
                line.analysed += 1
            except (FetchError, InputError) as exc:
                self._failed(entry, str(exc), line, source)

    def _analyse(self, entry: Any, source: FeedSource) -> None:
        page = fetch(entry["url"])
        article = Article(page.text, replace(page.source, name=source.name, url=entry["url"],
                                             title=entry["title"] or page.source.title,
                                             date=entry["published"] or page.source.date))
        digest = text_sha256(article.text)
        twin = self.library.conn.execute(
            "SELECT url, analysis_id FROM entries WHERE text_sha256 = ? AND status = 'done' AND url != ?",
            (digest, entry["url"])).fetchone()
        if twin:
            self._mark(entry["url"], "duplicate", digest, twin["analysis_id"], f"the same text as {twin['url']}")
            return
        analysis_id, analysis = analyzed(self.readers, article, self.library, name=entry["url"])
        self._mark(entry["url"], "done", digest, analysis_id)
        alerts.raise_for_analysis(self.library, self.file.rules, analysis, analysis_id)

    def _mark(self, url: str, status: str, digest: str, analysis_id: int | None, note: str | None = None) -> None:
        with self.library.transaction() as conn:
            conn.execute("UPDATE entries SET status = ?, text_sha256 = ?, analysis_id = ?, error = ?, tries = tries + 1 "
                         "WHERE url = ?", (status, digest, analysis_id, note, url))

    def _failed(self, entry: Any, error: str, line: PassLine, source: FeedSource) -> None:
        tries = entry["tries"] + 1
        given_up = tries >= self.file.max_tries
        with self.library.transaction() as conn:
            conn.execute("UPDATE entries SET tries = ?, error = ?, status = ?, next_try = ? WHERE url = ?",
                         (tries, error, "failed" if given_up else "new",
                          self.clock() + min(source.interval * 2 ** (tries - 1), MAX_BACKOFF_S), entry["url"]))
        line.errors += 1
        line.notes.append(f"{error} ({'given up after' if given_up else 'try'} {tries} of {self.file.max_tries})")

