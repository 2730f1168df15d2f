"""A meta-model that travels: fitted on one pool's candidates, ranking another pool's sources.

Recommend promises a user who brings a new pool of tasks a ranking from a meta-model fitted
in an earlier study.  The within-pool evaluation cannot show that: leave-one-target-out still
learns from the other targets' transfers *of the same pool*, which such a user has not
trained.  Here every meta-model (each feature set, the hyperparameters-only baseline and the
hyperparameter prior of the single signals) is fitted once on all of another run's
candidates, and ranks this run's candidates with this run's own signals and single-task
scores — information known before any of this pool's transfers is trained.  The metrics,
curves, charges (this pool's signals and single-task models) and paired tests are those of
:func:`~transferscout.evaluation.run.evaluate_run`; :func:`versus_within` then pairs each
method's per-target values with the within-pool leave-one-target-out values on the same
targets.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.errors import ConfigError
from transferscout.evaluation.compare import is_tested
from transferscout.evaluation.methods import HYPERPARAMETER_BASELINE
from transferscout.evaluation.run import (
    EvaluationResult,
    EvaluationSettings,
    evaluate_run,
    evaluate_table,
    evaluation_table,
    write_evaluation,
)
from transferscout.evaluation.stats import sign_flip_test
from transferscout.meta.features import feature_columns

__all__ = [
    "CROSS_POOL_FOLDER",
    "CrossPoolResult",
    "check_distinct_runs",
    "compatible_feature_sets",
    "evaluate_cross_pool",
    "versus_within",
]

logger = logging.getLogger(__name__)

#: Where a run's cross-pool evaluation is written, inside ``<run>/evaluation/``.
CROSS_POOL_FOLDER = "cross_pool"


@dataclass
class CrossPoolResult:
    """The evaluated pool ranked by meta-models fitted on another pool.

    Attributes:
        evaluation: Every table of the evaluation (methods, metrics, curves, paired tests
            against the best no-signal baseline and ``meta:f1``), the meta-models fitted on
            ``fit_run``.
        versus_within: Per method and metric, the cross-pool and the within-pool
            (leave-one-target-out) means over the same targets, their difference and the
            two-sided sign-flip p-value of the per-target differences.
        fit_run: The run the meta-models were fitted on.
        within: The evaluated run's within-pool (leave-one-target-out) evaluation.
    """

    evaluation: EvaluationResult
    versus_within: pd.DataFrame
    fit_run: Path
    within: EvaluationResult


def compatible_feature_sets(
    fit_table: pd.DataFrame, table: pd.DataFrame, feature_sets: Sequence[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """The feature sets a model fitted on ``fit_table`` can score ``table`` with.

    A set that either table lacks signals for is skipped (as the within-pool evaluation
    skips it).

    Returns:
        The columns of each usable set, and the names of the skipped sets.

    Raises:
        ConfigError: A set both tables have is made of different columns (e.g. TaskEmb of
            encoders with different layers), no set is usable, or ``table`` has targets of
            a kind that ``fit_table`` has none of (a gain learnt on one metric does not
            transfer to another).
    """
    missing_kinds = sorted(set(table["target_kind"]) - set(fit_table["target_kind"]))
    if missing_kinds:
        raise ConfigError(
            f"the evaluated run has targets of kind {', '.join(missing_kinds)}, which the run "
            f"the meta-model is fitted on has none of (it has "
            f"{', '.join(sorted(set(fit_table['target_kind'])))})"
        )
    columns_by_set: dict[str, list[str]] = {}
    skipped = []
    for feature_set in feature_sets:
        try:
            own = feature_columns(table, feature_set)
            theirs = feature_columns(fit_table, feature_set)
        except ConfigError as error:
            logger.warning("skipping feature set %s: %s", feature_set, error)
            skipped.append(feature_set)
            continue
        if set(own) != set(theirs):
            only_own = sorted(set(own) - set(theirs))
            only_theirs = sorted(set(theirs) - set(own))
            raise ConfigError(
                f"feature set {feature_set!r} has different columns in the two runs (only in "
                f"the evaluated run: {only_own[:3] or 'none'}; only in the fitted run: "
                f"{only_theirs[:3] or 'none'}): their signals were computed differently"
            )
        columns_by_set[feature_set] = own
    if not columns_by_set:
        raise ConfigError(
            f"no feature set has its signals in both runs (tried {', '.join(feature_sets)})"
        )
    return columns_by_set, skipped


def check_distinct_runs(run_dir: Path, fit_run: Path) -> None:
    """Refuse to fit the cross-pool meta-model on the evaluated run itself."""
    if run_dir.resolve() == fit_run.resolve():
        raise ConfigError(
            f"{fit_run}: the meta-model would be fitted on the evaluated run itself; the "
            "within-pool evaluation (leave-one-target-out) is that case"
        )


def versus_within(
    cross: pd.DataFrame,
    within: pd.DataFrame,
    *,
    methods: Collection[str] | None = None,
) -> pd.DataFrame:
    """Pair each method's per-target values across pools with the within-pool ones.

    Args:
        cross: Per-target metrics of the cross-pool evaluation (columns ``method``,
            ``target`` and one per metric; means over seeds).
        within: The same of the within-pool leave-one-target-out evaluation.
        methods: Methods compared (default: the meta-models and the hyperparameters-only
            baseline, the methods whose fit differs between the two).

    Returns:
        One row per (method, metric) for the tested metrics and the rank of the best:
        ``targets`` (in both), ``cross`` and ``within`` (means over them), ``difference``
        (cross − within) and ``p`` (two-sided sign-flip test of the per-target differences).
    """
    metrics = [
        c for c in cross.columns if c in within.columns and (is_tested(c) or c == "rank_of_best")
    ]
    if methods is None:
        methods = [
            m
            for m in dict.fromkeys(cross["method"])
            if str(m).startswith("meta:") or m == HYPERPARAMETER_BASELINE
        ]
    rows = []
    for method in methods:
        mine = cross[cross["method"] == method].set_index("target")
        theirs = within[within["method"] == method].set_index("target")
        targets = mine.index.intersection(theirs.index)
        if targets.empty:
            continue
        for metric in metrics:
            a = mine.loc[targets, metric].to_numpy(dtype=float)
            b = theirs.loc[targets, metric].to_numpy(dtype=float)
            rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "targets": len(targets),
                    "cross": float(np.nanmean(a)),
                    "within": float(np.nanmean(b)),
                    "difference": float(np.nanmean(a - b)),
                    "p": sign_flip_test(a - b),
                }
            )
    columns = ["method", "metric", "targets", "cross", "within", "difference", "p"]
    return pd.DataFrame(rows, columns=columns)


def evaluate_cross_pool(
    run_dir: str | Path,
    fit_run: str | Path,
    settings: EvaluationSettings | None = None,
    *,
    trials: Collection[str] | None = None,
    fit_trials: Collection[str] | None = None,
    within: EvaluationResult | None = None,
) -> CrossPoolResult:
    """Rank ``run_dir``'s candidates with meta-models fitted on ``fit_run``'s, and compare.

    Written to ``<run>/evaluation/cross_pool/`` (the evaluation's tables, ``summary.json``
    naming the fitted run, and ``versus_within.csv``).

    Args:
        run_dir: The evaluated run (its signals, single-task models and finished transfers).
        fit_run: The run whose candidates (all its targets) the meta-models are fitted on.
        settings: Evaluation settings (feature sets, seeds, ...); adaptive search is not
            replayed across pools.
        trials: The evaluated run's configured trial ids (default: every finished one).
        fit_trials: The fitted run's configured trial ids (default: every finished one).
        within: The evaluated run's within-pool evaluation with the same settings (default:
            computed here, and written to ``<run>/evaluation/``).

    Raises:
        ConfigError: The two runs are the same, or their features or kinds do not match
            (:func:`compatible_feature_sets`); checked before anything is written.
    """
    settings = settings or EvaluationSettings()
    run_dir, fit_run = Path(run_dir), Path(fit_run)
    check_distinct_runs(run_dir, fit_run)
    table = evaluation_table(run_dir, settings, trials=trials)
    fit_table = evaluation_table(fit_run, settings, trials=fit_trials)
    columns_by_set, skipped = compatible_feature_sets(fit_table, table, settings.feature_sets)
    shared = sorted(set(table["target"]) & set(fit_table["target"]))
    if shared:
        logger.warning(
            "targets %s are in both runs: the fitted run's transfers onto them are learnt from",
            ", ".join(shared),
        )
    if within is None:
        within = evaluate_run(run_dir, settings, trials=trials)
    result = evaluate_table(
        run_dir,
        table,
        settings,
        columns_by_set,
        skipped=skipped,
        trials=trials,
        fit_table=fit_table,
    )
    result.summary.update(
        {
            "fitted_on": str(fit_run),
            "fitted_on_targets": sorted(set(fit_table["target"])),
            "fitted_on_candidates": len(fit_table),
            "cross_pool": (
                "every meta-model (feature sets, the hyperparameters-only baseline, the "
                "hyperparameter prior of single signals) fitted once on all of the fitted "
                "run's candidates; this run's candidates ranked with this run's own signals "
                "and single-task scores; adaptive search not replayed"
            ),
        }
    )
    compared = versus_within(result.per_target, within.per_target)
    folder = run_dir / "evaluation" / CROSS_POOL_FOLDER
    write_evaluation(folder, result)
    compared.to_csv(folder / "versus_within.csv", index=False)
    return CrossPoolResult(
        evaluation=result, versus_within=compared, fit_run=fit_run, within=within
    )
