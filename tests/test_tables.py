from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from transferscout.cli import app
from transferscout.config import load_run_config
from transferscout.errors import TransferScoutError
from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.grid.identity import trial_id
from transferscout.grid.runner import plan_trials
from transferscout.grid.store import RunStore
from transferscout.tables import export_tables, import_tables

#: Tables exported before schema 6 (see tests/fixtures/README.md): study v2 pool 1's trials of
#: food, water and shelter, trained under transformers 5.23, under ids that hashed it.
OLD_TABLES = Path(__file__).parent / "fixtures" / "study-v2-pool1-subset"

FAST = EvaluationSettings(bootstrap_resamples=100, n_estimators=30, adaptive=False)


def test_export_import_round_trip_reproduces_the_evaluation(
    small_run: Path, tmp_path: Path
) -> None:
    written = export_tables(small_run, tmp_path / "tables")
    assert {p.name for p in written} >= {
        "trials.csv",
        "pair_signals.csv",
        "signal_details.csv",
        "signal_costs.csv",
    }
    details = pd.read_csv(tmp_path / "tables" / "signal_details.csv")
    assert details["detail"].is_unique  # each settings record is written once
    rebuilt = tmp_path / "rebuilt"
    assert import_tables(tmp_path / "tables", rebuilt) == 6 + 12
    with RunStore(small_run, readonly=True) as original, RunStore(rebuilt, readonly=True) as copy:
        assert copy.rows() == original.rows()
        assert sorted(copy.pair_signals(), key=str) == sorted(original.pair_signals(), key=str)
        assert copy.costs() == original.costs()
    assert not (rebuilt / "models").exists()  # no model is needed to evaluate
    first = evaluate_run(small_run, FAST)
    again = evaluate_run(rebuilt, FAST)
    pd.testing.assert_frame_equal(first.ranking, again.ranking)
    pd.testing.assert_frame_equal(first.curves, again.curves)


def test_tables_with_inline_details_still_import(small_run: Path, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    export_tables(small_run, tables)
    signals = pd.read_csv(tables / "pair_signals.csv")
    details = pd.read_csv(tables / "signal_details.csv").set_index("detail_id")["detail"]
    signals["detail"] = signals.pop("detail_id").map(details)
    signals.to_csv(tables / "pair_signals.csv", index=False)
    (tables / "signal_details.csv").unlink()
    rebuilt = tmp_path / "rebuilt"
    import_tables(tables, rebuilt)
    with RunStore(small_run, readonly=True) as original, RunStore(rebuilt, readonly=True) as copy:
        assert sorted(copy.pair_signals(), key=str) == sorted(original.pair_signals(), key=str)


def test_unknown_detail_id_is_a_clear_error(small_run: Path, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    export_tables(small_run, tables)
    signals = pd.read_csv(tables / "pair_signals.csv")
    signals.loc[3, "detail_id"] = 99
    signals.to_csv(tables / "pair_signals.csv", index=False)
    with pytest.raises(TransferScoutError, match="detail_id 99 is not in signal_details.csv"):
        import_tables(tables, tmp_path / "rebuilt")


def test_import_into_a_folder_holding_a_run_is_refused(small_run: Path, tmp_path: Path) -> None:
    export_tables(small_run, tmp_path / "tables")
    target = tmp_path / "existing"
    with RunStore(target) as store:
        store.add_trials([("t1", "single", "food", None, None, 0, {"n": 1})])
    (target / "config.json").write_text('{"mine": 1}')
    with pytest.raises(TransferScoutError, match="already holds a run"):
        import_tables(tmp_path / "tables", target)
    with RunStore(target, readonly=True) as store:
        assert [r.id for r in store.rows()] == ["t1"]
    assert (target / "config.json").read_text() == '{"mine": 1}'


def test_a_run_without_signals_round_trips(small_run: Path, tmp_path: Path) -> None:
    """A grid exported before its signals (or with no trial) keeps a header on every table."""
    tables, trials_only = tmp_path / "tables", tmp_path / "trials-only"
    export_tables(small_run, tables)
    for name in ("pair_signals", "signal_details", "signal_costs"):  # keep the headers only
        path = tables / f"{name}.csv"
        path.write_text(path.read_text().splitlines()[0] + "\n")
    import_tables(tables, trials_only)
    export_tables(trials_only, tmp_path / "bare")
    assert (tmp_path / "bare" / "pair_signals.csv").read_text() == (
        "family,source,target,name,value,detail_id\n"
    )
    assert (tmp_path / "bare" / "signal_costs.csv").read_text() == "family,item,seconds,detail\n"
    rebuilt = tmp_path / "rebuilt"
    assert import_tables(tmp_path / "bare", rebuilt) == 6 + 12
    with RunStore(rebuilt, readonly=True) as copy, RunStore(small_run, readonly=True) as first:
        assert copy.rows() == first.rows() and copy.pair_signals() == [] and copy.costs() == []
    # tables exported before headers were written (one blank line each) still import
    for name in ("pair_signals", "signal_details", "signal_costs"):
        (tmp_path / "bare" / f"{name}.csv").write_text("\n")
    assert import_tables(tmp_path / "bare", tmp_path / "older") == 6 + 12
    empty = tmp_path / "empty"
    RunStore(empty).close()
    export_tables(empty, tmp_path / "none")
    header = (tmp_path / "none" / "trials.csv").read_text()
    assert header.startswith("id,kind,target,source,source_trial,seed,config,status")


def test_tables_exported_before_schema_6_import_under_the_ids_the_grid_plans(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    assert import_tables(OLD_TABLES, run) == 54
    old_ids = set(pd.read_csv(OLD_TABLES / "trials.csv")["id"])
    with RunStore(run, readonly=True) as store:
        rows = store.rows()
        signals = store.pair_signals("ansat")
    by_id = {r.id: r for r in rows}
    assert all(r.id == trial_id(r.config) for r in rows) and not set(by_id) & old_ids
    assert all(by_id[r.source_trial].kind == "single" for r in rows if r.kind == "transfer")
    assert {signals[0]["detail"]["models"][t] for t in ("food", "water", "shelter")} <= set(by_id)
    # What evaluate compares them with: the configured grid, planned with today's libraries.
    config = load_run_config(run)
    planned = plan_trials(config.grid.spec(), config.data.load(), config.encoder.spec())
    assert sorted(t.id for t in planned) == sorted(by_id)
    assert {r.config["versions"]["transformers"] for r in rows} == {"5.23"}  # as trained
    # Exported again, the tables carry the new ids, and import as they are.
    export_tables(run, tmp_path / "again")
    import_tables(tmp_path / "again", tmp_path / "rebuilt")
    with RunStore(tmp_path / "rebuilt", readonly=True) as copy:
        assert copy.rows() == rows


def test_committed_tables_import_then_evaluate_through_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli = CliRunner()
    imported = cli.invoke(app, ["tables", "import", str(OLD_TABLES), str(run)])
    assert imported.exit_code == 0, imported.output
    fast = [
        "evaluation.meta_seeds=1",
        "evaluation.bootstrap_resamples=100",
        "evaluation.n_estimators=30",
        "evaluation.adaptive=false",
    ]
    result = cli.invoke(app, ["evaluate", str(run), *(f"-s{s}" for s in fast)])
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "evaluation" / "summary.json").read_text())
    # 3 targets x 2 sources x 2 target settings (the 3 seeds of each are one candidate)
    assert (summary["targets"], summary["candidates"]) == (3, 12)
