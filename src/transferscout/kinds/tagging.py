"""Sequence labelling, the pure parts: BIO tags, first-word-piece labels, token loss, metrics.

One tag per word.  Tags follow BIO (IOB2) when every tag is ``O`` or ``B-X``/``I-X``: an
entity is a ``B-X`` followed by ``I-X`` of the same type.  An ``I-X`` that does not follow a
``B-X`` or ``I-X`` breaks IOB2; :func:`bio_violations` reports it and :func:`lenient_bio`
reads it the usual lenient way (as ``B-X``: it starts an entity), which is also how
``seqeval``'s default mode counts it.

Words are split into word pieces by the tokenizer; the word's tag goes on its first piece and
every other piece (and every special token) gets :data:`IGNORE`, which the loss skips.

This module is not yet a registered task kind (see ``KINDS``): the data, training and signal
stages do not carry token-level labels yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "IGNORE",
    "bio_violations",
    "first_piece_labels",
    "is_bio",
    "lenient_bio",
    "sequence_metrics",
    "token_loss",
    "word_predictions",
]

#: The label of a word piece the loss ignores (PyTorch's cross-entropy default).
IGNORE = -100


def is_bio(tags: Sequence[str]) -> bool:
    """Whether every tag is ``O``, ``B-<type>`` or ``I-<type>`` (a BIO/IOB2 tag set)."""
    return all(t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2) for t in tags)


def bio_violations(tags: Sequence[str]) -> list[int]:
    """Positions of the ``I-X`` tags that follow neither ``B-X`` nor ``I-X``.

    Example: ``["O", "I-PER", "B-LOC", "I-PER"]`` -> ``[1, 3]``.
    """
    bad: list[int] = []
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            bad.append(i)
        previous = tag
    return bad


def lenient_bio(tags: Sequence[str]) -> list[str]:
    """The tags with each IOB2-breaking ``I-X`` read as ``B-X`` (it starts an entity)."""
    out = list(tags)
    for i in bio_violations(tags):
        out[i] = "B-" + out[i][2:]
    return out


def first_piece_labels(word_ids: Sequence[int | None], word_tags: Sequence[int]) -> list[int]:
    """One label per word piece: the word's tag on its first piece, :data:`IGNORE` elsewhere.

    ``word_ids`` are a tokenizer's ``word_ids()`` for one sentence (``None`` for special
    tokens); ``word_tags`` one tag id per word.  Words cut off by truncation get no label.
    """
    labels: list[int] = []
    previous: int | None = None
    for word in word_ids:
        labels.append(IGNORE if word is None or word == previous else int(word_tags[word]))
        previous = word
    return labels


def word_predictions(
    word_ids: Sequence[int | None], piece_predictions: Sequence[int], n_words: int
) -> list[int | None]:
    """The prediction of each word: its first piece's (``None`` for a truncated word)."""
    out: list[int | None] = [None] * n_words
    previous: int | None = None
    for word, predicted in zip(word_ids, piece_predictions, strict=True):
        if word is not None and word != previous:
            out[word] = int(predicted)
        previous = word
    return out


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled pieces (:data:`IGNORE` skipped).

    Shape:
        logits: ``(batch, pieces, tags)``; labels: ``(batch, pieces)``.
    """
    import torch

    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE
    )


def sequence_metrics(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 (``seqeval``'s definition) and token accuracy.

    Entities are read from BIO tags leniently (:func:`lenient_bio`).  An entity counts as
    correct only when its type, start and end all match.  When the gold and predicted tags
    are not all BIO, entities are undefined and the entity metrics are NaN (token accuracy
    is still recorded).  Precision (recall) with nothing predicted (nothing gold) is 0.
    """
    if len(gold) != len(predicted) or any(
        len(g) != len(p) for g, p in zip(gold, predicted, strict=True)
    ):
        raise ValueError("gold and predicted tags must have the same sentences and lengths")
    flat_gold = [t for sentence in gold for t in sentence]
    flat_predicted = [t for sentence in predicted for t in sentence]
    accuracy = (
        float(np.mean([g == p for g, p in zip(flat_gold, flat_predicted, strict=True)]))
        if flat_gold
        else 0.0
    )
    if not is_bio(flat_gold + flat_predicted):
        nan = float("nan")
        return {"entity_f1": nan, "precision": nan, "recall": nan, "token_accuracy": accuracy}
    from seqeval.metrics import f1_score, precision_score, recall_score

    y_true = [lenient_bio(s) for s in gold]
    y_pred = [lenient_bio(s) for s in predicted]
    return {
        "entity_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, average="micro", zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, average="micro", zero_division=0)),
        "token_accuracy": accuracy,
    }
