"""The pair-signal stage: task embeddings, model-based estimators and cheap baselines.

For every ordered pair (source A, target B) of a task set, from the run's single-task models
and data only (never from a transfer model):

* ``textemb``: cosine of the TextEmb vectors of A and B (pretrained encoder);
* ``taskemb``: cosine of A's and B's TaskEmb per component, and their reciprocal-rank fusion
  (``rrf``, ranks among the sources of each target);
* ``estimators``: LogME, LEEP, NCE, H-score (plain and shrinkage), TransRate of M_A's pooled
  features / class probabilities on B's (capped) training texts and labels — each where it is
  defined for the two tasks' kinds (:func:`transferscout.kinds.applicable_estimators`),
  NaN (missing) where it is not;
* ``baselines``: source size, positive rates (the share of the documents ANSAT counts as
  positive), vocabulary overlap, single-task validation scores (the kind's primary metric; named
  ``source_f1``/``target_f1``), random.

Features of a (model, task) are computed once and cached under ``features/``; embeddings under
``embeddings/``.  The seconds spent on each family are recorded in the store, so the evaluation
can charge them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from transferscout._progress import progress_bar
from transferscout.encoders import EncoderSpec, family_of, load_encoder
from transferscout.errors import ConfigError
from transferscout.grid.models import (
    ModelChoice,
    load_trained_model,
    model_fingerprint,
    select_single_task_models,
    trial_score,
)
from transferscout.grid.store import RunStore, TrialRow
from transferscout.kinds import BINARY, ESTIMATORS, IGNORE, TaskKind, applicable_estimators
from transferscout.signals import estimators
from transferscout.signals.embeddings import (
    cosine_similarity,
    reciprocal_rank_fusion,
    task_embedding,
    text_embedding,
)
from transferscout.tasks.task import Split, TaskSet
from transferscout.training.data import encode_texts, example_batches, padded_batches
from transferscout.training.finetune import resolve_device
from transferscout.training.settings import Precision

__all__ = [
    "BASELINE_NAMES",
    "ESTIMATOR_NAMES",
    "PairSignalSettings",
    "compute_pair_signals",
    "estimator_scores",
]

logger = logging.getLogger(__name__)

ESTIMATOR_NAMES = ESTIMATORS
BASELINE_NAMES = (
    "source_size",
    "source_positive_rate",
    "target_positive_rate",
    "vocabulary_overlap",
    "source_f1",
    "target_f1",
    "random",
)


@dataclass(frozen=True)
class PairSignalSettings:
    """Settings of the pair-signal stage.

    Attributes:
        max_examples: Cap on the training examples of a task used for every signal (seeded).
        max_length: Truncation length for features and embeddings.
        batch_size: Texts per forward pass.
        taskemb_parameters: Also keep the Fisher of every encoder parameter (large).
        transrate_eps: The distortion ε of TransRate.
        model_choice: Which single-task model of a task is used.
        seed: Seeds the example samples and the random baseline.
        precision: ``bf16`` runs features and embeddings under bfloat16 autocast.
    """

    max_examples: int = 500
    max_length: int = 128
    batch_size: int = 32
    taskemb_parameters: bool = False
    transrate_eps: float = 1e-2
    model_choice: ModelChoice = "best_validation"
    seed: int = 0
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision = {self.precision!r}; expected 'fp32' or 'bf16'")
        if self.max_examples < 4:
            raise ConfigError(f"max_examples = {self.max_examples}; expected at least 4")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size = {self.batch_size}; expected at least 1")
        if self.max_length < 8:
            raise ConfigError(f"max_length = {self.max_length}; expected at least 8")
        if self.transrate_eps <= 0:
            raise ConfigError(f"transrate_eps = {self.transrate_eps}; expected > 0")


def _sample(split: Split, cap: int, seed: int, name: str) -> Split:
    if len(split) <= cap:
        return split
    salt = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rows = np.sort(np.random.default_rng([seed, salt]).choice(len(split), cap, replace=False))
    return split.subset(rows)


@torch.no_grad()
def pooled_features(
    model: torch.nn.Module,
    tokenizer: object,
    texts: tuple[str, ...],
    *,
    max_length: int,
    batch_size: int,
    pairs: tuple[str, ...] | None = None,
    kind: TaskKind = BINARY,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A model's sentence representation and its kind's outputs on ``texts`` (and ``pairs``).

    The representation is what the family's classification head reads (BERT: the pooler
    output; see :class:`transferscout.encoders.EncoderFamily`).

    Shape:
        returns ``(n, hidden)`` and ``(n, n_classes)`` class probabilities (``(n, 1)``
        values for a regression model), in the order of ``texts``.
    """
    family = family_of(model)
    model.eval()
    device = next(model.parameters()).device
    encoded = encode_texts(tokenizer, texts, max_length, pairs)  # type: ignore[arg-type]
    order = np.argsort(encoded.lengths, kind="stable")
    features: npt.NDArray[np.float64] | None = None
    probabilities: npt.NDArray[np.float64] | None = None
    for index, batch in padded_batches(encoded, order, batch_size):
        with family.tap(model) as tap:
            logits = kind.logits(
                model(**{k: v.to(device) for k, v in family.model_inputs(batch).items()})
            ).double()
        pooled = tap.representation.double()
        outputs = kind.outputs(logits).double()
        if outputs.dim() == 3:  # a token or span head: its first token's (no estimator reads them)
            outputs = outputs[:, 0]
        if features is None or probabilities is None:
            features = np.zeros((len(texts), pooled.shape[-1]))
            probabilities = np.zeros((len(texts), outputs.shape[-1]))
        features[index] = pooled.cpu().numpy()
        probabilities[index] = outputs.cpu().numpy()
    assert features is not None and probabilities is not None
    return features, probabilities


@torch.no_grad()
def token_features(
    model: torch.nn.Module,
    tokenizer: Any,
    split: Split,
    *,
    kind: TaskKind,
    target_kind: TaskKind,
    max_length: int,
    batch_size: int,
) -> dict[str, npt.NDArray[np.float64]]:
    """A model's token states and outputs at the labelled pieces of a token-level target.

    The target's kind encodes ``split`` (each word's first piece is labelled); the features
    are the model's last layer output (before any final norm) at those pieces, the
    ``probabilities`` the model's own kind's outputs there when it is a token model (else
    an empty column), and ``labels`` the target's labels of the pieces
    (:meth:`~transferscout.kinds.TaskKind.estimator_labels`), all in feature order.

    Shape:
        returns ``features`` ``(m, hidden)``, ``probabilities`` ``(m, tags)`` (or
        ``(m, 0)``), ``labels`` ``(m,)``, with ``m`` the labelled pieces.
    """
    family = family_of(model)
    model.eval()
    device = next(model.parameters()).device
    encoded = target_kind.encode(tokenizer, split, max_length)
    order = np.argsort(encoded.lengths, kind="stable")
    states: list[npt.NDArray[np.float64]] = [np.zeros(0)] * len(encoded)
    outputs: list[npt.NDArray[np.float64]] = [np.zeros(0)] * len(encoded)
    for index, batch in example_batches(encoded, order, batch_size, target_kind.collate):
        labelled = batch.pop("labels") != IGNORE
        with family.tap(model) as tap:
            logits = kind.logits(
                model(**{k: v.to(device) for k, v in family.model_inputs(batch).items()})
            ).double()
        last = tap.layers[-1].double().cpu()
        probabilities = kind.outputs(logits).double().cpu()
        for r, i in enumerate(index):
            states[i] = last[r][labelled[r]].numpy()
            outputs[i] = (
                probabilities[r][labelled[r]].numpy()
                if probabilities.dim() == 3
                else np.zeros((int(labelled[r].sum()), 0))
            )
    return {
        "features": np.concatenate(states),
        "probabilities": np.concatenate(outputs),
        "labels": target_kind.estimator_labels(encoded, split.labels),
    }


def model_features(
    model: torch.nn.Module,
    tokenizer: Any,
    split: Split,
    *,
    kind: TaskKind,
    target_kind: TaskKind,
    max_length: int,
    batch_size: int,
) -> dict[str, npt.NDArray[np.float64]]:
    """What the estimators read of a model (of ``kind``) on a target's sample.

    At the target kind's :attr:`~transferscout.kinds.TaskKind.estimator_level`: pooled
    features and outputs per example (:func:`pooled_features`), or token states and outputs
    per labelled piece with their labels (:func:`token_features`); nothing for a target
    without estimators.
    """
    if target_kind.estimator_level is None:
        return {}
    if target_kind.estimator_level == "token":
        return token_features(
            model,
            tokenizer,
            split,
            kind=kind,
            target_kind=target_kind,
            max_length=max_length,
            batch_size=batch_size,
        )
    features, probabilities = pooled_features(
        model,
        tokenizer,
        split.texts,
        max_length=max_length,
        batch_size=batch_size,
        pairs=split.pairs,
        kind=kind,
    )
    return {"features": features, "probabilities": probabilities}


def _words(texts: tuple[str, ...]) -> set[str]:
    return {word for text in texts for word in re.findall(r"\w+", text.lower())}


class _Timer:
    """Seconds spent per signal family."""

    def __init__(self, precision: Precision = "fp32") -> None:
        self.seconds: dict[str, float] = {}
        self.precision = precision
        self.last = 0.0  # seconds of the latest timed block

    def charge(self, family: str, seconds: float) -> None:
        """Charge work done before (a cached value's recorded seconds)."""
        self.seconds[family] = self.seconds.get(family, 0.0) + seconds

    @contextlib.contextmanager
    def time(self, family: str) -> Iterator[None]:
        """Time a block (run under bfloat16 autocast when the precision is ``bf16``)."""
        start = time.perf_counter()
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                yield
        finally:
            self.last = time.perf_counter() - start
            self.charge(family, self.last)


def compute_pair_signals(
    run_dir: str | Path,
    tasks: TaskSet,
    settings: PairSignalSettings | None = None,
    *,
    progress: bool = False,
    targets: Sequence[str] | None = None,
    cost_prefix: str = "",
    device: str = "auto",
    text_only: bool = False,
) -> int:
    """Compute and store every pair signal of ``tasks`` from the run's single-task models.

    With ``text_only``, only TextEmb (the pretrained encoder's embedding of each task's texts)
    and the free baselines are computed: no single-task model is loaded or run (the pool
    search's default signals, seconds for a whole pool).

    Only the pairs whose target is in ``targets`` (default: all tasks) are stored; cost
    records go to families prefixed with ``cost_prefix``; models run on ``device``
    (``auto``: CUDA when available).  A value found in the cache is charged what it cost
    when computed (a resumed stage costs what it did), except a task embedding of a task
    outside ``targets``: the stage that ranked that task computed and charged it (``rank``
    of a new target reads the sources' embeddings from the run's own signals).

    Returns:
        The number of ordered (source, target) pairs.
    """
    settings = settings or PairSignalSettings()
    run_dir = Path(run_dir)
    cache = _ArrayCache(run_dir)
    timer = _Timer(settings.precision)
    names = tasks.names
    wanted = list(names if targets is None else targets)
    samples = {n: _sample(tasks[n].train, settings.max_examples, settings.seed, n) for n in names}
    with RunStore(run_dir) as store:
        models = select_single_task_models(store, tasks, choice=settings.model_choice)
        fingerprints = {n: model_fingerprint(run_dir, row) for n, row in models.items()}
        bar = progress_bar(enabled=progress)
        with bar:
            steps = bar.add_task("pair signals (models)", total=len(names) + 1)
            text_vectors = _text_embeddings(
                cache, models, samples, settings, timer, device, charged=set(wanted)
            )
            bar.update(steps, advance=1)
            task_vectors: dict[str, dict[str, npt.NDArray[np.float64]]] = {}
            outputs: dict[tuple[str, str], dict[str, npt.NDArray[np.float64]]] = {}
            for source in [] if text_only else names:
                encoder = load_trained_model(run_dir, models[source], device=device)
                key = _key("taskemb", fingerprints[source], samples[source], settings)
                task_vectors[source] = cache.get("embeddings", key)
                if task_vectors[source]:
                    if source in wanted:
                        timer.charge("taskemb", cache.seconds("embeddings", key))
                else:
                    # TaskEmb's forward pass over the source's own sample also gives the
                    # source model's features on it (the pair source -> source): kept when
                    # its kind reads features per example.
                    own: dict[str, npt.NDArray[np.float64]] = {}
                    own_level = tasks[source].kind.estimator_level == "sequence"
                    with timer.time("taskemb"):
                        task_vectors[source] = task_embedding(
                            encoder.model,
                            encoder.tokenizer,
                            samples[source].texts,
                            samples[source].labels,
                            max_length=settings.max_length,
                            batch_size=settings.batch_size,
                            parameters=settings.taskemb_parameters,
                            outputs=own if own_level else None,
                            pairs=samples[source].pairs,
                            kind=tasks[source].kind,
                        )
                    cache.put("embeddings", key, task_vectors[source], seconds=timer.last)
                    own_key = _key("features", fingerprints[source], samples[source], settings)
                    if own_level and source in wanted and not cache.get("features", own_key):
                        cache.put("features", own_key, own)
                for target in wanted:
                    key = _key("features", fingerprints[source], samples[target], settings)
                    arrays = cache.get("features", key)
                    if arrays:
                        timer.charge("features", cache.seconds("features", key))
                    elif tasks[target].kind.estimator_level is not None:
                        with timer.time("features"):
                            arrays = model_features(
                                encoder.model,
                                encoder.tokenizer,
                                samples[target],
                                kind=tasks[source].kind,
                                target_kind=tasks[target].kind,
                                max_length=settings.max_length,
                                batch_size=settings.batch_size,
                            )
                        cache.put("features", key, arrays, seconds=timer.last)
                    outputs[(source, target)] = arrays
                bar.update(steps, advance=1)
        # The estimators' matrices are small (examples × hidden): one BLAS thread is enough,
        # and on a busy machine multi-threaded OpenBLAS was 20× slower on them (BENCHMARKS.md).
        with threadpool_limits(limits=1, user_api="blas"):
            values = _pair_values(
                tasks, wanted, models, samples, text_vectors, task_vectors, outputs, settings, timer
            )
        if text_only:
            values = {k: v for k, v in values.items() if k in ("textemb", "baselines")}
        detail = {"settings": asdict(settings), "models": {n: r.id for n, r in models.items()}}
        for family, rows in values.items():
            store.put_pair_signals(family, rows, detail)
        for family, seconds in timer.seconds.items():
            store.put_cost(
                cost_prefix + family, "pairs", seconds, {"pairs": len(names) * len(wanted)}
            )
    return len(names) * len(wanted)


def _key(kind: str, model: str, sample: Split, settings: PairSignalSettings) -> str:
    parts = [kind, model, sample.ids, settings.max_length]
    if kind == "taskemb":
        parts.append(settings.taskemb_parameters)
    if settings.precision != "fp32":  # keys made before the option stay valid
        parts.append(settings.precision)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


class _ArrayCache:
    """Named arrays stored as ``<run>/<folder>/<key>.npz``, written atomically.

    Each entry keeps the seconds its computation took, so that a stage re-run (or resumed
    after a crash) charges a cached value what it cost, not the time of reading it.
    """

    SECONDS = "__seconds__"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def get(self, folder: str, key: str) -> dict[str, npt.NDArray[np.float64]]:
        path = self.run_dir / folder / f"{key}.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            return {name: data[name] for name in data.files if name != self.SECONDS}

    def seconds(self, folder: str, key: str) -> float:
        """What computing the entry took (0 for entries written before this was kept)."""
        with np.load(self.run_dir / folder / f"{key}.npz") as data:
            return float(data[self.SECONDS]) if self.SECONDS in data.files else 0.0

    def put(
        self,
        folder: str,
        key: str,
        arrays: dict[str, npt.NDArray[np.float64]],
        *,
        seconds: float = 0.0,
    ) -> None:
        path = self.run_dir / folder / f"{key}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{key}.tmp.npz")
        stored = {**arrays, self.SECONDS: np.asarray(seconds)}
        np.savez(temporary, **stored)  # type: ignore[arg-type]
        temporary.replace(path)


def _text_embeddings(
    cache: _ArrayCache,
    models: dict[str, TrialRow],
    samples: dict[str, Split],
    settings: PairSignalSettings,
    timer: _Timer,
    device: str,
    *,
    charged: set[str],
) -> dict[str, npt.NDArray[np.float64]]:
    """Each task's TextEmb vector; a cached one is charged only for a task in ``charged``."""
    encoder_config = next(iter(models.values())).config["encoder"]
    spec = EncoderSpec(encoder_config["source"], encoder_config["num_layers"])
    pretrained = None
    vectors = {}
    for name, sample in samples.items():
        key = _key("textemb", encoder_config["fingerprint"], sample, settings)
        arrays = cache.get("embeddings", key)
        if arrays:
            if name in charged:
                timer.charge("textemb", cache.seconds("embeddings", key))
        else:
            with timer.time("textemb"):
                if pretrained is None:
                    pretrained = load_encoder(spec)
                    pretrained.model.to(resolve_device(device))  # type: ignore[arg-type]
                arrays = {
                    "textemb": text_embedding(
                        pretrained.model,
                        pretrained.tokenizer,
                        sample.texts,
                        max_length=settings.max_length,
                        batch_size=settings.batch_size,
                        pairs=sample.pairs,
                    )
                }
            cache.put("embeddings", key, arrays, seconds=timer.last)
        vectors[name] = arrays["textemb"]
    return vectors


def _pair_values(
    tasks: TaskSet,
    wanted: list[str],
    models: dict[str, TrialRow],
    samples: dict[str, Split],
    text_vectors: dict[str, npt.NDArray[np.float64]],
    task_vectors: dict[str, dict[str, npt.NDArray[np.float64]]],
    outputs: dict[tuple[str, str], dict[str, npt.NDArray[np.float64]]],
    settings: PairSignalSettings,
    timer: _Timer,
) -> dict[str, list[tuple[str, str, str, float]]]:
    names = tasks.names
    values: dict[str, list[tuple[str, str, str, float]]] = {
        "textemb": [],
        "taskemb": [],
        "estimators": [],
        "baselines": [],
    }
    rng = np.random.default_rng(settings.seed)
    vocabularies = {n: _words(samples[n].texts) for n in names}
    no_h_score: dict[str, tuple[int, ...]] = {}  # target -> its features' (examples, dims)
    # Without task embeddings (text-only signals) neither TaskEmb nor the estimators exist.
    components = sorted(next(iter(task_vectors.values()))) if task_vectors else []
    for target in wanted:
        per_component = {
            c: {s: cosine_similarity(task_vectors[s][c], task_vectors[target][c]) for s in names}
            for c in components
        }
        fused = reciprocal_rank_fusion(per_component) if components else {}
        for source in names:
            values["textemb"].append(
                (
                    source,
                    target,
                    "cosine",
                    cosine_similarity(text_vectors[source], text_vectors[target]),
                )
            )
            if components:
                for c in components:
                    values["taskemb"].append(
                        (source, target, f"cosine_{c}", per_component[c][source])
                    )
                values["taskemb"].append((source, target, "rrf", fused[source]))
                arrays = outputs[(source, target)]
                empty = np.zeros((0, 0))
                with timer.time("estimators"):
                    scores = estimator_scores(
                        tasks[source].kind,
                        tasks[target].kind,
                        arrays.get("features", empty),
                        arrays.get("probabilities", empty),
                        arrays["labels"] if "labels" in arrays else samples[target].labels,
                        transrate_eps=settings.transrate_eps,
                    )
                values["estimators"].extend((source, target, k, v) for k, v in scores.items())
                if math.isnan(scores["h_score"]) and not math.isnan(scores["h_score_shrinkage"]):
                    no_h_score[target] = arrays["features"].shape
            union = vocabularies[source] | vocabularies[target]
            overlap = (
                len(vocabularies[source] & vocabularies[target]) / len(union) if union else 0.0
            )
            baseline = {
                "source_size": float(len(tasks[source].train)),
                "source_positive_rate": _positive_rate(tasks[source].kind, tasks[source].train),
                "target_positive_rate": _positive_rate(tasks[target].kind, tasks[target].train),
                "vocabulary_overlap": overlap,
                # Validation scores: signals never read a test label.
                "source_f1": trial_score(models[source], "validation"),
                "target_f1": trial_score(models[target], "validation"),
                "random": float(rng.random()),
            }
            values["baselines"].extend((source, target, k, v) for k, v in baseline.items())
    if no_h_score:
        logger.info(
            "plain H-score missing for %d target(s) with no more examples than feature "
            "dimensions + 1 (%s): there it is C − 1 for every source; the shrinkage H-score is "
            "kept",
            len(no_h_score),
            ", ".join(f"{t}: {n} ≤ {d} + 1" for t, (n, d) in sorted(no_h_score.items())),
        )
    return values


def _positive_rate(kind: TaskKind, split: Split) -> float:
    """The share of a split's documents that ANSAT counts as positive (binary: label 1)."""
    return float(np.mean(kind.positive_mask(split.labels, split.labels))) if len(split) else 0.0


def estimator_scores(
    source_kind: TaskKind,
    target_kind: TaskKind,
    features: npt.NDArray[np.float64],
    outputs: npt.NDArray[np.float64],
    labels: npt.NDArray[Any],
    *,
    transrate_eps: float = 1e-2,
) -> dict[str, float]:
    """Every estimator of :data:`ESTIMATOR_NAMES` for one pair; NaN where it is undefined.

    Args:
        source_kind: The kind of the source model (LEEP and NCE need its classes).
        target_kind: The kind of the target task (regression: LogME on the values).
        features: The source model's pooled features on the target texts, ``(n, d)``.
        outputs: The source model's outputs on them (class probabilities), ``(n, z)``.
        labels: The target labels, ``(n,)``.
        transrate_eps: TransRate's distortion.
    """
    applicable = applicable_estimators(source_kind, target_kind)
    logme = (
        estimators.log_maximum_evidence
        if target_kind.has_classes
        else estimators.log_maximum_evidence_regression
    )
    compute = {
        "logme": lambda: logme(features, labels),
        "leep": lambda: estimators.log_expected_empirical_prediction(outputs, labels),
        "nce": lambda: estimators.negative_conditional_entropy(outputs.argmax(1), labels),
        "h_score": lambda: estimators.h_score(features, labels),
        "h_score_shrinkage": lambda: estimators.regularized_h_score(features, labels),
        "transrate": lambda: estimators.transrate(features, labels, eps=transrate_eps),
    }
    return {
        name: float(compute[name]()) if name in applicable else float("nan")
        for name in ESTIMATOR_NAMES
    }
