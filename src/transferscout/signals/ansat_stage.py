"""The ANSAT stage of a run: attributions of every single-task model, then ANSAT of every pair.

Attribution work is O(models × documents): each task's chosen single-task model is attributed
once on the documents of the sets its pairs read (cached by model content and settings);
ANSAT for all ordered pairs is then set arithmetic on the cached word scores.

Cheap by default: given a :class:`~transferscout.signals.budget.SignalBudget`, the stage
measures the attribution throughput on its first model's probe documents, then caps the
document sets so that the projected attribution cost fits the budget (the plan is logged and
kept with the signals); with adaptive integration every model gets as few integration
steps as completeness allows, and never more than its share of what is left of the budget.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from transferscout.kinds import AttributionTarget
from transferscout.signals.adaptive import (
    AdaptiveSteps,
    Attributed,
    attribute_with_steps,
    choose_steps,
    spread,
)
from transferscout.signals.ansat import THRESHOLDS, ansat_feature_names, ansat_features
from transferscout.signals.attributions import (
    AttributionCache,
    AttributionSettings,
    document_key,
)
from transferscout.signals.budget import (
    MAX_DOCUMENTS,
    MIN_DOCUMENTS,
    STEP_CAP_AIM,
    AttributionPlan,
    SignalBudget,
    fit_documents,
    plan_documents,
    step_cap,
)
from transferscout.signals.completeness import median_upper_bound
from transferscout.signals.documents import DocumentSets, document_sets
from transferscout.tasks.task import SPLITS, Split, Task, TaskSet
from transferscout.training.finetune import predict

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["AnsatSettings", "attribution_targets", "compute_ansat"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnsatSettings:
    """Settings of the ANSAT stage.

    Attributes:
        attribution: How conductance is computed (with ``adaptive``, its ``n_steps`` is the
            most steps a model may get).
        split: The split whose positive documents form ``D_A``, ``D_B``, ``D_AB``.
        max_documents: Cap on each document set (seeded sample); with
            ``documents_from_budget``, the most the budget may allow.
        seed: Seeds the document samples.
        model_choice: Which single-task model of a task is attributed.
        thresholds: The TAT values.
        adaptive: Choose each model's integration steps by completeness (``None``: every
            model gets ``attribution.n_steps``).
        documents_from_budget: Derive the cap on each document set from the budget given
            to :func:`compute_ansat` (at least 10, at most ``max_documents``).
        completeness_tolerance: Warn when a model's median completeness error (over its
            attributed documents) is above this.
    """

    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    split: str = "validation"
    max_documents: int | None = 100
    seed: int = 0
    model_choice: ModelChoice = "best_validation"
    thresholds: tuple[float, ...] = THRESHOLDS
    adaptive: AdaptiveSteps | None = None
    documents_from_budget: bool = False
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
    budget: SignalBudget | None = None,
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
        budget: What the signals may cost; it derives the document sets' cap (with
            ``settings.documents_from_budget``) and caps each model's adaptive steps.
        device: Where to attribute (``auto``: CUDA when available).

    Returns:
        The number of (source, target) pairs stored.
    """
    settings = settings or AnsatSettings()
    wanted = list(tasks.names if targets is None else targets)
    # ANSAT is defined between models of attributable kinds with the same head (what is
    # attributed carries over between them); other pairs are missing (NaN).
    attributable = [name for name in tasks.names if tasks[name].kind.attributable]
    every = [(source, target) for source in tasks.names for target in wanted]
    pairs = [
        (s, t)
        for s, t in every
        if s in attributable and t in attributable and tasks[s].kind.head == tasks[t].kind.head
    ]
    missing = ansat_feature_names(settings.thresholds)
    values: list[tuple[str, str, str, float]] = [
        (s, t, key, float("nan")) for s, t in sorted(set(every) - set(pairs)) for key in missing
    ]
    run_dir = Path(run_dir)
    with RunStore(run_dir) as store:
        detail: dict[str, Any] = {"settings": asdict(settings), "models": {}}
        start = time.perf_counter()
        if pairs:
            values, detail, start = _attributed_values(
                run_dir,
                store,
                tasks.select(attributable),
                pairs,
                settings,
                budget,
                values,
                cost_prefix=cost_prefix,
                device=device,
                progress=progress,
            )
        store.put_pair_signals("ansat", values, detail)
        # kept here too: when no model is within tolerance, no value carries the detail
        record = {"pairs": len(every), "incomplete": detail.get("incomplete", {})}
        store.put_cost(cost_prefix + "ansat", "pairs", time.perf_counter() - start, record)
    return len(every)


def _attributed_values(
    run_dir: Path,
    store: RunStore,
    tasks: TaskSet,
    pairs: list[tuple[str, str]],
    settings: AnsatSettings,
    budget: SignalBudget | None,
    values: list[tuple[str, str, str, float]],
    *,
    cost_prefix: str,
    device: str,
    progress: bool,
) -> tuple[list[tuple[str, str, str, float]], dict[str, Any], float]:
    """Attribute the models of ``tasks`` and add ANSAT of ``pairs`` to ``values``.

    Returns the values, the detail kept with them, and when the set arithmetic started.
    """
    models = select_single_task_models(store, tasks, choice=settings.model_choice)
    work = _Attributions(run_dir, store, models, settings, cost_prefix, device, tasks)
    plan = None
    if settings.documents_from_budget and budget is not None:
        plan = work.plan(pairs, budget)
        cap: int | None = plan.max_documents
    else:
        cap = settings.max_documents
    resolved = replace(settings, max_documents=cap, documents_from_budget=False)
    sets = _sets(tasks, resolved, cap)
    work.run(pairs, sets, budget, progress)
    start = time.perf_counter()
    incomplete = work.incomplete
    caps = {name: work.decisions[name].documents for name in models}
    # ANSAT reads a model's scores on its own documents only
    own = {
        name: _model_documents(sets, pairs, name, caps[name], settings.seed)
        for name in models
        if name not in incomplete
    }
    keys = {name: work.doc_keys(name, documents, sets) for name, documents in own.items()}
    scores = {name: work.cache.word_scores(work.keys[name], keys[name]) for name in keys}
    completeness = {
        name: work.completeness[name]
        if name in incomplete
        else work.cache.completeness(work.keys[name], keys[name])
        for name in models
    }
    _warn_incomplete(
        {name: c for name, c in completeness.items() if name not in incomplete},
        models,
        resolved,
        work.steps,
    )
    _summarize_incomplete(incomplete)
    names = ansat_feature_names(settings.thresholds)
    for source, target in pairs:
        if source in incomplete or target in incomplete:  # attributions known to be wrong
            values.extend((source, target, key, float("nan")) for key in names)
            continue
        limits = [c for c in (caps[source], caps[target]) if c is not None]
        documents = sets.limited(source, target, min(limits) if limits else None, settings.seed)
        features = ansat_features(scores[source], scores[target], documents, settings.thresholds)
        values.extend((source, target, key, value) for key, value in features.items())
    detail = {
        "settings": {**asdict(resolved), "attribution": resolved.attribution.key()},
        "models": {name: row.id for name, row in models.items()},
        # the attribution cache keys these values read: their conductance costs are charged
        "attributions": dict(work.keys),
        "steps": work.steps,
        "documents": caps,
        "completeness": completeness,
        "incomplete": incomplete,
        "plan": None if plan is None else _plan_record(plan),
    }
    return values, detail, start


def _sets(tasks: TaskSet, settings: AnsatSettings, cap: int | None) -> DocumentSets:
    return document_sets(tasks, split=settings.split, max_documents=cap, seed=settings.seed)


def _plan_record(plan: AttributionPlan) -> dict[str, Any]:
    record = asdict(plan)
    record["description"] = plan.describe()
    return record


class _Attributions:
    """The attribution work of one stage call: cache keys, steps, costs, and the plan."""

    def __init__(
        self,
        run_dir: Path,
        store: RunStore,
        models: Mapping[str, TrialRow],
        settings: AnsatSettings,
        cost_prefix: str,
        device: str,
        tasks: TaskSet,
    ) -> None:
        self.run_dir = run_dir
        self.tasks = tasks
        self.device = device
        self.store = store
        self.models = dict(models)
        self.settings = settings
        self.cost_prefix = cost_prefix
        self.cache = AttributionCache(run_dir)
        self.fingerprints = {name: model_fingerprint(run_dir, row) for name, row in models.items()}
        #: The key of each model's record, and of its attributions at ``base_steps``.
        self.base_keys = {name: _cache_key(self.fingerprints[name], settings) for name in models}
        self.targets: dict[str, dict[str, AttributionTarget]] = {name: {} for name in models}
        #: Steps whose attributions the base key holds (the first steps a model was cached at).
        self.base_steps: dict[str, int] = {}
        self.decisions: dict[str, _Decision] = {}
        self.completeness: dict[str, dict[str, float | int]] = {}
        for name in models:
            recorded = self._recorded(name)
            if recorded:
                self.base_steps[name] = int(recorded["n_steps"])
                self.decisions[name] = _Decision(
                    int(recorded.get("steps", recorded["n_steps"])),
                    recorded.get("documents"),
                    recorded.get("incomplete"),
                    recorded.get("fraction"),
                )
                self.completeness[name] = recorded["completeness"]
        #: The cache key of the attributions each model's ANSAT values read.
        self.keys = {
            name: self._key(name, self.decisions[name].steps)
            if name in self.decisions
            else self.base_keys[name]
            for name in models
        }
        self.probes: dict[str, Attributed] = {}
        self.seconds_per_token_point: float | None = None
        self.spent = 0.0
        self.measured = (0.0, 0)  # seconds and token·points of the models attributed so far

    @property
    def steps(self) -> dict[str, int]:
        """Model -> the integration steps of the attributions its ANSAT values read."""
        return {name: decision.steps for name, decision in self.decisions.items()}

    @property
    def incomplete(self) -> dict[str, str]:
        """Model -> why its attributions are outside tolerance (its ANSAT is missing)."""
        return {
            name: decision.incomplete
            for name, decision in self.decisions.items()
            if decision.incomplete is not None
        }

    def _key(self, name: str, steps: int) -> str:
        """The cache key of ``name``'s attributions at ``steps``.

        The base key holds the steps a model was first cached at (as before other steps could
        be chosen for it: old caches stay valid); attributions at any other steps are keyed
        by them, so rows at different steps never mix.
        """
        base = self.base_steps.setdefault(name, steps)
        if base == steps:
            return self.base_keys[name]
        fingerprint = self.fingerprints[name] + json.dumps(["steps", steps])
        return _cache_key(fingerprint, self.settings)

    # -- the per-model record of steps and completeness --------------------------------
    def _record_path(self, name: str) -> Path:
        return self.cache.folder / f"{self.base_keys[name]}.steps.json"

    def _recorded(self, name: str) -> dict[str, Any] | None:
        path = self._record_path(name)
        return json.loads(path.read_text()) if path.exists() else None

    def _record(
        self, name: str, decision: _Decision, completeness: Mapping[str, float | int]
    ) -> None:
        """Keep a model's decision (before its attributions are cached) and completeness."""
        self.decisions[name] = decision
        self.keys[name] = self._key(name, decision.steps)
        self.completeness[name] = dict(completeness)
        self.cache.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "n_steps": self.base_steps[name],
            "completeness": self.completeness[name],
            **asdict(decision),
        }
        self._record_path(name).write_text(json.dumps(record))

    # -- planning ----------------------------------------------------------------------
    def plan(self, pairs: list[tuple[str, str]], budget: SignalBudget) -> AttributionPlan:
        """Cap the document sets so the attributions fit the budget (kept for re-runs)."""
        path = self.cache.folder / f"plan-{self._plan_key(pairs, budget)}.json"
        if path.exists():
            stored = json.loads(path.read_text())
            plan = AttributionPlan(**{**stored, "budget": SignalBudget(**stored["budget"])})
            self.seconds_per_token_point = plan.seconds_per_token_point
            logger.info("%s (planned before)", plan.describe())
            return plan
        tasks = self.tasks
        upper = self.settings.max_documents or MAX_DOCUMENTS
        largest = _sets(tasks, self.settings, upper)
        smallest = _sets(tasks, self.settings, min(MIN_DOCUMENTS, upper))
        first = next(iter(self.models))
        encoder = load_trained_model(self.run_dir, self.models[first], device=self.device)
        lengths = _token_lengths(
            encoder.tokenizer, largest.texts, self.settings.attribution.max_length, largest.pairs
        )
        known: dict[str, set[str]] = {}
        for name in self.models:
            model = encoder if name == first else None
            known[name] = set(largest.all_ids) - set(
                self._missing(name, largest.all_ids, largest, model)
            )
        probe_pool = smallest.needed(pairs)[first]
        probe = [doc for doc in probe_pool if doc not in known[first]]
        points = self.settings.attribution.n_steps + 1
        if probe:  # calibrate on the first model's probe, kept as its first attributions
            documents = {doc: largest.texts[doc] for doc in spread(probe, self._probe_size())}
            policy = self.settings.adaptive
            first_steps = self.steps.get(first, self.settings.attribution.n_steps)
            if policy is not None and first not in self.steps:
                first_steps = policy.start  # a first try; more steps are chosen in run()
            result = attribute_with_steps(
                encoder.model,
                encoder.tokenizer,
                documents,
                self.settings.attribution,
                first_steps,
                **self._kind_inputs(first, encoder, list(documents), largest),
            )
            self.probes[first] = result  # run() chooses the steps (and documents) from it
            points = first_steps + 1
            known[first].update(result.errors)
            self.spent += result.seconds
        else:  # only reached when a plan file was lost: measure without keeping
            documents = {doc: largest.texts[doc] for doc in probe_pool[:MIN_DOCUMENTS]}
            result = attribute_with_steps(
                encoder.model,
                encoder.tokenizer,
                documents,
                self.settings.attribution,
                self.steps.get(first, self.settings.attribution.n_steps),
                **self._kind_inputs(first, encoder, list(documents), largest),
            )
        rate = result.seconds / max(1, result.token_points)
        self.seconds_per_token_point = rate
        spent = replace(budget, spent_seconds=budget.spent_seconds + self.spent)

        def tokens_at(cap: int) -> tuple[int, int]:
            needed = _sets(tasks, self.settings, cap).needed(pairs)
            missing = [
                doc for name, docs in needed.items() for doc in docs if doc not in known[name]
            ]
            return len(missing), sum(lengths[doc] for doc in missing)

        plan = plan_documents(
            spent, tokens_at, points=points, seconds_per_token_point=rate, cap=upper
        )
        logger.info(plan.describe())
        if plan.projected_seconds > spent.left:
            logger.warning(
                "the smallest document sets (%d per set) overrun the signals' budget: the "
                "grid is small next to its documents",
                plan.max_documents,
            )
        self.cache.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(plan)))
        return plan

    def _kind_inputs(
        self, name: str, encoder: Encoder, documents: list[str], sets: DocumentSets
    ) -> dict[str, Any]:
        """The outputs attributed (as ``name``'s kind chooses) and the text pairs."""
        return {
            "targets": self._targets(name, documents, sets, encoder),
            "pairs": {doc: sets.pairs[doc] for doc in documents if doc in sets.pairs},
        }

    def _targets(
        self, name: str, documents: list[str], sets: DocumentSets, encoder: Encoder | None
    ) -> dict[str, AttributionTarget]:
        """What ``name``'s model attributes in each document (each worked out once).

        The model is loaded (if ``encoder`` is not it) only when its kind predicts targets.
        """
        known = self.targets[name]
        new = [doc for doc in documents if doc not in known]
        task = self.tasks[name]
        if new:
            if encoder is None and task.kind.needs_predictions_for_attribution:
                encoder = load_trained_model(self.run_dir, self.models[name], device=self.device)
            max_length = self.settings.attribution.max_length
            known.update(attribution_targets(encoder, task, new, sets, max_length))
        return {doc: known[doc] for doc in documents}

    def doc_keys(
        self, name: str, documents: list[str], sets: DocumentSets, encoder: Encoder | None = None
    ) -> dict[str, str]:
        """Document id -> the cache row key of the document with ``name``'s model."""
        targets = self._targets(name, documents, sets, encoder)
        return {
            doc: document_key(doc, sets.texts[doc], sets.pairs.get(doc), targets[doc])
            for doc in documents
        }

    def _probe_size(self) -> int:
        return self.settings.adaptive.probe_documents if self.settings.adaptive else MIN_DOCUMENTS

    def _plan_key(self, pairs: list[tuple[str, str]], budget: SignalBudget) -> str:
        inputs = [sorted(self.base_keys.items()), pairs, budget.fraction, asdict(self.settings)]
        return hashlib.sha256(json.dumps(inputs, default=str).encode()).hexdigest()[:32]

    def _missing(
        self,
        name: str,
        doc_ids: list[str],
        sets: DocumentSets,
        encoder: Encoder | None = None,
        key: str | None = None,
    ) -> list[str]:
        """The documents of ``doc_ids`` with no attribution by ``name``'s model cached.

        Only a document whose id is cached can be (targets may need the model's predictions).
        ``key``: the cache key looked in (default: the one its ANSAT values read).
        """
        key = key or self.keys[name]
        cached = self.cache.ids(key)
        keys = self.doc_keys(name, [doc for doc in doc_ids if doc in cached], sets, encoder)
        found = set(keys) - set(self.cache.missing(key, keys))
        return [doc for doc in doc_ids if doc not in found]

    # -- attributing -------------------------------------------------------------------
    def _measure(self, seconds: float, token_points: int) -> None:
        """Take the throughput from the models attributed so far (not the plan's probe alone).

        The plan measures one model on a handful of documents, where per-call overhead dominates
        (or it was stored by an earlier run on a machine as busy as it was then): a rate kept
        from there capped the first models' steps too low and left the budget to the last ones.
        """
        total, points = self.measured
        total, points = total + seconds, points + token_points
        self.measured = (total, points)
        if points > 0 and total > 0:
            self.seconds_per_token_point = total / points

    def _current(self, name: str, budget: SignalBudget | None) -> _Decision | None:
        """The model's recorded decision, unless the budget it was bound by has changed."""
        decision = self.decisions.get(name)
        if decision is None or decision.fraction is None or budget is None:
            return decision
        return decision if decision.fraction == budget.fraction else None

    def run(
        self,
        pairs: Sequence[tuple[str, str]],
        sets: DocumentSets,
        budget: SignalBudget | None,
        progress: bool,
    ) -> None:
        """Choose every model's steps and documents, attribute them and cache the results.

        Accuracy before quantity: a model whose steps within tolerance do not fit its share of
        the budget on every document is attributed on fewer (down to :data:`MIN_DOCUMENTS`
        per set) at those steps; a model that stays above tolerance is *incomplete*: its
        attributions are not read and its pairs' ANSAT is missing.
        """
        todo = []
        for name in self.models:
            decision = self._current(name, budget)
            if name in self.probes or decision is None or decision.incomplete is None:
                todo.append(name)  # an incomplete model is not attributed again
        bar = progress_bar(enabled=progress)
        with bar:
            bar_task = bar.add_task("attributions (model x document)", total=None)
            for position, name in enumerate(todo):
                self._attribute_model(
                    name,
                    pairs,
                    sets,
                    budget,
                    len(todo) - position,
                    lambda n: bar.update(bar_task, advance=n),
                )

    def _attribute_model(
        self,
        name: str,
        pairs: Sequence[tuple[str, str]],
        sets: DocumentSets,
        budget: SignalBudget | None,
        models_left: int,
        on_batch: Callable[[int], None],
    ) -> None:
        """One model: its decision (steps, documents), its attributions, its completeness."""
        policy = self.settings.adaptive
        most = self.settings.attribution.n_steps
        # the documents are held to the tolerance their probe passed
        tolerance = policy.tolerance if policy else self.settings.completeness_tolerance
        texts = sets.texts
        seed = self.settings.seed
        loaded: list[Encoder] = []

        def encoder() -> Encoder:
            if not loaded:
                loaded.append(
                    load_trained_model(self.run_dir, self.models[name], device=self.device)
                )
            return loaded[0]

        top = max([len(ids) for ids in _model_sets(sets, pairs, name, None, seed)] or [0])
        floor = min(MIN_DOCUMENTS, top)
        rate = self.seconds_per_token_point
        share = math.inf
        if budget is not None and rate is not None:
            share = STEP_CAP_AIM * (budget.left - self.spent) / max(1, models_left)
        tried = self.probes.pop(name, None)  # the plan's calibration, counted already
        seconds = tried.seconds if tried else 0.0
        token_points = tried.token_points if tried else 0
        charged = 0.0  # this model's attributions at the rate its decisions are made with
        decision = self._current(name, budget)
        pending = tried  # probe attributions not cached yet
        if decision is None and policy is None:
            decision = _Decision(most, None, None, None)
        if decision is None:
            assert policy is not None
            full = _model_documents(sets, pairs, name, None, seed)
            probe_ids = list(tried.errors) if tried else spread(full, policy.probe_documents)
            lengths = _token_lengths(
                encoder().tokenizer,
                {doc: texts[doc] for doc in {*full, *probe_ids}},
                self.settings.attribution.max_length,
                sets.pairs,
            )

            probed = set(probe_ids)

            def rest(cap: int | None) -> int:
                documents = _model_documents(sets, pairs, name, cap, seed)
                return sum(lengths[doc] for doc in documents if doc not in probed)

            steps_cap = most
            if math.isfinite(share) and rate is not None:
                steps_cap = step_cap(
                    share,
                    probe_tokens=sum(lengths[doc] for doc in probe_ids),
                    other_tokens=rest(floor),  # the fewest documents: the most steps
                    seconds_per_token_point=rate,
                    start=policy.start,
                    most=most,
                    tried=tried.n_steps if tried else None,
                )
            probe = choose_steps(
                encoder().model,
                encoder().tokenizer,
                {doc: texts[doc] for doc in probe_ids},
                self.settings.attribution,
                policy,
                max_steps=steps_cap,
                tried=tried,
                **self._kind_inputs(name, encoder(), probe_ids, sets),
            )
            new_points = probe.token_points - (tried.token_points if tried else 0)
            self.spent += probe.seconds - (tried.seconds if tried else 0.0)
            seconds, token_points = probe.seconds, probe.token_points
            charged += new_points * (rate or 0.0)
            on_batch(0 if tried else len(probe_ids))
            pending = probe
            fraction = None if budget is None else budget.fraction
            if not policy.accepts(probe.errors):
                bound = median_upper_bound(list(probe.errors.values()), policy.confidence)
                decision = _Decision(
                    probe.n_steps,
                    None,
                    _probe_reason(bound, policy, probe.n_steps, floor, budgeted=steps_cap < most),
                    fraction if steps_cap < most else None,
                )
                pending = None  # never read
            else:
                documents: int | None = None
                if math.isfinite(share) and rate is not None and top > floor:
                    fitted = fit_documents(
                        share - charged,
                        rest,
                        points=probe.n_steps + 1,
                        seconds_per_token_point=rate,
                        low=floor,
                        high=top,
                    )
                    # not even the fewest fit (the plan warned): attribute the fewest anyway
                    documents = floor if fitted is None else (None if fitted == top else fitted)
                decision = _Decision(
                    probe.n_steps, documents, None, None if documents is None else fraction
                )
            self._record(name, decision, probe.completeness.as_dict())
        elif tried is not None and tried.n_steps != decision.steps:
            pending = None
        while decision.incomplete is None:
            key = self._key(name, decision.steps)
            documents_now = _model_documents(sets, pairs, name, decision.documents, seed)
            if pending is not None:  # the probe's attributions at the chosen steps
                self._cache_new(key, pending)
                pending = None
            missing = self._missing(name, documents_now, sets, encoder() if loaded else None, key)
            if missing:
                result = attribute_with_steps(
                    encoder().model,
                    encoder().tokenizer,
                    {doc: texts[doc] for doc in missing},
                    self.settings.attribution,
                    decision.steps,
                    on_batch=on_batch,
                    **self._kind_inputs(name, encoder(), missing, sets),
                )
                self.spent += result.seconds
                seconds += result.seconds
                token_points += result.token_points
                charged += result.token_points * (rate or 0.0)
                self._cache_new(key, result)
            summary = self.cache.completeness(key, self.doc_keys(name, documents_now, sets))
            self._record(name, decision, summary)
            if policy is None or not summary["median"] > tolerance:
                break
            # The probe passed but the documents did not: double the steps if they fit.
            doubled = min(2 * decision.steps, most)
            fitted = None
            if doubled > decision.steps:
                high = top if decision.documents is None else decision.documents
                now = _token_lengths(
                    encoder().tokenizer,
                    {doc: texts[doc] for doc in documents_now},
                    self.settings.attribution.max_length,
                    sets.pairs,
                )
                fitted = fit_documents(
                    share - charged,
                    lambda cap, now=now: sum(  # type: ignore[misc]
                        now[doc] for doc in _model_documents(sets, pairs, name, cap, seed)
                    ),
                    points=doubled + 1,
                    seconds_per_token_point=rate or 0.0,
                    low=min(floor, high),
                    high=high,
                )
            if fitted is None:
                reason = _set_reason(summary, tolerance, decision.steps, doubled, floor)
                budgeted = doubled > decision.steps
                fraction = None if budget is None or not budgeted else budget.fraction
                decision = replace(decision, incomplete=reason, fraction=fraction)
                self._record(name, decision, summary)
                break
            reduced = None if fitted == top else fitted
            fraction = None if budget is None or reduced is None else budget.fraction
            decision = _Decision(doubled, reduced, None, fraction)
            self._record(name, decision, summary)
        if token_points:
            self._measure(seconds, token_points)
            key = self.keys[name]
            self.store.put_cost(
                self.cost_prefix + "conductance",
                f"{key}:{len(self.cache.words(key))}"
                + (f":incomplete:{decision.steps}" if decision.incomplete else ""),
                seconds,
                {
                    "task": name,
                    "trial": self.models[name].id,
                    "documents": self.completeness[name].get("documents"),
                    "n_steps": decision.steps,
                    "documents_per_set": decision.documents,
                    "completeness": self.completeness[name],
                    "incomplete": decision.incomplete,
                },
            )
        self._log(name, decision, seconds)

    def _cache_new(self, key: str, result: Attributed) -> None:
        """Cache the attributions of ``result`` not cached under ``key`` yet."""
        known = set(self.cache.words(key)["doc_key"])
        new = {str(k) for k in result.documents["doc_key"]} - known
        if new:
            self.cache.add(
                key,
                *(
                    table[table["doc_key"].isin(new)]
                    for table in (result.words, result.tokens, result.documents)
                ),
            )

    def _log(self, name: str, decision: _Decision, seconds: float) -> None:
        summary = self.completeness[name]
        if decision.incomplete is not None:
            logger.info("%s's model is incomplete: %s", name, decision.incomplete)
            return
        logger.info(
            "attributed %d documents with %s's model (%d steps%s, median completeness error "
            "%.3f) in %.1fs",
            int(summary.get("documents", 0)),
            name,
            decision.steps,
            ""
            if decision.documents is None
            else f", at most {decision.documents} documents per set: the budget buys no more",
            summary["median"],
            seconds,
        )


@dataclass(frozen=True)
class _Decision:
    """What a model is attributed with: its steps, documents and whether it is used.

    Attributes:
        steps: Integration steps of the attributions its ANSAT values read.
        documents: Most documents per set it is attributed on (``None``: the stage's sets).
        incomplete: Why its attributions are outside tolerance (``None``: they are within).
        fraction: The ``signals.budget`` a decision bound by the budget was made under (a
            re-run with another budget decides again); ``None``: not bound by it.
    """

    steps: int
    documents: int | None
    incomplete: str | None
    fraction: float | None


def _probe_reason(
    bound: float, policy: AdaptiveSteps, steps: int, floor: int, *, budgeted: bool
) -> str:
    what = (
        f"the most its share of signals.budget buys on {floor} documents per set: raise "
        "signals.budget"
        if budgeted
        else "the most it may take: try another signals.ansat.baseline"
    )
    return (
        f"the probe's completeness error (95% bound of the median) is {bound:.3f} at {steps} "
        f"steps, above the {policy.tolerance:g} tolerance; {steps} steps are {what}"
    )


def _set_reason(
    summary: Mapping[str, float], tolerance: float, steps: int, doubled: int, floor: int
) -> str:
    where = (
        f"{doubled} steps on {floor} documents per set would overrun its share of the "
        "budget: raise signals.budget"
        if doubled > steps
        else f"{steps} steps are the most it may take: try another signals.ansat.baseline"
    )
    return (
        f"the median completeness error of its {int(summary['documents'])} documents is "
        f"{summary['median']:.3f} at {steps} steps, above the {tolerance:g} tolerance; {where}"
    )


def _model_sets(
    sets: DocumentSets,
    pairs: Sequence[tuple[str, str]],
    name: str,
    most: int | None,
    seed: int,
) -> list[list[str]]:
    """The document sets of ``name``'s pairs, each cut to at most ``most`` documents."""
    return [
        ids
        for source, target in pairs
        if name in (source, target)
        for ids in sets.limited(source, target, most, seed).values()
    ]


def _model_documents(
    sets: DocumentSets,
    pairs: Sequence[tuple[str, str]],
    name: str,
    most: int | None,
    seed: int,
) -> list[str]:
    """The documents ``name``'s model is attributed on with at most ``most`` per set."""
    return sorted({doc for ids in _model_sets(sets, pairs, name, most, seed) for doc in ids})


def _cache_key(fingerprint: str, settings: AnsatSettings) -> str:
    """The attribution cache key; adaptive steps are keyed by their policy (steps recorded)."""
    if settings.adaptive is not None:
        fingerprint += json.dumps(["adaptive", asdict(settings.adaptive)])
    return AttributionCache.key(fingerprint, settings.attribution)


def _token_lengths(
    tokenizer: PreTrainedTokenizerBase,
    texts: Mapping[str, str],
    max_length: int,
    pairs: Mapping[str, str],
) -> dict[str, int]:
    """Document id -> its number of tokens after truncation (a pair as a sentence pair)."""
    out: dict[str, int] = {}
    single = [doc for doc in texts if doc not in pairs]
    paired = [doc for doc in texts if doc in pairs]
    for ids, second in ((single, None), (paired, [pairs[doc] for doc in paired])):
        if ids:
            encoded = tokenizer(
                [texts[doc] for doc in ids],
                *(() if second is None else (second,)),
                truncation=True,
                max_length=max_length,
            )
            out.update((doc, len(t)) for doc, t in zip(ids, encoded["input_ids"], strict=True))
    return out


def attribution_targets(
    encoder: Encoder | None,
    task: Task,
    documents: Sequence[str],
    sets: DocumentSets,
    max_length: int,
) -> dict[str, AttributionTarget]:
    """What is attributed in each document with ``task``'s model, as its kind says.

    Binary: the positive class; multi-class: the gold class of a document of ``task`` (any
    split), else the model's predicted class; regression: the output; tagging: the gold (else
    predicted) entity words' tags; QA: the gold (else predicted) answer span's start and end.
    """
    gold: dict[str, Any] = {}
    for _, split in task.splits():  # keyed as the sets know them: a clashing id is not ours
        seconds = split.pairs if split.pairs is not None else [None] * len(split.ids)
        for doc, text, second, label in zip(
            split.ids, split.texts, seconds, split.labels, strict=True
        ):
            gold[sets.key(doc, text, second)] = label
    outputs: list[Any] | None = None
    if task.kind.needs_predictions_for_attribution:
        assert encoder is not None, "the kind attributes predicted outputs: give the model"
        outputs = [None] * len(documents)
        # A document of a pair task is a pair for every model; the rest are single texts.
        for paired in (False, True):
            rows = [i for i, doc in enumerate(documents) if (doc in sets.pairs) == paired]
            if rows:
                part = Split(
                    tuple(documents[i] for i in rows),
                    tuple(sets.texts[documents[i]] for i in rows),
                    np.zeros(len(rows)),  # not read: the documents are predicted
                    tuple(sets.pairs[documents[i]] for i in rows) if paired else None,
                )
                predicted = predict(
                    encoder.model, encoder.tokenizer, part, max_length=max_length, kind=task.kind
                )
                for r, i in enumerate(rows):
                    outputs[i] = predicted[r]
    targets = task.kind.attribution_targets(
        [gold.get(doc) for doc in documents], outputs, reference=task.train.labels
    )
    return dict(zip(documents, targets, strict=True))


def _summarize_incomplete(incomplete: Mapping[str, str]) -> None:
    """One line for the stage: whose ANSAT is missing, and what to raise."""
    if not incomplete:
        return
    budget = [name for name, reason in incomplete.items() if "signals.budget" in reason]
    other = [name for name in incomplete if name not in budget]
    advice = "; ".join(
        part
        for part in (
            f"raise signals.budget for {', '.join(budget)}" if budget else "",
            f"try another signals.ansat.baseline for {', '.join(other)}" if other else "",
        )
        if part
    )
    logger.warning(
        "ANSAT is missing (NaN) for every pair with %s: their conductance stays above the "
        "completeness tolerance within what may be spent on it (%s; the reasons are stored "
        "with the signals and shown in the report)",
        ", ".join(incomplete),
        advice,
    )


def _warn_incomplete(
    completeness: dict[str, dict[str, float]],
    models: dict[str, TrialRow],
    settings: AnsatSettings,
    steps: dict[str, int],
) -> None:
    """Warn for every model whose attributions are far from completeness."""
    raise_what = "signals.ansat.n_steps"
    if settings.adaptive is not None:  # the budget capped the steps
        raise_what = "signals.budget (adaptive steps are capped by it) or set n_steps"
    for name, summary in completeness.items():
        if summary["median"] > settings.completeness_tolerance:
            logger.warning(
                "conductance of %s's model (trial %s) is incomplete: median error %.1f%% (max "
                "%.1f%%) of F(x) - F(baseline), above the %.1f%% tolerance; raise %s (now %d "
                "steps) or try another signals.ansat.baseline (now %s: pad, mask or zero)",
                name,
                models[name].id,
                100 * summary["median"],
                100 * summary["max"],
                100 * settings.completeness_tolerance,
                raise_what,
                steps.get(name, settings.attribution.n_steps),
                settings.attribution.baseline
                + (
                    " = the encoder family's default"
                    if settings.attribution.baseline == "auto"
                    else ""
                ),
            )
