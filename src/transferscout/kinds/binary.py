"""Binary tasks: 0/1 labels, positive-class F1 (the seed paper's case, unchanged)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from transferscout.errors import DataError
from transferscout.kinds.base import AttributionTarget, Labels, one_class_reason
from transferscout.kinds.classes import ClassificationKind
from transferscout.training.metrics import binary_metrics

__all__ = ["BinaryKind"]


class BinaryKind(ClassificationKind):
    """Positive (1) versus negative (0); the positive class is the class of interest."""

    name: ClassVar[str] = "binary"
    primary_metric: ClassVar[str] = "f1"
    metric_label: ClassVar[str] = "positive F1"
    other_metrics: ClassVar[tuple[str, ...]] = ("precision", "recall", "accuracy")
    display_name: ClassVar[str] = "binary"
    label_dtype: ClassVar[type[np.generic]] = np.int8
    needs_predictions_for_attribution: ClassVar[bool] = False

    def num_outputs(self, classes: Sequence[str]) -> int:
        """Two logits (negative, positive)."""
        return 2

    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """``not <task>`` and ``<task>`` (label 1 is the task)."""
        return [f"not {task}", task]

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
        """0/1 cells (see :func:`~transferscout.tasks.labels.binary_value`), after ``recode``."""
        from transferscout.tasks.labels import binary_value

        labels = np.zeros(len(values), dtype=np.int8)
        # Label cells repeat a handful of distinct values: parse each distinct value once.
        parsed: dict[tuple[type, object], int | None] = {}
        for i, value in enumerate(values):
            try:
                label = parsed[type(value), value]
            except KeyError:
                label = parsed[type(value), value] = binary_value(value, recode)
            except TypeError:  # an unhashable cell, e.g. a list
                label = binary_value(value, recode)
            if label is None:
                raise DataError(
                    "the label is not 0 or 1"
                    if value not in (None, "")
                    else "the label is missing",
                    path=path,
                    where=locations[i],
                    column=column,
                    expected="0 or 1",
                    got=value,
                )
            labels[i] = label
        return labels, ()

    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """The label itself: the split spreads each task's positives evenly."""
        return np.asarray(labels, dtype=np.int8).reshape(-1, 1)

    def check(
        self,
        name: str,
        splits: Sequence[tuple[str, Labels]],
        minimum: int,
        path: Path | str,
        *,
        classes: Sequence[str] = (),
    ) -> None:
        """At least ``minimum`` positives and as many negatives in every split."""
        for split_name, labels in splits:
            positives = int(np.sum(labels))
            for kind, count in (("positive", positives), ("negative", len(labels) - positives)):
                if count < minimum:
                    raise DataError(
                        f"task {name!r} has {count} {kind} example(s) in the {split_name} split",
                        path=path,
                        expected=f"at least {minimum} {kind} example(s) in every split "
                        "(drop the task, add data, or change the split)",
                    )

    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """Stratified (keep the positive rate) or balanced (as many positives as negatives)."""
        positives = np.flatnonzero(labels == 1)
        negatives = np.flatnonzero(labels == 0)
        cap = min(cap, len(labels))
        if strategy == "balanced":
            n_pos = n_neg = min(len(positives), len(negatives), cap // 2)
        else:
            n_pos = round(cap * len(positives) / len(labels))
            n_pos = min(max(n_pos, minimum), len(positives), cap - minimum)
            n_neg = cap - n_pos
        chosen = np.concatenate(
            [
                rng.choice(positives, n_pos, replace=False),
                rng.choice(negatives, n_neg, replace=False),
            ]
        )
        return np.sort(chosen)

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """``positives/examples``."""
        return f"{int(np.sum(labels))}/{len(labels)} positive"

    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """Positive-class F1, precision, recall, accuracy and counts of the arg-max class."""
        return dict(binary_metrics(labels, outputs.argmax(axis=1)).as_dict())

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """Positive (or negative) predicted for nearly every example of ``split``.

        Read from the counts binary metrics have always recorded (``n``, ``positives``,
        ``predicted_positives``), so every stored binary trial is judged.
        """
        try:
            n = float(metrics[f"{split}_n"])
            positives = float(metrics[f"{split}_positives"])
            predicted = float(metrics[f"{split}_predicted_positives"])
        except (KeyError, TypeError, ValueError):
            return None
        if predicted >= n - predicted:
            return one_class_reason(predicted, positives, n, top="positive", split=split)
        return one_class_reason(n - predicted, n - positives, n, top="negative", split=split)

    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """Always the positive class's logit (the seed paper's choice)."""
        return [1] * len(gold)

    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """The documents labelled 1."""
        return np.asarray(np.asarray(labels) == 1, dtype=np.bool_)
