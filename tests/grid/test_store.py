from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from transferscout.errors import TransferScoutError
from transferscout.grid.identity import trial_id
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
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


# A store written by import_tables before schema 6 (see tests/fixtures/README.md): 54 trials of
# study v2 pool 1 (food, water, shelter) under their old ids, one pair signal per family, the
# signal costs and one recreation of the first single-task trial.
SCHEMA5_RUN = Path(__file__).parents[1] / "fixtures" / "schema5-run"


def _schema5_run(tmp_path: Path) -> tuple[Path, list[tuple]]:
    """A copy of the schema-5 run and its trials as stored (id, kind, config, status)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copyfile(SCHEMA5_RUN / "store.sqlite", run / "store.sqlite")
    shutil.copyfile(SCHEMA5_RUN / "config.json", run / "config.json")
    with sqlite3.connect(run / "store.sqlite") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(5,)]
        rows = db.execute("SELECT id, kind, config, status FROM trials ORDER BY rowid").fetchall()
    return run, rows


def test_a_schema_5_store_is_upgraded_with_every_reference_renamed(tmp_path: Path) -> None:
    run, old = _schema5_run(tmp_path)
    new_of = {row[0]: trial_id(json.loads(row[2])) for row in old}
    assert len(old) == 54 and not set(new_of) & set(new_of.values())  # every id changes
    singles = [row[0] for row in old if row[1] == "single"]
    (run / "models").mkdir()
    for old_id in singles:  # a model file's content names the trial it was trained for
        (run / "models" / f"{old_id}.safetensors").write_text(old_id)
    # An upgrade interrupted after renaming this file, before committing: found again.
    (run / "models" / f"{singles[0]}.safetensors").rename(
        run / "models" / f"{new_of[singles[0]]}.safetensors"
    )
    with RunStore(run) as store:
        rows = store.rows()
        recreations = store.recreations()
        signals = store.pair_signals()
        costs = store.costs()
    with sqlite3.connect(run / "store.sqlite") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert [r.id for r in rows] == [new_of[row[0]] for row in old]  # same rows, same order
    assert all(r.config == json.loads(row[2]) for r, row in zip(rows, old, strict=True))
    by_id = {r.id: r for r in rows}
    for row in rows:
        if row.kind == "transfer":
            source = by_id[row.source_trial]  # type: ignore[index]
            assert (source.kind, source.target, source.seed) == ("single", row.source, row.seed)
            assert source.config["target"]["settings"] == row.config["source"]["settings"]
    assert [r.trial_id for r in recreations] == [new_of[singles[0]]]
    models = {p.name: p.read_text() for p in (run / "models").iterdir()}
    assert models == {f"{new_of[i]}.safetensors": i for i in singles}
    # Signal details name the models they read: this store's are renamed; the other nine
    # tasks' trials were left out of the subset, so their ids stay as they were.
    ansat = next(s["detail"] for s in signals if s["family"] == "ansat")
    assert ansat["models"]["food"] in by_id and ansat["models"]["request"] not in by_id
    assert ansat["models"]["request"] not in new_of.values()
    trials = [c["detail"]["trial"] for c in costs if c["family"] == "conductance"]
    assert len(trials) == 12 and sum(t in by_id for t in trials) == 3
    assert not set(trials) & set(new_of)  # no old id of this store is left


def test_a_schema_5_store_read_only_is_read_upgraded_and_left_as_it_is(tmp_path: Path) -> None:
    run, _ = _schema5_run(tmp_path)
    before = (run / "store.sqlite").read_bytes()
    with RunStore(run, readonly=True) as reader:
        read = [(r.id, r.source_trial, r.status, r.metrics) for r in reader.rows()]
        recreations = reader.recreations()
        signals = reader.pair_signals()
        identity = reader.identity
    assert (run / "store.sqlite").read_bytes() == before
    with RunStore(run) as store:
        assert read == [(r.id, r.source_trial, r.status, r.metrics) for r in store.rows()]
        assert recreations == store.recreations() and signals == store.pair_signals()
        assert identity == store.identity and store.origin == "created"


def test_a_trial_stored_twice_under_two_library_versions_keeps_its_finished_row(
    tmp_path: Path,
) -> None:
    run, old = _schema5_run(tmp_path)
    done_id, _, text, _ = next(row for row in old if row[1] == "single")
    config = json.loads(text)
    config["versions"]["transformers"] = "5.25"  # planned again after an upgrade
    with sqlite3.connect(run / "store.sqlite") as db:
        db.execute(
            "INSERT INTO trials (id, kind, target, seed, config, status, created_at) "
            "VALUES (?, 'single', 'food', 0, ?, 'pending', 1900000000)",
            ("f" * 32, json.dumps(config, sort_keys=True)),
        )
    with RunStore(run) as store:
        rows = store.rows()
        kept = store.row(trial_id(config))
        assert store.row(done_id) is None and store.row("f" * 32) is None
    assert len(rows) == 54 and kept is not None and kept.status == "done"
    assert kept.config["versions"]["transformers"] == "5.23" and kept.metrics is not None
    assert trial_id(config) == trial_id(json.loads(text))


def test_a_trial_not_finished_records_the_configuration_it_will_be_trained_with(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path) as store:
        store.add_trials([_trial(1), _trial(2)])
        store.start("t1", worker="w")
        _finish(store, "t1", f1=0.5, seconds=2.0, examples_per_second=10.0, device="cpu")
        assert store.record_configs({"t1": {"n": 10}, "t2": {"n": 20}}) == 1
        assert store.record_configs({"t2": {"n": 20}}) == 0  # already recorded
        assert [r.config for r in store.rows()] == [{"n": 1}, {"n": 20}]
        assert store.retrain({"t1": {"n": 10}, "t2": {"n": 30}}) == 1  # only a finished one
        again = store.row("t1")
        assert again is not None and (again.status, again.config, again.attempts) == (
            "pending",
            {"n": 10},
            0,
        )
        assert again.metrics is None and again.target_seconds is None
