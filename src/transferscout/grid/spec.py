"""Trials and the declarative grid that expands to them.

A *trial* is one model to train and evaluate: a single-task trial (encoder -> B), a
transfer trial (encoder -> A -> B), or a chained trial (encoder -> A1 -> A2 -> ... -> B,
Vu et al.'s sequential transfer).  It is identified by a stable hash of what determines
its result by design — task data fingerprints, encoder fingerprint, both stages' settings,
seed, precision and the training code's own version (``grid/identity.py``) — so the same
trial never runs twice and any change makes a new trial.  The installed torch and
transformers versions are recorded in its configuration, not in its id: a library upgrade
keeps every finished trial.  The source stage of a transfer trial *is* the
single-task trial of A with the source settings: it is trained once and shared.  The source
stage of a chained trial is the transfer (or shorter chained) trial that ends in its last
source; a chained trial's configuration gets a ``chain`` entry, which single-task and transfer
trials never have, so their ids are unchanged by the chain kind's existence.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from transferscout.encoders import EncoderSpec
from transferscout.errors import ConfigError
from transferscout.grid.identity import trial_id
from transferscout.tasks.task import TaskSet, unknown_task_error
from transferscout.training.settings import Precision, StageSettings

__all__ = [
    "TRAINING_CODE_VERSION",
    "ChainStage",
    "GridSpec",
    "TrialSpec",
    "expand_grid",
    "matched_settings",
    "settings_grid",
    "stage_head",
]

#: Bump when a change to the training code changes results: every trial id changes with it.
TRAINING_CODE_VERSION = 1

TrialKind = Literal["single", "transfer", "chain"]


@dataclass(frozen=True)
class ChainStage:
    """An earlier source stage of a chained trial: a task, its data fingerprint and settings.

    ``task_kind`` and ``outputs`` (the stage's head) are recorded like a transfer trial's
    source kind: only when not binary, so binary chains keep their ids.
    """

    task: str
    fingerprint: str
    settings: StageSettings
    task_kind: str = "binary"
    outputs: int = 2

    def config(self) -> dict[str, Any]:
        """The stage's part of a trial configuration."""
        return {
            "task": self.task,
            "fingerprint": self.fingerprint,
            "settings": self.settings.as_dict(),
            **_head(self.task_kind, self.outputs),
        }


def _result_versions() -> dict[str, str]:
    """The training code's version and the installed torch and transformers (major.minor).

    All are recorded in a trial's configuration; only ``training_code`` is part of its id.
    """
    import torch
    import transformers

    def major_minor(version: str) -> str:
        return ".".join(version.split("+")[0].split(".")[:2])

    return {
        "training_code": str(TRAINING_CODE_VERSION),
        "torch": major_minor(torch.__version__),
        "transformers": major_minor(transformers.__version__),
    }


@dataclass(frozen=True)
class TrialSpec:
    """One model to train: ``encoder -> target`` or ``encoder -> source -> target``.

    A chained trial (``kind="chain"``) trains ``encoder -> earlier[0] -> ... -> source ->
    target``: ``earlier`` lists the source stages before ``source``, first first.
    """

    kind: TrialKind
    target: str
    target_fingerprint: str
    target_settings: StageSettings
    seed: int
    encoder: EncoderSpec
    encoder_fingerprint: str
    precision: Precision = "fp32"
    source: str | None = None
    source_fingerprint: str | None = None
    source_settings: StageSettings | None = None
    versions: dict[str, str] = field(default_factory=_result_versions, compare=False)
    target_kind: str = "binary"
    target_outputs: int = 2
    source_kind: str = "binary"
    source_outputs: int = 2
    earlier: tuple[ChainStage, ...] = ()

    def __post_init__(self) -> None:
        has_source = self.kind in ("transfer", "chain")
        given = (self.source, self.source_fingerprint, self.source_settings)
        if has_source != all(part is not None for part in given) or (
            not has_source and any(part is not None for part in given)
        ):
            raise ValueError("a transfer trial needs a source, its fingerprint and settings")
        if (self.kind == "chain") != bool(self.earlier):
            raise ValueError("a chained trial, and only one, has earlier source stages")

    def config(self) -> dict[str, Any]:
        """The trial's full configuration (JSON-serialisable), as stored with its result.

        It records the installed library versions (``versions``); :attr:`id` hashes the rest.
        """
        config = self._config()
        if self.kind == "chain":  # only here: the other kinds' configurations stay as they were
            config["chain"] = [stage.config() for stage in self.earlier]
        return config

    def _config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": {
                "task": self.target,
                "fingerprint": self.target_fingerprint,
                "settings": self.target_settings.as_dict(),
                **_head(self.target_kind, self.target_outputs),
            },
            "source": None
            if self.source_settings is None
            else {
                "task": self.source,
                "fingerprint": self.source_fingerprint,
                "settings": self.source_settings.as_dict(),
                **_head(self.source_kind, self.source_outputs),
            },
            "seed": self.seed,
            "precision": self.precision,
            "encoder": {
                "source": self.encoder.source,
                "num_layers": self.encoder.num_layers,
                "fingerprint": self.encoder_fingerprint,
            },
            "versions": self.versions,
        }

    @cached_property
    def id(self) -> str:
        """A stable 32-hex-digit hash of :meth:`config` without task names and library versions."""
        return trial_id(self.config())

    @property
    def source_trial(self) -> TrialSpec | None:
        """The trial whose model this one starts from (``None`` for a single-task trial).

        A transfer trial starts from the single-task trial of its source; a chained trial
        from the trial that ends in its last source (a transfer trial for a two-source chain).
        """
        if self.kind == "single":
            return None
        assert self.source and self.source_fingerprint and self.source_settings
        stage = replace(
            self,
            target=self.source,
            target_fingerprint=self.source_fingerprint,
            target_settings=self.source_settings,
            target_kind=self.source_kind,
            target_outputs=self.source_outputs,
        )
        if not self.earlier:
            return replace(
                stage,
                kind="single",
                source=None,
                source_fingerprint=None,
                source_settings=None,
                source_kind="binary",
                source_outputs=2,
            )
        *before, last = self.earlier
        return replace(
            stage,
            kind="chain" if before else "transfer",
            source=last.task,
            source_fingerprint=last.fingerprint,
            source_settings=last.settings,
            source_kind=last.task_kind,
            source_outputs=last.outputs,
            earlier=tuple(before),
        )

    @property
    def sources(self) -> tuple[str, ...]:
        """The source tasks in training order (empty for a single-task trial)."""
        if self.source is None:
            return ()
        return (*(stage.task for stage in self.earlier), self.source)


def _head(kind: str, outputs: int) -> dict[str, Any]:
    """A stage's task kind and head width, recorded only when not binary.

    Binary stages leave them out, so binary trials keep the configuration (and the id) they
    had before task kinds existed.
    """
    return {} if kind == "binary" else {"task_kind": kind, "outputs": outputs}


def stage_head(stage: dict[str, Any]) -> tuple[str, int]:
    """``(kind, outputs)`` of a stored trial configuration's ``target`` or ``source`` part."""
    return str(stage.get("task_kind", "binary")), int(stage.get("outputs", 2))


def settings_grid(**values: Sequence[Any]) -> tuple[StageSettings, ...]:
    """Every combination of the given :class:`StageSettings` field values.

    Example:
        >>> settings_grid(learning_rate=[2e-5, 5e-5], epochs=[1])  # two settings
    """
    known = set(StageSettings.__dataclass_fields__)
    for name, options in values.items():
        if name not in known:
            raise ConfigError(f"unknown stage setting {name!r}; expected one of {sorted(known)}")
        if isinstance(options, str) or not isinstance(options, Sequence) or len(options) == 0:
            raise ConfigError(f"{name} = {options!r}; expected a non-empty list of values")
    names = list(values)
    return tuple(
        StageSettings(**dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(values[name] for name in names))
    )


@dataclass(frozen=True)
class GridSpec:
    """A declarative grid of trials.

    Attributes:
        targets: Target tasks (``None``: every task of the task set).
        sources: Source tasks for transfer trials (``None``: every task; ``()``: no transfer).
        target_settings: Settings tried for single-task models and for the target stage.
        source_settings: Settings tried for the source stage of transfer trials.
        seeds: Seeds; every trial is run once per seed.
        single_task_seeds: Extra seeds for single-task trials only (every single-task trial
            of the grid is also run once per extra seed), to measure seed noise without
            repeating every transfer trial.  Transfer trials use ``seeds`` only.
        allow_self_transfer: Whether a task may be its own source (A -> A).
        precision: ``"fp32"`` or ``"bf16"`` (autocast); part of every trial's identity.
        matched_single_task: Also train, per target with a source, the compute-matched
            single-task trials (:func:`matched_settings`), for every single-task seed: the
            yardstick that separates "transfer helps" from "more training helps".
    """

    targets: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    target_settings: tuple[StageSettings, ...] = (StageSettings(),)
    source_settings: tuple[StageSettings, ...] = (StageSettings(),)
    seeds: tuple[int, ...] = (0,)
    single_task_seeds: tuple[int, ...] = ()
    allow_self_transfer: bool = False
    precision: Precision = "fp32"
    matched_single_task: bool = False

    def __post_init__(self) -> None:
        for name in (
            "targets",
            "sources",
            "target_settings",
            "source_settings",
            "seeds",
            "single_task_seeds",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        for name in ("target_settings", "seeds"):
            if not getattr(self, name):
                raise ConfigError(f"grid.{name} is empty; expected at least one value")
        if self.targets is not None and not self.targets:
            raise ConfigError("grid.targets is empty; expected at least one task (or all)")
        if self.sources and not self.source_settings:
            raise ConfigError("grid.source_settings is empty; expected at least one setting")
        for name in ("seeds", "single_task_seeds"):
            seeds = getattr(self, name)
            if len(set(seeds)) != len(seeds):
                raise ConfigError(f"grid.{name} = {list(seeds)} has repeated seeds")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"grid.precision = {self.precision!r}; expected 'fp32' or 'bf16'")


def matched_settings(grid: GridSpec) -> tuple[StageSettings, ...]:
    """The compute-matched single-task settings of a grid's transfers, in a stable order.

    A transfer trains its encoder for ``source epochs + target epochs``; its compute-matched
    single-task model trains the target for as many epochs, with the target stage's other
    settings: one setting per (source settings, target settings) combination, without
    repeats.  Settings the grid already trains single-task models with are included (they
    are the same trials).
    """
    combos = itertools.product(grid.source_settings, grid.target_settings)
    matched = (replace(t, epochs=s.epochs + t.epochs) for s, t in combos)
    return tuple(dict.fromkeys(matched))


def expand_grid(
    grid: GridSpec,
    tasks: TaskSet,
    encoder: EncoderSpec,
    encoder_fingerprint: str,
) -> list[TrialSpec]:
    """All trials of a grid, single-task trials first, without duplicates, in a stable order.

    Single-task trials cover every target with the target settings and every source with
    the source settings (these are the shared source stages); with
    ``grid.matched_single_task``, every target that has a source also gets the
    compute-matched settings (:func:`matched_settings`) — a setting the grid already has is
    the same trial (same id), never a duplicate — after the plain ones.

    Raises:
        DataError: A task name is not in ``tasks``.
        ConfigError: A target would have no source (e.g. its only source is itself while
            self-transfer is not allowed).
    """
    targets = list(grid.targets if grid.targets is not None else tasks.names)
    sources = list(grid.sources if grid.sources is not None else tasks.names)
    for name in [*targets, *sources]:
        if name not in tasks:
            raise unknown_task_error(name, tasks.names, tasks.source)
    for name, values in (("targets", targets), ("sources", sources)):
        if len(set(values)) != len(values):
            raise ConfigError(f"grid.{name} lists a task more than once: {values}")

    def single(task: str, settings: StageSettings, seed: int) -> TrialSpec:
        return TrialSpec(
            target_kind=tasks[task].kind.name,
            target_outputs=tasks[task].num_outputs,
            kind="single",
            target=task,
            target_fingerprint=tasks[task].fingerprint,
            target_settings=settings,
            seed=seed,
            encoder=encoder,
            encoder_fingerprint=encoder_fingerprint,
            precision=grid.precision,
        )

    trials: dict[str, TrialSpec] = {}
    for seed in dict.fromkeys([*grid.seeds, *grid.single_task_seeds]):
        for task in targets:
            for settings in grid.target_settings:
                trial = single(task, settings, seed)
                trials.setdefault(trial.id, trial)
        for task in sources:
            for settings in grid.source_settings:
                trial = single(task, settings, seed)
                trials.setdefault(trial.id, trial)
    if not sources:
        return list(trials.values())
    for target in targets:
        if not [s for s in sources if s != target or grid.allow_self_transfer]:
            raise ConfigError(
                f"target {target!r} has no source task: its only source is itself and "
                "grid.allow_self_transfer is false"
            )
    if grid.matched_single_task:
        for seed in dict.fromkeys([*grid.seeds, *grid.single_task_seeds]):
            for task in targets:
                for settings in matched_settings(grid):
                    trial = single(task, settings, seed)
                    trials.setdefault(trial.id, trial)
    for target in targets:
        usable = [s for s in sources if s != target or grid.allow_self_transfer]
        for seed, source, source_settings, target_settings in itertools.product(
            grid.seeds, usable, grid.source_settings, grid.target_settings
        ):
            trial = replace(
                single(target, target_settings, seed),
                kind="transfer",
                source=source,
                source_fingerprint=tasks[source].fingerprint,
                source_settings=source_settings,
                source_kind=tasks[source].kind.name,
                source_outputs=tasks[source].num_outputs,
            )
            trials.setdefault(trial.id, trial)
    return list(trials.values())
