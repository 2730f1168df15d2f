"""Budgeted search on the reference study: the saving of a ranking made real.

For each of the study's targets in turn, ``search --target T`` runs with the other tasks as the
pool and budgets of 1, 2, 4 and 8 candidate trials; the target's own transfer results are
never read by the meta-model.  The run is rebuilt from the study's committed tables, so a
candidate the search picks is a trial the study already trained (same id): its recorded result
is read when, and only when, the search picks it, and only the model finally kept is trained
again (its weights were not kept by the study).  Prints, per budget, the mean over targets of
the test F1 reached (model chosen by validation F1), of the target's single-task model and of
the full grid's best transfer, with the candidate hours spent and paired sign-flip tests across
targets of the F1 reached against the single-task model and against the grid's best.
Resumable: every finished (target, budget) is a row of ``<run>/search-benchmark.csv`` and is
not searched again.  With several transfer seeds (study v2's pool 1) the search trains and reads
the grid's first seed, and the full grid it is compared with is that seed's.

By default one search per target runs with the largest budget and no model export, and the
smaller budgets are read from its trace: with a trial budget and no chain, the search's choice at
step k does not depend on the budget, so the search with budget k is the first k steps of it
(the best model at budget k is the trace's best so far at step k).  ``--literal`` runs one
search per (target, budget) instead, each exporting its model (training the kept model again).

Usage:

    nice -n 10 .venv/bin/python benchmarks/search.py [--tables benchmarks/results/study]
        [--run runs/search-benchmark] [--targets request,food,...] [--budgets 1,2,4,8]
        [--literal]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from transferscout.config import load_run_config
from transferscout.evaluation.stats import sign_flip_test
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table
from transferscout.search import Budget, SearchSettings, search_target
from transferscout.tables import import_tables

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from study import _table  # noqa: E402  # the same Markdown tables as the study benchmark


def first_seed_grid(run_dir: Path, seed: int) -> pd.DataFrame:
    """The candidates as the grid's first seed trained them: what a search trains and reads.

    With several transfer seeds (study v2's pool 1), the search trains each candidate once,
    with the grid's first seed; the full grid it is compared with is that seed's grid (its
    best test F1 and hours), as in the first study, which had one seed.
    """
    with RunStore(run_dir, readonly=True) as store:
        ids = {r.id for r in store.rows(kind="transfer", status="done") if r.seed == seed}
    return candidate_table(run_dir, trials=ids)


def _recorded_hours(run_dir: Path, steps: pd.DataFrame) -> float:
    """Target-stage hours of the candidates tried, as their trials recorded them.

    Every training is charged once (the evaluation's rule): a candidate's source stage is the
    source's single-task model, which the grid and the search both have, so neither side is
    charged it again; the full grid it is compared with is its candidates' target stages
    (``target_hours``).  A step whose trial recorded no target hours keeps the search's.
    """
    total = 0.0
    with RunStore(run_dir, readonly=True) as store:
        for step in steps.itertuples():
            row = store.row(str(step.trial))
            if row is None or row.target_seconds is None:
                total += float(step.hours)
            else:
                total += row.target_seconds / 3600
    return total


def search_benchmark(
    tables: Path,
    run_dir: Path,
    *,
    targets: list[str] | None = None,
    budgets: tuple[int, ...] = (1, 2, 4, 8),
    literal: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Search every target of a study's tables; resumable in ``run_dir``.

    Returns:
        The summary per budget (means over targets, paired tests) and one row per
        (target, budget).
    """
    if not (run_dir / "store.sqlite").exists():
        import_tables(tables, run_dir)
    config = load_run_config(run_dir)
    grid = first_seed_grid(run_dir, config.grid.seeds[0])
    targets = targets or sorted(grid["target"].unique())
    results_path = run_dir / "search-benchmark.csv"
    done = pd.read_csv(results_path) if results_path.exists() else pd.DataFrame()
    rows = done.to_dict("records")
    for target in targets:
        wanted = [
            b for b in budgets if not any(r["target"] == target and r["budget"] == b for r in rows)
        ]
        runs = [[b] for b in wanted] if literal else [wanted] if wanted else []
        for group in runs:
            started = time.perf_counter()
            result = search_target(
                run_dir,
                SearchSettings(Budget(trials=max(group)), margin=0.0),
                own_target=target,
                config=config,
                output=run_dir / "search-models" / target,
                export=literal,
            )
            seconds = time.perf_counter() - started
            for budget in group:
                steps = result.trace[result.trace["step"] <= budget]
                f1 = (
                    float(steps["best_test_f1"].iloc[-1])
                    if len(steps)
                    else result.reference["test_f1"]
                )
                rows.append(
                    {
                        "target": target,
                        "budget": budget,
                        "tried": len(steps),
                        "stopped": result.stopped if len(steps) == result.tried else "budget",
                        "best": str(steps["best"].iloc[-1]) if len(steps) else "single-task",
                        "f1": f1,
                        "best_tried_f1": float(steps["test_f1"].max()),
                        "single_task_f1": result.reference["test_f1"],
                        "grid_best_f1": float(grid.loc[grid["target"] == target, "real_f1"].max()),
                        "candidate_hours": _recorded_hours(run_dir, steps),
                        "grid_hours": float(
                            grid.loc[grid["target"] == target, "target_hours"].sum()
                        ),
                        "wall_seconds": seconds,
                    }
                )
            pd.DataFrame(rows).to_csv(results_path, index=False)
    frame = pd.DataFrame(rows)
    frame = frame[frame["target"].isin(targets) & frame["budget"].isin(budgets)]
    summary = frame.groupby("budget", as_index=False).agg(
        targets=("target", "size"),
        tried=("tried", "mean"),
        f1=("f1", "mean"),
        best_tried_f1=("best_tried_f1", "mean"),
        single_task_f1=("single_task_f1", "mean"),
        grid_best_f1=("grid_best_f1", "mean"),
        candidate_hours=("candidate_hours", "sum"),
        grid_hours=("grid_hours", "sum"),
    )
    summary["vs_single"] = summary["f1"] - summary["single_task_f1"]
    summary["vs_grid_best"] = summary["f1"] - summary["grid_best_f1"]
    # Paired by target: the kept model's test F1 against the single-task model's and the grid's
    # best (two-sided sign-flip tests across targets, as the evaluation's tests).
    for column, other in (("p_vs_single", "single_task_f1"), ("p_vs_grid_best", "grid_best_f1")):
        summary[column] = [
            sign_flip_test(group["f1"] - group[other]) for _, group in frame.groupby("budget")
        ]
    summary["saved_percent"] = 100 * (1 - summary["candidate_hours"] / summary["grid_hours"])
    return summary, frame.reset_index(drop=True)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, default=ROOT / "benchmarks/results/study")
    parser.add_argument("--run", type=Path, default=ROOT / "runs/search-benchmark")
    parser.add_argument("--targets", default=None, help="comma-separated (default: all)")
    parser.add_argument("--budgets", default="1,2,4,8")
    parser.add_argument("--literal", action="store_true", help="one exporting search per budget")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    summary, frame = search_benchmark(
        args.tables,
        args.run,
        targets=args.targets.split(",") if args.targets else None,
        budgets=tuple(int(b) for b in args.budgets.split(",")),
        literal=args.literal,
    )
    sys.stdout.write(f"targets: {', '.join(sorted(set(frame['target'])))}\n")
    sys.stdout.write(_table(summary) + "\n\n")
    sys.stdout.write(_table(frame) + "\n")


if __name__ == "__main__":
    main()
