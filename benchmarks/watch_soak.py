"""`propscope watch` for an hour: memory, entries per minute and errors against a loopback feed.

A feed server on 127.0.0.1 publishes a new article every few seconds (PTC-like lengths, made
of generated sentences; the feed keeps the latest 50, with an ETag), and `propscope watch`
follows it with a 2-second interval into a fresh library. The script samples the watcher's
resident memory (VmRSS) every minute, and at the end prints it at the start (after the first
minute) and at the end, the entries analysed per minute, and the errors; then stops the
watcher with SIGTERM, as a service manager would.

    python benchmarks/watch_soak.py                  # 60 minutes, a new entry every 3 s
    python benchmarks/watch_soak.py --minutes 5 --every 1
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SENTENCES = [
    "The minister announced the new budget on Monday.", "These corrupt traitors will destroy our great nation!",
    "Officials said the bridge would reopen in March.", "Only a fool would believe the lies of this regime.",
    "Wake up, people: they are coming for your freedom.", "Rainfall this autumn was close to the average.",
    "The committee published its report after a short debate.", "Never again will we bow to the globalist elite!",
]


class Publisher:
    """The feed: a new article every ``every`` seconds, the latest 50 in the feed."""

    def __init__(self, every: float, seed: int = 3) -> None:
        self.every, self.rng = every, random.Random(seed)
        self.articles: dict[int, str] = {}
        self.lock = threading.Lock()
        self.published = 0

    def publish(self) -> None:
        with self.lock:
            self.published += 1
            length = self.rng.choice([1200, 2500, 3500, 5000, 8000])
            text: list[str] = []
            while sum(map(len, text)) < length:
                text.append(self.rng.choice(SENTENCES))
            self.articles[self.published] = "".join(f"<p>{s}</p>" for s in text)

    def feed(self, base: str) -> tuple[str, bytes]:
        with self.lock:
            latest = sorted(self.articles)[-50:]
            items = "".join(f"<item><title>Story {n}</title><link>{base}/story/{n}.html</link>"
                            f"<pubDate>{formatdate(usegmt=True)}</pubDate></item>" for n in latest)
            return f'"v{self.published}"', f'<rss version="2.0"><channel><title>Soak</title>{items}</channel></rss>'.encode()

    def page(self, number: int) -> bytes | None:
        with self.lock:
            body = self.articles.get(number)
        return None if body is None else (
            f"<html><head><title>Story {number}</title></head><body><article><h1>Story {number}</h1>{body}"
            "</article></body></html>").encode()


def serve(publisher: Publisher) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/feed.xml":
                etag, body = publisher.feed(base)
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/rss+xml")
            else:
                page = publisher.page(int(self.path.rsplit("/", 1)[1].split(".")[0]))
                if page is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = page
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--every", type=float, default=3.0, help="Seconds between new articles.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="propscope-soak-"))
    publisher = Publisher(args.every)
    publisher.publish()
    server, base = serve(publisher)
    watch_file = work / "watch.toml"
    watch_file.write_text(f'[[source]]\nname = "soak"\nfeed = "{base}/feed.xml"\ninterval = "2s"\n', encoding="utf-8")
    log = (work / "watch.log").open("w")
    watcher = subprocess.Popen([Path(sys.executable).parent / "propscope", "watch", str(watch_file),
                                "--db", str(work / "library.db")], stderr=log, stdout=log)
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    next_article = next_sample = started
    try:
        while time.monotonic() - started < args.minutes * 60:
            moment = time.monotonic()
            if moment >= next_article:
                publisher.publish()
                next_article += args.every
            if moment >= next_sample:
                samples.append(((moment - started) / 60, rss_mb(watcher.pid)))
                print(f"{samples[-1][0]:5.1f} min: RSS {samples[-1][1]:.1f} MB, {publisher.published} published",
                      flush=True)
                next_sample += 60
            if watcher.poll() is not None:
                raise SystemExit(f"the watcher ended early (exit {watcher.returncode}); see {work / 'watch.log'}")
            time.sleep(0.2)
        time.sleep(5)  # let the last pass finish
        end_rss = rss_mb(watcher.pid)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=60)
        server.shutdown()
    with sqlite3.connect(work / "library.db") as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM entries GROUP BY status").fetchall())
    error_lines = sum(" 0 errors" not in line for line in (work / "watch.log").read_text().splitlines()
                      if ": " in line and " new, " in line)
    start_rss = next(rss for minute, rss in samples if minute >= 1) if len(samples) > 1 else samples[0][1]
    minutes = (time.monotonic() - started) / 60
    print(f"published {publisher.published} articles in {minutes:.1f} min; entries {statuses}; "
          f"{statuses.get('done', 0) / minutes:.1f} analysed per minute; pass lines with errors: {error_lines}; "
          f"watcher exit after SIGTERM: {watcher.returncode}")
    print(f"RSS at 1 min {start_rss:.1f} MB, at the end {end_rss:.1f} MB ({100 * (end_rss / start_rss - 1):+.1f}%); "
          f"library and log in {work}")


if __name__ == "__main__":
    main()
