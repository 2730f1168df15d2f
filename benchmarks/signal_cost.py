"""What the signals cost next to the grid they replace, at the derived defaults and the old ones.

For each workload — the ``demo`` profile, the ``study`` profile (without its extra seed-noise
seeds) and ``long``: the ``news``-genre messages of the built-in corpus, 6 tasks, a 64-token
grid — in a run folder under ``--work`` (resumable):

1. trains every task's single-task model with the grid's source setting, and transfer trials
   at that setting (``--transfers all``: every ordered pair, what the meta-model comparison
   needs; ``sample``: the first target from two sources);
2. projects the full candidate grid's cost from them exactly as the budget does
   (:func:`transferscout.signals.budget.project_grid_seconds`: each candidate is charged its
   source and target stage; a stage costs what the single-task trial with the same task and
   settings took, or, for settings not trained here, examples × epochs / the median measured
   throughput), and prints the trained transfers' measured cost next to their projection;
3. side by side, in two processes of one torch thread each (so both see the same load):
   every signal at the new defaults (pair signals, then ANSAT planned within
   ``signals.budget``), then the pair signals at the old settings (length 128, ≤ 500 examples
   per task) and, with ``--bf16``, the defaults again under bf16 autocast on the document
   sets the fp32 plan chose — and, in the other process, ANSAT at the old settings (50 steps,
   length 128, ≤ 100 documents per set), on the first ``--agreement-tasks`` tasks (default:
   all; fewer are projected to all by the tokens they attribute and the pairs);
4. prints the cost of both and their ratio, and the agreement of every signal between the
   two: Spearman of each signal's values over the ordered pairs, and of each target's
   ranking of its sources (means over the signals of a family where defined);
5. with ``--transfers all``: the meta-model's leave-one-target-out predictions from either
   settings' signals (each feature set, predictions averaged over the evaluation's meta-model
   seeds) and their Spearman, pooled and per target, and how often the first pick agrees;
6. with ``--rank-target`` (demo only): ranks a new target with ``rank``'s code and prints what
   its signals cost next to the training of the target's own single-task models;
7. ``--steps-agreement`` only (on a work folder with the demo trained): word scores at 4, 8
   and 16 integration steps next to 50.

Usage (the demo: about an hour on two busy cores)::

    nice .venv/bin/python benchmarks/signal_cost.py [--work DIR] [--workloads demo,study,long]
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from scipy.stats import spearmanr

from transferscout.config import RunConfig, load_config
from transferscout.evaluation.methods import seeded_scores
from transferscout.grid.models import load_trained_model, select_single_task_models
from transferscout.grid.runner import plan_trials, run_grid
from transferscout.grid.spec import GridSpec
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table, feature_columns, pivot_signals
from transferscout.meta.regressor import TransferRegressor
from transferscout.pipeline import pair_settings
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.budget import grid_budget, project_grid_seconds
from transferscout.signals.documents import document_sets
from transferscout.signals.pair_stage import compute_pair_signals
from transferscout.tasks import TaskSet, load_corpus
from transferscout.tasks.corpora import corpus_path

logger = logging.getLogger("signal_cost")

LONG_TASKS = [
    "weather_related",
    "floods",
    "storm",
    "medical_help",
    "infrastructure_related",
    "shelter",
]
#: The settings before issue 15 (the then defaults; see the issue and ``git log -p``).
OLD = [
    "signals.ansat.n_steps=50",
    "signals.ansat.max_length=128",
    "signals.ansat.max_documents=100",
    "signals.pairs.max_length=128",
    "signals.pairs.max_examples=500",
]
#: Signal families whose values depend on the signal settings (baselines do not).
FAMILIES = ("ansat", "estimators", "taskemb", "textemb")


def workload(name: str, work: Path) -> RunConfig:
    """The configuration of a workload."""
    if name == "demo":
        return load_config(profile="demo")
    if name == "study":
        # the workloads as measured: no compute-matched single-task models (signals never read them)
        return load_config(
            profile="study",
            overrides=["grid.single_task_seeds=[]", "grid.matched_single_task=false"],
        )
    if name == "tiny":  # a check that the script runs (a minute or two), not a measurement
        return load_config(
            profile="demo",
            overrides=[
                "data.tasks=['request', 'food', 'water']",
                "data.max_train_examples=40",
                "data.max_eval_examples=60",
                "encoder.num_layers=1",
                "grid.target.epochs=[1]",
                "grid.source.epochs=[1]",
                "evaluation.meta_seeds=2",
            ],
        )
    news = work / "news.csv"
    if not news.exists():
        table = pd.read_csv(corpus_path())
        table[table["genre"] == "news"].drop(columns=["split"]).to_csv(news, index=False)
    return load_config(
        profile="study",
        overrides=[
            "grid.single_task_seeds=[]",
            "grid.matched_single_task=false",
            f"data.path={news}",
            "data.text_column=message",
            "data.id_column=id",
            f"data.label_columns={LONG_TASKS}",
            "data.max_train_examples=300",
            "data.max_eval_examples=500",
        ],
    )


def old_config(config: RunConfig) -> RunConfig:
    """``config`` with the old signal settings."""
    return replace(config, signals=load_config(None, OLD).signals)


# -- agreement (pure) --------------------------------------------------------------------


def family_of(column: str) -> str | None:
    """The family of a signal column whose value depends on the settings (else ``None``)."""
    if column.startswith("ansat_"):
        return "ansat"
    for family in FAMILIES[1:]:
        if column.startswith(family + "_"):
            return family
    return None


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman's ρ of two value lists; NaN when either is constant or has a missing value."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or np.isnan(x).any() or np.isnan(y).any() or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def signal_agreement(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """Per signal column: Spearman over the ordered pairs, and the mean over targets.

    ``new`` and ``old``: one row per (source, target) (columns ``source``, ``target`` and one
    per signal, as :func:`transferscout.meta.features.pivot_signals` gives). Self-pairs and
    pairs not in both are left out; only columns of :data:`FAMILIES` are compared. Columns:
    ``signal``, ``family``, ``over_pairs``, ``per_target`` (the mean of each target's
    Spearman over its sources; targets where it is undefined are left out), ``targets``
    (how many were defined).
    """
    keys = ["source", "target"]
    both = new.merge(old, on=keys, suffixes=("_new", "_old"))
    both = both[both["source"] != both["target"]]
    rows = []
    for column in sorted(set(new.columns) & set(old.columns)):
        family = family_of(column)
        if family is None:
            continue
        a, b = both[f"{column}_new"], both[f"{column}_old"]
        per_target = [
            spearman(a[group.index], b[group.index]) for _, group in both.groupby("target")
        ]
        defined = [r for r in per_target if not math.isnan(r)]
        rows.append(
            {
                "signal": column,
                "family": family,
                "over_pairs": spearman(a, b),
                "per_target": float(np.mean(defined)) if defined else math.nan,
                "targets": len(defined),
            }
        )
    return pd.DataFrame(rows, columns=["signal", "family", "over_pairs", "per_target", "targets"])


def family_summary(agreement: pd.DataFrame) -> pd.DataFrame:
    """Per family: how many signals, mean and smallest Spearman over pairs and per target."""
    return (
        agreement.groupby("family")
        .agg(
            signals=("signal", "size"),
            over_pairs_mean=("over_pairs", "mean"),
            over_pairs_min=("over_pairs", "min"),
            per_target_mean=("per_target", "mean"),
            per_target_min=("per_target", "min"),
        )
        .reset_index()
    )


def ranking_agreement(
    table: pd.DataFrame, new: npt.ArrayLike, old: npt.ArrayLike
) -> dict[str, float]:
    """Two scorings of the same candidates: Spearman pooled, per target, and first picks.

    ``table`` holds the candidates' ``target`` column; ``new`` and ``old`` one score per
    row. A target's first pick is its highest score (ties: the first row); ``first_pick``
    is the share of targets where both pick the same row.
    """
    a, b = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    per_target, same = [], []
    for _, group in table.groupby("target"):
        rows = group.index.to_numpy()
        per_target.append(spearman(a[rows], b[rows]))
        same.append(rows[np.argmax(a[rows])] == rows[np.argmax(b[rows])])
    defined = [r for r in per_target if not math.isnan(r)]
    return {
        "pooled": spearman(a, b),
        "per_target": float(np.mean(defined)) if defined else math.nan,
        "first_pick": float(np.mean(same)),
    }


# -- measuring ---------------------------------------------------------------------------


def train(config: RunConfig, run: Path, tasks: TaskSet, transfers: str) -> None:
    """Single-task models with the source setting, and transfers at that setting."""
    grid = config.grid.spec()
    options = config.executor.options()
    setting = grid.source_settings[:1]
    singles = GridSpec(sources=(), target_settings=setting, seeds=grid.seeds)
    run_grid(run, tasks, singles, config.encoder.spec(), options, progress=True)
    first, *others = tasks.names
    pairs = GridSpec(
        targets=None if transfers == "all" else (first,),
        sources=None if transfers == "all" else tuple(others[:2]),
        target_settings=setting,
        source_settings=setting,
        seeds=grid.seeds,
    )
    run_grid(run, tasks, pairs, config.encoder.spec(), options, progress=True)


def projection_check(config: RunConfig, run: Path, tasks: TaskSet) -> tuple[float, float]:
    """The trained transfers' measured seconds, and their projection from single-task trials."""
    with RunStore(run, readonly=True) as store:
        rows = store.rows(status="done")
    singles = [r for r in rows if r.kind == "single"]
    transfers = [r for r in rows if r.kind == "transfer"]
    sizes = {task.fingerprint: len(task.train) for task in tasks.tasks}
    setting = config.grid.spec().source_settings[:1]
    grid = GridSpec(
        targets=tuple(sorted({r.target for r in transfers})),
        sources=tuple(sorted({r.source or "" for r in transfers})),
        target_settings=setting,
        source_settings=setting,
    )
    done = {r.id for r in transfers}
    planned = [t for t in plan_trials(grid, tasks, config.encoder.spec()) if t.id in done]
    measured = sum((r.source_seconds or 0.0) + (r.target_seconds or 0.0) for r in transfers)
    return measured, project_grid_seconds(planned, singles, sizes)


def fresh_copy(trained: Path, run: Path) -> Path:
    """A copy of the trained run without any signal (so every signal is recomputed)."""
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("store.lock"))
    return run


def signal_seconds(run: Path) -> dict[str, float]:
    """Recorded seconds per cost family (a recommendation's ``rank:`` families left out)."""
    with RunStore(run, readonly=True) as store:
        totals: dict[str, float] = {}
        for cost in store.costs():
            family = str(cost["family"])
            if ":" not in family:
                totals[family] = totals.get(family, 0.0) + float(cost["seconds"])
    return totals


def signal_rows(*runs: Path) -> list[dict[str, object]]:
    """The stored pair signals of some runs, together."""
    rows: list[dict[str, object]] = []
    for run in runs:
        with RunStore(run, readonly=True) as store:
            rows += store.pair_signals()
    return rows


def subset_of(tasks: TaskSet, count: int | None) -> TaskSet:
    """The first ``count`` tasks (all when ``None``)."""
    return tasks if count is None else TaskSet(tasks.tasks[:count], tasks.source)


def old_ansat(name: str, work: Path, agreement_tasks: int | None) -> float:
    """ANSAT at the old settings in the ``<name>-old-ansat`` copy (a separate process)."""
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [old ansat] %(message)s")
    config = old_config(workload(name, work))
    tasks = subset_of(config.data.load(), agreement_tasks)
    start = time.perf_counter()
    compute_ansat(work / f"{name}-old-ansat", tasks, config.ansat_settings())
    return time.perf_counter() - start


def attributed_tokens(config: RunConfig, tasks: TaskSet, tokenizer: object) -> int:
    """Tokens the old settings attribute on ``tasks`` (each model's needed documents)."""
    settings = config.ansat_settings()
    sets = document_sets(tasks, max_documents=settings.max_documents)
    needed = sets.needed([(s, t) for s in tasks.names for t in tasks.names])
    texts = sorted(sets.texts)
    encoded = tokenizer(  # type: ignore[operator]
        [sets.texts[d] for d in texts],
        truncation=True,
        max_length=settings.attribution.max_length,
    )
    lengths = dict(zip(texts, (len(x) for x in encoded["input_ids"]), strict=True))
    return sum(lengths[d] for docs in needed.values() for d in docs)


def old_scales(config: RunConfig, run: Path, tasks: TaskSet, subset: TaskSet) -> dict[str, float]:
    """Factors projecting the old settings' cost on ``subset`` to all ``tasks``.

    Conductance by the tokens attributed, the pair families by models, pairs or tasks.
    """
    n, k = len(tasks), len(subset)
    if n == k:
        return {}
    with RunStore(run, readonly=True) as store:
        first = select_single_task_models(store, subset)[subset.names[0]]
    tokenizer = load_trained_model(run, first).tokenizer
    old = old_config(config)
    return {
        "conductance": attributed_tokens(old, tasks, tokenizer)
        / max(1, attributed_tokens(old, subset, tokenizer)),
        "ansat": n * n / (k * k),
        "estimators": n * n / (k * k),
        "features": n / k,
        "taskemb": n / k,
        "textemb": n / k,
    }


def regressor(n_estimators: int, seed: int) -> TransferRegressor:
    """The evaluation's meta-model with one seed."""
    return TransferRegressor(n_estimators=n_estimators, random_state=seed)


def meta_agreement(
    config: RunConfig, run: Path, old_signals: pd.DataFrame, tasks: TaskSet
) -> dict[str, float]:
    """The meta-model's predictions from the new signals vs from the old ones, per feature set."""
    table = candidate_table(run)
    table = table[
        (table["source"] != table["target"])
        & table["source"].isin(tasks.names)
        & table["target"].isin(tasks.names)
    ].reset_index(drop=True)
    replaced = [c for c in old_signals.columns if c not in ("source", "target")]
    keep = [c for c in table.columns if c not in replaced]
    old_table = table[keep].merge(old_signals, on=["source", "target"], how="left")
    settings = config.evaluation.settings()
    result: dict[str, float] = {}
    for feature_set in settings.feature_sets:
        columns = {feature_set: feature_columns(table, feature_set)}
        predicted = []
        for frame in (table, old_table):
            seeded = [
                seeded_scores(frame, columns, partial(regressor, settings.n_estimators, seed))[
                    f"meta:{feature_set}"
                ]
                for seed in settings.seeds
            ]
            predicted.append(np.mean(seeded, axis=0))
        for key, value in ranking_agreement(table, *predicted).items():
            result[f"meta_{feature_set}_{key}"] = value
    return result


def load_average() -> str:
    """The 1-minute load average, for the record."""
    return f"{os.getloadavg()[0]:.1f}"


def measure(name: str, work: Path, args: argparse.Namespace) -> dict[str, object]:
    """Every number of one workload."""
    config = workload(name, work)
    tasks = config.data.load()
    trained = work / f"{name}-trained"  # kept: a re-run trains nothing
    train(config, trained, tasks, args.transfers)
    measured, projected = projection_check(config, trained, tasks)
    result: dict[str, object] = {
        "workload": name,
        "tasks": len(tasks),
        "transfers_measured_s": measured,
        "transfers_projected_s": projected,
    }
    run = fresh_copy(trained, work / name)
    subset = subset_of(tasks, args.agreement_tasks)
    old, ranked = None, False
    old_run = work / f"{name}-old"
    reuse = args.reuse_old and (work / f"{name}-old-ansat").exists() and old_run.exists()
    if not args.no_old_settings and not reuse:
        fresh_copy(trained, old_run)
        fresh_copy(trained, work / f"{name}-old-ansat")
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(1, mp_context=context)
        old = pool.submit(old_ansat, name, work, args.agreement_tasks)
    logger.info("[%s] new defaults (load %s)", name, load_average())
    compute_pair_signals(run, tasks, pair_settings(config, run, tasks), progress=True)
    budget = grid_budget(
        run, tasks, config.grid.spec(), config.encoder.spec(), fraction=config.signals.budget
    )
    compute_ansat(run, tasks, config.ansat_settings(), progress=True, budget=budget)
    defaults = signal_seconds(run)
    grid_seconds = budget.grid_seconds
    result.update(
        grid_h=grid_seconds / 3600,
        default_s=sum(defaults.values()),
        default_share=sum(defaults.values()) / grid_seconds,
        **{f"default_{family}_s": seconds for family, seconds in sorted(defaults.items())},
    )
    if name in args.bf16.split(","):
        result.update(bf16_effect(config, work, name))
    if old is not None:
        logger.info("[%s] old pair signals (load %s)", name, load_average())
        settings = old_config(config).pair_settings()
        compute_pair_signals(old_run, subset, settings, progress=True)
        if ranked := name == "demo" and bool(args.rank_target):  # while the old ANSAT runs
            result.update(rank_cost(config, run, args.rank_target))
        logger.info("[%s] waiting for the old settings' ANSAT (load %s)", name, load_average())
        ansat_seconds = old.result()
        pool.shutdown()
        logger.info("[%s] old ANSAT took %.0f s (load %s)", name, ansat_seconds, load_average())
    if old is not None or reuse:
        costs = signal_seconds(old_run)
        for family, seconds in signal_seconds(work / f"{name}-old-ansat").items():
            costs[family] = costs.get(family, 0.0) + seconds
        scales = old_scales(config, run, tasks, subset)
        old_total = sum(s * scales.get(f, 1.0) for f, s in costs.items())
        old_signals = pivot_signals(signal_rows(old_run, work / f"{name}-old-ansat"))
        new_signals = pivot_signals(signal_rows(run))
        agreement = signal_agreement(new_signals, old_signals)
        agreement.to_csv(work / f"{name}-agreement.csv", index=False)
        print(family_summary(agreement).to_string(index=False, float_format="{:.3f}".format))
        result.update(
            agreement_tasks=len(subset),
            old_s=old_total,
            old_share=old_total / grid_seconds,
            ratio=result["default_s"] / old_total,  # type: ignore[operator]
            **{
                f"old_{family}_s": seconds * scales.get(family, 1.0)
                for family, seconds in costs.items()
            },
        )
        for row in family_summary(agreement).itertuples():
            result[f"rho_{row.family}_pairs"] = row.over_pairs_mean
            result[f"rho_{row.family}_targets"] = row.per_target_mean
        if args.transfers == "all":
            result.update(meta_agreement(config, run, old_signals, subset))
    if not ranked and name == "demo" and args.rank_target:
        result.update(rank_cost(config, run, args.rank_target))
    return result


def rank_cost(config: RunConfig, run: Path, target: str) -> dict[str, object]:
    """``rank`` of a new target on a run: its signals' seconds next to its own training."""
    from transferscout.recommend import recommend_sources

    options = replace(config.data.task_options(), tasks=(target,))
    new = load_corpus(config.data.corpus or "disaster-response", options)
    recommend_sources(run, new, config=config)
    with RunStore(run, readonly=True) as store:
        signals = sum(c["seconds"] for c in store.costs() if c["family"].startswith("rank:"))
        fingerprint = new[target].fingerprint
        own = sum(
            r.target_seconds or 0.0
            for r in store.rows(status="done", kind="single")
            if r.config["target"]["fingerprint"] == fingerprint
        )
    return {"rank_target": target, "rank_signals_s": signals, "rank_own_training_s": own}


def bf16_effect(config: RunConfig, work: Path, name: str) -> dict[str, float]:
    """The defaults under bf16 autocast, in another fresh copy, on the fp32 run's samples.

    ANSAT's document sets and the pair signals' examples per task are the fp32 run's, so
    both compute the same values on the same texts (no calibration is charged here).
    """
    run = fresh_copy(work / f"{name}-trained", work / f"{name}-bf16")
    with RunStore(work / name, readonly=True) as store:  # the fp32 run's planned sizes
        documents = store.pair_signals("ansat")[0]["detail"]["settings"]["max_documents"]
        examples = store.pair_signals("estimators")[0]["detail"]["settings"]["max_examples"]
    ansat = replace(config.signals.ansat, max_documents=documents)
    pairs = replace(config.signals.pairs, max_examples=examples)
    signals = replace(config.signals, precision="bf16", ansat=ansat, pairs=pairs)
    bf16 = replace(config, signals=signals)
    tasks = config.data.load()
    logger.info("[%s] bf16 (load %s)", name, load_average())
    compute_pair_signals(run, tasks, bf16.pair_settings())
    budget = grid_budget(
        run, tasks, bf16.grid.spec(), bf16.encoder.spec(), fraction=bf16.signals.budget
    )
    compute_ansat(run, tasks, bf16.ansat_settings(), budget=budget)
    seconds = signal_seconds(run)
    agreement = signal_agreement(
        pivot_signals(signal_rows(run)), pivot_signals(signal_rows(work / name))
    )
    agreement.to_csv(work / f"{name}-bf16-agreement.csv", index=False)
    ansat_rows = agreement[agreement["family"] == "ansat"]
    return {
        **{f"bf16_{family}_s": value for family, value in sorted(seconds.items())},
        "bf16_rho_ansat_pairs": float(ansat_rows["over_pairs"].mean()),
        "bf16_rho_ansat_pairs_min": float(ansat_rows["over_pairs"].min()),
        "bf16_rho_ansat_targets": float(ansat_rows["per_target"].mean()),
    }


def steps_agreement(work: Path, documents: int = 40) -> None:
    """How much fewer integration steps change word scores: the demo's models vs 50 steps.

    Prints, per model and steps, the median completeness error, the correlation of the mean
    word scores with those at 50 steps, and the share of ANSAT's 14 threshold decisions
    (score ≥ TAT) that agree with 50 steps.
    """
    from transferscout.signals.adaptive import attribute_with_steps
    from transferscout.signals.ansat import THRESHOLDS

    config = workload("demo", work)
    tasks = config.data.load()
    run = work / "demo-trained"
    settings = config.ansat_settings().attribution
    sets = document_sets(tasks, max_documents=20)
    texts = {doc: sets.texts[doc] for doc in sets.all_ids[:documents]}
    with RunStore(run, readonly=True) as store:
        models = select_single_task_models(store, tasks)
    print(f"{'model':<10} {'steps':>5} {'completeness':>12} {'corr':>7} {'TAT agree':>9}")
    for name in tasks.names[:2]:
        encoder = load_trained_model(run, models[name])
        scores = {}
        for steps in (4, 8, 16, 50):
            result = attribute_with_steps(encoder.model, encoder.tokenizer, texts, settings, steps)
            scores[steps] = (result.words["score"].to_numpy(), result.completeness.median)
        reference = scores[50][0]
        for steps, (values, median) in scores.items():
            agree = np.mean([np.mean((values >= t) == (reference >= t)) for t in THRESHOLDS])
            corr = np.corrcoef(values, reference)[0, 1]
            print(f"{name:<10} {steps:>5} {median:>12.3f} {corr:>7.4f} {agree:>9.4f}")


def main() -> None:
    """Measure every workload and print one table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "signal-cost")
    parser.add_argument("--workloads", default="demo,study,long")
    parser.add_argument(
        "--transfers",
        choices=("all", "sample"),
        default="all",
        help="transfer trials trained: every pair at the source setting, or two",
    )
    parser.add_argument(
        "--agreement-tasks", type=int, default=None, help="old settings on the first N tasks"
    )
    parser.add_argument("--rank-target", default="", help="new target ranked on the demo run")
    parser.add_argument("--bf16", default="demo", help="workloads also measured under bf16")
    parser.add_argument(
        "--no-old-settings", action="store_true", help="skip the old settings and agreement"
    )
    parser.add_argument(
        "--reuse-old",
        action="store_true",
        help="compare with the old settings' signals and costs already in the work folder "
        "(they do not depend on the defaults; their seconds are those of their own run)",
    )
    parser.add_argument(
        "--steps-agreement", action="store_true", help="only: word scores vs steps (demo)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the old settings' process, and as each grid worker
    if args.steps_agreement:
        steps_agreement(args.work)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("transferscout.grid").setLevel(logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.workloads.split(","):
        result = measure(name, args.work, args)
        print(result, flush=True)
        results.append(result)
    table = pd.DataFrame(results).T
    print(table.to_string(header=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
