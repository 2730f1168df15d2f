"""Checks before any training: what would otherwise fail trial by trial, caught in one line.

``run``, ``grid run`` and ``rank`` call :func:`check_before_training` first: the encoder loads
(its family is supported), its tokenizer encodes a sample, the device exists, and every
``max_length`` fits the encoder's position embeddings; given the tasks, their kinds check
that every split can be encoded at every ``max_length`` (extractive QA: a fast tokenizer and
room for the context beside each question).  Each failure is one error naming what to
change; nothing has been written when it is raised.  Settings that give a task fewer than
:data:`~transferscout.training.settings.MIN_STEPS` optimisation steps are warned about
(:func:`step_warnings`), naming the setting to change.
"""

from __future__ import annotations

import logging

from transferscout.config import GridConfig, RunConfig
from transferscout.encoders import load_encoder
from transferscout.errors import ConfigError
from transferscout.tasks.task import TaskSet
from transferscout.training.finetune import resolve_device
from transferscout.training.settings import few_steps, optimisation_steps

__all__ = ["check_before_training", "step_warnings", "target_steps"]

logger = logging.getLogger(__name__)


def check_before_training(config: RunConfig, tasks: TaskSet | None = None) -> None:
    """Check the encoder, its tokenizer, the device and the lengths of ``config``.

    With ``tasks``, each task's kind also checks that each of its splits can be encoded at
    every ``max_length`` of the grid and of the pair signals
    (:meth:`~transferscout.kinds.TaskKind.check_inputs`).

    Raises:
        EncoderError: The encoder cannot be loaded, its family is not supported, or it has no
            usable tokenizer.
        TransferScoutError: The device does not exist on this machine.
        ConfigError: A ``max_length`` is longer than the encoder's position embeddings.
        DataError: A task's split cannot be encoded (its kind says why and where).
    """
    spec = config.encoder.spec()
    encoder = load_encoder(spec)  # also loads and checks the tokenizer on a sample
    device = resolve_device(config.executor.device)
    limit = encoder.family.max_positions(encoder.model.config)
    lengths = {
        "grid.target.max_length": max(config.grid.target.max_length),
        "grid.source.max_length": max(config.grid.source.max_length),
        "signals.ansat.max_length": config.ansat_settings().attribution.max_length,
        "signals.pairs.max_length": config.pair_settings().max_length,
    }
    for key, value in lengths.items():
        if limit is not None and value > limit:
            raise ConfigError(
                f"{key} = {value}, but encoder {spec.source!r} has position embeddings for "
                f"{limit} tokens; set it to at most {limit}"
            )
    # the lengths a task's kind encodes it at: training, evaluation and TaskEmb (ANSAT
    # attributes only kinds whose inputs are plain texts)
    every = {
        *config.grid.target.max_length,
        *config.grid.source.max_length,
        config.pair_settings().max_length,
    }
    for task in tasks.tasks if tasks is not None else ():
        for _, split in task.splits():
            for max_length in sorted(every):
                task.kind.check_inputs(encoder.tokenizer, task.name, split, max_length)
    warnings = step_warnings(config, tasks)
    if warnings:
        # One line, however many tasks: the first in full, the count of the others.
        more = len(warnings) - 1
        logger.warning(
            warnings[0]
            + (
                f"; and {more} more task stage{'s' if more > 1 else ''} under it "
                "(`transferscout tasks describe` shows each task's steps)"
                if more
                else ""
            )
        )
    logger.debug(
        "checked encoder %s (%s, %d layers) on %s",
        spec.source,
        encoder.family.name,
        encoder.num_layers,
        device,
    )


def step_warnings(config: RunConfig, tasks: TaskSet | None) -> list[str]:
    """One warning per task and stage whose settings give it too few optimisation steps.

    Every task is a target (its single-task models: ``grid.target``); the grid's sources are
    trained with ``grid.source``.  See :func:`~transferscout.training.settings.few_steps`.
    """
    if tasks is None:
        return []
    grid = config.grid.spec()
    sources = set(tasks.names if grid.sources is None else grid.sources)
    out = []
    for task in tasks.tasks:
        stages = [("grid.target", grid.target_settings)]
        if task.name in sources:
            stages.append(("grid.source", grid.source_settings))
        for key, settings in stages:
            warning = few_steps(task.name, len(task.train), settings, key)
            if warning is not None:
                out.append(warning)
    return out


def target_steps(tasks: TaskSet, grid: GridConfig) -> dict[str, int]:
    """Per task, the fewest optimisation steps ``grid.target``'s settings give its training."""
    settings = grid.spec().target_settings
    return {
        task.name: min(
            optimisation_steps(len(task.train), s.batch_size, s.epochs) for s in settings
        )
        for task in tasks.tasks
    }
