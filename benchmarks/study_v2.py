"""Reference study v2 (issue 19): every number and figure, rebuilt from the committed tables.

From ``benchmarks/results/study-v2/pool1`` and ``pool2`` (tables of ``transferscout tables
export``) and nothing else: each pool is imported into a scratch run folder, evaluated within
the pool (leave-one-target-out, the study's ``[evaluation]`` settings), then across pools in
both directions (meta-models fitted on one pool's candidates rank the other's, paired per
target with the within-pool result), and the search benchmark (``benchmarks/search.py``) is
replayed on pool 1.  Markdown tables are printed and written, with each pool's report and
figures.  What is missing (a pool's tables, its signals, unfinished trials) is said first,
and the script runs on what exists.

``--split-demo`` runs the same analysis on two pseudo-pools of the *first* study
(``benchmarks/results/study``, which has signals): its 12 tasks split into two pools of 6
(alternate tasks in name order), each keeping only transfers between its own tasks.  It is a
rehearsal of the pipeline, not a result: a pool of 6 tasks has 5 sources per target; the
signal costs charged are the whole 12-task study's; TaskEmb's rank fusion keeps its 11-source
values.  Its output goes to the runs folder only, never to ``benchmarks/results``.

Usage:

    nice -n 10 .venv/bin/python benchmarks/study_v2.py [--save] [--no-search]
    nice -n 10 .venv/bin/python benchmarks/study_v2.py --split-demo --no-search
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

import pandas as pd

from transferscout.config import load_run_config
from transferscout.evaluation import EvaluationResult, EvaluationSettings, evaluate_run
from transferscout.evaluation.cross_pool import CrossPoolResult, evaluate_cross_pool
from transferscout.report import write_report
from transferscout.tables import import_tables, subset_tables

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import search_benchmark  # noqa: E402  # the search benchmark's own replay
from study import (  # noqa: E402  # the first study's sections, reused as they are
    TESTED,
    _p,
    _ranking_section,
    _savings_section,
    _table,
    _tests_section,
    study_markdown,
)

logger = logging.getLogger("study_v2")

POOLS = ("pool1", "pool2")
#: The shown cross-pool comparison: metrics with paired tests, and the rank of the best.
COMPARED = ("ndcg@3", "regret@1", "regret@3", "rank_of_best", "saved@0.01", "saved@0.02",
            "saved@0.035")  # fmt: skip


@dataclass
class PoolState:
    """What a pool's committed tables hold, and what is missing for the analysis."""

    name: str
    tables: Path
    counts: pd.DataFrame
    problems: list[str]
    evaluable: bool
    notes: list[str] = field(default_factory=list)  # corrections made, not problems


def trial_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials per kind, seed and status (columns: one per status, and ``total``)."""
    counts = trials.groupby(["kind", "seed", "status"]).size().unstack("status", fill_value=0)
    counts.columns.name = None
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index()


def pool_state(name: str, tables: Path, first_study: Path | None = None) -> PoolState:
    """Read a pool's tables and list what keeps its numbers from being final.

    ``first_study``: the first study's tables; a pool whose pair signals are byte-identical to
    them (pool 1 before its signals are recomputed) is flagged, since those signals come from
    the first study's single-task models and settings.
    """
    if not (tables / "trials.csv").exists():
        return PoolState(name, tables, pd.DataFrame(), [f"no {tables / 'trials.csv'}"], False)
    columns = ["id", "kind", "seed", "status", "source", "target", "source_trial",
               "source_seconds", "target_seconds"]  # fmt: skip
    trials = pd.read_csv(tables / "trials.csv", usecols=columns)
    counts = trial_counts(trials)
    problems = []
    for status in ("pending", "running", "failed"):
        left = int(counts[status].sum()) if status in counts else 0
        if left:
            problems.append(f"{left} trials {status}")
    done = trials[(trials["kind"] == "transfer") & (trials["status"] == "done")]
    rerecorded = rerecorded_sources(trials)
    if rerecorded:
        problems.append(rerecorded)
    pairs = set(zip(done["source"], done["target"], strict=True))
    signals_path = tables / "pair_signals.csv"
    signals = pd.read_csv(signals_path) if signals_path.exists() else pd.DataFrame()
    covered = set(zip(signals["source"], signals["target"], strict=True)) if len(signals) else set()
    evaluable = bool(pairs) and bool(covered)
    if not signals_path.exists() or signals.empty:
        problems.append("no pair signals (compute them, then `tables export`)")
    elif pairs - covered:
        problems.append(f"signals for {len(pairs & covered)} of {len(pairs)} finished pairs")
    if (
        first_study is not None
        and signals_path.exists()
        and (first_study / "pair_signals.csv").exists()
        and signals_path.read_bytes() == (first_study / "pair_signals.csv").read_bytes()
    ):
        problems.append(
            "pair signals are the first study's (computed at its signal settings), not "
            "recomputed for this pool"
        )
    return PoolState(name, tables, counts, problems, evaluable)


def rerecorded_sources(trials: pd.DataFrame, *, slack: float = 0.2) -> str:
    """Say so when single-task models were retrained after transfers that used them.

    A transfer records its source stage's hours when it runs; a single-task trial retrained
    later (its model file was gone) re-records its own, under that day's load.  Costs then mix
    two measurements of the same training; this names how many transfers disagree by more
    than ``slack`` and the median ratio (now / then).
    """
    singles = trials[trials["kind"] == "single"].set_index("id")["target_seconds"]
    done = trials[(trials["kind"] == "transfer") & (trials["status"] == "done")]
    ratio = (done["source_trial"].map(singles).astype(float) / done["source_seconds"]).dropna()
    off = ratio[(ratio - 1).abs() > slack]
    if off.empty:
        return ""
    return (
        f"{len(off)} transfers recorded source-stage hours that their source model, retrained "
        f"later, no longer has (now / then: median {off.median():.1f}x): single-task costs "
        "were re-measured under another load"
    )


def first_measurements(tables: Path, first_study: Path, out: Path) -> tuple[Path, str]:
    """A copy of a pool's tables whose retrained single-task trials keep their first hours.

    Pool 1 reuses the first study's trials by id.  Its single-task models were retrained in a
    later session only because their files were gone (the grid recreates a lost model), and
    that re-run re-recorded their hours under a loaded machine — while the first study's
    transfers, and the seed-0 grid every method is compared with, were timed on a quiet one.
    A trial whose test scores the re-run reproduced exactly keeps the first study's seconds
    (``target_seconds``, ``examples_per_second``), and so does the source stage of every transfer
    trained from it (``source_seconds``); any other row is left as exported.

    Returns:
        The folder of the copy (``out``) and a sentence saying what was restored ("" if none).
    """
    if not tables.exists():
        return tables, ""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(tables, out)
    path = out / "trials.csv"
    if not (first_study / "trials.csv").exists() or not path.exists():
        return out, ""
    trials = pd.read_csv(path, keep_default_na=False, na_values=[""])
    first = pd.read_csv(first_study / "trials.csv", keep_default_na=False, na_values=[""])
    first = first[(first["kind"] == "single") & (first["status"] == "done")].set_index("id")
    restored: list[float] = []
    for index, row in trials.iterrows():
        if row["kind"] != "single" or row["status"] != "done" or row["id"] not in first.index:
            continue
        then = first.loc[row["id"]]
        if _test_scores(row["metrics"]) != _test_scores(then["metrics"]):
            continue
        if then["target_seconds"] != row["target_seconds"]:
            restored.append(float(row["target_seconds"]) / float(then["target_seconds"]))
            trials.loc[index, ["target_seconds", "examples_per_second"]] = [
                then["target_seconds"],
                then["examples_per_second"],
            ]
    if not restored:
        return out, ""
    # transfers trained after the re-run recorded its hours as their source stage's
    seconds = trials[trials["kind"] == "single"].set_index("id")["target_seconds"]
    stage = trials["source_trial"].map(seconds)
    trials["source_seconds"] = stage.where(trials["kind"] == "transfer").fillna(
        trials["source_seconds"]
    )
    trials.to_csv(path, index=False)
    return out, (
        f"{len(restored)} single-task trials were retrained (lost model files) with the same "
        f"test scores; their first study's hours are charged (the re-run took a median "
        f"{pd.Series(restored).median():.1f}x as long on a loaded machine)"
    )


def _test_scores(metrics: str) -> dict[str, float]:
    return {k: v for k, v in json.loads(metrics).items() if k.startswith("test_")}


def split_demo_tables(first_study: Path, out: Path) -> dict[str, Path]:
    """Two pseudo-pools of the first study: alternate tasks in name order (6 + 6)."""
    trials = pd.read_csv(first_study / "trials.csv", usecols=["target"])
    tasks = sorted(set(trials["target"]))
    pools = {"half-a": tasks[0::2], "half-b": tasks[1::2]}
    folders = {}
    for name, members in pools.items():
        folder = out / "tables" / name
        if folder.exists():
            shutil.rmtree(folder)
        subset_tables(first_study, folder, members)
        folders[name] = folder
    return folders


def _status_section(states: list[PoolState]) -> str:
    lines = []
    for state in states:
        verdict = "final" if not state.problems else "; ".join(state.problems)
        lines += [f"**{state.name}** ({state.tables}): {verdict}.", ""]
        lines += [f"{note}." for note in state.notes] + ([""] if state.notes else [])
        if not state.counts.empty:
            lines += [_table(state.counts), ""]
    return "\n".join(lines)


def _cross_section(crossed: CrossPoolResult, evaluated: str) -> str:
    result = crossed.evaluation
    compared = crossed.versus_within
    compared = compared[compared["metric"].isin(COMPARED)].assign(
        p=[_p(p) for p in compared.loc[compared["metric"].isin(COMPARED), "p"]]
    )
    sets = list(dict.fromkeys(result.rmse["feature_set"]))
    rmse = result.rmse.pivot(index="k", columns="feature_set", values="rmse").reset_index()
    rmse = rmse.loc[rmse["k"].isin([5, 10, 20, 50, 100]), ["k", *sets]]
    return "\n".join(
        [
            f"Meta-models fitted on all {result.summary['fitted_on_candidates']} candidates of "
            f"{crossed.fit_run.name} rank {evaluated}'s {result.summary['candidates']} candidates "
            f"({result.summary['targets']} targets) with {evaluated}'s own signals; charged "
            f"{evaluated}'s signal and single-task hours.",
            "",
            "Ranking quality (mean over targets ± SD over meta-model seeds [95% bootstrap "
            "interval over targets]):",
            "",
            _ranking_section(result),
            "",
            "Paired sign-flip tests across the targets (difference of means, p):",
            "",
            _tests_section(result),
            "",
            "Time saved against the full grid:",
            "",
            _savings_section(result),
            "",
            "RMSE@K (pooled, cross-pool; mean over seeds):",
            "",
            _table(rmse.rename(columns={"k": "K"})),
            "",
            "Fitted on the other pool vs leave-one-target-out within this pool, same targets "
            "(cross − within; p: sign-flip test of the per-target differences):",
            "",
            _table(compared),
            "",
        ]
    )


#: The methods of the summary: the meta-models, the best no-signal baseline, the cheap priors.
SUMMARY_METHODS = ("meta:f1", "meta:f1+ansat", "meta:f1+ansat+taskemb", "meta:all",
                   "baseline:hyperparameters", "prior:textemb_cosine", "prior:estimators_logme",
                   "prior:ansat_ab_0.10", "random")  # fmt: skip


def summary_section(results: dict[str, EvaluationResult]) -> str:
    """Per tested metric, one table: methods by evaluation, each value with its two p-values.

    ``results``: evaluation name (a pool within itself, or one ranked by meta-models fitted on
    the other) -> its result.  A cell reads ``value (b p; f p)``: p of the paired test against
    the best no-signal baseline and against ``meta:f1``.
    """
    parts = []
    for metric in TESTED:
        rows = []
        for method in SUMMARY_METHODS:
            row = {"method": method}
            for name, result in results.items():
                ranking = result.ranking
                entry = ranking[(ranking["method"] == method) & (ranking["metric"] == metric)]
                if entry.empty:
                    row[name] = ""
                    continue
                first = entry.iloc[0]
                tests = [
                    f"{label} {_p(first[column])}"
                    for label, column in (("b", "p_vs_baseline"), ("f", "p_vs_meta_f1"))
                    if not pd.isna(first[column])
                ]
                saved = metric.startswith("saved")
                value = f"{first['estimate']:.1f}%" if saved else f"{first['estimate']:.3f}"
                row[name] = value + (f" ({'; '.join(tests)})" if tests else "")
            rows.append(row)
        parts += [f"**{metric}**", "", _table(pd.DataFrame(rows)), ""]
    return "\n".join(parts)


def _search_section(summary: pd.DataFrame) -> str:
    return (
        "The search benchmark (`benchmarks/search.py`) on pool 1: every target searched with "
        "the other tasks as its pool, the grid's first seed trained and read, compared with "
        "that seed's full grid.\n\n" + _table(summary)
    )


def _rebuild(tables: Path, run: Path) -> None:
    if run.exists():
        shutil.rmtree(run)  # a scratch folder: always rebuilt from the tables
    import_tables(tables, run)


def main() -> None:
    """Check, rebuild, evaluate (within and across pools), search, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=Path, default=ROOT / "benchmarks/results/study-v2")
    parser.add_argument("--first-study", type=Path, default=ROOT / "benchmarks/results/study")
    parser.add_argument("--runs", type=Path, default=None, help="scratch run folders")
    parser.add_argument(
        "--save", action="store_true", help="write the Markdown and figures to <tables>/analysis"
    )
    parser.add_argument("--no-search", action="store_true", help="skip the search benchmark")
    parser.add_argument(
        "--split-demo",
        action="store_true",
        help="rehearse on two 6-task halves of the first study (never saved to <tables>)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    runs = args.runs or ROOT / ("runs/study-v2-split-demo" if args.split_demo else "runs/study-v2")
    if args.split_demo:
        folders = split_demo_tables(args.first_study, runs)
        states = [pool_state(name, folder) for name, folder in folders.items()]
    else:
        states = []
        for pool in POOLS:
            folder, restored = first_measurements(
                args.tables / pool, args.first_study, runs / "tables" / pool
            )
            state = pool_state(pool, folder, args.first_study)
            state.notes = [restored] if restored else []
            states.append(state)
    for state in states:
        logger.info("%s: %s", state.name, "; ".join(state.problems) or "complete")
    parts = [
        "# Reference study v2"
        + (" — SPLIT DEMO (two halves of the first study)" if args.split_demo else ""),  # fmt: skip
        "",
        *(
            [
                "A rehearsal, not a result: two pools of 6 of the first study's tasks (5 sources "
                "per target); every method is charged the whole 12-task study's signal hours; "
                "TaskEmb's rank fusion keeps its 11-source values.",
                "",
            ]
            if args.split_demo
            else []
        ),
        "## What the tables hold",
        "",
        _status_section(states),
    ]
    evaluated: dict[str, tuple[Path, EvaluationSettings, EvaluationResult]] = {}
    summarized: dict[str, EvaluationResult] = {}
    for state in states:
        if not state.evaluable:
            parts += [f"## {state.name}", "", "Not evaluated: " + "; ".join(state.problems), ""]
            continue
        run = runs / state.name
        _rebuild(state.tables, run)
        settings = load_run_config(run).evaluation.settings()
        logger.info("%s: evaluating within the pool", state.name)
        result = evaluate_run(run, settings)
        evaluated[state.name] = (run, settings, result)
        summarized[f"{state.name} (within)"] = result
        parts += [f"## {state.name}: within the pool", "", study_markdown(run, result, settings)]
    for name, other in permutations(evaluated, 2):
        run, settings, within = evaluated[name]
        logger.info("%s: meta-models fitted on %s", name, other)
        crossed = evaluate_cross_pool(run, evaluated[other][0], settings, within=within)
        summarized[f"{name} (fitted on {other})"] = crossed.evaluation
        parts += [f"## {name}, meta-models fitted on {other}", "", _cross_section(crossed, name)]
    if len(evaluated) < 2:
        parts += ["## Across pools", "", "Needs both pools evaluated; not run.", ""]
    for run, _, _ in evaluated.values():
        write_report(run)  # after the cross-pool evaluation, which the report then shows
    search_pool = next((s for s in states if s.name == "pool1" and s.evaluable), None)
    if args.no_search or search_pool is None:
        parts += ["## Search benchmark", "", "Not run (pool 1 only; --no-search or no pool 1).", ""]
    else:
        logger.info("pool1: the search benchmark")
        summary, _ = search_benchmark(search_pool.tables, runs / "search-pool1")
        parts += ["## Search benchmark on pool 1", "", _search_section(summary), ""]
    if summarized:
        at = parts.index("## What the tables hold")
        parts[at:at] = [
            "## Summary",
            "",
            "Each cell: the mean over targets (time saved: percent of the full grid at that F1 "
            "loss, charged the method's signal cost), then the p-values of the paired sign-flip "
            "tests across the targets against the best no-signal baseline (b) and against "
            "`meta:f1` (f); n.s.: p ≥ 0.05. The sections below have the differences.",
            "",
            summary_section(summarized),
        ]
    markdown = "\n".join(parts) + "\n"
    out = args.tables / "analysis" if args.save and not args.split_demo else runs / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    (out / "study-v2.md").write_text(markdown, encoding="utf-8")
    for name, (run, _, _) in evaluated.items():
        target = out / name
        target.mkdir(exist_ok=True)
        for path in [run / "report" / "report.md", *(run / "report").glob("*.png")]:
            shutil.copyfile(path, target / path.name)
        cross = run / "evaluation" / "cross_pool"
        for table in ("versus_within.csv", "ranking.csv", "summary.json"):
            if (cross / table).exists():
                shutil.copyfile(cross / table, target / f"cross_pool_{table}")
    (out / "states.json").write_text(
        json.dumps({s.name: s.problems for s in states}, indent=2) + "\n", encoding="utf-8"
    )
    sys.stdout.write(markdown + f"\nWritten to {out}\n")


if __name__ == "__main__":
    main()
