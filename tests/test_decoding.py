import numpy as np
import pytest

from propscope.decoding import (
    DISABLED,
    N_CLASSES,
    N_FEATURES,
    DecodingParams,
    best_window,
    char_spans,
    cores,
    evidence_ranges,
    occurrences,
    paragraph_starts,
    pool,
    span_features,
    stitch,
    technique_probabilities,
    token_runs,
    too_long,
)
from propscope.techniques import TECHNIQUES
from propscope.text import Tokens


def word_tokens(text: str) -> Tokens:
    """One token per whitespace-separated word, like a tokenizer that never splits words."""
    spans, start = [], 0
    for word in text.split(" "):
        spans.append((start, start + len(word)))
        start += len(word) + 1
    return Tokens(ids=np.arange(len(spans)), char_spans=np.asarray(spans))


def test_stitch_averages_overlapping_windows() -> None:
    probs = stitch([np.array([0.2, 0.4, 0.6], np.float32), np.array([0.8, 1.0], np.float32)], [(0, 3), (2, 4)], 4)
    assert probs == pytest.approx([0.2, 0.4, 0.7, 1.0])


def test_stitch_refuses_gaps() -> None:
    with pytest.raises(ValueError, match="uncovered"):
        stitch([np.ones(2, np.float32)], [(0, 2)], 3)


def test_token_runs_hysteresis_and_gap_joining() -> None:
    probs = np.array([0.1, 0.4, 0.9, 0.4, 0.1, 0.35, 0.1, 0.45, 0.3, 0.6], np.float32)
    params = DecodingParams(high=0.5, low=0.3, max_gap=0)
    # the run 1..4 reaches 0.9; 5..6 never reaches high; 7..10 does
    assert token_runs(probs, params) == [(1, 4), (7, 10)]
    assert token_runs(probs, DecodingParams(high=0.5, low=0.3, max_gap=3)) == [(1, 10)]
    assert token_runs(np.zeros(5, np.float32), params) == []


def test_char_spans_snap_to_words_and_keep_token_ranges() -> None:
    text = "they are corrupt elite, sadly"
    tokens = word_tokens(text)
    assert char_spans(text, tokens, [(2, 4)], paragraph_starts(text, tokens)) == [(9, 22, 2, 4)]
    assert text[9:22] == "corrupt elite"


def test_char_spans_drop_runs_of_function_words_alone() -> None:
    text = "If this goes on, our harbour is lost and so are we. Ours!"
    tokens = word_tokens(text)
    runs = [(0, 2), (4, 6), (10, 12), (12, 13)]  # "If this", "our harbour", "are we.", "Ours!"
    assert [text[s:e] for s, e, _, _ in char_spans(text, tokens, runs, paragraph_starts(text, tokens))] == [
        "our harbour"
    ]


def test_char_spans_never_cross_a_blank_line() -> None:
    text = "a b\n \nc d"
    tokens = Tokens(ids=np.arange(4), char_spans=np.asarray([(0, 1), (2, 3), (6, 7), (8, 9)]))
    paragraphs = paragraph_starts(text, tokens)
    assert paragraphs.tolist() == [2]
    assert [text[s:e] for s, e, _, _ in char_spans(text, tokens, [(0, 4)], paragraphs)] == ["a b", "c d"]


def test_span_features_count_repetitions() -> None:
    text = "Ours. Not theirs. Ours."
    tokens = word_tokens(text)
    features = span_features(text, tokens, [(0, 4), (10, 16)])
    assert features.shape == (2, N_FEATURES)
    assert features[0, 1] == 1.0 and features[0, 0] == pytest.approx(np.log1p(1))
    assert features[1, 1] == 0.0


def test_pool_and_head_give_a_distribution() -> None:
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(6, 4)).astype(np.float32)
    pooled = pool(hidden, 1, 3)
    assert pooled[:4] == pytest.approx(hidden[1:3].mean(axis=0))
    assert pooled[4:8] == pytest.approx(hidden[1]) and pooled[8:] == pytest.approx(hidden[2])
    head = {
        "hidden_weight": rng.normal(size=(12 + N_FEATURES, 5)).astype(np.float32),
        "hidden_bias": np.zeros(5, np.float32),
        "out_weight": rng.normal(size=(5, N_CLASSES)).astype(np.float32),
        "out_bias": np.zeros(N_CLASSES, np.float32),
    }
    probs, none = technique_probabilities(pooled[None], np.zeros((1, N_FEATURES), np.float32), head)
    assert probs.shape == (1, 14) and probs.sum() == pytest.approx(1.0)
    assert none.shape == (1,) and 0 < none[0] < 1


def test_best_window_prefers_full_and_central_coverage() -> None:
    ranges = [(0, 10), (5, 15), (10, 20)]
    assert best_window(ranges, 8, 12) == 1
    assert best_window(ranges, 16, 19) == 2


def test_evidence_ranges_are_the_tokens_where_some_technique_channel_is_sure() -> None:
    tokens = word_tokens("they are corrupt elite")
    probs = np.zeros((4, 15), np.float32)
    probs[:, 0] = 0.9  # the "any technique" channel does not count
    probs[2, 5] = 0.4
    probs[3, 9] = 0.2
    assert evidence_ranges(tokens, probs, 0.3) == [(9, 16)]
    assert evidence_ranges(tokens, probs, 0.2) == [(9, 16), (17, 22)]
    assert evidence_ranges(tokens, probs, DISABLED) == []
    assert evidence_ranges(tokens, probs[:, :1], 0.0) == []  # a 0.1 model has no technique channels


def test_cores_are_the_stretches_that_reach_the_bar_inside_a_span() -> None:
    probs = np.array([0.9, 0.3, 0.6, 0.2, 0.7, 0.8, 0.1, 0.1, 0.65, 0.9], dtype=np.float32)
    assert cores(probs, 1, 9, 0.5) == [(2, 6), (8, 9)]  # one token's gap joined, two not
    assert cores(probs, 1, 9, 0.75) == [(5, 6)]
    assert cores(probs, 1, 9, 0.95) == []


def test_a_span_is_too_long_beside_its_technique_s_usual_length() -> None:
    lengths = {"Loaded_Language": 4, "Doubt": 20}
    loaded, doubt, slogans = (next(i for i, t in enumerate(TECHNIQUES) if t.ptc_label == label)
                              for label in ("Loaded_Language", "Doubt", "Slogans"))
    seven_words = "one two three four five six seven"
    assert too_long(seven_words, loaded, lengths, 1.5)
    assert not too_long(seven_words, loaded, lengths, 2.0)
    assert not too_long(seven_words, doubt, lengths, 1.0)
    assert not too_long(seven_words, slogans, lengths, 1.0)  # no length known: never too long
    assert not too_long(seven_words, loaded, lengths, 0.0)  # 0 turns the cut off


def test_occurrences_are_the_same_words_elsewhere_case_ignored() -> None:
    text = "Thugs burned it. The thugs, thuggish thugs! Not THUGS-like: thugs"
    first = text.index("thugs")
    found = [text[start:end] for start, end in occurrences(text, first, first + 5)]
    assert found == ["Thugs", "thugs", "THUGS", "thugs"]
    assert (first, first + 5) not in occurrences(text, first, first + 5)
    assert occurrences(text, 5, 6) == []  # a blank has no occurrences
