"""The ANSAT stage of a run: attributions of every single-task model, then ANSAT of every pair.

Attribution work is O(models × documents): each task's chosen single-task model is attributed
once on the union of all document sets (cached by model content and settings); ANSAT for all
ordered pairs is then set arithmetic on the cached word scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferscout._progress import progress_bar
from transferscout.encoders import Encoder
from transferscout.errors import ConfigError
from transferscout.grid.models import (
    ModelChoice,
    load_trained_model,
    model_fingerprint,
    select_single_task_models,
)
from transferscout.grid.store import RunStore, TrialRow
from transferscout.signals.ansat import THRESHOLDS, ansat_features
from transferscout.signals.attributions import (
    AttributionCache,
    AttributionSettings,
    attribute_documents,
)
from transferscout.signals.documents import DocumentSets, document_sets
from transferscout.tasks.task import SPLITS, Task, TaskSet
from transferscout.training.finetune import predict_proba

__all__ = ["AnsatSettings", "attribution_targets", "compute_ansat"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnsatSettings:
    """Settings of the ANSAT stage.

    Attributes:
        attribution: How conductance is computed.
        split: The split whose positive documents form ``D_A``, ``D_B``, ``D_AB``.
        max_documents: Cap on each document set (seeded sample).
        seed: Seeds the document samples.
        model_choice: Which single-task model of a task is attributed.
        thresholds: The TAT values.
        completeness_tolerance: Warn when a model's median completeness error (over its
            attributed documents) is above this.
    """

    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    split: str = "test"
    max_documents: int | None = 100
    seed: int = 0
    model_choice: ModelChoice = "best_validation"
    thresholds: tuple[float, ...] = THRESHOLDS
    completeness_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if not self.completeness_tolerance > 0:
            raise ConfigError(
                f"completeness_tolerance = {self.completeness_tolerance}; expected > 0"
            )
        if self.split not in SPLITS:
            raise ConfigError(f"split = {self.split!r}; expected one of {', '.join(SPLITS)}")
        if self.max_documents is not None and self.max_documents < 1:
            raise ConfigError(f"max_documents = {self.max_documents}; expected >= 1 or none")
        if self.model_choice not in ("best_validation", "first"):
            raise ConfigError(
                f"model_choice = {self.model_choice!r}; expected 'best_validation' or 'first'"
            )


def compute_ansat(
    run_dir: str | Path,
    tasks: TaskSet,
    settings: AnsatSettings | None = None,
    *,
    progress: bool = False,
    targets: Sequence[str] | None = None,
    cost_prefix: str = "",
    device: str = "auto",
) -> int:
    """Attribute every task's single-task model and store ANSAT for every ordered pair.

    Args:
        run_dir: The run folder.
        tasks: The tasks; each needs a finished single-task model in the run.
        settings: The stage's settings.
        progress: Show a progress bar.
        targets: Store only the pairs whose target is one of these (default: all).
        cost_prefix: Prefix of the cost records' families (``"rank:"`` keeps a
            recommendation's costs apart from the study's).
        device: Where to attribute (``auto``: CUDA when available).

    Returns:
        The number of (source, target) pairs stored.
    """
    wanted = list(tasks.names if targets is None else targets)
    settings = settings or AnsatSettings()
    run_dir = Path(run_dir)
    cache = AttributionCache(run_dir)
    with RunStore(run_dir) as store:
        models = select_single_task_models(store, tasks, choice=settings.model_choice)
        sets = document_sets(
            tasks, split=settings.split, max_documents=settings.max_documents, seed=settings.seed
        )
        keys = {}
        for name, row in models.items():
            keys[name] = AttributionCache.key(model_fingerprint(run_dir, row), settings.attribution)
        todo = {name: cache.missing(keys[name], sets.all_ids) for name in models}
        total = sum(len(docs) for docs in todo.values())
        bar = progress_bar(enabled=progress)
        with bar:
            bar_task = bar.add_task("attributions (model x document)", total=total)
            for name, missing in todo.items():
                if not missing:
                    continue
                start = time.perf_counter()
                encoder = load_trained_model(run_dir, models[name], device=device)
                words, tokens, documents = attribute_documents(
                    encoder.model,
                    encoder.tokenizer,
                    {doc: sets.texts[doc] for doc in missing},
                    settings.attribution,
                    on_batch=lambda n: bar.update(bar_task, advance=n),
                    targets=attribution_targets(
                        encoder, tasks[name], missing, sets, settings.attribution.max_length
                    ),
                    pairs={doc: sets.pairs[doc] for doc in missing if doc in sets.pairs},
                )
                cache.add(keys[name], words, tokens, documents)
                seconds = time.perf_counter() - start
                store.put_cost(
                    cost_prefix + "conductance",
                    f"{keys[name]}:{len(cache.words(keys[name]))}",
                    seconds,
                    {"task": name, "trial": models[name].id, "documents": len(missing)},
                )
                logger.info(
                    "attributed %d documents with %s's model in %.1fs", len(missing), name, seconds
                )
        start = time.perf_counter()
        scores = {name: cache.word_scores(keys[name], sets.all_ids) for name in models}
        values: list[tuple[str, str, str, float]] = []
        for source in tasks.names:
            for target in wanted:
                features = ansat_features(
                    scores[source],
                    scores[target],
                    sets.for_pair(source, target),
                    settings.thresholds,
                )
                values.extend((source, target, key, value) for key, value in features.items())
        completeness = {name: cache.completeness(keys[name], sets.all_ids) for name in models}
        _warn_incomplete(completeness, models, settings)
        detail = {
            "settings": {**asdict(settings), "attribution": settings.attribution.key()},
            "models": {name: row.id for name, row in models.items()},
            "completeness": completeness,
        }
        store.put_pair_signals("ansat", values, detail)
        pairs = len(tasks) * len(wanted)
        store.put_cost(
            cost_prefix + "ansat", "pairs", time.perf_counter() - start, {"pairs": pairs}
        )
    return pairs


def attribution_targets(
    encoder: Encoder, task: Task, documents: Sequence[str], sets: DocumentSets, max_length: int
) -> dict[str, int]:
    """The output attributed for each document with ``task``'s model, as its kind says.

    Binary: the positive class; multi-class: the gold class of a document of ``task`` (any
    split), else the model's predicted class; regression: the output.
    """
    gold: dict[str, Any] = {}
    for _, split in task.splits():
        gold.update(zip(split.ids, split.labels, strict=True))
    outputs = None
    if task.kind.needs_predictions_for_attribution:
        outputs = np.zeros((len(documents), task.num_outputs))
        # A document of a pair task is a pair for every model; the rest are single texts.
        for paired in (False, True):
            rows = [i for i, doc in enumerate(documents) if (doc in sets.pairs) == paired]
            if rows:
                outputs[rows] = predict_proba(
                    encoder.model,
                    encoder.tokenizer,
                    [sets.texts[documents[i]] for i in rows],
                    max_length=max_length,
                    pairs=[sets.pairs[documents[i]] for i in rows] if paired else None,
                    kind=task.kind,
                )
    targets = task.kind.attribution_targets([gold.get(doc) for doc in documents], outputs)
    return dict(zip(documents, targets, strict=True))


def _warn_incomplete(
    completeness: dict[str, dict[str, float]],
    models: dict[str, TrialRow],
    settings: AnsatSettings,
) -> None:
    """Warn for every model whose attributions are far from completeness."""
    for name, summary in completeness.items():
        if summary["median"] > settings.completeness_tolerance:
            logger.warning(
                "conductance of %s's model (trial %s) is incomplete: median error %.1f%% (max "
                "%.1f%%) of F(x) - F(baseline), above the %.1f%% tolerance; raise "
                "signals.ansat.n_steps (now %d) or try another signals.ansat.baseline "
                "(now %s: pad, mask or zero)",
                name,
                models[name].id,
                100 * summary["median"],
                100 * summary["max"],
                100 * settings.completeness_tolerance,
                settings.attribution.n_steps,
                settings.attribution.baseline
                + (
                    " = the encoder family's default"
                    if settings.attribution.baseline == "auto"
                    else ""
                ),
            )
