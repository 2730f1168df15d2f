"""Text-pair tasks in the grid next to the other kinds, through grid, signals and evaluation.

``share`` (binary on text pairs: both texts hold one keyword) is trained with ``urgent``
(binary), ``topic`` (multi-class) and ``words`` (regression) (see ``tests/conftest.py``).
The whole pipeline and ``rank`` for every kind (a pair target included) run in
``tests/test_mixed_pool_end_to_end.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from transferscout.encoders import EncoderSpec
from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.grid.runner import ExecutionOptions, run_grid
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.store import RunStore
from transferscout.meta.features import pivot_signals
from transferscout.signals.ansat_stage import AnsatSettings, compute_ansat
from transferscout.signals.attributions import AttributionSettings
from transferscout.signals.pair_stage import PairSignalSettings, compute_pair_signals
from transferscout.tasks import TaskSet

pytestmark = pytest.mark.slow

FAST = EvaluationSettings(
    feature_sets=("f1", "all"),
    bootstrap_resamples=50,
    meta_seeds=1,
    n_estimators=20,
    adaptive=False,
)


def test_a_mixed_pool_with_a_pair_task_in_the_grid(
    tmp_path: Path, kind_tasks: TaskSet, pair_tasks: TaskSet, tiny_encoder_dir: Path
) -> None:
    tasks = TaskSet((*kind_tasks.tasks, *pair_tasks.tasks), "mixed")
    stage = {"epochs": [3], "batch_size": [8], "max_length": [32]}
    grid = GridSpec(
        target_settings=settings_grid(learning_rate=[3e-3], **stage),
        source_settings=settings_grid(learning_rate=[3e-3], **stage),
    )
    run_dir = tmp_path / "run"
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    summary = run_grid(run_dir, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), options)
    assert summary.failed == 0 and summary.done == 4 + 12
    attribution = AttributionSettings(n_steps=4, max_length=32)
    compute_ansat(run_dir, tasks, AnsatSettings(attribution=attribution, max_documents=5))
    compute_pair_signals(run_dir, tasks, PairSignalSettings(max_examples=20, max_length=32))
    result = evaluate_run(run_dir, FAST)
    assert set(result.table1["target"]) >= set(tasks.names)
    with RunStore(run_dir, readonly=True) as store:
        signals = pivot_signals(store.pair_signals()).set_index(["source", "target"])
    assert math.isfinite(signals.loc[("share", "topic"), "estimators_leep"])
    assert math.isnan(signals.loc[("words", "share"), "estimators_leep"])
