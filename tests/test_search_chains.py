"""A chain's stages against the configured grid (planning only: nothing is trained)."""

from __future__ import annotations

from dataclasses import replace

from transferscout.encoders import EncoderSpec
from transferscout.grid.spec import ChainStage, GridSpec, TrialSpec, expand_grid, settings_grid
from transferscout.search import describe_stage, stages_outside_grid
from transferscout.tasks import TaskSet

ENCODER = EncoderSpec("tiny")
FINGERPRINT = "e" * 64


def _chain(grid: GridSpec, tasks: TaskSet) -> TrialSpec:
    """encoder -> water -> shelter -> food, built as the search builds it from two candidates."""
    transfers = [t for t in expand_grid(grid, tasks, ENCODER, FINGERPRINT) if t.kind == "transfer"]
    best = next(t for t in transfers if (t.source, t.target) == ("shelter", "food"))
    second = next(t for t in transfers if (t.source, t.target) == ("water", "food"))
    assert second.source_settings is not None
    earlier = ChainStage("water", tasks["water"].fingerprint, second.source_settings)
    return replace(best, kind="chain", earlier=(earlier,))


def test_a_middle_stage_with_the_grids_target_settings_is_a_grid_trial(tasks: TaskSet) -> None:
    grid = GridSpec(
        target_settings=settings_grid(learning_rate=[1e-4, 2e-4]),
        source_settings=settings_grid(learning_rate=[1e-4]),
    )
    planned = {t.id for t in expand_grid(grid, tasks, ENCODER, FINGERPRINT)}
    chain = _chain(grid, tasks)
    assert chain.id not in planned  # a chain is never a grid trial
    assert stages_outside_grid(chain, planned) == []


def test_a_middle_stage_with_source_settings_outside_the_grid_is_named(tasks: TaskSet) -> None:
    # Source stages train with 5e-5, which no target stage of the grid uses: the stage
    # water -> shelter (shelter trained with 5e-5) is not a grid trial; water's own single-task
    # stage (a shared source stage) is.
    grid = GridSpec(
        target_settings=settings_grid(learning_rate=[1e-4, 2e-4]),
        source_settings=settings_grid(learning_rate=[5e-5]),
    )
    planned = {t.id for t in expand_grid(grid, tasks, ENCODER, FINGERPRINT)}
    chain = _chain(grid, tasks)
    outside = stages_outside_grid(chain, planned)
    assert [(s.kind, s.source, s.target) for s in outside] == [("transfer", "water", "shelter")]
    assert (
        describe_stage(outside[0]) == "encoder -> water -> shelter (learning rate 5e-05, epochs 1)"
    )
    # A stage outside a grid that leaves shelter out of the targets, for the same reason.
    narrow = replace(grid, targets=("food", "water"), source_settings=grid.target_settings[:1])
    planned = {t.id for t in expand_grid(narrow, tasks, ENCODER, FINGERPRINT)}
    outside = stages_outside_grid(_chain(narrow, tasks), planned)
    assert [(s.source, s.target) for s in outside] == [("water", "shelter")]
