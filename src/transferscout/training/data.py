"""Tokenise a split once and serve it in dynamically padded batches.

Text pairs are encoded as the tokenizer's sentence pairs (``[CLS] a [SEP] b [SEP]`` for BERT),
with the token types the tokenizer gives the second text; single texts get token type 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["EncodedExamples", "EncodedTexts", "encode_texts", "example_batches", "padded_batches"]


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids of each text (truncated, with special tokens) and the padding id.

    ``token_type_ids`` are kept for text pairs when the tokenizer gives them (``None``: all 0).
    """

    input_ids: list[list[int]]
    pad_token_id: int
    token_type_ids: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Token count of each text."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64)


def encode_texts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int,
    pairs: Sequence[str] | None = None,
) -> EncodedTexts:
    """Tokenise ``texts`` (with their second texts ``pairs``) once, to ``max_length`` tokens.

    A pair is truncated longest-first, so both texts keep a share of the length.
    """
    pad = int(tokenizer.pad_token_id or 0)
    if pairs is None:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
        return EncodedTexts([list(ids) for ids in encoded["input_ids"]], pad)
    encoded = tokenizer(list(texts), list(pairs), truncation=True, max_length=max_length)
    types = encoded.get("token_type_ids")
    return EncodedTexts(
        [list(ids) for ids in encoded["input_ids"]],
        pad,
        None if types is None else [list(t) for t in types],
    )


def padded_batches(
    encoded: EncodedTexts,
    order: Sequence[int] | npt.NDArray[np.integer],
    batch_size: int,
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, torch.Tensor]]]:
    """Yield ``(indices, batch)`` for consecutive chunks of ``order``.

    Each batch is padded only to its own longest text (dynamic padding): ``input_ids``,
    ``attention_mask`` (1 for real tokens) and ``token_type_ids`` (the pair's, else all 0),
    as int64 tensors.
    """
    positions: npt.NDArray[np.intp] = np.asarray(order, dtype=np.intp)
    for start in range(0, len(positions), batch_size):
        index = positions[start : start + batch_size]
        rows = [encoded.input_ids[i] for i in index]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), encoded.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        types = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, : len(row)] = 1
            if encoded.token_type_ids is not None:
                types[r, : len(row)] = torch.tensor(encoded.token_type_ids[index[r]])
        yield (
            index,
            {
                "input_ids": ids,
                "attention_mask": mask,
                "token_type_ids": types,
            },
        )


@dataclass(frozen=True)
class EncodedExamples:
    """A split as model inputs: one row (a *feature*) per example, or per window of a long one.

    What a task kind's :meth:`~transferscout.kinds.TaskKind.encode` returns, and what training,
    prediction and the signals batch.

    Attributes:
        texts: The token ids (and token types) of each feature.
        labels: Per feature, what the kind's ``collate`` turns into the loss's labels (a class
            id, a value, a list of per-piece tag ids, a start/end pair …); ``None`` when the
            split was encoded to predict only.
        example_of: The index (in the split) of the example each feature belongs to.
        word_ids: Per feature, the word of each piece (``None`` for special tokens) — kinds
            that label words; ``None`` otherwise.
        extra: Anything else a kind keeps per feature to read its predictions back (QA:
            offsets of the pieces in the context); other code never reads it.
    """

    texts: EncodedTexts
    labels: list[Any] | None
    example_of: npt.NDArray[np.intp]
    word_ids: list[list[int | None]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Token count of each feature."""
        return self.texts.lengths


def example_batches(
    encoded: EncodedExamples,
    order: Sequence[int] | npt.NDArray[np.integer],
    batch_size: int,
    collate: Callable[[list[Any], int], torch.Tensor] | None = None,
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, torch.Tensor]]]:
    """:func:`padded_batches` of the features, plus ``labels`` from ``collate`` when given.

    ``collate(labels of the batch's features, batch width)`` is the kind's
    :meth:`~transferscout.kinds.TaskKind.collate`.
    """
    for index, batch in padded_batches(encoded.texts, order, batch_size):
        if collate is not None and encoded.labels is not None:
            width = int(batch["input_ids"].shape[1])
            batch["labels"] = collate([encoded.labels[i] for i in index], width)
        yield index, batch
