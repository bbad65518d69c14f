"""Loopback servers for `propscope watch`: outlets with RSS and Atom feeds and article pages, a
webhook receiver, and an SMTP server. Their feeds change while a test runs, and they count
what they answer."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from .newspages import PAGE, serving

LOADED = [
    "These corrupt traitors in the council will destroy everything our brave ancestors built!",
    "Only a fool would believe the lies of this disgraceful regime and its puppets.",
    "Wake up, people: they are coming for your freedom, your jobs and your families.",
    "Make our nation great again, and never surrender to the globalist elite!",
    "The thugs of the opposition are the worst criminals this country has ever seen.",
]
CALM = [
    "The council approved the budget on Tuesday after a short debate.",
    "Officials said the bridge would reopen in March, once repairs are complete.",
    "Rainfall this autumn was close to the long-term average, the weather service said.",
    "The company reported revenue of 4.1 million dollars for the quarter.",
    "The library will extend its opening hours from next month.",
]


@dataclass
class Story:
    slug: str
    title: str
    loaded: bool
    published: datetime
    paragraphs: int = 4
    site: str | None = None  # the outlet whose page this is, when another outlet syndicates it

    def html(self, site: str) -> str:
        site = self.site or site
        lines = LOADED if self.loaded else CALM
        paragraphs = "\n".join(f"<p>{' '.join(lines[(i + j) % len(lines)] for j in range(3))}</p>"
                               for i in range(self.paragraphs))
        return PAGE.format(title=self.title, site=site, author="Staff", date=self.published.date().isoformat(),
                           paragraphs=paragraphs)


@dataclass
class Outlet:
    """One site: a feed (RSS or Atom) of its stories, served with an ETag."""

    name: str
    atom: bool = False
    stories: list[Story] = field(default_factory=list)
    version: int = 0

    def add(self, story: Story) -> None:
        self.stories.append(story)
        self.version += 1

    @property
    def etag(self) -> str:
        return f'"{self.name}-{self.version}"'

    def feed(self, base: str) -> bytes:
        if self.atom:
            items = "".join(f"<entry><title>{s.title}</title><link href=\"{base}/{self.name}/{s.slug}.html\"/>"
                            f"<id>{base}/{self.name}/{s.slug}.html</id><updated>{s.published.isoformat()}</updated></entry>"
                            for s in self.stories)
            return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                    f"<title>{self.name}</title>{items}</feed>").encode()
        items = "".join(f"<item><title>{s.title}</title><link>{base}/{self.name}/{s.slug}.html</link>"
                        f"<pubDate>{format_datetime(s.published)}</pubDate></item>" for s in self.stories)
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{self.name}</title>{items}'
                f"</channel></rss>").encode()


class FeedSite:
    """The state behind the feed server: outlets, special feeds, and counters."""

    def __init__(self) -> None:
        self.outlets: dict[str, Outlet] = {}
        self.full_responses: Counter[str] = Counter()  # 200 answers per path
        self.requests: Counter[str] = Counter()
        self.served_at: dict[str, float] = {}
        self.rate_limited: dict[str, int] = {}  # path: how many more 429s to answer
        self.retry_after = "120"
        self.lock = threading.Lock()
        self.base = ""

    def answer(self, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests[path] += 1
            if self.rate_limited.get(path):
                self.rate_limited[path] -= 1
                return 429, {"Retry-After": self.retry_after}, b"slow down"
            if path == "/malformed.xml":
                return 200, {"Content-Type": "application/rss+xml"}, b"this is { not a feed <at all"
            if path.endswith("/broken.html"):
                return 500, {}, b"oops"
            name, _, rest = path.strip("/").partition("/")
            outlet = self.outlets.get(name)
            if outlet is None:
                return 404, {}, b"not found"
            if rest == "feed.xml":
                if headers.get("If-None-Match") == outlet.etag:
                    return 304, {"ETag": outlet.etag}, b""
                self.full_responses[path] += 1
                kind = "application/atom+xml" if outlet.atom else "application/rss+xml"
                return 200, {"Content-Type": kind, "ETag": outlet.etag}, outlet.feed(self.base)
            story = next((s for s in outlet.stories if f"{s.slug}.html" == rest), None)
            if story is None:
                return 404, {}, b"not found"
            self.full_responses[path] += 1
            self.served_at[path] = time.monotonic()
            return 200, {"Content-Type": "text/html; charset=utf-8"}, story.html(outlet.name).encode()


@contextmanager
def feed_server(site: FeedSite) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = site.answer(self.path, self.headers)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as base:
        site.base = base
        yield base


class Webhook:
    """Receives JSON POSTs; the first ``failures`` get a 500."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.posts: list[dict[str, Any]] = []
        self.attempts = 0


@contextmanager
def webhook_server(hook: Webhook) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.attempts += 1
            if hook.attempts <= hook.failures:
                self.send_response(500)
            else:
                hook.posts.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as base:
        yield f"{base}/hook"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    """aiosmtpd on loopback; yields its port and the list the messages arrive in."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller.port, received
    finally:
        controller.stop()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
