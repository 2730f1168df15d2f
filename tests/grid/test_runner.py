from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from transferscout.encoders import EncoderSpec
from transferscout.errors import DataError
from transferscout.grid.runner import ExecutionOptions, model_path, run_grid
from transferscout.grid.spec import GridSpec, _result_versions, settings_grid
from transferscout.grid.status import run_status
from transferscout.grid.store import RunStore
from transferscout.tasks import TaskSet

# 3 targets x 2 sources x 2 target settings: 6 single-task trials (the source stages are
# among them) and 8 transfer trials.
GRID = GridSpec(
    sources=("food", "water"),
    target_settings=settings_grid(learning_rate=[1e-3, 3e-3], epochs=[2], max_length=[32]),
    source_settings=settings_grid(learning_rate=[1e-3], epochs=[2], max_length=[32]),
)


def stored(run_dir: Path) -> dict[str, tuple[str, dict | None]]:
    with RunStore(run_dir, readonly=True) as store:
        return {row.id: (row.status, row.metrics) for row in store.rows()}


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, tasks: TaskSet, tiny_encoder_dir: Path
) -> dict[str, tuple[str, dict | None]]:
    run_dir = tmp_path_factory.mktemp("reference")
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    summary = run_grid(run_dir, tasks, GRID, EncoderSpec(str(tiny_encoder_dir)), options)
    assert (summary.total, summary.done, summary.failed, summary.ran_now) == (14, 14, 0, 14)
    return stored(run_dir)


def test_in_process_run_is_complete_and_rerun_does_nothing(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, reference: dict
) -> None:
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    encoder = EncoderSpec(str(tiny_encoder_dir))
    run_grid(tmp_path, tasks, GRID, encoder, options)
    assert stored(tmp_path) == reference  # deterministic: same seed, same numbers
    again = run_grid(tmp_path, tasks, GRID, encoder, options)
    assert again.ran_now == 0 and again.done == 14
    with RunStore(tmp_path, readonly=True) as store:
        rows = store.rows()
    singles = [r for r in rows if r.kind == "single"]
    transfers = [r for r in rows if r.kind == "transfer"]
    assert len(singles) == 6 and len(transfers) == 8
    assert all(model_path(tmp_path, r.id).exists() for r in singles)
    assert not list((tmp_path / "models").glob("*.tmp"))
    by_id = {r.id: r for r in rows}
    for row in transfers:
        source = by_id[row.source_trial]  # type: ignore[index]
        assert source.kind == "single" and source.target == row.source
        assert row.source_seconds == source.target_seconds
        assert row.metrics is not None and 0.0 <= row.metrics["test_f1"] <= 1.0
        assert row.config["source"]["settings"]["learning_rate"] == 1e-3
    assert all(r.attempts == 1 and r.device == "cpu" for r in rows)


@pytest.mark.slow
def test_worker_pool_gives_the_same_results(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, reference: dict
) -> None:
    options = ExecutionOptions(workers=2, threads_per_worker=1, device="cpu")
    summary = run_grid(tmp_path, tasks, GRID, EncoderSpec(str(tiny_encoder_dir)), options)
    assert summary.done == 14
    assert stored(tmp_path) == reference


@pytest.mark.slow
def test_ray_executor_on_a_local_ray_instance(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, reference: dict
) -> None:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        options = ExecutionOptions(executor="ray", workers=2, threads_per_worker=1, device="cpu")
        summary = run_grid(tmp_path, tasks, GRID, EncoderSpec(str(tiny_encoder_dir)), options)
        assert ray.is_initialized()  # an existing instance is used, not shut down
    finally:
        ray.shutdown()
    assert summary.done == 14
    assert stored(tmp_path) == reference


def test_a_failing_task_fails_only_its_trials_and_is_retried_up_to_the_limit(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFERSCOUT_FAIL_TASK", "raise:shelter")
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu", max_attempts=2)
    encoder = EncoderSpec(str(tiny_encoder_dir))
    first = run_grid(tmp_path, tasks, GRID, encoder, options)
    # shelter: 2 single-task + 4 transfer trials fail; the other 8 finish.  Failed trials
    # count as failed (not pending), and as retryable while they have attempts left.
    assert (first.done, first.failed, first.pending, first.ran_now) == (8, 6, 0, 14)
    assert first.retryable == 6
    second = run_grid(tmp_path, tasks, GRID, encoder, options)
    assert (second.done, second.failed, second.retryable, second.ran_now) == (8, 6, 0, 6)
    third = run_grid(tmp_path, tasks, GRID, encoder, options)
    assert third.ran_now == 0  # out of attempts
    status = run_status(tmp_path)
    assert status.counts == {"pending": 0, "running": 0, "done": 8, "failed": 6}
    assert {row.target for row in status.failures} == {"shelter"}
    assert all(row.attempts == 2 for row in status.failures)
    assert all(
        "InjectedFailure: injected failure for task 'shelter'" in (row.error or "")
        for row in status.failures
    )
    assert all("Traceback" in (row.traceback or "") for row in status.failures)
    # Fixed: raising the limit retries the failures and completes the grid.
    monkeypatch.delenv("TRANSFERSCOUT_FAIL_TASK")
    fixed = run_grid(
        tmp_path,
        tasks,
        GRID,
        encoder,
        ExecutionOptions(workers=1, threads_per_worker=1, device="cpu", max_attempts=3),
    )
    assert (fixed.done, fixed.ran_now) == (14, 6)


def test_transfers_from_a_failed_source_are_failed_with_the_reason(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSFERSCOUT_FAIL_TASK", "raise:food")
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu", max_attempts=1)
    summary = run_grid(tmp_path, tasks, GRID, EncoderSpec(str(tiny_encoder_dir)), options)
    failures = run_status(tmp_path).failures
    from_food = [r for r in failures if r.source == "food"]
    assert len(from_food) == 4  # water and shelter, 2 settings each
    assert all("its source stage" in (r.error or "") for r in from_food)
    assert all(r.attempts == 0 for r in from_food)  # never started
    assert summary.failed == len(failures) == 2 + 4 + 2  # food singles, from food, to food


def test_bad_grid_fails_before_anything_is_written(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    with pytest.raises(DataError, match="unknown task 'soup'"):
        run_grid(
            tmp_path / "run", tasks, GridSpec(targets=("soup",)), EncoderSpec(str(tiny_encoder_dir))
        )
    assert not (tmp_path / "run").exists()


def _set_versions(run_dir: Path, versions: dict[str, str], where: str = "1") -> None:
    """Change the library versions a run's stored trials record (as an upgrade leaves them)."""
    with sqlite3.connect(run_dir / "store.sqlite") as db:
        for trial_id, text in db.execute(f"SELECT id, config FROM trials WHERE {where}").fetchall():
            config = json.loads(text)
            config["versions"] = {**config["versions"], **versions}
            db.execute(
                "UPDATE trials SET config = ? WHERE id = ?",
                (json.dumps(config, sort_keys=True), trial_id),
            )


def test_a_run_upgraded_to_other_library_versions_resumes_without_training_and_says_why(
    tmp_path: Path, tasks: TaskSet, tiny_encoder_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = GRID.source_settings
    grid = replace(GRID, targets=("food",), sources=("water",), target_settings=one)
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    encoder = EncoderSpec(str(tiny_encoder_dir))
    assert run_grid(tmp_path, tasks, grid, encoder, options).ran_now == 3  # 2 single, 1 transfer
    first = stored(tmp_path)
    installed = _result_versions()
    _set_versions(tmp_path, {"torch": "1.9", "transformers": "4.1"})
    with caplog.at_level(logging.INFO, logger="transferscout.grid.runner"):
        again = run_grid(tmp_path, tasks, grid, encoder, options)
    assert (again.done, again.ran_now) == (3, 0)
    assert stored(tmp_path) == first
    said = [r.getMessage() for r in caplog.records if "library versions" in r.getMessage()]
    assert said == [
        "reusing 3 finished trials trained under other library versions (3 under torch 1.9, "
        f"transformers 4.1; installed: torch {installed['torch']}, transformers "
        f"{installed['transformers']}): a trial's id does not depend on them, so none is "
        "trained again (--retrain-on-version-change trains them again)"
    ]
    with RunStore(tmp_path, readonly=True) as store:  # a reused trial keeps its record
        assert {r.config["versions"]["transformers"] for r in store.rows()} == {"4.1"}
    # Opted in: the one source model of other versions is trained again, and the transfer
    # built on it; the target's own single-task model is reused.
    _set_versions(tmp_path, installed, where="source IS NOT NULL OR target = 'food'")
    caplog.clear()
    retrain = replace(options, retrain_on_version_change=True)
    with caplog.at_level(logging.INFO, logger="transferscout.grid.runner"):
        third = run_grid(tmp_path, tasks, grid, encoder, retrain)
    assert (third.done, third.ran_now) == (3, 2)
    assert [r.getMessage() for r in caplog.records if "library versions" in r.getMessage()] == [
        "training again 1 finished trials trained under other library versions (1 under torch "
        f"1.9, transformers 4.1; installed: torch {installed['torch']}, transformers "
        f"{installed['transformers']}), and 1 finished trials built on them"
    ]
    assert stored(tmp_path) == first  # the same seed and data train the same models
    with RunStore(tmp_path, readonly=True) as store:
        rows = store.rows()
    assert all(r.config["versions"] == installed for r in rows)
    assert sorted(r.attempts for r in rows) == [1, 1, 1]
    assert run_grid(tmp_path, tasks, grid, encoder, retrain).ran_now == 0  # nothing left
