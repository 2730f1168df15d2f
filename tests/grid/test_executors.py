"""Worker processes die with the process that started them, however it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grid.test_crash import _command, _config

pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that does not reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_die_when_the_main_process_is_killed(
    tmp_path: Path, keyword_csv: Path, tiny_encoder_dir: Path
) -> None:
    config = _config(tmp_path, keyword_csv, tiny_encoder_dir, epochs=40)
    command = [*_command(tmp_path / "run", config), "-s", "executor.workers=2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSFERSCOUT_")}
    main = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and main.poll() is None:
            workers = {
                pid
                for pid in _children(main.pid)
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            }
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, "the pool's two workers never started"
        time.sleep(2)  # let them get into a trial
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        survivors = [pid for pid in workers if _alive(pid)]
        assert not survivors, f"workers {survivors} outlived their parent"
    finally:
        if main.poll() is None:
            main.kill()
        for pid in workers:  # never leave a process behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
