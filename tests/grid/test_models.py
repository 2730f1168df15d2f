from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from transferscout.encoders import EncoderSpec
from transferscout.grid.models import matched_single_task_ids, select_single_task_models
from transferscout.grid.spec import GridSpec, TrialSpec, expand_grid, settings_grid
from transferscout.grid.store import RunStore
from transferscout.tasks import TaskSet

ENCODER = EncoderSpec("tiny")

#: Two targets with one source: target and source stages of 1 epoch, so the matched setting
#: trains 2 epochs; three single-task seeds.
GRID = GridSpec(
    targets=("food", "water"),
    sources=("shelter",),
    target_settings=settings_grid(learning_rate=[1e-3], epochs=[1]),
    source_settings=settings_grid(learning_rate=[1e-3], epochs=[1]),
    seeds=(0,),
    single_task_seeds=(1,),
    matched_single_task=True,
)


def store_of(
    run_dir: Path,
    trials: list[TrialSpec],
    scores: Callable[[TrialSpec], tuple[float, float]],
) -> Path:
    """A real store holding ``trials``, each finished with ``scores(trial)`` (validation, test)."""
    with RunStore(run_dir) as store:
        store.add_trials(
            (
                t.id,
                t.kind,
                t.target,
                t.source,
                t.source_trial and t.source_trial.id,
                t.seed,
                t.config(),
            )
            for t in trials
        )
        for trial in trials:
            validation, test = scores(trial)
            store.finish(
                trial.id,
                metrics={"validation_f1": validation, "test_f1": test, "test_accuracy": test},
                source_seconds=None if trial.kind == "single" else 1.0,
                target_seconds=1.0,
                examples_per_second=10.0,
                device="cpu",
            )
    return run_dir


def test_matched_trials_are_told_from_plain_ones_by_their_settings_alone(
    tasks: TaskSet, tmp_path: Path
) -> None:
    trials = expand_grid(GRID, tasks, ENCODER, "e" * 64)
    plain = {
        t.id
        for t in expand_grid(replace(GRID, matched_single_task=False), tasks, ENCODER, "e" * 64)
    }
    run = store_of(tmp_path, trials, lambda t: (0.5, 0.5))
    with RunStore(run, readonly=True) as store:
        rows = store.rows()
    # 2 targets x 2 seeds at 1 + 1 epochs; the source's own single-task trials stay plain
    expected = {t.id for t in trials if t.id not in plain}
    assert len(expected) == 4 and matched_single_task_ids(rows) == expected
    # no transfer in the rows: nothing to match
    assert matched_single_task_ids([r for r in rows if r.kind == "single"]) == set()


def test_a_new_targets_matched_model_is_matched_and_its_plain_one_plain(
    tasks: TaskSet, tmp_path: Path
) -> None:
    """``rank``/``search`` train a new target's single-task models only: no transfer to it."""
    trials = expand_grid(
        replace(GRID, targets=("food",), single_task_seeds=()), tasks, ENCODER, "e" * 64
    )
    reference = expand_grid(
        replace(
            GRID,
            targets=("water",),
            sources=(),
            single_task_seeds=(),
            matched_single_task=False,
            target_settings=settings_grid(learning_rate=[1e-3], epochs=[1, 2]),
        ),
        tasks,
        ENCODER,
        "e" * 64,
    )
    run = store_of(tmp_path, [*trials, *reference], lambda t: (0.5, 0.5))
    with RunStore(run, readonly=True) as store:
        matched = matched_single_task_ids(store.rows())
    water = {t.target_settings.epochs: t.id for t in reference}
    assert water[2] in matched and water[1] not in matched


def test_the_signals_models_are_the_plain_ones_even_when_a_matched_one_validates_better(
    tasks: TaskSet, tmp_path: Path
) -> None:
    trials = expand_grid(GRID, tasks, ENCODER, "e" * 64)

    def scores(trial: TrialSpec) -> tuple[float, float]:
        matched = trial.kind == "single" and trial.target_settings.epochs == 2
        return (0.9 if matched else 0.4 + 0.1 * trial.seed, 0.5)

    run = store_of(tmp_path, trials, scores)
    with RunStore(run, readonly=True) as store:
        chosen = select_single_task_models(store, tasks)
    assert {
        name: (row.seed, row.config["target"]["settings"]["epochs"]) for name, row in chosen.items()
    } == {
        "food": (1, 1),
        "water": (1, 1),
        "shelter": (1, 1),
    }
