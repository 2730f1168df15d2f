"""The run's durable trial store: one SQLite database in the run folder, one writer at a time.

Every write goes through :meth:`RunStore._transaction`, which commits or rolls back as a
whole; the database runs in WAL mode with ``synchronous=FULL``, so a ``kill -9`` at any point
leaves either the old or the new state of a trial, never half of one.  A second writer is
refused through an exclusive ``flock`` on ``store.lock`` (released by the OS when the holder
dies, so a crashed run never leaves a stale lock).  Readers (``status``) need no lock.
:func:`run_lock` holds that lock across the stages of a whole run; stores opened by this
process meanwhile share it.  A write the environment refuses (a full disk, an I/O error, a
read-only file) is a :class:`StoreWriteError` naming the store and what to do; its transaction
is rolled back, so everything committed before it stays.

A store that cannot be read, or one that is empty or missing while the folder holds an earlier
run (``config.json``, stage markers, models), is an error naming the file and what to do —
never silently a new run.  Each store has an identity, created with it, which the stage
markers of the pipeline record: a marker describes only the store it was written with.

Schema 6 gave trials the ids of ``grid/identity.py`` (library versions no longer hashed):
upgrading a store computes every trial's id from its stored configuration and renames every
reference (``source_trial``, ``model_recreations``, the trial ids that signal details name, the
model files of ``models/``); a store opened read-only at an older schema is read through an
upgraded copy in memory, so every reader sees the ids the planner computes.  Imported tables
exported before schema 6 are re-keyed the same way (:func:`rekey_trials`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from transferscout.errors import TransferScoutError
from transferscout.grid.faults import crash_point, store_growth_limit
from transferscout.grid.identity import trial_id

__all__ = [
    "FIRST_MEASUREMENT",
    "SCHEMA_VERSION",
    "Recreation",
    "RunLockedError",
    "RunStore",
    "StoreWriteError",
    "TrialRow",
    "check_run_folder",
    "rekey_trials",
    "run_lock",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 6
Status = Literal["pending", "running", "done", "failed"]

_TRIALS_COLUMNS = """
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('single', 'transfer', 'chain')),
    target TEXT NOT NULL,
    source TEXT,
    source_trial TEXT,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    metrics TEXT,
    source_seconds REAL,
    target_seconds REAL,
    examples_per_second REAL,
    device TEXT,
    worker TEXT,
    error TEXT,
    traceback TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trials ({_TRIALS_COLUMNS});
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
"""

# Each entry upgrades a store from the previous version to its key: an SQL script, or (6) a
# function of the open transaction and the run's models folder (None: rename no file).
_Migration = str | Callable[[sqlite3.Connection, Path | None], object]
_MIGRATIONS: dict[int, _Migration] = {
    2: """
CREATE TABLE IF NOT EXISTS pair_signals (
    family TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    detail TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (family, source, target, name)
);
CREATE TABLE IF NOT EXISTS signal_costs (
    family TEXT NOT NULL,
    item TEXT NOT NULL,
    seconds REAL NOT NULL,
    detail TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (family, item)
);
""",
    3: """
CREATE TABLE IF NOT EXISTS store_identity (
    id TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('created', 'migrated')),
    created_at REAL NOT NULL
);
""",
    # Chained trials (encoder -> A1 -> A2 -> B): SQLite cannot change a CHECK constraint in
    # place, so the trials table is rebuilt with the new kind allowed, rows copied as they are.
    4: f"""
CREATE TABLE trials_v4 ({_TRIALS_COLUMNS});
INSERT INTO trials_v4 SELECT * FROM trials;
DROP TABLE trials;
ALTER TABLE trials_v4 RENAME TO trials;
CREATE INDEX IF NOT EXISTS trials_status ON trials (status);
""",
    # A finished trial trained again because its model file was lost keeps its first
    # measurement in ``trials``; each retraining is recorded here (``RunStore.finish``).
    5: """
CREATE TABLE IF NOT EXISTS model_recreations (
    trial_id TEXT NOT NULL,
    requeued_at REAL NOT NULL,
    first TEXT NOT NULL,
    seconds REAL,
    examples_per_second REAL,
    device TEXT,
    worker TEXT,
    metrics TEXT,
    same_metrics INTEGER,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (trial_id, requeued_at)
);
""",
    # Trial ids no longer hash the library versions: every id is computed again from its
    # stored configuration, and every reference to it renamed (rekey_trials).
    6: lambda db, models: rekey_trials(db, models),
}

#: What a trial's row keeps from its first training when its lost model is trained again: its
#: measured cost and timing.  Its metrics become the retrained model's (the model on disk),
#: which equal the first ones whenever training reproduces them.
FIRST_MEASUREMENT = (
    "source_seconds",
    "target_seconds",
    "examples_per_second",
    "device",
    "worker",
    "started_at",
    "finished_at",
)


class RunLockedError(TransferScoutError):
    """Another process is writing to this run folder."""


class StoreWriteError(TransferScoutError):
    """The environment refused a write to the run's store (full disk, I/O error, read-only)."""


#: SQLite's primary result codes that are the environment's, not the program's, and what to do.
_ENVIRONMENT_CODES = {
    sqlite3.SQLITE_FULL: "free space on the disk that holds it (or move the run folder to one "
    "with room)",
    sqlite3.SQLITE_IOERR: "check the disk that holds it (or move the run folder to another)",
    sqlite3.SQLITE_READONLY: "make the file, its folder and their file system writable",
    sqlite3.SQLITE_PERM: "make the file, its folder and their file system writable",
    sqlite3.SQLITE_CANTOPEN: "make the file, its folder and their file system writable",
    sqlite3.SQLITE_BUSY: "close the other program that has it open",
    sqlite3.SQLITE_LOCKED: "close the other program that has it open",
}


def check_run_folder(run_dir: str | Path) -> None:
    """Check that ``run_dir`` is (or can be created as) a folder this process can write in.

    Raises:
        TransferScoutError: It, or a folder above it, is a file, or it cannot be written.
    """
    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise TransferScoutError(f"{folder}: is a file, not a run folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise TransferScoutError(f"{existing}: is a file, not a folder (in the path of {folder})")
    try:  # the one true test: permissions, read-only mounts, ACLs
        with tempfile.TemporaryFile(dir=existing, prefix=".transferscout-probe-"):
            pass
    except OSError as error:
        raise TransferScoutError(
            f"cannot write in {existing} ({error.strerror}); choose a run folder you can write"
        ) from None


# Run folders whose lock this process holds through run_lock(): lock path -> [file, users].
_HELD: dict[Path, list[Any]] = {}


def _lock_path(run_dir: Path) -> Path:
    return (run_dir / "store.lock").resolve()


def _acquire(run_dir: Path) -> Any:
    """Take the run's exclusive lock and return its open file (refused if another holds it)."""
    handle = (run_dir / "store.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunLockedError(
            f"{run_dir}: the run is being written by {holder}; wait for it to finish "
            "or stop it (only one process may write a run)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} on {os.uname().nodename}\n")
    handle.flush()
    return handle


def _release(handle: Any) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run's writer lock for a whole run; stores opened meanwhile here share it.

    The folder is checked (and created) first; nothing else is written.
    """
    folder = Path(run_dir)
    check_run_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = _lock_path(folder)
    if key in _HELD:
        _HELD[key][1] += 1
    else:
        _HELD[key] = [_acquire(folder), 1]
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if not _HELD[key][1]:
            _release(_HELD.pop(key)[0])


def _past_run_files(run_dir: Path) -> list[str]:
    """What in the folder shows an earlier run (the store is created before any of them)."""
    found = []
    if (run_dir / "config.json").exists():
        found.append("config.json")
    for folder in ("stages", "models"):
        if (run_dir / folder).is_dir() and any((run_dir / folder).iterdir()):
            found.append(f"{folder}/")
    return found


@dataclass(frozen=True)
class TrialRow:
    """One stored trial, as read back from the database."""

    id: str
    kind: str
    target: str
    source: str | None
    source_trial: str | None
    seed: int
    config: dict[str, Any]
    status: Status
    attempts: int
    metrics: dict[str, Any] | None
    source_seconds: float | None
    target_seconds: float | None
    examples_per_second: float | None
    device: str | None
    worker: str | None
    error: str | None
    traceback: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True)
class Recreation:
    """One training again of a finished trial whose model file was lost.

    The trial's row keeps its first measurement (``first``: its metrics and the
    ``FIRST_MEASUREMENT`` fields as they were when the loss was found); the rest describes
    the retraining, and is ``None`` until it has finished.

    Attributes:
        trial_id: The trial.
        requeued_at: When the lost model was found and the trial was put back to pending.
        first: The trial's metrics and first measurement before the retraining.
        seconds: The retraining's training seconds (never charged to the trial).
        examples_per_second: Its throughput.
        device: Where it ran.
        worker: What ran it.
        metrics: The retrained model's results (the trial's results from then on).
        same_metrics: Whether they equal the first ones exactly.
        started_at: When the retraining started.
        finished_at: When it finished.
    """

    trial_id: str
    requeued_at: float
    first: dict[str, Any]
    seconds: float | None
    examples_per_second: float | None
    device: str | None
    worker: str | None
    metrics: dict[str, Any] | None
    same_metrics: bool | None
    started_at: float | None
    finished_at: float | None


class RunStore:
    """The trial table of one run folder.

    Open it as a writer (``RunStore(run_dir)``, which takes the run's lock) or read-only
    (``RunStore(run_dir, readonly=True)``); use it as a context manager or call :meth:`close`.
    """

    def __init__(self, run_dir: str | Path, *, readonly: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "store.sqlite"
        self.readonly = readonly
        self.identity: str | None = None
        self.origin: str | None = None
        self._lock_handle: Any = None
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise TransferScoutError(f"{self.run_dir}: is a file, not a run folder")
        if readonly:
            if not self.path.exists():
                self._refuse_lost_store("is missing")
                raise TransferScoutError(f"{self.run_dir}: no run here (no store.sqlite)")
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        else:
            check_run_folder(self.run_dir)
            if not self.path.exists():
                self._refuse_lost_store("is missing")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if _lock_path(self.run_dir) not in _HELD:
                self._lock_handle = _acquire(self.run_dir)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if not readonly and (pages := store_growth_limit()) is not None:
                count = self._db.execute("PRAGMA page_count").fetchone()[0]
                self._db.execute(f"PRAGMA max_page_count = {int(count) + pages}")  # a number
            self._open()
        except BaseException:
            self.close()
            raise
        self._db.row_factory = sqlite3.Row

    def _open(self) -> None:
        """Check the file is a readable store of a known version; create or upgrade it."""
        try:
            check = self._db.execute("PRAGMA quick_check").fetchone()  # reads every page
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
            version = None
            if "schema_version" in tables:
                row = self._db.execute("SELECT version FROM schema_version").fetchone()
                version = None if row is None else int(row[0])
        except sqlite3.DatabaseError as error:
            self._refuse_damaged(str(error))
        if check[0] != "ok":
            self._refuse_damaged(str(check[0]))
        if tables and "schema_version" not in tables:
            raise TransferScoutError(
                f"{self.path}: not a transferscout run store (an SQLite file with the tables "
                f"{', '.join(sorted(tables))}); use another run folder"
            )
        if version is not None and version > SCHEMA_VERSION:
            raise TransferScoutError(
                f"{self.path}: schema version {version} is newer than this transferscout "
                f"reads ({SCHEMA_VERSION}); upgrade transferscout or use a new run folder"
            )
        if not tables:
            self._refuse_lost_store("is empty")
            if self.readonly:
                raise TransferScoutError(
                    f"{self.run_dir}: the run is being created; no trial is recorded yet"
                )
        if not self.readonly:
            with self._refusals():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._create_schema()
        elif version is not None and version < SCHEMA_VERSION:
            self._upgrade_in_memory(version)
        if "store_identity" in tables or not self.readonly:
            self.identity, self.origin = self._db.execute(
                "SELECT id, origin FROM store_identity"
            ).fetchone()

    def _upgrade_in_memory(self, version: int) -> None:
        """Read an older store through an upgraded copy in memory; the file is left as it is.

        A reader sees the schema (and the trial ids) of this version; the next writer upgrades
        the file itself, model files included.
        """
        copy = sqlite3.connect(":memory:", isolation_level=None)
        self._db.backup(copy)
        self._db.close()
        self._db = copy
        copy.execute("BEGIN")
        _migrate(copy, version, None)
        copy.execute("COMMIT")

    def _refuse_lost_store(self, state: str) -> None:
        past = _past_run_files(self.run_dir)
        if past:
            raise TransferScoutError(
                f"{self.path} {state}, but {self.run_dir} holds an earlier run "
                f"({', '.join(past)}): its trials and signals are in no store. Restore "
                "store.sqlite from a backup (or `transferscout tables import`), or move "
                f"{self.run_dir} away to start the run afresh; nothing was changed"
            )

    def _refuse_damaged(self, reason: str) -> NoReturn:
        raise TransferScoutError(
            f"{self.path}: the run's store cannot be read ({reason}); it is damaged or not a "
            "transferscout store. Restore it from a backup (or `transferscout tables "
            f"import`), or move {self.run_dir} away to start the run afresh; nothing was "
            "changed"
        )

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the database and release the lock (unless a :func:`run_lock` holds it)."""
        if hasattr(self, "_db"):
            self._db.close()
        if self._lock_handle is not None:
            _release(self._lock_handle)
            self._lock_handle = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise TransferScoutError("this store was opened read-only")
        with self._refusals():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        """Turn a write the environment refuses into a :class:`StoreWriteError`."""
        try:
            yield
        except sqlite3.OperationalError as error:
            code = getattr(error, "sqlite_errorcode", None)
            advice = None if code is None else _ENVIRONMENT_CODES.get(code & 0xFF)
            if advice is None:
                raise
            raise StoreWriteError(
                f"{self.path}: the run's store cannot be written ({error}); {advice}, then run "
                "the same command again: everything recorded before is kept"
            ) from None

    def _create_schema(self) -> None:
        with self._transaction() as db:
            _execute_script(db, _SCHEMA)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = 1 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise TransferScoutError(
                    f"{self.path}: schema version {version} is newer than this transferscout "
                    f"reads ({SCHEMA_VERSION}); upgrade transferscout or use a new run folder"
                )
            _migrate(db, version, self.run_dir / "models")
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            else:
                db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            if db.execute("SELECT COUNT(*) FROM store_identity").fetchone()[0] == 0:
                db.execute(
                    "INSERT INTO store_identity (id, origin, created_at) VALUES (?, ?, ?)",
                    (uuid.uuid4().hex, "created" if row is None else "migrated", time.time()),
                )

    # -- writes --------------------------------------------------------------------------
    def add_trials(
        self, trials: Iterable[tuple[str, str, str, str | None, str | None, int, dict[str, Any]]]
    ) -> int:
        """Insert new trials as pending; trials already stored (same id) are left alone.

        Each item is ``(id, kind, target, source, source_trial, seed, config)``.
        Returns how many were new.
        """
        now = time.time()
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO trials (id, kind, target, source, source_trial, seed, "
                "config, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(*item[:6], json.dumps(item[6], sort_keys=True), now) for item in trials],
            )
            return db.total_changes - before

    def requeue_interrupted(self) -> int:
        """Put trials left ``running`` by a crashed process back to ``pending``."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE trials SET status = 'pending', started_at = NULL WHERE status = 'running'"
            ).rowcount

    def requeue_lost_models(self, trial_ids: Iterable[str]) -> int:
        """Put finished trials whose model file was lost back to ``pending``.

        Each trial's metrics and first measurement are kept aside (an open
        :class:`Recreation`): :meth:`finish` puts the measurement back when the model has been
        trained again.  Trials that are not ``done`` are left alone.  Returns how many were
        requeued.
        """
        now = time.time()
        with self._transaction() as db:
            requeued = 0
            for trial_id in trial_ids:
                row = db.execute(
                    "SELECT * FROM trials WHERE id = ? AND status = 'done'", (trial_id,)
                ).fetchone()
                if row is None:
                    continue
                first = {"metrics": _loads(row["metrics"])}
                first.update({field: row[field] for field in FIRST_MEASUREMENT})
                db.execute(
                    "INSERT INTO model_recreations (trial_id, requeued_at, first) VALUES (?, ?, ?)",
                    (trial_id, now, json.dumps(first, sort_keys=True)),
                )
                db.execute(
                    "UPDATE trials SET status = 'pending', metrics = NULL WHERE id = ?",
                    (trial_id,),
                )
                requeued += 1
            return requeued

    def retrain(self, configs: Mapping[str, dict[str, Any]]) -> int:
        """Put finished trials back to ``pending``, to be trained again from scratch.

        ``configs`` maps each trial's id to its configuration as planned now (the library
        versions it will be trained under); its results, measurement and attempts are cleared.
        Trials that are not ``done`` are left alone.  Returns how many were put back.
        """
        with self._transaction() as db:
            return sum(
                db.execute(
                    "UPDATE trials SET status = 'pending', config = ?, attempts = 0, "
                    "metrics = NULL, source_seconds = NULL, target_seconds = NULL, "
                    "examples_per_second = NULL, device = NULL, worker = NULL, error = NULL, "
                    "traceback = NULL, started_at = NULL, finished_at = NULL "
                    "WHERE id = ? AND status = 'done'",
                    (json.dumps(config, sort_keys=True), trial_id),
                ).rowcount
                for trial_id, config in configs.items()
            )

    def record_configs(self, configs: Mapping[str, dict[str, Any]]) -> int:
        """Record the configurations of trials not finished (the versions they will train with).

        A finished trial keeps the configuration it was trained with.  Returns how many
        changed.
        """
        with self._transaction() as db:
            return sum(
                db.execute(
                    "UPDATE trials SET config = ? WHERE id = ? AND status != 'done' "
                    "AND config != ?",
                    (text, trial_id, text),
                ).rowcount
                for trial_id, text in (
                    (i, json.dumps(c, sort_keys=True)) for i, c in configs.items()
                )
            )

    def start(self, trial_id: str, worker: str) -> None:
        """Mark a trial ``running`` and count the attempt."""
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = 'running', attempts = attempts + 1, "
                "started_at = ?, worker = ? WHERE id = ?",
                (time.time(), worker, trial_id),
            )

    def finish(
        self,
        trial_id: str,
        *,
        metrics: dict[str, Any],
        source_seconds: float | None,
        target_seconds: float,
        examples_per_second: float,
        device: str,
    ) -> Recreation | None:
        """Record a finished trial's results and mark it ``done``.

        A trial trained again because its model file was lost (:meth:`requeue_lost_models`)
        takes the new results — the model on disk is the new one — but keeps its first
        measurement (seconds, throughput, device, worker, times): a trial is charged its
        training as first measured for its configuration.  The retraining's own measurement
        and whether its results equal the first are recorded in ``model_recreations`` and
        returned; otherwise ``None``.
        """
        text = json.dumps(metrics, sort_keys=True)
        now = time.time()
        with self._transaction() as db:
            recreating = db.execute(
                "SELECT requeued_at, first FROM model_recreations "
                "WHERE trial_id = ? AND finished_at IS NULL",
                (trial_id,),
            ).fetchone()
            measured = {
                "source_seconds": source_seconds,
                "target_seconds": target_seconds,
                "examples_per_second": examples_per_second,
                "device": device,
                "finished_at": now,
            }
            recreation = None
            if recreating is not None:
                first = json.loads(recreating["first"])
                current = db.execute(
                    "SELECT worker, started_at FROM trials WHERE id = ?", (trial_id,)
                ).fetchone()
                recreation = Recreation(
                    trial_id=trial_id,
                    requeued_at=recreating["requeued_at"],
                    first=first,
                    seconds=target_seconds,
                    examples_per_second=examples_per_second,
                    device=device,
                    worker=current["worker"],
                    metrics=metrics,
                    same_metrics=json.dumps(first["metrics"], sort_keys=True) == text,
                    started_at=current["started_at"],
                    finished_at=now,
                )
                db.execute(
                    "UPDATE model_recreations SET seconds = ?, examples_per_second = ?, "
                    "device = ?, worker = ?, metrics = ?, same_metrics = ?, started_at = ?, "
                    "finished_at = ? WHERE trial_id = ? AND requeued_at = ?",
                    (
                        target_seconds,
                        examples_per_second,
                        device,
                        recreation.worker,
                        text,
                        recreation.same_metrics,
                        recreation.started_at,
                        now,
                        trial_id,
                        recreation.requeued_at,
                    ),
                )
                measured = {field: first[field] for field in FIRST_MEASUREMENT}
            assignments = ", ".join(f"{field} = ?" for field in measured)
            db.execute(
                f"UPDATE trials SET status = 'done', metrics = ?, {assignments}, "  # fixed names
                "error = NULL, traceback = NULL WHERE id = ?",
                (text, *measured.values(), trial_id),
            )
            crash_point("finishing")
        return recreation

    def fail(self, trial_id: str, error: str, traceback: str = "") -> None:
        """Mark a trial ``failed`` with its error and traceback."""
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = 'failed', error = ?, traceback = ?, finished_at = ? "
                "WHERE id = ?",
                (error, traceback, time.time(), trial_id),
            )

    def put_pair_signals(
        self, family: str, values: Iterable[tuple[str, str, str, float]], detail: dict[str, Any]
    ) -> None:
        """Store signal values ``(source, target, name, value)`` of a family, replacing old ones.

        A NaN value (a signal undefined for the pair, e.g. LEEP of a regression source) is
        not stored: it reads back as missing (an earlier value of it is removed).
        """
        values = list(values)
        missing = [(family, s, t, n) for s, t, n, v in values if math.isnan(float(v))]
        values = [(s, t, n, v) for s, t, n, v in values if not math.isnan(float(v))]
        now = time.time()
        text = json.dumps(detail, sort_keys=True)
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM pair_signals WHERE family = ? AND source = ? AND target = ? "
                "AND name = ?",
                missing,
            )
            db.executemany(
                "INSERT OR REPLACE INTO pair_signals (family, source, target, name, value, "
                "detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(family, s, t, n, float(v), text, now) for s, t, n, v in values],
            )

    def put_cost(self, family: str, item: str, seconds: float, detail: dict[str, Any]) -> None:
        """Record what computing a signal item cost (replacing an earlier record)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO signal_costs (family, item, seconds, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (family, item, seconds, json.dumps(detail, sort_keys=True), time.time()),
            )

    def import_rows(
        self,
        trials: Iterable[dict[str, Any]],
        signals: Iterable[dict[str, Any]],
        costs: Iterable[dict[str, Any]],
        recreations: Iterable[dict[str, Any]] = (),
    ) -> None:
        """Insert exported rows as they were (a store rebuilt from committed tables).

        Tables exported before schema 6 name trials by ids that hashed the library versions;
        they are re-keyed as an upgrade of the store would (:func:`rekey_trials`).
        """
        with self._transaction() as db:
            _insert_rows(db, "trials", TrialRow, ("config", "metrics"), trials)
            _insert_rows(db, "model_recreations", Recreation, ("first", "metrics"), recreations)
            db.executemany(
                "INSERT OR REPLACE INTO pair_signals (family, source, target, name, value, detail, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r["family"],
                        r["source"],
                        r["target"],
                        r["name"],
                        r["value"],
                        json.dumps(r["detail"], sort_keys=True),
                        time.time(),
                    )
                    for r in signals
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO signal_costs (family, item, seconds, detail, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        r["family"],
                        r["item"],
                        r["seconds"],
                        json.dumps(r["detail"], sort_keys=True),
                        time.time(),
                    )
                    for r in costs
                ],
            )
            rekey_trials(db, None)

    # -- reads ---------------------------------------------------------------------------
    def pair_signals(self, family: str | None = None) -> list[dict[str, Any]]:
        """Stored pair signals as dicts (family, source, target, name, value, detail)."""
        return self._with_detail("pair_signals", "family, source, target, name, value", family)

    def costs(self, family: str | None = None) -> list[dict[str, Any]]:
        """Recorded signal costs as dicts (family, item, seconds, detail)."""
        return self._with_detail("signal_costs", "family, item, seconds", family)

    def _with_detail(self, table: str, columns: str, family: str | None) -> list[dict[str, Any]]:
        query = f"SELECT {columns}, detail FROM {table}"  # both names are fixed above
        params: tuple[str, ...] = ()
        if family is not None:
            query += " WHERE family = ?"
            params = (family,)
        rows = self._db.execute(query + " ORDER BY rowid", params).fetchall()
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    def recreations(self) -> list[Recreation]:
        """Every training again of a trial whose model file was lost, in the order found.

        A store of schema 4 or older (read-only, so not upgraded) has none.
        """
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'model_recreations'"
        ).fetchone()
        if exists is None:
            return []
        query = "SELECT * FROM model_recreations ORDER BY requeued_at, trial_id"
        return [_recreation(r) for r in self._db.execute(query)]

    def rows(self, *, status: Status | None = None, kind: str | None = None) -> list[TrialRow]:
        """Stored trials in insertion order, optionally filtered."""
        query = "SELECT * FROM trials"
        clauses: list[str] = []
        params: list[object] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY rowid"
        return [_row(r) for r in self._db.execute(query, params)]

    def row(self, trial_id: str) -> TrialRow | None:
        """One trial, or ``None``."""
        found = self._db.execute("SELECT * FROM trials WHERE id = ?", (trial_id,)).fetchone()
        return None if found is None else _row(found)

    def counts(self) -> dict[str, int]:
        """Number of trials per status (every status present, possibly 0)."""
        counts = dict.fromkeys(("pending", "running", "done", "failed"), 0)
        for status, count in self._db.execute(
            "SELECT status, COUNT(*) FROM trials GROUP BY status"
        ):
            counts[status] = count
        return counts


def _migrate(db: sqlite3.Connection, version: int, models: Path | None) -> None:
    """Upgrade a store of ``version`` to :data:`SCHEMA_VERSION` inside the open transaction."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        step = _MIGRATIONS[target]
        if isinstance(step, str):
            _execute_script(db, step)
        else:
            step(db, models)


def rekey_trials(db: sqlite3.Connection, models: Path | None) -> dict[str, str]:
    """Give every stored trial the id of its configuration (``grid/identity.py``).

    A trial whose configuration records no ``versions`` keeps its id.  Runs inside the
    caller's transaction.  Every reference follows: ``source_trial``, ``model_recreations``,
    trial ids named in signal details (``models``, ``trial``), and — with ``models``, the
    run's models folder — each trial's model file (renamed before the transaction commits; a
    rename already done is skipped, so a store upgraded again after a crash finds its files).
    A trial stored twice under two ids (planned again after a library upgrade, before schema
    6) keeps one row: a finished one if any, else the latest planned; the other's row is
    dropped, its model file left where it is.  Returns ``{old: new}`` of the ids that changed
    (empty when every id is already its configuration's).
    """
    rows = db.execute("SELECT id, config, status, created_at FROM trials ORDER BY rowid").fetchall()
    configs = {row[0]: json.loads(row[1]) for row in rows}
    renamed = {
        old: new
        for old, config in configs.items()
        # a configuration without versions was never hashed with them: its id stays
        if isinstance(config, dict) and "versions" in config and (new := trial_id(config)) != old
    }
    if not renamed:
        return {}
    rank = {"done": 3, "failed": 2, "running": 1, "pending": 0}
    kept: dict[str, tuple[int, float, str]] = {}
    for old, _, status, created_at in rows:
        new = renamed.get(old, old)
        candidate = (rank[status], created_at, old)
        if new not in kept or candidate[:2] > kept[new][:2]:
            kept[new] = candidate
    survivors = {entry[2] for entry in kept.values()}
    dropped = [row[0] for row in rows if row[0] not in survivors]
    if dropped:
        logger.warning(
            "%d trials were stored twice (planned again under other library versions): each "
            "keeps one row, a finished one where there is one",
            len(dropped),
        )
    db.executemany("DELETE FROM trials WHERE id = ?", [(old,) for old in dropped])
    moving = [(old, new) for old, new in renamed.items() if old in survivors]
    # Through temporary ids, so that no new id meets an old one while the rows are renamed.
    db.executemany("UPDATE trials SET id = ? WHERE id = ?", [(f"~{o}", o) for o, _ in moving])
    db.executemany("UPDATE trials SET id = ? WHERE id = ?", [(n, f"~{o}") for o, n in moving])
    db.executemany(
        "UPDATE trials SET source_trial = ? WHERE source_trial = ?",
        [(new, old) for old, new in renamed.items()],
    )
    db.executemany(
        "UPDATE OR REPLACE model_recreations SET trial_id = ? WHERE trial_id = ?",
        [(new, old) for old, new in renamed.items()],
    )
    for table in ("pair_signals", "signal_costs"):
        texts: dict[str, str] = {}
        for rowid, detail in db.execute(f"SELECT rowid, detail FROM {table}").fetchall():
            if detail not in texts:  # the fixed names above
                texts[detail] = json.dumps(_renamed(json.loads(detail), renamed), sort_keys=True)
            if texts[detail] != detail:
                db.execute(f"UPDATE {table} SET detail = ? WHERE rowid = ?", (texts[detail], rowid))
    if models is not None:
        for old, new in moving:
            path, target = models / f"{old}.safetensors", models / f"{new}.safetensors"
            if path.exists() and not target.exists():
                path.rename(target)
    return renamed


def _renamed(value: Any, renamed: Mapping[str, str]) -> Any:
    """A JSON value with every string that is a renamed trial id replaced by its new id."""
    if isinstance(value, str):
        return renamed.get(value, value)
    if isinstance(value, list):
        return [_renamed(item, renamed) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item, renamed) for key, item in value.items()}
    return value


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    # One statement at a time: executescript() would commit the open transaction.
    for statement in filter(str.strip, script.split(";")):
        db.execute(statement)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _insert_rows(
    db: sqlite3.Connection,
    table: str,
    record: type[TrialRow] | type[Recreation],
    json_columns: tuple[str, ...],
    rows: Iterable[dict[str, Any]],
) -> None:
    columns = list(record.__dataclass_fields__)  # the table's columns, in its order
    db.executemany(
        f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "  # fixed names
        f"VALUES ({', '.join('?' for _ in columns)})",
        [
            tuple(
                json.dumps(row[c], sort_keys=True)
                if c in json_columns and row[c] is not None
                else row[c]
                for c in columns
            )
            for row in rows
        ],
    )


def _row(row: sqlite3.Row) -> TrialRow:
    data = dict(row)
    data["config"] = json.loads(data["config"])
    data["metrics"] = _loads(data["metrics"])
    return TrialRow(**data)


def _recreation(row: sqlite3.Row) -> Recreation:
    data = dict(row)
    data["first"] = json.loads(data["first"])
    data["metrics"] = _loads(data["metrics"])
    if data["same_metrics"] is not None:
        data["same_metrics"] = bool(data["same_metrics"])
    return Recreation(**data)
