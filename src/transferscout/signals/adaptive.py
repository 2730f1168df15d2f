"""Adaptive integration: per model, as few Gauss–Legendre points as completeness allows.

A model is first attributed on a few probe documents with ``start`` integration steps; while
the median completeness error of its documents may be above the tolerance — a 95% upper
confidence bound of it from the probe's errors is (see
:mod:`transferscout.signals.completeness`) — the steps double (up to a cap).  The model's
other documents are then attributed with the steps chosen; the probe's attributions at those
steps are kept, so no document is attributed twice at the chosen steps.

Why a loose default tolerance is enough: the Captum-style sum converges at first order in
the number of steps, and the first layer converges slowest, so a 2-layer model's worst-layer
error is still ~0.2 at 8 steps and ~0.04 at 50 — yet its normalised word scores at 4 steps
already agree with those at 50 steps on 99.4% of ANSAT's threshold decisions (BENCHMARKS.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pandas as pd

from transferscout.errors import ConfigError
from transferscout.kinds import AttributionTarget
from transferscout.signals.attributions import AttributionSettings, attribute_documents
from transferscout.signals.completeness import (
    CompletenessSummary,
    median_upper_bound,
    summarize_completeness,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "ADAPTIVE_MAX_STEPS",
    "AdaptiveSteps",
    "Attributed",
    "attribute_with_steps",
    "choose_steps",
    "spread",
    "step_schedule",
]


#: The most steps adaptive integration gives a model by default (the former fixed default).
ADAPTIVE_MAX_STEPS = 50


@dataclass(frozen=True)
class AdaptiveSteps:
    """The adaptive-integration policy.

    Attributes:
        start: Integration steps tried first.
        tolerance: Largest acceptable median completeness error of the model's documents.
        probe_documents: How many documents the choice is made on (spread over the model's
            documents, see :func:`spread`).  The probe also calibrates the attribution plan's
            throughput: on 8 documents per-call overhead made it 1.9 times the rate of a full
            set (291 vs 143–160 µs per token·point, one thread), on 32 documents 1.35 times,
            and a median over 8 documents let models through whose full sets were well above
            tolerance.
        confidence: The steps are accepted when an upper confidence bound of the median at
            this level (from the probe's errors) is within the tolerance: the probe's own
            median let 4 of 10 models through whose sets ended at 0.11–0.19 with a tolerance
            of 0.10 (BENCHMARKS.md).
    """

    start: int = 4
    tolerance: float = 0.1
    probe_documents: int = 32
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.start < 1:
            raise ConfigError(f"adaptive start steps = {self.start}; expected at least 1")
        if not self.tolerance > 0:
            raise ConfigError(f"tolerance = {self.tolerance}; expected > 0")
        if self.probe_documents < 1:
            raise ConfigError(f"probe_documents = {self.probe_documents}; expected >= 1")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"confidence = {self.confidence}; expected in (0, 1)")

    def accepts(self, errors: Mapping[str, float]) -> bool:
        """Whether the probe's completeness errors say the steps are enough (NaN: yes)."""
        bound = median_upper_bound(list(errors.values()), self.confidence)
        return not bound > self.tolerance


def spread(ids: Sequence[str], count: int) -> list[str]:
    """``count`` of ``ids`` evenly spaced over the whole list (all of them if fewer).

    Document ids sort by their set, so the first few would all come from one task's set.
    """
    if count >= len(ids):
        return list(ids)
    return [ids[(i * len(ids)) // count] for i in range(count)]


def step_schedule(start: int, maximum: int) -> list[int]:
    """``start, 2·start, 4·start, …`` below ``maximum``, then ``maximum`` (at least one step)."""
    maximum = max(1, maximum)
    steps = []
    current = min(start, maximum)
    while current < maximum:
        steps.append(current)
        current *= 2
    steps.append(maximum)
    return steps


@dataclass
class Attributed:
    """Attributions of some documents with one number of steps, and what they cost.

    Attributes:
        words, tokens, documents: The attribution tables (as :func:`attribute_documents`
            returns them).
        n_steps: The integration steps used.
        errors: Document id -> completeness error.
        seconds: Wall-clock seconds spent (including tries with fewer steps).
        token_points: Σ tokens × points over every attribution computed (tries included).
    """

    words: pd.DataFrame
    tokens: pd.DataFrame
    documents: pd.DataFrame
    n_steps: int
    errors: dict[str, float]
    seconds: float
    token_points: int

    @property
    def completeness(self) -> CompletenessSummary:
        """Median and maximum completeness error."""
        return summarize_completeness(list(self.errors.values()))

    def merged(self, other: Attributed) -> Attributed:
        """Both sets of documents (same steps), costs added."""
        return Attributed(
            pd.concat([self.words, other.words], ignore_index=True),
            pd.concat([self.tokens, other.tokens], ignore_index=True),
            pd.concat([self.documents, other.documents], ignore_index=True),
            self.n_steps,
            {**self.errors, **other.errors},
            self.seconds + other.seconds,
            self.token_points + other.token_points,
        )


def attribute_with_steps(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    documents: Mapping[str, str],
    settings: AttributionSettings,
    n_steps: int,
    *,
    on_batch: Callable[[int], None] | None = None,
    targets: Mapping[str, AttributionTarget] | None = None,
    pairs: Mapping[str, str] | None = None,
) -> Attributed:
    """Attribute ``documents`` with ``n_steps``, recording completeness errors and cost.

    ``targets`` and ``pairs`` are as in :func:`attribute_documents` (the kind's outputs and
    text pairs); they may hold more documents than ``documents``.
    """
    start = time.perf_counter()
    words, tokens, table = attribute_documents(
        model,
        tokenizer,
        documents,
        replace(settings, n_steps=n_steps),
        on_batch=on_batch,
        targets=targets,
        pairs=pairs,
    )
    errors = dict(zip(table["doc_id"], table["completeness_error"].astype(float), strict=True))
    return Attributed(
        words,
        tokens,
        table,
        n_steps,
        errors,
        time.perf_counter() - start,
        len(tokens) * (n_steps + 1),
    )


def choose_steps(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    probe: Mapping[str, str],
    settings: AttributionSettings,
    policy: AdaptiveSteps,
    *,
    max_steps: int,
    tried: Attributed | None = None,
    targets: Mapping[str, AttributionTarget] | None = None,
    pairs: Mapping[str, str] | None = None,
) -> Attributed:
    """Attribute the probe documents with more steps until completeness is within tolerance.

    ``tried`` is a first try already made on the same probe (e.g. to measure throughput); it
    is not computed again.  Returns the probe's attributions at the chosen steps, with the
    seconds and token·points of every try (the cost of choosing).
    """
    seconds = 0.0
    token_points = 0
    result: Attributed | None = None
    for n_steps in step_schedule(policy.start, max_steps):
        if tried is not None and tried.n_steps == n_steps:
            result = tried
        else:
            result = attribute_with_steps(
                model, tokenizer, probe, settings, n_steps, targets=targets, pairs=pairs
            )
        seconds += result.seconds
        token_points += result.token_points
        if policy.accepts(result.errors):
            break
    assert result is not None
    result.seconds, result.token_points = seconds, token_points
    return result
