"""Would choosing the meta-model's feature set on the run itself rank new targets better?

``rank`` and ``search`` use the richest feature set the run has (``all``). The reference study
found no set best in both pools (BENCHMARKS.md), so a natural rule is to choose, per run, the
set whose leave-one-target-out (LOTO) predictions rank the run's own candidates best (mean
per-target NDCG@k; ties to the set listed first). This measures that rule as a user would meet
it, on the study's two pools (committed tables of ``benchmarks/results/study-v2``): each target
in turn plays the new target; the rule chooses a set by LOTO on the *other* targets only, and
the chosen set's meta-model (fitted on those targets) ranks the held-out target's candidates.
Every fixed set is scored the same way (which is its plain LOTO), so the rule is compared with
each one, paired by target.

    nice -n 10 .venv/bin/python benchmarks/feature_set_choice.py --work /tmp/feature-set-choice
"""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout.config import load_run_config
from transferscout.evaluation.metrics import ndcg_at_k, regret_at_k
from transferscout.evaluation.stats import sign_flip_test
from transferscout.grid.runner import plan_trials
from transferscout.kinds import get_kind
from transferscout.meta.features import META_TARGET, candidate_table, feature_columns
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out
from transferscout.tables import import_tables

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("feature_set_choice")

CHOSEN = "chosen on the run"


@dataclass(frozen=True)
class FeatureSetChoice:
    """The feature set the rule chooses on a run, and how each compared set ranked.

    Attributes:
        feature_set: The chosen set.
        columns: Its feature columns.
        predictions: Its leave-one-target-out predictions (averaged over the seeds).
        ndcg: Every compared set's mean over targets of NDCG@k of those predictions.
    """

    feature_set: str
    columns: list[str]
    predictions: npt.NDArray[np.float64]
    ndcg: dict[str, float]


def choose_feature_set(
    table: pd.DataFrame,
    feature_sets: Sequence[str],
    makers: Sequence[Callable[[], TransferRegressor]],
    *,
    k: int = 3,
) -> FeatureSetChoice:
    """The feature set whose leave-one-target-out predictions rank ``table`` best.

    Each set's meta-model is fitted on all targets but one and ranks that target's
    candidates (predictions averaged over ``makers``, one per seed); the set with the highest
    mean per-target NDCG@k (relevance: the target's real score mapped by its kind) wins, ties
    to the set listed first.  Only the run's finished trials are read — what any candidate of
    a new target will score is not.

    Args:
        table: Candidate rows of at least two targets, with ``real_f1``, ``target_kind``
            and :data:`~transferscout.meta.features.META_TARGET`.
        feature_sets: The sets to compare, simplest first.
        makers: One regressor factory per seed.
        k: NDCG's depth.
    """
    if not feature_sets:
        raise ValueError("no feature set to choose from")
    columns = {f: feature_columns(table, f) for f in feature_sets}
    predictions = {
        f: np.mean(
            [
                leave_one_target_out(table, columns[f], make_regressor=m, target_column=META_TARGET)
                for m in makers
            ],
            axis=0,
        )
        for f in feature_sets
    }
    ndcg = {f: mean_ndcg(table, predicted, k) for f, predicted in predictions.items()}
    best = best_feature_set(ndcg)
    return FeatureSetChoice(best, columns[best], predictions[best], ndcg)


def mean_ndcg(table: pd.DataFrame, predicted: npt.ArrayLike, k: int) -> float:
    """Mean over ``table``'s targets of NDCG@k of ``predicted`` (one score per row).

    Relevance is each row's ``real_f1`` mapped onto [0, 1] by its ``target_kind``, as the
    evaluation maps it.
    """
    scores = np.asarray(predicted, dtype=np.float64)
    real = table["real_f1"].to_numpy(dtype=np.float64)
    kinds = table["target_kind"].to_numpy()
    values = [
        ndcg_at_k(get_kind(str(kinds[rows[0]])).relevance(real[rows]), scores[rows], k)
        for rows in table.groupby("target").indices.values()
    ]
    return float(np.mean(values))


def best_feature_set(ndcg: Mapping[str, float]) -> str:
    """The set with the highest score (NaN never wins); the first listed of equals."""
    defined = {f: v for f, v in ndcg.items() if not np.isnan(v)}
    if not defined:
        return next(iter(ndcg))
    return max(defined, key=lambda f: defined[f])


def pool_table(tables: Path, run: Path) -> tuple[pd.DataFrame, list[str], int, list[int]]:
    """A pool's candidates of its configured grid (no self-pairs), its feature sets, k, seeds."""
    if not run.exists():
        import_tables(tables, run)
    config = load_run_config(run)
    planned = plan_trials(config.grid.spec(), config.data.load(), config.encoder.spec())
    table = candidate_table(run, trials={t.id for t in planned})
    table = table[table["source"] != table["target"]].reset_index(drop=True)
    settings = config.evaluation.settings()
    return table, list(config.evaluation.feature_sets), settings.ndcg_k, list(settings.seeds)


def held_out_scores(
    table: pd.DataFrame, feature_sets: list[str], k: int, seeds: list[int], n_estimators: int
) -> pd.DataFrame:
    """Per held-out target: each fixed set's and the rule's NDCG@k, Regret@1 and Regret@3."""
    makers = [
        functools.partial(TransferRegressor, n_estimators=n_estimators, random_state=seed)
        for seed in seeds
    ]
    rows = []
    for target in sorted(table["target"].unique()):
        others = table[table["target"] != target].reset_index(drop=True)
        held = table[table["target"] == target].reset_index(drop=True)
        choice = choose_feature_set(others, feature_sets, makers, k=k)
        relevance = get_kind(str(held["target_kind"].iloc[0])).relevance(held["real_f1"])
        scores = {}
        for feature_set in feature_sets:
            columns = feature_columns(table, feature_set)
            x, y = others[columns].to_numpy(dtype=float), others[META_TARGET].to_numpy(float)
            predicted = np.mean(
                [m().fit(x, y).predict(held[columns].to_numpy(dtype=float)) for m in makers],
                axis=0,
            )
            scores[feature_set] = {
                f"ndcg@{k}": ndcg_at_k(relevance, predicted, k),
                "regret@1": regret_at_k(relevance, predicted, 1),
                "regret@3": regret_at_k(relevance, predicted, 3),
            }
        scores[CHOSEN] = scores[choice.feature_set]
        for method, values in scores.items():
            rows.append({"target": target, "method": method, **values})
        rows.append({"target": target, "method": "choice", "chosen": choice.feature_set})
        logger.info("%s: chose %s (%s)", target, choice.feature_set, choice.ndcg)
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame, feature_sets: list[str]) -> pd.DataFrame:
    """Mean per metric for every method, and the rule's paired difference and p-value."""
    metrics = [c for c in scores.columns if c.startswith(("ndcg@", "regret@"))]
    values = scores[scores["method"] != "choice"]
    chosen = values[values["method"] == CHOSEN].set_index("target")
    rows = []
    for method in [*feature_sets, CHOSEN]:
        own = values[values["method"] == method].set_index("target")
        row: dict[str, object] = {"method": method}
        for metric in metrics:
            row[metric] = float(own[metric].mean())
            if method != CHOSEN:
                difference = (chosen[metric] - own[metric]).to_numpy(dtype=float)
                row[f"{metric} rule − set"] = float(difference.mean())
                row[f"{metric} p"] = sign_flip_test(difference)
        rows.append(row)
    picks = scores.loc[scores["method"] == "choice", "chosen"].value_counts()
    frame = pd.DataFrame(rows)
    frame["chosen for"] = [int(picks.get(m, 0)) if m != CHOSEN else None for m in frame["method"]]
    return frame


def main() -> None:
    """Both pools: the rule against every fixed set, printed and kept as CSV."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=Path, default=ROOT / "benchmarks/results/study-v2")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the runs")
    parser.add_argument("--pools", default="pool1,pool2")
    parser.add_argument("--n-estimators", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for pool in args.pools.split(","):
        table, feature_sets, k, seeds = pool_table(args.tables / pool, args.work / pool)
        logger.info(
            "%s: %d candidates of %d targets; sets %s; %d seeds",
            pool,
            len(table),
            table["target"].nunique(),
            feature_sets,
            len(seeds),
        )
        scores = held_out_scores(table, feature_sets, k, seeds, args.n_estimators)
        scores.to_csv(args.work / f"{pool}-scores.csv", index=False)
        print(f"\n{pool}\n")
        print(summary(scores, feature_sets).to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
