"""Token classification on a tiny gazetteer task: labels on first pieces, loss, entity F1."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from transferscout.kinds.tagging import IGNORE, sequence_metrics, token_loss
from transferscout.training.tagging import encode_tagged, predict_tags, tagged_batches

PLACES = ("village", "city", "bridge", "hospital")  # the gazetteer: tagged B-LOC
OTHER = ("need", "water", "food", "help", "people", "the", "in", "near", "send", "rain")
TAGS = ("O", "B-LOC")


def _gazetteer(n: int, seed: int) -> tuple[list[list[str]], list[list[int]]]:
    """Sentences of 3-6 words; a word from the gazetteer is B-LOC, any other O."""
    rng = random.Random(seed)
    words = [[rng.choice(PLACES + OTHER) for _ in range(rng.randint(3, 6))] for _ in range(n)]
    return words, [[int(w in PLACES) for w in sentence] for sentence in words]


def test_batches_carry_first_piece_labels(tiny_encoder_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir, local_files_only=True)
    tagged = encode_tagged(tokenizer, [["need", "water"], ["city"]], [[0, 0], [1]], 16)
    (index, batch), *_ = tagged_batches(tagged, [0, 1], 2)
    assert index.tolist() == [0, 1]
    # [CLS] need water [SEP] / [CLS] city [SEP] [PAD]: labels on words only
    assert batch["labels"].tolist() == [[IGNORE, 0, 0, IGNORE], [IGNORE, 1, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    # truncation to 3 pieces keeps one word; the lost word is predicted "O", never invented
    short = encode_tagged(tokenizer, [["city", "village"]], None, 3)
    assert short.labels == [[IGNORE, IGNORE, IGNORE]] and short.word_ids == [[None, 0, None]]


@pytest.mark.slow
def test_a_tiny_token_classifier_learns_the_gazetteer(tiny_encoder_dir: Path) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=len(TAGS), local_files_only=True
    )
    train_words, train_tags = _gazetteer(64, seed=1)
    test_words, test_tags = _gazetteer(32, seed=2)
    train = encode_tagged(tokenizer, train_words, train_tags, 32)
    test = encode_tagged(tokenizer, test_words, None, 32)
    gold = [[TAGS[t] for t in sentence] for sentence in test_tags]
    before = sequence_metrics(gold, predict_tags(model, test, TAGS))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    rng = np.random.default_rng(0)
    for _ in range(6):
        for _, batch in tagged_batches(train, rng.permutation(len(train)), 16):
            labels = batch.pop("labels")
            loss = token_loss(model(**batch).logits, labels)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad()
    after = sequence_metrics(gold, predict_tags(model, test, TAGS))
    assert after["entity_f1"] > 0.95 > before["entity_f1"]
    assert after["token_accuracy"] > 0.95
