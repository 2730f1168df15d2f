"""Token classification through the tagging kind: first-piece labels, training, entity F1."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from transferscout.encoders import load_encoder
from transferscout.kinds import IGNORE, get_kind
from transferscout.kinds.tagging import piece_words, sentence_labels
from transferscout.tasks.task import Split
from transferscout.training.data import example_batches
from transferscout.training.finetune import evaluate, predict, train_stage
from transferscout.training.settings import StageSettings

PLACES = ("village", "city", "bridge", "hospital")  # the gazetteer: tagged B-LOC
OTHER = ("need", "water", "food", "help", "people", "the", "in", "near", "send", "rain")
TAGS = ("O", "B-LOC")
TAGGING = get_kind("tagging")


def _split(words: list[list[str]], tags: list[list[int]]) -> Split:
    texts = tuple(" ".join(w) for w in words)
    return Split(tuple(map(str, range(len(words)))), texts, sentence_labels(tags))


def _gazetteer(n: int, seed: int) -> Split:
    """Sentences of 3-6 words; a word from the gazetteer is B-LOC, any other O."""
    rng = random.Random(seed)
    words = [[rng.choice(PLACES + OTHER) for _ in range(rng.randint(3, 6))] for _ in range(n)]
    return _split(words, [[int(w in PLACES) for w in sentence] for sentence in words])


def test_pieces_belong_to_words_by_their_offsets() -> None:
    # "new york ab": pieces "new", "york", "a", "##b" and the specials [CLS]/[SEP]
    offsets = [(0, 0), (0, 3), (4, 8), (9, 10), (10, 11), (0, 0)]
    assert piece_words(offsets, [1, 0, 0, 0, 0, 1], "new york ab") == [None, 0, 1, 2, 2, None]
    # a byte-level piece that starts at the space before its word belongs to that word
    assert piece_words([(3, 8)], [0], "new york") == [1]


def test_batches_carry_first_piece_labels(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir, local_files_only=True)
    split = _split([["need", "water"], ["city"]], [[0, 0], [1]])
    encoded = TAGGING.encode(tokenizer, split, 16)
    ((index, batch),) = example_batches(encoded, [0, 1], 2, TAGGING.collate)
    assert index.tolist() == [0, 1]
    # [CLS] need water [SEP] / [CLS] city [SEP] [PAD]: labels on words only
    assert batch["labels"].tolist() == [[IGNORE, 0, 0, IGNORE], [IGNORE, 1, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    # a word of several pieces is labelled on its first only ("vx" -> "v", "##x")
    long = TAGGING.encode(tokenizer, _split([["vx", "city"]], [[1, 0]]), 16)
    assert long.labels == [[IGNORE, 1, IGNORE, 0, IGNORE]]
    # truncation to 3 pieces keeps one word; the lost word is predicted None ("O"), never
    # invented
    short = TAGGING.encode(tokenizer, _split([["city", "village"]], [[1, 1]]), 3)
    assert short.labels == [[IGNORE, 1, IGNORE]] and short.word_ids == [[None, 0, None]]


@pytest.mark.slow
def test_a_tiny_token_classifier_learns_the_gazetteer(tiny_encoder_dir: Path) -> None:
    torch.manual_seed(0)
    encoder = load_encoder(tiny_encoder_dir, num_labels=len(TAGS), head=TAGGING.head)
    train, test = _gazetteer(64, seed=1), _gazetteer(32, seed=2)
    options = {"max_length": 32, "kind": TAGGING, "classes": TAGS}
    before = evaluate(encoder.model, encoder.tokenizer, test, **options)  # type: ignore[arg-type]
    settings = StageSettings(learning_rate=3e-3, epochs=6, batch_size=16, max_length=32)
    train_stage(
        encoder.model,
        encoder.tokenizer,
        train,
        settings,
        seed=0,
        device=torch.device("cpu"),
        kind=TAGGING,
    )
    after = evaluate(encoder.model, encoder.tokenizer, test, **options)  # type: ignore[arg-type]
    assert after["entity_f1"] > 0.95 > before["entity_f1"]
    assert after["token_accuracy"] > 0.95
    predicted = predict(encoder.model, encoder.tokenizer, test, max_length=32, kind=TAGGING)
    assert [len(p) for p in predicted] == [len(t.split()) for t in test.texts]
