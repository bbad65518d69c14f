"""Reading articles: real HTML pages served on loopback, files, and collections."""

import csv
import json
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from propscope import ingest
from propscope.cli import cli
from propscope.errors import FetchError, InputError
from propscope.model import Analyzer

from . import newspages


@pytest.mark.parametrize("path", sorted(newspages.ARTICLES))
def test_fetch_extracts_body_and_metadata(news_server: str, path: str) -> None:
    spec = newspages.ARTICLES[path]
    article = ingest.fetch(news_server + path)
    assert all(paragraph in article.text for paragraph in spec["paragraphs"])
    assert "Most read" not in article.text and "Copyright" not in article.text
    assert article.source.title == spec["title"]
    assert article.source.site == spec["site"] and article.source.author == spec["author"]
    assert article.source.date == spec["date"] and article.source.url == news_server + path


def test_analyze_url_equals_analysing_the_extracted_text(news_server: str, analyzer: Analyzer) -> None:
    url = news_server + "/politics/harbour-betrayal.html"
    result = CliRunner().invoke(cli, ["analyze", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    direct = analyzer.analyze(ingest.fetch(url).text)
    assert [(s["start"], s["end"], s["technique"]) for s in data["spans"]] == [
        (s.start, s.end, s.technique) for s in direct.spans]
    assert data["source"]["url"] == url and data["source"]["site"] == "The Millbrook Patriot"


def test_saved_html_file_is_extracted(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(newspages.page("/news/rail-ridership.html"), encoding="utf-8")
    article = ingest.read(str(path))
    assert article.text.startswith("The regional rail operator") or "regional rail operator" in article.text
    assert article.source.title == "Rail operator reports quarterly ridership"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fetch_errors_are_clear(news_server: str) -> None:
    with pytest.raises(FetchError, match="answered 404"):
        ingest.fetch(news_server + "/missing.html")
    with pytest.raises(FetchError, match=r"not an HTML page \(content type application/octet-stream\)"):
        ingest.fetch(news_server + "/binary.bin")
    with pytest.raises(InputError, match="no article text found"):
        ingest.fetch(news_server + "/empty.html")
    with pytest.raises(FetchError, match=r"timed out after 0.5 s"):
        ingest.fetch(news_server + "/slow.html", timeout=0.5)
    with pytest.raises(FetchError, match="cannot connect"):
        ingest.fetch(f"http://127.0.0.1:{_closed_port()}/x.html")
    with pytest.raises(FetchError, match="larger than"):
        ingest.fetch(news_server + "/politics/harbour-betrayal.html", max_bytes=1000)


def test_cli_reports_fetch_errors(news_server: str) -> None:
    result = CliRunner().invoke(cli, ["analyze", news_server + "/missing.html"])
    assert result.exit_code == 1 and "Error:" in result.output and "404" in result.output
    assert "Traceback" not in result.output


def test_jsonl_broken_line_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "One text."}\n{"id": "b", "text": \n{"id": "c", "text": "Two."}\n')
    records = list(ingest.records(path))
    assert [r.id for r in records] == ["a", "in.jsonl line 2", "c"]
    assert records[1].error and "in.jsonl line 2: not valid JSON" in records[1].error


def test_csv_rows_with_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text,source\na,"Some text.",Wire\nb,"Short row"\nc,,Wire\n', encoding="utf-8")
    records = list(ingest.records(path))
    assert records[0].article is not None and records[0].article.source.name == "Wire"
    assert records[1].error == "in.csv line 3: expected 3 columns"
    assert records[2].error and "has no text or url" in records[2].error
    bad = tmp_path / "bad.csv"
    bad.write_text("name,body\nx,y\n")
    with pytest.raises(InputError, match="needs an id column and a text or url column"):
        list(ingest.records(bad))


def test_csv_keeps_long_articles_and_counts_lines_across_quoted_line_breaks(tmp_path: Path) -> None:
    long_text = "A long article sentence about the harbour vote. " * 4000  # 196,000 characters
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "text"], ["long", long_text], ["two", "First line.\nSecond line."],
                                      ["short"]])
    records = list(ingest.records(path))
    assert records[0].article is not None and records[0].article.text == long_text
    assert records[1].article is not None and records[1].article.text == "First line.\nSecond line."
    assert records[2].error == "in.csv line 5: expected 2 columns"


def test_undecodable_rows_become_errors(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes(b'{"id": "a", "text": "caf\xe9 opened"}\n{"id": "b", "text": "Fine."}\n')
    records = list(ingest.records(jsonl))
    assert records[0].error and "in.jsonl line 1 (id a): not valid text" in records[0].error
    assert records[1].article is not None
    csv_file = tmp_path / "in.csv"
    csv_file.write_bytes(b'id,text\na,"caf\xe9"\nb,"Fine."\n')
    records = list(ingest.records(csv_file))
    assert records[0].error and "--encoding" in records[0].error and records[1].article is not None
    assert next(ingest.records(csv_file, encoding="cp1252")).article.text == "caf\u00e9"


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets the loopback news server stand in for a public site (no public site can be reached
    here); every other private address is still refused."""
    real = ingest.is_public_address
    monkeypatch.setattr(ingest, "is_public_address", lambda address: address.is_loopback or real(address))


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/page.html"])
def test_a_redirect_to_a_private_address_is_refused(news_server: str, public_loopback: None, target: str) -> None:
    assert ingest.fetch(news_server + "/politics/harbour-betrayal.html", allow_private=False).text
    url = f"{news_server}/redirect?to={target}"
    with pytest.raises(FetchError, match=rf"^{re.escape(url)}: refused, .* resolves to the non-public address"):
        ingest.fetch(url, allow_private=False)


def test_dns_rebinding_cannot_reach_a_private_address(news_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that answers a public address to the check and loopback afterwards."""
    port = int(news_server.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = []

    def rebinding(host, *args, **kwargs):
        if host != "news.rebind.test":
            return real(host, *args, **kwargs)
        answers.append("93.184.216.34" if not answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(FetchError, match=r"news.rebind.test"):
        ingest.fetch(f"http://news.rebind.test:{port}/politics/harbour-betrayal.html", allow_private=False, timeout=1)
    assert answers == ["93.184.216.34"]  # the connection went to the address that was checked


def _certificates(folder: Path, host: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signs for ``host``, made with the openssl tool."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=propscope test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "site.key", "-out", "site.csr", "-subj", f"/CN={host}")
    (folder / "site.ext").write_text(f"subjectAltName=DNS:{host}\n", encoding="utf-8")
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "site.pem", "-days", "2", "-extfile", "site.ext")
    return folder / "ca.pem", folder / "site.pem", folder / "site.key"


@pytest.mark.parametrize("certified", ["news.tls.test", "other.example"])
def test_https_keeps_the_url_host_for_sni_certificate_and_host_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, public_loopback: None, certified: str
) -> None:
    """The connection goes to the checked address, but TLS and HTTP still speak to the URL's
    host: its name is sent as SNI and in the Host header, and the certificate must match it."""
    ca, certificate, key = _certificates(tmp_path, certified)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(certificate, key)
    names_sent: list[str | None] = []
    server_side.sni_callback = lambda _socket, name, _context: names_sent.append(name)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the client trusts the throwaway CA
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: real(
        "127.0.0.1" if host == "news.tls.test" else host, *args, **kwargs))
    hosts_seen: list[str] = []
    with newspages.serve(tls=server_side, hosts_seen=hosts_seen) as base:
        port = base.rsplit(":", 1)[1]
        url = f"https://news.tls.test:{port}/politics/harbour-betrayal.html"
        if certified == "news.tls.test":
            article = ingest.fetch(url, allow_private=False, timeout=5)
            assert "harbour" in article.text.lower()
            assert hosts_seen == [f"news.tls.test:{port}"]
        else:
            with pytest.raises(FetchError, match=r"^https://news\.tls\.test:\d+/politics/harbour-betrayal\.html: "):
                ingest.fetch(url, allow_private=False, timeout=5)
            assert hosts_seen == []
    assert names_sent and set(names_sent) == {"news.tls.test"}
