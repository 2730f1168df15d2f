"""Reference study v2: train the compute-matched single-task trials of a pool (issue 26, item 3).

A transfer of the study trains its encoder for 2 source + 2 target epochs; its single-task
baseline for 2.  The compute-matched single-task models (``grid.matched_single_task``: the
target settings at 2 + 2 = 4 epochs, for each of the pool's 12 tasks, 2 target learning rates
and 3 single-task seeds: 72 trials per pool) separate "transfer helps" from "more training
helps".  This step adds them to a pool's committed tables:

1. imports ``benchmarks/results/study-v2/<pool>`` into its own run folder (once: a run folder
   with a store is continued, never imported over; not the folder the pool was trained in,
   whose store holds other signals than the committed tables);
2. plans the pool's grid with ``grid.matched_single_task = true`` and keeps the trials the
   plain grid does not have — the matched ones only: nothing else is trained again, not even
   a plain single-task model whose file is missing (the tables hold no model files);
3. trains them through the normal resumable runner (``run_trials``: the run's store, one
   trial at a time by default), in chunks, writing the finished matched trials after every
   chunk to ``benchmarks/results/study-v2/<pool>-matched-trials.csv`` (the trials table's
   columns), so that what is finished can be committed as it grows while the pool's own
   tables — which the committed analysis is rebuilt from — stay as they are;
4. once every matched trial is finished, exports the run into the pool's tables and removes
   the partial file.

Stopped at any point, the same command goes on where it stopped — also in a fresh checkout
without the run folder: the import then adds the partial file's trials to the pool's.  The
signals are not touched (they read the plain single-task models only), so the pool's stored
signals stay valid; ``benchmarks/study_v2.py`` then measures the gains against the best
single-task model by validation, the matched ones included.

Usage (one pool at a time; ``--max-trials 1 --no-export`` measures one trial):

    nice -n 10 .venv/bin/python benchmarks/study_v2_matched.py pool1 [--run RUN] [--chunk 6]
        [--max-trials N] [--no-export] [-s executor.workers=1]
    .venv/bin/python benchmarks/study_v2_matched.py pool1 --summary   # transfer vs both baselines
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from transferscout.config import RunConfig, load_config
from transferscout.evaluation.stats import sign_flip_test
from transferscout.evaluation.table1 import MATCHED, SINGLE, TRANSFER, best_models_table
from transferscout.grid.runner import plan_trials, run_trials
from transferscout.grid.spec import TrialSpec
from transferscout.grid.store import RunStore
from transferscout.tables import export_tables, import_tables
from transferscout.tasks.task import TaskSet

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "study-v2"

logger = logging.getLogger("study_v2_matched")


def pool_config(pool: str, overrides: list[str] | None = None) -> RunConfig:
    """The pool's configuration with the compute-matched single-task trials switched on."""
    return load_config(
        RESULTS / f"{pool}.toml", ["grid.matched_single_task=true", *(overrides or [])]
    )


def matched_trials(config: RunConfig, tasks: TaskSet) -> list[TrialSpec]:
    """The trials the grid gains with ``grid.matched_single_task``: its matched single-task ones."""
    spec = config.grid.spec()
    encoder = config.encoder.spec()
    plain = {t.id for t in plan_trials(replace(spec, matched_single_task=False), tasks, encoder)}
    return [t for t in plan_trials(spec, tasks, encoder) if t.id not in plain]


def pending(run_dir: Path, trials: list[TrialSpec]) -> list[TrialSpec]:
    """The trials not yet finished in the run's store."""
    if not (run_dir / "store.sqlite").exists():
        return list(trials)
    with RunStore(run_dir, readonly=True) as store:
        done = {r.id for r in store.rows(status="done")}
    return [t for t in trials if t.id not in done]


def main() -> None:
    """Import once, train the pending matched trials in chunks, export after each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pool", choices=["pool1", "pool2"])
    parser.add_argument("--run", type=Path, help="default runs/study-v2-<pool>-matched")
    parser.add_argument("--chunk", type=int, default=6, help="trials between two exports")
    parser.add_argument("--max-trials", type=int, help="train at most this many now")
    parser.add_argument("--no-export", action="store_true", help="leave the tables as they are")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="train nothing: print transfer against the plain and the matched baseline",
    )
    parser.add_argument(
        "-s", "--set", action="append", default=[], help="KEY=VALUE, e.g. executor.workers=1"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run_dir = args.run or ROOT / "runs" / f"study-v2-{args.pool}-matched"
    tables = RESULTS / args.pool
    partial = RESULTS / f"{args.pool}-matched-trials.csv"
    if not (run_dir / "store.sqlite").exists():
        logger.info("importing %s into %s", tables, run_dir)
        import_tables(_with_partial(tables, partial, run_dir.parent), run_dir)
    if args.summary:
        print(matched_summary(run_dir))  # noqa: T201  # the benchmark's output
        return
    config = pool_config(args.pool, args.set)
    # The run's configuration says the matched trials belong to its grid (exported with it).
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    tasks = config.data.load()
    trials = matched_trials(config, tasks)
    todo = pending(run_dir, trials)
    if args.max_trials is not None:
        todo = todo[: args.max_trials]
    logger.info("%d matched single-task trials, %d to train now", len(trials), len(todo))
    options = config.executor.options()
    for start in range(0, len(todo), args.chunk):
        chunk = todo[start : start + args.chunk]
        began = time.perf_counter()
        run_trials(run_dir, tasks, chunk, options)
        seconds = time.perf_counter() - began
        with RunStore(run_dir, readonly=True) as store:
            rows = [store.row(t.id) for t in chunk]
        for trial, row in zip(chunk, rows, strict=True):
            assert row is not None
            logger.info(
                "%s lr=%g epochs=%d seed=%d: %s, %.1f s of training",
                trial.target,
                trial.target_settings.learning_rate,
                trial.target_settings.epochs,
                trial.seed,
                row.status,
                row.target_seconds or float("nan"),
            )
        logger.info("chunk of %d trials: %.1f s wall", len(chunk), seconds)
        if not args.no_export:
            _write_partial(run_dir, {t.id for t in trials}, partial)
    left = len(pending(run_dir, trials))
    logger.info("%d of %d matched trials finished", len(trials) - left, len(trials))
    if not args.no_export and not left:
        export_tables(run_dir, tables)
        partial.unlink(missing_ok=True)
        logger.info("every matched trial finished: exported %s", tables)


def matched_summary(run_dir: Path) -> str:
    """Per target: the best transfer against the plain and the better single-task model.

    From the run's Table 1 (:func:`~transferscout.evaluation.table1.best_models_table`): the
    baseline is the better single-task model by validation, plain or compute-matched; the
    transfer row is the grid's best by test (3-seed means).  Paired two-sided sign-flip tests
    across the targets that have a matched model.
    """
    table = best_models_table(run_dir)
    rows = table[table["target"] != "average"]
    transfer = rows[rows["model"] == TRANSFER].set_index("target")
    plain = rows[rows["model"] == SINGLE].set_index("target")["f1"]
    matched = rows[rows["model"] == MATCHED].set_index("target")["f1"]
    targets = sorted(set(transfer.index) & set(matched.index))
    if not targets:
        return "no target has a finished compute-matched model yet"
    frame = pd.DataFrame(
        {
            "plain": plain.reindex(targets),
            "matched": matched.reindex(targets),
            "transfer": transfer["f1"].reindex(targets),
            "gain_plain": transfer["gain_plain"].reindex(targets),
            "gain": transfer["gain"].reindex(targets),
        }
    )
    lines = [frame.round(4).to_string(), ""]
    for name, values in (
        ("transfer - plain single-task", frame["gain_plain"]),
        ("transfer - better single-task (plain or matched, by validation)", frame["gain"]),
        ("matched - plain single-task", frame["matched"] - frame["plain"]),
    ):
        p = sign_flip_test(values.to_numpy(dtype=float))
        lines.append(f"{name}: mean {values.mean():+.4f} over {len(values)} targets, p {p:.4f}")
    return "\n".join(lines)


def _with_partial(tables: Path, partial: Path, scratch: Path) -> Path:
    """The pool's tables, with the partial file's finished matched trials added (if any)."""
    if not partial.exists():
        return tables
    folder = scratch / f"{tables.name}-with-matched"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(tables, folder)
    joined = pd.concat([pd.read_csv(folder / "trials.csv"), pd.read_csv(partial)])
    joined.to_csv(folder / "trials.csv", index=False)
    return folder


def _write_partial(run_dir: Path, matched: set[str], partial: Path) -> None:
    """Write the run's finished matched trials as rows of a trials table."""
    with tempfile.TemporaryDirectory() as scratch:
        export_tables(run_dir, scratch)
        trials = pd.read_csv(Path(scratch) / "trials.csv")
    done = trials[trials["id"].isin(matched) & (trials["status"] == "done")]
    done.to_csv(partial, index=False)
    logger.info("%d finished matched trials written to %s", len(done), partial)


if __name__ == "__main__":
    main()
