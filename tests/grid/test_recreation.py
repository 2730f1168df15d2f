"""A finished trial whose model file is lost is trained again and keeps its first measurement."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transferscout.cli import app
from transferscout.encoders import EncoderSpec
from transferscout.grid.runner import ExecutionOptions, model_path, plan_trials, run_trials
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.status import run_status
from transferscout.grid.store import FIRST_MEASUREMENT, RunStore
from transferscout.tables import export_tables, import_tables, subset_tables
from transferscout.tasks import TaskSet

# 2 single-task trials (food, water), which are also the source stages of the 2 transfers.
STAGE = settings_grid(learning_rate=[3e-3], epochs=[1], max_length=[32])
GRID = GridSpec(
    targets=("food", "water"),
    sources=("food", "water"),
    target_settings=STAGE,
    source_settings=STAGE,
)
OPTIONS = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")


def test_a_lost_model_is_trained_again_without_changing_its_trials_cost(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    trials = plan_trials(GRID, tasks, EncoderSpec(str(tiny_encoder_dir)))
    singles = [t for t in trials if t.kind == "single"]
    assert len(singles) == 2 and len(trials) == 4
    run_trials(run, tasks, singles, OPTIONS)
    with RunStore(run, readonly=True) as store:
        first = {t.id: store.row(t.id) for t in singles}
    food, water = (next(t.id for t in singles if t.target == name) for name in ("food", "water"))
    for trial_id in first:
        model_path(run, trial_id).unlink()
    # water's first training ran elsewhere (other hardware): its first results differ from
    # what this machine reproduces.
    first_water = first[water]
    assert first_water is not None and first_water.metrics is not None
    elsewhere = {**first_water.metrics, "train_loss": first_water.metrics["train_loss"] + 0.5}
    with sqlite3.connect(run / "store.sqlite") as db:
        db.execute(
            "UPDATE trials SET metrics = ? WHERE id = ?",
            (json.dumps(elsewhere, sort_keys=True), water),
        )

    with caplog.at_level(logging.INFO, logger="transferscout.grid.runner"):
        summary = run_trials(run, tasks, trials, OPTIONS)

    assert (summary.done, summary.ran_now) == (4, 4)
    with RunStore(run, readonly=True) as store:
        rows = {row.id: row for row in store.rows()}
        recreations = {r.trial_id: r for r in store.recreations()}
    assert set(recreations) == {food, water}
    for trial_id, before in first.items():
        assert before is not None and model_path(run, trial_id).exists()
        row, recreation = rows[trial_id], recreations[trial_id]
        assert row.target_seconds == before.target_seconds  # the first seconds, by value
        assert {f: getattr(row, f) for f in FIRST_MEASUREMENT} == {
            f: getattr(before, f) for f in FIRST_MEASUREMENT
        }
        assert recreation.first["target_seconds"] == before.target_seconds
        assert recreation.seconds is not None and recreation.seconds > 0
        assert recreation.seconds != before.target_seconds  # the retraining's own time
        assert recreation.device == "cpu" and recreation.finished_at is not None
        # Seeded and deterministic on the CPU: the retrained model scores what the first did.
        assert recreation.metrics == before.metrics == row.metrics
    assert recreations[food].same_metrics is True
    assert recreations[food].first["metrics"] == first[food].metrics  # type: ignore[union-attr]
    assert recreations[water].same_metrics is False  # recorded, the new results kept
    assert recreations[water].first["metrics"] == elsewhere
    transfers = [row for row in rows.values() if row.kind == "transfer"]
    assert len(transfers) == 2
    for row in transfers:  # a recreated source stage is charged as first measured
        source = first[row.source_trial]  # type: ignore[index]
        assert source is not None and row.source_seconds == source.target_seconds
    assert "2 finished models are missing on disk" in caplog.text
    assert "recreated 2 lost models" in caplog.text and "1 reproduced" in caplog.text
    assert "1 did NOT" in caplog.text
    assert f"trial {water} on 'water'" in caplog.text
    assert "does NOT reproduce the first results (train_loss" in caplog.text
    status = run_status(run)
    assert [r.trial_id for r in status.recreations] == list(recreations)
    shown = CliRunner().invoke(app, ["status", str(run)])
    assert shown.exit_code == 0
    assert "2 lost models trained again" in shown.output
    assert "1 did not reproduce their first results" in shown.output

    again = run_trials(run, tasks, trials, OPTIONS)
    assert again.ran_now == 0
    with RunStore(run, readonly=True) as store:
        assert len(store.recreations()) == 2

    export_tables(run, tmp_path / "tables")
    import_tables(tmp_path / "tables", tmp_path / "copy")
    with RunStore(run, readonly=True) as original, RunStore(tmp_path / "copy") as copy:
        assert copy.recreations() == original.recreations()
        assert copy.rows() == original.rows()
    subset_tables(tmp_path / "tables", tmp_path / "food-only", ["food"])
    import_tables(tmp_path / "food-only", tmp_path / "food-run")
    with RunStore(tmp_path / "food-run", readonly=True) as store:
        assert [r.trial_id for r in store.recreations()] == [food]
