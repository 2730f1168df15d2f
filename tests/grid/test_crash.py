"""Kill a real ``transferscout grid run`` process with SIGKILL and check that nothing is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.run_config import KEYWORDS, tiny_config, write_config
from transferscout.errors import TransferScoutError
from transferscout.grid.store import RunStore

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, keyword_csv: Path, encoder: Path, epochs: int = 2) -> Path:
    """The grid of ``tests/grid/test_runner.py`` (14 trials) at the package's batch size."""
    stage = {"epochs": [epochs], "max_length": [32]}
    changes = {
        "grid.sources": ["food", "water"],
        "grid.target": {"learning_rate": [1e-3, 3e-3], **stage},
        "grid.source": {"learning_rate": [1e-3], **stage},
        "signals": None,
        "evaluation": None,
    }
    config = tiny_config({**KEYWORDS, "path": str(keyword_csv)}, encoder, changes)
    return write_config(tmp_path / "grid.toml", config)


def _command(run_dir: Path, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "transferscout",
        "-q",
        "grid",
        "run",
        str(run_dir),
        "-c",
        str(config),
    ]


def _run(run_dir: Path, config: Path, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSFERSCOUT_")}
    if crash_at:
        env["TRANSFERSCOUT_CRASH_AT"] = crash_at
    return subprocess.run(
        _command(run_dir, config), env=env, capture_output=True, timeout=600
    ).returncode


def _rows(run_dir: Path) -> dict[str, tuple]:
    with RunStore(run_dir, readonly=True) as store:
        return {r.id: (r.kind, r.target, r.source, r.status, r.metrics) for r in store.rows()}


def _rows_while_running(run_dir: Path) -> dict[str, tuple]:
    """The rows so far; none while the writer has not yet committed the schema."""
    if not (run_dir / "store.sqlite").exists():
        return {}
    try:
        return _rows(run_dir)
    except (sqlite3.OperationalError, TransferScoutError):  # the schema is not committed yet
        return {}


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, keyword_csv: Path, tiny_encoder_dir: Path
) -> dict:
    folder = tmp_path_factory.mktemp("crash-reference")
    config = _config(folder, keyword_csv, tiny_encoder_dir)
    assert _run(folder / "run", config) == 0
    rows = _rows(folder / "run")
    assert len(rows) == 14 and all(row[3] == "done" for row in rows.values())
    return rows


@pytest.mark.parametrize(
    ("crash_at", "done_before"),
    [
        ("started:3", 2),  # a trial marked running, killed before it trained
        ("model_written:4", 3),  # model file on disk, its row not yet done
        ("finishing:5", 4),  # inside the transaction marking a trial done, before COMMIT
        ("finishing:10", 9),  # ... of a transfer trial
    ],
)
def test_kill_at_a_crash_point_then_resume(
    tmp_path: Path,
    keyword_csv: Path,
    tiny_encoder_dir: Path,
    reference: dict,
    crash_at: str,
    done_before: int,
) -> None:
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir)
    run_dir = tmp_path / "run"
    assert _run(run_dir, config, crash_at) == -signal.SIGKILL
    after_crash = _rows(run_dir)
    statuses = [row[3] for row in after_crash.values()]
    assert statuses.count("done") == done_before  # the killed trial's write did not land
    assert statuses.count("running") == 1
    assert _run(run_dir, config) == 0
    assert _rows(run_dir) == reference  # nothing lost, nothing duplicated, same numbers
    with RunStore(run_dir, readonly=True) as store:
        attempts = sorted(r.attempts for r in store.rows())
    assert attempts == [1] * 13 + [2]  # only the interrupted trial ran twice


def test_kill_during_training_then_resume(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir, epochs=40)  # slower trials
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        _command(run_dir, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = [row[3] for row in _rows_while_running(run_dir).values()]
            if statuses.count("done") >= 2 and "running" in statuses:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    interrupted = _rows(run_dir)
    done_before = {i for i, row in interrupted.items() if row[3] == "done"}
    assert 2 <= len(done_before) < 14
    assert _run(run_dir, config) == 0
    resumed = _rows(run_dir)
    assert len(resumed) == 14 and all(row[3] == "done" for row in resumed.values())
    assert all(
        resumed[i] == interrupted[i] for i in done_before
    )  # finished trials kept as they were


def test_second_writer_on_the_same_run_is_refused(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir, epochs=40)
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        _command(run_dir, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "store.sqlite").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(
            _command(run_dir, config), capture_output=True, text=True, timeout=300
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert second.returncode == 2
    assert "the run is being written by process" in second.stderr
