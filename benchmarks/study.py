"""The reference study's numbers, regenerated from its committed tables without training.

Rebuilds a run from the tables that ``transferscout tables export`` wrote (trials, pair signals,
signal costs, configuration), evaluates it with the study's own ``[evaluation]`` settings,
writes the HTML/Markdown report, and prints the Markdown of every number in BENCHMARKS.md's
"Reference study" section.  Usage:

    .venv/bin/python benchmarks/study.py [--tables benchmarks/results/study]
                                         [--run runs/study-from-tables] [--out FILE]
                                         [--save-report]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import pandas as pd

from transferscout.config import load_run_config
from transferscout.evaluation import EvaluationResult, EvaluationSettings, evaluate_run
from transferscout.evaluation.metrics import ndcg_at_k, regret_at_k
from transferscout.evaluation.ordering import ranking_order
from transferscout.evaluation.stats import sign_flip_test
from transferscout.grid.store import RunStore
from transferscout.meta.features import HYPERPARAMETERS
from transferscout.meta.regressor import TransferRegressor, leave_one_target_out
from transferscout.report import write_report
from transferscout.tables import import_tables

ROOT = Path(__file__).resolve().parent.parent
SEED = 0  # the random key that breaks exact ties in the first-pick table
METRICS = ("ndcg@3", "regret@1", "regret@3", "rank_of_best", "spearman")
TESTED = ("ndcg@3", "regret@1", "regret@3", "saved@0.01", "saved@0.02", "saved@0.035")


def _table(frame: pd.DataFrame, digits: int = 4) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def _methods(ranking: pd.DataFrame) -> list[str]:
    """Meta-models, baselines, non-ANSAT signals alone and in the prior, the best ANSAT.

    The three best ANSAT thresholds of each kind are chosen on these targets: optimistic.
    """
    names = list(dict.fromkeys(ranking["method"]))
    ndcg = ranking[ranking["metric"] == "ndcg@3"].set_index("method")["estimate"]

    def best_ansat(kind: str) -> list[str]:
        found = [m for m in names if m.startswith(f"{kind}:ansat_")]
        return sorted(found, key=lambda m: -float(ndcg[m]))[:3]

    def plain(kind: str) -> list[str]:
        return [m for m in names if m.startswith(f"{kind}:") and ":ansat_" not in m]

    return [
        *plain("meta"),
        *plain("baseline"),
        *plain("signal"),
        *best_ansat("signal"),
        *plain("prior"),
        *best_ansat("prior"),
        "oracle",
        "random",
    ]


def _cell(estimate: float, sd: float, low: float, high: float) -> str:
    spread = f" ±{sd:.3f}" if pd.notna(sd) else ""
    return f"{estimate:.3f}{spread} [{low:.3f}, {high:.3f}]"


def _ranking_section(result: EvaluationResult) -> str:
    ranking = result.ranking
    rows = []
    for method in _methods(ranking):
        part = ranking[ranking["method"] == method].set_index("metric")
        row = {"method": method}
        for metric in METRICS:
            row[metric] = _cell(*part.loc[metric, ["estimate", "seed_sd", "low", "high"]])
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _p(value: float) -> str:
    if pd.isna(value):
        return ""
    return ("<0.001" if value < 0.001 else f"{value:.3f}") + ("" if value < 0.05 else " n.s.")


def _tests_section(result: EvaluationResult) -> str:
    """Per method and tested metric: the difference and p against each reference."""
    ranking = result.ranking.set_index(["method", "metric"])
    rows = []
    for reference, column in (("baseline", "p_vs_baseline"), ("meta:f1", "p_vs_meta_f1")):
        for method in _methods(result.ranking):
            if method in ("oracle", "random"):
                continue
            row = {"against": reference, "method": method}
            for metric in TESTED:
                entry = ranking.loc[(method, metric)]
                other = entry["baseline"] if reference == "baseline" else reference
                if other == method or pd.isna(entry[column]):
                    row[metric] = ""
                    continue
                delta = entry["estimate"] - ranking.loc[(other, metric), "estimate"]
                row[metric] = f"{delta:+.3f} (p {_p(entry[column])})"
            rows.append(row)
    baselines = result.ranking.dropna(subset=["baseline"]).drop_duplicates("metric")
    note = "Best no-signal baseline per metric: " + ", ".join(
        f"{m} {b}"
        for m, b in zip(baselines["metric"], baselines["baseline"], strict=True)
        if m in TESTED
    )
    return note + ".\n\n" + _table(pd.DataFrame(rows))


def _picks_section(result: EvaluationResult) -> str:
    """Per target: single-task F1, the best transfer, and each meta-model's first pick."""
    table1 = result.table1
    single = table1[table1["model"] == "encoder→target"].set_index("target")["f1"]
    candidates = result.candidates
    feature_sets = [
        str(c).removeprefix("predicted_") for c in candidates if str(c).startswith("predicted_")
    ]
    rows = []
    for target, group in candidates.groupby("target", sort=True):
        best = group.iloc[int(group["real_f1"].to_numpy().argmax())]
        row: dict[str, object] = {
            "target": target,
            "single-task F1": float(single.get(target, float("nan"))),
            "best transfer": f"{best['source']} {best['real_f1']:.4f}",
        }
        for feature_set in feature_sets:
            order = ranking_order(
                group[f"predicted_{feature_set}"], group["planned_cost"], seed=SEED
            )
            pick = group.iloc[int(order[0])]
            row[f"meta:{feature_set} pick"] = f"{pick['source']} {pick['real_f1']:.4f}"
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _sensitivity_section(result: EvaluationResult, settings: EvaluationSettings) -> str:
    """The hyperparameters-only baseline with its ties in random order instead of by planned cost.

    Its 11 candidates per setting tie; planned cost (epochs × examples × max length) puts the
    source with the fewest training examples first.  This shows how much that choice matters.
    """
    table = result.candidates
    per_target = result.per_target.set_index(["method", "target"])
    rows = []
    for seed in settings.seeds:
        maker = partial(TransferRegressor, n_estimators=settings.n_estimators, random_state=seed)
        score = leave_one_target_out(table, list(HYPERPARAMETERS), make_regressor=maker)
        for target, index in table.groupby("target").indices.items():
            real = table["real_f1"].to_numpy()[index]
            rows.append(
                {
                    "target": target,
                    "ndcg@3": ndcg_at_k(real, score[index], 3),
                    "regret@1": regret_at_k(real, score[index], 1),
                }
            )
    random_ties = pd.DataFrame(rows).groupby("target").mean()
    lines = []
    for metric in ("ndcg@3", "regret@1"):
        mine = random_ties[metric]
        cells = [f"{metric}: baseline with random ties {mine.mean():.3f}"]
        for method in ("meta:f1", "meta:f1+ansat", "meta:f1+ansat+taskemb", "meta:all"):
            other = per_target.loc[method][metric].reindex(mine.index)
            p = sign_flip_test(other.to_numpy() - mine.to_numpy())
            cells.append(f"{method} {other.mean():.3f} (p {_p(p)})")
        lines.append("- " + "; ".join(cells))
    return "\n".join(lines)


def _curve_section(result: EvaluationResult, depths: Iterable[int]) -> str:
    curves = result.curves
    rows = []
    for method, curve in curves.groupby("method", sort=False):
        if ":ansat_" in str(method) and not str(method).endswith(":ansat_ab_0.10"):
            continue
        indexed = curve.set_index("k")
        row: dict[str, object] = {"method": method}
        for k in depths:
            if k in indexed.index:
                best, hours = indexed.loc[k, ["best_f1", "hours"]]
                row[f"top {k}"] = f"{best:.4f} ({hours:.2f} h)"
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _savings_section(result: EvaluationResult) -> str:
    savings = result.savings
    shown = savings[
        savings["method"].str.startswith(("meta:", "adaptive:", "baseline:"))
        | savings["method"].isin(
            [
                "oracle",
                "random",
                "signal:taskemb_rrf",
                "signal:estimators_logme",
                "prior:estimators_logme",
                "signal:ansat_ab_0.10",
                "prior:ansat_ab_0.10",
            ]
        )
    ]
    rows: dict[str, dict[str, str]] = {}
    for row in shown.to_dict("records"):
        spread = (
            f" ±{row['saved_percent_sd']:.1f} ({row['saved_min']:.1f}–{row['saved_max']:.1f})"
            if row["seeds"] > 1
            else ""
        )
        cell = (
            "not reached"
            if pd.isna(row["k"])
            else f"{row['saved_percent']:.1f}%{spread}, loss {row['f1_loss']:.4f}, top {row['k']:g}"
        )
        rows.setdefault(str(row["method"]), {"method": str(row["method"])})[
            f"F1 loss ≤ {row['tolerance']}"
        ] = cell
    return _table(pd.DataFrame(list(rows.values())))


def _costs_section(run_dir: Path, summary: dict[str, object]) -> str:
    with RunStore(run_dir, readonly=True) as store:
        costs = pd.DataFrame(store.costs())
        trials = store.rows(status="done")
    costs = costs[~costs["family"].str.startswith("rank:")]
    training = sum((r.target_seconds or 0.0) for r in trials) / 3600
    by_family = costs.groupby("family", as_index=False)["seconds"].sum()
    by_family["hours"] = by_family["seconds"] / 3600
    by_family["vs training"] = by_family["hours"] / training
    method_hours = summary["method_hours"]
    assert isinstance(method_hours, dict)
    charged = [
        (m, h)
        for m, h in method_hours.items()
        if not m.startswith(("signal:ansat_", "prior:")) or m == "signal:ansat_ab_0.10"
    ]
    lines = [
        _table(pd.DataFrame(by_family[["family", "hours", "vs training"]])),
        "",
        f"Signals: {float(str(summary['signal_hours'])):.3f} h in all; one single-task model "
        f"per task: {float(str(summary['single_task_hours'])):.3f} h; every trial's own "
        f"training (each model trained once): {training:.3f} h; the full grid as candidates "
        f"are charged (source stage + target stage each): "
        f"{float(str(summary['full_grid_hours'])):.3f} h.",
        "",
        f"Charging convention: {summary['cost_convention']}",
        "",
        _table(pd.DataFrame(charged, columns=["method", "hours charged"])),
    ]
    return "\n".join(lines)


def study_markdown(run_dir: Path, result: EvaluationResult, settings: EvaluationSettings) -> str:
    """Every number of the section, as Markdown."""
    summary = result.summary
    rmse = (
        result.rmse.assign(
            cell=[
                f"{m:.4f} ±{s:.4f}"
                for m, s in zip(result.rmse["rmse"], result.rmse["rmse_sd"], strict=True)
            ]
        )
        .pivot(index="k", columns="feature_set", values="cell")
        .reset_index()
    )
    rmse = rmse[rmse["k"].isin([5, 10, 20, 30, 50, 100, 150, 200, 250])]
    rmse = rmse[["k", *dict.fromkeys(result.rmse["feature_set"])]]
    table1 = result.table1.drop(columns=["source_epochs", "source_batch"], errors="ignore")
    for column in ("source_lr", "target_lr"):
        table1[column] = [f"{v:g}" if pd.notna(v) else "" for v in table1[column]]
    for column in ("target_epochs", "target_batch"):
        table1[column] = [f"{v:.0f}" if pd.notna(v) else "" for v in table1[column]]
    noise = summary["seed_noise"]
    seeds = summary["meta_seeds"]
    assert isinstance(noise, dict) and isinstance(seeds, list)
    depth = int(result.curves["k"].max())
    parts = [
        f"{summary['targets']} targets, {summary['candidates']} transfer candidates; "
        f"full-grid mean best F1 {float(str(summary['full_grid_best_f1'])):.4f}; meta-model "
        f"seeds {seeds}; evaluation took {float(str(summary['evaluation_seconds'])):.0f} s.",
        "",
        "### Table 1 analogue",
        "",
        _table(table1),
        "",
        "### Per target: the best transfer and each meta-model's first pick (source, test F1; "
        "predictions averaged over the seeds)",
        "",
        _picks_section(result),
        "",
        "### Seed noise",
        "",
        _table(pd.DataFrame({"quantity": list(noise), "value": list(noise.values())})),
        "",
        "### RMSE@K of the meta-model (pooled ranking, leave-one-target-out; ± SD over seeds)",
        "",
        _table(rmse.rename(columns={"k": "K"})),
        "",
        f"### Ranking quality per method (mean over targets ± SD over "
        f"{len(seeds)} meta-model seeds [95% bootstrap interval over targets])",
        "",
        _ranking_section(result),
        "",
        "### Paired sign-flip tests across the targets (difference of means, p)",
        "",
        _tests_section(result),
        "",
        "### Sensitivity: the hyperparameters-only baseline with ties in random order",
        "",
        _sensitivity_section(result, settings),
        "",
        "### Best F1 found vs hours (mean best F1 over targets after the top K per target)",
        "",
        _curve_section(result, sorted({1, 2, 3, 5, 10, depth})),
        "",
        "### Time saved against the full grid",
        "",
        _savings_section(result),
        "",
        "### What the signals cost",
        "",
        _costs_section(run_dir, summary),
        "",
    ]
    return "\n".join(parts)


def main() -> None:
    """Rebuild, evaluate, report, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=Path, default=ROOT / "benchmarks/results/study")
    parser.add_argument("--run", type=Path, default=ROOT / "runs/study-from-tables")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here too")
    parser.add_argument(
        "--save-report",
        action="store_true",
        help="copy the report's Markdown and figures to <tables>/report (HTML stays in --run)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.run.exists():
        shutil.rmtree(args.run)  # a scratch folder: always rebuilt from the tables
    import_tables(args.tables, args.run)
    config = load_run_config(args.run)
    settings = config.evaluation.settings()
    result = evaluate_run(args.run, settings)
    files = write_report(args.run)
    markdown = study_markdown(args.run, result, settings)
    if args.save_report:
        saved = args.tables / "report"
        saved.mkdir(exist_ok=True)
        for path in [files.markdown, *files.html.parent.glob("*.png")]:
            shutil.copyfile(path, saved / path.name)
    if args.out is not None:
        args.out.write_text(markdown + "\n", encoding="utf-8")
    sys.stdout.write(markdown + f"\nReport: {files.html}\n")


if __name__ == "__main__":
    main()
