from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from transferscout.encoders import EncoderSpec
from transferscout.grid.runner import ExecutionOptions, run_grid
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.store import RunStore
from transferscout.signals.pair_stage import (
    BASELINE_NAMES,
    ESTIMATOR_NAMES,
    PairSignalSettings,
    compute_pair_signals,
)
from transferscout.tasks import TaskSet

SETTINGS = PairSignalSettings(max_examples=20, max_length=32, batch_size=8)


@pytest.fixture(scope="module")
def run_dir(
    tmp_path_factory: pytest.TempPathFactory, tasks: TaskSet, tiny_encoder_dir: Path
) -> Path:
    folder = tmp_path_factory.mktemp("pair-run")
    grid = GridSpec(
        sources=(), target_settings=settings_grid(learning_rate=[3e-3], epochs=[4], max_length=[32])
    )
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    run_grid(folder, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), options)
    compute_pair_signals(folder, tasks, SETTINGS)
    return folder


def _signals(run_dir: Path) -> dict[tuple[str, str, str, str], float]:
    with RunStore(run_dir, readonly=True) as store:
        return {
            (r["family"], r["source"], r["target"], r["name"]): r["value"]
            for r in store.pair_signals()
        }


def test_every_pair_has_every_signal(run_dir: Path, tasks: TaskSet) -> None:
    signals = _signals(run_dir)
    for source in tasks.names:
        for target in tasks.names:
            for name in ESTIMATOR_NAMES:  # 20 examples ≤ 32 dimensions + 1: no plain H-score
                stored = ("estimators", source, target, name) in signals
                assert stored == (name != "h_score"), name
            for name in BASELINE_NAMES:
                assert ("baselines", source, target, name) in signals
            assert ("textemb", source, target, "cosine") in signals
            assert ("taskemb", source, target, "rrf") in signals
            for component in ("layer_1", "layer_2", "layer_3", "pooled"):
                assert ("taskemb", source, target, f"cosine_{component}") in signals
    assert signals[("textemb", "food", "food", "cosine")] == pytest.approx(1.0)
    assert signals[("taskemb", "water", "water", "cosine_pooled")] == pytest.approx(1.0)
    assert signals[("baselines", "food", "water", "source_size")] == len(tasks["food"].train)
    assert signals[("baselines", "food", "water", "target_positive_rate")] == pytest.approx(
        tasks["water"].train.positive_rate
    )
    assert signals[("estimators", "food", "water", "leep")] <= 0.0
    assert signals[("estimators", "food", "water", "nce")] <= 0.0


def test_costs_are_recorded(run_dir: Path) -> None:
    with RunStore(run_dir, readonly=True) as store:
        families = {c["family"]: c["seconds"] for c in store.costs()}
    assert {"textemb", "taskemb", "features", "estimators"} <= set(families)
    assert all(seconds > 0 for seconds in families.values())


def test_rerun_uses_the_caches_and_reproduces(run_dir: Path, tasks: TaskSet) -> None:
    before = _signals(run_dir)
    files = sorted((run_dir / "features").glob("*.npz")) + sorted(
        (run_dir / "embeddings").glob("*.npz")
    )
    assert len(files) == 9 + 3 + 3  # features per (model, task); taskemb and textemb per task
    stamps = {f: f.stat().st_mtime_ns for f in files}
    cached = ("textemb", "taskemb", "features")
    with RunStore(run_dir, readonly=True) as store:
        costs = {c["family"]: c["seconds"] for c in store.costs() if c["family"] in cached}
    compute_pair_signals(run_dir, tasks, SETTINGS)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    assert _signals(run_dir) == before
    # a re-run reads every value from the caches and charges what computing them took
    with RunStore(run_dir, readonly=True) as store:
        again = {c["family"]: c["seconds"] for c in store.costs() if c["family"] in cached}
    assert again == pytest.approx(costs, rel=1e-12)
    assert all(seconds > 0.01 for seconds in again.values())


def test_one_new_target_is_charged_its_own_embeddings_not_the_sources_again(
    run_dir: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    """As ``rank`` does: the sources' embeddings were charged by the run's own signals."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    compute_pair_signals(run, tasks, SETTINGS, targets=["food"], cost_prefix="rank:")
    with RunStore(run, readonly=True) as store:
        charged = {c["family"]: c["seconds"] for c in store.costs()}
    each = []  # what each of the 6 cached embeddings (TaskEmb and TextEmb of 3 tasks) cost
    for path in sorted((run / "embeddings").glob("*.npz")):
        with np.load(path) as data:
            each.append(float(data["__seconds__"]))
    for family in ("textemb", "taskemb"):
        assert min(abs(charged[f"rank:{family}"] - e) for e in each) < 1e-9  # one task's
        assert charged[f"rank:{family}"] < charged[family]  # the run's: all three


def test_a_resumed_stage_charges_cached_values_what_they_cost(
    run_dir: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    files = sorted((run / "features").glob("*.npz"))
    for path in files[:3]:  # as if the first call stopped before computing these
        path.unlink()
    compute_pair_signals(run, tasks, SETTINGS)
    with RunStore(run, readonly=True) as store:
        charged = {c["family"]: c["seconds"] for c in store.costs()}
    recorded = []
    for path in files:
        with np.load(path) as data:
            recorded.append(float(data["__seconds__"]))
    # every features entry is charged its own computation: read ones too, not just the three
    assert charged["features"] == pytest.approx(sum(recorded), rel=1e-9)
    # a model's features on its own task came with its TaskEmb pass (charged there, 0 here)
    # unless deleted above and computed again on their own
    assert 6 <= sum(r > 0 for r in recorded) <= 9


def test_text_only_signals_match_the_full_stage_and_run_no_model(
    run_dir: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    """The pool search's default: TextEmb and the baselines, the same values, no model run."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
    import sqlite3

    connection = sqlite3.connect(copy / "store.sqlite")
    connection.execute("DELETE FROM pair_signals")
    connection.execute("DELETE FROM signal_costs")
    connection.commit()
    connection.close()
    shutil.rmtree(copy / "embeddings", ignore_errors=True)
    compute_pair_signals(copy, tasks, SETTINGS, text_only=True)
    text = _signals(copy)
    assert {family for family, *_ in text} == {"textemb", "baselines"}
    full = _signals(run_dir)
    assert {k: v for k, v in full.items() if k[0] in ("textemb", "baselines")} == pytest.approx(
        text
    )
    with RunStore(copy, readonly=True) as store:
        families = {c["family"] for c in store.costs()}
    assert families == {"textemb"}  # no features, TaskEmb or estimators: no model was run
