"""The pool search end to end: CLI and API, report and model folders, resume, bad input."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import write_csv
from tests.run_config import KEYWORDS, tiny_config, write_config
from transferscout.cli import app
from transferscout.config import config_from_dict
from transferscout.grid.store import RunStore
from transferscout.pool_search import search_pool

pytestmark = pytest.mark.slow

#: A tiny pool whose three single-task models learn but are not perfect: 6 epochs.
POOL: dict[str, Any] = {
    "search.mode": "pool",
    "search.margin": 0.0,
    "search.budget": "100%",
    "grid.target.learning_rate": [1e-3, 3e-3],
    "grid.target.epochs": [6],
    "grid.source.epochs": [6],
}


def pool_rows(n: int = 120, seed: int = 1) -> list[dict[str, str]]:
    """Three balanced keyword labels; a label's keyword is left out of 15% of its texts."""
    rng = random.Random(seed)
    filler = ["the", "people", "village", "need", "please", "help", "area", "city", "road"]
    keys = {"food": "food", "water": "water", "shelter": "tent"}
    rows = []
    for i in range(n):
        labels = {"food": i % 2, "water": (i // 2) % 2, "shelter": (i // 4) % 2}
        words = rng.sample(filler, 3)
        words += [keys[t] for t, on in labels.items() if on and rng.random() < 0.85]
        rng.shuffle(words)
        row = {"id": f"d{i}", "text": " ".join(words) + f" {i}"}
        rows.append(row | {t: str(v) for t, v in labels.items()})
    return rows


def _config_file(folder: Path, encoder: Path, changes: dict[str, Any] | None = None) -> Path:
    data = write_csv(folder / "pool.csv", pool_rows())
    config = tiny_config({**KEYWORDS, "path": str(data)}, encoder, {**POOL, **(changes or {})})
    return write_config(folder / "pool.toml", config)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("pool")
    config = _config_file(folder, tiny_encoder_dir)
    result = CliRunner().invoke(app, ["run", str(config), "-o", str(folder / "run")])
    assert result.exit_code == 0, result.output
    assert "The model to use for each target" in result.output
    assert "report:" in result.output
    return folder / "run"


def test_the_pool_search_writes_a_model_per_target_a_trace_and_a_report(searched: Path) -> None:
    summary = json.loads((searched / "search" / "summary.json").read_text())
    trace = pd.read_csv(searched / "search" / "trace.csv")
    assert [t["target"] for t in summary["targets"]] == ["food", "shelter", "water"]
    assert summary["trained"] == len(trace) >= 1
    assert trace["trial"].is_unique and trace["step"].tolist() == list(range(1, len(trace) + 1))
    assert summary["candidates"] == 12  # 3 targets x 2 sources x 2 target settings
    assert summary["hours"]["projected_full_grid"] > summary["hours"]["search"] > 0
    with RunStore(searched, readonly=True) as store:
        transfers = store.rows(kind="transfer")
    assert sorted(r.id for r in transfers) == sorted(trace["trial"])  # nothing else trained
    for target in summary["targets"]:
        assert target["skipped"] is None
        folder = Path(target["model_dir"])
        card = (folder / "README.md").read_text()
        assert (folder / "model.safetensors").is_file() and target["target"] in card
        # The model handed over is the best by validation of the single-task model and the
        # target's trained transfers.
        own = trace[trace["target"] == target["target"]]
        best_transfer = own["validation_f1"].max() if len(own) else float("-inf")
        uses_transfer = best_transfer > target["single_task_validation_f1"]
        assert (target["source"] is not None) == uses_transfer
        assert target["trained"] == len(own)
    status = CliRunner().invoke(app, ["status", str(searched)])
    assert f"pool search: {len(trace)} of 12 transfer candidates trained" in status.output
    report = (searched / "report" / "report.md").read_text()
    assert "use a transfer" in report.splitlines()[2]
    assert report.index("The model to use for each target") < report.index("Every trial")
    assert (searched / "report" / "report.html").is_file()


def test_a_second_run_trains_nothing_and_makes_the_same_picks(searched: Path) -> None:
    before = pd.read_csv(searched / "search" / "trace.csv")
    with RunStore(searched, readonly=True) as store:
        finished = {r.id: r.finished_at for r in store.rows()}
    again = CliRunner().invoke(
        app, ["run", str(searched.parent / "pool.toml"), "-o", str(searched)]
    )
    assert again.exit_code == 0, again.output
    after = pd.read_csv(searched / "search" / "trace.csv")
    pd.testing.assert_frame_equal(before, after)
    with RunStore(searched, readonly=True) as store:
        assert {r.id: r.finished_at for r in store.rows()} == finished


def test_a_killed_pool_search_resumes_without_training_a_trial_twice(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    config = _config_file(tmp_path, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "transferscout", "run", str(config), "-o", str(run_dir)]
    # Six single-task trials finish first: the kill comes as the second transfer finishes.
    env = {**os.environ, "TRANSFERSCOUT_CRASH_AT": "finishing:8"}
    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr
    with RunStore(run_dir, readonly=True) as store:
        kept = {r.id: r.finished_at for r in store.rows(status="done")}
    assert len(kept) == 7  # six single-task models and the first transfer
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    trace = pd.read_csv(run_dir / "search" / "trace.csv")
    # The picks are replayed from the store (the predicted hours are the stored single-task
    # models' hours): the first is the transfer finished before the kill, read, not trained.
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
    first_transfer = next(i for i in kept if i in {r.id for r in rows if r.kind == "transfer"})
    assert trace["trial"].iloc[0] == first_transfer and trace["trial"].is_unique
    assert len(trace) >= 1
    assert all(r.attempts == 1 for r in rows if r.id in kept)
    assert {r.id: r.finished_at for r in rows if r.id in kept} == kept
    # A third run replays everything: the same trace, nothing trained.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(trace, pd.read_csv(run_dir / "search" / "trace.csv"))


def test_the_python_api_reads_no_test_score_to_decide(searched: Path, tmp_path: Path) -> None:
    """The same search on a copy whose stored test metrics are permuted makes the same picks."""
    import shutil
    import sqlite3

    copy = tmp_path / "run"
    shutil.copytree(searched, copy, ignore=shutil.ignore_patterns("*.lock"))
    connection = sqlite3.connect(copy / "store.sqlite")
    rows = connection.execute("SELECT id, metrics FROM trials WHERE metrics IS NOT NULL").fetchall()
    tests = [{k: v for k, v in json.loads(m).items() if k.startswith("test_")} for _, m in rows]
    shuffled = tests[1:] + tests[:1]
    for (trial_id, metrics), test in zip(rows, shuffled, strict=True):
        kept = {k: v for k, v in json.loads(metrics).items() if not k.startswith("test_")}
        connection.execute(
            "UPDATE trials SET metrics = ? WHERE id = ?", (json.dumps(kept | test), trial_id)
        )
    connection.commit()
    connection.close()
    config = config_from_dict(json.loads((copy / "config.json").read_text()))
    result = search_pool(config, copy, export=False)
    reference = pd.read_csv(searched / "search" / "trace.csv")
    assert result.trace["trial"].tolist() == reference["trial"].tolist()
    assert result.trace["test_f1"].tolist() != reference["test_f1"].tolist()


@pytest.mark.parametrize("budget", ["0", "-5%", "120%", "3x"])
def test_a_bad_budget_is_one_line_and_writes_nothing(
    tmp_path: Path, tiny_encoder_dir: Path, budget: str
) -> None:
    config = _config_file(tmp_path, tiny_encoder_dir, {"search.budget": budget})
    result = CliRunner().invoke(app, ["run", str(config), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "budget" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_pool_of_one_task_has_nothing_to_transfer(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    config = _config_file(tmp_path, tiny_encoder_dir, {"data.label_columns": ["food"]})
    result = CliRunner().invoke(app, ["run", str(config), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no source task" in errors[0], result.output
    assert not (tmp_path / "run").exists()


def test_targets_with_degenerate_single_task_models_are_skipped_and_said(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    # Two epochs: every single-task model predicts one class.
    changes = {"grid.target.epochs": [2], "grid.source.epochs": [2]}
    config = _config_file(tmp_path, tiny_encoder_dir, changes)
    result = CliRunner().invoke(app, ["run", str(config), "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "search" / "summary.json").read_text())
    assert set(summary["skipped"]) == {"food", "shelter", "water"}
    assert all("degenerate" in why for why in summary["skipped"].values())
    assert summary["trained"] == 0 and "was not searched" in result.output
    assert "not searched" in (tmp_path / "run" / "report" / "report.md").read_text()


@pytest.fixture(scope="module")
def finished_grid(searched: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the searched run with the rest of its grid trained."""
    import shutil

    copy = tmp_path_factory.mktemp("finished") / "run"
    shutil.copytree(searched, copy, ignore=shutil.ignore_patterns("*.lock"))
    grid = CliRunner().invoke(app, ["grid", "run", str(copy)])
    assert grid.exit_code == 0, grid.output
    return copy


def test_the_replay_on_the_finished_grid_makes_the_same_picks(
    searched: Path, finished_grid: Path
) -> None:
    """Train the rest of the grid in a copy; the replay on its table retraces the search."""
    from transferscout.config import load_run_config
    from transferscout.evaluation.pool_replay import replay_pool_search, varying_settings
    from transferscout.grid.runner import plan_trials
    from transferscout.meta.features import HYPERPARAMETERS, candidate_table
    from transferscout.meta.pool import PoolPrior

    copy = finished_grid
    config = load_run_config(copy)
    planned = plan_trials(config.grid.spec(), config.data.load(), config.encoder.spec())
    table = candidate_table(copy, trials={t.id for t in planned})
    table = table[table["source"] != table["target"]].reset_index(drop=True)
    assert len(table) == 12
    summary = json.loads((searched / "search" / "summary.json").read_text())
    replay = replay_pool_search(
        table,
        varying_settings(table, HYPERPARAMETERS),
        prior=PoolPrior(signals=tuple(config.search.signals)),
        budget_hours=summary["budget"]["hours"],
        margin=config.search.margin,
        seed=config.search.seed,
        signal_hours=summary["hours"]["signals"],
    )
    trace = pd.read_csv(searched / "search" / "trace.csv")
    picked = list(
        zip(trace["target"], trace["candidate"], trace["target_learning_rate"], strict=True)
    )
    replayed = list(
        zip(replay["target"], replay["source"], replay["target_learning_rate"], strict=True)
    )
    assert replayed == picked
    assert replay.attrs["stop"] == summary["stopped"]


def test_a_warm_start_reads_another_pools_grid(
    searched: Path, finished_grid: Path, tmp_path: Path
) -> None:
    from transferscout.pool_search import warm_start

    means = dict(warm_start(finished_grid, ["textemb_cosine"]))
    assert set(means) == {
        "pool",
        "setting:target_learning_rate=0.001",
        "setting:target_learning_rate=0.003",
        "signal:textemb_cosine",
    }
    config = searched.parent / "pool.toml"
    run_dir = tmp_path / "warm"
    result = CliRunner().invoke(
        app, ["run", str(config), "-o", str(run_dir), "--prior", str(finished_grid)]
    )
    assert result.exit_code == 0, result.output
    recorded = json.loads((run_dir / "config.json").read_text())["search"]["prior"]
    assert recorded == str(finished_grid.resolve())
    trace = pd.read_csv(run_dir / "search" / "trace.csv")
    cold = pd.read_csv(searched / "search" / "trace.csv")
    # The first pick's prediction is the warm prior's, not the cold one's.
    assert trace["predicted_gain"].iloc[0] != pytest.approx(cold["predicted_gain"].iloc[0])
    bad = CliRunner().invoke(app, ["run", str(config), "-o", str(tmp_path / "x"), "--prior", "."])
    assert bad.exit_code == 2 and "neither a run folder" in bad.output
    assert not (tmp_path / "x").exists()


def test_a_failing_trial_is_traced_charged_and_skipped(
    tmp_path: Path, tiny_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config_file(tmp_path, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    # The single-task models first (a grid without sources) ...
    singles = CliRunner().invoke(
        app, ["grid", "run", str(run_dir), "-c", str(config), "-s", "grid.sources=[]"]
    )
    assert singles.exit_code == 0, singles.output
    # ... then every trial on food fails: its transfers are tried, traced and skipped.
    monkeypatch.setenv("TRANSFERSCOUT_FAIL_TASK", "raise:food")
    result = CliRunner().invoke(app, ["run", str(config), "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    trace = pd.read_csv(run_dir / "search" / "trace.csv")
    failed = trace[trace["status"].str.startswith("failed")]
    assert len(failed) >= 1 and set(failed["target"]) == {"food"} and trace["trial"].is_unique
    assert failed["validation_f1"].isna().all() and (failed["hours"] > 0).all()
    summary = json.loads((run_dir / "search" / "summary.json").read_text())
    food = next(t for t in summary["targets"] if t["target"] == "food")
    assert food["model"] == "single-task" and food["trained"] == len(failed)
    with RunStore(run_dir, readonly=True) as store:
        stored = {r.id for r in store.rows(status="failed")}
    assert set(failed["trial"]) == stored


def test_the_pool_search_runs_on_ray(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    import ray

    config = _config_file(
        tmp_path,
        tiny_encoder_dir,
        {"executor": {"kind": "ray", "workers": 1, "threads_per_worker": 1, "device": "cpu"}},
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = search_pool(
            config_from_dict(json.loads(json.dumps(_toml(config)))), tmp_path / "run"
        )
    finally:
        ray.shutdown()
    assert len(result.trace) >= 1 and (result.trace["status"] == "done").all()
    assert all(Path(t).is_dir() for t in result.targets["model_dir"])


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(path.read_text())
