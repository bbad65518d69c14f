"""The second pass: a classifier that reads each span marked inside its lines and names its
technique, as the SemEval-2020 winners of technique classification did.

The span head names a span from hidden states the tagger computed to find spans; the reader
reads the span again, its bounds marked, in its own lines. A model folder with a reader holds
``span_reader.onnx`` and a ``span_reader`` entry in ``config.json``; the technique
probabilities of every span are then the reader's and the span head's, mixed by ``weight``.
Training is in ``span_reader_training`` ([train] extra); this module never imports torch.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from propscope.decoding import FloatArray
from propscope.errors import ModelError
from propscope.text import Tokens, line_bounds

READER_FILE = "span_reader.onnx"
OPEN_MARK, CLOSE_MARK = "[unused0]", "[unused1]"  # word pieces the encoder never saw in text
MAX_SPAN_TOKENS = 96  # a longer span is read by its first and last halves of this
BATCH_SIZE = 32
IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Marks:
    """The ids of the pieces that frame a reader's input."""

    cls_id: int
    sep_id: int
    open_id: int
    close_id: int

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Marks:
        ids = [tokenizer.token_to_id(piece) for piece in ("[CLS]", "[SEP]", OPEN_MARK, CLOSE_MARK)]
        found = [i for i in ids if i is not None]
        if len(found) < len(ids):
            raise ModelError(f"the tokenizer lacks one of [CLS], [SEP], {OPEN_MARK}, {CLOSE_MARK}: "
                             "the span reader needs a BERT word-piece vocabulary")
        return cls(*found)


class LineContext:
    """Where each span's lines start and end in a text, found by bisection."""

    def __init__(self, text: str) -> None:
        bounds = line_bounds(text) or [(0, len(text))]
        self._starts = [start for start, _ in bounds]
        self._ends = [end for _, end in bounds]

    def around(self, start: int, end: int) -> tuple[int, int]:
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        last = min(len(self._ends) - 1, max(first, bisect.bisect_left(self._ends, end)))
        return self._starts[first], self._ends[last]


def marked_ids(tokens: Tokens, context: LineContext, start: int, end: int, marks: Marks, max_tokens: int) -> list[int]:
    """The reader's input for characters [start, end): [CLS], the span's lines with the span
    between the two marks, [SEP]; at most ``max_tokens``, the context cut evenly around it."""
    first, last = tokens.token_range(start, end)
    line_start, line_end = context.around(start, end)
    context_first, _ = tokens.token_range(line_start, line_start)
    _, context_last = tokens.token_range(line_end, line_end)
    span = tokens.ids[first:last].tolist()
    if len(span) > MAX_SPAN_TOKENS:
        span = span[: MAX_SPAN_TOKENS // 2] + span[-MAX_SPAN_TOKENS // 2 :]
    left = tokens.ids[min(context_first, first) : first].tolist()
    right = tokens.ids[last : max(context_last, last)].tolist()
    budget = max(0, max_tokens - 4 - len(span))
    n_left = min(len(left), max(budget // 2, budget - len(right)))
    n_right = min(len(right), budget - n_left)
    return [marks.cls_id, *left[len(left) - n_left :], marks.open_id, *span, marks.close_id, *right[:n_right], marks.sep_id]


def padded(sequences: Sequence[Sequence[int]], marks: Marks) -> tuple[IdArray, IdArray, FloatArray]:
    """input_ids, attention_mask and span_mask (the pieces between the marks) of a batch."""
    width = max(len(sequence) for sequence in sequences)
    ids = np.zeros((len(sequences), width), dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    span_mask = np.zeros((len(sequences), width), dtype=np.float32)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
        span_mask[row, sequence.index(marks.open_id) + 1 : sequence.index(marks.close_id)] = 1.0
    return ids, mask, span_mask


class SpanReader:
    """The reader of a model folder: technique probabilities for spans of a text."""

    def __init__(
        self, model_dir: Path, settings: Mapping[str, Any], tokenizer: Tokenizer,
        session: Callable[[Path], Any],
    ) -> None:
        self.path = model_dir / READER_FILE
        if not self.path.is_file():
            raise ModelError(f"{model_dir}: config.json names a span reader but {READER_FILE} is missing")
        try:
            self.weight = float(settings["weight"])
            self.max_tokens = int(settings["max_tokens"])
            expected = str(settings["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{model_dir}: config.json has a broken span_reader entry ({exc})") from None
        if hashlib.sha256(self.path.read_bytes()).hexdigest() != expected:
            raise ModelError(f"{self.path}: sha256 differs from config.json's; the file is corrupt or was replaced")
        self.marks = Marks.of(tokenizer)
        self._new_session = session
        self._session: Any = None
        self._pid = -1

    def probabilities(self, text: str, tokens: Tokens, spans: Sequence[tuple[int, int]]) -> FloatArray:
        """Technique probabilities (n_spans, 14), in the order of ``TECHNIQUES``."""
        context = LineContext(text)
        sequences = [marked_ids(tokens, context, start, end, self.marks, self.max_tokens) for start, end in spans]
        order = sorted(range(len(sequences)), key=lambda k: len(sequences[k]))  # little padding per batch
        out = np.zeros((len(spans), 0), dtype=np.float32)
        for begin in range(0, len(order), BATCH_SIZE):
            chosen = order[begin : begin + BATCH_SIZE]
            ids, mask, span_mask = padded([sequences[k] for k in chosen], self.marks)
            (probs,) = self._run({"input_ids": ids, "attention_mask": mask, "span_mask": span_mask})
            if out.shape[1] == 0:
                out = np.zeros((len(spans), probs.shape[1]), dtype=np.float32)
            out[chosen] = probs
        return out

    def mix(self, head: FloatArray, read: FloatArray) -> FloatArray:
        """The span head's technique probabilities mixed with the reader's, row by row."""
        return (1.0 - self.weight) * head + self.weight * read

    def _run(self, feeds: Mapping[str, np.ndarray]) -> list[FloatArray]:
        # A session made before a fork is not safe to run in the child (tuning forks workers).
        if self._pid != os.getpid():
            self._session = self._new_session(self.path)
            self._pid = os.getpid()
        return list(self._session.run(None, dict(feeds)))
