"""Extractive QA, pure parts: SQuAD normalisation, F1 and exact match, span positions, best span."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from transferscout.kinds.qa import (
    answer_f1,
    answer_token_span,
    best_span,
    exact_match,
    normalise_answer,
    qa_metrics,
    span_loss,
)


def test_normalisation_removes_case_punctuation_articles_and_spaces() -> None:
    assert normalise_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalise_answer("  a Tent, an Oven and THE well ") == "tent oven and well"
    # articles are whole words only: "theatre", "anna", "a." keep or lose exactly what they should
    assert normalise_answer("Theatre of Anna") == "theatre of anna"
    assert normalise_answer("A.") == ""
    assert normalise_answer("\tnew\nyork ") == "new york"


def test_exact_match_and_f1_on_hand_examples() -> None:
    gold = ["Denver Broncos", "The Denver Broncos", "Broncos"]
    assert exact_match("the denver broncos.", gold) == 1.0
    assert exact_match("Denver", gold) == 0.0
    # "denver" against "broncos" (0), "denver broncos" (2*1/3), best of three
    assert answer_f1("Denver", gold) == pytest.approx(2 / 3)
    # 2 common of 3 predicted and 2 gold words: P 2/3, R 1, F1 0.8
    assert answer_f1("Denver Broncos won", ["the Denver Broncos"]) == pytest.approx(0.8)
    # words are a multiset: "water water" shares one "water" with "water": P 1/2, R 1
    assert answer_f1("water water", ["water"]) == pytest.approx(2 / 3)
    assert answer_f1("send tents", ["rice"]) == 0.0
    # both normalise to nothing: exact match, but F1 0 as in the v1.1 script
    assert exact_match("the", ["a"]) == 1.0 and answer_f1("the", ["a"]) == 0.0
    scores = qa_metrics([["Denver Broncos"], ["rice", "beans"]], ["Denver Broncos", "rice beans"])
    assert scores == pytest.approx({"f1": (1.0 + 2 / 3) / 2, "exact_match": 0.5})
    with pytest.raises(ValueError, match="2 questions but 1"):
        qa_metrics([["a"], ["b"]], ["a"])


def _reference_f1(predicted: list[str], gold: list[str]) -> float:
    """Precision and recall by counting matches one word at a time (the slow definition)."""
    remaining = list(gold)
    common = 0
    for word in predicted:
        if word in remaining:
            remaining.remove(word)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def test_f1_matches_the_precision_recall_definition() -> None:
    rng = np.random.default_rng(0)
    vocabulary = ["water", "food", "tent", "city", "road"]
    for _ in range(200):
        predicted = list(rng.choice(vocabulary, size=rng.integers(1, 6)))
        golds = [list(rng.choice(vocabulary, size=rng.integers(1, 6))) for _ in range(3)]
        expected = max(_reference_f1(predicted, g) for g in golds)
        assert answer_f1(" ".join(predicted), [" ".join(g) for g in golds]) == pytest.approx(
            expected, abs=1e-12
        )


# [CLS] where to go [SEP] send water to the city [SEP]
CONTEXT = "send water to the city"
OFFSETS = [(0, 0), (0, 5), (6, 8), (9, 11), (0, 0), (0, 4), (5, 10), (11, 13), (14, 17), (18, 22)]
OFFSETS += [(0, 0)]
IN_CONTEXT = [False] * 5 + [True] * 5 + [False]


def test_answer_characters_map_to_token_positions() -> None:
    start = CONTEXT.index("the city")
    assert answer_token_span(OFFSETS, IN_CONTEXT, start, start + 8) == (8, 9)
    assert answer_token_span(OFFSETS, IN_CONTEXT, 0, 4) == (5, 5)
    # a window that stops after "water" does not hold "the city" (nor a span crossing its end)
    window = IN_CONTEXT[:7] + [False] * 4
    assert answer_token_span(OFFSETS, window, start, start + 8) is None
    assert answer_token_span(OFFSETS, window, 5, 13) is None
    assert answer_token_span(OFFSETS, window, 5, 10) == (6, 6)
    # a window that starts at "to" does not hold "send"
    assert answer_token_span(OFFSETS, [False] * 7 + [True] * 3 + [False], 0, 4) is None
    # word pieces: "wa" "##ter" both belong to the answer "water"
    pieces = [(0, 0), (0, 4), (5, 7), (7, 10), (0, 0)]
    assert answer_token_span(pieces, [False, True, True, True, False], 5, 10) == (2, 3)
    # an answer inside one piece ("ate" of "water") still points at that piece
    assert answer_token_span(pieces, [False, True, True, True, False], 6, 9) == (2, 3)
    # SentencePiece-style offsets that include the leading space: "▁water" is (4, 10)
    spaced = [(0, 0), (0, 4), (4, 10), (10, 13), (0, 0)]
    assert answer_token_span(spaced, [False, True, True, True, False], 5, 10) == (2, 2)


def test_best_span_is_the_best_valid_one() -> None:
    inside = np.array(IN_CONTEXT)
    start = np.zeros(11)
    end = np.zeros(11)
    start[[1, 8, 9]] = [9.0, 3.0, 1.0]  # token 1 is in the question: never a start
    end[[6, 9]] = [5.0, 4.0]  # ending at 6 would end before the best start 8
    assert best_span(start, end, inside, max_answer_tokens=30) == (7.0, 8, 9)
    # one token at most: "the" (3 + 0) loses to "water" (0 + 5) and "city" (1 + 4), which
    # tie: the earlier start wins
    assert best_span(start, end, inside, max_answer_tokens=1) == (5.0, 6, 6)
    assert best_span(start, end, np.zeros(11, dtype=bool), max_answer_tokens=30) is None


def test_best_span_equals_brute_force() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(3, 12))
        start, end = rng.normal(size=n), rng.normal(size=n)
        inside = rng.random(n) < 0.7
        limit = int(rng.integers(1, 5))
        candidates = [
            (start[s] + end[e], s, e)
            for s, e in itertools.product(range(n), repeat=2)
            if inside[s] and inside[e] and 0 <= e - s < limit
        ]
        found = best_span(start, end, inside, max_answer_tokens=limit)
        if not candidates:
            assert found is None
            continue
        best = max(candidates, key=lambda c: (c[0], -c[1], -c[2]))
        assert found is not None
        assert found[1:] == best[1:] and math.isclose(found[0], best[0])


def test_span_loss_is_the_mean_of_start_and_end_cross_entropy_ignoring_padding() -> None:
    torch.manual_seed(0)
    start, end = torch.randn(2, 5), torch.randn(2, 5)
    starts, ends = torch.tensor([1, 0]), torch.tensor([3, 0])
    mask = torch.ones(2, 5, dtype=torch.long)
    expected = 0.0
    for logits, gold in ((start, starts), (end, ends)):
        log_p = torch.log_softmax(logits, dim=-1)
        expected += -(log_p[0, gold[0]] + log_p[1, gold[1]]).item() / 2 / 2
    assert span_loss(start, end, starts, ends, mask).item() == pytest.approx(expected, rel=1e-6)
    # two padding tokens with any logits change nothing
    padded = [torch.cat([x, torch.full((2, 2), 50.0)], dim=1) for x in (start, end)]
    padded_mask = torch.cat([mask, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    assert span_loss(*padded, starts, ends, padded_mask).item() == pytest.approx(expected, rel=1e-6)
