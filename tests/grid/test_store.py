from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from transferscout.errors import TransferScoutError
from transferscout.grid.store import (
    SCHEMA_VERSION,
    Recreation,
    RunLockedError,
    RunStore,
    StoreWriteError,
    check_run_folder,
    run_lock,
)


def _trial(i: int) -> tuple:
    return (f"t{i}", "single", "food", None, None, 0, {"n": i})


def _finish(
    store: RunStore,
    trial_id: str,
    *,
    f1: float,
    seconds: float,
    examples_per_second: float,
    device: str,
    notes: list[str] | None = None,
) -> Recreation | None:
    """Finish a single-task trial (no source stage) with a test F1 and its measurement."""
    return store.finish(
        trial_id,
        metrics={"test_f1": f1} if notes is None else {"test_f1": f1, "notes": notes},
        source_seconds=None,
        target_seconds=seconds,
        examples_per_second=examples_per_second,
        device=device,
    )


def test_add_is_idempotent_and_rows_round_trip(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        assert store.add_trials([_trial(1), _trial(2)]) == 2
        assert store.add_trials([_trial(2), _trial(3)]) == 1
        rows = store.rows()
        assert [r.id for r in rows] == ["t1", "t2", "t3"]
        assert rows[0].config == {"n": 1} and rows[0].status == "pending"
        store.start("t1", worker="w")
        _finish(store, "t1", f1=0.5, seconds=2.0, examples_per_second=10.0, device="cpu")
        store.start("t2", worker="w")
        store.fail("t2", "ValueError: boom", "Traceback ...")
        assert store.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 1}
        done = store.row("t1")
        assert done is not None and done.metrics == {"test_f1": 0.5} and done.attempts == 1
        failed = store.row("t2")
        assert failed is not None and failed.error == "ValueError: boom"


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1)])
        with pytest.raises(RunLockedError, match=r"being written by process \d+"):
            RunStore(tmp_path)
        with RunStore(tmp_path, readonly=True) as reader:  # readers need no lock
            assert reader.counts()["pending"] == 1
    with RunStore(tmp_path) as again:  # the lock was released on close
        assert again.counts()["pending"] == 1


def test_interrupted_trials_go_back_to_pending(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1), _trial(2)])
        store.start("t1", worker="w")
    with RunStore(tmp_path) as store:
        assert store.requeue_interrupted() == 1
        row = store.row("t1")
        assert row is not None and row.status == "pending" and row.attempts == 1


def test_schema_version_is_checked(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(TransferScoutError, match="schema version 99"):
        RunStore(tmp_path)


def test_failed_write_rolls_back(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1)])
        with pytest.raises(sqlite3.IntegrityError), store._transaction() as db:
            db.execute("UPDATE trials SET status = 'done' WHERE id = 't1'")
            db.execute("UPDATE trials SET status = 'bogus' WHERE id = 't1'")
        row = store.row("t1")
        assert row is not None and row.status == "pending"


def test_a_full_store_is_one_clear_error_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1), _trial(2)])
        store.start("t1", worker="w")
        _finish(store, "t1", f1=0.5, seconds=2.0, examples_per_second=10.0, device="cpu")
    # SQLite's own limit on the file's pages: past it, SQLite answers exactly as on a full disk
    monkeypatch.setenv("TRANSFERSCOUT_STORE_PAGES", "0")
    notes = ["x" * 100] * 100  # 10 KB of metrics: needs pages the file lacks
    with RunStore(tmp_path) as store:
        store.start("t2", worker="w")  # changed in place: no new page
        with pytest.raises(StoreWriteError) as info:
            _finish(
                store,
                "t2",
                f1=0.25,
                seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
                notes=notes,
            )
        assert str(info.value) == (
            f"{tmp_path / 'store.sqlite'}: the run's store cannot be written (database or disk "
            "is full); free space on the disk that holds it (or move the run folder to one with "
            "room), then run the same command again: everything recorded before is kept"
        )
        # rolled back as a whole; what was committed before is intact, and the store works on
        assert [(r.id, r.status) for r in store.rows()] == [("t1", "done"), ("t2", "running")]
        store.fail("t2", "ValueError: boom")
    monkeypatch.delenv("TRANSFERSCOUT_STORE_PAGES")
    with RunStore(tmp_path) as store:  # room again: the same write goes through
        _finish(
            store, "t2", f1=0.25, seconds=1.0, examples_per_second=1.0, device="cpu", notes=notes
        )
        t2 = store.row("t2")
        assert t2 is not None and t2.status == "done"
        assert t2.metrics == {"test_f1": 0.25, "notes": notes}


def test_readonly_store_of_a_missing_run(tmp_path: Path) -> None:
    with pytest.raises(TransferScoutError, match="no run here"):
        RunStore(tmp_path / "nothing", readonly=True)


def test_migration_from_version_1_adds_the_signal_tables(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
    with RunStore(tmp_path) as store:
        store.put_pair_signals("ansat", [("a", "b", "x", 1.5)], {"k": 1})
        store.put_pair_signals("ansat", [("a", "b", "x", 2.5)], {"k": 2})  # replaces
        store.put_cost("ansat", "pairs", 0.25, {})
        assert store.pair_signals("ansat") == [
            {
                "family": "ansat",
                "source": "a",
                "target": "b",
                "name": "x",
                "value": 2.5,
                "detail": {"k": 2},
            }
        ]
        assert store.costs()[0]["seconds"] == 0.25
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_status_of_a_run_being_created(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "store.sqlite").close()
    with pytest.raises(TransferScoutError, match="being created"):
        RunStore(tmp_path, readonly=True)


def _past_run(run_dir: Path) -> Path:
    """A run folder with a stored trial, its config.json and a stage marker."""
    with RunStore(run_dir) as store:
        store.add_trials([_trial(1)])
    (run_dir / "config.json").write_text("{}")
    (run_dir / "stages").mkdir()
    (run_dir / "stages" / "ansat.json").write_text('{"key": "k"}')
    return run_dir / "store.sqlite"


@pytest.mark.parametrize("readonly", [False, True])
def test_an_emptied_store_of_a_run_is_an_error_not_a_new_run(
    tmp_path: Path, readonly: bool
) -> None:
    path = _past_run(tmp_path)
    path.write_bytes(b"")
    with pytest.raises(TransferScoutError) as info:
        RunStore(tmp_path, readonly=readonly)
    message = str(info.value)
    assert str(path) in message and "is empty" in message
    assert "config.json" in message and "stages" in message
    assert "move" in message and "afresh" in message
    assert path.stat().st_size == 0  # nothing was written


def test_a_deleted_store_of_a_run_is_an_error_too(tmp_path: Path) -> None:
    _past_run(tmp_path).unlink()
    with pytest.raises(TransferScoutError, match="store.sqlite is missing"):
        RunStore(tmp_path)
    assert not (tmp_path / "store.sqlite").exists()


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
@pytest.mark.parametrize("readonly", [False, True])
def test_a_damaged_store_is_an_error_naming_the_file(
    tmp_path: Path, damage: str, readonly: bool
) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(i) for i in range(2000)])
    path = tmp_path / "store.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not sqlite " * 500)
    with pytest.raises(TransferScoutError) as info:
        with RunStore(tmp_path, readonly=readonly) as store:
            store.rows()
    message = str(info.value)
    assert str(path) in message and "cannot be read" in message and "move" in message


def test_a_foreign_sqlite_file_is_not_taken_for_a_store(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        db.execute("CREATE TABLE mine (x)")
    for readonly in (False, True):
        with pytest.raises(TransferScoutError, match="not a transferscout run store"):
            RunStore(tmp_path, readonly=readonly)


def test_a_newer_schema_is_refused_by_readers_too(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(TransferScoutError, match="schema version 99"):
        RunStore(tmp_path, readonly=True)


def test_each_store_has_its_own_identity(tmp_path: Path) -> None:
    with RunStore(tmp_path / "a") as first, RunStore(tmp_path / "b") as second:
        assert first.identity != second.identity and len(first.identity or "") == 32
        assert first.origin == "created"
    with RunStore(tmp_path / "a", readonly=True) as again:
        assert again.identity == first.identity


def test_a_store_migrated_from_version_2_says_so(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (2)")
    with RunStore(tmp_path) as store:
        assert store.origin == "migrated" and store.identity


def test_a_run_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("x")
    for readonly in (False, True):
        with pytest.raises(TransferScoutError, match="is a file, not a run folder"):
            RunStore(tmp_path / "run", readonly=readonly)
    with pytest.raises(TransferScoutError, match="is a file, not a folder"):
        check_run_folder(tmp_path / "run" / "deeper")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_run_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(TransferScoutError, match="cannot write in"):
            check_run_folder(folder / "run")
        with pytest.raises(TransferScoutError, match="cannot write in"):
            RunStore(folder / "run")
    finally:
        folder.chmod(0o755)


def test_run_lock_is_shared_by_this_process_and_refuses_others(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        with RunStore(tmp_path) as store:  # the stages of a run, under the run's lock
            store.add_trials([_trial(1)])
        with RunStore(tmp_path) as store:
            assert store.counts()["pending"] == 1
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from transferscout.grid.store import RunStore; RunStore({str(tmp_path)!r})",
            ],
            capture_output=True,
            text=True,
        )
        assert other.returncode != 0 and "RunLockedError" in other.stderr
    with RunStore(tmp_path) as store:  # released
        assert store.counts()["pending"] == 1


def test_a_trial_trained_again_keeps_its_first_measurement(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1), _trial(2)])
        store.start("t1", worker="w")
        _finish(store, "t1", f1=0.5, seconds=2.0, examples_per_second=10.0, device="cpu")
        before = store.row("t1")
        assert store.requeue_lost_models(["t1", "t2"]) == 1  # t2 never finished
        pending = store.row("t2")
        assert pending is not None and pending.status == "pending"
        requeued = store.row("t1")
        assert requeued is not None and requeued.status == "pending" and requeued.metrics is None
        store.start("t1", worker="ray")
        store.fail("t1", "OSError: disk full")  # a failed retraining keeps the first aside
        store.start("t1", worker="ray")
        recreation = _finish(
            store, "t1", f1=0.75, seconds=11.5, examples_per_second=1.5, device="cuda"
        )
        after = store.row("t1")
        assert store.recreations() == [recreation]
    assert before is not None and after is not None and recreation is not None
    assert after.status == "done" and after.error is None
    assert after.metrics == {"test_f1": 0.75}  # the model on disk is the new one
    assert (after.target_seconds, after.examples_per_second, after.device, after.worker) == (
        2.0,
        10.0,
        "cpu",
        "w",
    )
    assert (after.started_at, after.finished_at) == (before.started_at, before.finished_at)
    assert recreation.first == {
        "metrics": {"test_f1": 0.5},
        "source_seconds": None,
        "target_seconds": 2.0,
        "examples_per_second": 10.0,
        "device": "cpu",
        "worker": "w",
        "started_at": before.started_at,
        "finished_at": before.finished_at,
    }
    assert (recreation.seconds, recreation.examples_per_second, recreation.device) == (
        11.5,
        1.5,
        "cuda",
    )
    assert recreation.metrics == {"test_f1": 0.75} and recreation.same_metrics is False
    assert recreation.worker == "ray" and recreation.started_at is not None


def test_a_store_of_schema_4_gains_the_recreations_table(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1)])
    with sqlite3.connect(tmp_path / "store.sqlite") as db:  # as schema 4 left it
        db.execute("DROP TABLE model_recreations")
        db.execute("UPDATE schema_version SET version = 4")
    with RunStore(tmp_path, readonly=True) as reader:  # not upgraded by a reader
        assert reader.recreations() == [] and len(reader.rows()) == 1
    with RunStore(tmp_path) as store:
        assert store.recreations() == [] and [r.id for r in store.rows()] == ["t1"]
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(5,)]
