"""What the signals cost next to the grid they replace, at the derived defaults and the old ones.

For each workload — the ``demo`` profile, the ``study`` profile (without its extra seed-noise
seeds) and ``long``: the ``news``-genre messages of the built-in corpus, 6 tasks, a 64-token
grid — in a run folder under ``--work`` (resumable):

1. trains every task's single-task model with the grid's source setting, and a sample of
   transfer trials (the first target from two sources);
2. projects the full candidate grid's cost from them exactly as the budget does
   (:func:`transferscout.signals.budget.project_grid_seconds`: each candidate is charged its
   source and target stage; a stage costs what the single-task trial with the same task and
   settings took, or, for settings not trained here, examples × epochs / the median measured
   throughput), and prints the sampled transfers' measured cost next to their projection;
3. computes every signal at the new defaults (pair signals, then ANSAT planned within
   ``signals.budget``) and sums the recorded seconds;
4. computes them at the old settings (50 steps, length 128, ≤ 100 documents per set,
   pair signals at length 128 on ≤ 500 examples per task) on the first
   ``--agreement-tasks`` tasks, and projects that cost to all tasks (conductance by the
   tokens the old settings attribute, the pair families by their number of models and
   pairs);
5. prints the agreement of ANSAT between the two on those tasks: Spearman of each of the 42
   features' values over the ordered pairs, and of each target's ranking of its sources by
   each feature (means over the defined ones);
6. on the workloads of ``--bf16``, computes the defaults again under bf16 autocast, on the
   document sets the fp32 plan chose, and prints their cost and ANSAT's agreement with fp32;
7. with ``--steps-agreement`` only (on a work folder with the demo trained): word scores at
   4, 8 and 16 integration steps next to 50;
8. on the demo, ranks a new target (``--rank-target``) with ``rank``'s code and prints what
   its signals cost next to the training of the target's own single-task models.

Usage (about half an hour on two busy cores)::

    nice .venv/bin/python benchmarks/signal_cost.py [--work DIR] [--workloads demo,study,long]
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from transferscout.config import RunConfig, load_config
from transferscout.grid.models import load_trained_model, select_single_task_models
from transferscout.grid.runner import plan_trials, run_grid
from transferscout.grid.spec import GridSpec
from transferscout.grid.store import RunStore
from transferscout.pipeline import pair_settings
from transferscout.signals.ansat_stage import compute_ansat
from transferscout.signals.budget import grid_budget, project_grid_seconds
from transferscout.signals.documents import document_sets
from transferscout.signals.pair_stage import compute_pair_signals
from transferscout.tasks import TaskSet, load_corpus
from transferscout.tasks.corpora import corpus_path

LONG_TASKS = [
    "weather_related",
    "floods",
    "storm",
    "medical_help",
    "infrastructure_related",
    "shelter",
]
OLD = [
    "signals.ansat.n_steps=50",
    "signals.ansat.max_length=128",
    "signals.ansat.max_documents=100",
    "signals.pairs.max_length=128",
    "signals.pairs.max_examples=500",
]


def workload(name: str, work: Path) -> RunConfig:
    """The configuration of a workload."""
    if name == "demo":
        return load_config(profile="demo")
    if name == "study":
        return load_config(profile="study", overrides=["grid.single_task_seeds=[]"])
    news = work / "news.csv"
    if not news.exists():
        table = pd.read_csv(corpus_path())
        table[table["genre"] == "news"].drop(columns=["split"]).to_csv(news, index=False)
    return load_config(
        profile="study",
        overrides=[
            "grid.single_task_seeds=[]",
            f"data.path={news}",
            "data.text_column=message",
            "data.id_column=id",
            f"data.label_columns={LONG_TASKS}",
            "data.max_train_examples=300",
            "data.max_eval_examples=500",
        ],
    )


def train(config: RunConfig, run: Path, tasks: TaskSet) -> None:
    """Single-task models with the source setting, and two sampled transfers."""
    grid = config.grid.spec()
    options = config.executor.options()
    singles = GridSpec(sources=(), target_settings=grid.source_settings[:1], seeds=grid.seeds)
    run_grid(run, tasks, singles, config.encoder.spec(), options, progress=True)
    first, *others = tasks.names
    sample = GridSpec(
        targets=(first,),
        sources=tuple(others[:2]),
        target_settings=grid.source_settings[:1],
        source_settings=grid.source_settings[:1],
        seeds=grid.seeds,
    )
    run_grid(run, tasks, sample, config.encoder.spec(), options, progress=True)


def signal_seconds(run: Path) -> dict[str, float]:
    """Recorded seconds per cost family."""
    with RunStore(run, readonly=True) as store:
        totals: dict[str, float] = {}
        for cost in store.costs():
            totals[cost["family"]] = totals.get(cost["family"], 0.0) + float(cost["seconds"])
    return totals


def ansat_values(run: Path) -> pd.DataFrame:
    """The stored ANSAT features: one row per ordered pair, one column per feature."""
    with RunStore(run, readonly=True) as store:
        rows = store.pair_signals("ansat")
    table = pd.DataFrame(rows).pivot_table(
        index=["source", "target"], columns="name", values="value"
    )
    return table


def agreement(default: pd.DataFrame, old: pd.DataFrame) -> tuple[float, int, float, int]:
    """Mean Spearman over features (over pairs) and over (target, feature) source rankings."""
    pairs = [p for p in old.index if p[0] != p[1]]
    default, old = default.loc[pairs], old.loc[pairs]
    features = [c for c in old.columns if c.startswith("ansat_") and c != "ansat_ab_empty"]
    over_pairs = [_rho(default[c], old[c]) for c in features]
    rankings = []
    for target in sorted({t for _, t in pairs}):
        mine = [p for p in pairs if p[1] == target]
        rankings += [_rho(default.loc[mine, c], old.loc[mine, c]) for c in features]
    defined = [r for r in over_pairs if not math.isnan(r)]
    ranked = [r for r in rankings if not math.isnan(r)]
    return (
        float(np.mean(defined)) if defined else math.nan,
        len(defined),
        float(np.mean(ranked)) if ranked else math.nan,
        len(ranked),
    )


def _rho(a: Sequence[float], b: Sequence[float]) -> float:
    if np.ptp(np.asarray(a)) == 0 or np.ptp(np.asarray(b)) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def attributed_tokens(config: RunConfig, tasks: TaskSet, tokenizer: object) -> int:
    """Tokens × points the old settings attribute on ``tasks`` (documents per model)."""
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


def measure(
    name: str, work: Path, agreement_tasks: int, old_settings: bool = True
) -> dict[str, float | str]:
    """Every number of one workload."""
    config = workload(name, work)
    trained = work / f"{name}-trained"  # kept: a re-run trains nothing
    tasks = config.data.load()
    train(config, trained, tasks)
    run, old_run = work / name, work / f"{name}-old"  # fresh copies: every signal recomputed
    for folder in (run, old_run):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("store.lock"))
    encoder = config.encoder.spec()
    with RunStore(run, readonly=True) as store:
        rows = store.rows(status="done")
    sizes = {task.fingerprint: len(task.train) for task in tasks.tasks}
    for row in rows:
        if row.kind == "transfer":
            no_self = [r for r in rows if r.id != row.id]
            spec_grid = GridSpec(
                targets=(row.target,),
                sources=(row.source or "",),
                target_settings=config.grid.spec().source_settings[:1],
                source_settings=config.grid.spec().source_settings[:1],
            )
            planned = plan_trials(spec_grid, tasks, encoder)
            projected = project_grid_seconds(planned, no_self, sizes)
            measured = (row.source_seconds or 0.0) + (row.target_seconds or 0.0)
            print(
                f"  [{name}] transfer {row.source}->{row.target}: measured {measured:.1f} s, "
                f"projected from its single-task stages {projected:.1f} s"
            )
    # -- new defaults --------------------------------------------------------------------
    compute_pair_signals(run, tasks, pair_settings(config, run, tasks), progress=True)
    budget = grid_budget(run, tasks, config.grid.spec(), encoder, fraction=config.signals.budget)
    compute_ansat(run, tasks, config.ansat_settings(), progress=True, budget=budget)
    defaults = signal_seconds(run)
    default_total = sum(defaults.values())
    default_ansat = ansat_values(run)
    grid_seconds = budget.grid_seconds
    if not old_settings:
        return {
            "workload": name,
            "tasks": len(tasks),
            "grid_h": grid_seconds / 3600,
            "default_s": default_total,
            "default_share": default_total / grid_seconds,
            **{f"{family}_s": seconds for family, seconds in defaults.items()},
        }
    # -- old settings on the first tasks -------------------------------------------------
    subset = TaskSet(tasks.tasks[:agreement_tasks], tasks.source)
    old_config = replace(config, signals=load_config(None, OLD).signals)
    compute_pair_signals(old_run, subset, old_config.pair_settings(), progress=True)
    compute_ansat(old_run, subset, old_config.ansat_settings(), progress=True)
    old = signal_seconds(old_run)
    old_ansat = ansat_values(old_run)
    with RunStore(run, readonly=True) as store:
        first = select_single_task_models(store, subset)[subset.names[0]]
    tokenizer = load_trained_model(run, first).tokenizer
    scale_conductance = attributed_tokens(old_config, tasks, tokenizer) / max(
        1, attributed_tokens(old_config, subset, tokenizer)
    )
    n, k = len(tasks), len(subset)
    scales = {
        "conductance": scale_conductance,
        "ansat": n * n / (k * k),
        "features": n * n / (k * k),
        "estimators": n * n / (k * k),
        "taskemb": n / k,
        "textemb": n / k,
    }
    old_total = sum(seconds * scales.get(f, n * n / (k * k)) for f, seconds in old.items())
    rho_pairs, n_pairs, rho_ranks, n_ranks = agreement(default_ansat, old_ansat)
    return {
        "workload": name,
        "tasks": len(tasks),
        "grid_h": grid_seconds / 3600,
        "default_s": default_total,
        "default_share": default_total / grid_seconds,
        "default_conductance_s": defaults.get("conductance", 0.0),
        "old_s": old_total,
        "old_share": old_total / grid_seconds,
        "ratio": default_total / old_total,
        "rho_features": rho_pairs,
        "features_defined": n_pairs,
        "rho_rankings": rho_ranks,
        "rankings_defined": n_ranks,
        "agreement_tasks": k,
    }


def rank_cost(config: RunConfig, run: Path, target: str) -> dict[str, float | str]:
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
    """ANSAT at the defaults under bf16 autocast, in another fresh copy: cost and agreement."""
    run = work / f"{name}-bf16"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(work / f"{name}-trained", run, ignore=shutil.ignore_patterns("store.lock"))
    with RunStore(work / name, readonly=True) as store:  # the fp32 run's planned sets
        cap = store.pair_signals("ansat")[0]["detail"]["settings"]["max_documents"]
    ansat = replace(config.signals.ansat, max_documents=cap)
    bf16 = replace(config, signals=replace(config.signals, precision="bf16", ansat=ansat))
    tasks = config.data.load()
    compute_pair_signals(run, tasks, pair_settings(bf16, run, tasks))
    budget = grid_budget(run, tasks, bf16.grid.spec(), bf16.encoder.spec())
    compute_ansat(run, tasks, bf16.ansat_settings(), budget=budget)
    seconds = signal_seconds(run)
    rho_pairs, _, rho_ranks, _ = agreement(ansat_values(run), ansat_values(work / name))
    return {
        "bf16_s": sum(seconds.values()),
        "bf16_conductance_s": seconds.get("conductance", 0.0),
        "bf16_rho_features": rho_pairs,
        "bf16_rho_rankings": rho_ranks,
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "signal-cost")
    parser.add_argument("--workloads", default="demo,study,long")
    parser.add_argument("--agreement-tasks", type=int, default=4)
    parser.add_argument(
        "--rank-target", default="medical_help", help="new target ranked on the demo run"
    )
    parser.add_argument("--bf16", default="demo", help="workloads also measured under bf16")
    parser.add_argument(
        "--no-old-settings", action="store_true", help="skip the old settings and agreement"
    )
    parser.add_argument(
        "--steps-agreement", action="store_true", help="only: word scores vs steps (demo)"
    )
    args = parser.parse_args()
    if args.steps_agreement:
        steps_agreement(args.work)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("transferscout.grid").setLevel(logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.workloads.split(","):
        result = measure(name, args.work, args.agreement_tasks, not args.no_old_settings)
        if name in args.bf16.split(","):
            result.update(bf16_effect(workload(name, args.work), args.work, name))
        if name == "demo" and args.rank_target:
            result.update(rank_cost(workload(name, args.work), args.work / name, args.rank_target))
        print(result, flush=True)
        results.append(result)
    table = pd.DataFrame(results)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
