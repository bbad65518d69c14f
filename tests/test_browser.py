"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium)."""

from pathlib import Path

import pytest

from propscope import techniques
from propscope.analysis import Analysis, ModelInfo, Span
from propscope.model import Analyzer
from propscope.reports import html
from propscope.server import Settings

from .conftest import PROPAGANDA, SENTENCES, LiveServer

pytestmark = pytest.mark.browser
HOSTILE = '\n\nA reader wrote: <script>window.pwned = true</script> <img src=x onerror="window.pwned = true">\n'


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


def test_report_underlines_a_sentence_marked_without_a_span_and_explains_it(browser, tmp_path: Path) -> None:
    text = "They are traitors. The vote is rigged, everyone knows it.\nWe meet at noon."
    start = text.index("rigged")
    analysis = Analysis.build(text, [Span(9, 17, "Name_Calling,Labeling", 0.9)], ModelInfo("test", "0", "0" * 64),
                              evidence=[(start, start + 6)])
    report = tmp_path / "report.html"
    report.write_text(html.render(analysis), encoding="utf-8")
    page = browser.new_page()
    page.goto(report.as_uri())
    marked = page.locator("#article .evidence")
    assert marked.count() == 1 and marked.inner_text().startswith("The vote is rigged, everyone knows it.")
    assert marked.evaluate("e => getComputedStyle(e).textDecorationStyle") == "dotted"
    tip = marked.locator(".tip")
    assert not tip.is_visible()
    marked.focus()
    assert tip.is_visible() and "no span sure enough to highlight" in tip.inner_text()
    page.close()


def test_web_page_paste_analyse_explain_and_permalink(browser, live_server: LiveServer, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(live_server.url + "/")
    page.fill("#text", PROPAGANDA + HOSTILE)
    page.click("#analyse")
    page.wait_for_url(lambda url: "/a/" in url)
    permalink = page.url
    highlights = page.locator(".hl")
    assert highlights.count() > 3
    assert page.evaluate("window.pwned === undefined")
    assert "<script>window.pwned = true</script>" in page.locator("#article").inner_text()

    first = highlights.first
    first.click()
    tip = first.locator(".tip")
    assert tip.is_visible()
    explanation = tip.inner_text()
    assert "confidence" in explanation and len(explanation) > 60
    page.screenshot(path=str(tmp_path / "analysis.png"), full_page=True)

    filters = page.locator("button.filter")
    label = filters.first.get_attribute("data-technique")
    filters.first.click()
    assert filters.first.get_attribute("aria-pressed") == "false"
    muted = page.locator(".hl.muted")
    assert muted.count() >= 1
    assert all(label in muted.nth(i).get_attribute("data-techniques") for i in range(muted.count()))

    page.keyboard.press("Escape")
    page.click("#permalink")
    page.wait_for_load_state()
    assert page.url == permalink and page.locator(".hl").count() == highlights.count()

    page.goto(live_server.url + "/history?q=Harbour")
    assert page.locator("table a[href^='/a/']").count() == 1
    page.goto(live_server.url + "/corpus")
    page.locator("a[href^='/corpus/technique/']").first.click()
    assert page.locator(".examples li q").count() >= 1
    page.close()

    phone = browser.new_page(viewport={"width": 375, "height": 800}, is_mobile=True)
    phone.goto(permalink)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.locator(".hl").first.focus()
    phone.keyboard.press("Enter")
    assert phone.locator(".hl").first.locator(".tip").is_visible()
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    phone.close()


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def test_notebook_view_escapes_text_and_shows_technique_colours(browser, analyzer: Analyzer,
                                                                tmp_path: Path) -> None:
    analysis = analyzer.analyze(PROPAGANDA + HOSTILE)
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    # Jupyter puts the fragment into its own page, beside its own styles.
    page.set_content(f"<!DOCTYPE html><html><body><h1 class='hl'>Cell output</h1>{analysis._repr_html_()}</body></html>")
    assert page.evaluate("window.pwned === undefined")
    view = page.locator(".propscope-view")
    assert "<script>window.pwned = true</script>" in view.inner_text()
    assert 'onerror="window.pwned = true"' in view.inner_text()
    assert f"{analysis.score:.2f}" in view.locator(".score").inner_text()
    legend = view.locator(".legend li")
    assert legend.count() == len(analysis.technique_counts())
    highlights = view.locator(".hl")
    backgrounds = highlights.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert backgrounds == [_rgb(segment.background) for segment in html.segments(analysis) if segment.spans]
    assert len(set(backgrounds)) >= 3
    highlights.first.focus()
    assert highlights.first.locator(".tip").is_visible()
    # The view's styles stay inside it: the page's own heading is not restyled.
    assert page.locator("h1.hl").evaluate("e => getComputedStyle(e).cursor") == "auto"
    page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
    page.close()


def test_a_span_nested_in_one_of_the_same_technique_stands_out(browser, tmp_path: Path) -> None:
    text = "Once again those bitter puppets of their masters abroad have shown what they are."
    outer, inner = text.index("those"), text.index("puppets")
    analysis = Analysis.build(text, [Span(outer, len(text) - 1, "Name_Calling,Labeling", 0.13),
                                     Span(inner, inner + 7, "Name_Calling,Labeling", 0.6)], ModelInfo("t", "0", "c" * 64))
    report = tmp_path / "nested.html"
    report.write_text(html.render(analysis), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    page.goto(report.as_uri())
    looks = {e["text"]: e for e in page.locator(".hl").evaluate_all(
        "els => els.map(e => ({text: e.firstChild.textContent, background: getComputedStyle(e).backgroundColor,"
        " stripes: getComputedStyle(e).boxShadow}))")}
    colour, pale = techniques.get("Name_Calling,Labeling").colour, techniques.get("Name_Calling,Labeling").pale_colour
    assert looks["puppets"]["background"] == _rgb(colour) and _rgb(colour) in looks["puppets"]["stripes"]
    assert looks["those bitter "]["background"] == _rgb(pale) != _rgb(colour)
    assert looks["those bitter "]["stripes"] == "none"
    page.close()


def test_web_page_reads_another_language_shows_it_and_filters_by_it(
    browser, tiny_multilingual_model: Path, tmp_path: Path
) -> None:
    server = LiveServer(Settings(db=tmp_path / "library.db", multilingual_dir=tiny_multilingual_model))
    try:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(server.url + "/")
        page.fill("#text", SENTENCES["bg"])
        page.click("#analyse")
        page.wait_for_url(lambda url: "/a/" in url)
        line = page.locator("#language")
        assert line.is_visible() and "Language: Bulgarian (detected), read by propscope-multilingual" in line.inner_text()
        assert "not trained on Bulgarian" in line.inner_text()
        assert page.locator("#article").get_attribute("lang") == "bg"
        page.goto(server.url + "/")
        page.fill("#text", SENTENCES["bg"])
        page.fill("#language", "ru")
        page.click("#analyse")
        page.wait_for_url(lambda url: "/a/" in url)
        assert "Language: Russian (as given)" in page.locator("#language").inner_text()
        page.goto(server.url + "/history")
        page.select_option("#language", "ru")
        page.click("form.search button")
        page.wait_for_url(lambda url: "language=ru" in url)
        assert page.locator("tbody tr").count() == 1
    finally:
        server.stop()
