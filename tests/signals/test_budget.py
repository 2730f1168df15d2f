from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import done_row
from transferscout.encoders import EncoderSpec
from transferscout.errors import ConfigError
from transferscout.grid.spec import GridSpec, expand_grid, settings_grid
from transferscout.grid.store import TrialRow
from transferscout.signals.budget import (
    MIN_DOCUMENTS,
    SignalBudget,
    fit_documents,
    plan_documents,
    project_grid_seconds,
    step_cap,
)
from transferscout.tasks import TaskSet

ENCODER = EncoderSpec("tiny")


def _row(trial: Any, seconds: float, throughput: float, **extra: Any) -> TrialRow:
    return done_row(
        id=trial.id,
        kind=trial.kind,
        target=trial.target,
        source=trial.source,
        seed=trial.seed,
        config=trial.config(),
        target_seconds=seconds,
        examples_per_second=throughput,
        **extra,
    )


def test_grid_cost_is_every_single_task_model_once_and_each_candidates_target_stage(
    tasks: TaskSet,
) -> None:
    slow, fast = settings_grid(learning_rate=[1e-4, 2e-4], epochs=[2])
    grid = GridSpec(target_settings=(slow, fast), source_settings=(slow,), seeds=(0, 1))
    trials = expand_grid(grid, tasks, ENCODER, "f")
    singles = [t for t in trials if t.kind == "single" and t.seed == 0]
    seconds = {"food": 10.0, "water": 20.0, "shelter": 30.0}
    # Only the `slow` setting of each task was trained (seed 0); `fast` stages are projected
    # from the median throughput: examples x epochs / (examples per second).
    rows = [
        _row(t, seconds[t.target], throughput=4.0) for t in singles if t.target_settings == slow
    ]
    sizes = {tasks[n].fingerprint: len(tasks[n].train) for n in tasks.names}
    projected_fast = {n: len(tasks[n].train) * 2 / 4.0 for n in tasks.names}
    expected = 0.0
    for task in tasks.names:
        # Its four single-task models (2 settings x 2 seeds): seed 1 of `slow` costs what
        # seed 0 took (same data, same settings), `fast` is projected for both seeds.
        expected += 2 * seconds[task] + 2 * projected_fast[task]
        # Two sources x two target settings: each candidate's target stage, once per
        # candidate (not per seed); the source stage is a single-task model counted above.
        expected += 2 * (seconds[task] + projected_fast[task])
    assert project_grid_seconds(trials, rows, sizes) == pytest.approx(expected)


def test_a_finished_transfers_realised_seconds_are_never_read(tasks: TaskSet) -> None:
    stage = settings_grid(learning_rate=[1e-4])
    grid = GridSpec(
        targets=("food",), sources=("water",), target_settings=stage, source_settings=stage
    )
    trials = expand_grid(grid, tasks, ENCODER, "f")
    single_rows = [_row(t, 10.0, 1.0) for t in trials if t.kind == "single"]
    transfer = next(t for t in trials if t.kind == "transfer")
    sizes = {tasks[n].fingerprint: len(tasks[n].train) for n in tasks.names}
    # Two single-task models (food, water) and the transfer's target stage (as food's).
    assert len(single_rows) == 2
    assert project_grid_seconds(trials, single_rows, sizes) == 30.0
    done = _row(transfer, 7.0, 1.0, source_seconds=5.0)
    assert project_grid_seconds(trials, [*single_rows, done], sizes) == 30.0


def test_no_finished_trial_cannot_be_projected(tasks: TaskSet) -> None:
    trials = expand_grid(GridSpec(), tasks, ENCODER, "f")
    with pytest.raises(ConfigError, match="no trial of the run has finished"):
        project_grid_seconds(trials, [], {})


def test_budget_share_and_what_is_left() -> None:
    budget = SignalBudget(grid_seconds=1000.0, fraction=0.05, spent_seconds=20.0)
    assert budget.seconds == 50.0 and budget.left == 30.0
    assert SignalBudget(1000.0, 0.01, 20.0).left == 0.0
    with pytest.raises(ConfigError, match="signals.budget"):
        SignalBudget(1000.0, 0.0)


def test_plan_takes_the_largest_cap_within_half_the_budget() -> None:
    # 3 models, every document 10 tokens: cost(cap) = 3 * cap * 10 tokens * 5 points * 0.01 s.
    def tokens_at(cap: int) -> tuple[int, int]:
        return 3 * cap, 3 * cap * 10

    budget = SignalBudget(grid_seconds=10_000.0, fraction=0.05, spent_seconds=100.0)
    plan = plan_documents(budget, tokens_at, points=5, seconds_per_token_point=0.01)
    # Half of the 400 s left is 200 s = 1.5 s per document cap -> cap 133, bounded by 100.
    assert plan.max_documents == 100
    tight = SignalBudget(grid_seconds=1000.0, fraction=0.05, spent_seconds=0.0)
    plan = plan_documents(tight, tokens_at, points=5, seconds_per_token_point=0.01)
    assert plan.max_documents == 16  # 1.5 s x 16 = 24 <= 25 < 25.5
    assert plan.projected_seconds == pytest.approx(24.0)
    assert plan.attributions == 48 and plan.tokens == 480
    assert "48 attributions × 5 points" in plan.describe()
    assert "2.4% of the grid" in plan.describe()
    starved = SignalBudget(grid_seconds=10.0, fraction=0.05)
    assert (
        plan_documents(starved, tokens_at, points=5, seconds_per_token_point=0.01).max_documents
        == MIN_DOCUMENTS
    )
    # A cap under the minimum is kept, and no larger set is ever asked for.
    asked: list[int] = []

    def recorded(cap: int) -> tuple[int, int]:
        asked.append(cap)
        return tokens_at(cap)

    small = plan_documents(budget, recorded, points=5, seconds_per_token_point=0.01, cap=6)
    assert small.max_documents == 6 and max(asked) == 6


def test_step_cap_charges_every_try_on_the_probe() -> None:
    """Probe of 10 tokens, 100 other tokens, 0.01 s per token·point, steps 2, 4, 8, ...

    A cap of 7 tries 2, 4, 7 on the probe (3 + 5 + 8 points × 10 tokens) and 7 on the rest
    (8 × 100): 960 token·points, 9.6 s; a cap of 8: (3 + 5 + 9) × 10 + 9 × 100 = 1070, 10.7 s.
    """
    rate = {"probe_tokens": 10, "other_tokens": 100, "seconds_per_token_point": 0.01}
    assert step_cap(10.0, **rate, start=2, most=8) == 7
    assert step_cap(10.71, **rate, start=2, most=8) == 8
    assert step_cap(10.71, **rate, start=2, most=6) == 6  # never above the most
    # the probe already attributed at 2 steps is paid for: a cap of 8 costs 10.4 s
    assert step_cap(10.5, **rate, start=2, most=8, tried=2) == 8
    assert step_cap(10.5, **rate, start=2, most=8) == 7
    assert step_cap(1.0, **rate, start=2, most=8) == 2  # nothing fits: the first try
    # no probe: (steps + 1) points on 100 tokens in 10 s
    assert (
        step_cap(
            10.0, probe_tokens=0, other_tokens=100, seconds_per_token_point=0.01, start=1, most=50
        )
        == 9
    )
    assert step_cap(10.0, **{**rate, "seconds_per_token_point": 0.0}, start=2, most=8) == 8


def test_pair_examples_fit_half_the_budget() -> None:
    from transferscout.signals.budget import MAX_EXAMPLES, MIN_EXAMPLES, plan_pair_examples

    budget = SignalBudget(grid_seconds=4000.0, fraction=0.05)  # 200 s, 100 s for pair signals
    # 3 tasks of 100, 300 and 300 examples: each example costs 2 feature passes (the other
    # tasks' models) + 2 TaskEmb + 1 TextEmb = 5 passes, at 0.04 s each = 0.2 s; 100 s less
    # 4 model loads of 1 s = 96 s = 480 examples = 100 + 2 x 190 (cap 190).
    sizes = [100, 300, 300]
    assert plan_pair_examples(budget, 0.04, sizes=sizes, fixed_seconds=4.0) == 190
    assert plan_pair_examples(budget, 0.04, sizes=sizes) == 200  # 500 = 100 + 2 x 200
    # every example (700 x 0.1 s = 70 s) fits at 0.02 s per pass: the cap
    assert plan_pair_examples(budget, 0.02, sizes=sizes) == MAX_EXAMPLES
    assert plan_pair_examples(budget, 1e-5, sizes=sizes) == MAX_EXAMPLES
    assert plan_pair_examples(budget, 10.0, sizes=sizes) == MIN_EXAMPLES
    assert plan_pair_examples(budget, float("nan"), sizes=sizes) == MAX_EXAMPLES
    assert plan_pair_examples(budget, 10.0, sizes=sizes, cap=20) == 20


def test_fit_documents_takes_the_largest_cap_within_the_seconds() -> None:
    # 3 tokens per document per set, 4 points, 0.5 s per token·point: 6 s per document.
    def tokens(cap: int) -> int:
        return 3 * cap

    fit = {"points": 4, "seconds_per_token_point": 0.5, "low": 10, "high": 40}
    assert fit_documents(6 * 40, tokens, **fit) == 40  # everything fits
    assert fit_documents(6 * 23 + 5.9, tokens, **fit) == 23  # 24 would cost 144 s
    assert fit_documents(6 * 10, tokens, **fit) == 10
    assert fit_documents(6 * 10 - 0.1, tokens, **fit) is None  # not even the fewest
