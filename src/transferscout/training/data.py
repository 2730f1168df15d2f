"""Tokenise a split once and serve it in dynamically padded batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["EncodedTexts", "encode_texts", "padded_batches"]


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids of each text (truncated, with special tokens) and the padding id."""

    input_ids: list[list[int]]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Token count of each text."""
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64)


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> EncodedTexts:
    """Tokenise ``texts`` once, truncating each to ``max_length`` tokens."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    pad = tokenizer.pad_token_id
    return EncodedTexts([list(ids) for ids in encoded["input_ids"]], int(pad or 0))


def padded_batches(
    encoded: EncodedTexts,
    order: Sequence[int] | npt.NDArray[np.integer],
    batch_size: int,
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, torch.Tensor]]]:
    """Yield ``(indices, batch)`` for consecutive chunks of ``order``.

    Each batch is padded only to its own longest text (dynamic padding): ``input_ids``,
    ``attention_mask`` (1 for real tokens) and ``token_type_ids`` (all 0), as int64 tensors.
    """
    positions: npt.NDArray[np.intp] = np.asarray(order, dtype=np.intp)
    for start in range(0, len(positions), batch_size):
        index = positions[start : start + batch_size]
        rows = [encoded.input_ids[i] for i in index]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), encoded.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[r, : len(row)] = 1
        yield (
            index,
            {
                "input_ids": ids,
                "attention_mask": mask,
                "token_type_ids": torch.zeros_like(ids),
            },
        )
