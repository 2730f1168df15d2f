"""Sequence labelling, the pure parts: BIO tags, first-word-piece labels, token loss, metrics.

One tag per word.  Tags follow BIO (IOB2) when every tag is ``O`` or ``B-X``/``I-X``: an
entity is a ``B-X`` followed by ``I-X`` of the same type.  An ``I-X`` that does not follow a
``B-X`` or ``I-X`` breaks IOB2; :func:`bio_violations` reports it and :func:`lenient_bio`
reads it the usual lenient way (as ``B-X``: it starts an entity), which is also how
``seqeval``'s default mode counts it.

Words are split into word pieces by the tokenizer; the word's tag goes on its first piece and
every other piece (and every special token) gets :data:`IGNORE`, which the loss skips.

:class:`TaggingKind` is the registered kind (``"tagging"``): a tagging task's split keeps
each sentence as its words joined by single spaces (``texts``) and, per sentence, the tuple of
its words' tag ids (an object array of ``labels``); the tag names are the task's ``classes``.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from transferscout.errors import ConfigError, DataError
from transferscout.kinds.base import (
    DEGENERATE_RATIO,
    IGNORE,
    AttributionTarget,
    Head,
    Labels,
    TaskKind,
    stored_one_class_reason,
    top_class_counts,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from transferscout.tasks.task import Split
    from transferscout.training.data import EncodedExamples

__all__ = [
    "IGNORE",
    "TAGGING",
    "TAGGING_KINDS",
    "TAG_ACCURACY",
    "TAG_MACRO_F1",
    "TAG_METRICS",
    "TagAccuracyKind",
    "TagMacroF1Kind",
    "TaggingKind",
    "tag_macro_f1",
    "tagging_kind",
    "piece_words",
    "repair_bio",
    "sentence_labels",
    "tag_order",
    "bio_violations",
    "first_piece_labels",
    "is_bio",
    "lenient_bio",
    "sequence_metrics",
    "token_loss",
    "word_predictions",
]


logger = logging.getLogger(__name__)


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


def tag_macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """The unweighted mean over tags of each tag's F1 (words, every tag gold or predicted).

    Example: gold ``NN NN VB``, predicted ``NN VB VB``: NN 2/3, VB 2/3 -> 2/3.  A tag
    predicted but never gold (or gold, never predicted) has F1 0.  No words: 0.
    """
    tags = sorted(set(gold) | set(predicted))
    if not tags:
        return 0.0
    scores = []
    for tag in tags:
        both = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == tag)
        total = sum(1 for g in gold if g == tag) + sum(1 for p in predicted if p == tag)
        scores.append(2 * both / total)
    return float(np.mean(scores))


def piece_words(
    offsets: Sequence[tuple[int, int]], special: Sequence[int], text: str
) -> list[int | None]:
    """The word of each piece of ``text`` (words joined by single spaces), from its offsets.

    A piece belongs to the word its first non-space character is in; special tokens
    (``special`` is the tokenizer's special-tokens mask) and empty pieces belong to none.
    Works for every fast tokenizer (byte-level BPE needs no ``add_prefix_space``).
    """
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    words: list[int | None] = []
    for (start, end), is_special in zip(offsets, special, strict=True):
        if is_special:
            words.append(None)
            continue
        while start < end and text[start] == " ":
            start += 1
        words.append(None if start >= end else bisect.bisect_right(starts, start) - 1)
    return words


def _words(text: str) -> list[str]:
    return text.split(" ")


class TaggingKind(TaskKind):
    """Sequence labelling: a tag per word; entity-level micro F1 (seqeval) is primary.

    Labels are one tuple of tag ids per sentence; the head is a token classifier over the
    tags; the loss is cross-entropy on each word's first piece (:func:`token_loss`).  A
    sentence with at least one word not tagged with the training data's most frequent tag
    (``O``) is "positive".  Estimators read per labelled piece; ANSAT (between taggers)
    attributes the summed logits of the entity words' tags (:meth:`attribution_targets`).

    Tasks come from tagged sentences (:func:`transferscout.tasks.tagged.tagged_task`:
    CoNLL files, tables of token and tag lists) or from a label column of a table whose
    texts are words separated by single spaces (:meth:`read_labels`, :meth:`check_texts`).
    """

    name: ClassVar[str] = "tagging"
    primary_metric: ClassVar[str] = "entity_f1"
    metric_label: ClassVar[str] = "entity F1"
    other_metrics: ClassVar[tuple[str, ...]] = (
        "precision",
        "recall",
        "token_accuracy",
        "tag_macro_f1",
    )
    display_name: ClassVar[str] = "sequence labelling"
    #: What a configuration's ``metric`` calls this kind's primary metric.
    metric_setting: ClassVar[str] = "entity_f1"
    has_classes: ClassVar[bool] = True
    label_dtype: ClassVar[type[np.generic]] = np.object_
    head: ClassVar[Head] = "token"
    estimator_level: ClassVar[Literal["sequence", "token"] | None] = "token"
    needs_predictions_for_attribution: ClassVar[bool] = True

    def for_classes(self, classes: Sequence[str]) -> TaggingKind:
        """Entity F1 for BIO chunk tags; token accuracy for any other tags (parts of speech).

        Entities are defined only by ``B-``/``I-`` chunks: a tag set such as ``NOUN VERB``
        has none, so its entity F1 would be NaN.  (A kind stated in the configuration —
        :func:`tagging_kind` with a ``metric`` — is kept as stated.)
        """
        return self if is_bio(classes) else TAG_ACCURACY

    def num_outputs(self, classes: Sequence[str]) -> int:
        """One logit per tag."""
        return len(classes)

    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """The tag names, in tag-id order."""
        return list(classes)

    def label_bytes(self, labels: Labels) -> bytes:
        """The tag ids of every sentence, as JSON."""
        return json.dumps([[int(t) for t in sentence] for sentence in labels]).encode()

    # -- encoding, loss, predictions ---------------------------------------------------------
    def encode(
        self,
        tokenizer: PreTrainedTokenizerBase,
        split: Split,
        max_length: int,
        *,
        labelled: bool = True,
    ) -> EncodedExamples:
        """Word pieces of each sentence; its word's tag on each first piece, IGNORE elsewhere."""
        from transferscout.training.data import EncodedExamples, EncodedTexts

        texts = list(split.texts)
        if getattr(tokenizer, "is_fast", False):
            encoded = tokenizer(
                texts,
                truncation=True,
                max_length=max_length,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
            )
            word_ids = [
                piece_words(offsets, special, text)
                for offsets, special, text in zip(
                    encoded["offset_mapping"], encoded["special_tokens_mask"], texts, strict=True
                )
            ]
        else:  # a slow tokenizer has no offsets; it takes the words as they are
            encoded = tokenizer(
                [_words(t) for t in texts],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
            )
            word_ids = [list(encoded.word_ids(i)) for i in range(len(texts))]
        labels = (
            [
                first_piece_labels(ids, tags)
                for ids, tags in zip(word_ids, split.labels, strict=True)
            ]
            if labelled
            else None
        )
        pad = int(tokenizer.pad_token_id or 0)
        return EncodedExamples(
            EncodedTexts([list(ids) for ids in encoded["input_ids"]], pad),
            labels,
            np.arange(len(texts), dtype=np.intp),
            word_ids=word_ids,
            extra={"n_words": [len(_words(t)) for t in texts]},
        )

    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """Per-piece tag ids (IGNORE where unlabelled), ``(batch, pieces)`` int64."""
        import torch

        return torch.tensor(np.asarray(labels, dtype=np.int64))

    def collate(self, labels: list[Any], width: int) -> torch.Tensor:
        """Each feature's per-piece labels padded with :data:`IGNORE` to ``width``."""
        out = np.full((len(labels), width), IGNORE, dtype=np.int64)
        for row, pieces in enumerate(labels):
            out[row, : len(pieces)] = pieces
        return self.label_tensor(out)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the labelled pieces (:func:`token_loss`)."""
        return token_loss(logits, labels)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Tag probabilities of every piece, ``(batch, pieces, tags)``."""
        import torch

        return torch.softmax(logits, dim=-1)

    def predictions(
        self, encoded: EncodedExamples, outputs: Sequence[npt.NDArray[Any]]
    ) -> list[list[int | None]]:
        """The predicted tag id of every word (its first piece's arg-max; ``None``: truncated)."""
        assert encoded.word_ids is not None
        n_words = encoded.extra["n_words"]
        return [
            word_predictions(encoded.word_ids[i], out.argmax(axis=-1).tolist(), n_words[i])
            for i, out in enumerate(outputs)
        ]

    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """Entity micro F1/precision/recall (seqeval), token accuracy and tag macro-F1.

        Per word.  A truncated word is predicted ``O`` (it can only be missed, never
        invented); for tags without ``O`` it is predicted as no tag (wrong).  The counts of
        the most-predicted tag over words (:func:`~transferscout.kinds.base.top_class_counts`)
        are for :meth:`degenerate`.  Entity metrics that are undefined (tags that are not
        BIO) are left out unless they are the kind's primary metric.
        """
        missing = "O" if "O" in classes else ""
        gold = [[classes[t] for t in sentence] for sentence in labels]
        predicted = [
            [missing if t is None else classes[t] for t in sentence] for sentence in outputs
        ]
        flat_gold = [t for sentence in gold for t in sentence]
        flat_predicted = [t for sentence in predicted for t in sentence]
        words = top_class_counts(flat_gold, flat_predicted)
        scores = sequence_metrics(gold, predicted)
        scores = {
            key: value
            for key, value in scores.items()
            if key == self.primary_metric or not math.isnan(value)
        }
        return {**scores, "tag_macro_f1": tag_macro_f1(flat_gold, flat_predicted), **words}

    degenerate_rule: ClassVar[str] = (
        "its most-predicted tag (O) leaves fewer other predicted words than "
        f"{DEGENERATE_RATIO:g} x the validation words of other tags"
    )

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """One tag (``O``: no entity) predicted for nearly every word of ``split``.

        Trials recorded before the counts of the most-predicted tag are not judged.
        """
        return stored_one_class_reason(metrics, split, top="one tag", unit="words")

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
        """One tag sequence per record.

        A cell is a list of tag names (or ``ClassLabel`` ids into ``classes``), or a string
        of tags separated by spaces (a CSV cell).

        BIO tags are checked and read leniently (:func:`repair_bio`, each repair logged).
        The tag ids index the returned names: ``classes``' order, then new tags sorted.
        """
        if recode:
            raise ConfigError(f"recode is for 0/1 label columns; {column!r} is a tagging task")
        tags = [
            _tag_cell(value, classes, path, where, column)
            for value, where in zip(values, locations, strict=True)
        ]
        tags, warnings = repair_bio(tags, [f"{path}, {w}" for w in locations], classes)
        for warning in warnings:
            logger.warning(warning)
        order = tag_order(tags, classes)
        index = {tag: i for i, tag in enumerate(order)}
        return sentence_labels([tuple(index[t] for t in s) for s in tags]), order

    def check_texts(
        self,
        texts: Sequence[str],
        labels: Labels,
        locations: Sequence[str],
        *,
        path: Path | str,
        column: str,
    ) -> None:
        """Every text has one tag per word (its words are separated by single spaces)."""
        for text, sentence, where in zip(texts, labels, locations, strict=True):
            if len(_words(text)) != len(sentence):
                raise DataError(
                    "the text's words and the tags differ in number",
                    path=path,
                    where=where,
                    column=column,
                    expected=f"{len(_words(text))} tags, one per space-separated word",
                    got=len(sentence),
                )

    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """One column per tag: whether the sentence holds it (entity types spread evenly)."""
        width = 1 + max((max(s) for s in labels if len(s)), default=0)
        out = np.zeros((len(labels), width), dtype=np.int8)
        for row, sentence in enumerate(labels):
            out[row, list(sentence)] = 1
        return out

    def check(
        self,
        name: str,
        splits: Sequence[tuple[str, Labels]],
        minimum: int,
        path: Path | str,
        *,
        classes: Sequence[str] = (),
    ) -> None:
        """``minimum`` sentences with an entity per split; no tag that only evaluation has.

        An entity is a tag other than the commonest; a tag of validation or test that no
        training sentence holds is refused, as a multi-class task's class is.  Entity F1
        (this kind's metric) is refused for tags that are not BIO chunks: it is undefined.
        """
        if classes and self.primary_metric == "entity_f1" and not is_bio(classes):
            shown = ", ".join(repr(c) for c in list(classes)[:4])
            raise DataError(
                f"task {name!r}: its tags ({shown}…) are not BIO chunks (O, B-X, I-X), so "
                "entity F1 is undefined",
                path=path,
                expected='metric = "token_accuracy" or "macro_f1" for tags such as parts of '
                'speech (kind "tagging-accuracy" or "tagging-macro-f1" for a label column)',
            )
        (_, train), *others = splits
        common = _commonest(train)
        for split_name, labels in splits:
            count = int(self.positive_mask(labels, train).sum())
            if count < minimum or (split_name == "train" and common is None):
                raise DataError(
                    f"task {name!r} has {count} sentence(s) with a tag other than the "
                    f"commonest in the {split_name} split",
                    path=path,
                    expected=f"at least {minimum} tagged sentence(s) in every split "
                    "(add data, or change the split)",
                )
        known = {t for sentence in train for t in sentence}
        for split_name, labels in others:
            unseen = sorted({t for sentence in labels for t in sentence} - known)
            if unseen:
                raise DataError(
                    f"task {name!r}: tag id(s) {unseen} occur in the {split_name} split but "
                    "never in training",
                    path=path,
                    expected="every tag of validation and test to occur in training "
                    "(add data, fix the tag, or change the split)",
                )

    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """Sentences with and without entities in proportion (stratified) or equal shares."""
        from transferscout.kinds.classes import cap_by_class

        positive = self.positive_mask(labels, labels).astype(np.int64)
        return cap_by_class(positive, cap, strategy, minimum, rng)

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """Sentences, words and entities (``B-`` tags, or words not of the commonest tag)."""
        words = sum(len(s) for s in labels)
        begins = {i for i, c in enumerate(classes) if c.startswith("B-")}
        common = _commonest(labels)
        entities = sum(1 for s in labels for t in s if (t in begins if begins else t != common))
        return f"{len(labels)} sentences, {words} words, {entities} entities"

    # -- signals -----------------------------------------------------------------------------
    def estimator_labels(self, encoded: EncodedExamples, labels: Labels) -> npt.NDArray[Any]:
        """The tag of every labelled piece (each word's first piece), feature by feature."""
        assert encoded.labels is not None
        return np.array(
            [t for pieces in encoded.labels for t in pieces if t != IGNORE], dtype=np.int64
        )

    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """Sentences with a word not tagged with ``reference``'s commonest tag."""
        common = _commonest(reference)
        return np.array([any(t != common for t in s) for s in labels], dtype=np.bool_)

    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """The entity words' tags: ``(word, tag)`` for each word not of the commonest tag.

        Gold tags for a sentence of the model's own task, else the model's predicted tags
        (``outputs``: per-word tag ids, ``None`` for a truncated word).  ANSAT's F is the sum
        of those tags' logits at the words' first pieces.
        """
        if outputs is None or reference is None:
            raise ValueError("tagging attribution targets need predictions and the reference")
        common = _commonest(reference)
        targets: list[AttributionTarget] = []
        for own, predicted in zip(gold, outputs, strict=True):
            tags = own if own is not None else predicted
            targets.append(
                tuple((w, int(t)) for w, t in enumerate(tags) if t is not None and t != common)
            )
        return targets


class TagAccuracyKind(TaggingKind):
    """Tagging scored by token accuracy: tags that are not entity chunks (parts of speech).

    Everything else is :class:`TaggingKind`'s (a tagger is a tagger); only the primary
    metric differs, so a stored trial's kind names the metric it is ranked by.
    """

    name: ClassVar[str] = "tagging-accuracy"
    primary_metric: ClassVar[str] = "token_accuracy"
    metric_label: ClassVar[str] = "token accuracy"
    other_metrics: ClassVar[tuple[str, ...]] = ("tag_macro_f1",)
    display_name: ClassVar[str] = "sequence labelling (tag accuracy)"
    metric_setting: ClassVar[str] = "token_accuracy"

    def for_classes(self, classes: Sequence[str]) -> TaggingKind:
        """As stated: token accuracy is defined for every tag set."""
        return self

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """Sentences, words and tags."""
        words = sum(len(s) for s in labels)
        used = len({t for s in labels for t in s})
        return f"{len(labels)} sentences, {words} words, {used} tags"


class TagMacroF1Kind(TagAccuracyKind):
    """Tagging scored by macro-F1 over tags (each tag counts alike, however rare)."""

    name: ClassVar[str] = "tagging-macro-f1"
    primary_metric: ClassVar[str] = "tag_macro_f1"
    metric_label: ClassVar[str] = "tag macro-F1"
    other_metrics: ClassVar[tuple[str, ...]] = ("token_accuracy",)
    display_name: ClassVar[str] = "sequence labelling (tag macro-F1)"
    metric_setting: ClassVar[str] = "macro_f1"


TAGGING = TaggingKind()
TAG_ACCURACY = TagAccuracyKind()
TAG_MACRO_F1 = TagMacroF1Kind()
#: The tagging kinds, one per primary metric (entity F1, token accuracy, tag macro-F1).
TAGGING_KINDS: tuple[TaggingKind, ...] = (TAGGING, TAG_ACCURACY, TAG_MACRO_F1)
#: What ``metric`` of ``[[data.tagged]]`` may say.
TAG_METRICS = ("auto", *(kind.metric_setting for kind in TAGGING_KINDS))


def tagging_kind(classes: Sequence[str], metric: str = "auto") -> TaggingKind:
    """The tagging kind of a tag set: ``metric`` as stated, or chosen from the tags (``auto``).

    Raises:
        ConfigError: An unknown ``metric``.
    """
    if metric == "auto":
        return TAGGING.for_classes(classes)
    for kind in TAGGING_KINDS:
        if kind.metric_setting == metric:
            return kind
    raise ConfigError(
        f"metric = {metric!r} for a tagging task; expected one of "
        + ", ".join(repr(m) for m in TAG_METRICS)
    )


def sentence_labels(sentences: Sequence[Sequence[int]]) -> Labels:
    """Tag ids per sentence as a tagging task's labels: a 1-d object array of int tuples.

    (Filled one by one: numpy would make sentences of equal length a 2-d array.)
    """
    out = np.empty(len(sentences), dtype=object)
    for i, sentence in enumerate(sentences):
        out[i] = tuple(int(t) for t in sentence)
    return out


def _commonest(labels: Labels) -> int | None:
    """The most frequent tag id of the sentences (the lowest among ties); ``None``: no words."""
    flat = [t for s in labels for t in s]
    return int(np.argmax(np.bincount(flat))) if flat else None


def repair_bio(
    sentences: Sequence[Sequence[str]],
    locations: Sequence[str],
    names: Sequence[str] | None = None,
) -> tuple[list[tuple[str, ...]], list[str]]:
    """The sentences' tags with BIO breaks read leniently, and one message per repair.

    Only a BIO tag set (``names`` when given, else the tags used) is checked.  Each message
    names the sentence's location and the words whose ``I-X`` follows neither ``B-X`` nor
    ``I-X``.
    """
    out = [tuple(s) for s in sentences]
    warnings: list[str] = []
    if not is_bio(names or [t for s in sentences for t in s]):
        return out, warnings
    for i, sentence in enumerate(out):
        bad = bio_violations(sentence)
        if bad:
            shown = ", ".join(f"word {j + 1} {sentence[j]!r}" for j in bad)
            warnings.append(
                f"{locations[i]}: {shown} follows neither B- nor I- of its type; read as B- "
                "(the lenient reading)"
            )
            out[i] = tuple(lenient_bio(sentence))
    return out, warnings


def tag_order(sentences: Sequence[Sequence[str]], names: Sequence[str] | None) -> tuple[str, ...]:
    """The tag names in id order: the declared ``names``, then any other tag used, sorted.

    (A repaired ``I-X`` may need a ``B-X`` the declared names lack.)
    """
    known = tuple(str(n) for n in names or ())
    return known + tuple(sorted({t for s in sentences for t in s} - set(known)))


def _tag_cell(
    value: Any, names: Sequence[str] | None, path: Path | str, where: str, column: str
) -> tuple[str, ...]:
    """One record's tags: names, ``ClassLabel`` ids into ``names``, or a space-separated string."""
    if isinstance(value, str):
        value = value.split()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple) and value:
        if names and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value
        ):
            if all(0 <= v < len(names) for v in value):
                return tuple(str(names[v]) for v in value)
        elif all(isinstance(v, str) and v.strip() and " " not in v for v in value):
            return tuple(value)
    raise DataError(
        "cannot read the tags",
        path=path,
        where=where,
        column=column,
        expected="a non-empty list of tag names"
        + (f" or tag ids in 0..{len(names) - 1}" if names else "")
        + ", or tags separated by spaces",
        got=value,
    )
