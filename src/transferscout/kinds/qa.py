"""Extractive question answering: the kind, SQuAD metrics, answer span positions, best span.

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

:class:`QuestionAnsweringKind` is the registered kind (``"qa"``).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from transferscout.errors import ConfigError, DataError
from transferscout.kinds.base import AttributionTarget, Head, Labels, SpanTarget, TaskKind

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from transferscout.tasks.task import Split
    from transferscout.training.data import EncodedExamples

__all__ = [
    "MAX_ANSWER_TOKENS",
    "Answer",
    "QuestionAnsweringKind",
    "NO_ANSWER_POSITION",
    "answer_f1",
    "answer_labels",
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


def answer_labels(answers: Sequence[Sequence[Answer]]) -> Labels:
    """Each question's gold answers as a QA task's labels: a 1-d object array of tuples.

    (Filled one by one: numpy may otherwise read equally long tuples as a 2-d array.)
    """
    out = np.empty(len(answers), dtype=object)
    for i, gold in enumerate(answers):
        out[i] = tuple(gold)
    return out


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


#: The longest answer read back, in word pieces (SQuAD's usual limit).
MAX_ANSWER_TOKENS = 30


class QuestionAnsweringKind(TaskKind):
    """Extractive QA: an answer span of a context; SQuAD token F1 is primary.

    A split's ``texts`` are the questions, its ``pairs`` the contexts and its labels one tuple
    of :class:`Answer` per question (an object array).  The head is a span head (a start and
    an end logit per word piece); long contexts are cut into windows with a stride of a
    quarter of ``max_length`` (:func:`~transferscout.training.qa.encode_questions`); the loss
    is the mean of the start and end cross-entropy (:func:`span_loss`) on the first gold
    answer; a question's prediction is its best span over its windows.  No estimator is
    defined (the labels are spans, neither classes nor values); ANSAT (between QA models)
    attributes the start and end logits of the gold (else predicted) span, over the
    context's words (:meth:`attribution_targets`).
    """

    name: ClassVar[str] = "qa"
    primary_metric: ClassVar[str] = "f1"
    metric_label: ClassVar[str] = "SQuAD token F1"
    other_metrics: ClassVar[tuple[str, ...]] = ("exact_match",)
    display_name: ClassVar[str] = "question answering"
    has_classes: ClassVar[bool] = False
    label_dtype: ClassVar[type[np.generic]] = np.object_
    head: ClassVar[Head] = "span"
    estimator_level: ClassVar[Literal["sequence", "token"] | None] = None
    needs_predictions_for_attribution: ClassVar[bool] = True

    def num_outputs(self, classes: Sequence[str]) -> int:
        """A start and an end logit."""
        return 2

    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """None: the outputs are each token's start and end logits, not classes."""
        return None

    def label_bytes(self, labels: Labels) -> bytes:
        """Every question's answers as JSON ``[[text, start], ...]``."""
        return json.dumps([[[a.text, a.start] for a in answers] for answers in labels]).encode()

    # -- encoding, loss, predictions ---------------------------------------------------------
    def encode(
        self,
        tokenizer: PreTrainedTokenizerBase,
        split: Split,
        max_length: int,
        *,
        labelled: bool = True,
    ) -> EncodedExamples:
        """Windows of each question with its context (stride ``max_length // 4``)."""
        from transferscout.training.qa import default_stride, encode_questions

        assert split.pairs is not None
        return encode_questions(
            tokenizer,
            split.texts,
            split.pairs,
            [answers[0] for answers in split.labels] if labelled else None,
            max_length=max_length,
            stride=default_stride(max_length),
            ids=split.ids,
        )

    def check_inputs(
        self, tokenizer: PreTrainedTokenizerBase, task: str, split: Split, max_length: int
    ) -> None:
        """A fast tokenizer, and room for more than the stride of context beside each question."""
        from transferscout.training.qa import check_questions, default_stride

        check_questions(
            tokenizer,
            split.texts,
            split.ids,
            max_length=max_length,
            stride=default_stride(max_length),
            task=task,
        )

    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """``(windows, 3)`` int64: start piece, end piece, the window's piece count."""
        import torch

        return torch.tensor(np.asarray(labels, dtype=np.int64).reshape(-1, 3))

    def collate(self, labels: list[Any], width: int) -> torch.Tensor:
        """Each window's ``(start, end, pieces)`` (the loss masks the padding from it)."""
        return self.label_tensor(np.asarray(labels, dtype=np.int64))

    def logits(self, output: Any) -> torch.Tensor:
        """Start and end logits stacked: ``(windows, pieces, 2)``."""
        import torch

        return torch.stack([output.start_logits, output.end_logits], dim=-1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`span_loss` over each window's own pieces."""
        import torch

        mask = torch.arange(logits.shape[1], device=logits.device)[None, :] < labels[:, 2:3]
        return span_loss(logits[..., 0], logits[..., 1], labels[:, 0], labels[:, 1], mask)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """The start and end logits themselves (spans are scored by their sums)."""
        return logits

    def predictions(
        self, encoded: EncodedExamples, outputs: Sequence[npt.NDArray[Any]]
    ) -> list[Answer]:
        """Each question's answer: its best span over its windows (text and start)."""
        from transferscout.training.qa import read_answers

        return read_answers(
            encoded,
            [out[:, 0] for out in outputs],
            [out[:, 1] for out in outputs],
            max_answer_tokens=MAX_ANSWER_TOKENS,
        )

    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """SQuAD F1 and exact match against each question's gold answers (:func:`qa_metrics`)."""
        return qa_metrics(
            [[a.text for a in answers] for answers in labels], [a.text for a in outputs]
        )

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """Not judged (``None``).

        Every answer is a span of its own question's context, so answers differ with their
        contexts and a QA model that learnt nothing shows as a low F1, not as one answer to
        every question.  (No valid span for every question — empty answers throughout — would
        be degenerate; it is not recorded, so not flagged.)
        """
        return None

    # -- labels ------------------------------------------------------------------------------
    def read_labels(
        self,
        values: Sequence[Any],
        locations: Sequence[str],
        *,
        path: Path | str,
        column: str,
        classes: Sequence[str] | None = None,
        recode: Mapping[str, int] | None = None,
    ) -> tuple[Labels, tuple[str, ...]]:
        """QA tasks are read from question files, not from a label column of a table."""
        raise ConfigError(
            f"label column {column!r}: question-answering tasks are read from SQuAD JSON or "
            "tables of question, context and answers: give them in [[data.questions]]"
        )

    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """One column, every question in it (questions are split by context, not by label)."""
        return np.ones((len(labels), 1), dtype=np.int8)

    def check(
        self,
        name: str,
        splits: Sequence[tuple[str, Labels]],
        minimum: int,
        path: Path | str,
        *,
        classes: Sequence[str] = (),
    ) -> None:
        """At least ``minimum`` questions in every split."""
        for split_name, labels in splits:
            if len(labels) < minimum:
                raise DataError(
                    f"task {name!r} has {len(labels)} question(s) in the {split_name} split",
                    path=path,
                    expected=f"at least {minimum} question(s) in every split (add data, or "
                    "change the split)",
                )

    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """A seeded random sample of ``cap`` questions (there are no classes to balance)."""
        chosen = rng.choice(len(labels), size=min(cap, len(labels)), replace=False)
        return np.sort(chosen).astype(np.intp)

    def cap_method(self, strategy: str) -> str:
        """A seeded random sample, whatever the strategy: questions have no strata."""
        return "a random sample: questions have no classes to stratify"

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """Questions and the mean length of their first answers in words."""
        words = [len(answers[0].text.split()) for answers in labels]
        mean = float(np.mean(words)) if words else 0.0
        return f"{len(labels)} questions, answers {mean:.3g} words on average"

    # -- signals -----------------------------------------------------------------------------
    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """Every question (each has an answer)."""
        return np.ones(len(labels), dtype=np.bool_)

    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """The answer span in the context: the first gold answer, else the predicted span.

        ``outputs`` are the model's :meth:`predictions` (:class:`Answer` each); a question
        with no valid predicted span attributes nothing.  ANSAT's F is the start logit at
        the span's first piece plus the end logit at its last (:class:`SpanTarget`).
        """
        if outputs is None:
            raise ValueError("question-answering attribution targets need predictions")
        targets: list[AttributionTarget] = []
        for own, predicted in zip(gold, outputs, strict=True):
            answer: Answer = own[0] if own is not None else predicted
            targets.append(SpanTarget(answer.start, answer.end))
        return targets
