"""The task-kind abstraction: what differs between the kinds of task.

A :class:`TaskKind` answers, for its kind of task, every question a stage asks: which head it
puts on the encoder and how wide; how a split is encoded into model inputs and labels, what
the loss is and how predictions are read back; how label cells are read and checked; how the
documents are stratified when splits are made and how a split is capped; which metrics are
recorded and which one is primary; which documents are "positive" for ANSAT and which output
is attributed; at which level the estimators read features (and whether the target has
classes).  Stages never branch on a kind's name: they call these methods.  A new kind is one
subclass and one entry in :data:`transferscout.kinds.KINDS` (and one row of the tests' matrix).

**The flow of one split through a kind** (training, evaluation, TaskEmb, the finiteness check
all use it; the defaults here are the sequence-level kinds'):

1. ``encoded = kind.encode(tokenizer, split, max_length)`` ->
   :class:`~transferscout.training.data.EncodedExamples`: one *feature* per example (or per
   window of a long example, with ``example_of`` saying whose), its per-feature label, and
   whatever the kind needs to read predictions back (``word_ids``, ``extra``);
   ``labelled=False`` encodes for prediction only (labels ``None``).
2. Batches: :func:`~transferscout.training.data.example_batches` pads the features of a batch
   and adds ``batch["labels"] = kind.collate([labels of the features], width)``.
3. ``logits = kind.logits(model(**inputs))`` — one tensor the loss and outputs read
   (sequence: ``output.logits``; a span kind may stack ``start_logits``/``end_logits``).
4. ``kind.loss(logits, batch["labels"])`` — mean loss of the batch (TaskEmb's Fisher uses it).
5. ``kind.outputs(logits)`` per feature (trimmed to the feature's own pieces when the outputs
   have a piece axis), then ``kind.predictions(encoded, outputs)`` -> per-example predictions
   (sequence kinds: an ``(n, k)`` array), and ``kind.metrics(split.labels, predictions)``.

Labels of a sequence-level kind are one value per example; token- and span-level kinds keep
one object per example (tag ids per word; answers) in an object array, and say how those are
hashed (:meth:`TaskKind.label_bytes`).

**Signals** ask the kind: :attr:`TaskKind.estimator_level` (features per example, per labelled
word piece, or no estimators), :meth:`TaskKind.estimator_labels`, and for ANSAT
:attr:`TaskKind.attributable` plus :meth:`positive_mask`/:meth:`attribution_targets`.
:func:`applicable_estimators` decides from two kinds which estimators are defined.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from transferscout.tasks.task import Split
    from transferscout.training.data import EncodedExamples

__all__ = [
    "DEGENERATE_RATIO",
    "ESTIMATORS",
    "IGNORE",
    "AttributionTarget",
    "Head",
    "SpanTarget",
    "TaskKind",
    "applicable_estimators",
    "one_class_reason",
    "top_class_counts",
]

Labels = npt.NDArray[Any]


@dataclass(frozen=True)
class SpanTarget:
    """A span head's attributed output: a span of a document's second text (a QA context).

    F is the start logit at the piece where the span starts (the piece holding character
    ``start``) plus the end logit at the piece where it ends (the piece holding character
    ``end - 1``); words are then the context's words only (the question's are left out).
    ``start == end`` (no span) attributes nothing.
    """

    start: int
    end: int


#: What ANSAT attributes in a document: an output index (a class's logit, the value),
#: ``((word, output), …)``: the sum of those outputs at each word's first piece (a token
#: head; words are the text's words separated by single spaces), or a :class:`SpanTarget`.
AttributionTarget = int | tuple[tuple[int, int], ...] | SpanTarget

#: The head a kind puts on the encoder (see :data:`transferscout.encoders.adapter.HEADS`).
Head = Literal["sequence", "token", "span"]

#: The label of a word piece the loss ignores (PyTorch's cross-entropy default); token-level
#: kinds label only some pieces (a word's first), and the estimators read only those.
IGNORE = -100

#: Every model-based estimator the pair stage computes.
ESTIMATORS = ("logme", "leep", "nce", "h_score", "h_score_shrinkage", "transrate")

#: A classifier is degenerate when its most-predicted class ``c`` leaves fewer predictions of
#: the other classes than this share of the examples that are of another class: it predicts
#: ``c`` for (nearly) everything.  Relative to the gold counts, not to ``n``: a good model of
#: a rare class (11 positives in 1000) predicts the majority for ~98% of its examples, which an
#: absolute share would call constant.  0.1 is an absolute share of 0.95 on a balanced split;
#: on study v2's single-task models it separates the twelve of pool 1 that predict one class
#: for every validation example (0.000) from the next (0.127: 87% positive, F1 0.14).
DEGENERATE_RATIO = 0.1


class TaskKind(ABC):
    """One kind of task.  Instances are stateless; :data:`KINDS` holds one of each."""

    #: Short name used in configurations, stored trial configurations and reports.
    name: ClassVar[str]
    #: Key of the primary metric in :meth:`metrics` (``test_<key>`` in a trial's metrics).
    primary_metric: ClassVar[str]
    #: Whether labels are classes (LEEP, NCE, H-score and TransRate need classes).
    has_classes: ClassVar[bool]
    #: The range of the primary metric (intervals are clipped to it).
    metric_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    #: The primary metric as the report and the command line name it.
    metric_label: ClassVar[str]
    #: Other keys of :meth:`metrics` shown next to the primary one (a model card's columns).
    other_metrics: ClassVar[tuple[str, ...]] = ()
    #: The kind as texts name it ("multi-class").
    display_name: ClassVar[str]
    #: The numpy dtype labels are stored in (``object`` for per-example lists).
    label_dtype: ClassVar[type[np.generic]]
    #: The head on the encoder: loaded by :func:`~transferscout.encoders.load_encoder`.
    head: ClassVar[Head] = "sequence"
    #: Where the estimators read features and labels: per example (``"sequence"``), per
    #: labelled word piece (``"token"``), or nowhere (``None``: every estimator is missing).
    estimator_level: ClassVar[Literal["sequence", "token"] | None] = "sequence"
    #: Whether ANSAT is defined for this kind's models (else its pairs are missing).
    attributable: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<task kind {self.name}>"

    def for_classes(self, classes: Sequence[str]) -> TaskKind:
        """The kind a task of this kind with these classes is scored as.

        A kind whose metric depends on its labels picks its variant here (tagging: entity F1
        for BIO chunks, token accuracy for other tags).  Default: this kind.
        """
        return self

    # -- the head and the loss -------------------------------------------------------------
    @abstractmethod
    def num_outputs(self, classes: Sequence[str]) -> int:
        """Width of the head on top of the encoder."""

    @abstractmethod
    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """Names of the head's outputs in order (a saved model's labels); ``None``: unnamed."""

    @abstractmethod
    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """Labels as the tensor :meth:`loss` takes."""

    def encode(
        self,
        tokenizer: PreTrainedTokenizerBase,
        split: Split,
        max_length: int,
        *,
        labelled: bool = True,
    ) -> EncodedExamples:
        """The split as model inputs: one feature per example, truncated to ``max_length``.

        Default (sequence-level kinds): each text (with its second text) and its label.
        """
        from transferscout.training.data import EncodedExamples, encode_texts

        texts = encode_texts(tokenizer, split.texts, max_length, split.pairs)
        return EncodedExamples(
            texts,
            list(split.labels) if labelled else None,
            np.arange(len(split), dtype=np.intp),
        )

    def collate(self, labels: list[Any], width: int) -> torch.Tensor:
        """The labels of a batch's features as the tensor :meth:`loss` takes.

        ``width`` is the batch's padded piece count (token-level labels are padded to it).
        """
        return self.label_tensor(np.asarray(labels, dtype=self.label_dtype))

    def logits(self, output: Any) -> torch.Tensor:
        """The one tensor :meth:`loss` and :meth:`outputs` read from a forward pass."""
        logits: torch.Tensor = output.logits
        return logits

    @abstractmethod
    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (mean over its examples)."""

    @abstractmethod
    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """What predictions are read from: class probabilities, or the predicted value.

        In the dtype of ``logits`` (callers choose the precision).
        """

    def predictions(self, encoded: EncodedExamples, outputs: Sequence[npt.NDArray[Any]]) -> Any:
        """Per-example predictions from each feature's :meth:`outputs` (as numpy arrays).

        ``outputs[i]`` belongs to feature ``i``; with a piece axis it is cut to the feature's
        own pieces.

        Default: one feature per example, stacked to ``(n, k)``.
        """
        stacked = np.zeros((int(encoded.example_of.max(initial=-1)) + 1, len(outputs[0])))
        stacked[encoded.example_of] = np.stack(outputs)
        return stacked

    # -- labels ----------------------------------------------------------------------------
    def label_bytes(self, labels: Labels) -> bytes:
        """The labels as bytes for the task's fingerprint (stable across runs)."""
        return np.asarray(labels, dtype=self.label_dtype).tobytes()

    @abstractmethod
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
        """Parse one label cell per record into labels and (for classes) the class names.

        ``classes`` are names known from the source (a ``datasets`` ``ClassLabel``); integer
        cells then index them.  ``recode`` maps raw values to labels (binary tasks only).
        Every cell that cannot be read raises a :class:`~transferscout.errors.DataError`
        naming its record.
        """

    def check_texts(
        self,
        texts: Sequence[str],
        labels: Labels,
        locations: Sequence[str],
        *,
        path: Path | str,
        column: str,
    ) -> None:
        """Raise a :class:`~transferscout.errors.DataError` where labels do not fit their text.

        The error names the record (a tagging task needs a tag per word).  Default: labels
        never depend on the text, so there is nothing to check.
        """
        return

    def check_inputs(
        self, tokenizer: PreTrainedTokenizerBase, task: str, split: Split, max_length: int
    ) -> None:
        """Raise a :class:`~transferscout.errors.TransferScoutError` if :meth:`encode` would fail.

        Called before any trial for every split and every ``max_length`` the run uses, so
        that a split the kind cannot encode is one error up front, not failed trials.
        Default: any text can be encoded (it is truncated).
        """
        return

    @abstractmethod
    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """0/1 columns the document-level stratified split balances, ``(n, k)``."""

    @abstractmethod
    def check(
        self,
        name: str,
        splits: Sequence[tuple[str, Labels]],
        minimum: int,
        path: Path | str,
        *,
        classes: Sequence[str] = (),
    ) -> None:
        """Raise a :class:`~transferscout.errors.DataError` if the task cannot be learnt.

        ``splits`` are ``(split name, labels)`` in split order; ``classes`` the task's class
        names (``Task.classes``), for messages that name a class.
        """

    @abstractmethod
    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """At most ``cap`` sorted row indices of a split (``strategy`` as in TaskOptions)."""

    def cap_method(self, strategy: str) -> str:
        """How :meth:`cap` with ``strategy`` picks rows, in words (a capped split's note).

        Default: the strategy's name (``stratified``, ``balanced``).
        """
        return strategy

    @abstractmethod
    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """A few words about a split's labels (``"12/40 positive"``, ``"mean 3.1"``)."""

    # -- metrics ---------------------------------------------------------------------------
    @abstractmethod
    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """Every recorded metric of the :meth:`predictions` ``outputs`` against ``labels``.

        ``classes`` are the task's class (tag) names, for kinds whose metrics read names.
        """

    def relevance(self, scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Primary-metric values mapped onto [0, 1]: the relevance of NDCG and Regret@k.

        ``(score − low) / (high − low)`` with ``(low, high)`` the :attr:`metric_range`: the
        identity for an F1 (range [0, 1]), so binary and multi-class rankings are scored on
        the metric itself; ``(ρ + 1) / 2`` for Spearman's ρ (range [−1, 1]), so a negative
        correlation is a small but non-negative relevance and the order of candidates is
        unchanged.
        """
        low, high = self.metric_range
        return (np.asarray(scores, dtype=np.float64) - low) / (high - low)

    # -- signals ---------------------------------------------------------------------------
    def estimator_labels(self, encoded: EncodedExamples, labels: Labels) -> npt.NDArray[Any]:
        """The labels the estimators score features against, one per feature row.

        Sequence level: the split's labels.  A token-level kind returns the labels of the
        labelled pieces, in the order the pair stage reads their features.
        """
        return np.asarray(labels)

    @abstractmethod
    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """The documents ANSAT counts as the task's "positive" ones.

        ``reference`` are the task's training labels (majority class, median).
        """

    @abstractmethod
    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """What is attributed for each document (see :data:`AttributionTarget`).

        ``gold`` is the document's label in the model's own task, or ``None`` for a document
        of another task; ``outputs`` the model's :meth:`predictions` on the documents, or
        ``None`` when :attr:`needs_predictions_for_attribution` is false; ``reference`` the
        task's training labels.
        """

    #: Whether :meth:`attribution_targets` needs the model's predictions.
    needs_predictions_for_attribution: ClassVar[bool] = False

    # -- degenerate models -----------------------------------------------------------------
    #: What :meth:`degenerate` calls degenerate, in words (the evaluation summary's rule).
    degenerate_rule: ClassVar[str] = "not judged"

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """Why a model with these stored ``metrics`` is degenerate on ``split``, else ``None``.

        A degenerate model predicts one class for (nearly) all examples, or a constant: it
        learnt nothing, and a gain over it is no finding.  Read from the metrics the kind
        records (``<split>_<key>``), so stored trials and exported tables are judged without
        their models; metrics without the counts the rule needs are not judged (``None``).
        Default: not judged (a kind whose models cannot predict one answer for everything).
        """
        return None


def top_class_counts(labels: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, float]:
    """What :func:`one_class_reason` reads: the most-predicted class's counts.

    ``top_class_predicted`` examples are predicted as the most-predicted class (the lowest
    among ties), ``top_class_gold`` examples have it as their label, of ``top_class_total``.
    Labels and predictions are class ids or names, one per example (or per word).
    """
    y = np.asarray(labels).ravel()
    p = np.asarray(predicted).ravel()
    if len(p) == 0:
        return {"top_class_predicted": 0, "top_class_gold": 0, "top_class_total": 0}
    values, counts = np.unique(p, return_counts=True)
    top = values[int(np.argmax(counts))]
    return {
        "top_class_predicted": int(np.sum(p == top)),
        "top_class_gold": int(np.sum(y == top)),
        "top_class_total": len(p),
    }


def one_class_reason(
    predicted: float, gold: float, total: float, *, top: str, split: str, unit: str = "examples"
) -> str | None:
    """Why a classifier is degenerate on ``split``, from its most-predicted class's counts.

    The class ``top`` is predicted for ``predicted`` of ``total`` examples, ``gold`` of which
    have it: degenerate when the other predictions are fewer than :data:`DEGENERATE_RATIO`
    times the examples of the other classes.  Examples all of one class cannot tell
    (``None``).
    """
    others_gold = total - gold
    others_predicted = total - predicted
    if total <= 0 or others_gold <= 0 or others_predicted >= DEGENERATE_RATIO * others_gold:
        return None
    return (
        f"predicts {top} for {int(predicted)} of {int(total)} {split} {unit} "
        f"({int(others_gold)} are not {top}; {int(others_predicted)} predictions are not)"
    )


def stored_one_class_reason(
    metrics: Mapping[str, Any], split: str, *, top: str, unit: str = "examples"
) -> str | None:
    """:func:`one_class_reason` of the counts :func:`top_class_counts` stored for ``split``.

    Trials recorded before those counts existed are not judged (``None``).
    """
    try:
        counts = [float(metrics[f"{split}_top_class_{k}"]) for k in ("predicted", "gold", "total")]
    except (KeyError, TypeError, ValueError):
        return None
    return one_class_reason(*counts, top=top, split=split, unit=unit)


def applicable_estimators(source: TaskKind, target: TaskKind) -> frozenset[str]:
    """The estimators defined for a source model of kind ``source`` and a target task.

    The features are read at the target's :attr:`~TaskKind.estimator_level` (per example,
    or per labelled word piece); a target without one has no estimator.  LogME regresses the
    target on the features: defined for every such target (class columns as one-hot, a
    regression value natively).  H-score and TransRate need the target's classes.  LEEP and
    NCE read the source's class predictions against the target's classes, so the source
    must predict classes at the same level (a tagger's tags per piece for a tagging target;
    a classifier's classes per text for a classification target).
    """
    if target.estimator_level is None:
        return frozenset()
    names = {"logme"}
    if target.has_classes:
        names |= {"h_score", "h_score_shrinkage", "transrate"}
        if source.has_classes and source.head == target.estimator_level:
            names |= {"leep", "nce"}
    return frozenset(names)
