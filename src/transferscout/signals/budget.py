"""What the signals may cost: a share of the projected full-grid cost, and a plan within it.

The product exists to save training time, so the signals are held to a budget: by default 5%
of what training the whole grid would cost, every training counted once as the evaluation
counts it — each single-task model once, and each candidate ``A → B`` its target stage (its
source stage is A's single-task model).  A target stage costs what the single-task trial with
the same task and settings took (it trains the same data with the same settings; where no
such trial finished, the stage is projected from the run's median training throughput).

The attribution plan then chooses how many documents each ANSAT set holds so that the
projected attribution cost (model × document attributions × tokens × integration points ×
the seconds per token and point measured on the first model's probe) fits the share
of the budget the other signals leave.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from transferscout.encoders import EncoderSpec
from transferscout.errors import ConfigError
from transferscout.grid.runner import plan_trials
from transferscout.grid.spec import GridSpec, TrialSpec
from transferscout.grid.store import RunStore, TrialRow
from transferscout.signals.adaptive import step_schedule
from transferscout.tasks.task import TaskSet

__all__ = [
    "AttributionPlan",
    "SignalBudget",
    "fit_documents",
    "grid_budget",
    "plan_documents",
    "plan_pair_examples",
    "training_throughput",
    "project_grid_seconds",
    "step_cap",
]

#: Documents per set are never planned below this (fewer make ANSAT a coin toss) ...
MIN_DOCUMENTS = 10
#: ... nor above this (the former default: more barely move ANSAT's mean).
MAX_DOCUMENTS = 100
#: Share of the attribution budget planned for; the rest is headroom for models whose
#: adaptive integration needs more points than the first one did.
PLANNED_SHARE = 0.5


@dataclass(frozen=True)
class SignalBudget:
    """The signals' budget in seconds: ``fraction`` of the projected full-grid seconds.

    Attributes:
        grid_seconds: Projected cost of training every transfer candidate the signals rank.
        fraction: Share of it the signals may spend (``signals.budget``).
        spent_seconds: Already spent by other signals of the same run (charged first).
    """

    grid_seconds: float
    fraction: float = 0.05
    spent_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"signals.budget = {self.fraction}; expected a share in (0, 1]")

    @property
    def seconds(self) -> float:
        """The whole budget in seconds."""
        return self.fraction * self.grid_seconds

    @property
    def left(self) -> float:
        """What is left for attributions (never below 0)."""
        return max(0.0, self.seconds - self.spent_seconds)


def project_grid_seconds(
    trials: Sequence[TrialSpec],
    rows: Sequence[TrialRow],
    train_sizes: Mapping[str, int],
) -> float:
    """Projected seconds of training the grid of ``trials``, every training counted once.

    The grid is every single-task trial (every setting and seed) plus, for every transfer
    candidate — a distinct (source, target, source settings, target settings) — its target
    stage: a candidate's source stage *is* the source's single-task model, trained once
    however many candidates start from it.  A single-task trial costs its own recorded
    seconds once finished; a target stage costs what the finished single-task trials with
    the same task data and settings took (mean over seeds: the same training), and anything
    not yet measured is ``examples × epochs / throughput`` with the median training
    throughput (examples per second) of the run's finished trials.  Realised transfer hours
    are never read: the projection follows the configuration and the measured throughput.

    Args:
        trials: The planned trials (single-task and transfer).
        rows: The run's stored trials (only finished ones are read).
        train_sizes: Task data fingerprint -> number of training examples.

    Raises:
        ConfigError: A stage must be projected but no trial of the run has finished.
    """
    done = [r for r in rows if r.status == "done" and r.target_seconds is not None]
    by_id = {r.id: r for r in done if r.kind == "single"}
    stages: dict[str, list[float]] = {}
    for row in by_id.values():
        stages.setdefault(_stage_key(row.config["target"]), []).append(
            float(row.target_seconds or 0.0)
        )
    throughput = training_throughput(done)

    def stage_seconds(fingerprint: str, settings: Mapping[str, object]) -> float:
        seen = stages.get(_stage_key({"fingerprint": fingerprint, "settings": settings}))
        if seen:
            return sum(seen) / len(seen)
        if math.isnan(throughput):
            raise ConfigError(
                "cannot project the grid's cost: no trial of the run has finished; train the "
                "single-task models first"
            )
        epochs = int(settings["epochs"])  # type: ignore[call-overload]
        return float(train_sizes[fingerprint] * epochs / throughput)

    total = 0.0
    seen_candidates: set[tuple[str, ...]] = set()
    for trial in trials:
        config = trial.config()
        target = config["target"]
        if trial.kind == "single":
            finished = by_id.get(trial.id)
            total += (
                float(finished.target_seconds or 0.0)
                if finished is not None
                else stage_seconds(target["fingerprint"], target["settings"])
            )
            continue
        if trial.kind != "transfer":
            continue
        candidate = (_stage_key(config["source"]), _stage_key(target))
        if candidate in seen_candidates:  # another seed of the same candidate
            continue
        seen_candidates.add(candidate)
        total += stage_seconds(target["fingerprint"], target["settings"])
    return total


#: Cost families of the attribution stage (the rest is "other signals", charged first).
ATTRIBUTION_FAMILIES = ("conductance", "ansat")


def grid_budget(
    run_dir: str | Path,
    tasks: TaskSet,
    grid: GridSpec,
    encoder: EncoderSpec,
    *,
    fraction: float = 0.05,
    cost_prefix: str = "",
) -> SignalBudget:
    """The signals' budget of a run: ``fraction`` of its projected grid.

    What the other signals (cost families with ``cost_prefix``, attributions aside) have
    already spent is charged to it first.
    """
    trials = plan_trials(grid, tasks, encoder)
    with RunStore(run_dir, readonly=True) as store:
        rows = store.rows()
        costs = store.costs()
    sizes = {task.fingerprint: len(task.train) for task in tasks.tasks}
    spent = 0.0
    for cost in costs:
        family = str(cost["family"])
        own = family.startswith(cost_prefix) if cost_prefix else ":" not in family
        if own and family.removeprefix(cost_prefix) not in ATTRIBUTION_FAMILIES:
            spent += float(cost["seconds"])
    return SignalBudget(project_grid_seconds(trials, rows, sizes), fraction, spent)


def training_throughput(rows: Sequence[TrialRow]) -> float:
    """Median training examples per second of the finished trials (NaN if none)."""
    speeds = sorted(
        r.examples_per_second or 0.0
        for r in rows
        if r.status == "done" and _positive(r.examples_per_second)
    )
    return speeds[len(speeds) // 2] if speeds else math.nan


#: TaskEmb's forward and backward pass (no weight gradients) in inference passes.
TASKEMB_PASSES = 2.0
#: Pair signals are planned within this share of the budget; attributions get the rest.
PAIR_SHARE = 0.5
#: Fewest and most training examples per task the pair signals use when derived.
MIN_EXAMPLES, MAX_EXAMPLES = 32, 500


def plan_pair_examples(
    budget: SignalBudget,
    seconds_per_example: float,
    *,
    sizes: Sequence[int],
    fixed_seconds: float = 0.0,
    cap: int = MAX_EXAMPLES,
) -> int:
    """Training examples per task for the pair signals, within their share of the budget.

    With a cap of ``c`` examples per task, task ``t`` contributes ``min(sizes[t], c)``
    examples, and each costs ``n − 1`` feature passes (every other task's model on it; its
    own model's features come from the TaskEmb pass), the TaskEmb pass (forward and
    backward, :data:`TASKEMB_PASSES`) and one TextEmb pass, each ``seconds_per_example``
    (an inference pass, measured).  ``fixed_seconds`` (loading the models) comes off the
    share first.

    The budget wins over the estimators' wish for more examples than the features have
    dimensions (the plain H-score inverts their covariance): a floor at the dimension (385
    for MiniLM) took a 2-hour grid's signals to 7.7% of it (BENCHMARKS.md).

    Returns:
        The largest cap whose cost fits :data:`PAIR_SHARE` of the budget (``cap`` when every
        example fits), but never below :data:`MIN_EXAMPLES`.
    """
    if not _positive(seconds_per_example):
        return cap
    passes = len(sizes) - 1 + TASKEMB_PASSES + 1
    share = PAIR_SHARE * budget.seconds - fixed_seconds

    def fits(examples: int) -> bool:
        return passes * sum(min(s, examples) for s in sizes) * seconds_per_example <= share

    low = min(MIN_EXAMPLES, cap)
    found = largest_within(low, cap, fits)
    return low if found is None else found


def largest_within(low: int, high: int, fits: Callable[[int], bool]) -> int | None:
    """The largest ``n`` in ``[low, high]`` with ``fits(n)`` (``None``: not even ``low``).

    ``fits`` must be monotone (a cost that grows with ``n`` against a fixed allowance):
    bisection, ``O(log(high - low))`` calls.
    """
    if fits(high):
        return high
    if not fits(low):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _stage_key(stage: Mapping[str, object]) -> str:
    settings = stage["settings"]
    assert isinstance(settings, Mapping)
    return f"{stage['fingerprint']}|{sorted(settings.items())}"


@dataclass(frozen=True)
class AttributionPlan:
    """How many documents the ANSAT sets hold, and what that is projected to cost.

    Attributes:
        max_documents: Cap on each document set.
        attributions: Model × document attributions still to compute.
        tokens: Their tokens (each document counted once per model).
        points: Integration points per attribution assumed by the projection.
        seconds_per_token_point: Measured attribution throughput.
        projected_seconds: ``tokens × points × seconds_per_token_point``.
        budget: The signals' budget.
    """

    max_documents: int
    attributions: int
    tokens: int
    points: int
    seconds_per_token_point: float
    projected_seconds: float
    budget: SignalBudget

    def describe(self) -> str:
        """One line for the log: attributions × points ≈ time ≈ share of the grid."""
        total = self.projected_seconds + self.budget.spent_seconds
        share = total / self.budget.grid_seconds * 100 if self.budget.grid_seconds else math.nan
        return (
            f"signals: {self.attributions:,} attributions × {self.points} points "
            f"(≤ {self.max_documents} documents per set) ≈ {_duration(self.projected_seconds)}"
            f"; with what is spent already ({_duration(self.budget.spent_seconds)}: other "
            f"signals, calibration) ≈ {share:.1f}% "
            f"of the grid ({_duration(self.budget.grid_seconds)}; budget "
            f"{self.budget.fraction * 100:g}%)"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def plan_documents(
    budget: SignalBudget,
    tokens_at: Callable[[int], tuple[int, int]],
    *,
    points: int,
    seconds_per_token_point: float,
    cap: int | None = MAX_DOCUMENTS,
) -> AttributionPlan:
    """The largest documents-per-set cap whose attributions fit the planned share of the budget.

    Args:
        budget: The signals' budget.
        tokens_at: Documents-per-set cap -> (attributions, tokens) still to compute with it;
            non-decreasing in the cap.
        points: Integration points per attribution.
        seconds_per_token_point: Measured seconds per token and integration point.
        cap: Never more documents per set than this (``None``: :data:`MAX_DOCUMENTS`).

    Returns:
        The plan; its cap is at least :data:`MIN_DOCUMENTS` (or ``cap`` when smaller) even
        when that overruns the budget (the caller warns).
    """
    upper = cap or MAX_DOCUMENTS
    floor = min(MIN_DOCUMENTS, upper)
    fitted = fit_documents(
        PLANNED_SHARE * budget.left,
        lambda documents: tokens_at(documents)[1],
        points=points,
        seconds_per_token_point=seconds_per_token_point,
        low=floor,
        high=upper,
    )
    low = floor if fitted is None else fitted
    attributions, tokens = tokens_at(low)
    return AttributionPlan(
        max_documents=low,
        attributions=attributions,
        tokens=tokens,
        points=points,
        seconds_per_token_point=seconds_per_token_point,
        projected_seconds=tokens * points * seconds_per_token_point,
        budget=budget,
    )


def fit_documents(
    seconds: float,
    tokens_at: Callable[[int], int],
    *,
    points: int,
    seconds_per_token_point: float,
    low: int,
    high: int,
) -> int | None:
    """The largest documents-per-set cap in ``[low, high]`` whose attributions fit ``seconds``.

    Args:
        seconds: What the attributions may cost.
        tokens_at: Cap -> tokens still to attribute with it; non-decreasing in the cap.
        points: Integration points per attribution.
        seconds_per_token_point: Measured seconds per token and integration point.
        low: The fewest documents per set.
        high: The most documents per set.

    Returns:
        The cap (``high`` when it fits), or ``None`` when not even ``low`` fits.
    """

    def fits(documents: int) -> bool:
        return tokens_at(documents) * points * seconds_per_token_point <= seconds

    return largest_within(low, high, fits)


#: Share of its part of the budget a model's step cap aims at: the throughput is measured on
#: the models before it, and the last model has no later one to absorb an overrun.
STEP_CAP_AIM = 0.95


def step_cap(
    seconds: float,
    *,
    probe_tokens: int,
    other_tokens: int,
    seconds_per_token_point: float,
    start: int,
    most: int,
    tried: int | None = None,
) -> int:
    """The most steps one model's adaptive integration may reach within ``seconds``.

    Charged at its worst: the probe attributed at every count of
    :func:`~transferscout.signals.adaptive.step_schedule` up to the cap (but ``tried``, a
    count already attributed and paid for), then the model's other documents at the cap.

    Args:
        seconds: The model's share of the budget.
        probe_tokens: Tokens of its probe documents.
        other_tokens: Tokens of its other documents.
        seconds_per_token_point: Measured attribution throughput.
        start: The steps tried first (the cap is never below).
        most: The steps it may never exceed.
        tried: Steps the probe was already attributed with.

    Returns:
        The largest cap in ``[start, most]`` whose worst case fits, else ``start``.
    """
    if seconds_per_token_point <= 0:
        return max(start, most)

    def cost(cap: int) -> float:
        tries = sum(steps + 1 for steps in step_schedule(start, cap) if steps != tried)
        points = probe_tokens * tries + other_tokens * (cap + 1)
        return points * seconds_per_token_point

    for cap in range(most, start, -1):  # the cost grows with the cap
        if cost(cap) <= seconds:
            return cap
    return start
