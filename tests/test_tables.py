from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transferscout.errors import TransferScoutError
from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.grid.store import RunStore
from transferscout.tables import export_tables, import_tables

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
