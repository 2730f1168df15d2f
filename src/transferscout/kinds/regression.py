"""Regression tasks: a real-valued score per example; Spearman's ρ."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from transferscout.errors import ConfigError, DataError
from transferscout.kinds.base import AttributionTarget, Labels, TaskKind
from transferscout.kinds.classes import cap_by_class
from transferscout.training.metrics import regression_metrics

if TYPE_CHECKING:
    import torch

#: A regression model whose predictions spread less than this share of the labels' standard
#: deviation predicts one value: fp32 rounding alone gives ~1e-7, so 1e-6 would catch only
#: exact constants; below 1e-3 the model has collapsed onto a value and any ranking it gives
#: comes from vanishing differences.
CONSTANT_SPREAD = 1e-3

__all__ = ["CONSTANT_SPREAD", "RegressionKind", "value_bins"]

#: A regression model whose predictions spread less than this share of the labels' standard
#: deviation predicts one value: fp32 rounding alone gives ~1e-7, so 1e-6 would catch only
#: exact constants; below 1e-3 the model has collapsed onto a value and any ranking it gives
#: comes from vanishing differences.
CONSTANT_SPREAD = 1e-3

#: Quantile bins a regression column is stratified and capped by.
BINS = 4


def value_bins(values: Labels, bins: int = BINS) -> npt.NDArray[np.int64]:
    """The quantile bin (``0 … bins−1``) of each value, by rank (ties share a bin)."""
    y = np.asarray(values, dtype=np.float64)
    if len(y) == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, y, side="right").astype(np.int64)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


class RegressionKind(TaskKind):
    """A real value per example; a one-output head trained with mean squared error."""

    name: ClassVar[str] = "regression"
    primary_metric: ClassVar[str] = "spearman"
    metric_label: ClassVar[str] = "Spearman ρ"
    other_metrics: ClassVar[tuple[str, ...]] = ("pearson", "mse")
    display_name: ClassVar[str] = "regression"
    has_classes: ClassVar[bool] = False
    metric_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    label_dtype: ClassVar[type[np.generic]] = np.float64

    def num_outputs(self, classes: Sequence[str]) -> int:
        """One output: the value."""
        return 1

    def output_names(self, task: str, classes: Sequence[str]) -> list[str] | None:
        """None: the one output is the value, not a class."""
        return None

    def label_tensor(self, labels: Labels) -> torch.Tensor:
        """Values as float32."""
        import torch

        return torch.tensor(np.asarray(labels, dtype=np.float32))

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the single output."""
        import torch

        return torch.nn.functional.mse_loss(logits.view(-1).float(), labels.view(-1).float())

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted value, as a ``(n, 1)`` column."""
        return logits[:, :1]

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
        """Finite numbers (or numeric strings)."""
        if recode:
            raise ConfigError(f"recode is for 0/1 label columns; {column!r} is a regression")
        out = np.zeros(len(values), dtype=np.float64)
        for i, (value, where) in enumerate(zip(values, locations, strict=True)):
            number = _number(value)
            if number is None:
                raise DataError(
                    "the value is missing" if value in (None, "") else "the value is not a number",
                    path=path,
                    where=where,
                    column=column,
                    expected="a finite number (regression column)",
                    got=value,
                )
            out[i] = number
        if len(np.unique(out)) < 2:
            raise DataError(
                "the regression column has a single value",
                path=path,
                column=column,
                expected="at least two different values",
            )
        return out, ()

    def strata(self, labels: Labels) -> npt.NDArray[np.int8]:
        """One column per quantile bin: low and high values are spread evenly."""
        bins = value_bins(labels)
        out = np.zeros((len(bins), BINS), dtype=np.int8)
        out[np.arange(len(bins)), bins] = 1
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
        """Two different values in every split (a correlation needs variation)."""
        for split_name, labels in splits:
            if len(np.unique(labels)) < 2:
                raise DataError(
                    f"task {name!r} has fewer than two different values in the {split_name} split",
                    path=path,
                    expected="at least two different values in every split",
                )

    def cap(
        self,
        labels: Labels,
        cap: int,
        strategy: str,
        minimum: int,
        rng: np.random.Generator,
    ) -> npt.NDArray[np.intp]:
        """Per quantile bin, in proportion (stratified) or in equal shares (balanced)."""
        return cap_by_class(value_bins(labels), cap, strategy, 1, rng)

    def summary(self, labels: Labels, classes: Sequence[str]) -> str:
        """Mean and standard deviation."""
        y = np.asarray(labels, dtype=np.float64)
        return f"mean {y.mean():.3g} sd {y.std():.3g}" if len(y) else "empty"

    def metrics(
        self, labels: Labels, outputs: Any, *, classes: Sequence[str] = ()
    ) -> dict[str, float]:
        """Spearman, Pearson and mean squared error of the predicted value; spreads.

        The standard deviations of the predictions and of the labels are for
        :meth:`degenerate`.
        """
        predicted = np.asarray(outputs[:, 0], dtype=np.float64)
        values = np.asarray(labels, dtype=np.float64)
        return {
            **regression_metrics(values, predicted),
            "prediction_sd": float(predicted.std()) if len(predicted) else 0.0,
            "label_sd": float(values.std()) if len(values) else 0.0,
        }

    degenerate_rule: ClassVar[str] = (
        f"its validation predictions spread less than {CONSTANT_SPREAD:g} x the labels' "
        "standard deviation"
    )

    def degenerate(self, metrics: Mapping[str, Any], split: str = "validation") -> str | None:
        """(Nearly) one value predicted for every example of ``split``.

        Degenerate when the predictions' standard deviation is below :data:`CONSTANT_SPREAD`
        of the labels'; trials recorded before these were are not judged.
        """
        try:
            spread = float(metrics[f"{split}_prediction_sd"])
            label_spread = float(metrics[f"{split}_label_sd"])
        except (KeyError, TypeError, ValueError):
            return None
        if not label_spread > 0 or spread >= CONSTANT_SPREAD * label_spread:
            return None
        return (
            f"predicts a constant on the {split} examples (prediction sd {spread:.3g}, "
            f"label sd {label_spread:.3g})"
        )

    def positive_mask(self, labels: Labels, reference: Labels) -> npt.NDArray[np.bool_]:
        """The documents above the median of the training values."""
        return np.asarray(labels, dtype=np.float64) > float(np.median(reference))

    def attribution_targets(
        self, gold: Sequence[Any | None], outputs: Any, *, reference: Labels | None = None
    ) -> list[AttributionTarget]:
        """The single output."""
        return [0] * len(gold)
