"""Test is only reported: shuffling every trial's test metrics among trials moves no decision.

The evaluation's meta-models, its adaptive replay and the budgeted search learn from and decide
on validation scores; their test scores are only reported.  So after the test metrics of the
stored trials are permuted among the trials (each trial keeps its validation metrics), every
prediction, every pick and every hour is the same — only the reported scores move.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_search import _copy_run, _new_target_file
from transferscout.evaluation import EvaluationResult, EvaluationSettings, evaluate_run
from transferscout.evaluation.adaptive import adaptive_replay
from transferscout.meta.features import feature_columns
from transferscout.search import Budget, SearchSettings, search_target
from transferscout.targets import prepare_target

pytestmark = pytest.mark.slow

FAST = EvaluationSettings(bootstrap_resamples=50, n_estimators=30, meta_seeds=2)


def shuffle_test_metrics(run_dir: Path, *, seed: int = 0) -> int:
    """Permute the ``test_*`` metrics of the store's finished trials among them (in place).

    Returns how many trials' test metrics changed (so a test can check the shuffle moved
    something).
    """
    path = run_dir / "store.sqlite"
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT id, metrics FROM trials WHERE status = 'done' ORDER BY id"
        ).fetchall()
        metrics = [json.loads(text) for _, text in rows]
        tests = [{k: v for k, v in m.items() if k.startswith("test_")} for m in metrics]
        order = np.random.default_rng(seed).permutation(len(rows))
        changed = 0
        for (trial, _), own, new in zip(rows, metrics, (tests[i] for i in order), strict=True):
            kept = {k: v for k, v in own.items() if not k.startswith("test_")}
            changed += new != {k: v for k, v in own.items() if k.startswith("test_")}
            db.execute(
                "UPDATE trials SET metrics = ? WHERE id = ?",
                (json.dumps({**kept, **new}, sort_keys=True), trial),
            )
    return changed


def test_shuffled_test_metrics_change_no_prediction_order_or_hour_of_the_evaluation(
    small_run: Path, tmp_path: Path
) -> None:
    runs = {}
    for name in ("as_trained", "shuffled"):
        runs[name] = tmp_path / name
        shutil.copytree(small_run, runs[name], ignore=shutil.ignore_patterns("store.lock"))
    assert shuffle_test_metrics(runs["shuffled"]) > 0
    results = {name: evaluate_run(run, FAST) for name, run in runs.items()}
    before, after = results["as_trained"], results["shuffled"]
    # What the evaluation reports moves ...
    assert not np.allclose(before.candidates["real_f1"], after.candidates["real_f1"])
    # ... what it decides does not: every meta-model's predictions (fitted on validation gains)
    predicted = [c for c in before.candidates.columns if c.startswith("predicted_")]
    assert predicted
    pd.testing.assert_frame_equal(before.candidates[predicted], after.candidates[predicted])

    # ... the hours every method spends at every depth (its order of training; the oracle,
    # which orders by the truth, is the one reference that reads it)
    def hours(result: EvaluationResult) -> pd.DataFrame:
        curves = result.curves[result.curves["method"] != "oracle"]
        columns = ["method", "k", "hours"]
        return curves[columns].sort_values(["method", "k"]).reset_index(drop=True)

    assert set(before.curves["method"]) - {"oracle"}
    pd.testing.assert_frame_equal(hours(before), hours(after))
    # ... and the adaptive replay's picks, step by step.
    for strategy in ("greedy", "ucb"):
        picks = [
            adaptive_replay(
                result.candidates,
                feature_columns(result.candidates, "f1+ansat"),
                strategy=strategy,
                n_estimators=30,
                ensemble=2,
            )[["target", "step", "row"]]
            for result in (before, after)
        ]
        pd.testing.assert_frame_equal(*picks)


def test_shuffled_test_metrics_change_no_pick_of_the_search(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    traces = {}
    for name in ("as_trained", "shuffled"):
        folder = tmp_path / name
        folder.mkdir()
        run_dir, config = _copy_run(small_run, tiny_encoder_dir, folder)
        if name == "shuffled":
            assert shuffle_test_metrics(run_dir) > 0
        target = prepare_target(
            config, "supplies", data={"path": str(_new_target_file(folder)), "id_column": "id"}
        )
        settings = SearchSettings(Budget(trials=3), margin=0.0)
        result = search_target(run_dir, settings, target=target)
        if name == "shuffled":
            # The search's own trials too: the resumed search reads them back, shuffled.
            assert shuffle_test_metrics(run_dir, seed=1) > 0
            result = search_target(run_dir, settings, target=target)
        traces[name] = result.trace
    # (Hours are measured by the clock of each run, so they are not compared.)
    decided = ["candidate", "trial", "predicted_f1", "upper_f1", "best"]
    pd.testing.assert_frame_equal(traces["as_trained"][decided], traces["shuffled"][decided])
    assert traces["as_trained"]["validation_f1"].tolist() == (
        traces["shuffled"]["validation_f1"].tolist()
    )
