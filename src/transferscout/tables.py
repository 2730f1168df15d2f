"""Export a run's results as plain tables, and rebuild a run from them.

``export_tables`` writes ``trials.csv`` (every trial with its configuration and metrics as
JSON), ``pair_signals.csv`` (each value with the id of its settings), ``signal_details.csv``
(each distinct settings record once), ``signal_costs.csv``, ``model_recreations.csv`` (trials
trained again because their model file was lost: first measurement and metrics as JSON) and
the run's ``config.json`` — a
few MB even for a large study, without models or attributions.  ``import_tables`` rebuilds a run
folder's store from them, so ``transferscout evaluate`` and ``report`` reproduce every number
without retraining anything.  ``subset_tables`` keeps the part of exported tables about some
of the tasks (a smaller pool of the same study).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pandas as pd

from transferscout.errors import TransferScoutError
from transferscout.grid.store import Recreation, RunStore, TrialRow, check_run_folder, run_lock

__all__ = ["export_tables", "import_tables", "subset_tables"]


def export_tables(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the run's trials, signals, signal costs, model recreations, config to ``out_dir``."""
    run_dir, out = Path(run_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with RunStore(run_dir, readonly=True) as store:
        trials = [dataclasses.asdict(row) for row in store.rows()]
        signals = store.pair_signals()
        costs = store.costs()
        recreations = [dataclasses.asdict(r) for r in store.recreations()]
    _dump_json(trials, ("config", "metrics"))
    _dump_json(recreations, ("first", "metrics"))
    for row in costs:
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
    details: dict[str, int] = {}  # a family's settings repeat on every value: store them once
    for row in signals:
        text = json.dumps(row.pop("detail"), sort_keys=True)
        row["detail_id"] = details.setdefault(text, len(details))
    detail_rows = [{"detail_id": i, "detail": text} for text, i in details.items()]
    written = []
    for name, rows, columns in (
        ("trials", trials, [f.name for f in dataclasses.fields(TrialRow)]),
        ("pair_signals", signals, ["family", "source", "target", "name", "value", "detail_id"]),
        ("signal_details", detail_rows, ["detail_id", "detail"]),
        ("signal_costs", costs, ["family", "item", "seconds", "detail"]),
        ("model_recreations", recreations, [f.name for f in dataclasses.fields(Recreation)]),
    ):
        path = out / f"{name}.csv"
        pd.DataFrame(rows, columns=columns).to_csv(path, index=False)  # a header even if empty
        written.append(path)
    if (run_dir / "config.json").exists():
        shutil.copyfile(run_dir / "config.json", out / "config.json")
        written.append(out / "config.json")
    return written


def _dump_json(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    for row in rows:
        for column in columns:
            if row[column] is not None:
                row[column] = json.dumps(row[column], sort_keys=True)


def _load_json(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    for row in rows:
        for column in columns:
            if row[column] is not None:
                row[column] = json.loads(row[column])


def _frame(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:  # an empty table exported before headers were written
        return pd.DataFrame()


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise TransferScoutError(f"{path}: missing; expected a table written by export_tables")
    records = _frame(path).to_dict("records")
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in records
    ]


def import_tables(in_dir: str | Path, run_dir: str | Path) -> int:
    """Rebuild ``run_dir``'s store from exported tables; returns the number of trials.

    ``run_dir`` must not hold a run already (its trials would be merged with the tables').
    """
    source, run_dir = Path(in_dir), Path(run_dir)
    trials = _records(source / "trials.csv")
    _load_json(trials, ("config", "metrics"))
    for row in trials:
        for key in ("seed", "attempts"):
            row[key] = int(row[key])
    recreations = []  # tables exported before schema 5 have none
    if (source / "model_recreations.csv").exists():
        recreations = _records(source / "model_recreations.csv")
        _load_json(recreations, ("first", "metrics"))
        for row in recreations:
            if row["same_metrics"] is not None:
                row["same_metrics"] = bool(row["same_metrics"])
    signals = _records(source / "pair_signals.csv")
    costs = _records(source / "signal_costs.csv")
    for row in costs:
        row["detail"] = json.loads(row["detail"])
    if signals and "detail_id" in signals[0]:
        details = {
            int(r["detail_id"]): json.loads(r["detail"])
            for r in _records(source / "signal_details.csv")
        }
        for row in signals:
            detail_id = int(row.pop("detail_id"))
            if detail_id not in details:
                raise TransferScoutError(
                    f"{source / 'pair_signals.csv'}: detail_id {detail_id} is not in "
                    "signal_details.csv"
                )
            row["detail"] = details[detail_id]
    else:  # tables written before the details had a file of their own
        for row in signals:
            row["detail"] = json.loads(row["detail"])
    check_run_folder(run_dir)
    if (run_dir / "store.sqlite").exists() or (run_dir / "config.json").exists():
        raise TransferScoutError(
            f"{run_dir}: already holds a run; import into a new (or empty) run folder, so that "
            "two runs' trials are never merged"
        )
    with run_lock(run_dir):
        with RunStore(run_dir) as store:
            store.import_rows(trials, signals, costs, recreations)
        if (source / "config.json").exists():
            shutil.copyfile(source / "config.json", run_dir / "config.json")
    return len(trials)


def subset_tables(
    in_dir: str | Path, out_dir: str | Path, tasks: Collection[str]
) -> dict[str, int]:
    """Exported tables restricted to ``tasks``: a pool of those tasks only.

    Keeps the single-task trials of ``tasks``, the transfer trials whose source and target are
    both in ``tasks`` (a search's chains are dropped), the pair signals between them and the
    recreations of the trials kept.  The
    signal costs are kept whole: they were spent on the whole pool, and are charged so.  The
    configuration is copied with its task list set to ``tasks``.  Signals that depend on the
    other sources of a target (TaskEmb's reciprocal-rank fusion) keep the whole pool's values.

    Returns:
        Rows kept per table (``trials``, ``pair_signals``).

    Raises:
        TransferScoutError: A table is missing, or a task is not in the tables.
    """
    source, out = Path(in_dir), Path(out_dir)
    trials = _frame(source / "trials.csv")
    known = set(trials["target"])
    unknown = sorted(set(tasks) - known)
    if unknown:
        raise TransferScoutError(f"{source}: no trial of {', '.join(unknown)}")
    wanted = set(tasks)
    single = (trials["kind"] == "single") & trials["target"].isin(wanted)
    transfer = (
        (trials["kind"] == "transfer")
        & trials["target"].isin(wanted)
        & trials["source"].isin(wanted)
    )
    signals = _frame(source / "pair_signals.csv")
    if len(signals):
        signals = signals[signals["source"].isin(wanted) & signals["target"].isin(wanted)]
    out.mkdir(parents=True, exist_ok=True)
    trials[single | transfer].to_csv(out / "trials.csv", index=False)
    signals.to_csv(out / "pair_signals.csv", index=False)
    if (source / "model_recreations.csv").exists():
        recreations = _frame(source / "model_recreations.csv")
        kept = recreations["trial_id"].isin(set(trials.loc[single | transfer, "id"]))
        recreations[kept].to_csv(out / "model_recreations.csv", index=False)
    for name in ("signal_details.csv", "signal_costs.csv"):
        if not (source / name).exists():
            raise TransferScoutError(f"{source / name}: missing; expected a table of export_tables")
        shutil.copyfile(source / name, out / name)
    if (source / "config.json").exists():
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        config.setdefault("data", {})["tasks"] = sorted(wanted)
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {"trials": int((single | transfer).sum()), "pair_signals": len(signals)}
