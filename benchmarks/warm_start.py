"""Warm start: does a model of gain fitted on one pool help the pool search on another?

Issue 28.  For each ordered pair of grids (study v2 pool 1 → pool 2, pool 2 → pool 1, pool 2 →
the first study; the first study shares pool 1's tasks, so that pair is left out), the additive
model is fitted on every candidate of the first grid (:func:`transferscout.pool_search.warm_start`'s
rule: its pool mean, setting effects and TextEmb weight become the prior means) and the pool
search is replayed on the second, cold and warm, at 5, 10, 20 and 30% of its transfer hours
(TextEmb's recorded hours spent first, margin 0.01).  Prints the mean loss found, the share of
targets within 0.01 and the mean loss of the model handed over, with a paired sign-flip test
of warm against cold on the per-target loss found.

Usage:

    nice -n 10 .venv/bin/python benchmarks/warm_start.py [--runs runs/cold-start]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from transferscout.evaluation.pool_replay import replay_pool_search, target_losses
from transferscout.evaluation.stats import sign_flip_test
from transferscout.meta.features import FIRST_GAIN
from transferscout.meta.pool import AdditiveGainModel, PoolPrior

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import GRIDS, Grid  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [
    ("study v2 pool 1", "study v2 pool 2"),
    ("study v2 pool 2", "study v2 pool 1"),
    ("study v2 pool 2", "first study"),
]
BUDGETS = (0.05, 0.10, 0.20, 0.30)


def shared_means(grid: Grid) -> tuple[tuple[str, float], ...]:
    """The warm start's prior means from a finished grid (as ``warm_start`` fits them)."""
    model = AdditiveGainModel(grid.table, grid.setting_columns)
    gains = grid.table[FIRST_GAIN].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(gains))
    return tuple(sorted(model.shared_means(rows.tolist(), gains[rows].tolist()).items()))


def replay(grid: Grid, prior: PoolPrior, share: float) -> tuple[np.ndarray, float, float]:
    """Per-target loss found, share within 0.01, mean loss handed."""
    total = float(grid.table["target_hours"].sum())
    trace = replay_pool_search(
        grid.table,
        grid.setting_columns,
        prior=prior,
        budget_hours=share * total,
        margin=0.01,
        signal_hours=grid.family_hours.get("textemb", 0.0),
    )
    losses = target_losses(grid.table, trace["row"].tolist())
    found = losses["loss_found"].to_numpy(dtype=np.float64)
    return found, float((found <= 0.01).mean()), float(losses["loss_handed"].mean())


def main() -> None:
    """Replay every pair cold and warm; print one Markdown table per pair."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "cold-start")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    grids = {name: build(args.runs) for name, build in GRIDS.items() if name in {*sum(PAIRS, ())}}
    lines = []
    for source, target in PAIRS:
        means = shared_means(grids[source])
        lines += [
            f"### {source} -> {target}",
            "",
            "prior means: " + ", ".join(f"{n} {v:+.4f}" for n, v in means),
            "",
            "| budget | cold | warm | p (warm vs cold) |",
            "|---|---|---|---|",
        ]
        for share in BUDGETS:
            cold = replay(grids[target], PoolPrior(), share)
            warm = replay(grids[target], PoolPrior(means=means), share)
            p = sign_flip_test(warm[0] - cold[0])
            cells = [f"{c[0].mean():.4f} ({c[1]:.0%}) / {c[2]:.4f}" for c in (cold, warm)]
            lines.append(f"| {share:.0%} | {cells[0]} | {cells[1]} | {p:.3f} |")
        lines.append("")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
