"""Three invented news pages and a loopback HTTP server that serves them (and some bad URLs)."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta name="author" content="{author}">
<meta property="og:site_name" content="{site}">
<meta property="article:published_time" content="{date}">
</head><body>
<header><nav><a href="/">Home</a> | <a href="/politics">Politics</a> | <a href="/sport">Sport</a></nav></header>
<main><article>
<h1>{title}</h1>
<p class="byline">By {author}, {date}</p>
{paragraphs}
</article>
<aside><h2>Most read</h2><ul><li><a href="/a">Weather warning for the weekend</a></li><li><a href="/b">Local team wins cup</a></li></ul></aside>
</main>
<footer><p>Copyright {site}. All rights reserved. <a href="/privacy">Privacy</a></p></footer>
</body></html>
"""

ARTICLES = {
    "/politics/harbour-betrayal.html": dict(
        site="The Millbrook Patriot", author="Sam Harlow", date="2024-03-04",
        title="Bureaucrats betray our harbour",
        paragraphs=[
            "The so-called planning committee has done it again. Behind closed doors, a gang of unelected bureaucrats voted to hand our beloved harbour to a faceless foreign consortium.",
            "Every true patriot knows what this means. Our fishermen, the backbone of this proud town, will be thrown out like garbage.",
            "Either we stop this sell-out now, or we lose our town forever. Millbrook first!",
        ]),
    "/news/rail-ridership.html": dict(
        site="Regional Wire", author="Ana Ruiz", date="2024-05-10",
        title="Rail operator reports quarterly ridership",
        paragraphs=[
            "The regional rail operator said on Monday that 4.2 million passengers used its trains in the third quarter, up 3 percent from a year earlier.",
            "The company attributed the increase to two new weekday services between the airport and the city centre, which began in June.",
            "Average punctuality was 91 percent, compared with 89 percent a year earlier, according to figures on the operator's website.",
        ]),
    "/opinion/energy-crisis.html": dict(
        site="Daily Clarion", author="Lee Morgan", date="2024-05-21",
        title="The energy scandal they want you to forget",
        paragraphs=[
            "This disastrous energy policy is the greatest scandal of our lifetime, and the arrogant elites who wrote it know it.",
            "Can anyone still believe a single word from the minister after last winter's blackouts?",
            "If nothing changes, families will freeze in their homes while the fat cats laugh all the way to the bank.",
        ]),
}


def page(path: str) -> str:
    spec = dict(ARTICLES[path])
    spec["paragraphs"] = "\n".join(f"<p>{p}</p>" for p in spec["paragraphs"])
    return PAGE.format(**spec)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hosts_seen.append(self.headers.get("Host", ""))  # type: ignore[attr-defined]
        if self.path in ARTICLES:
            self._send(200, "text/html; charset=utf-8", page(self.path).encode())
        elif self.path == "/binary.bin":
            self._send(200, "application/octet-stream", bytes(range(256)) * 8)
        elif self.path == "/empty.html":
            self._send(200, "text/html", b"<html><head><title>Loading</title></head><body><script>app()</script></body></html>")
        elif self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", urllib.parse.unquote(self.path.split("=", 1)[1]))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow.html":
            time.sleep(3)
            self._send(200, "text/html", b"<html></html>")
        else:
            self._send(404, "text/html", b"<h1>Not found</h1>")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out on purpose
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(tls: ssl.SSLContext | None = None, hosts_seen: list[str] | None = None) -> Iterator[str]:
    """Serve the pages on 127.0.0.1 (over TLS with a server context) and yield the base URL;
    the Host header of every request is appended to ``hosts_seen``."""
    with serving(_Handler, tls, hosts_seen=[] if hosts_seen is None else hosts_seen) as base:
        yield base


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None,
            **attributes: object) -> Iterator[str]:
    """Run ``handler`` on 127.0.0.1 in a thread and yield the base URL; ``attributes`` are set on
    the server for the handler to read."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
