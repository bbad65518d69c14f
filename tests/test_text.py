from pathlib import Path

import numpy as np
import pytest

from propscope.errors import EmptyText, InputError, NotText
from propscope.text import (
    Tokens,
    blocks,
    line_bounds,
    read_text,
    require_text,
    sentence_bounds,
    snap_to_words,
    tokenize,
    windows,
)


@pytest.mark.parametrize(("n", "size", "stride"),
                         [(1, 254, 224), (254, 254, 224), (255, 254, 224), (10_000, 254, 224), (37, 8, 3)])
def test_windows_cover_every_token_within_size(n: int, size: int, stride: int) -> None:
    covered = np.zeros(n, dtype=int)
    for start, end in windows(n, size, stride):
        assert 0 <= start < end <= n and end - start <= size
        covered[start:end] += 1
    assert covered.min() >= 1


def test_blocks_cut_at_given_points_and_respect_the_limit() -> None:
    result = blocks(100, np.asarray([10, 35, 60, 90]), 40)
    assert result == [(0, 35), (35, 60), (60, 100)]
    assert blocks(100, np.asarray([], dtype=np.int64), 40) == [(0, 40), (40, 80), (80, 100)]


def test_read_text_keeps_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffOne\r\nTwo".encode())
    assert read_text(path) == "\ufeffOne\r\nTwo"


def test_read_text_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing.txt: no such file"):
        read_text(tmp_path / "missing.txt")
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(NotText, match=r"b.bin: looks like a binary file"):
        read_text(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9 cr\u00e8me".encode("cp1252"))
    with pytest.raises(NotText, match=r"latin.txt: not valid utf-8 at byte 3; .*--encoding"):
        read_text(latin)
    assert read_text(latin, encoding="cp1252") == "caf\u00e9 cr\u00e8me"
    with pytest.raises(InputError, match="is a folder"):
        read_text(tmp_path)


def test_require_text_rejects_whitespace() -> None:
    with pytest.raises(EmptyText, match="stdin: the text is empty"):
        require_text(" \n\t", name="stdin")


def test_line_bounds_exclude_line_breaks() -> None:
    text = "ab\r\ncd\n\nef"
    assert [text[s:e] for s, e in line_bounds(text)] == ["ab", "cd", "", "ef"]


def test_sentence_bounds_split_lines_and_skip_blanks() -> None:
    text = "First one. Second one!\n\n  Third? \n"
    assert [text[s:e] for s, e in sentence_bounds(text)] == ["First one.", "Second one!", "Third?"]


@pytest.mark.parametrize(
    ("text", "start", "end", "expected"),
    [
        ("the corrupt elite, again", 6, 14, "corrupt elite"),
        ("the corrupt elite, again", 3, 19, "corrupt elite"),
        ("say “no more”.", 4, 13, "“no more”"),
        ("stop this sell-out now", 5, 14, "this sell-out"),
        ("the council's plan", 4, 11, "council's"),
    ],
)
def test_snap_to_words(text: str, start: int, end: int, expected: str) -> None:
    s, e = snap_to_words(text, start, end)
    assert text[s:e] == expected


def test_tokenize_offsets_are_code_points(analyzer) -> None:
    text = "\ufeff😀 Naïve “wörld” — test"
    tokens = tokenize(analyzer.tokenizer, text)
    pieces = [text[s:e] for s, e in tokens.char_spans]
    assert "Naïve" in pieces and "wörld" in pieces and "😀" in pieces
    first, last = tokens.token_range(text.index("wörld"), text.index("wörld") + 5)
    assert [text[s:e] for s, e in tokens.char_spans[first:last]] == ["wörld"]


def test_with_token_ranges_equals_token_range_one_by_one() -> None:
    tokens = Tokens(ids=np.arange(4), char_spans=np.array([[0, 3], [4, 7], [7, 9], [12, 15]]))
    spans = [(0, 3), (2, 8), (9, 12), (5, 15), (15, 16)]
    assert tokens.with_token_ranges(spans) == [(s, e, *tokens.token_range(s, e)) for s, e in spans]
    assert tokens.with_token_ranges([]) == []
