"""The task-kind abstraction: what differs between binary, multi-class and regression tasks.

A :class:`TaskKind` answers, for its kind of task, every question a stage asks: how many
outputs the head has and what the loss is; how label cells are read and checked; how the
documents are stratified when splits are made and how a split is capped; which metrics are
recorded and which one is primary; which documents are "positive" for ANSAT and which output
is attributed; and whether the target has classes (which decides the estimators that apply).
Stages never branch on a kind's name: they call these methods.  A new kind is one subclass
and one entry in :data:`transferscout.kinds.KINDS` (and one row of the tests' matrix).

Labels are one value per example here (a sequence-level kind).  Token- and span-level kinds
(sequence labelling, extractive QA) answer the same questions with their own label types:
the methods take whole label arrays and splits, never single scalars, for that reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

__all__ = ["ESTIMATORS", "TaskKind", "applicable_estimators"]

Labels = npt.NDArray[Any]

#: Every model-based estimator the pair stage computes.
ESTIMATORS = ("logme", "leep", "nce", "h_score", "h_score_shrinkage", "transrate")


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
    #: The kind as texts name it ("multi-class").
    display_name: ClassVar[str]
    #: The numpy dtype labels are stored in.
    label_dtype: ClassVar[type[np.generic]]

    def __repr__(self) -> str:
        return f"<task kind {self.name}>"

    # -- the head and the loss -------------------------------------------------------------
    @abstractmethod
    def num_outputs(self, classes: Sequence[str]) -> int:
        """Width of the head on top of the encoder."""

    @abstractmethod
    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """Labels as the tensor :meth:`loss` takes."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (mean over its examples)."""

    @abstractmethod
    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """What predictions are read from: class probabilities, or the predicted value.

        In the dtype of ``logits`` (callers choose the precision).
        """

    # -- labels ----------------------------------------------------------------------------
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

    @abstractmethod
    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """0/1 columns the document-level stratified split balances, ``(n, k)``."""

    @abstractmethod
    def check(
        self, name: str, splits: Sequence[tuple[str, Labels]], minimum: int, path: Path | str
    ) -> None:
        """Raise a :class:`~transferscout.errors.DataError` if the task cannot be learnt.

        ``splits`` are ``(split name, labels)`` in split order.
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

    @abstractmethod
    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """A few words about a split's labels (``"12/40 positive"``, ``"mean 3.1"``)."""

    # -- metrics ---------------------------------------------------------------------------
    @abstractmethod
    def metrics(self, labels: Labels, outputs: npt.NDArray[np.float64]) -> dict[str, float]:
        """Every recorded metric of predictions ``outputs`` (from :meth:`outputs`)."""

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
    @abstractmethod
    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """The documents ANSAT counts as the task's "positive" ones.

        ``reference`` are the task's training labels (majority class, median).
        """

    @abstractmethod
    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: npt.NDArray[np.float64] | None
    ) -> list[int]:
        """The output index attributed for each document.

        ``gold`` is the document's label in the model's own task, or ``None`` for a document
        of another task; ``outputs`` the model's :meth:`outputs` on the documents, or ``None``
        when :attr:`needs_predictions_for_attribution` is false.
        """

    #: Whether :meth:`attribution_targets` needs the model's predictions.
    needs_predictions_for_attribution: ClassVar[bool] = False


def applicable_estimators(source: TaskKind, target: TaskKind) -> frozenset[str]:
    """The estimators defined for a source model of kind ``source`` and a target task.

    LogME regresses the target on the features: defined for every target (class columns as
    one-hot, a regression value natively).  LEEP and NCE read the source's class predictions
    against the target's classes; H-score and TransRate need the target's classes.
    """
    names = {"logme"}
    if target.has_classes:
        names |= {"h_score", "h_score_shrinkage", "transrate"}
        if source.has_classes:
            names |= {"leep", "nce"}
    return frozenset(names)
