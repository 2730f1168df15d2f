"""Pins of what the task-kind refactor must not change for binary tasks.

A committed study is reused by trial id, so a binary task's fingerprint, a binary trial's
configuration and id, and its training must stay exactly as they were before task kinds.
The literal values below were computed with the code before the refactor — except the trial
ids, re-pinned deliberately with schema 6, when ids stopped hashing the library versions: the
ids of before (``SCHEMA5_*``) are what every run folder and exported table of that time holds,
and the store's upgrade (``rekey_trials``) must map them to these.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np

from transferscout.encoders import EncoderSpec
from transferscout.grid.spec import TrialSpec
from transferscout.grid.store import _SCHEMA, rekey_trials
from transferscout.tasks.task import Split, Task
from transferscout.training.settings import StageSettings

VERSIONS = {"training_code": "1", "torch": "2.13", "transformers": "4.57"}


def _task() -> Task:
    def split(prefix: str, labels: list[int]) -> Split:
        ids = tuple(f"{prefix}{i}" for i in range(len(labels)))
        texts = tuple(f"text {prefix} {i}" for i in range(len(labels)))
        return Split(ids, texts, np.array(labels, dtype=np.int8))

    return Task("food", split("a", [1, 0, 1, 0]), split("b", [0, 1]), split("c", [1, 0]))


def _trial(target_fingerprint: str, **extra: object) -> TrialSpec:
    values: dict[str, object] = {"kind": "single", **extra}
    return TrialSpec(
        target="food",
        target_fingerprint=target_fingerprint,
        target_settings=StageSettings(learning_rate=1e-4, epochs=2, batch_size=16, max_length=64),
        seed=0,
        encoder=EncoderSpec("all-MiniLM-L6-v2", 2),
        encoder_fingerprint="e" * 64,
        versions=VERSIONS,
        **values,  # type: ignore[arg-type]
    )


def _transfer() -> TrialSpec:
    return _trial(
        PINNED_FINGERPRINT,
        kind="transfer",
        source="water",
        source_fingerprint="d" * 64,
        source_settings=StageSettings(learning_rate=2e-4, epochs=2, batch_size=16, max_length=64),
    )


def test_binary_task_fingerprint_is_pinned() -> None:
    assert _task().fingerprint == PINNED_FINGERPRINT


def test_binary_trial_config_and_id_are_pinned() -> None:
    single = _trial(PINNED_FINGERPRINT)
    assert single.id == PINNED_SINGLE_ID
    assert _transfer().id == PINNED_TRANSFER_ID
    assert set(single.config()) == {
        "kind",
        "target",
        "source",
        "seed",
        "precision",
        "encoder",
        "versions",
    }
    assert set(single.config()["target"]) == {"task", "fingerprint", "settings"}
    assert single.config()["versions"] == VERSIONS  # recorded, not hashed
    upgraded = replace(single, versions={**VERSIONS, "torch": "2.14", "transformers": "5.25"})
    assert upgraded.id == PINNED_SINGLE_ID
    assert replace(single, versions={**VERSIONS, "training_code": "2"}).id != PINNED_SINGLE_ID


def test_ids_of_before_schema_6_are_rekeyed_to_the_pinned_ids() -> None:
    single, transfer = _trial(PINNED_FINGERPRINT), _transfer()
    db = sqlite3.connect(":memory:")
    for statement in filter(str.strip, _SCHEMA.split(";")):
        db.execute(statement)
    for table in ("model_recreations (trial_id TEXT)", "pair_signals (detail TEXT)"):
        db.execute(f"CREATE TABLE {table}")
    db.execute("CREATE TABLE signal_costs (detail TEXT)")
    for trial, old_id, source_trial in (
        (single, SCHEMA5_SINGLE_ID, None),
        (transfer, SCHEMA5_TRANSFER_ID, SCHEMA5_SINGLE_ID),
    ):
        db.execute(
            "INSERT INTO trials (id, kind, target, source_trial, seed, config, status, "
            "created_at) VALUES (?, ?, 'food', ?, 0, ?, 'done', 0)",
            (old_id, trial.kind, source_trial, json.dumps(trial.config(), sort_keys=True)),
        )
    assert rekey_trials(db, None) == {
        SCHEMA5_SINGLE_ID: PINNED_SINGLE_ID,
        SCHEMA5_TRANSFER_ID: PINNED_TRANSFER_ID,
    }
    assert db.execute("SELECT id, source_trial FROM trials ORDER BY rowid").fetchall() == [
        (PINNED_SINGLE_ID, None),
        (PINNED_TRANSFER_ID, PINNED_SINGLE_ID),
    ]


PINNED_FINGERPRINT = "0b9e234d6e661dd2e34fc43b170f212d42d6b514ad324c093765a61749158700"
PINNED_SINGLE_ID = "92fa539000605b9f779506ac6c6c9392"
PINNED_TRANSFER_ID = "eb0c45b7dfd1a4009ef16f1d359ea39a"
# The same trials' ids before schema 6 (they hashed torch 2.13 and transformers 4.57).
SCHEMA5_SINGLE_ID = "c6ddbd3dfe062e837e9bede70acf8ef3"
SCHEMA5_TRANSFER_ID = "6d91bcdeac3aa04fefa5a1d1b19a8fa7"
