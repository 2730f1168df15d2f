from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from transferscout.errors import TransferScoutError
from transferscout.grid.store import SCHEMA_VERSION, RunLockedError, RunStore


def _trial(i: int) -> tuple:
    return (f"t{i}", "single", "food", None, None, 0, {"n": i})


def test_add_is_idempotent_and_rows_round_trip(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        assert store.add_trials([_trial(1), _trial(2)]) == 2
        assert store.add_trials([_trial(2), _trial(3)]) == 1
        rows = store.rows()
        assert [r.id for r in rows] == ["t1", "t2", "t3"]
        assert rows[0].config == {"n": 1} and rows[0].status == "pending"
        store.start("t1", worker="w")
        store.finish(
            "t1",
            metrics={"test_f1": 0.5},
            source_seconds=None,
            target_seconds=2.0,
            examples_per_second=10.0,
            device="cpu",
        )
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
