"""Cost of each transferability signal per task pair, next to one transfer fine-tune.

On two tasks of the built-in corpus (``food``, ``water``) and the built-in encoder, in a
temporary run: trains both single-task models and one transfer model (water → food), then
computes ANSAT (conductance) and the pair signals, and prints the recorded seconds of each
signal family per ordered pair beside the seconds of the transfer fine-tune.  Usage:

    .venv/bin/python benchmarks/signals.py [--layers 2] [--examples 200] [--n-steps 20]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from transferscout.encoders import EncoderSpec
from transferscout.grid.runner import ExecutionOptions, run_grid
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.store import RunStore
from transferscout.signals.ansat_stage import AnsatSettings, compute_ansat
from transferscout.signals.attributions import AttributionSettings
from transferscout.signals.pair_stage import PairSignalSettings, compute_pair_signals
from transferscout.tasks import TaskOptions, load_corpus


def main() -> None:
    """Run the signals on a two-task run and print seconds per pair."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--n-steps", type=int, default=20)
    parser.add_argument("--documents", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    options = TaskOptions(
        tasks=("food", "water"),
        max_train_examples=args.examples,
        max_eval_examples=300,
        cap_strategy="balanced",
    )
    tasks = load_corpus("disaster-response", options)
    stage = settings_grid(learning_rate=[2e-4], epochs=[2], max_length=[64])
    grid = GridSpec(
        targets=("food",), sources=("water",), target_settings=stage, source_settings=stage
    )
    encoder = EncoderSpec("all-MiniLM-L6-v2", num_layers=args.layers)
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        run_grid(run, tasks, grid, encoder, ExecutionOptions(workers=1, threads_per_worker=2))
        run_grid(
            run,
            tasks,
            GridSpec(targets=("water",), sources=(), target_settings=stage),
            encoder,
            ExecutionOptions(workers=1, threads_per_worker=2),
        )
        attribution = AttributionSettings(n_steps=args.n_steps, max_length=64)
        compute_ansat(
            run, tasks, AnsatSettings(attribution=attribution, max_documents=args.documents)
        )
        compute_pair_signals(
            run, tasks, PairSignalSettings(max_examples=args.examples, max_length=64)
        )
        with RunStore(run, readonly=True) as store:
            transfer = store.rows(kind="transfer")[0]
            costs = store.costs()
    pairs = len(tasks) ** 2
    fine_tune = (transfer.source_seconds or 0.0) + (transfer.target_seconds or 0.0)
    print(
        f"{args.layers}-layer encoder, {args.examples} training examples per task, ANSAT n_steps "
        f"{args.n_steps} on <= {args.documents} documents per set; {pairs} ordered pairs"
    )
    print(f"one transfer fine-tune (water -> food, both stages): {fine_tune:.1f} s")
    print(f"{'signal family':<14} {'s per pair':>10} {'x fine-tune':>12}")
    families: dict[str, float] = {}
    for cost in costs:
        families[cost["family"]] = families.get(cost["family"], 0.0) + cost["seconds"]
    for family, seconds in sorted(families.items()):
        per_pair = seconds / pairs
        print(f"{family:<14} {per_pair:>10.2f} {per_pair / fine_tune:>11.3f}x")
    total = sum(families.values()) / pairs
    print(f"{'all signals':<14} {total:>10.2f} {total / fine_tune:>11.3f}x")


if __name__ == "__main__":
    main()
