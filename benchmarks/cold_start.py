"""Cold start: the pool search replayed on finished grids, side by side (issue 28).

Each grid's committed tables are rebuilt into a scratch run folder under ``runs/cold-start``
(study v2's pools as ``benchmarks/study_v2.py`` rebuilds them, with the first study's hours for
pool 1's retrained single-task models), its pool table read (``candidate_table`` without
self-transfers) and :func:`transferscout.evaluation.pool_replay.pool_replay` run on it: the pool
search's loop, with results read from the table, and every baseline, at 5, 10, 20 and 30% of the
grid's transfer hours (its candidates' target stages; a method spends the recorded hours of the
signal families it reads, single-task models are counted once and shown beside).  Prints, per
budget, one row per method and one column group per grid (mean loss found, share of targets
within 0.01, mean loss of the model handed over, paired sign-flip p-value of the product's loss
found against the method's), then how far the product is from the issue's targets.

Adding a grid is one entry of :data:`GRIDS`: a name and a function of the scratch folder that
returns a :class:`Grid`.  The six base models of IBM/model-recycling (``/work/shared/data/
model-recycling/``, or ``--matrices``) are imported with ``tables import-matrix --format
model-recycling`` into the scratch folder and replayed as ``evaluate`` replays a matrix run: the
product's policy reads ``mnli_lp``, signals cost nothing (none is recorded), every trial costs
the same (budgets are shares of the candidates), and decisions and truth read the same score; a
missing table is skipped with a line.  For them the issue's target is to beat random order and
the ``mnli_lp`` order at 10% of the candidates.

Usage:

    nice -n 10 .venv/bin/python benchmarks/cold_start.py [--runs runs/cold-start] [--save FILE]
        [--matrices /work/shared/data/model-recycling] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transferscout.evaluation.pool_replay import (
    PRODUCT,
    REPLAY_BUDGETS,
    TOLERANCE,
    PoolReplayResult,
    pool_replay,
    varying_settings,
)
from transferscout.evaluation.run import charged_costs
from transferscout.grid.store import RunStore
from transferscout.matrix import import_matrix, load_matrix_info, load_matrix_table
from transferscout.meta.features import HYPERPARAMETERS, candidate_table
from transferscout.meta.pool import PoolPrior
from transferscout.tables import import_tables

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_v2 import first_measurements  # noqa: E402  # pool 1's first-measured hours

logger = logging.getLogger("cold_start")

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Grid:
    """A finished pool table and what its methods are charged.

    Attributes:
        table: One row per (target, candidate), sources ≠ targets.
        setting_columns: The candidate's settings (columns whose value varies).
        family_hours: Recorded hours per signal-cost family.
        single_task_hours: Every single-task training of the grid (shown beside).
        prior: The product's prior (``None``: the default, :class:`PoolPrior`).
        signals: The signals replayed alone (``None``: the replay's default).
    """

    table: pd.DataFrame
    setting_columns: list[str]
    family_hours: dict[str, float]
    single_task_hours: float | None
    prior: PoolPrior | None = None
    signals: tuple[str, ...] | None = None


def from_run(run: Path) -> Grid:
    """A run folder's pool table, its signal costs and its single-task hours."""
    table = candidate_table(run)
    table = table[table["source"] != table["target"]].reset_index(drop=True)
    with RunStore(run, readonly=True) as store:
        costs = charged_costs(store.costs(), store.pair_signals("ansat"))
        singles = store.rows(kind="single", status="done")
    families: dict[str, float] = {}
    for cost in costs:
        families[cost["family"]] = families.get(cost["family"], 0.0) + cost["seconds"] / 3600
    tasks = set(table["source"]) | set(table["target"])
    hours = sum((r.target_seconds or 0.0) for r in singles if r.target in tasks) / 3600
    return Grid(table, varying_settings(table, HYPERPARAMETERS), families, hours)


def from_tables(tables: Path, *, first_hours: bool = False) -> Callable[[Path], Grid]:
    """A grid rebuilt from exported tables into ``<runs>/<folder name>`` (always afresh)."""

    def build(runs: Path) -> Grid:
        source = tables
        if first_hours:  # as benchmarks/study_v2.py does for pool 1
            source, note = first_measurements(
                tables, RESULTS / "study", runs / "tables" / tables.name
            )
            if note:
                logger.info("%s: %s", tables.name, note)
        run = runs / tables.name
        if run.exists():
            shutil.rmtree(run)  # a scratch folder
        import_tables(source, run)
        return from_run(run)

    return build


def from_matrix(path: Path) -> Callable[[Path], Grid]:
    """A model-recycling table imported into ``<runs>/<its stem>`` and read as ``evaluate`` does.

    The product's policy reads the matrix's signals; no signal cost, no single-task hours.
    """

    def build(runs: Path) -> Grid:
        run = runs / path.name.removesuffix("_table.csv")
        if run.exists():
            shutil.rmtree(run)  # a scratch folder
        import_matrix(path, run, format="model-recycling")
        info, table = load_matrix_info(run), load_matrix_table(run)
        signals = tuple(s for s in info.signals if table[s].notna().any())
        settings = varying_settings(table, ["setting"])
        return Grid(table, settings, {}, None, PoolPrior(signals=signals), signals)

    return build


#: The grids replayed, in the order shown.
GRIDS: dict[str, Callable[[Path], Grid]] = {
    "study v2 pool 1": from_tables(RESULTS / "study-v2" / "pool1", first_hours=True),
    "study v2 pool 2": from_tables(RESULTS / "study-v2" / "pool2", first_hours=True),
    "first study": from_tables(RESULTS / "study"),
}

#: Where the model-recycling tables are by default.
MATRICES = Path("/work/shared/data/model-recycling")

#: The model-recycling base models replayed (their ``<base>_table.csv``), in the order shown.
RECYCLING_BASES = (
    "roberta-base",
    "bert-base-uncased",
    "bert-base-cased",
    "microsoft_deberta-v3-base",
    "t5-base",
    "google_t5-v1_1-base",
)


def recycling_grids(folder: Path) -> dict[str, Callable[[Path], Grid]]:
    """The model-recycling tables found in ``folder`` (each one missing: skipped, said)."""
    grids: dict[str, Callable[[Path], Grid]] = {}
    for base in RECYCLING_BASES:
        path = folder / f"{base}_table.csv"
        if path.is_file():
            grids[f"mr {base}"] = from_matrix(path)
        else:
            logger.warning("model-recycling %s: %s is absent, skipped", base, path)
    return grids


def _cell(row: pd.Series) -> str:
    p = row["p_found"]
    tested = "" if pd.isna(p) else (f" p {p:.3f}" if p >= 0.001 else " p <0.001")
    return f"{row['loss_found']:.4f} ({row['within']:.0%}) / {row['loss_handed']:.4f}{tested}"


def side_by_side(results: dict[str, PoolReplayResult], budget: float) -> str:
    """One Markdown table: methods x grids at one budget."""
    names = list(results)
    methods: list[str] = []
    for result in results.values():
        methods += [m for m in dict.fromkeys(result.summary["method"]) if m not in methods]
    lines = [
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for method in methods:
        cells = []
        for name in names:
            summary = results[name].summary
            row = summary[(summary["method"] == method) & (summary["budget"] == budget)]
            cells.append(_cell(row.iloc[0]) if len(row) else "")
        shown = f"**{method}**" if method == PRODUCT else method
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def facts_table(results: dict[str, PoolReplayResult]) -> str:
    """Hours, counts and the full grid's own loss of the model it hands over."""
    lines = [
        "| grid | targets | candidates | transfer hours | single-task hours (beside) | "
        "product signals | full grid: loss handed (within 0.01) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        f = result.facts
        single = f["single_task_hours"]
        lines.append(
            f"| {name} | {f['targets']} | {f['candidates']} | {f['grid_transfer_hours']:.3f} | "
            f"{'' if single is None else f'{single:.3f}'} | "
            f"{', '.join(map(str, f['product_signals'])) or 'none'} | "
            f"{f['grid_loss_handed']:.4f} ({f['grid_within_handed']:.0%}) |"
        )
    return "\n".join(lines)


def _matrix_check(name: str, result: PoolReplayResult) -> str:
    """A matrix's target: better than random and than the mnli_lp order at 10%."""
    s = result.summary.set_index(["method", "budget"])
    mine = s.loc[(PRODUCT, 0.1)]
    parts = [f"at 10%: loss {mine['loss_found']:.4f}, {mine['within']:.0%} within 0.01"]
    for other in ("random", "signal:mnli_lp"):
        if (other, 0.1) not in s.index:
            parts.append(f"vs {other}: not replayed")
            continue
        row = s.loc[(other, 0.1)]
        better = row["diff_found"] < 0 and row["p_found"] < 0.05
        parts.append(
            f"vs {other} ({row['loss_found']:.4f}): {row['diff_found']:+.4f}, "
            f"p {row['p_found']:.3f} ({'met' if better else 'NOT met'})"
        )
    return f"- {name}: " + "; ".join(parts)


def targets_check(results: dict[str, PoolReplayResult]) -> list[str]:
    """The issue's targets, grid by grid: met or not, with the numbers."""
    lines = []
    for name, result in results.items():
        if result.facts.get("equal_cost_per_trial") and "signal:mnli_lp" in set(
            result.summary["method"]
        ):
            lines.append(_matrix_check(name, result))
            continue
        s = result.summary.set_index(["method", "budget"])
        mine = s.loc[(PRODUCT, 0.1)]
        ok = mine["loss_found"] <= TOLERANCE and mine["within"] >= 0.8
        parts = [
            f"at 10%: loss {mine['loss_found']:.4f}, {mine['within']:.0%} within 0.01 "
            f"({'met' if ok else 'NOT met'}: ≤ 0.01 and ≥ 80%)"
        ]
        for budget in (0.1, 0.2):
            for other in ("random", "online:hyperparameters"):
                row = s.loc[(other, budget)]
                better = row["diff_found"] < 0 and row["p_found"] < 0.05
                parts.append(
                    f"vs {other} at {budget:.0%}: {row['diff_found']:+.4f}, p {row['p_found']:.3f}"
                    f" ({'met' if better else 'NOT met'})"
                )
        lines.append(f"- {name}: " + "; ".join(parts))
    return lines


def main() -> None:
    """Rebuild, replay, print (and save)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "cold-start")
    parser.add_argument("--save", type=Path, default=None, help="write the Markdown here too")
    parser.add_argument("--matrices", type=Path, default=MATRICES, help="model-recycling tables")
    parser.add_argument("--only", nargs="*", default=None, help="replay only these grids")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    results = {}
    grids = {**GRIDS, **recycling_grids(args.matrices)}
    for name, build in grids.items():
        if args.only is not None and name not in args.only:
            continue
        logger.info("%s: rebuilding and replaying", name)
        started = time.perf_counter()
        grid = build(args.runs)
        results[name] = pool_replay(
            grid.table,
            grid.setting_columns,
            family_hours=grid.family_hours,
            single_task_hours=grid.single_task_hours,
            prior=grid.prior,
            **({} if grid.signals is None else {"signals": grid.signals}),
        )
        logger.info("%s: %.1f s", name, time.perf_counter() - started)
    parts = [
        "Each cell: mean loss found (share of targets within 0.01) / mean loss of the model "
        "handed over, then the paired sign-flip p-value of the product's (`pool`) loss found "
        "against the method's across targets.",
        "",
    ]
    matrices = {n: r for n, r in results.items() if n.startswith("mr ")}
    groups = [
        ("the grid's transfer hours", {n: r for n, r in results.items() if n not in matrices}),
        ("the candidates (model-recycling: equal cost per trial)", matrices),
    ]
    for unit, group in groups:
        if not group:
            continue
        parts += [facts_table(group), ""]
        for budget in REPLAY_BUDGETS:
            parts += [f"### {budget:.0%} of {unit}", "", side_by_side(group, budget), ""]
    parts += ["### The issue's targets", "", *targets_check(results), ""]
    markdown = "\n".join(parts)
    if args.save:
        args.save.write_text(markdown, encoding="utf-8")
    sys.stdout.write(markdown)


if __name__ == "__main__":
    main()
