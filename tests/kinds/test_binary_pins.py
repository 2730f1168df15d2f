"""Pins of what the task-kind refactor must not change for binary tasks.

A committed study is reused by trial id, so a binary task's fingerprint, a binary trial's
configuration and id, and its training must stay exactly as they were before task kinds.
The literal values below were computed with the code before the refactor.
"""

from __future__ import annotations

import numpy as np

from transferscout.encoders import EncoderSpec
from transferscout.grid.spec import TrialSpec
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


def test_binary_task_fingerprint_is_pinned() -> None:
    assert _task().fingerprint == PINNED_FINGERPRINT


def test_binary_trial_config_and_id_are_pinned() -> None:
    single = _trial(PINNED_FINGERPRINT)
    assert single.id == PINNED_SINGLE_ID
    transfer = _trial(
        PINNED_FINGERPRINT,
        kind="transfer",
        source="water",
        source_fingerprint="d" * 64,
        source_settings=StageSettings(learning_rate=2e-4, epochs=2, batch_size=16, max_length=64),
    )
    assert transfer.id == PINNED_TRANSFER_ID
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


PINNED_FINGERPRINT = "0b9e234d6e661dd2e34fc43b170f212d42d6b514ad324c093765a61749158700"
PINNED_SINGLE_ID = "c6ddbd3dfe062e837e9bede70acf8ef3"
PINNED_TRANSFER_ID = "6d91bcdeac3aa04fefa5a1d1b19a8fa7"
