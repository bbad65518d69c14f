"""PTC-format predictions from an Analyzer: the spans of whole articles, the lines that hold
a marked sentence, and the technique of spans given in a TC template."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from propscope import ptc, techniques
from propscope.analysis import Analysis
from propscope.decoding import DecodingParams, Detection
from propscope.model import Analyzer
from propscope.text import line_bounds


def labelled_rows(detections: Mapping[str, Sequence[Detection]], params: DecodingParams) -> list[ptc.LabelledSpan]:
    """PTC rows of detections per article, labelled as the Analyzer labels its spans."""
    return [
        ptc.LabelledSpan(article_id, span.technique, span.start, span.end)
        for article_id, found in detections.items()
        for detection in found
        for span in detection.labelled(params)
    ]


def marked_lines(analysis: Analysis) -> list[bool]:
    """Per line of the analysed text (blank lines included), whether a sentence marked as
    propaganda lies in it: the prediction that SLC scores."""
    lines = line_bounds(analysis.text)
    marked = [False] * len(lines)
    ends = [end for _, end in lines]
    for sentence in analysis.sentences:
        if sentence.propaganda:
            marked[bisect_left(ends, sentence.start)] = True  # sentences lie inside their line
    return marked


def label_spans(
    analyzer: Analyzer, articles: Mapping[str, str], rows: Sequence[ptc.LabelledSpan]
) -> list[ptc.LabelledSpan]:
    """Fill in the technique of every row; repeated rows of one span get the next-best ones."""
    result: list[ptc.LabelledSpan | None] = [None] * len(rows)
    grouped: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        grouped.setdefault(row.article_id, []).append(index)
    for article_id, indices in grouped.items():
        distinct = sorted({(rows[i].start, rows[i].end) for i in indices})
        probs = dict(zip(distinct, analyzer.classify(articles[article_id], distinct), strict=True))
        seen: dict[tuple[int, int], int] = {}
        for i in indices:
            key = (rows[i].start, rows[i].end)
            rank = seen.get(key, 0)
            seen[key] = rank + 1
            choice = int(np.argsort(-probs[key])[rank % len(techniques.TECHNIQUES)])
            result[i] = replace(rows[i], technique=techniques.TECHNIQUES[choice].ptc_label)
    return [row for row in result if row is not None]
