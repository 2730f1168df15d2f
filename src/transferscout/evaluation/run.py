"""Evaluate a finished run: meta-model predictions, rankings, curves and tables.

Everything is written to ``<run>/evaluation/`` as CSV (and a JSON summary) for the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.errors import ConfigError, TransferScoutError
from transferscout.evaluation.adaptive import adaptive_curve, adaptive_replay
from transferscout.evaluation.curves import budget_curve, oracle_curve, random_curve, time_saved
from transferscout.evaluation.metrics import (
    bootstrap_interval,
    kendall_tau,
    ndcg_at_k,
    rank_of_best,
    regret_at_k,
    rmse_at_k,
    spearman_rho,
)
from transferscout.evaluation.noise import gains_beyond_noise, seed_noise
from transferscout.evaluation.table1 import best_models_table
from transferscout.grid.store import RunStore
from transferscout.meta.features import (
    FEATURE_SETS,
    HYPERPARAMETERS,
    candidate_table,
    feature_columns,
    feature_groups,
)
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out

__all__ = [
    "HYPERPARAMETER_BASELINE",
    "EvaluationResult",
    "EvaluationSettings",
    "SINGLE_SIGNALS",
    "evaluate_run",
]

logger = logging.getLogger(__name__)

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
        random_permutations: Permutations averaged for the random baseline's ranking metrics
            (its curve is exact).
        adaptive: Whether to replay adaptive search.
        adaptive_feature_set: Features of the adaptive meta-model.
        kappa: Exploration weight of the UCB strategy.
        n_estimators: Boosting rounds of the meta-model.
        seed: Seeds the meta-model, the bootstrap and the random baseline.
    """

    feature_sets: tuple[str, ...] = FEATURE_SETS
    rmse_ks: tuple[int, ...] = tuple(range(5, 105, 5))
    ndcg_k: int = 3
    regret_ks: tuple[int, ...] = (1, 3)
    allow_self_transfer: bool = False
    bootstrap_resamples: int = 2000
    random_permutations: int = 200
    adaptive: bool = True
    adaptive_feature_set: str = "all"
    kappa: float = 1.0
    n_estimators: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.feature_sets:
            raise ConfigError("evaluation.feature_sets is empty; expected at least one")
        for name in ("rmse_ks", "regret_ks"):
            if any(k < 1 for k in getattr(self, name)):
                raise ConfigError(f"{name} = {list(getattr(self, name))}; expected integers >= 1")
        for name in ("ndcg_k", "bootstrap_resamples", "random_permutations", "n_estimators"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} = {getattr(self, name)}; expected at least 1")
        for name in ("feature_sets", "adaptive_feature_set"):
            value = getattr(self, name)
            for feature_set in (value,) if isinstance(value, str) else value:
                try:
                    feature_groups(feature_set)
                except ConfigError as error:
                    raise ConfigError(f"{name}: {error}") from None


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


def _per_target_metrics(
    table: pd.DataFrame, method: str, score: np.ndarray, settings: EvaluationSettings
) -> list[dict[str, object]]:
    rows = []
    for target, index in table.groupby("target").indices.items():
        real = table["real_f1"].to_numpy()[index]
        cost = table["hours"].to_numpy()[index]
        predicted = score[index]
        row: dict[str, object] = {"method": method, "target": target}
        row[f"ndcg@{settings.ndcg_k}"] = ndcg_at_k(real, predicted, settings.ndcg_k, cost=cost)
        row[f"ndcg_linear@{settings.ndcg_k}"] = ndcg_at_k(
            real, predicted, settings.ndcg_k, gain="linear", cost=cost
        )
        for k in settings.regret_ks:
            row[f"regret@{k}"] = regret_at_k(real, predicted, k, cost=cost)
        row["rank_of_best"] = rank_of_best(real, predicted, cost=cost)
        row["spearman"] = spearman_rho(real, predicted)
        row["kendall"] = kendall_tau(real, predicted)
        rows.append(row)
    return rows


def _random_metrics(table: pd.DataFrame, settings: EvaluationSettings) -> list[dict[str, object]]:
    rng = np.random.default_rng(settings.seed)
    draws = [
        pd.DataFrame(_per_target_metrics(table, "random", rng.random(len(table)), settings))
        for _ in range(settings.random_permutations)
    ]
    mean = pd.concat(draws).groupby(["method", "target"], as_index=False).mean(numeric_only=True)
    return [{str(k): v for k, v in row.items()} for row in mean.to_dict("records")]


def evaluate_run(
    run_dir: str | Path,
    settings: EvaluationSettings | None = None,
    *,
    trials: Collection[str] | None = None,
) -> EvaluationResult:
    """Fit the meta-models leave-one-target-out and compute every metric of SPEC §7.

    ``trials``: the ids of the configured grid's trials; others in the store are left out
    (default: every finished transfer trial).
    """
    settings = settings or EvaluationSettings()
    run_dir = Path(run_dir)
    table = candidate_table(run_dir, trials=trials)
    if not settings.allow_self_transfer:
        table = table[table["source"] != table["target"]].reset_index(drop=True)
    if table["target"].nunique() < 2:
        raise TransferScoutError(
            "the evaluation needs finished transfer trials of at least two targets"
        )
    with RunStore(run_dir, readonly=True) as store:
        costs = [c for c in store.costs() if not c["family"].startswith("rank:")]
        signal_hours = sum(c["seconds"] for c in costs) / 3600
    scores: dict[str, np.ndarray] = {}

    def make_regressor() -> TransferRegressor:
        return TransferRegressor(n_estimators=settings.n_estimators, random_state=settings.seed)

    rmse_rows = []
    skipped = []
    for feature_set in settings.feature_sets:
        try:
            columns = feature_columns(table, feature_set)
        except ConfigError as error:
            logger.warning("skipping feature set %s: %s", feature_set, error)
            skipped.append(feature_set)
            continue
        predicted = leave_one_target_out(table, columns, make_regressor=make_regressor)
        table[f"predicted_{feature_set}"] = predicted
        scores[f"meta:{feature_set}"] = predicted
        for k, value in zip(
            settings.rmse_ks, rmse_at_k(predicted, table["real_f1"], settings.rmse_ks), strict=True
        ):
            rmse_rows.append({"feature_set": feature_set, "k": k, "rmse": value})
    if not scores:
        raise TransferScoutError(f"no feature set could be evaluated: the run lacks {skipped}")
    # What the hyperparameters alone are worth: every feature set includes them, so this
    # baseline separates "which setting trains best" from "which source helps".
    free_hours: dict[str, float] = {}
    if any(table[c].nunique() > 1 for c in HYPERPARAMETERS):
        scores[HYPERPARAMETER_BASELINE] = leave_one_target_out(
            table, list(HYPERPARAMETERS), make_regressor=make_regressor
        )
        free_hours[HYPERPARAMETER_BASELINE] = 0.0  # needs no signal
    singles = [c for c in table.columns if c.startswith("ansat_")] + [
        c for c in SINGLE_SIGNALS if c in table.columns
    ]
    for column in singles:
        scores[f"signal:{column}"] = table[column].to_numpy(dtype=float)

    depth = int(table.groupby("target").size().max())
    ks = list(range(1, depth + 1))
    curves = [
        oracle_curve(table, ks).assign(method="oracle"),
        random_curve(table, ks).assign(method="random"),
    ]
    for method, score in scores.items():
        scored = table.assign(_score=score)
        hours = free_hours.get(method, signal_hours)
        curves.append(budget_curve(scored, "_score", ks, signal_hours=hours).assign(method=method))
    if settings.adaptive:
        feature_set = settings.adaptive_feature_set
        if f"meta:{feature_set}" not in scores:
            feature_set = next(name.split(":", 1)[1] for name in scores if name.startswith("meta:"))
        columns = feature_columns(table, feature_set)
        for strategy in ("greedy", "ucb"):
            replay = adaptive_replay(
                table, columns, strategy=strategy, kappa=settings.kappa, seed=settings.seed
            )
            curves.append(
                adaptive_curve(replay, ks, signal_hours=signal_hours).assign(
                    method=f"adaptive:{strategy}"
                )
            )
    curves_frame = pd.concat(curves, ignore_index=True)

    per_target = []
    for method, score in scores.items():
        per_target.extend(_per_target_metrics(table, method, score, settings))
    per_target.extend(_per_target_metrics(table, "oracle", table["real_f1"].to_numpy(), settings))
    per_target.extend(_random_metrics(table, settings))
    per_target_frame = pd.DataFrame(per_target)
    ranking_rows = []
    metric_columns = [c for c in per_target_frame.columns if c not in ("method", "target")]
    for name, group in per_target_frame.groupby("method", sort=False):
        for metric in metric_columns:
            estimate, low, high = bootstrap_interval(
                group[metric].to_numpy(dtype=float),
                resamples=settings.bootstrap_resamples,
                seed=settings.seed,
            )
            ranking_rows.append(
                {"method": name, "metric": metric, "estimate": estimate, "low": low, "high": high}
            )
    savings = []
    for name, curve in curves_frame.groupby("method", sort=False):
        savings.append(time_saved(curve.reset_index(drop=True), table).assign(method=name))
    noise = seed_noise(run_dir)
    summary = {
        "targets": int(table["target"].nunique()),
        "candidates": int(len(table)),
        "full_grid_hours": float(table["hours"].sum()),
        "full_grid_best_f1": float(table.groupby("target")["real_f1"].max().mean()),
        "signal_hours": signal_hours,
        "seed_noise": gains_beyond_noise(table, noise),
        "skipped_feature_sets": skipped,
        "settings": asdict(settings),
        "ndcg_gain": "exponential 2^rel - 1, rel = real F1 in [0, 1]; also linear (ndcg_linear)",
    }
    result = EvaluationResult(
        candidates=table,
        rmse=pd.DataFrame(rmse_rows),
        curves=curves_frame,
        ranking=pd.DataFrame(ranking_rows),
        per_target=per_target_frame,
        savings=pd.concat(savings, ignore_index=True),
        table1=best_models_table(run_dir),
        seed_noise=noise,
        summary=summary,
    )
    _write(run_dir / "evaluation", result)
    return result


def _write(folder: Path, result: EvaluationResult) -> None:
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
    (folder / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str) + "\n")
