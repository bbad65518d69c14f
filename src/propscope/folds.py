"""Cross-validation folds that keep near-duplicate articles together.

The PTC training split holds the same story from two outlets, and updates of one story: 52
pairs of its 371 articles (78 articles in all) share at least a fifth of their five-word
shingles. Five folds dealt by article (seed 2020) put 40 of those pairs on both sides, and a
fold model then meets its test article's phrases, and their gold spans, in training. So articles are first joined into groups
(connected by shingle overlap), and whole groups are dealt into folds.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping

from propscope.errors import InputError

SHINGLE_WORDS = 5
MIN_OVERLAP = 0.2  # shared shingles over the shorter article's shingles
COMMON_SHARE = 0.05  # shingles in more of the articles than this are boilerplate, not a shared story

GROUPING = f"near-duplicates: {SHINGLE_WORDS}-word shingles, overlap >= {MIN_OVERLAP}"


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def near_duplicate_pairs(texts: Mapping[str, str]) -> list[tuple[str, str, float]]:
    """Pairs of articles whose overlap reaches ``MIN_OVERLAP``, with the overlap, largest first."""
    sets = {article_id: shingles(text) for article_id, text in texts.items()}
    owners: defaultdict[tuple[str, ...], list[str]] = defaultdict(list)
    for article_id, found in sets.items():
        for shingle in found:
            owners[shingle].append(article_id)
    too_common = max(2, int(COMMON_SHARE * len(texts)))
    shared: Counter[tuple[str, str]] = Counter()
    for ids in owners.values():
        if 1 < len(ids) <= too_common:
            shared.update(itertools.combinations(sorted(ids), 2))
    pairs = [(a, b, n / min(len(sets[a]), len(sets[b]))) for (a, b), n in shared.items()]
    return sorted((p for p in pairs if p[2] >= MIN_OVERLAP), key=lambda p: (-p[2], p[0], p[1]))


def groups(texts: Mapping[str, str]) -> list[list[str]]:
    """The articles joined by near-duplicate pairs, each group sorted, in order of first id."""
    parent = {article_id: article_id for article_id in texts}

    def root(article_id: str) -> str:
        while parent[article_id] != article_id:
            parent[article_id] = parent[parent[article_id]]
            article_id = parent[article_id]
        return article_id

    for a, b, _ in near_duplicate_pairs(texts):
        parent[root(a)] = root(b)
    joined: defaultdict[str, list[str]] = defaultdict(list)
    for article_id in sorted(texts):
        joined[root(article_id)].append(article_id)
    return sorted(joined.values())


def assign(texts: Mapping[str, str], k: int, seed: int) -> dict[str, int]:
    """Deal the articles into ``k`` folds of near-equal size, a group of near-duplicates always
    in one fold: the groups in a seeded order, largest first, each to the smallest fold."""
    if k < 2:
        raise InputError(f"--folds {k}: cross-validation needs at least 2 folds")
    if len(texts) < k:
        raise InputError(f"--folds {k}: the folder has only {len(texts)} articles, fewer than the folds")
    order = groups(texts)
    random.Random(seed).shuffle(order)
    order.sort(key=len, reverse=True)  # stable: the shuffle still orders groups of one size
    sizes = [0] * k
    assignment: dict[str, int] = {}
    for group in order:
        fold = min(range(k), key=lambda f: (sizes[f], f))
        sizes[fold] += len(group)
        assignment.update(dict.fromkeys(group, fold))
    return assignment


def fold_ids(assignment: Mapping[str, int], fold: int) -> list[str]:
    """The articles of ``fold``, sorted."""
    return sorted(i for i, f in assignment.items() if f == fold)
