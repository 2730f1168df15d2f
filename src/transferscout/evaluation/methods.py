"""The methods the evaluation compares, their scores, and what each is charged.

The methods:

- ``meta:<feature set>``: the meta-model, fitted leave-one-target-out (one score per seed), or
  on another pool's candidates (the cross-pool evaluation);
- ``baseline:hyperparameters``: a meta-model of the hyperparameters alone (no signal);
- ``signal:<column>``: one signal used alone as a ranking;
- ``prior:<column>``: one signal within the learnt hyperparameter prior — ordered first by the
  hyperparameters-only meta-model's prediction, then by the signal — so that a signal, which
  rates every setting of a pair alike, competes with the meta-models on equal terms;
- ``random`` and ``oracle``, computed exactly elsewhere.

Charging convention (:data:`COST_CONVENTION`): a method pays for the signals it uses and, when
any of them is computed from single-task models, for one single-task model per task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from transferscout.evaluation.ordering import lexicographic_score
from transferscout.meta.features import HYPERPARAMETERS, META_TARGET
from transferscout.meta.regressor import (
    TransferRegressor,
    fit_and_predict,
    leave_one_target_out,
)

__all__ = [
    "COST_CONVENTION",
    "HYPERPARAMETER_BASELINE",
    "NO_SIGNAL_BASELINES",
    "SINGLE_SIGNALS",
    "method_charges",
    "seeded_scores",
    "signal_family_hours",
    "signal_scores",
]

#: Signals ranked alone as baselines (when the run has them); all ANSAT columns are added.
SINGLE_SIGNALS = (
    "textemb_cosine",
    "taskemb_rrf",
    "estimators_logme",
    "estimators_leep",
    "estimators_nce",
    "estimators_h_score",
    "estimators_h_score_shrinkage",
    "estimators_transrate",
    "source_size",
)

#: The baseline that ranks candidates by a meta-model of their hyperparameters alone.
HYPERPARAMETER_BASELINE = "baseline:hyperparameters"

#: Methods that use no signal; the best of them is every method's first comparison.
NO_SIGNAL_BASELINES = ("random", HYPERPARAMETER_BASELINE)

#: Per feature group: the signal-cost families it needs, and whether it needs single-task models.
_NEEDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "f1": ((), True),
    "ansat": (("conductance", "ansat"), True),
    "taskemb": (("taskemb",), True),
    "textemb": (("textemb",), False),
    "estimators": (("features", "estimators"), True),
    "baselines": ((), False),
}

COST_CONVENTION = (
    "Every training is charged once, its hours as first measured (a model trained again because "
    "its file was lost is not charged again). The full grid is every single-task model of the "
    "grid (every setting and seed) plus every candidate's target stage: a transfer's source "
    "stage is the source's single-task model, trained once however many candidates start from "
    "it. A method trains candidates in its order, each charged its target stage; every method "
    "is charged once the source stages of the candidates (the single-task models a transfer "
    "starts from) and what its ranking reads: the recorded hours of the signal families it uses "
    "(ANSAT: conductance + ansat; TaskEmb; TextEmb; the estimators: pooled features + "
    "estimators) and, if any of them (or the single-task scores) comes from single-task models, "
    "every other single-task model of the tasks (each feature reads the best-validation model "
    "of all of them). TextEmb needs only the pretrained encoder; the data-size and "
    "positive-rate baselines are free; the hyperparameters-only baseline, random order and the "
    "oracle pay only the source stages. Per-target time saved charges each target an equal "
    "share of the method's charge against its candidates plus an equal share of the grid's "
    "single-task models."
)


def _group_of_signal(column: str) -> str:
    for prefix in ("ansat", "textemb", "taskemb", "estimators"):
        if column.startswith(prefix + "_"):
            return prefix
    return "baselines"


def _groups(method: str) -> list[str]:
    kind, _, name = method.partition(":")
    if kind in ("signal", "prior"):
        return [_group_of_signal(name)]
    if kind in ("meta", "adaptive"):
        return list(_NEEDS) if name == "all" else name.split("+")
    return []


def method_charges(
    methods: Sequence[str],
    family_hours: Mapping[str, float],
    single_task_hours: float,
    *,
    adaptive_feature_set: str = "all",
    base_hours: float = 0.0,
) -> dict[str, float]:
    """Hours charged to each method besides its candidates' target stages.

    See :data:`COST_CONVENTION`.

    Args:
        methods: Method names (``meta:f1+ansat``, ``signal:estimators_logme``, ...);
            ``adaptive:*`` methods use ``adaptive_feature_set``.
        family_hours: Recorded hours per signal-cost family.
        single_task_hours: The single-task models a method reads beyond ``base_hours`` (the
            grid's other single-task trials), in hours.
        adaptive_feature_set: The feature set adaptive search fits.
        base_hours: What every method is charged (the candidates' source stages).
    """
    charges = {}
    for method in methods:
        name = f"meta:{adaptive_feature_set}" if method.startswith("adaptive:") else method
        families: set[str] = set()
        singles = False
        for group in _groups(name):
            needed, needs_singles = _NEEDS.get(group, ((), False))
            families.update(needed)
            singles = singles or needs_singles
        hours = sum(family_hours.get(family, 0.0) for family in families)
        charges[method] = base_hours + hours + (single_task_hours if singles else 0.0)
    return charges


def signal_family_hours(columns: Sequence[str], family_hours: Mapping[str, float]) -> float:
    """The recorded hours of the signal families that ``columns`` are read from, each once.

    The signals' own cost only (ANSAT: conductance + ansat; the estimators: pooled features +
    estimators; ...), not the single-task models some are computed from; a column of no known
    family (a baseline, an imported matrix's signal) costs nothing.
    """
    families: set[str] = set()
    for column in columns:
        families.update(_NEEDS.get(_group_of_signal(column), ((), False))[0])
    return float(sum(family_hours.get(family, 0.0) for family in families))


def signal_scores(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """``signal:<column>`` for every ANSAT threshold column and every single signal present.

    A signal undefined for a candidate (missing: e.g. LEEP of a regression source) ranks it
    below every defined one, tied with the other missing ones.
    """
    columns = [c for c in table.columns if c.startswith("ansat_")]
    columns += [c for c in SINGLE_SIGNALS if c in table.columns]
    return {f"signal:{c}": _missing_last(table[c].to_numpy(dtype=float)) for c in columns}


def _missing_last(values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values
    floor = float(np.min(values[~missing])) - 1.0 if (~missing).any() else 0.0
    return np.where(missing, floor, values)


def seeded_scores(
    table: pd.DataFrame,
    feature_columns: Mapping[str, list[str]],
    make_regressor: Callable[[], TransferRegressor],
    *,
    fit_table: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """The scores that depend on the meta-model's seed.

    ``meta:<set>`` for each feature set, and — when the hyperparameters vary — the
    hyperparameters-only baseline and every single signal within its prior (``prior:<col>``).
    Every model is fitted leave-one-target-out on ``table`` (one fit per target per model),
    or, with ``fit_table`` (another pool's candidates), once on ``fit_table`` alone.
    """

    def predict(columns: list[str]) -> np.ndarray:
        if fit_table is None:
            return leave_one_target_out(
                table, columns, make_regressor=make_regressor, target_column=META_TARGET
            )
        return fit_and_predict(
            fit_table, table, columns, make_regressor=make_regressor, target_column=META_TARGET
        )

    scores = {f"meta:{name}": predict(columns) for name, columns in feature_columns.items()}
    if any(table[c].nunique() > 1 for c in HYPERPARAMETERS):
        prior = predict(list(HYPERPARAMETERS))
        scores[HYPERPARAMETER_BASELINE] = prior
        for name, signal in signal_scores(table).items():
            scores["prior:" + name.removeprefix("signal:")] = lexicographic_score(prior, signal)
    return scores
