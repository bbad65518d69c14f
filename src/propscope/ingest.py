"""Getting articles in: text files, saved HTML, URLs, and JSONL/CSV/Parquet collections.

HTML is extracted with trafilatura (title, body, author, date, site). URLs are fetched with a
bounded time and size. Collections yield one ``Record`` per row, and a bad row becomes a
record with an ``error`` instead of stopping the run.
"""

from __future__ import annotations

import csv
import http.client
import ipaddress
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from propscope.analysis import Source
from propscope.errors import FetchError, InputError, MissingExtra
from propscope.text import decode, read_text, require_text

FETCH_TIMEOUT_S = 15.0
MAX_DOWNLOAD_BYTES = 5_000_000
HTML_SUFFIXES = (".html", ".htm")
COLLECTION_SUFFIXES = (".jsonl", ".csv", ".parquet")
CSV_FIELD_LIMIT = 2**31 - 1  # Python's default of 128 KiB per field is shorter than some articles
_UNDECODABLE = re.compile("[\udc80-\udcff]")
USER_AGENT = "propscope (+https://pypi.org/project/propscope)"


@dataclass(frozen=True)
class Article:
    """A text to analyse and what is known about where it came from."""

    text: str
    source: Source = field(default_factory=Source)


@dataclass(frozen=True)
class Record:
    """One item of a batch: an article, or the error that stopped it from being one."""

    id: str
    article: Article | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def from_html(html: str, *, name: str, url: str | None = None) -> Article:
    """Extract the article from an HTML page with trafilatura."""
    import trafilatura

    document: Any = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    text = getattr(document, "text", None)
    if not text or not text.strip():
        raise InputError(f"{name}: no article text found in this page")
    site = document.sitename or document.hostname
    return Article(text, Source(name=site, url=url, site=site, title=document.title,
                                author=document.author, date=document.date))


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address may be fetched from a server: not loopback, private, link-local
    (cloud metadata), multicast or reserved."""
    return address.is_global and not address.is_multicast


class _Refused(Exception):
    """A host that may not be fetched from; ``fetch`` names the URL."""


def _public_address(host: str, port: int) -> tuple[Any, ...]:
    """Resolve ``host`` once and return the address to connect to, refusing the host when any
    of its addresses is not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _Refused(f"cannot resolve {host} ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not is_public_address(address):
            raise _Refused(
                f"refused, {host} resolves to the non-public address {address}; "
                "only public addresses are fetched (a local install can allow private ones)"
            )
    return infos[0]


def _connect_public(host: str, port: int, timeout: float | None) -> socket.socket:
    """A socket connected to the very address that was checked, so that a DNS answer that
    changes between the check and the connection (DNS rebinding) cannot reach a private host."""
    family, kind, proto, _, address = _public_address(host, port)
    sock = socket.socket(family, kind, proto)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


class _PublicHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _connect_public(self.host, self.port, self.timeout)


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        # The Host header and the TLS name (SNI and certificate check) stay the URL's host.
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            _connect_public(self.host, self.port, self.timeout), server_hostname=self.host
        )


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


class _HTTPRedirectsOnly(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise _Refused(f"refused, it redirects to {newurl}, which is not an http(s) URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(
    url: str,
    *,
    timeout: float = FETCH_TIMEOUT_S,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    allow_private: bool = True,
) -> Article:
    """Download a page (bounded in total time and size) and extract its article.

    With ``allow_private=False`` (the server's default) the URL and every redirect must
    resolve to public addresses, and each connection goes to the address that was checked.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http and https URLs can be fetched")
    handlers: list[urllib.request.BaseHandler] = []
    if not allow_private:
        # No proxy either: it would connect to an address that was never checked.
        handlers = [urllib.request.ProxyHandler({}), _PublicHTTPHandler(), _PublicHTTPSHandler(), _HTTPRedirectsOnly()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*;q=0.5"})
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            content_type = response.headers.get_content_type()
            charset = response.headers.get_content_charset() or "utf-8"
            data = b""
            while chunk := response.read(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchError(f"{url}: the page is larger than {max_bytes / 1e6:g} MB")
                if time.monotonic() > deadline:
                    raise TimeoutError
    except _Refused as exc:
        raise FetchError(f"{url}: {exc}") from None
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise FetchError(f"{url}: timed out after {timeout:g} s") from None
        raise FetchError(f"{url}: cannot connect ({reason})") from None
    except TimeoutError:
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except ValueError as exc:
        raise FetchError(f"{url}: not a valid URL ({exc})") from None
    if content_type not in ("text/html", "application/xhtml+xml", "text/plain"):
        raise FetchError(f"{url}: not an HTML page (content type {content_type})")
    text = decode(data, name=url, encoding=charset if _known(charset) else "utf-8")
    if content_type == "text/plain":
        return Article(require_text(text, name=url), Source(url=url))
    return from_html(text, name=url, url=url)


def _known(charset: str) -> bool:
    import codecs

    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def read(source: str, *, encoding: str = "utf-8", stdin: bytes | None = None) -> Article:
    """One article from a URL, an HTML file, a text file, or ``-`` (stdin bytes)."""
    if source == "-":
        return Article(require_text(decode(stdin or b"", name="stdin", encoding=encoding), name="stdin"))
    if is_url(source):
        return fetch(source)
    text = read_text(Path(source), encoding=encoding)
    if Path(source).suffix.lower() in HTML_SUFFIXES:
        return from_html(text, name=source)
    return Article(require_text(text, name=source), Source(title=Path(source).name))


def records(path: Path, *, encoding: str = "utf-8") -> Iterator[Record]:
    """Every record of a batch input: a folder of .txt/.html files, or JSONL, CSV or Parquet."""
    if path.is_dir():
        yield from _folder_records(path, encoding)
    elif not path.exists():
        raise InputError(f"{path}: no such file or folder")
    elif path.suffix.lower() == ".jsonl":
        yield from _jsonl_records(path, encoding)
    elif path.suffix.lower() == ".csv":
        yield from _csv_records(path, encoding)
    elif path.suffix.lower() == ".parquet":
        yield from _parquet_records(path)
    else:
        raise InputError(f"{path}: expected a folder, or a .jsonl, .csv or .parquet file")


def count_records(path: Path) -> int | None:
    """How many records ``records(path)`` will yield, when that is cheap to know."""
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in (".txt", *HTML_SUFFIXES))
    if path.suffix.lower() in (".jsonl", ".csv") and path.is_file():
        with path.open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        return lines - (path.suffix.lower() == ".csv")
    return None


def _folder_records(folder: Path, encoding: str) -> Iterator[Record]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".txt", *HTML_SUFFIXES) and p.is_file())
    if not paths:
        raise InputError(f"{folder}: no .txt or .html files in this folder")
    for path in paths:
        try:
            yield Record(path.name, article=read(str(path), encoding=encoding))
        except InputError as exc:
            yield Record(path.name, error=str(exc))


def row_record(row: dict[str, Any], where: str, *, fetch_urls: bool = True) -> Record:
    """A record from one row of a collection; ``where`` names the row in errors."""
    row_id = row.get("id")
    if row_id in (None, ""):
        return Record(where, error=f"{where}: the row has no id")
    row_id = str(row_id)
    # Files are read with surrogateescape: undecodable bytes show up here as lone surrogates.
    if any(_UNDECODABLE.search(str(value)) for value in row.values() if isinstance(value, str)):
        return Record(row_id, error=f"{where} (id {row_id}): not valid text in the file's encoding; "
                                    "pass --encoding if it is not UTF-8")
    meta = {k: str(row[k]) for k in ("source", "date", "title") if row.get(k) not in (None, "")}
    text, url = row.get("text"), row.get("url")
    try:
        if text not in (None, ""):
            article = Article(require_text(str(text), name=f"{where} (id {row_id})"))
        elif url and fetch_urls:
            article = fetch(str(url))
        else:
            wanted = "text or url" if fetch_urls else "text"
            return Record(row_id, error=f"{where} (id {row_id}): the row has no {wanted}", meta=meta)
    except InputError as exc:
        return Record(row_id, error=str(exc), meta=meta)
    given = article.source
    source = replace(given, name=meta.get("source") or given.name, title=meta.get("title") or given.title,
                     date=meta.get("date") or given.date, url=given.url or (str(url) if url else None))
    return Record(row_id, article=Article(article.text, source), meta=meta)


def _jsonl_records(path: Path, encoding: str) -> Iterator[Record]:
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as lines:
        yield from jsonl_records(lines, path.name)


def jsonl_records(lines: Iterable[str], name: str, *, fetch_urls: bool = True) -> Iterator[Record]:
    """One record per non-blank JSON line; ``name`` (the file's) is used in errors."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(where, error=f"{where}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            yield Record(where, error=f"{where}: expected a JSON object")
            continue
        yield row_record(row, where, fetch_urls=fetch_urls)


def _csv_records(path: Path, encoding: str) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if "id" not in columns or not columns & {"text", "url"}:
            raise InputError(f"{path}: needs an id column and a text or url column, found {sorted(columns)}")
        first_line = reader.line_num + 1  # a quoted field may hold line breaks
        for row in reader:
            where = f"{path.name} line {first_line}"
            first_line = reader.line_num + 1
            if None in row or any(value is None for value in row.values()):
                yield Record(str(row.get("id") or where), error=f"{where}: expected {len(columns)} columns")
                continue
            yield row_record(row, where)


def _parquet_records(path: Path) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("Parquet needs pyarrow: pip install 'propscope[parquet]'") from None
    table = pq.ParquetFile(path)
    for batch in table.iter_batches(batch_size=1024):
        for offset, row in enumerate(batch.to_pylist()):
            yield row_record(row, f"{path.name} row {offset}")
