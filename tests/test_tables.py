from __future__ import annotations

from pathlib import Path

import pandas as pd

from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.grid.store import RunStore
from transferscout.tables import export_tables, import_tables

FAST = EvaluationSettings(
    bootstrap_resamples=100, random_permutations=10, n_estimators=30, adaptive=False
)


def test_export_import_round_trip_reproduces_the_evaluation(
    small_run: Path, tmp_path: Path
) -> None:
    written = export_tables(small_run, tmp_path / "tables")
    assert {p.name for p in written} >= {"trials.csv", "pair_signals.csv", "signal_costs.csv"}
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
