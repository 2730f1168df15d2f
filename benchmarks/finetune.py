"""Fine-tuning and inference throughput of the built-in encoder, executors side by side.

For the full (6-layer) and the 2-layer all-MiniLM-L6-v2, this runs the same two single-task
trials (``food`` and ``water`` of the built-in corpus) three ways, in one process run:

* in-process, one trial after the other, with 2 torch threads (fp32);
* a pool of 2 worker processes with 1 thread each, both trials at once (fp32);
* in-process with bf16 autocast (opt-in; it changes results, so it is part of a trial's id);

and measures inference (class probabilities) with 1 and 2 threads.  It prints examples per
second and ratios; nothing is asserted.  Usage:

    .venv/bin/python benchmarks/finetune.py [--examples 256] [--max-length 128]
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from transferscout.encoders import EncoderSpec, encoder_fingerprint, load_encoder
from transferscout.grid.executors import InProcessExecutor, PoolExecutor
from transferscout.grid.spec import GridSpec, expand_grid
from transferscout.grid.worker import TrialOutcome, TrialPayload
from transferscout.tasks import TaskOptions, load_corpus
from transferscout.training.finetune import predict_proba
from transferscout.training.settings import StageSettings

logger = logging.getLogger("benchmark")


def _trials(tasks, encoder: EncoderSpec, settings: StageSettings, precision: str) -> list:
    grid = GridSpec(sources=(), target_settings=(settings,), precision=precision)  # type: ignore[arg-type]
    return expand_grid(grid, tasks, encoder, encoder_fingerprint(encoder))


def _run(executor, trials, tasks) -> tuple[float, list[TrialOutcome]]:
    payloads = [TrialPayload(t, tasks[t.target], None, "cpu") for t in trials]
    start = time.perf_counter()
    outcomes = list(executor.run(payloads, lambda payload: None))
    wall = time.perf_counter() - start
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"benchmark trial failed: {failed}")
    return wall, outcomes


def main() -> None:
    """Run every configuration and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=256, help="training examples per task")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--layers", type=int, nargs="+", default=[6, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    options = TaskOptions(
        tasks=("food", "water"), max_train_examples=args.examples, max_eval_examples=64
    )
    tasks = load_corpus("disaster-response", options)
    settings = StageSettings(max_length=args.max_length, batch_size=args.batch_size)
    examples = sum(len(tasks[name].train) for name in tasks)
    print(
        f"two single-task trials ({examples} training examples in all, max_length "
        f"{args.max_length}, batch {args.batch_size}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads available"
    )
    header = f"{'encoder':<10} {'execution':<34} {'train ex/s':>10} {'wall s':>8} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for layers in args.layers:
        encoder = EncoderSpec("all-MiniLM-L6-v2", num_layers=layers)
        fp32 = _trials(tasks, encoder, settings, "fp32")
        bf16 = _trials(tasks, encoder, settings, "bf16")
        runs = {}
        runs["in-process, 2 threads, fp32"] = _run(InProcessExecutor(threads=2), fp32, tasks)
        pool = PoolExecutor(workers=2, threads=1)
        try:
            _run(pool, fp32, tasks)  # warm both workers (imports, first load) before timing
            runs["pool 2 workers x 1 thread, fp32"] = _run(pool, fp32, tasks)
        finally:
            pool.close()
        runs["in-process, 2 threads, bf16"] = _run(InProcessExecutor(threads=2), bf16, tasks)
        base = examples / runs["in-process, 2 threads, fp32"][0]
        for name, (wall, _) in runs.items():
            rate = examples / wall
            print(f"{layers:>2} layers  {name:<34} {rate:>10.1f} {wall:>8.1f} {rate / base:>6.2f}x")

        model = load_encoder(encoder)
        texts = list(tasks["food"].train.texts)
        rates = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            predict_proba(model.model, model.tokenizer, texts, max_length=args.max_length)
            rates[threads] = len(texts) / (time.perf_counter() - start)
        torch.set_num_threads(2)
        for threads, rate in rates.items():
            print(
                f"{layers:>2} layers  {f'inference, {threads} thread(s)':<34} {rate:>10.1f} "
                f"{len(texts) / rate:>8.1f} {rate / rates[1]:>6.2f}x"
            )


if __name__ == "__main__":
    main()
