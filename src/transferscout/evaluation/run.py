"""Evaluate a finished run: meta-model predictions, rankings, curves and tables.

Everything is written to ``<run>/evaluation/`` as CSV (and a JSON summary) for the report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from transferscout.errors import ConfigError, TransferScoutError
from transferscout.evaluation.adaptive import adaptive_curve, adaptive_replay, replay_score
from transferscout.evaluation.compare import compare_methods, seed_means
from transferscout.evaluation.curves import (
    budget_curve,
    random_curve,
    target_time_saved,
    time_saved,
)
from transferscout.evaluation.methods import (
    COST_CONVENTION,
    HYPERPARAMETER_BASELINE,
    NO_SIGNAL_BASELINES,
    SINGLE_SIGNALS,
    method_charges,
    seeded_scores,
    signal_scores,
)
from transferscout.evaluation.metrics import (
    kendall_tau,
    ndcg_at_k,
    rank_of_best,
    regret_at_k,
    rmse_at_k,
    spearman_rho,
)
from transferscout.evaluation.noise import gains_beyond_noise, seed_noise
from transferscout.evaluation.pool_replay import (
    PRODUCT,
    PoolReplayResult,
    pool_replay,
    varying_settings,
)
from transferscout.evaluation.stats import EXACT_LIMIT
from transferscout.evaluation.table1 import best_models_table, degenerate_best_transfers
from transferscout.grid.models import (
    degenerate_baselines,
    matched_single_task_ids,
    trial_degenerate,
    trial_score,
)
from transferscout.grid.store import RunStore
from transferscout.kinds import KINDS, get_kind, score_label
from transferscout.meta.features import (
    FEATURE_SETS,
    HYPERPARAMETERS,
    REAL_GAIN,
    candidate_table,
    feature_columns,
    feature_groups,
    target_scores,
)
from transferscout.meta.regressor import TransferRegressor

__all__ = [
    "HYPERPARAMETER_BASELINE",
    "EvaluationResult",
    "EvaluationSettings",
    "SINGLE_SIGNALS",
    "TOLERANCES",
    "evaluate_run",
]

logger = logging.getLogger(__name__)

#: F1 losses at which the time saved is reported (the seed paper's headline numbers).
TOLERANCES = (0.01, 0.02, 0.035)


@dataclass(frozen=True)
class EvaluationSettings:
    """What the evaluation computes.

    Attributes:
        feature_sets: Meta-model feature sets compared (those whose signals are missing are
            skipped with a warning).
        rmse_ks: Depths of RMSE@K over the pooled ranking.
        ndcg_k: Depth of NDCG.
        regret_ks: Depths of Regret@k.
        allow_self_transfer: Whether a target may be its own source (applied everywhere).
        bootstrap_resamples: Resamples of targets for the 95% intervals.
        adaptive: Whether to replay adaptive search.
        pool_replay: Whether to replay the pool search and its baselines
            (:mod:`transferscout.evaluation.pool_replay`; never in the cross-pool evaluation).
        adaptive_feature_set: Features of the adaptive meta-model.
        kappa: Exploration weight of the UCB strategy.
        n_estimators: Boosting rounds of the meta-model.
        seed: The first meta-model seed; also seeds the bootstrap.
        meta_seeds: Meta-models are fitted with seeds ``seed`` … ``seed + meta_seeds − 1``;
            every figure is their mean, with their spread.  Adaptive search, which refits after
            every step, is replayed with ``seed`` only.
    """

    feature_sets: tuple[str, ...] = FEATURE_SETS
    rmse_ks: tuple[int, ...] = tuple(range(5, 105, 5))
    ndcg_k: int = 3
    regret_ks: tuple[int, ...] = (1, 3)
    allow_self_transfer: bool = False
    bootstrap_resamples: int = 2000
    adaptive: bool = True
    pool_replay: bool = True
    adaptive_feature_set: str = "all"
    kappa: float = 1.0
    n_estimators: int = 300
    seed: int = 0
    meta_seeds: int = 5

    def __post_init__(self) -> None:
        if not self.feature_sets:
            raise ConfigError("evaluation.feature_sets is empty; expected at least one")
        for name in ("rmse_ks", "regret_ks"):
            if any(k < 1 for k in getattr(self, name)):
                raise ConfigError(f"{name} = {list(getattr(self, name))}; expected integers >= 1")
        for name in ("ndcg_k", "bootstrap_resamples", "n_estimators"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} = {getattr(self, name)}; expected at least 1")
        for name in ("feature_sets", "adaptive_feature_set"):
            value = getattr(self, name)
            for feature_set in (value,) if isinstance(value, str) else value:
                try:
                    feature_groups(feature_set)
                except ConfigError as error:
                    raise ConfigError(f"{name}: {error}") from None
        if self.meta_seeds < 1:
            raise ConfigError(f"meta_seeds = {self.meta_seeds}; expected at least 1")

    @property
    def seeds(self) -> list[int]:
        """The meta-model seeds."""
        return list(range(self.seed, self.seed + self.meta_seeds))


@dataclass
class EvaluationResult:
    """Every table of the evaluation (also written to ``<run>/evaluation/``)."""

    candidates: pd.DataFrame
    rmse: pd.DataFrame
    curves: pd.DataFrame
    ranking: pd.DataFrame
    per_target: pd.DataFrame
    savings: pd.DataFrame
    table1: pd.DataFrame
    seed_noise: pd.DataFrame
    summary: dict[str, object] = field(default_factory=dict)
    pool_replay: pd.DataFrame = field(default_factory=pd.DataFrame)
    pool_replay_targets: pd.DataFrame = field(default_factory=pd.DataFrame)


def _per_target_metrics(
    table: pd.DataFrame,
    method: str,
    score: np.ndarray,
    settings: EvaluationSettings,
    *,
    cost: np.ndarray | None,
    charge: float,
    grid: float = 0.0,
) -> list[dict[str, object]]:
    """Every ranking metric of one method on each target (exact over tie orders).

    ``charge``: what the method is charged besides its candidates; ``grid``: the full grid's
    hours besides the candidates (its single-task models); each target bears an equal share
    of both.
    """
    rows = []
    targets = table.groupby("target").indices
    kinds = table["target_kind"].to_numpy()
    for target, index in targets.items():
        real = table["real_f1"].to_numpy()[index]
        unranked = _scores_alike(real)
        # NDCG and regret compare relevances in [0, 1] (the kind's metric mapped by its range)
        relevance = get_kind(str(kinds[index[0]])).relevance(real)
        hours = table["hours"].to_numpy()[index]
        own_cost = None if cost is None else cost[index]
        predicted = score[index]
        k = settings.ndcg_k
        row: dict[str, object] = {"method": method, "target": target}
        row[f"ndcg@{k}"] = ndcg_at_k(relevance, predicted, k, cost=own_cost)
        row[f"ndcg_linear@{k}"] = ndcg_at_k(relevance, predicted, k, gain="linear", cost=own_cost)
        for depth in settings.regret_ks:
            row[f"regret@{depth}"] = regret_at_k(relevance, predicted, depth, cost=own_cost)
        row["rank_of_best"] = rank_of_best(real, predicted, cost=own_cost)
        row["spearman"] = spearman_rho(real, predicted)
        row["kendall"] = kendall_tau(real, predicted)
        if unranked:  # no order is better than another: left out (NaN), counted in the summary
            row.update({key: np.nan for key in row if key not in ("method", "target")})
        for tolerance in TOLERANCES:
            row[f"saved@{tolerance}"] = target_time_saved(
                real,
                hours,
                predicted,
                tolerance,
                cost=own_cost,
                charge=charge / len(targets),
                grid_share=grid / len(targets),
            )
        rows.append(row)
    return rows


def _scores_alike(real: np.ndarray) -> bool:
    """Whether every candidate of a target scores the same (all 0, typically): no ranking."""
    return len(real) > 0 and bool(np.all(real == real[0]))


def unranked_targets(table: pd.DataFrame) -> dict[str, Any]:
    """The targets left out of the ranking metrics: every candidate scores the same.

    NDCG's ideal ranking then scores 0 (all 0: NDCG undefined, not 0) and no order beats
    another, so NDCG, Regret@k, rank of best, Spearman and Kendall leave such a target out
    (the time saved keeps it).  ``{}`` when there is none.
    """
    alike = [
        str(target)
        for target, group in table.groupby("target")
        if _scores_alike(group["real_f1"].to_numpy())
    ]
    if not alike:
        return {}
    return {
        "unranked_targets": {
            "count": len(alike),
            "targets": alike,
            "why": "every candidate scores the same (e.g. 0): the target carries no ranking "
            "information, so NDCG, Regret@k, rank of best, Spearman and Kendall leave it out",
        }
    }


def _random_metrics(
    table: pd.DataFrame, settings: EvaluationSettings, *, charge: float, grid: float
) -> list[dict[str, object]]:
    """The uniformly random order: one tie block per target, so every metric is exact."""
    rows = _per_target_metrics(
        table, "random", np.zeros(len(table)), settings, cost=None, charge=charge, grid=grid
    )
    for row in rows:
        # Over all orders the rank correlations average to exactly zero (a constant
        # prediction has none).
        row["spearman"] = row["kendall"] = 0.0
    return rows


def charged_costs(
    costs: Sequence[Mapping[str, Any]], ansat: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The signal costs the run's stored signals were made with.

    ``rank:`` costs (a new target's) are not the run's.  Conductance is charged only for the
    attributions the stored ANSAT values read (their cache keys are in its detail): after ANSAT
    is recomputed at other settings, the earlier attributions are records of work whose values
    were replaced.  Stores written before the detail named its keys charge every attribution.
    """
    used = {str(k) for row in ansat for k in row["detail"].get("attributions", {}).values()}
    return [
        cost
        for cost in costs
        if not str(cost["family"]).startswith("rank:")
        and (not used or cost["family"] != "conductance" or str(cost["item"]).split(":")[0] in used)
    ]


def _recreated_models(run_dir: Path) -> dict[str, Any]:
    """Models trained again because their file was lost (none: nothing to say)."""
    with RunStore(run_dir, readonly=True) as store:
        done = [r for r in store.recreations() if r.finished_at is not None]
    if not done:
        return {}
    return {
        "recreated_models": {
            "models": len(done),
            "hours": sum(r.seconds or 0.0 for r in done) / 3600,
            "not_reproduced": sum(not r.same_metrics for r in done),
        }
    }


def _degenerate_models(run_dir: Path, trials: Collection[str] | None) -> dict[str, Any]:
    """The finished models that are degenerate, and the targets whose baseline is.

    ``degenerate_models``: how many of the finished models (of ``trials`` when given)
    predict one class for nearly every validation example or a constant, per trial kind,
    and their targets; ``degenerate_baselines``: target -> why its single-task baseline (the
    best-validation single-task model, which gains are measured against) is degenerate.
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = [r for r in store.rows(status="done") if trials is None or r.id in trials]
    flagged = [(r, reason) for r in rows if (reason := trial_degenerate(r)) is not None]
    kinds = sorted({r.kind for r, _ in flagged})
    return {
        "degenerate_models": {
            "models": len(flagged),
            "of": len(rows),
            "by_trial_kind": {k: sum(r.kind == k for r, _ in flagged) for k in kinds},
            "targets": sorted({r.target for r, _ in flagged}),
            "rule": {name: kind.degenerate_rule for name, kind in KINDS.items()},
        },
        "degenerate_baselines": degenerate_baselines([r for r in rows if r.kind == "single"]),
    }


@dataclass(frozen=True)
class SingleTaskHours:
    """The single-task trainings a run's evaluation charges, each once, in hours.

    Attributes:
        all: Every finished single-task trial of the table's tasks (every setting and seed,
            compute-matched ones included): what the full grid trains.
        read: Its plain single-task trials (all but the compute-matched ones): what a method
            whose features read the single-task models is charged (each feature reads the
            best-validation model of all of them).
        source_stages: The single-task trials the candidates start from (each candidate's
            source stage, counted once however many candidates share it): what every method
            needs before it can train any transfer.
    """

    all: float
    read: float
    source_stages: float


def _costs(run_dir: Path, table: pd.DataFrame) -> tuple[dict[str, float], SingleTaskHours]:
    """Signal hours per cost family, and the single-task trainings in hours.

    A trial costs its first measured target-stage hours (a model trained again because its
    file was lost is not charged again).
    """
    with RunStore(run_dir, readonly=True) as store:
        costs = charged_costs(store.costs(), store.pair_signals("ansat"))
        singles = store.rows(kind="single", status="done")
        matched = matched_single_task_ids(store.rows())
    families: dict[str, float] = {}
    for cost in costs:
        families[cost["family"]] = families.get(cost["family"], 0.0) + cost["seconds"] / 3600
    tasks = set(table["source"]) | set(table["target"])
    hours = {r.id: (r.target_seconds or 0.0) / 3600 for r in singles if r.target in tasks}
    stages = set(table["source_trial"].dropna()) if "source_trial" in table.columns else set()
    return families, SingleTaskHours(
        all=float(sum(hours.values())),
        read=float(sum(h for trial, h in hours.items() if trial not in matched)),
        source_stages=float(sum(hours.get(str(trial), 0.0) for trial in stages)),
    )


#: Order of the methods in every table: bounds, meta-models, baselines, signals.
_KINDS = ("oracle", "random", "meta", "adaptive", "baseline", "signal", "prior")


def _by_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows grouped by the kind of their method (stable within a kind)."""
    kind = frame["method"].map(lambda m: _KINDS.index(str(m).split(":")[0]))
    return frame.iloc[np.argsort(kind.to_numpy(), kind="stable")].reset_index(drop=True)


def _mean_over_seeds(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean of ``values`` over seeds per ``keys``, with ``<value>_sd`` and ``seeds``."""
    grouped = frame.groupby(keys, sort=False)
    mean = grouped[values].mean()
    spread = grouped[values].std(ddof=1).add_suffix("_sd")
    out = pd.concat([mean, spread], axis=1)
    out["seeds"] = grouped.size()
    return out.reset_index()


def _savings(curves: pd.DataFrame, table: pd.DataFrame, *, grid_extra_hours: float) -> pd.DataFrame:
    """Time saved per method and tolerance: mean over seeds, with spread and range."""
    rows = [
        time_saved(
            curve.reset_index(drop=True), table, TOLERANCES, grid_extra_hours=grid_extra_hours
        ).assign(method=str(key[0]), seed=cast(int, key[1]))
        for key, curve in curves.groupby(["method", "seed"], sort=False)
    ]
    per_seed = pd.concat(rows, ignore_index=True)
    for column in ("k", "f1_loss", "hours", "saved_percent"):
        per_seed[column] = per_seed[column].astype(float)
    out = _mean_over_seeds(
        per_seed, ["method", "tolerance"], ["k", "f1_loss", "hours", "saved_percent"]
    )
    grouped = per_seed.groupby(["method", "tolerance"], sort=False)["saved_percent"]
    out["saved_min"] = grouped.min().to_numpy()
    out["saved_max"] = grouped.max().to_numpy()
    return out.drop(columns=["k_sd", "f1_loss_sd", "hours_sd"])


#: How NDCG's gains and Regret@k read a target's real scores.
NDCG_GAIN = (
    "exponential 2^rel - 1, rel = the real score as a relevance in [0, 1]: positive F1 and "
    "macro-F1 as they are, Spearman's rho as (rho + 1) / 2; also linear (ndcg_linear). "
    "Regret@k is the percentage of the best relevance lost"
)


def single_task_baselines(run_dir: Path) -> dict[str, Any]:
    """What each target's gain is measured against, and the plain single-task scores.

    The candidates' ``target_score`` is the best-validation model among every finished
    single-task trial, the compute-matched ones (``grid.matched_single_task``) included;
    ``plain`` holds each target's score without them (the figure before they existed) and
    ``matched`` the targets whose baseline is a compute-matched model (its validation score
    beats every plain one's).
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
    matched_ids = matched_single_task_ids(rows)
    singles = [r for r in rows if r.kind == "single" and r.status == "done"]
    plain = [r for r in singles if r.id not in matched_ids]

    def best_validation(group: Sequence[Any]) -> dict[str, float]:
        best: dict[str, float] = {}
        for row in group:
            value = trial_score(row, "validation")
            value = -np.inf if np.isnan(value) else value
            best[row.target] = max(best.get(row.target, -np.inf), value)
        return best

    plain_best = best_validation(plain)
    matched_best = best_validation([r for r in singles if r.id in matched_ids])
    return {
        "plain": target_scores(plain),
        "matched": sorted(t for t, v in matched_best.items() if v > plain_best.get(t, -np.inf)),
        "has_matched": bool(matched_best),
    }


def _totals(table: pd.DataFrame, baselines: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full grid's best per target, aggregated per kind and as a gain (see the summary).

    ``summary`` holds ``target_kinds`` (targets per kind), ``full_grid_best`` (per kind: the
    mean over its targets of their best real score, in the kind's own metric),
    ``full_grid_best_gain`` (mean over all targets of the best real score minus the target's
    single-task score) and ``aggregate``, what a number pooled over targets is: ``score`` —
    the mean of one metric — when every target has one kind, else ``gain``; a run whose
    targets are all binary keeps ``full_grid_best_f1``.  ``mean_single_task`` shifts a mean
    best score to a mean best gain.  With ``baselines`` (:func:`single_task_baselines`),
    ``single_task_baseline`` says what the gains are over and, beside it once,
    ``full_grid_best_gain_plain``: the gain over the plain single-task model.
    """
    per_target = table.groupby("target").agg(
        kind=("target_kind", "first"), best=("real_f1", "max"), own=("target_score", "first")
    )
    kinds = per_target["kind"].astype(str)
    best = per_target.groupby(kinds)["best"].mean()
    summary: dict[str, Any] = {
        "target_kinds": {str(k): int(n) for k, n in kinds.value_counts().sort_index().items()},
        "full_grid_best": {
            str(kind): {
                "metric": get_kind(str(kind)).metric_label,
                "targets": int((kinds == kind).sum()),
                "mean_best": float(value),
            }
            for kind, value in best.items()
        },
        "full_grid_best_gain": float((per_target["best"] - per_target["own"]).mean()),
        "aggregate": "score" if kinds.nunique() == 1 else "gain",
        "aggregate_label": score_label(kinds),
    }
    if set(kinds) == {"binary"}:
        summary["full_grid_best_f1"] = float(per_target["best"].mean())
    if baselines is not None:
        plain = per_target.index.map(lambda t: baselines["plain"].get(t, np.nan))
        summary["full_grid_best_gain_plain"] = float(
            (per_target["best"] - plain.to_numpy(dtype=float)).mean()
        )
        matched = [t for t in baselines["matched"] if t in per_target.index]
        summary["single_task_baseline"] = {
            "rule": (
                "each target's single-task model with the best validation score, among the "
                "plain single-task models and, where trained (grid.matched_single_task), the "
                "compute-matched ones (a transfer's source + target epochs); never by test"
            ),
            "compute_matched_trained": bool(baselines["has_matched"]),
            "compute_matched_targets": matched,
        }
    return {"summary": summary, "mean_single_task": float(per_target["own"].mean())}


def _with_tests(savings: pd.DataFrame, ranking: pd.DataFrame) -> pd.DataFrame:
    """Time saved with the paired tests of per-target time saved at the same tolerance.

    The pooled figures (depth, hours, % saved) come from the mean curve; the tests compare
    the per-target time saved (``saved@<tolerance>`` of the ranking table) across targets:
    ``baseline`` (the best no-signal baseline), ``diff_vs_baseline`` (the method's mean
    per-target % saved minus the baseline's: the tests are two-sided, this gives the
    direction), ``p_vs_baseline`` and ``p_vs_meta_f1``.
    """
    tests = ranking[ranking["metric"].str.startswith("saved@")]
    estimates = tests.set_index(["method", "metric"])["estimate"]
    tests = tests.assign(
        diff_vs_baseline=[
            estimate - estimates.get((baseline, metric), np.nan)
            for estimate, baseline, metric in zip(
                tests["estimate"], tests["baseline"], tests["metric"], strict=True
            )
        ]
    )[["method", "metric", "baseline", "diff_vs_baseline", "p_vs_baseline", "p_vs_meta_f1"]]
    keyed = savings.assign(metric="saved@" + savings["tolerance"].astype(str))
    return keyed.merge(tests, on=["method", "metric"], how="left").drop(columns="metric")


def evaluation_table(
    run_dir: str | Path,
    settings: EvaluationSettings,
    *,
    trials: Collection[str] | None = None,
) -> pd.DataFrame:
    """The candidates an evaluation ranks: finished transfers of at least two targets.

    Self-transfers are dropped unless ``settings.allow_self_transfer``.

    Raises:
        TransferScoutError: Fewer than two targets have finished transfer trials.
    """
    table = candidate_table(run_dir, trials=trials)
    if not settings.allow_self_transfer:
        table = table[table["source"] != table["target"]].reset_index(drop=True)
    if table["target"].nunique() < 2:
        raise TransferScoutError(
            f"{run_dir}: the evaluation needs finished transfer trials of at least two targets"
        )
    return table


def usable_feature_sets(
    table: pd.DataFrame, feature_sets: Collection[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """The columns of each feature set the table has, and the sets skipped for lack of signals."""
    columns_by_set: dict[str, list[str]] = {}
    skipped = []
    for feature_set in feature_sets:
        try:
            columns_by_set[feature_set] = feature_columns(table, feature_set)
        except ConfigError as error:
            logger.warning("skipping feature set %s: %s", feature_set, error)
            skipped.append(feature_set)
    return columns_by_set, skipped


def evaluate_run(
    run_dir: str | Path,
    settings: EvaluationSettings | None = None,
    *,
    trials: Collection[str] | None = None,
) -> EvaluationResult:
    """Fit the meta-models leave-one-target-out and compute every metric of SPEC §7.

    ``trials``: the ids of the configured grid's trials; others in the store are left out
    (default: every finished transfer trial).  Written to ``<run>/evaluation/``.
    """
    settings = settings or EvaluationSettings()
    run_dir = Path(run_dir)
    table = evaluation_table(run_dir, settings, trials=trials)
    columns_by_set, skipped = usable_feature_sets(table, settings.feature_sets)
    result = evaluate_table(
        run_dir, table, settings, columns_by_set, skipped=skipped, trials=trials
    )
    write_evaluation(run_dir / "evaluation", result)
    return result


def evaluate_table(
    run_dir: Path,
    table: pd.DataFrame,
    settings: EvaluationSettings,
    columns_by_set: dict[str, list[str]],
    *,
    skipped: Collection[str] = (),
    trials: Collection[str] | None = None,
    fit_table: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Every metric of one run's candidates ``table`` (nothing is written).

    The meta-models are fitted leave-one-target-out on ``table``, or — with ``fit_table``,
    another pool's candidates — on ``fit_table`` alone (the cross-pool evaluation, where
    adaptive search, which learns from the evaluated pool's own results, is not replayed).
    Costs (signals, single-task models), seed noise and Table 1 are the run's own.
    """
    started = time.perf_counter()
    if not columns_by_set:
        raise TransferScoutError(
            f"no feature set could be evaluated: the run lacks {list(skipped)}"
        )
    family_hours, singles = _costs(run_dir, table)
    # Each candidate is charged its target stage: its source stage is the source's
    # single-task model, trained once (charged through ``singles``, see COST_CONVENTION).
    output = table
    table = table.assign(hours=table["target_hours"])
    adaptive_set = settings.adaptive_feature_set
    if adaptive_set not in columns_by_set:
        adaptive_set = next(iter(columns_by_set))

    cost = table["planned_cost"].to_numpy(dtype=float)
    depth = int(table.groupby("target").size().max())
    ks = list(range(1, depth + 1))
    fixed = signal_scores(table)
    fixed["oracle"] = table["real_f1"].to_numpy(dtype=float)
    charges: dict[str, float] = {}

    def charge(method: str) -> float:
        if method not in charges:
            charges.update(
                method_charges(
                    [method],
                    family_hours,
                    singles.read - singles.source_stages,
                    adaptive_feature_set=adaptive_set,
                    base_hours=singles.source_stages,
                )
            )
        return charges[method]

    def evaluate_scores(scores: dict[str, np.ndarray], seed: int) -> None:
        for method, score in scores.items():
            curve = budget_curve(
                table.assign(_score=score),
                "_score",
                ks,
                cost="planned_cost",
                signal_hours=charge(method),
            )
            curves.append(curve.assign(method=method, seed=seed))
            rows = _per_target_metrics(
                table, method, score, settings, cost=cost, charge=charge(method), grid=singles.all
            )
            per_target.extend({**row, "seed": seed} for row in rows)

    curves: list[pd.DataFrame] = [
        random_curve(table, ks, signal_hours=charge("random")).assign(method="random", seed=-1)
    ]
    per_target: list[dict[str, object]] = [
        {**row, "seed": -1}
        for row in _random_metrics(table, settings, charge=charge("random"), grid=singles.all)
    ]
    evaluate_scores(fixed, -1)
    rmse_rows: list[dict[str, object]] = []
    predictions: dict[str, list[np.ndarray]] = {name: [] for name in columns_by_set}
    for seed in settings.seeds:
        logger.info("meta-models with seed %d", seed)

        def make_regressor(seed: int = seed) -> TransferRegressor:
            return TransferRegressor(n_estimators=settings.n_estimators, random_state=seed)

        scores = seeded_scores(table, columns_by_set, make_regressor, fit_table=fit_table)
        evaluate_scores(scores, seed)
        for feature_set in columns_by_set:
            predicted = scores[f"meta:{feature_set}"]
            predictions[feature_set].append(predicted)
            # Learnt on validation gains, judged against the truth: the test gain.
            errors = rmse_at_k(predicted, table[REAL_GAIN], settings.rmse_ks, cost=cost)
            rmse_rows.extend(
                {"feature_set": feature_set, "k": k, "rmse": e, "seed": seed}
                for k, e in zip(settings.rmse_ks, errors, strict=True)
            )
        # Adaptive search refits after every step (steps × targets fits per replay, ~100 s of
        # CPU on the reference study): it is replayed with the first seed only.
        if settings.adaptive and seed == settings.seed and fit_table is None:
            for strategy in ("greedy", "ucb"):
                replay = adaptive_replay(
                    table,
                    columns_by_set[adaptive_set],
                    strategy=strategy,
                    kappa=settings.kappa,
                    seed=seed,
                )
                method = f"adaptive:{strategy}"
                curves.append(
                    adaptive_curve(replay, ks, signal_hours=charge(method)).assign(
                        method=method, seed=seed
                    )
                )
                # The replay's order as a score (earlier step, higher; no ties), so the
                # search's policy gets the per-target metrics and paired tests of the others.
                rows = _per_target_metrics(
                    table,
                    method,
                    replay_score(replay, len(table)),
                    settings,
                    cost=cost,
                    charge=charge(method),
                    grid=singles.all,
                )
                per_target.extend({**row, "seed": seed} for row in rows)
    for feature_set, seeded in predictions.items():
        output[f"predicted_{feature_set}"] = np.mean(seeded, axis=0)

    per_seed_curves = pd.concat(curves, ignore_index=True)
    curves_frame = _mean_over_seeds(per_seed_curves, ["method", "k"], ["best_f1", "hours"])
    totals = _totals(table, single_task_baselines(run_dir))
    curves_frame["best_gain"] = curves_frame["best_f1"] - totals["mean_single_task"]
    curves_frame = curves_frame[
        ["k", "best_f1", "hours", "method", "best_f1_sd", "hours_sd", "seeds", "best_gain"]
    ]
    per_target_frame = pd.DataFrame(per_target)
    ranking = compare_methods(
        per_target_frame,
        NO_SIGNAL_BASELINES,
        resamples=settings.bootstrap_resamples,
        seed=settings.seed,
    )
    noise = seed_noise(run_dir, trials=trials)
    # The pool search replayed (its own pool, so not in the cross-pool evaluation).
    replayed = (
        _pool_replay(table, family_hours, singles, settings)
        if settings.pool_replay and fit_table is None
        else None
    )
    table1 = best_models_table(
        run_dir, allow_self_transfer=settings.allow_self_transfer, trials=trials
    )
    seconds = time.perf_counter() - started
    summary = {
        "targets": int(table["target"].nunique()),
        "candidates": int(len(table)),
        "full_grid_hours": float(table["hours"].sum()) + singles.all,
        "transfer_target_hours": float(table["hours"].sum()),
        **totals["summary"],
        "signal_hours": float(sum(family_hours.values())),
        "single_task_hours": singles.all,
        "source_stage_hours": singles.source_stages,
        "method_hours": dict(sorted(charges.items())),
        "cost_convention": COST_CONVENTION,
        **_recreated_models(run_dir),
        **_degenerate_models(run_dir, trials),
        **degenerate_best_transfers(table1),
        **unranked_targets(table),
        "meta_seeds": settings.seeds,
        "ordering": (
            "predicted value, then predicted cost (epochs x training examples x max length "
            "per stage, from the configuration), then a seeded random key; every metric and "
            "curve is the exact expectation over the random order inside ties"
        ),
        "paired_tests": (
            "two-sided sign-flip permutation test of the mean per-target difference (per-target "
            f"values averaged over seeds), exact over all 2^n sign vectors for n <= {EXACT_LIMIT} "
            "targets; against the best no-signal baseline per metric (random order or the "
            "hyperparameters-only meta-model) and against meta:f1; not adjusted for multiple "
            "comparisons"
        ),
        "seed_noise": gains_beyond_noise(table, noise),
        **({} if replayed is None else {"pool_replay": _pool_replay_summary(replayed)}),
        "skipped_feature_sets": list(skipped),
        "settings": asdict(settings),
        "ndcg_gain": NDCG_GAIN,
        "evaluation_seconds": seconds,
    }
    logger.info("evaluation took %.1f s", seconds)
    return EvaluationResult(
        candidates=output,
        rmse=_mean_over_seeds(pd.DataFrame(rmse_rows), ["feature_set", "k"], ["rmse"]),
        curves=_by_kind(curves_frame),
        ranking=_by_kind(ranking),
        per_target=_by_kind(seed_means(per_target_frame)),
        savings=_by_kind(
            _with_tests(_savings(per_seed_curves, table, grid_extra_hours=singles.all), ranking)
        ),
        table1=table1,
        seed_noise=noise,
        summary=summary,
        **(
            {}
            if replayed is None
            else {"pool_replay": replayed.summary, "pool_replay_targets": replayed.per_target}
        ),
    )


def _pool_replay(
    table: pd.DataFrame,
    family_hours: Mapping[str, float],
    singles: SingleTaskHours,
    settings: EvaluationSettings,
) -> PoolReplayResult:
    """The pool search and its baselines replayed on the run's candidates (transfer hours)."""
    logger.info("replaying the pool search")
    return pool_replay(
        table,
        varying_settings(table, HYPERPARAMETERS),
        family_hours=family_hours,
        seed=settings.seed,
        single_task_hours=singles.all,
    )


#: The pool-replay methods the summary names beside the product.
_REPLAY_SHOWN = ("random", "random:round-robin", "online:hyperparameters", "oracle")


def _pool_replay_summary(replayed: PoolReplayResult) -> dict[str, Any]:
    """The replay's facts and, per budget, the product against the plain baselines."""
    columns = ["loss_found", "loss_handed", "within", "spent_share", "trials"]
    tests = ["diff_found", "p_found", "diff_handed", "p_handed"]
    by_budget: dict[str, Any] = {}
    for budget, group in replayed.summary.groupby("budget", sort=True):
        rows = group.set_index("method")
        entry = {PRODUCT: {c: float(cast(float, rows.at[PRODUCT, c])) for c in columns}}
        for method in _REPLAY_SHOWN:
            if method in rows.index:
                entry[method] = {
                    c: float(cast(float, rows.at[method, c])) for c in [*columns, *tests]
                }
        by_budget[f"{float(cast(float, budget)):g}"] = entry
    return {
        **replayed.facts,
        "by_budget": by_budget,
        "rule": (
            "budgets are shares of the grid's transfer hours (its candidates' target stages); "
            "a method spends its signals' recorded hours and its candidates' target stages, the "
            "single-task models are counted once, beside; loss_found: grid best minus the best "
            "test score among the single-task model and the trained candidates; loss_handed: "
            "grid best minus the test score of the model handed over (the best first-seed "
            "validation gain above 0, else the single-task model); within: share of targets "
            "with loss_found <= 0.01; p: paired sign-flip test across targets of the product "
            "('pool') against the method (diff: the product's mean loss minus the method's)"
        ),
    }


def write_evaluation(folder: Path, result: EvaluationResult) -> None:
    """Every table of ``result`` as ``<name>.csv`` and its summary as ``summary.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (
        "candidates",
        "rmse",
        "curves",
        "ranking",
        "per_target",
        "savings",
        "table1",
        "seed_noise",
    ):
        frame: pd.DataFrame = getattr(result, name)
        frame.to_csv(folder / f"{name}.csv", index=False)
    if not result.pool_replay.empty:
        result.pool_replay.to_csv(folder / "pool_replay.csv", index=False)
        result.pool_replay_targets.to_csv(folder / "pool_replay_targets.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str) + "\n")
