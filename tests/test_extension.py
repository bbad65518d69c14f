"""The read-in-place extension, loaded unpacked into a real Chromium, against `propscope serve`
on loopback and news pages served from another loopback port.

The tests start it the way the toolbar button does: they open the extension's popup page (as
popup.html?tab=ID, in a tab of its own) and press its button. Settings go through the options page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from propscope import techniques
from propscope._version import __version__
from propscope.cli import cli
from propscope.extension import EXTENSION_ID, EXTENSION_ORIGIN, extension_dir
from propscope.server import Settings

from . import newspages
from .conftest import CHROMIUM, WAR_REPORT, LiveServer

DOCS = Path(__file__).resolve().parents[1] / "docs"
browser = pytest.mark.browser

HARBOUR = newspages.ARTICLES["/politics/harbour-betrayal.html"]["paragraphs"]
ENERGY = newspages.ARTICLES["/opinion/energy-crisis.html"]["paragraphs"]
WAR = [line for line in WAR_REPORT.splitlines()[1:] if line.strip()]
SCRIPTED = """<p id="clicks">0 clicks</p><button id="counter" type="button">Count</button><p id="ticks">0</p>
<script>
let clicks = 0, ticks = 0;
document.getElementById("counter").addEventListener("click", () => {
  document.getElementById("clicks").textContent = `${++clicks} clicks`;
});
setInterval(() => { document.getElementById("ticks").textContent = String(++ticks); }, 50);
</script>"""
NAV = '<nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a></nav>'
COMMENTS = ('<section class="comments"><h2>Comments</h2><ol><li><p>Great piece, thanks for writing it.</p></li>'
            "<li><p>I disagree with every word of this, frankly.</p></li></ol></section>")
LAYOUTS = {
    # Plain paragraphs, and the page's own script beside them.
    "/plain.html": f"<header>{NAV}</header><main><article><h1>Bureaucrats betray our harbour</h1>"
                   + "".join(f"<p>{p}</p>" for p in HARBOUR) + f"</article>{SCRIPTED}</main>",
    # Sentences cut by links, emphasis, a line break and an inline advertisement.
    "/inline.html": f"<header>{NAV}</header><article><h1>The energy scandal they want you to forget</h1>"
                    "<p>This <em>disastrous</em> energy policy is the <a href='/scandal'>greatest scandal</a> of our "
                    "lifetime, and the <strong>arrogant <em>elites</em></strong> who wrote it know it.<br>"
                    "Can anyone still believe a single word from the <a href='/minister'>minister</a> after last "
                    "winter's blackouts?</p><p>If nothing changes, families will <b>freeze</b> in their homes "
                    "<span class='ad-break'>Advertisement</span> while the fat cats laugh all the way to the bank.</p>"
                    + "".join(f"<p>{p}</p>" for p in HARBOUR[:2]) + "</article>",
    # The article deep in containers, beside navigation, a sidebar and comments.
    "/nested.html": f"<div class='site'><header>{NAV}</header><div class='columns'><div class='main'><div class='story'>"
                    "<section class='body'><h1>Army repels attack</h1>"
                    + "".join(f"<div class='para'><p>{line}</p></div>" for line in WAR)
                    + "</section></div>" + COMMENTS + "</div><aside><h2>Most read</h2><ul><li><a href='/a'>Weather "
                    "warning for the weekend</a></li></ul></aside></div></div>",
    "/empty.html": f"<header>{NAV}</header><main></main>",
}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = LAYOUTS.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        headline = re.search(r"<h1>(.*?)</h1>", body)
        title = f"{headline.group(1) if headline else 'Nothing here'} | The Test Times"
        data = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                "<style>body{font:18px/1.6 Georgia,serif;max-width:42rem;margin:0 auto;padding:1rem}"
                "nav a{margin-right:.5rem}.ad-break{font:12px sans-serif;color:#666;border:1px solid #ccc;padding:0 .3rem}"
                "</style></head><body>" + body + "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class Extension:
    """Chromium with the unpacked extension, and the extension's own pages."""

    def __init__(self, context: Any, worker: Any) -> None:
        self.context, self.worker = context, worker

    def configure(self, server: str, api_key: str = "") -> None:
        """Set the server and key on the options page, as a reader would."""
        options = self.context.new_page()
        options.goto(f"chrome-extension://{EXTENSION_ID}/options.html")
        options.fill("#server", server)
        options.fill("#key", api_key)
        options.click("#save")
        options.wait_for_selector("#status[data-state=done]")
        options.close()

    def tab_id(self, url: str) -> int:
        return int(self.worker.evaluate("async url => (await chrome.tabs.query({})).find(t => t.url === url).id", url))

    def popup(self, page: Any, sensitivity: str = "balanced", *, width: int = 420) -> Any:
        """Open the popup for ``page``'s tab, press its button and wait for the outcome."""
        popup = self.context.new_page()
        popup.set_viewport_size({"width": width, "height": 900})
        popup.goto(f"chrome-extension://{EXTENSION_ID}/popup.html?tab={self.tab_id(page.url)}")
        popup.select_option("#sensitivity", sensitivity)
        popup.click("#start")
        popup.wait_for_selector("#status:not([data-state=working]):not([data-state=idle])", timeout=60_000)
        return popup

    def kept(self, page: Any) -> dict[str, Any]:
        """What the extension kept for ``page``'s tab: the popup's state and the findings."""
        key = f"tab:{self.tab_id(page.url)}"
        return dict(self.worker.evaluate("async key => (await chrome.storage.session.get(key))[key]", key))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Extension]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the extension tests need Chromium at {CHROMIUM}: apt-get install chromium")
    folder = tmp_path_factory.mktemp("unpacked") / "propscope"
    assert CliRunner().invoke(cli, ["extension", "--out", str(folder)]).exit_code == 0
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=CHROMIUM, headless=True,
            viewport={"width": 1280, "height": 900},
            args=["--headless=new", f"--disable-extensions-except={folder}", f"--load-extension={folder}",
                  "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
        assert worker.url == f"{EXTENSION_ORIGIN}/background.js"
        yield Extension(context, worker)
        context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(Settings(db=tmp_path_factory.mktemp("server") / "library.db"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    with newspages.serving(_Pages) as base:
        yield base


@pytest.fixture
def extension(chromium: Extension, server: LiveServer) -> Extension:
    chromium.configure(server.url)
    return chromium


def _code_points(text: str, start: int, end: int) -> str:
    return text[start:end]  # Python strings index code points, as the API's offsets do


def _marked(page: Any) -> dict[int, str]:
    """Each marked span's text as the page shows it, from its marks in document order."""
    pieces = page.evaluate("""() => Array.from(document.querySelectorAll('propscope-mark'),
        m => [Number(m.dataset.propscopeSpan), m.textContent])""")
    marked: dict[int, str] = {}
    for index, text in pieces:
        marked[index] = marked.get(index, "") + text
    return marked


@browser
@pytest.mark.parametrize("path", ["/plain.html", "/inline.html", "/nested.html"])
def test_extension_marks_exactly_the_spans_the_server_found(extension: Extension, server: LiveServer, pages: str,
                                                             path: str) -> None:
    page = extension.context.new_page()
    page.goto(pages + path)
    popup = extension.popup(page)
    assert popup.get_attribute("#status", "data-state") == "done", popup.inner_text("#status")
    kept = extension.kept(page)
    stored = httpx.get(f"{server.url}/api/v1/analyses/{kept['id']}").json()
    headline = re.search(r"<h1>(.*?)</h1>", LAYOUTS[path])[1]
    assert stored["source"]["url"] == page.url and stored["source"]["title"].startswith(headline)
    text = stored["text"]
    assert "Home" not in text and "Most read" not in text and "Comments" not in text and "Advertisement" not in text
    if path == "/plain.html":
        assert text == "\n\n".join(HARBOUR)  # the headline, as the title, is left out
    if path == "/nested.html":
        assert text == "\n\n".join(WAR) and "disagree" not in text
    if path == "/inline.html":
        assert "in their homes while the fat cats" in text
        inside = page.evaluate("Array.from(document.querySelectorAll('propscope-mark'), m => m.parentElement.localName)")
        assert {"em", "a", "strong"} & set(inside)
        assert text.startswith("This disastrous energy policy is the greatest scandal of our lifetime, and the arrogant "
                               "elites who wrote it know it.\nCan anyone still believe")
    assert len(stored["spans"]) >= 3
    marked = _marked(page)
    assert sorted(marked) == list(range(len(stored["spans"])))
    for index, span in enumerate(stored["spans"]):
        expected = _code_points(text, span["start"], span["end"])
        # The page's own line breaks and blank lines between paragraphs are not in the marks.
        assert re.sub(r"\s+", "", marked[index]) == re.sub(r"\s+", "", expected), (span, marked[index])
        colour = techniques.get(span["technique"]).colour
        assert kept["findings"][index]["colour"] == colour and kept["findings"][index]["text"] == expected
    assert popup.locator("#findings li").count() == len(stored["spans"])
    assert f"Score {stored['score']:.2f}" in popup.inner_text("#status")
    badge = extension.worker.evaluate("id => chrome.action.getBadgeText({tabId: id})", extension.tab_id(page.url))
    assert badge == f"{stored['score']:.2f}"
    popup.close()
    page.close()


@browser
def test_tooltips_open_on_hover_and_keyboard_and_the_popup_goes_to_a_finding(extension: Extension, pages: str,
                                                                              tmp_path: Path) -> None:
    page = extension.context.new_page()
    page.goto(pages + "/plain.html")
    popup = extension.popup(page, "high")
    findings = extension.kept(page)["findings"]
    assert extension.kept(page)["sensitivity"] == "high"
    tip = page.locator("propscope-ui .tip")

    page.bring_to_front()
    first = page.locator("propscope-mark[tabindex='0']").first
    first.hover()
    assert tip.is_visible()
    shown = tip.inner_text()
    assert findings[0]["name"] in shown and "confidence" in shown and "Sensitivity: high" in shown
    assert findings[0]["definition"] in shown
    page.mouse.move(1, 1)
    assert not tip.is_visible()

    page.locator("h1").click()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.localName") == "propscope-mark":
            break
    assert page.evaluate("document.activeElement.dataset.propscopeSpan") == "0"
    assert tip.is_visible() and findings[0]["name"] in tip.inner_text()
    page.keyboard.press("Escape")
    assert not tip.is_visible()

    last = len(findings) - 1
    popup.bring_to_front()
    popup.locator("#findings li button").nth(last).click()
    page.wait_for_function(f"document.activeElement.dataset?.propscopeSpan === '{last}'")
    _screenshots(extension, page, popup, tmp_path)
    popup.close()
    page.close()


def _screenshots(extension: Extension, page: Any, popup: Any, folder: Path) -> None:
    """The page with a tooltip open and the popup, at desktop and phone widths; into docs/ with
    PROPSCOPE_DOCS_SCREENSHOTS=1."""
    folder = DOCS if os.environ.get("PROPSCOPE_DOCS_SCREENSHOTS") == "1" else folder
    for name, width in (("desktop", 1280), ("phone", 390)):
        page.bring_to_front()
        page.set_viewport_size({"width": width, "height": 800 if width > 400 else 760})
        page.evaluate("window.scrollTo(0, 0); document.activeElement.blur()")
        page.locator("propscope-mark[tabindex='0']").nth(1).focus()
        page.screenshot(path=str(folder / f"read-in-place-page-{name}.png"))
        popup.bring_to_front()
        popup.set_viewport_size({"width": width if width < 400 else 420, "height": 640})
        popup.evaluate("document.getElementById('findings').scrollTop = 0")
        popup.screenshot(path=str(folder / f"read-in-place-popup-{name}.png"))
        assert (folder / f"read-in-place-page-{name}.png").stat().st_size > 10_000


@browser
def test_nested_and_overlapping_spans_both_stay_visible(extension: Extension, pages: str) -> None:
    page = extension.context.new_page()
    page.goto(pages + "/plain.html")
    extension.popup(page).close()
    tab = extension.tab_id(page.url)
    loaded = techniques.get("Loaded_Language")
    flag = techniques.get("Flag-Waving")
    spans = [  # "a gang of unelected bureaucrats" holds "unelected", and a third span overlaps its end
        {"index": 0, "start": 0, "end": 0, "technique": loaded.id},
        {"index": 1, "start": 0, "end": 0, "technique": flag.id},
        {"index": 2, "start": 0, "end": 0, "technique": flag.id},
    ]
    text = "\n\n".join(HARBOUR)
    outer = text.index("a gang of unelected bureaucrats")
    inner = text.index("unelected")
    spans[0].update(start=outer, end=outer + len("a gang of unelected bureaucrats"))
    spans[1].update(start=inner, end=inner + len("unelected"))
    spans[2].update(start=text.index("bureaucrats voted"), end=text.index("bureaucrats voted") + len("bureaucrats voted"))
    for span in spans:
        technique = techniques.get(str(span["technique"]))
        span.update(name=technique.name, definition=technique.definition, colour=technique.colour,
                    paleColour=technique.pale_colour, confidence=0.9)
    marked = extension.worker.evaluate("""async ([tabId, spans]) => {
        await chrome.scripting.executeScript({target: {tabId}, func: () => globalThis.propscope.extract()});
        const [{result}] = await chrome.scripting.executeScript({target: {tabId}, args: [spans],
            func: (spans) => globalThis.propscope.highlight(spans, 'balanced')});
        return result;
    }""", [tab, spans])
    assert marked == 3
    assert _marked(page) == {0: "a gang of unelected bureaucrats", 1: "unelected", 2: "bureaucrats voted"}
    styles = page.evaluate("""() => Array.from(document.querySelectorAll('propscope-mark'), m => {
        const s = getComputedStyle(m);
        return [Number(m.dataset.propscopeSpan), Number(m.dataset.propscopeDepth), m.textContent, s.backgroundColor,
                s.borderBottomColor, s.borderBottomWidth, s.borderBottomStyle];
    })""")
    # The innermost span fills the text; the outer one, pale around it, draws a bar under it.
    outer_alone = [s for s in styles if s[0] == 0 and s[2] in ("a gang of ", " ")]
    assert len(outer_alone) == 2 and all(s[3] == _rgb(loaded.pale_colour) for s in outer_alone)
    inner_mark = next(s for s in styles if s[0] == 1)
    assert inner_mark[1:4] == [1, "unelected", _rgb(flag.colour)]
    outer_bars = [s for s in styles if s[0] == 0 and s[2] in ("unelected", "bureaucrats")]
    assert [s[4:] for s in outer_bars] == [[_rgb(loaded.colour), "3px", "solid"]] * 2
    # The overlap: its own colour inside "a gang of ..." (which nests nothing there) and after it.
    overlap = [s for s in styles if s[0] == 2]
    assert [(s[1], s[2], s[3]) for s in overlap] == [(1, "bureaucrats", _rgb(flag.colour)),
                                                     (0, " voted", _rgb(flag.colour))]
    page.close()


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


@browser
def test_the_page_s_own_scripts_still_run_after_highlighting(extension: Extension, pages: str) -> None:
    page = extension.context.new_page()
    page.goto(pages + "/plain.html")
    extension.popup(page).close()
    page.bring_to_front()
    assert page.locator("propscope-mark").count() > 0
    page.click("#counter")
    page.click("#counter")
    assert page.inner_text("#clicks") == "2 clicks"
    ticks = int(page.inner_text("#ticks"))
    page.wait_for_function(f"Number(document.getElementById('ticks').textContent) > {ticks + 2}")
    assert page.evaluate("document.querySelectorAll('propscope-ui').length") <= 1
    page.close()


@browser
def test_each_failure_has_its_own_message(chromium: Extension, pages: str, tmp_path: Path) -> None:
    page = chromium.context.new_page()
    page.goto(pages + "/plain.html")

    chromium.configure("http://127.0.0.1:9")  # nothing listens on the discard port
    popup = chromium.popup(page)
    assert popup.get_attribute("#status", "data-state") == "no-server"
    assert "propscope serve" in popup.inner_text("#status")
    popup.close()

    keyed = LiveServer(Settings(db=tmp_path / "keyed.db", api_key="right key", max_text_chars=200))
    try:
        chromium.configure(keyed.url)
        popup = chromium.popup(page)
        assert popup.get_attribute("#status", "data-state") == "no-key"
        assert "needs an API key" in popup.inner_text("#status")
        popup.close()
        chromium.configure(keyed.url, "wrong key")
        popup = chromium.popup(page)
        assert popup.get_attribute("#status", "data-state") == "bad-key"
        assert "refused the API key" in popup.inner_text("#status")
        popup.close()
        chromium.configure(keyed.url, "right key")
        popup = chromium.popup(page)
        assert popup.get_attribute("#status", "data-state") == "too-long"
        assert "too long" in popup.inner_text("#status") and "the limit is 200" in popup.inner_text("#status")
        popup.close()
    finally:
        keyed.stop()

    strict = LiveServer(Settings(db=tmp_path / "strict.db", extension_origins=()))
    try:
        chromium.configure(strict.url)
        popup = chromium.popup(page)
        assert popup.get_attribute("#status", "data-state") == "refused"
        assert f"--extension-origin {EXTENSION_ORIGIN}" in popup.inner_text("#status")
        popup.close()
        empty = chromium.context.new_page()
        empty.goto(pages + "/empty.html")
        popup = chromium.popup(empty)
        assert popup.get_attribute("#status", "data-state") == "no-article"
        assert "No article found" in popup.inner_text("#status")
        popup.close()
        empty.close()
    finally:
        strict.stop()
    page.close()


@browser
def test_bookmarklet_sends_the_selection_or_the_page_to_the_analysis_page(chromium: Extension, server: LiveServer,
                                                                          pages: str) -> None:
    index = chromium.context.new_page()
    index.goto(f"{server.url}/read-in-place")
    script = index.get_attribute("#bookmarklet", "href").removeprefix("javascript:")
    index.close()
    page = chromium.context.new_page()
    page.goto(pages + "/plain.html")
    page.evaluate("""() => getSelection().selectAllChildren(document.querySelector('article p'))""")
    with chromium.context.expect_page() as opened:
        page.evaluate(script)
    analysis = opened.value
    analysis.wait_for_url(re.compile(r"/a/\d+$"))
    assert analysis.locator("propscope-mark").count() == 0 and analysis.locator(".hl").count() > 0
    assert HARBOUR[0] in analysis.locator("#article").inner_text()
    analysis.close()
    page.close()


@browser
def test_a_page_on_another_origin_gets_nothing_from_the_server(extension: Extension, server: LiveServer,
                                                                pages: str) -> None:
    page = extension.context.new_page()
    page.goto(pages + "/plain.html")
    before = len(httpx.get(f"{server.url}/api/v1/analyses").json())
    body = json.dumps({"text": "The corrupt elite betrayed our glorious nation again."})
    outcome = page.evaluate("""async ([url, body]) => {
        try {
            await fetch(url + '/api/v1/analyze', {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
            return 'read';
        } catch (error) { return 'blocked'; }
    }""", [server.url, body])
    assert outcome == "blocked"
    assert page.evaluate("""async (url) => {
        try { await fetch(url + '/api/v1/techniques'); return 'read'; } catch (error) { return 'blocked'; }
    }""", server.url) == "blocked"
    # A simple cross-origin POST needs no preflight: it reaches the server, which refuses it.
    opaque = page.evaluate("""async ([url, body]) => (await fetch(url + '/api/v1/analyze',
        {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body})).type""", [server.url, body])
    assert opaque == "opaque"
    refused = httpx.post(f"{server.url}/api/v1/analyze", content=body,
                         headers={"Content-Type": "text/plain", "Origin": pages})
    assert refused.status_code == 403 and pages in refused.json()["detail"]
    assert len(httpx.get(f"{server.url}/api/v1/analyses").json()) == before
    page.close()


def test_extension_command_writes_a_manifest_with_minimal_permissions(tmp_path: Path) -> None:
    out = tmp_path / "ext"
    result = CliRunner().invoke(cli, ["extension", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert EXTENSION_ID in result.output and "Load unpacked" in result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifest_version"] == 3 and manifest["version"] == __version__
    # Chromium's id of an extension with a key: the key's SHA-256, its first 32 hex digits as a-p.
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    assert "".join(chr(ord("a") + int(digit, 16)) for digit in digest) == EXTENSION_ID
    assert sorted(manifest["permissions"]) == ["activeTab", "scripting", "storage"]
    assert manifest["host_permissions"] == ["http://127.0.0.1/*", "http://localhost/*"]
    assert "content_scripts" not in manifest and "tabs" not in manifest["permissions"]
    for name in ("background.js", "popup.html", "options.html", "extract.js", "highlight.js",
                 "vendor/Readability.js", "vendor/LICENSE.md"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in out.rglob("*")) == sorted(p.name for p in extension_dir().rglob("*"))
    again = CliRunner().invoke(cli, ["extension", "--out", str(out)])
    assert again.exit_code == 0, again.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["extension", "--out", str(tmp_path / "other")])
    assert refused.exit_code == 1 and "not an earlier copy of the extension" in refused.output
    assert (tmp_path / "other" / "notes.txt").read_text(encoding="utf-8") == "mine"
