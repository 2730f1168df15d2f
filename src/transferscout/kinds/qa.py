"""Extractive question answering, the pure parts: answer metrics, span positions, best span.

A question comes with a context; its answer is a span of the context, given as the answer's
text and the character offset where it starts (SQuAD v1.1).  A question may have several gold
answers (SQuAD's evaluation sets give up to three annotators' spans); a prediction scores its
best match among them.

Metrics are SQuAD v1.1's: both texts are normalised (lower case, punctuation removed, the
articles *a*, *an*, *the* removed, runs of white space collapsed); **exact match** is 1 when
the normalised texts are equal, **F1** is the harmonic mean of the precision and recall of the
normalised words (as multisets).  As in the v1.1 evaluation script, a pair with no common
word scores F1 0 — also when both normalise to nothing (exact match is then 1).  Unlike the
script, scores stay in [0, 1] (not percentages).

The model reads a question and a window of its context as one token sequence and predicts,
at every token, a start logit and an end logit.  :func:`answer_token_span` maps the gold
answer's characters to the window's token positions (:data:`NO_ANSWER_POSITION` when the
answer is not inside the window); :func:`best_span` reads the best valid span back.

Unanswerable questions (SQuAD 2.0) are out of scope: every question has an answer.

This module is not yet a registered task kind (see ``KINDS``).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

__all__ = [
    "Answer",
    "NO_ANSWER_POSITION",
    "answer_f1",
    "answer_token_span",
    "best_span",
    "exact_match",
    "normalise_answer",
    "qa_metrics",
    "span_loss",
]

#: Where a window without the answer points its start and end labels: the first token
#: (``[CLS]``/``<s>``), as is usual for SQuAD; predictions never read a span there.
NO_ANSWER_POSITION = 0


@dataclass(frozen=True)
class Answer:
    """One gold answer: its text and the character where it starts in the context."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """One past the answer's last character."""
        return self.start + len(self.text)


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces.

    Example: ``"The  Eiffel-Tower!"`` -> ``"eiffeltower"``.
    """
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised gold answer, else 0.0."""
    predicted = normalise_answer(prediction)
    return float(any(predicted == normalise_answer(g) for g in gold))


def answer_f1(prediction: str, gold: Sequence[str]) -> float:
    """The best word-overlap F1 of ``prediction`` against any of the ``gold`` answers.

    With ``p`` and ``g`` the normalised words (multisets) and ``c = |p ∩ g|``:
    ``F1 = 2 c / (|p| + |g|)`` (precision ``c/|p|``, recall ``c/|g|``), 0 when ``c = 0``.
    """
    predicted = normalise_answer(prediction).split()
    best = 0.0
    for answer in gold:
        words = normalise_answer(answer).split()
        common = sum((Counter(predicted) & Counter(words)).values())
        if common:
            best = max(best, 2.0 * common / (len(predicted) + len(words)))
    return best


def qa_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[str]) -> dict[str, float]:
    """Mean SQuAD F1 and exact match over questions (each against its own gold answers)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} questions but {len(predicted)} predicted answers")
    if not gold:
        raise ValueError("no questions to score")
    return {
        "f1": float(np.mean([answer_f1(p, g) for p, g in zip(predicted, gold, strict=True)])),
        "exact_match": float(
            np.mean([exact_match(p, g) for p, g in zip(predicted, gold, strict=True)])
        ),
    }


def answer_token_span(
    offsets: Sequence[tuple[int, int]],
    in_context: Sequence[bool],
    start_char: int,
    end_char: int,
) -> tuple[int, int] | None:
    """The token positions of the first and last token of an answer, if the window holds it.

    Args:
        offsets: Each token's ``(start, end)`` characters in the context (a fast tokenizer's
            offset mapping); read only where ``in_context``.
        in_context: Whether each token is a context token (not the question, not special).
        start_char: The answer's first character in the context.
        end_char: One past the answer's last character.

    Returns:
        ``(start, end)``, inclusive, or ``None`` when the answer is not wholly inside the
        window's context tokens.  A token that is only partly inside the answer (a word piece
        that also covers neighbouring characters, or a leading space) counts as inside.
    """
    tokens = [i for i, inside in enumerate(in_context) if inside]
    if not tokens or start_char < offsets[tokens[0]][0] or end_char > offsets[tokens[-1]][1]:
        return None
    start = next(t for t in tokens if offsets[t][1] > start_char)
    end = next(t for t in reversed(tokens) if offsets[t][0] < end_char)
    return (start, end) if start <= end else None


def best_span(
    start_logits: npt.NDArray[np.floating],
    end_logits: npt.NDArray[np.floating],
    in_context: npt.NDArray[np.bool_],
    max_answer_tokens: int,
) -> tuple[float, int, int] | None:
    """The context span with the highest start + end logit in one window.

    Valid spans start and end on context tokens, end at or after their start and are at
    most ``max_answer_tokens`` long.  Ties go to the earliest start, then the earliest end.

    Shape:
        start_logits, end_logits, in_context: ``(tokens,)``.

    Returns:
        ``(score, start, end)`` (inclusive), or ``None`` when the window has no context token.
    """
    n = len(start_logits)
    starts = np.arange(n)[:, None]
    ends = np.arange(n)[None, :]
    valid = (
        in_context[:, None]
        & in_context[None, :]
        & (ends >= starts)
        & (ends - starts < max_answer_tokens)
    )
    if not valid.any():
        return None
    scores = np.where(
        valid,
        np.asarray(start_logits, dtype=np.float64)[:, None]
        + np.asarray(end_logits, dtype=np.float64)[None, :],
        -np.inf,
    )
    flat = int(np.argmax(scores))
    start, end = divmod(flat, n)
    return float(scores[start, end]), start, end


def span_loss(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """The mean of the start and the end cross-entropy (each a mean over the windows).

    Tokens outside ``mask`` (padding) take no probability: their logits are set to the
    dtype's lowest value first, so a window's loss does not depend on its batch's padding.

    Shape:
        start_logits, end_logits, mask: ``(windows, tokens)``; positions: ``(windows,)``.
    """
    import torch

    def masked(logits: torch.Tensor) -> torch.Tensor:
        return logits.masked_fill(~mask.bool(), torch.finfo(logits.dtype).min)

    cross_entropy = torch.nn.functional.cross_entropy
    return (
        cross_entropy(masked(start_logits), start_positions)
        + cross_entropy(masked(end_logits), end_positions)
    ) / 2
