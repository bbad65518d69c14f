"""Renderers: HTML (escaped, overlaps visible), Markdown, PTC rows, and the terminal."""

import io
import re

from rich.console import Console

from propscope import reports, techniques
from propscope.analysis import Analysis, ModelInfo, Source, Span
from propscope.reports import html, markdown, terminal, words

MODEL = ModelInfo("test", "0", "c" * 64)
HOSTILE = 'They are <script>alert("x")</script> traitors <img src=x onerror="alert(1)"> & worse.'


def hostile_analysis() -> Analysis:
    start = HOSTILE.index("traitors")
    return Analysis.build(HOSTILE, [
        Span(0, start + 8, "Loaded_Language", 0.6),
        Span(start, start + 8, "Name_Calling,Labeling", 0.9),
    ], MODEL, Source(title="<b>Title</b>"))


def test_html_escapes_article_text() -> None:
    page = html.render(hostile_analysis(), title="<b>Title</b>")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page
    assert "<b>Title</b>" not in page
    assert not re.search(r'<(link|script)[^>]*(src|href)=', page)  # no external assets


def test_html_keeps_overlapping_spans_visible() -> None:
    segments = html.segments(hostile_analysis())
    both = [s for s in segments if len(s.spans) == 2]
    assert [s.text for s in both] == ["traitors"]
    page = html.render(hostile_analysis())
    assert 'data-techniques="Name_Calling,Labeling|Loaded_Language"' in page  # the innermost first
    assert "Name calling or labelling · confidence 0.90" in page


NESTED = "Once again those bitter puppets of their masters abroad have shown what they are."


def nested_analysis() -> Analysis:
    """A long name-calling span with two short ones inside it, one of them inside a loaded phrase."""
    def at(fragment: str) -> tuple[int, int]:
        return NESTED.index(fragment), NESTED.index(fragment) + len(fragment)

    return Analysis.build(NESTED, [
        Span(*at("those bitter puppets of their masters abroad have shown what they are"), "Name_Calling,Labeling", 0.13),
        Span(*at("bitter puppets"), "Loaded_Language", 0.5),
        Span(*at("puppets"), "Name_Calling,Labeling", 0.6),
        Span(*at("masters"), "Name_Calling,Labeling", 0.55),
    ], MODEL)


def test_html_shows_spans_nested_in_a_span_of_the_same_technique() -> None:
    name_calling, pale_name_calling = (techniques.get("Name_Calling,Labeling").colour,
                                       techniques.get("Name_Calling,Labeling").pale_colour)
    loaded = techniques.get("Loaded_Language").colour
    looks = {s.text: (s.background, s.stripes) for s in html.segments(nested_analysis()) if s.spans}
    # Around the short spans the long one is pale; each short one has its full colour, with a
    # stripe for every span around it, parted from the fill by a white line.
    assert looks["those "] == looks[" of their "] == (pale_name_calling, "")
    assert looks["masters"] == (name_calling, f"inset 0 -3px 0 {name_calling}, inset 0 -4px 0 #ffffff")
    assert looks["puppets"] == (name_calling, f"inset 0 -3px 0 {loaded}, inset 0 -4px 0 #ffffff, "
                                              f"inset 0 -7px 0 {name_calling}, inset 0 -8px 0 #ffffff")
    assert looks["bitter "][0] == techniques.get("Loaded_Language").pale_colour
    assert pale_name_calling == "#f0d99c" != name_calling  # #ddaa22 mixed with white
    page = html.render(nested_analysis())
    assert f"background: {name_calling};" in page and f"background: {pale_name_calling};" in page


def test_terminal_parts_nested_spans_of_one_colour() -> None:
    out = io.StringIO()
    terminal.render(nested_analysis(), Console(file=out, width=200, color_system="truecolor"))
    line = out.getvalue().splitlines()[0]
    pale = techniques.get("Name_Calling,Labeling").pale_colour
    full = techniques.get("Name_Calling,Labeling").colour
    rgb = {colour: ";".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5)) for colour in (pale, full)}
    assert re.search(rf"\x1b\[[\d;]*48;2;{rgb[pale]}mthose \x1b", line)
    assert re.search(rf"\x1b\[4;[\d;]*48;2;{rgb[full]}mmasters\x1b", line)  # underlined, full colour


def test_markdown_lists_findings_and_escapes() -> None:
    text = markdown.render(hostile_analysis(), title="Report")
    assert text.startswith("# Report")
    assert "**Name calling or labelling** (0.90" in text
    assert "\\<script\\>" in text


def test_ptc_rows_use_the_article_id() -> None:
    out = io.StringIO()
    reports.emit(hostile_analysis(), "ptc", out, name="data/article777.txt")
    assert out.getvalue().splitlines()[0].startswith("777\tLoaded_Language\t0\t")


def test_terminal_without_colour_is_plain_and_complete() -> None:
    out = io.StringIO()
    terminal.render(hostile_analysis(), Console(file=out, width=100, color_system=None))
    text = out.getvalue()
    assert "\x1b[" not in text
    assert "Name calling or labelling" in text and "Score:" in text and "Legend:" in text


def test_terminal_on_a_colour_console_uses_technique_colours() -> None:
    out = io.StringIO()
    terminal.render(hostile_analysis(), Console(file=out, width=100, force_terminal=True, color_system="truecolor"))
    colour = techniques.get("name_calling").colour
    background = ";".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    assert f"48;2;{background}m" in out.getvalue()  # the span's text sits on its technique colour


def evidence_analysis() -> Analysis:
    text = "They are traitors. The vote is rigged, everyone knows it.\nWe meet at noon."
    start = text.index("rigged")
    return Analysis.build(text, [Span(9, 17, "Name_Calling,Labeling", 0.9)], MODEL, evidence=[(start, start + 6)])


def test_reports_mark_sentences_of_evidence_alone() -> None:
    analysis = evidence_analysis()
    marked = [s.text for s in html.segments(analysis) if s.evidence]
    assert marked == ["The vote is rigged, everyone knows it."]
    page = html.render(analysis)
    assert '<span class="evidence" tabindex="0">The vote is rigged, everyone knows it.<span class="tip"' in page
    assert "signs of a technique, without a span sure enough to highlight" in page  # the legend explains it
    assert "1 span in 1 of 3 sentences, and signs of a technique without a sure span in 1 more" in page
    assert 'class="evidence"' not in html.render(hostile_analysis())
    out = io.StringIO()
    terminal.render(analysis, Console(file=out, width=200, color_system=None))
    assert "signs of a technique without a sure span in 1 more" in out.getvalue()
    assert words.sentence_summary(hostile_analysis()) == "2 spans in 1 of 1 sentences"  # no evidence, no tail
    assert "no span sure enough to show:\n  19-57  The vote is rigged, everyone knows it.\n" in out.getvalue()
    out = io.StringIO()
    terminal.render(analysis, Console(file=out, width=200, force_terminal=True, color_system="truecolor"))
    assert "\x1b[4mThe vote is rigged, everyone knows it.\x1b[0m" in out.getvalue()  # underlined
    assert "without a sure span in 1 more" in markdown.render(analysis)
