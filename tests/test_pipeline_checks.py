"""What the pipeline refuses, and that a refusal writes nothing (fast: no training)."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from tests.run_config import grid_config, write_config
from transferscout.config import RunConfig, load_config
from transferscout.errors import ConfigError
from transferscout.grid.store import RunLockedError, RunStore
from transferscout.pipeline import _StageCache, evaluate, run_pipeline, train_grid


def _config(tmp_path: Path, keyword_csv: Path, encoder: Path, *overrides: str) -> RunConfig:
    path = tmp_path / "run.toml"
    labels = ["food", "water", "shelter"]
    data = {"path": str(keyword_csv), "label_columns": labels, "fractions": [0.6, 0.2, 0.2]}
    write_config(path, grid_config(data, encoder))
    return load_config(path, overrides)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("stage", [train_grid, run_pipeline, evaluate])
def test_a_run_refused_by_the_lock_writes_nothing(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path, stage: object
) -> None:
    run_dir = tmp_path / "run"
    RunStore(run_dir).close()
    (run_dir / "config.json").write_text('{"the": "configuration that ran"}')
    before = _files(run_dir)
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir, "grid.seeds=[5]")
    with (run_dir / "store.lock").open("a+") as other:  # another process's writer lock
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunLockedError, match="being written by"):
            stage(config, run_dir)  # type: ignore[operator]
    assert _files(run_dir) == before


def test_a_grid_the_evaluation_cannot_use_is_refused_before_training(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir, "grid.targets=['food']")
    with pytest.raises(ConfigError, match="at least two targets; the configured grid has 1"):
        run_pipeline(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_stage_marker_describes_only_its_own_store(tmp_path: Path) -> None:
    first = _StageCache(tmp_path, ("store-a", "created"))
    first.record("ansat", "k1")
    assert json.loads((tmp_path / "stages" / "ansat.json").read_text())["store"] == "store-a"
    assert first.fresh("ansat", "k1") and not first.fresh("ansat", "k2")
    assert not _StageCache(tmp_path, ("store-b", "created")).fresh("ansat", "k1")
    # a marker from before stores had an identity: trusted only for a store upgraded in place
    (tmp_path / "stages" / "pairs.json").write_text('{"key": "k1"}')
    assert _StageCache(tmp_path, ("store-c", "migrated")).fresh("pairs", "k1")
    assert not _StageCache(tmp_path, ("store-c", "created")).fresh("pairs", "k1")
    (tmp_path / "stages" / "evaluation.json").write_text("{torn")
    assert not first.fresh("evaluation", "k1")
