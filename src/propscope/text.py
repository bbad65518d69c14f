"""Reading text and everything about offsets: code points, lines, sentences, tokens, windows.

Offsets are always code-point indices into a Python ``str``, end exclusive. Token-to-character
alignment happens only here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from propscope.errors import EmptyText, InputError, ModelError, NotText

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_BINARY_SNIFF_BYTES = 8192
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_TRAILING_PUNCTUATION = ".,;:!?-–—([{"
_WORD_JOINERS = "-'’"


def decode(data: bytes, *, name: str, encoding: str = "utf-8") -> str:
    """Decode bytes that should be text, or say precisely why they are not."""
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise NotText(f"{name}: looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotText(
            f"{name}: not valid {encoding} at byte {exc.start}; "
            "if you know its encoding, pass it with --encoding (for example cp1252)"
        ) from None
    except LookupError:
        raise InputError(f"{name}: unknown encoding {encoding!r}") from None


def read_text(path: Path, *, encoding: str = "utf-8") -> str:
    """Read a text file exactly: no newline translation, and a BOM stays a character."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a text file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    return decode(data, name=str(path), encoding=encoding)


def require_text(text: str, *, name: str) -> str:
    """Return ``text`` unchanged, or raise EmptyText when there is nothing to analyse (and
    TypeError when it is not a str)."""
    if isinstance(text, bytes | bytearray):
        raise TypeError(f"{name}: the text is bytes; decode it first, e.g. data.decode('utf-8')")
    if not isinstance(text, str):
        raise TypeError(f"{name}: the text must be a str, not {type(text).__name__}")
    if not text.strip():
        raise EmptyText(f"{name}: the text is empty or only whitespace; nothing to analyse")
    return text


def line_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line, without its line break, blank lines included."""
    bounds = []
    start = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85")
        bounds.append((start, start + len(content)))
        start += len(line)
    return bounds


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Sentences: each non-blank line, split further at sentence-ending punctuation."""
    bounds = []
    for line_start, line_end in line_bounds(text):
        line = text[line_start:line_end]
        piece_start = 0
        for match in _SENTENCE_END.finditer(line):
            bounds.append(_strip(text, line_start + piece_start, line_start + match.start()))
            piece_start = match.end()
        bounds.append(_strip(text, line_start + piece_start, line_end))
    return [(start, end) for start, end in bounds if end > start]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _inside_word(text: str, index: int) -> bool:
    """Whether a cut before ``text[index]`` would split a word (hyphenated ones included)."""
    if index <= 0 or index >= len(text):
        return False
    before, after = text[index - 1], text[index]
    if before.isalnum() and after.isalnum():
        return True
    return (after in _WORD_JOINERS and before.isalnum() and index + 1 < len(text) and text[index + 1].isalnum()) or (
        before in _WORD_JOINERS and after.isalnum() and index >= 2 and text[index - 2].isalnum()
    )


def snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a span to whole words, then trim surrounding space and trailing punctuation."""
    while _inside_word(text, start):
        start -= 1
    while _inside_word(text, end):
        end += 1
    start, end = _strip(text, start, end)
    while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
        end -= 1
    return _strip(text, start, end)


@dataclass(frozen=True)
class Tokens:
    """Word-piece ids of a text and each piece's (start, end) code-point offsets."""

    ids: npt.NDArray[np.int64]
    char_spans: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ids)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Indices [first, last) of the tokens that overlap characters [start, end)."""
        first = int(np.searchsorted(self.char_spans[:, 1], start, side="right"))
        last = int(np.searchsorted(self.char_spans[:, 0], end, side="left"))
        return first, max(first, last)

    def with_token_ranges(self, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
        """(start, end, first, last) for many character spans at once, as ``token_range`` gives."""
        bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
        first = np.searchsorted(self.char_spans[:, 1], bounds[:, 0], side="right")
        last = np.maximum(first, np.searchsorted(self.char_spans[:, 0], bounds[:, 1], side="left"))
        return list(zip(bounds[:, 0].tolist(), bounds[:, 1].tolist(), first.tolist(), last.tolist(), strict=True))


def load_tokenizer(path: Path) -> Tokenizer:
    """Load a tokenizer.json with its stored truncation and padding switched off."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def tokenize(tokenizer: Tokenizer, text: str) -> Tokens:
    """Tokenize without special tokens; offsets come back as code points. A SentencePiece
    piece that begins a word (``▁word``) covers the space before it: its span starts after
    that space, so spans never begin with whitespace, whichever tokenizer cut them."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    ids = np.asarray(encoding.ids, dtype=np.int64)
    spans = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    for index in np.flatnonzero(spans[:, 1] > spans[:, 0]).tolist():
        start, end = int(spans[index, 0]), int(spans[index, 1])
        while start < end and text[start].isspace():
            start += 1
        spans[index, 0] = start
    return Tokens(ids=ids, char_spans=spans)


def special_ids(tokenizer: Tokenizer) -> tuple[int, int]:
    """The tokens the encoder's tokenizer wraps a text in: [CLS] and [SEP], or <s> and </s>."""
    bare = tokenizer.encode("a", add_special_tokens=False).ids
    wrapped = tokenizer.encode("a", add_special_tokens=True).ids
    if len(wrapped) != len(bare) + 2 or wrapped[1:-1] != bare:
        raise ModelError("the encoder's tokenizer does not wrap a text in one start and one end token "
                         "(like [CLS] ... [SEP] or <s> ... </s>)")
    return int(wrapped[0]), int(wrapped[-1])


def windows(n_tokens: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Token windows [start, end) of at most ``size`` that together cover every token.

    Windows start every ``stride`` tokens; the last one is aligned to the end so that no
    window is shorter than needed.
    """
    if n_tokens <= size:
        return [(0, n_tokens)]
    starts = [*range(0, n_tokens - size, stride), n_tokens - size]
    return [(start, start + size) for start in starts]


def blocks(
    n_tokens: int, cut_points: npt.NDArray[np.int64], max_tokens: int
) -> list[tuple[int, int]]:
    """Split [0, n_tokens) into blocks of at most ``max_tokens``, cutting at ``cut_points``
    where possible (sorted token indices where a cut does not split a span), else anywhere.
    """
    result = []
    start = 0
    while n_tokens - start > max_tokens:
        limit = start + max_tokens
        candidates = cut_points[(cut_points > start) & (cut_points <= limit)]
        cut = int(candidates[-1]) if len(candidates) else limit
        result.append((start, cut))
        start = cut
    result.append((start, n_tokens))
    return result


def line_cut_points(text: str, tokens: Tokens) -> npt.NDArray[np.int64]:
    """Token indices at which a new line begins: safe places to cut a long text."""
    starts = np.asarray([start for start, _ in line_bounds(text)[1:]], dtype=np.int64)
    return np.unique(np.searchsorted(tokens.char_spans[:, 0], starts, side="left"))


def carry_over(source: Tokens, values: np.ndarray, target: Tokens) -> np.ndarray:
    """Per-token values of one tokenization of a text carried to another of the same text: each
    target token takes the mean of the source tokens it overlaps, weighted by the characters they
    share; NaN where it shares none."""
    length = int(max(source.char_spans.max(initial=0), target.char_spans.max(initial=0)))
    per_char = np.zeros((length + 1, values.shape[1]), dtype=np.float64)
    covered = np.zeros(length + 1, dtype=np.float64)
    for (start, end), row in zip(source.char_spans.tolist(), values, strict=True):
        per_char[start:end] = row
        covered[start:end] = 1.0
    value_sums = np.concatenate([np.zeros((1, values.shape[1])), per_char.cumsum(0)])
    covered_sums = np.concatenate([[0.0], covered.cumsum()])
    starts, ends = target.char_spans[:, 0], target.char_spans[:, 1]
    shared = (covered_sums[ends] - covered_sums[starts])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        carried = (value_sums[ends] - value_sums[starts]) / shared
    return np.where(shared > 0, carried, np.nan).astype(np.float32)
