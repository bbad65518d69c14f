"""`propscope watch` against real servers on loopback: outlets whose feeds change between
passes, a webhook receiver and an SMTP server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from propscope import ingest
from propscope.cli import cli
from propscope.language import Readers
from propscope.model import Analyzer
from propscope.store import Library
from propscope.watch import Watcher, load

from .feeds import FeedSite, Outlet, Story, Webhook, feed_server, now, smtp_server, webhook_server

BIN = Path(sys.executable).parent
DAY = timedelta(days=1)


@pytest.fixture
def site() -> Iterator[tuple[FeedSite, str]]:
    feeds = FeedSite()
    feeds.outlets["gazette"] = Outlet("gazette", stories=[
        Story("harbour", "Traitors sell our harbour", True, now() - DAY),
        Story("budget", "Council approves the budget", False, now() - DAY),
        Story("broken", "A page that fails", False, now() - DAY),
    ])
    feeds.outlets["courier"] = Outlet("courier", atom=True, stories=[Story("rail", "Rail figures", False, now())])
    feeds.outlets["wire"] = Outlet("wire", stories=[Story("storm", "Storm warning", False, now())])
    with feed_server(feeds) as base:
        yield feeds, base


def write_watch_file(folder: Path, base: str, names: list[str], extra: str = "") -> Path:
    sources = "".join(f'[[source]]\nname = "{name}"\nfeed = "{base}/{name}/feed.xml"\ntags = ["national", "{name}"]\n\n'
                      for name in names)
    path = folder / "watch.toml"
    path.write_text(f'interval = "10m"\nmax_tries = 2\n\n{sources}{extra}', encoding="utf-8")
    return path


def once(path: Path) -> Result:
    return CliRunner().invoke(cli, ["watch", str(path), "--once"])


def entry_rows(library_path: Path) -> list[sqlite3.Row]:
    with Library(library_path) as library:
        return library.conn.execute("SELECT * FROM entries ORDER BY url").fetchall()


def line_of(result: Result, source: str) -> str:
    return next(line for line in result.output.splitlines() if f" {source}: " in line)


def test_each_entry_is_analysed_once_across_passes_and_a_restart(
    tmp_path: Path, analyzer: Analyzer, readers: Readers, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    feeds, base = site
    feeds.rate_limited["/wire/feed.xml"] = 1
    path = write_watch_file(tmp_path, base, ["gazette", "courier", "wire"],
                            f'[[source]]\nname = "junk"\nfeed = "{base}/malformed.xml"\n')
    first = once(path)
    assert first.exit_code == 0, first.output
    assert "gazette: 3 new, 2 analysed, 1 errors" in first.output
    assert "broken.html: the server answered 500 Internal Server Error (try 1 of 2)" in line_of(first, "gazette")
    assert "courier: 1 new, 1 analysed, 0 errors" in first.output
    assert "answered 429 Too Many Requests; next poll in 600 s" in line_of(first, "wire")  # back-off beats Retry-After 120
    assert f"junk: 0 new, 0 analysed, 1 errors; feed {base}/malformed.xml: not a valid RSS or Atom feed" in first.output

    feeds.outlets["gazette"].add(Story("sellout", "Another sell-out", True, now()))
    second = once(path)  # a new process in all but name: everything it knows is in the library
    assert "gazette: 1 new, 1 analysed, 0 errors" in second.output, second.output
    assert "courier: 0 new, 0 analysed, 0 errors; not modified" in second.output
    assert "wire: 0 new, 0 analysed, 0 errors; next poll in" in second.output
    third = once(path)
    assert third.exit_code == 0 and "gazette: 0 new, 0 analysed, 0 errors; not modified" in third.output

    with Library(library_path) as library:
        # Past the back-off: the failed page is tried a last time, the rate-limited feed polled again.
        later = [line for offset in (601, 1800) for line in
                 Watcher(load(path), library, readers, say=lambda line: None,
                         clock=lambda offset=offset: time.time() + offset).run_pass()]
        gazette, wire = (next(line for line in later if line.source == name) for name in ("gazette", "wire"))
        assert "broken.html: the server answered 500 Internal Server Error (given up after 2 of 2)" in str(gazette)
        assert (wire.new, wire.analysed, wire.errors) == (1, 1, 0)

        # Conditional GET: each feed sent whole only when it changed; the given-up page not asked again.
        assert feeds.full_responses["/gazette/feed.xml"] == 2 and feeds.requests["/gazette/feed.xml"] == 5
        assert feeds.full_responses["/courier/feed.xml"] == 1 and feeds.requests["/courier/feed.xml"] == 5
        assert feeds.requests["/wire/feed.xml"] == 3 and feeds.requests["/gazette/broken.html"] == 2
        assert all(count == 1 for path_, count in feeds.full_responses.items() if path_.endswith(".html"))

        rows = library.conn.execute("SELECT * FROM entries ORDER BY url").fetchall()
        assert [(r["url"].removeprefix(base), r["status"]) for r in rows] == [
            ("/courier/rail.html", "done"), ("/gazette/broken.html", "failed"), ("/gazette/budget.html", "done"),
            ("/gazette/harbour.html", "done"), ("/gazette/sellout.html", "done"), ("/wire/storm.html", "done")]
        assert json.loads(rows[0]["tags"]) == ["national", "courier"] and rows[0]["seen_at"]
        assert len(library) == 5
        stored = library.get(rows[3]["analysis_id"]).analysis
        assert stored.source is not None and stored.source.name == "gazette"
        assert (stored.source.url, stored.source.title) == (rows[3]["url"], "Traitors sell our harbour")
        assert stored.source.date == rows[3]["published"] and stored.source.date.endswith("+00:00")
        assert stored.spans == analyzer.analyze(stored.text).spans


def test_retry_after_longer_than_the_back_off_is_honoured(
    tmp_path: Path, readers: Readers, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    feeds, base = site
    feeds.rate_limited["/wire/feed.xml"] = 1
    feeds.retry_after = "3600"
    path = write_watch_file(tmp_path, base, ["wire"])
    assert "next poll in 3600 s" in once(path).output
    with Library(library_path) as library:
        for offset, requests in ((1800, 1), (3601, 2)):
            Watcher(load(path), library, readers, say=lambda line: None,
                    clock=lambda offset=offset: time.time() + offset).run_pass()
            assert feeds.requests["/wire/feed.xml"] == requests


def test_alert_rules_fire_once_on_every_channel(
    tmp_path: Path, analyzer: Analyzer, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    feeds, base = site
    herald = Outlet("herald", stories=[Story(f"calm{i}", f"Calm {i}", False, now() - 7 * DAY) for i in range(3)]
                    + [Story(f"loud{i}", f"Loud {i}", True, now()) for i in range(3)])
    feeds.outlets["herald"] = herald
    scores = {s.slug: analyzer.analyze(ingest.fetch(f"{base}/herald/{s.slug}.html").text).score for s in herald.stories}
    loud = [scores[f"loud{i}"] for i in range(3)]
    calm = [scores[f"calm{i}"] for i in range(3)]
    assert min(loud) > max(calm) and sum(loud) / 3 - sum(calm) / 3 > 0.1
    threshold = (min(loud) + max(calm)) / 2
    hook = Webhook(failures=1)  # the first POST gets a 500 and is sent again
    with webhook_server(hook) as hook_url, smtp_server() as (smtp_port, mails):
        rules = f"""
[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "watch@propscope.test"

[[alert]]
name = "high score"
score_at_least = {threshold:.4f}
webhook = "{hook_url}"
email = ["desk@propscope.test"]
jsonl = "alerts.jsonl"
terminal = true

[[alert]]
name = "name calling"
technique = "name_calling"
at_least = 1
jsonl = "alerts.jsonl"

[[alert]]
name = "rising"
weekly_mean_rise = 0.1
webhook = "{hook_url}"
"""
        path = write_watch_file(tmp_path, base, ["herald"], rules)
        outputs = [once(path).output for _ in range(3)]
    with Library(library_path) as library:
        named = {row["id"] for row in library.conn.execute(
            "SELECT DISTINCT analysis_id AS id FROM spans WHERE technique = 'Name_Calling,Labeling'")}
        alerts = library.conn.execute("SELECT rule, key, analysis_id FROM alerts ORDER BY id").fetchall()
        undelivered = library.conn.execute("SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL")
        assert undelivered.fetchone()[0] == 0
    high = [a for a in alerts if a["rule"] == "high score"]
    assert len(high) == 3 and len({a["key"] for a in alerts if a["rule"] == "name calling"}) == len(named)
    assert [a["key"] for a in alerts if a["rule"] == "rising"] == [
        f"herald|{(now().date() - timedelta(days=now().weekday())).isoformat()}"]
    assert hook.attempts == 5 and len(hook.posts) == 4  # 3 high scores and 1 rise, after one retry
    assert sorted(p["rule"] for p in hook.posts) == ["high score"] * 3 + ["rising"]
    rise = next(p for p in hook.posts if p["rule"] == "rising")
    assert rise["article"]["url"].startswith(f"{base}/herald/loud") and rise["article"]["findings"]
    assert len(mails) == 3 and all(m.rcpt_tos == ["desk@propscope.test"] for m in mails)
    assert all(f"{base}/herald/loud" in m.content.decode() for m in mails)
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == 3 + len(named) and all(line["article"]["url"] for line in lines)
    assert sum(output.count("ALERT [high score]") for output in outputs) == 3
    assert all("ALERT" not in output for output in outputs[1:])


def test_a_kill_between_fetch_and_store_analyses_nothing_twice(
    tmp_path: Path, analyzer: Analyzer, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    feeds, base = site
    feeds.outlets["gazette"].stories = [Story("long", "A very long report", True, now(), paragraphs=400),
                                        Story("short", "A short one", False, now())]
    path = write_watch_file(tmp_path, base, ["gazette"])
    env = os.environ | {"PROPSCOPE_DB": str(library_path)}
    job = subprocess.Popen([BIN / "propscope", "watch", str(path), "--once"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "/gazette/long.html" not in feeds.served_at and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)  # the page is fetched; extracting and analysing it takes seconds
    job.wait(timeout=30)
    assert "/gazette/long.html" in feeds.served_at
    before = {row["url"]: row["status"] for row in entry_rows(library_path)}
    assert before == {f"{base}/gazette/long.html": "new", f"{base}/gazette/short.html": "new"}

    again = subprocess.run([BIN / "propscope", "watch", str(path), "--once"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "gazette: 0 new, 2 analysed, 0 errors" in again.stderr, again.stderr
    rows = entry_rows(library_path)
    assert [row["status"] for row in rows] == ["done", "done"]
    with Library(library_path) as library:
        assert len(library) == 2 and len({row["analysis_id"] for row in rows}) == 2
    assert feeds.full_responses["/gazette/feed.xml"] == 1  # the validators were kept with the entries


def test_the_same_text_under_two_urls_is_analysed_once(
    tmp_path: Path, analyzer: Analyzer, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    feeds, base = site
    published = now()
    feeds.outlets["wire"].stories = [Story("storm", "Storm warning", True, published)]
    feeds.outlets["courier"] = Outlet("courier", stories=[Story("storm", "Storm warning", True, published, site="wire")])
    path = write_watch_file(tmp_path, base, ["wire", "courier"])
    result = once(path)
    assert result.exit_code == 0, result.output
    rows = entry_rows(library_path)
    assert [(row["url"].removeprefix(base), row["status"]) for row in rows] == [
        ("/courier/storm.html", "duplicate"), ("/wire/storm.html", "done")]
    assert rows[0]["analysis_id"] == rows[1]["analysis_id"] and f"the same text as {base}/wire" in rows[0]["error"]
    with Library(library_path) as library:
        assert len(library) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("interval = ", "not a valid TOML watch file"),
        ('[[source]]\nname = "a"\n', "source 1: a source needs a name and a feed URL"),
        ('[[source]]\nname = "a"\nfeed = "ftp://x/feed"\n', "source 1: feed ftp://x/feed is not an http(s) URL"),
        ('interval = "soon"\n[[source]]\nname = "a"\nfeed = "http://x/f"\n', "interval 'soon': give seconds"),
        ('colour = 1\n', "unknown key colour"),
        ('[[source]]\nname = "a"\nfeed = "http://x/f"\n[[alert]]\nname = "x"\nterminal = true\n',
         "alert 1: give exactly one of score_at_least"),
        ('[[source]]\nname = "a"\nfeed = "http://x/f"\n[[alert]]\nscore_at_least = 0.5\n',
         "alert 1: say where the alert goes"),
        ('[[source]]\nname = "a"\nfeed = "http://x/f"\n[[alert]]\ntechnique = "shouting"\nterminal = true\n',
         "unknown technique 'shouting'"),
        ("", "no sources"),
    ],
)
def test_a_bad_watch_file_is_one_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(content, encoding="utf-8")
    result = once(path)
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output, result.output


def test_an_opml_export_gives_sources_with_folders_as_tags(tmp_path: Path) -> None:
    (tmp_path / "feeds.opml").write_text("""<?xml version="1.0"?>
<opml version="2.0"><head><title>My feeds</title></head><body>
  <outline text="Politics">
    <outline text="Gazette" type="rss" xmlUrl="http://127.0.0.1:9/gazette.xml" category="/national,tabloid"/>
    <outline text="Europe"><outline title="Courier" type="rss" xmlUrl="http://127.0.0.1:9/courier.xml"/></outline>
  </outline>
  <outline text="Wire" type="rss" xmlUrl="http://127.0.0.1:9/wire.xml"/>
</body></opml>""", encoding="utf-8")
    sources = load(tmp_path / "feeds.opml").sources
    assert [(s.name, s.feed.rsplit("/", 1)[1], s.tags) for s in sources] == [
        ("Gazette", "gazette.xml", ("Politics", "national", "tabloid")),
        ("Courier", "courier.xml", ("Politics", "Europe")),
        ("Wire", "wire.xml", ()),
    ]
    (tmp_path / "watch.toml").write_text('opml = "feeds.opml"\ninterval = "1h"\n', encoding="utf-8")
    assert [s.interval for s in load(tmp_path / "watch.toml").sources] == [3600.0] * 3
    (tmp_path / "bad.opml").write_text("<opml><body><outline", encoding="utf-8")
    result = once(tmp_path / "bad.opml")
    assert result.exit_code == 1 and "bad.opml: not a valid OPML file" in result.output


def test_sigterm_stops_a_running_watch_cleanly(
    tmp_path: Path, analyzer: Analyzer, library_path: Path, site: tuple[FeedSite, str]
) -> None:
    _, base = site
    path = write_watch_file(tmp_path, base, ["courier"])
    job = subprocess.Popen([BIN / "propscope", "watch", str(path)], env=os.environ | {"PROPSCOPE_DB": str(library_path)},
                           stderr=subprocess.PIPE, text=True)
    assert job.stderr is not None
    lines = []
    while not any("courier: 1 new, 1 analysed" in line for line in lines):
        lines.append(job.stderr.readline())
        assert lines[-1], "".join(lines)
    job.send_signal(signal.SIGTERM)
    _, rest = job.communicate(timeout=60)
    assert job.returncode == 0 and "Stopped. Start it again to go on where it stopped." in rest


def test_the_readme_watch_file_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "watch.toml").write_text(example, encoding="utf-8")
    (tmp_path / "subscriptions.opml").write_text(
        '<opml version="2.0"><body><outline text="Wire" xmlUrl="https://wire.example/rss"/></body></opml>')
    watch_file = load(tmp_path / "watch.toml")
    assert [(s.name, s.interval, s.tags) for s in watch_file.sources] == [
        ("Daily Planet", 300.0, ("national", "tabloid")), ("Wire", 900.0, ())]
    assert [(r.name, r.channels) for r in watch_file.rules] == [
        ("very high score", ["webhook", "email", "terminal"]), ("name calling", ["jsonl"]), ("rising", ["webhook"])]
    assert watch_file.rules[1].technique == "Name_Calling,Labeling" and watch_file.smtp is not None
