"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium)."""

import shutil
from pathlib import Path

import pytest

from propscope.model import Analyzer
from propscope.reports import html

from .conftest import PROPAGANDA

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
HOSTILE = '\n\nA reader wrote: <script>window.pwned = true</script> <img src=x onerror="window.pwned = true">\n'


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def test_report_highlights_spans_and_explains_them(browser, analyzer: Analyzer, tmp_path: Path) -> None:
    analysis = analyzer.analyze(PROPAGANDA + HOSTILE)
    report = tmp_path / "report.html"
    report.write_text(html.render(analysis, title="Example"), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    page.goto(report.as_uri())
    highlights = page.locator(".hl")
    assert highlights.count() >= len({(s.start, s.end) for s in analysis.spans}) > 0
    assert page.evaluate("window.pwned === undefined")
    assert "<script>window.pwned = true</script>" in page.locator("#article").inner_text()
    first = highlights.first
    tip = first.locator(".tip")
    assert not tip.is_visible()
    first.focus()
    assert tip.is_visible() and "confidence" in tip.inner_text()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    page.close()
