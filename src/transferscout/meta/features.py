"""The candidate table: one row per (source, target, transfer settings), with every signal.

A *candidate* is a transfer model the user could train: source task A, target task B, and the
settings of both stages.  Its row holds the pair's signals (computed from single-task models
only), the hyperparameters, and — when the grid has trained it — the score of M_AB on B's
validation split (what every decision learns from) and on its test split (the truth the
evaluation reports, never learnt from), each a mean over seeds, and the real training hours it
cost — and, for ordering ties, its *predicted* training cost, which the configuration fixes
before training.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from transferscout.errors import ConfigError
from transferscout.grid.models import (
    best_single_task_rows,
    degenerate_baselines,
    matched_single_task_ids,
    trial_kind,
    trial_score,
)
from transferscout.grid.store import RunStore, TrialRow
from transferscout.signals.ansat import ansat_feature_names

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURE_GROUPS",
    "FEATURE_SETS",
    "FIRST_GAIN",
    "HYPERPARAMETERS",
    "META_TARGET",
    "REAL_GAIN",
    "best_single_task_rows",
    "candidate_table",
    "feature_columns",
    "feature_groups",
    "one_training_hours",
    "pivot_signals",
    "single_task_stage_hours",
    "predicted_cost",
    "target_scores",
    "target_validation_scores",
]

#: Hyperparameter columns; part of every feature set (they identify the candidate).
HYPERPARAMETERS = (
    "source_learning_rate",
    "source_epochs",
    "source_batch_size",
    "target_learning_rate",
    "target_epochs",
    "target_batch_size",
)

_F1 = ("source_f1", "target_f1")
_ANSAT = tuple(ansat_feature_names())
_TASKEMB_PREFIX = "taskemb_"

#: What the meta-model learns: the gain over the target's single-task model on the validation
#: split (comparable across task kinds; within a target it orders candidates exactly as the
#: validation score does).  Test scores are only reported: ``real_gain`` is the same gain on
#: the test split, the evaluation's truth.
META_TARGET = "validation_gain"

#: The evaluation's truth: the gain on the test split (reported, never learnt from).
REAL_GAIN = "real_gain"

#: The validation gain of the one training a search runs (the lowest seed): what the pool
#: search observes after training a candidate, and so what its replay reads.
FIRST_GAIN = "first_validation_gain"

#: Named feature sets, as in the seed paper's comparison (plus ``all``).
FEATURE_SETS = ("f1", "f1+ansat", "f1+ansat+taskemb", "all")

#: The signal groups a feature set joins with ``+``.
FEATURE_GROUPS = ("f1", "ansat", "taskemb", "textemb", "estimators", "baselines")


def feature_groups(feature_set: str) -> list[str]:
    """The signal groups of a feature set name (``all``: every group).

    Raises:
        ConfigError: The name holds an unknown group.
    """
    parts = list(FEATURE_GROUPS) if feature_set == "all" else feature_set.split("+")
    unknown = [p for p in parts if p not in FEATURE_GROUPS]
    if unknown:
        raise ConfigError(
            f"unknown feature group {unknown[0]!r} in feature set {feature_set!r}; expected "
            f"{', '.join(FEATURE_SETS)} or '+'-joined groups of {', '.join(FEATURE_GROUPS)}"
        )
    return parts


def pivot_signals(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """Stored pair signals -> one row per (source, target), one column per signal.

    Columns are named ``<name>`` for ANSAT and baselines, ``<family>_<name>`` otherwise
    (``estimators_logme``, ``taskemb_rrf``, ``textemb_cosine``).
    """
    if not rows:
        return pd.DataFrame(columns=["source", "target"])
    frame = pd.DataFrame(rows)
    plain = frame["family"].isin(["ansat", "baselines"])
    frame["column"] = np.where(plain, frame["name"], frame["family"] + "_" + frame["name"])
    table = frame.pivot_table(
        index=["source", "target"], columns="column", values="value", aggfunc="first"
    )
    table.columns.name = None
    return table.reset_index()


def predicted_cost(candidates: pd.DataFrame, examples: Mapping[str, float]) -> np.ndarray:
    """Training cost known before training: Σ over both stages of epochs × examples × max length.

    The number of token positions the two stages process (up to padding), proportional to
    their training time on one device.  ``examples`` maps each task to its training-set size;
    a task missing from it gives NaN (ordered as a tie).

    Args:
        candidates: Columns ``source``, ``target``, ``source_epochs``, ``target_epochs``,
            ``source_max_length`` and ``target_max_length``.
        examples: Training examples per task.
    """
    total = np.zeros(len(candidates))
    for stage in ("source", "target"):
        sizes = candidates[stage].map(lambda task: examples.get(task, np.nan)).astype(float)
        total += (
            candidates[f"{stage}_epochs"].to_numpy(dtype=float)
            * sizes.to_numpy()
            * candidates[f"{stage}_max_length"].to_numpy(dtype=float)
        )
    return total


def candidate_table(run_dir: str | Path, *, trials: Collection[str] | None = None) -> pd.DataFrame:
    """Every transfer candidate of a run with its signals and, when trained, its real F1.

    Columns: ``source``, ``target``, the hyperparameters, both stages' max length,
    ``real_f1`` (mean test score over seeds of the target's primary metric: positive-class F1
    for a binary target, macro-F1 for a multi-class one, Spearman's ρ for a regression),
    ``real_f1_sd`` (its sample standard deviation over seeds; NaN for one seed),
    ``real_accuracy`` (NaN for regression), ``validation_score`` (the same mean on the
    validation split), ``hours`` (the realised source + target training hours of *one*
    training: the trial with the lowest finished seed — the grid's first seed, the one
    ``search`` trains; see :func:`one_training_hours`), ``target_hours`` (that training's
    target stage alone: its source stage is the source's single-task model, trained once),
    ``source_trial`` (the id of that source stage),
    ``planned_cost`` (the predicted cost of :func:`predicted_cost`, with each task's
    training-set size from the ``source_size`` signal), ``seeds``, ``target_kind``,
    ``target_score`` and ``target_validation_score`` (the target's single-task model's test
    and validation scores, see :func:`target_scores`), ``validation_gain``
    (``validation_score − target_validation_score``: what the meta-model learns, comparable
    across kinds), ``first_validation_gain`` (the same of ``first_validation_score``: what the
    pool search observes), ``predicted_hours`` (the target-stage hours known before training:
    the target's plain single-task training at the same settings, see
    :func:`single_task_stage_hours`), ``target_degenerate`` (whether the target's single-task
    model is degenerate: the pool search leaves such a target out), ``real_gain``
    (``real_f1 − target_score``: the truth, only reported), and one column per stored signal.
    The single-task scores ``source_f1`` and ``target_f1`` are the validation scores of each
    task's best-validation plain single-task model (the one the signals use), read from the
    trials (so tables whose stored signals predate this hold no test score either).
    ``trials`` keeps only those trial ids (a configured grid; finished trials of an earlier
    grid are then left out, with a log message).
    """
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows(kind="transfer", status="done")
        signals = pivot_signals(store.pair_signals())
        singles = store.rows(kind="single", status="done")
        matched = matched_single_task_ids(store.rows())
    if trials is not None:
        kept = [row for row in rows if row.id in trials]
        if len(kept) < len(rows):
            logger.info(
                "%d finished transfer trials are not in the configured grid (e.g. an earlier "
                "grid's): left out, kept in the store",
                len(rows) - len(kept),
            )
        rows = kept
    baselines = target_scores(singles)
    validation_baselines = target_validation_scores(singles)
    kinds = {row.target: trial_kind(row).name for row in rows}
    records = []
    for row in rows:
        if row.metrics is None:
            continue
        source = row.config["source"]["settings"]
        target = row.config["target"]["settings"]
        records.append(
            {
                "source": row.source,
                "target": row.target,
                "source_learning_rate": source["learning_rate"],
                "source_epochs": source["epochs"],
                "source_batch_size": source["batch_size"],
                "target_learning_rate": target["learning_rate"],
                "target_epochs": target["epochs"],
                "target_batch_size": target["batch_size"],
                "source_max_length": source["max_length"],
                "target_max_length": target["max_length"],
                "seed": row.seed,
                "source_trial": row.source_trial,
                "real_f1": trial_score(row, "test"),
                "validation_score": trial_score(row, "validation"),
                "first_validation_score": trial_score(row, "validation"),
                "real_accuracy": row.metrics.get("test_accuracy", np.nan),
                "hours": ((row.source_seconds or 0.0) + (row.target_seconds or 0.0)) / 3600,
                "target_hours": (row.target_seconds or 0.0) / 3600,
            }
        )
    if not records:
        raise ConfigError(f"{run_dir}: no finished transfer trial; run the grid first")
    keys = ["source", "target", *HYPERPARAMETERS, "source_max_length", "target_max_length"]
    grouped = (
        one_training_hours(pd.DataFrame(records), keys)
        .groupby(keys, as_index=False)
        .agg(
            real_f1=("real_f1", "mean"),
            real_f1_sd=("real_f1", "std"),
            validation_score=("validation_score", "mean"),
            first_validation_score=("first_validation_score", "first"),
            real_accuracy=("real_accuracy", "mean"),
            hours=("hours", "first"),
            target_hours=("target_hours", "first"),
            source_trial=("source_trial", "first"),
            seeds=("real_f1", "size"),
        )
    )
    grouped["target_kind"] = grouped["target"].map(kinds)
    grouped["target_score"] = grouped["target"].map(baselines)
    grouped["target_validation_score"] = grouped["target"].map(validation_baselines)
    grouped[REAL_GAIN] = grouped["real_f1"] - grouped["target_score"]
    grouped[META_TARGET] = grouped["validation_score"] - grouped["target_validation_score"]
    grouped[FIRST_GAIN] = grouped["first_validation_score"] - grouped["target_validation_score"]
    grouped["predicted_hours"] = single_task_stage_hours(grouped, singles, matched)
    grouped["target_degenerate"] = grouped["target"].isin(set(degenerate_baselines(singles)))
    table = grouped.merge(signals, on=["source", "target"], how="left")
    # The single-task scores as features: validation, from the trials themselves, of the
    # plain single-task models (the signals' models; compute-matched ones are baselines only).
    read = target_validation_scores([r for r in singles if r.id not in matched])
    table["source_f1"] = table["source"].map(read).astype(float)
    table["target_f1"] = table["target"].map(read).astype(float)
    sizes: dict[str, float] = {}
    if "source_size" in table.columns:
        known = table.dropna(subset=["source_size"])
        sizes = dict(zip(known["source"], known["source_size"].astype(float), strict=True))
    table["planned_cost"] = predicted_cost(table, sizes)
    return table


def single_task_stage_hours(
    candidates: pd.DataFrame, singles: Sequence[TrialRow], matched: Collection[str]
) -> np.ndarray:
    """Each candidate's predicted target-stage hours, known before any transfer is trained.

    A transfer's target stage trains the target's data with the target settings, exactly as
    the plain single-task model with those settings does (from other weights): the same
    optimisation steps over the same batches.  Its prediction is that work — the single-task
    model's steps × batch size × max length (token positions, up to padding) — at the pooled
    throughput of every plain single-task training of the run (Σ seconds / Σ token
    positions).  The order of two candidates' predictions is then fixed by the data and the
    settings alone: the machine's load while the single-task models trained scales every
    prediction alike, where each model's own realised seconds would reorder them.  A
    single-task model that recorded no steps (older runs) is predicted by its own realised
    hours; NaN where the run has no such single-task model.
    """
    units: dict[tuple[str, float, int, int, int], float] = {}
    own_hours: dict[tuple[str, float, int, int, int], float] = {}
    seconds, positions = 0.0, 0.0
    for row in sorted(singles, key=lambda r: -r.seed):  # the lowest seed is written last
        if row.id in matched or row.target_seconds is None:
            continue
        settings = row.config["target"]["settings"]
        key = (
            row.target,
            float(settings["learning_rate"]),
            int(settings["epochs"]),
            int(settings["batch_size"]),
            int(settings["max_length"]),
        )
        own_hours[key] = row.target_seconds / 3600
        steps = (row.metrics or {}).get("train_steps")
        if steps:
            work = float(steps) * key[3] * key[4]
            units[key] = work
            seconds += row.target_seconds
            positions += work
    rate = seconds / positions / 3600 if positions > 0 else math.nan
    keys = zip(
        candidates["target"],
        candidates["target_learning_rate"].astype(float),
        candidates["target_epochs"].astype(int),
        candidates["target_batch_size"].astype(int),
        candidates["target_max_length"].astype(int),
        strict=True,
    )
    return np.asarray(
        [units[k] * rate if k in units else own_hours.get(k, np.nan) for k in keys],
        dtype=np.float64,
    )


def one_training_hours(trials: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Trials sorted so that each configuration's first row is its lowest seed.

    The value of a candidate is the mean over its seeds, but a user trains it once: its cost
    is one training's realised hours, and the evaluation takes that of the lowest seed (the
    grid's first, the one ``search`` trains and reads).  Not the sum
    over seeds, and not their mean either: seeds are often trained at different times — the
    reference study v2's seeds 1 and 2 ran next to other jobs and took 4-5 times as long as
    seed 0 — so a mean would make a candidate's cost depend on how many of its seeds have
    finished and under what load.

    Args:
        trials: One row per trial with columns ``seed`` and ``keys``.
        keys: The columns that identify a configuration (all but the seed).
    """
    return trials.sort_values([*keys, "seed"], kind="stable").reset_index(drop=True)


def target_scores(singles: Sequence[TrialRow]) -> dict[str, float]:
    """Each target's single-task test score (of :func:`best_single_task_rows`): reported only.

    The real (test) gain of a candidate is its test score minus this.
    """
    return {name: trial_score(row, "test") for name, row in best_single_task_rows(singles).items()}


def target_validation_scores(singles: Sequence[TrialRow]) -> dict[str, float]:
    """Each target's single-task validation score (of :func:`best_single_task_rows`).

    What decisions compare with: a candidate's learnt gain is its validation score minus this.
    """
    return {
        name: trial_score(row, "validation") for name, row in best_single_task_rows(singles).items()
    }


def feature_columns(table: pd.DataFrame, feature_set: str) -> list[str]:
    """The columns of a named feature set.

    Named sets are ``f1``, ``f1+ansat``, ``f1+ansat+taskemb`` and ``all``; any ``+``-joined
    combination of the groups ``f1``, ``ansat``, ``taskemb``, ``textemb``, ``estimators`` and
    ``baselines`` works too.

    Hyperparameters are always included.  The ``random`` baseline never is.
    """
    groups = {
        "f1": list(_F1),
        "ansat": list(_ANSAT),
        "taskemb": [c for c in table.columns if c.startswith(_TASKEMB_PREFIX)],
        "textemb": [c for c in table.columns if c.startswith("textemb_")],
        "estimators": [c for c in table.columns if c.startswith("estimators_")],
        "baselines": [
            c
            for c in (
                "source_size",
                "source_positive_rate",
                "target_positive_rate",
                "vocabulary_overlap",
            )
            if c in table.columns
        ],
    }
    parts = feature_groups(feature_set)
    columns = list(HYPERPARAMETERS)
    for part in parts:
        missing = [c for c in groups[part] if c not in table.columns]
        if missing or not groups[part]:
            raise ConfigError(
                f"feature set {feature_set!r} needs the {part!r} signals, which this run has not "
                f"computed (missing e.g. {missing[:2] or part}); run `transferscout signals`"
            )
        columns.extend(c for c in groups[part] if c not in columns)
    return columns
