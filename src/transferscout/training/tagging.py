"""Token classification: tokenise tagged sentences once, batch them, read tags back per word.

Each word's tag goes on its first word piece; the other pieces and the special tokens get
:data:`~transferscout.kinds.tagging.IGNORE` (see :func:`first_piece_labels`).  Predictions
are read back from the same first pieces, so a sentence's predicted tags line up with its
words; a word lost to truncation is predicted ``O`` (it can only be missed, never invented).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from transferscout.encoders.adapter import family_of
from transferscout.kinds.tagging import IGNORE, first_piece_labels, word_predictions
from transferscout.training.data import EncodedTexts, padded_batches

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["EncodedTagged", "encode_tagged", "predict_tags", "tagged_batches"]


@dataclass(frozen=True)
class EncodedTagged:
    """Word pieces of tagged sentences, one label per piece, and each piece's word."""

    encoded: EncodedTexts
    labels: list[list[int]]
    word_ids: list[list[int | None]]
    n_words: list[int]

    def __len__(self) -> int:
        return len(self.encoded)


def encode_tagged(
    tokenizer: PreTrainedTokenizerBase,
    words: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]] | None,
    max_length: int,
) -> EncodedTagged:
    """Tokenise sentences given as words (``tag_ids``: one per word, or ``None`` to predict)."""
    encoded = tokenizer(
        [list(w) for w in words], is_split_into_words=True, truncation=True, max_length=max_length
    )
    word_ids = [list(encoded.word_ids(i)) for i in range(len(words))]
    tags = tag_ids if tag_ids is not None else [[IGNORE] * len(w) for w in words]
    labels = [first_piece_labels(ids, t) for ids, t in zip(word_ids, tags, strict=True)]
    pad = int(tokenizer.pad_token_id or 0)
    texts = EncodedTexts([list(ids) for ids in encoded["input_ids"]], pad)
    return EncodedTagged(texts, labels, word_ids, [len(w) for w in words])


def tagged_batches(
    tagged: EncodedTagged,
    order: Sequence[int] | npt.NDArray[np.integer],
    batch_size: int,
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, torch.Tensor]]]:
    """:func:`~transferscout.training.data.padded_batches` plus ``labels`` padded with IGNORE."""
    for index, batch in padded_batches(tagged.encoded, order, batch_size):
        labels = torch.full_like(batch["input_ids"], IGNORE)
        for r, i in enumerate(index):
            labels[r, : len(tagged.labels[i])] = torch.tensor(tagged.labels[i])
        yield index, {**batch, "labels": labels}


@torch.no_grad()
def predict_tags(
    model: torch.nn.Module,
    tagged: EncodedTagged,
    tag_names: Sequence[str],
    *,
    batch_size: int = 64,
) -> list[list[str]]:
    """The predicted tag of every word (its first piece's arg-max; ``O`` when truncated)."""
    model.eval()
    device = next(model.parameters()).device
    family = family_of(model)
    out: list[list[str]] = [[] for _ in range(len(tagged))]
    for index, batch in tagged_batches(tagged, np.arange(len(tagged)), batch_size):
        del batch["labels"]
        inputs = {k: v.to(device) for k, v in family.model_inputs(batch).items()}
        predicted = model(**inputs).logits.argmax(dim=-1).cpu().tolist()
        for r, i in enumerate(index):
            words = word_predictions(
                tagged.word_ids[i], predicted[r][: len(tagged.word_ids[i])], tagged.n_words[i]
            )
            out[i] = ["O" if p is None else tag_names[p] for p in words]
    return out
