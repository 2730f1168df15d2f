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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

from transferscout.encoders.adapter import family_of
from transferscout.errors import ConfigError, DataError, EncoderError
from transferscout.kinds.qa import NO_ANSWER_POSITION, answer_token_span, best_span
from transferscout.training.data import EncodedTexts, padded_batches

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from transferscout.kinds.qa import Answer

__all__ = [
    "EncodedQuestions",
    "default_stride",
    "encode_questions",
    "predict_answers",
    "question_batches",
    "read_answers",
]


@dataclass(frozen=True)
class EncodedQuestions:
    """Windows of questions with their contexts, ready to batch.

    Attributes:
        encoded: Token ids (and token types) of each window.
        question: The question each window belongs to.
        offsets: Each window token's ``(start, end)`` characters in its context.
        in_context: Whether each window token is a context token.
        starts: The gold answer's start token in each window (``NO_ANSWER_POSITION`` when the
            window does not hold it; all of them when encoded without answers).
        ends: The same for the end token (inclusive).
        contexts: Each question's context (predicted spans are read from it).
    """

    encoded: EncodedTexts
    question: list[int]
    offsets: list[list[tuple[int, int]]]
    in_context: list[list[bool]]
    starts: list[int]
    ends: list[int]
    contexts: list[str]

    def __len__(self) -> int:
        return len(self.encoded)


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
) -> EncodedQuestions:
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

    Raises:
        EncoderError: The tokenizer is not a fast one.
        DataError: A question leaves no more than ``stride`` tokens for its context.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderError(
            f"question answering needs a fast tokenizer (for character offsets); "
            f"{type(tokenizer).__name__} is not one (save the folder's tokenizer.json)"
        )
    _check_room(tokenizer, questions, ids, max_length=max_length, stride=stride)
    encoded = tokenizer(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    question = [int(q) for q in encoded["overflow_to_sample_mapping"]]
    in_context = [
        [s == 1 for s in encoded.sequence_ids(w)] for w in range(len(encoded["input_ids"]))
    ]
    offsets = [[(int(a), int(b)) for a, b in window] for window in encoded["offset_mapping"]]
    starts, ends = [], []
    for w, q in enumerate(question):
        span = (
            None
            if answers is None
            else answer_token_span(offsets[w], in_context[w], answers[q].start, answers[q].end)
        )
        start, end = span if span is not None else (NO_ANSWER_POSITION, NO_ANSWER_POSITION)
        starts.append(start)
        ends.append(end)
    types = encoded.get("token_type_ids")
    texts = EncodedTexts(
        [list(ids) for ids in encoded["input_ids"]],
        int(tokenizer.pad_token_id or 0),
        None if types is None else [list(t) for t in types],
    )
    return EncodedQuestions(texts, question, offsets, in_context, starts, ends, list(contexts))


def _check_room(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    ids: Sequence[str] | None,
    *,
    max_length: int,
    stride: int,
) -> None:
    """Every question must leave more than ``stride`` context tokens in a window.

    (The tokenizers library panics, past any ``except Exception``, when it does not.)
    """
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
                f"question {name!r} takes {length} tokens, leaving {room} of max_length "
                f"{max_length} for its context",
                expected=f"more than the stride of {stride} context tokens (shorten the "
                "question, raise max_length or lower the stride)",
            )


def question_batches(
    encoded: EncodedQuestions,
    order: Sequence[int] | npt.NDArray[np.integer],
    batch_size: int,
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, torch.Tensor]]]:
    """Padded batches of windows with their ``start_positions`` and ``end_positions``."""
    for index, batch in padded_batches(encoded.encoded, order, batch_size):
        starts = torch.tensor([encoded.starts[i] for i in index], dtype=torch.long)
        ends = torch.tensor([encoded.ends[i] for i in index], dtype=torch.long)
        yield index, {**batch, "start_positions": starts, "end_positions": ends}


@torch.no_grad()
def predict_answers(
    model: torch.nn.Module,
    encoded: EncodedQuestions,
    *,
    max_answer_tokens: int = 30,
    batch_size: int = 64,
) -> list[str]:
    """Each question's predicted answer (:func:`read_answers` of the model's logits)."""
    model.eval()
    device = next(model.parameters()).device
    family = family_of(model)
    start_logits: list[npt.NDArray[np.float32]] = [np.empty(0, np.float32)] * len(encoded)
    end_logits = list(start_logits)
    for index, batch in question_batches(encoded, np.arange(len(encoded)), batch_size):
        inputs = {
            k: v.to(device)
            for k, v in family.model_inputs(batch).items()
            if k not in ("start_positions", "end_positions")
        }
        output = model(**inputs)
        starts = output.start_logits.float().cpu().numpy()
        ends = output.end_logits.float().cpu().numpy()
        for r, w in enumerate(index):
            n = len(encoded.in_context[w])
            start_logits[w], end_logits[w] = starts[r, :n], ends[r, :n]
    return read_answers(encoded, start_logits, end_logits, max_answer_tokens=max_answer_tokens)


def read_answers(
    encoded: EncodedQuestions,
    start_logits: Sequence[npt.NDArray[np.floating]],
    end_logits: Sequence[npt.NDArray[np.floating]],
    *,
    max_answer_tokens: int,
) -> list[str]:
    """Each question's answer: the best span over its windows (``""`` if none is valid).

    A span's score is its start logit plus its end logit
    (:func:`~transferscout.kinds.qa.best_span`); spans in different windows of one question
    compete on these scores, ties going to the earlier window.  The answer is the context's
    text from the span's first token's first character to its last token's last one, without
    surrounding white space (some tokenizers' offsets include a leading space).

    Shape:
        start_logits, end_logits: one ``(tokens,)`` array per window, unpadded.
    """
    best: list[tuple[float, int, int, int] | None] = [None] * len(encoded.contexts)
    for w, q in enumerate(encoded.question):
        found = best_span(
            start_logits[w],
            end_logits[w],
            np.asarray(encoded.in_context[w], dtype=bool),
            max_answer_tokens,
        )
        current = best[q]
        if found is not None and (current is None or found[0] > current[0]):
            best[q] = (found[0], w, found[1], found[2])
    answers: list[str] = []
    for q, chosen in enumerate(best):
        if chosen is None:
            answers.append("")
            continue
        _, w, start, end = chosen
        first, last = encoded.offsets[w][start][0], encoded.offsets[w][end][1]
        answers.append(encoded.contexts[q][first:last].strip())
    return answers
