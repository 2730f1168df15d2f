"""``TransferRegressor``: an XGBoost regressor predicting a transfer model's F1.

Within a pool it is evaluated leave-one-target-out (:func:`leave_one_target_out`); across
pools it is fitted on one pool and predicts another's rows (:func:`fit_and_predict`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["TransferRegressor", "fit_and_predict", "leave_one_target_out"]


class TransferRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Gradient-boosted trees (``xgboost.XGBRegressor``) from pair signals to transfer F1.

    Every parameter is an explicit keyword, stored unchanged; ``fit`` returns ``self``; the
    fitted booster is ``model_``.  Missing values (signals not computed) are allowed.

    Args:
        n_estimators: Boosting rounds.
        max_depth: Depth of each tree.
        learning_rate: Shrinkage of each round.
        subsample: Row sampling per tree.
        colsample_bytree: Column sampling per tree.
        min_child_weight: Minimum hessian weight in a leaf.
        random_state: Seed.
        n_jobs: Threads.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any) -> TransferRegressor:  # noqa: N803 - scikit-learn's name
        """Fit the booster on features ``X`` ``(n, d)`` and targets ``y`` ``(n,)``."""
        from xgboost import XGBRegressor

        if self.n_estimators < 1:  # XGBoost would silently predict its base score for all
            raise ValueError(f"n_estimators = {self.n_estimators}; expected at least 1")
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        self.model_ = XGBRegressor(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            tree_method="hist",
        )
        self.model_.fit(X, y)
        return self

    def predict(self, X: Any) -> npt.NDArray[np.float64]:  # noqa: N803
        """Predicted F1 for each row of ``X``."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return np.asarray(self.model_.predict(X), dtype=np.float64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def leave_one_target_out(
    table: pd.DataFrame,
    columns: list[str],
    *,
    make_regressor: Callable[[], Any] = TransferRegressor,
    target_column: str = "real_f1",
) -> npt.NDArray[np.float64]:
    """Predict each row with a model fitted on the rows of *other* targets only.

    The rows of target B are predicted by a regressor that has seen no row whose target is
    B (rows where B is the source are allowed: they are other targets' candidates).

    Returns:
        One prediction per row of ``table``, in its order.
    """
    predictions = np.full(len(table), np.nan)
    features = table[columns].to_numpy(dtype=np.float64)
    real = table[target_column].to_numpy(dtype=np.float64)
    targets = table["target"].to_numpy()
    for target in pd.unique(targets):
        held_out = targets == target
        if held_out.all():
            raise ValueError("leave-one-target-out needs at least two targets")
        model = make_regressor().fit(features[~held_out], real[~held_out])
        predictions[held_out] = model.predict(features[held_out])
    return predictions


def fit_and_predict(
    fit_table: pd.DataFrame,
    table: pd.DataFrame,
    columns: list[str],
    *,
    make_regressor: Callable[[], Any] = TransferRegressor,
    target_column: str = "real_f1",
) -> npt.NDArray[np.float64]:
    """Predict every row of ``table`` with one model fitted on every row of ``fit_table``.

    The cross-pool case: ``fit_table`` is another pool's candidates (all its targets), so no
    row of ``table`` — nor any other result of its pool's transfers — is seen in the fit.

    Returns:
        One prediction per row of ``table``, in its order.
    """
    model = make_regressor().fit(
        fit_table[columns].to_numpy(dtype=np.float64),
        fit_table[target_column].to_numpy(dtype=np.float64),
    )
    return np.asarray(model.predict(table[columns].to_numpy(dtype=np.float64)), dtype=np.float64)
