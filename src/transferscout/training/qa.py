"""Extractive QA: tokenise questions with windows of their contexts, batch them, read answers.

Each question is encoded with its context as a sentence pair, the question first.  A context
longer than ``max_length`` allows is cut into overlapping **windows** of context tokens, each
sharing ``stride`` tokens with the next (a fast tokenizer's overflowing tokens), so that an
answer near a cut is whole in some window.  Each window keeps its tokens' character offsets in
the context, which map the gold answer to its start and end token
(:func:`~transferscout.kinds.qa.answer_token_span`; a window without the whole answer points
both at :data:`~transferscout.kinds.qa.NO_ANSWER_POSITION`) and map a predicted span back to
the context's text.  A question's prediction is the best span over all its windows
(:func:`~transferscout.kinds.qa.best_span`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from transferscout.errors import ConfigError, DataError, EncoderError
from transferscout.kinds.qa import NO_ANSWER_POSITION, answer_token_span, best_span
from transferscout.training.data import EncodedExamples, EncodedTexts

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from transferscout.kinds.qa import Answer

__all__ = ["check_questions", "default_stride", "encode_questions", "read_answers"]


def default_stride(max_length: int) -> int:
    """The overlap of consecutive windows when none is given: a quarter of ``max_length``."""
    return max_length // 4


def encode_questions(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    contexts: Sequence[str],
    answers: Sequence[Answer] | None,
    *,
    max_length: int,
    stride: int,
    ids: Sequence[str] | None = None,
) -> EncodedExamples:
    """Tokenise questions with windows of their contexts.

    Args:
        tokenizer: A fast tokenizer (character offsets are needed).
        questions: The questions.
        contexts: Each question's context.
        answers: The answer each question is trained on (its first gold answer), or ``None``
            to encode for prediction only.
        max_length: Tokens per window, special tokens included.
        stride: Context tokens shared by consecutive windows of one context.
        ids: The questions' ids, for error messages (default: their 1-based numbers).

    Returns:
        One feature per window: ``example_of`` its question; ``labels`` (with ``answers``)
        its ``(start, end, pieces)`` — the gold answer's first and last piece in the window,
        both :data:`~transferscout.kinds.qa.NO_ANSWER_POSITION` when the window does not hold
        the whole answer, and the window's piece count; ``extra`` the ``offsets`` of every
        piece in its context, whether each piece is ``in_context``, and the ``contexts``.

    Raises:
        EncoderError: The tokenizer is not a fast one.
        DataError: A question leaves no more than ``stride`` tokens for its context.
    """
    check_questions(tokenizer, questions, ids, max_length=max_length, stride=stride)
    encoded = tokenizer(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    question = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.intp)
    windows = len(encoded["input_ids"])
    in_context = [[s == 1 for s in encoded.sequence_ids(w)] for w in range(windows)]
    offsets = [[(int(a), int(b)) for a, b in window] for window in encoded["offset_mapping"]]
    labels: list[tuple[int, int, int]] | None = None
    if answers is not None:
        labels = []
        for w, q in enumerate(question):
            span = answer_token_span(offsets[w], in_context[w], answers[q].start, answers[q].end)
            start, end = span or (NO_ANSWER_POSITION, NO_ANSWER_POSITION)
            labels.append((start, end, len(offsets[w])))
    types = encoded.get("token_type_ids")
    texts = EncodedTexts(
        [list(ids) for ids in encoded["input_ids"]],
        int(tokenizer.pad_token_id or 0),
        None if types is None else [list(t) for t in types],
    )
    extra = {"offsets": offsets, "in_context": in_context, "contexts": list(contexts)}
    return EncodedExamples(texts, labels, question, extra=extra)


def check_questions(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    ids: Sequence[str] | None,
    *,
    max_length: int,
    stride: int,
    task: str | None = None,
) -> None:
    """Whether :func:`encode_questions` can encode these questions (it calls this first).

    The tokenizer must be a fast one (character offsets), and every question must leave more
    than ``stride`` context tokens in a window: the tokenizers library panics, past any
    ``except Exception``, when one does not.  Errors name ``task`` when given.

    Raises:
        EncoderError: The tokenizer is not a fast one.
        DataError: A question leaves no more than ``stride`` tokens for its context.
    """
    prefix = "" if task is None else f"task {task!r}: "
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderError(
            f"{prefix}question answering needs a fast tokenizer (for character offsets); "
            f"{type(tokenizer).__name__} is not one (save the folder's tokenizer.json)"
        )
    if stride < 0:
        raise ConfigError(f"stride = {stride}; expected a number of tokens from 0")
    lengths = [
        len(ids) for ids in tokenizer(list(questions), add_special_tokens=False)["input_ids"]
    ]
    special = tokenizer.num_special_tokens_to_add(pair=True)
    for i, length in enumerate(lengths):
        room = max_length - special - length
        if room <= stride:
            name = ids[i] if ids is not None else str(i + 1)
            raise DataError(
                f"{prefix}question {name!r} takes {length} tokens, leaving {room} of max_length "
                f"{max_length} for its context",
                expected=f"more than the stride of {stride} context tokens (shorten the "
                "question, raise max_length or lower the stride)",
            )


def read_answers(
    encoded: EncodedExamples,
    start_logits: Sequence[npt.NDArray[np.floating]],
    end_logits: Sequence[npt.NDArray[np.floating]],
    *,
    max_answer_tokens: int,
) -> list[Answer]:
    """Each question's answer: the best span over its windows (``""`` at 0 if none is valid).

    A span's score is its start logit plus its end logit
    (:func:`~transferscout.kinds.qa.best_span`); spans in different windows of one question
    compete on these scores, ties going to the earlier window.  The answer is the context's
    text from the span's first token's first character to its last token's last one, without
    surrounding white space (some tokenizers' offsets include a leading space), with the
    character where that text starts in the context.

    Shape:
        start_logits, end_logits: one ``(tokens,)`` array per window, unpadded.
    """
    contexts: list[str] = encoded.extra["contexts"]
    offsets: list[list[tuple[int, int]]] = encoded.extra["offsets"]
    in_context: list[list[bool]] = encoded.extra["in_context"]
    best: list[tuple[float, int, int, int] | None] = [None] * len(contexts)
    for w, q in enumerate(encoded.example_of.tolist()):
        found = best_span(
            start_logits[w], end_logits[w], np.asarray(in_context[w], dtype=bool), max_answer_tokens
        )
        current = best[q]
        if found is not None and (current is None or found[0] > current[0]):
            best[q] = (found[0], w, found[1], found[2])
    from transferscout.kinds.qa import Answer

    answers: list[Answer] = []
    for q, chosen in enumerate(best):
        if chosen is None:
            answers.append(Answer("", 0))
            continue
        _, w, start, end = chosen
        raw = contexts[q][offsets[w][start][0] : offsets[w][end][1]]
        text = raw.strip()
        answers.append(Answer(text, offsets[w][start][0] + len(raw) - len(raw.lstrip())))
    return answers
