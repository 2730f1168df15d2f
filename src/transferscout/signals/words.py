"""From per-token conductance to per-word scores (SPEC §5.1).

Per document and layer, token scores are divided by their L2 norm over the document's real
tokens (so each lies in [-1, 1]); word pieces are merged into words (a word's score is the sum
of its pieces' normalised scores); ``[CLS]``, ``[SEP]`` and padding are dropped; and a word's
score is averaged over the layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["normalise_tokens", "word_scores"]


def normalise_tokens(scores: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Divide each layer's token scores by their L2 norm (a zero row stays zero).

    Shape:
        scores: ``(n_layers, n_tokens)`` for one document's real tokens; same shape out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    norms = np.linalg.norm(scores, axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = np.zeros_like(scores)
    np.divide(scores, norms, out=out, where=norms > 0)
    return out


def word_scores(
    scores: npt.NDArray[np.floating], word_ids: Sequence[int | None]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-word scores of one document: ``(per_layer (n_layers, n_words), mean over layers)``.

    Shape:
        scores: ``(n_layers, n_tokens)`` raw conductance of the document's real tokens;
        ``word_ids[t]`` is the word of token ``t`` (``None`` for special tokens), words
        numbered ``0 … n_words − 1`` as a fast tokenizer's ``word_ids()`` gives them.
    """
    if len(word_ids) != np.shape(scores)[-1]:
        raise ValueError(
            f"one word id per token is needed; got {len(word_ids)} for "
            f"{np.shape(scores)[-1]} tokens"
        )
    normalised = normalise_tokens(scores)
    words = [w for w in word_ids if w is not None]
    n_words = max(words) + 1 if words else 0
    per_layer = np.zeros((normalised.shape[0], n_words), dtype=np.float64)
    for token, word in enumerate(word_ids):
        if word is not None:
            per_layer[:, word] += normalised[:, token]
    return per_layer, per_layer.mean(axis=0)
