"""Sequence labelling's pure parts on hand-checkable examples (and a slow entity reference)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from transferscout.kinds.tagging import (
    IGNORE,
    bio_violations,
    first_piece_labels,
    is_bio,
    lenient_bio,
    sequence_metrics,
    token_loss,
    word_predictions,
)


def _entities(sentences: list[list[str]]) -> set[tuple[int, int, int, str]]:
    """Slow reference: (sentence, start, end, type) of every entity, lenient IOB2."""
    found = set()
    for s, tags in enumerate(sentences):
        start, kind = None, ""
        for i, tag in enumerate([*tags, "O"]):
            continues = tag.startswith("I-") and start is not None and tag[2:] == kind
            if start is not None and not continues:
                found.add((s, start, i - 1, kind))
                start = None
            if tag != "O" and not continues:
                start, kind = i, tag[2:]
    return found


def test_bio_violations_and_the_lenient_reading() -> None:
    tags = ["O", "I-PER", "B-LOC", "I-PER", "I-PER", "B-ORG", "I-ORG"]
    assert bio_violations(tags) == [1, 3]  # position 4 follows I-PER: fine
    assert lenient_bio(tags) == ["O", "B-PER", "B-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    assert bio_violations(["B-X", "I-X", "O"]) == []
    assert is_bio(["O", "B-PER", "I-PER"]) and not is_bio(["NN", "VB"]) and not is_bio(["B-"])


def test_entity_f1_by_hand() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    # PER exact (right); LOC typed ORG (wrong); ORG cut short (wrong); an extra PER (wrong)
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-PER", "B-ORG", "O"]]
    metrics = sequence_metrics(gold, predicted)
    # 1 correct of 4 predicted, of 3 gold: P = 1/4, R = 1/3, F1 = 2/7; 4 of 7 tags right
    assert metrics["precision"] == pytest.approx(1 / 4)
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["entity_f1"] == pytest.approx(2 / 7)
    assert metrics["token_accuracy"] == pytest.approx(4 / 7)


def test_an_i_tag_without_its_b_counts_as_an_entity_start() -> None:
    # gold "I-PER I-PER" is one PER entity read leniently; the prediction B-PER I-PER matches
    metrics = sequence_metrics([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert metrics["entity_f1"] == 1.0 and metrics["token_accuracy"] == pytest.approx(2 / 3)


def test_entity_metrics_match_the_slow_reference_on_random_tags() -> None:
    rng = random.Random(0)
    tags = ["O", "O", "B-A", "I-A", "B-B", "I-B"]
    for _ in range(30):
        gold = [[rng.choice(tags) for _ in range(rng.randint(1, 8))] for _ in range(4)]
        predicted = [[rng.choice(tags) for _ in s] for s in gold]
        g, p = _entities(gold), _entities(predicted)
        precision = len(g & p) / len(p) if p else 0.0
        recall = len(g & p) / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics = sequence_metrics(gold, predicted)
        assert metrics["entity_f1"] == pytest.approx(f1, abs=1e-12)
        assert metrics["precision"] == pytest.approx(precision, abs=1e-12)
        assert metrics["recall"] == pytest.approx(recall, abs=1e-12)


def test_tags_that_are_not_bio_have_no_entities() -> None:
    metrics = sequence_metrics([["NN", "VB"]], [["NN", "NN"]])
    assert math.isnan(metrics["entity_f1"]) and metrics["token_accuracy"] == 0.5
    with pytest.raises(ValueError, match="same sentences"):
        sequence_metrics([["O"]], [["O", "O"]])


def test_labels_go_on_the_first_word_piece() -> None:
    # [CLS] new ##york is big [SEP]: words 0 (two pieces), 1, 2
    word_ids = [None, 0, 0, 1, 2, None]
    assert first_piece_labels(word_ids, [3, 0, 1]) == [IGNORE, 3, IGNORE, 0, 1, IGNORE]
    assert word_predictions(word_ids, [9, 3, 4, 0, 1, 9], 3) == [3, 0, 1]
    # truncated: word 2 lost
    assert word_predictions([None, 0, 1, None], [0, 5, 6, 0], 3) == [5, 6, None]


def test_labels_from_a_real_tokenizer_word_ids(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir, local_files_only=True)
    words = ["flood", "watery", "rising"]  # "watery"/"rising" are not whole words in its vocab
    encoding = tokenizer(words, is_split_into_words=True)
    word_ids = encoding.word_ids()
    labels = first_piece_labels(word_ids, [1, 2, 0])
    firsts = [i for i, w in enumerate(word_ids) if w is not None and w != word_ids[i - 1]]
    assert [labels[i] for i in firsts] == [1, 2, 0]
    assert sum(label != IGNORE for label in labels) == 3
    assert len(labels) > 5  # some word was split into several pieces


def test_token_loss_skips_ignored_pieces() -> None:
    logits = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[IGNORE, 2, IGNORE, 0], [1, IGNORE, IGNORE, IGNORE]])
    kept = [(0, 1, 2), (0, 3, 0), (1, 0, 1)]
    expected = torch.stack([-torch.log_softmax(logits[b, t], dim=-1)[y] for b, t, y in kept]).mean()
    assert torch.allclose(token_loss(logits, labels), expected, atol=1e-6)


def test_a_tag_that_training_lacks_is_refused() -> None:
    from transferscout.errors import DataError
    from transferscout.kinds import get_kind
    from transferscout.kinds.tagging import sentence_labels

    kind = get_kind("tagging")
    train = sentence_labels([(0, 2), (2, 2), (1, 2)])  # tags 0, 1, 2
    seen = sentence_labels([(2, 0), (1,)])
    kind.check("ner", [("train", train), ("validation", seen), ("test", seen)], 1, "t.csv")
    unseen = sentence_labels([(2, 3), (0, 4, 3)])
    with pytest.raises(DataError) as error:
        kind.check("ner", [("train", train), ("validation", seen), ("test", unseen)], 1, "t.csv")
    assert str(error.value).startswith(
        "t.csv: task 'ner': tag id(s) [3, 4] occur in the test split but never in training"
    )


def test_tag_macro_f1_by_hand() -> None:
    from transferscout.kinds.tagging import tag_macro_f1

    # NN: 2 right of 3 gold, 2 predicted -> F1 2*2/(3+2) = 0.8; VB: 1 right, 1 gold, 3
    # predicted -> 2/4; JJ: gold once, never predicted -> 0; mean (0.8 + 0.5 + 0) / 3
    gold = ["NN", "NN", "NN", "VB", "JJ"]
    predicted = ["NN", "NN", "VB", "VB", "VB"]
    assert tag_macro_f1(gold, predicted) == pytest.approx((0.8 + 0.5 + 0) / 3)
    assert tag_macro_f1([], []) == 0.0


def test_part_of_speech_tags_are_scored_by_token_accuracy() -> None:
    """Issue 31.1: tags without B-/I- chunks get a defined primary metric, never entity F1."""
    from transferscout.errors import ConfigError, DataError
    from transferscout.kinds import get_kind
    from transferscout.kinds.tagging import sentence_labels, tagging_kind

    pos = ("DET", "NOUN", "VERB")
    assert tagging_kind(pos) is get_kind("tagging-accuracy")
    assert tagging_kind(("B-LOC", "I-LOC", "O")) is get_kind("tagging")
    assert tagging_kind(pos, "macro_f1") is get_kind("tagging-macro-f1")
    assert get_kind("tagging").for_classes(pos) is get_kind("tagging-accuracy")
    with pytest.raises(ConfigError, match="'auto', 'entity_f1', 'token_accuracy', 'macro_f1'"):
        tagging_kind(pos, "accuracy")
    kind = tagging_kind(pos)
    labels = sentence_labels([(0, 1, 2), (1, 2)])
    # the dog runs / dogs run, predicted DET NOUN NOUN / NOUN VERB: 4 of 5 words right
    metrics = kind.metrics(labels, [[0, 1, 1], [1, 2]], classes=pos)
    assert metrics["token_accuracy"] == pytest.approx(4 / 5)
    # DET 1.0; NOUN 2*2/(2+3) = 0.8; VERB 2*1/(2+1) = 2/3
    assert metrics["tag_macro_f1"] == pytest.approx((1 + 0.8 + 2 / 3) / 3)
    assert "entity_f1" not in metrics  # undefined, so not recorded as a NaN
    assert kind.primary_metric == "token_accuracy" and kind.metric_label == "token accuracy"
    # entity F1 stated for such tags is refused, naming what to write instead
    with pytest.raises(DataError, match=r"not BIO chunks.*metric = \"token_accuracy\""):
        tagging_kind(pos, "entity_f1").check("pos", [("train", labels)], 1, "p.conllu", classes=pos)
