from __future__ import annotations

from dataclasses import replace

import pytest

from transferscout.encoders import EncoderSpec
from transferscout.errors import ConfigError, DataError
from transferscout.grid.spec import (
    GridSpec,
    TrialSpec,
    expand_grid,
    matched_settings,
    settings_grid,
)
from transferscout.tasks import TaskSet
from transferscout.training.settings import StageSettings

ENCODER = EncoderSpec("tiny")
FINGERPRINT = "e" * 64


def _single(**changes: object) -> TrialSpec:
    base = TrialSpec(
        kind="single",
        target="food",
        target_fingerprint="f" * 64,
        target_settings=StageSettings(),
        seed=0,
        encoder=ENCODER,
        encoder_fingerprint=FINGERPRINT,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_trial_id_is_stable_and_sensitive_to_every_setting() -> None:
    base = _single()
    assert base.id == _single().id and len(base.id) == 32
    variants = [
        _single(seed=1),
        _single(precision="bf16"),
        _single(target_fingerprint="g" * 64),
        _single(encoder_fingerprint="x" * 64),
        _single(encoder=EncoderSpec("tiny", num_layers=1)),
        _single(target_settings=StageSettings(learning_rate=3e-5)),
        _single(target_settings=StageSettings(weight_decay=0.0)),
        _single(versions={**base.versions, "training_code": "0"}),
    ]
    assert len({base.id, *(v.id for v in variants)}) == len(variants) + 1
    # The installed libraries are recorded with the trial, not part of what it is.
    upgraded = _single(versions={**base.versions, "torch": "0.1", "transformers": "0.2"})
    assert upgraded.id == base.id and upgraded.config()["versions"]["transformers"] == "0.2"
    # The task's name is a label; its data (fingerprint) is what identifies the trial.
    assert _single(target="renamed").id == base.id


def test_source_trial_of_a_transfer_is_the_single_task_trial_of_the_source() -> None:
    transfer = TrialSpec(
        kind="transfer",
        target="food",
        target_fingerprint="f" * 64,
        target_settings=StageSettings(),
        seed=3,
        encoder=ENCODER,
        encoder_fingerprint=FINGERPRINT,
        source="water",
        source_fingerprint="w" * 64,
        source_settings=StageSettings(learning_rate=5e-5),
    )
    source = transfer.source_trial
    assert source is not None
    expected = _single(
        target="water",
        target_fingerprint="w" * 64,
        target_settings=StageSettings(learning_rate=5e-5),
        seed=3,
    )
    assert source.id == expected.id
    assert transfer.id != source.id
    with pytest.raises(ValueError, match="needs a source"):
        replace(transfer, source_settings=None)


def test_settings_grid_is_the_product() -> None:
    grid = settings_grid(learning_rate=[1e-5, 2e-5], epochs=[1, 2], batch_size=[16])
    assert len(grid) == 4
    assert grid[1] == StageSettings(learning_rate=1e-5, epochs=2, batch_size=16)
    with pytest.raises(ConfigError, match="non-empty list"):
        settings_grid(learning_rate=[])
    with pytest.raises(ConfigError, match="unknown stage setting 'lr'"):
        settings_grid(lr=[1e-5])


def test_expansion_counts(tasks: TaskSet) -> None:
    grid = GridSpec(
        sources=("food", "water"),
        target_settings=settings_grid(learning_rate=[1e-5, 2e-5]),
        source_settings=settings_grid(learning_rate=[2e-5]),
        seeds=(0, 1),
    )
    trials = expand_grid(grid, tasks, ENCODER, FINGERPRINT)
    singles = [t for t in trials if t.kind == "single"]
    transfers = [t for t in trials if t.kind == "transfer"]
    # 3 targets x 2 settings x 2 seeds; the source stages (lr 2e-5) coincide with targets'.
    assert len(singles) == 12
    # pairs: food<-water, water<-food, shelter<-food, shelter<-water = 4, x 2 settings x 2 seeds
    assert len(transfers) == 16
    assert trials[: len(singles)] == singles  # single-task trials come first
    assert len({t.id for t in trials}) == len(trials)
    ids = {t.id for t in singles}
    assert all(t.source_trial is not None and t.source_trial.id in ids for t in transfers)
    assert trials == expand_grid(grid, tasks, ENCODER, FINGERPRINT)


def test_single_task_seeds_repeat_only_single_task_trials(tasks: TaskSet) -> None:
    grid = GridSpec(
        sources=("food", "water"),
        target_settings=settings_grid(learning_rate=[1e-5, 2e-5]),
        source_settings=settings_grid(learning_rate=[2e-5]),
        seeds=(0,),
        single_task_seeds=(0, 1, 2),  # 0 is already a seed: not repeated
    )
    trials = expand_grid(grid, tasks, ENCODER, FINGERPRINT)
    singles = [t for t in trials if t.kind == "single"]
    transfers = [t for t in trials if t.kind == "transfer"]
    # 3 targets x 2 settings x 3 seeds
    assert len(singles) == 18
    assert sorted({t.seed for t in singles}) == [0, 1, 2]
    assert len(transfers) == 8  # 4 pairs x 2 settings, seed 0 only
    assert {t.seed for t in transfers} == {0}
    with pytest.raises(ConfigError, match="grid.single_task_seeds"):
        GridSpec(single_task_seeds=(1, 1))


def test_matched_single_task_trials_train_targets_for_a_transfers_total_epochs(
    tasks: TaskSet,
) -> None:
    grid = GridSpec(
        sources=("food", "water"),
        target_settings=settings_grid(learning_rate=[1e-5, 2e-5], epochs=[2]),
        source_settings=settings_grid(learning_rate=[2e-5], epochs=[1, 2]),
        seeds=(0,),
        single_task_seeds=(1,),
    )
    plain = expand_grid(grid, tasks, ENCODER, FINGERPRINT)
    matched = expand_grid(replace(grid, matched_single_task=True), tasks, ENCODER, FINGERPRINT)
    added = [t for t in matched if t.id not in {p.id for p in plain}]
    # the plain grid's trials keep their ids and order; the matched ones are single-task
    # trials, after the plain single-task trials and before every transfer
    assert [t for t in matched if t not in added] == plain
    singles = [t for t in matched if t.kind == "single"]
    assert matched[: len(singles)] == singles and singles[-len(added) :] == added
    # 3 targets x (2 target lrs x total epochs 2+1, 2+2) x 2 single-task seeds
    assert len(added) == 3 * 4 * 2
    assert {(t.target_settings.learning_rate, t.target_settings.epochs) for t in added} == {
        (1e-5, 3),
        (1e-5, 4),
        (2e-5, 3),
        (2e-5, 4),
    }
    assert {t.seed for t in added} == {0, 1} and {t.target for t in added} == set(tasks.names)
    # the target stage's other settings are kept
    assert {t.target_settings.batch_size for t in added} == {StageSettings().batch_size}


def test_a_matched_setting_the_grid_already_has_is_the_same_trial(tasks: TaskSet) -> None:
    grid = GridSpec(
        targets=("food",),
        sources=("water",),
        target_settings=settings_grid(epochs=[2, 4]),
        source_settings=settings_grid(epochs=[2]),
        matched_single_task=True,
    )
    # 2 + 2 = 4 is a target setting already; only 4 + 2 = 6 is new
    assert [s.epochs for s in matched_settings(grid)] == [4, 6]
    trials = expand_grid(grid, tasks, ENCODER, FINGERPRINT)
    food = [t.target_settings.epochs for t in trials if t.kind == "single" and t.target == "food"]
    assert food == [2, 4, 6]
    assert len({t.id for t in trials}) == len(trials)
    # no source, no transfer to match: nothing is added
    alone = replace(grid, sources=())
    assert expand_grid(alone, tasks, ENCODER, FINGERPRINT) == expand_grid(
        replace(alone, matched_single_task=False), tasks, ENCODER, FINGERPRINT
    )


def test_self_transfer_when_allowed(tasks: TaskSet) -> None:
    grid = GridSpec(targets=("food",), sources=("food",), allow_self_transfer=True)
    transfers = [t for t in expand_grid(grid, tasks, ENCODER, FINGERPRINT) if t.kind == "transfer"]
    assert [(t.source, t.target) for t in transfers] == [("food", "food")]


def test_bad_grids_fail_before_training(tasks: TaskSet) -> None:
    with pytest.raises(DataError, match="unknown task 'soup'"):
        expand_grid(GridSpec(targets=("soup",)), tasks, ENCODER, FINGERPRINT)
    with pytest.raises(DataError, match="unknown task 'tea'"):
        expand_grid(GridSpec(sources=("tea",)), tasks, ENCODER, FINGERPRINT)
    with pytest.raises(ConfigError, match="target 'food' has no source task"):
        expand_grid(GridSpec(targets=("food",), sources=("food",)), tasks, ENCODER, FINGERPRINT)
    with pytest.raises(ConfigError, match="more than once"):
        expand_grid(GridSpec(targets=("food", "food")), tasks, ENCODER, FINGERPRINT)
    with pytest.raises(ConfigError, match="grid.target_settings is empty"):
        GridSpec(target_settings=())
    with pytest.raises(ConfigError, match="grid.seeds is empty"):
        GridSpec(seeds=())
    with pytest.raises(ConfigError, match="repeated seeds"):
        GridSpec(seeds=(1, 1))
    with pytest.raises(ConfigError, match="precision"):
        GridSpec(precision="fp8")  # type: ignore[arg-type]


def test_a_chain_starts_from_the_transfer_trial_that_ends_in_its_last_source() -> None:
    from transferscout.grid.spec import ChainStage

    first = ChainStage("water", "w" * 64, StageSettings(learning_rate=5e-5))
    chain = _single(
        kind="chain",
        source="shelter",
        source_fingerprint="s" * 64,
        source_settings=StageSettings(learning_rate=3e-5),
        earlier=(first,),
    )
    middle = chain.source_trial
    assert middle is not None and middle.kind == "transfer"
    assert (middle.target, middle.source) == ("shelter", "water")
    assert middle.target_settings == StageSettings(learning_rate=3e-5)
    assert middle.source_settings == StageSettings(learning_rate=5e-5)
    start = middle.source_trial
    assert start is not None and start.kind == "single" and start.target == "water"
    assert chain.sources == ("water", "shelter") and middle.sources == ("water",)
    # The chain entry exists only for chains: transfer and single configurations are unchanged.
    assert chain.config()["chain"][0]["task"] == "water"
    assert "chain" not in middle.config() and "chain" not in start.config()
    transfer = replace(chain, kind="transfer", earlier=())
    assert len({chain.id, transfer.id, middle.id}) == 3
    with pytest.raises(ValueError, match="chained"):
        replace(chain, earlier=())


def test_a_chain_stage_records_its_kind_only_when_not_binary() -> None:
    from transferscout.grid.spec import ChainStage

    settings = StageSettings(learning_rate=5e-5)
    binary = ChainStage("water", "w" * 64, settings)
    topic = ChainStage("topic", "t" * 64, settings, task_kind="multiclass", outputs=4)
    assert binary.config() == {
        "task": "water",
        "fingerprint": "w" * 64,
        "settings": settings.as_dict(),
    }
    assert topic.config()["task_kind"] == "multiclass" and topic.config()["outputs"] == 4
    chain = _single(
        kind="chain",
        source="words",
        source_fingerprint="r" * 64,
        source_settings=settings,
        source_kind="regression",
        source_outputs=1,
        earlier=(topic,),
    )
    # Each stage trains with its own head: the middle transfer trial ends in the regression
    # source and starts from the multi-class single-task trial.
    middle = chain.source_trial
    assert middle is not None and middle.kind == "transfer"
    assert (middle.target_kind, middle.target_outputs) == ("regression", 1)
    assert (middle.source_kind, middle.source_outputs) == ("multiclass", 4)
    start = middle.source_trial
    assert start is not None and start.kind == "single"
    assert (start.target_kind, start.target_outputs) == ("multiclass", 4)
    assert (start.source_kind, start.source_outputs) == ("binary", 2)
    assert chain.id != replace(chain, earlier=(replace(topic, task_kind="binary", outputs=2),)).id
