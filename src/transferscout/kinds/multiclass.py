"""Multi-class tasks: one of k ≥ 2 named classes per example; macro-F1."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from transferscout.errors import ConfigError, DataError
from transferscout.kinds.base import Labels, stored_one_class_reason, top_class_counts
from transferscout.kinds.classes import ClassificationKind, cap_by_class, number_text
from transferscout.training.metrics import multiclass_metrics

__all__ = ["MulticlassKind"]

logger = logging.getLogger(__name__)


def _class_name(value: Any, classes: Sequence[str] | None) -> str | None:
    """The class name of a cell: a name as written, a number, or its name in ``classes``.

    A number is one class however it is written (``1``, ``1.0``, ``"1"``, ``"1.0"``, ``"01"``
    all give ``"1"``, see :func:`number_text`): the same table exported twice, or a column
    of integers that pandas wrote as floats, must not split a class.  With ``classes`` (a
    ``ClassLabel``), integer cells index them and strings are names as written.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        if not value.is_integer():
            return None if classes else number_text(repr(float(value)))
        value = int(value)
    if isinstance(value, int | np.integer):
        if classes:
            return classes[int(value)] if 0 <= int(value) < len(classes) else None
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return text if classes else number_text(text) or text
    return None


def _check_spellings(
    names: Sequence[str], locations: Sequence[str], *, path: Path | str, column: str
) -> None:
    """Refuse two spellings of one class name (differing only in case or white space).

    They would silently become two classes (a wider head, a worse macro-F1), and which one
    is meant cannot be told from the data: the user fixes it.  The error names both
    spellings and the record where each first occurs.
    """
    first: dict[str, tuple[str, str]] = {}
    for name, where in zip(names, locations, strict=True):
        seen, seen_at = first.setdefault(" ".join(name.casefold().split()), (name, where))
        if seen != name:
            raise DataError(
                f"the classes {seen!r} ({seen_at}) and {name!r} ({where}) differ only in "
                "case or spacing",
                path=path,
                column=column,
                expected="one spelling per class (fix the data: the two spellings would "
                "silently be two classes)",
            )


class MulticlassKind(ClassificationKind):
    """Exactly one of k ≥ 2 classes per example; macro-F1 over the classes is primary."""

    name: ClassVar[str] = "multiclass"
    primary_metric: ClassVar[str] = "macro_f1"
    metric_label: ClassVar[str] = "macro-F1"
    other_metrics: ClassVar[tuple[str, ...]] = ("micro_f1", "accuracy")
    display_name: ClassVar[str] = "multi-class"
    label_dtype: ClassVar[type[np.generic]] = np.int64

    def num_outputs(self, classes: Sequence[str]) -> int:
        """One logit per class."""
        return len(classes)

    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """The class names, in class-id order."""
        return list(classes)

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
        """Class names or numbers; classes are sorted (numerically when all are integers).

        A number is one class however it is written (``"1"`` and ``"1.0"`` are class ``1``);
        names that differ only in case or white space (``Food``, ``food``) are refused.
        With ``classes`` (a ``ClassLabel``'s names) integer cells index them, string cells
        must be one of them, and the class order is theirs.
        """
        if recode:
            raise ConfigError(f"recode is for 0/1 label columns; {column!r} is multi-class")
        names: list[str] = []
        respelt: dict[str, set[str]] = {}  # a number's class -> its other spellings
        for value, where in zip(values, locations, strict=True):
            name = _class_name(value, classes)
            if isinstance(value, str) and name is not None and value.strip() != name:
                respelt.setdefault(name, set()).add(value.strip())
            if name is None:
                raise DataError(
                    "the class is missing" if value in (None, "") else "cannot read the class",
                    path=path,
                    where=where,
                    column=column,
                    expected=f"a class name or an integer class id in 0..{len(classes) - 1}"
                    if classes
                    else "a class name or a number",
                    got=value,
                )
            names.append(name)
        for name, spellings in sorted(respelt.items()):
            logger.info(
                "%s, column %r: the number %s is also written %s; read as one class",
                path,
                column,
                name,
                ", ".join(map(repr, sorted(spellings))),
            )
        if classes:
            order = tuple(str(c) for c in classes)
            known = set(order)
            unknown = next((i for i, n in enumerate(names) if n not in known), None)
            if unknown is not None:
                raise DataError(
                    "the class is not one of the column's class names",
                    path=path,
                    where=locations[unknown],
                    column=column,
                    expected=f"one of {', '.join(map(repr, order))} or an id in "
                    f"0..{len(order) - 1}",
                    got=values[unknown],
                )
        else:
            _check_spellings(names, locations, path=path, column=column)
            distinct = set(names)
            numeric = all(n.lstrip("-").isdigit() for n in distinct)
            order = tuple(sorted(distinct, key=(lambda n: (int(n), n)) if numeric else str))
        seen = set(names)
        if len(seen) < 2:
            raise DataError(
                f"the multi-class column has {len(seen)} class(es)",
                path=path,
                column=column,
                expected="at least two classes",
                got=sorted(seen),
            )
        index = {name: i for i, name in enumerate(order)}
        return np.array([index[n] for n in names], dtype=np.int64), order

    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """One column per class: every class is spread evenly over the splits."""
        values = np.asarray(labels, dtype=np.int64)
        out = np.zeros((len(values), int(values.max(initial=0)) + 1), dtype=np.int8)
        out[np.arange(len(values)), values] = 1
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
        """Two classes in training; no class in validation or test that training lacks."""
        (_, train), *others = splits
        known = set(np.unique(train).tolist())
        if len(known) < 2:
            raise DataError(
                f"task {name!r} has {len(known)} class(es) in the train split",
                path=path,
                expected="at least two classes in training (add data, or change the split)",
            )
        for split_name, labels in others:
            unseen = sorted(set(np.unique(labels).tolist()) - known)
            if unseen:
                named = ", ".join(
                    repr(classes[i]) if i < len(classes) else f"id {i}" for i in unseen
                )
                raise DataError(
                    f"task {name!r}: {'class' if len(unseen) == 1 else 'classes'} {named} "
                    f"{'occurs' if len(unseen) == 1 else 'occur'} in the {split_name} split but "
                    "never in training",
                    path=path,
                    expected="every class of validation and test to occur in training "
                    "(add data, merge rare classes, or change the split)",
                )

    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """Per class in proportion (stratified) or in equal shares (balanced)."""
        return cap_by_class(np.asarray(labels, dtype=np.int64), cap, strategy, minimum, rng)

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """Examples per class."""
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        return " ".join(f"{c}:{n}" for c, n in zip(classes, counts, strict=False))

    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """Macro-F1, micro-F1 and accuracy of the arg-max class; most-predicted class counts.

        The counts (:func:`~transferscout.kinds.base.top_class_counts`) are for
        :meth:`degenerate`.
        """
        predicted = outputs.argmax(axis=1)
        return {
            **multiclass_metrics(labels, predicted, outputs.shape[1]),
            **top_class_counts(labels, predicted),
        }

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """One class predicted for nearly every example of ``split``.

        Trials recorded before the counts of the most-predicted class are not judged.
        """
        return stored_one_class_reason(metrics, split, top="one class")
