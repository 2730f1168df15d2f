"""The run configuration: one TOML file, validated on load, with dotted overrides.

Every section is a dataclass; unknown keys and values of the wrong type are errors that name
the key.  Overrides look like ``grid.seeds=[0, 1]`` or ``data.max_train_examples=500``: the
value is read as TOML (a bare word that is not TOML is taken as a string; ``none`` clears an
optional value).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from transferscout.encoders import DEFAULT_ENCODER, EncoderSpec
from transferscout.errors import ConfigError, EncoderError
from transferscout.evaluation.run import EvaluationSettings
from transferscout.grid.runner import ExecutionOptions
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.kinds import get_kind
from transferscout.meta.pool import POOL_SIGNALS, PoolBudget
from transferscout.signals.adaptive import ADAPTIVE_MAX_STEPS, AdaptiveSteps
from transferscout.signals.ansat_stage import AnsatSettings
from transferscout.signals.attributions import AttributionSettings
from transferscout.signals.budget import MAX_DOCUMENTS, MAX_EXAMPLES, SignalBudget
from transferscout.signals.pair_stage import PairSignalSettings
from transferscout.tasks import TableSpec, TaskOptions, TaskSet, load_corpus, load_tasks
from transferscout.tasks.questions import QuestionsSpec, load_question_task
from transferscout.tasks.tagged import TaggedSpec, load_tagged_task

__all__ = [
    "PROFILES",
    "AnsatConfig",
    "DataConfig",
    "DataTableConfig",
    "EncoderConfig",
    "EvaluationConfig",
    "ExecutorConfig",
    "GridConfig",
    "PairSignalsConfig",
    "RunConfig",
    "SignalsConfig",
    "StageGridConfig",
    "config_from_dict",
    "load_run_config",
    "load_config",
    "read_config_file",
]


@dataclass(frozen=True)
class DataTableConfig:
    """``[[data.tables]]``: one more file (or built-in corpus) whose tasks join the run's.

    Its keys describe the table exactly as ``[data]`` describes the first one — where the data
    is, its columns, the kinds of its label columns, a second text column, which tasks to
    keep — so one run can mix, say, single-text tasks of one file with text-pair tasks of
    another.  How documents are split and capped is ``[data]``'s, shared by every table.
    Task names must differ across tables.
    """

    corpus: str | None = None
    path: str | None = None
    format: str = "auto"
    text_column: str = "text"
    text_pair_column: str | None = None
    label_columns: list[str] | None = None
    task_kinds: dict[str, str] = field(default_factory=dict)
    multilabel_column: str | None = None
    label_delimiter: str | None = None
    split_column: str | None = None
    id_column: str | None = None
    tasks: list[str] | None = None
    all_tasks: bool = False

    def __post_init__(self) -> None:
        if (self.path is None) == (self.corpus is None):
            raise ConfigError("give exactly one of path (a file) or corpus (built-in)")
        for kind in self.task_kinds.values():
            get_kind(kind)


@dataclass(frozen=True)
class DataConfig(DataTableConfig):
    """``[data]``: a built-in corpus, or a file with its columns; selection, split, caps.

    The first table (its description is a :class:`DataTableConfig`'s, with the built-in corpus
    as the default) and how every table's documents are prepared.  ``tables``
    (``[[data.tables]]``) add the tasks of further files or corpora.
    """

    corpus: str | None = "disaster-response"
    seed: int = 0
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    cap_strategy: str = "stratified"
    duplicates: str = "drop"
    min_positives: int = 1
    tagged: list[TaggedSpec] = field(default_factory=list)
    questions: list[QuestionsSpec] = field(default_factory=list)
    tables: list[DataTableConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        # path and corpus may both be given here: the path wins (the corpus is the default)
        for kind in self.task_kinds.values():
            get_kind(kind)
        # entries given as tables (a target's [data]) become specs, checked as a file's are
        specs = [
            _build_item(TaggedSpec, t, f"data.tagged[{i}]") if isinstance(t, Mapping) else t
            for i, t in enumerate(self.tagged)
        ]
        object.__setattr__(self, "tagged", specs)
        asked = [
            _build_item(QuestionsSpec, q, f"data.questions[{i}]") if isinstance(q, Mapping) else q
            for i, q in enumerate(self.questions)
        ]
        object.__setattr__(self, "questions", asked)

    def task_options(self) -> TaskOptions:
        """The selection, split and capping options."""
        return TaskOptions(
            tasks=None if self.tasks is None else tuple(self.tasks),
            seed=self.seed,
            fractions=tuple(self.fractions),  # type: ignore[arg-type]  # checked by TaskOptions
            max_train_examples=self.max_train_examples,
            max_eval_examples=self.max_eval_examples,
            cap_strategy=self.cap_strategy,  # type: ignore[arg-type]
            duplicates=self.duplicates,  # type: ignore[arg-type]
            min_positives=self.min_positives,
        )

    def load(self) -> TaskSet:
        """Build the task set this section describes.

        The first table's (or corpus's) tasks, then the tagged tasks of ``tagged`` and the
        question-answering tasks of ``questions`` (``corpus = "none"`` with no ``path``: only
        those; ``tasks`` selects and orders them all), then the tasks of each further table of
        ``tables``, prepared as this section says.
        """
        first = self._first()
        if not self.tables:
            return first
        parts = [first]
        # how documents are prepared (split, caps, duplicates): [data]'s, for every table
        described = {f.name for f in dataclasses.fields(DataTableConfig)}
        described |= {"tables", "tagged", "questions"}
        preparation = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in described
        }
        for index, table in enumerate(self.tables):
            description = dataclasses.asdict(table)
            try:
                parts.append(DataConfig(**description, **preparation)._table())
            except ConfigError as error:
                raise ConfigError(f"data.tables[{index}]: {error}") from None
        return TaskSet(
            tuple(task for part in parts for task in part.tasks),
            " + ".join(part.source for part in parts),
            tuple(note for part in parts for note in part.notes),
        )

    def _first(self) -> TaskSet:
        """The first table's tasks, the tagged tasks and the question-answering tasks."""
        if not self.tagged and not self.questions:
            return self._table()
        options = self.task_options()
        built = [load_tagged_task(spec, options) for spec in self.tagged]
        built += [load_question_task(spec, options) for spec in self.questions]
        names = {task.name for task, _ in built}
        wanted = None if self.tasks is None else [n for n in self.tasks if n not in names]
        table = None
        if (self.path is not None or self.corpus not in (None, "", "none")) and wanted != []:
            table = replace(self, tasks=wanted, tagged=[], questions=[], tables=[])._table()
        tasks = (*(table.tasks if table else ()), *(task for task, _ in built))
        notes = (*(table.notes if table else ()), *(n for _, ns in built for n in ns))
        first = (self.tagged or self.questions)[0]
        source = table.source if table else str(first.path or first.train)
        merged = TaskSet(tasks, source, notes)
        return merged if self.tasks is None else merged.select(self.tasks)

    def _table(self) -> TaskSet:
        if self.path is not None:
            spec = TableSpec(
                text_column=self.text_column,
                text_pair_column=self.text_pair_column,
                label_columns=None if self.label_columns is None else tuple(self.label_columns),
                kinds=self.task_kinds,
                multilabel_column=self.multilabel_column,
                label_delimiter=self.label_delimiter,
                split_column=self.split_column,
                id_column=self.id_column,
            )
            return load_tasks(self.path, spec, self.task_options(), format=self.format)  # type: ignore[arg-type]
        if self.corpus is None:
            raise ConfigError("data: give either data.path (a file) or data.corpus (built-in)")
        return load_corpus(self.corpus, self.task_options(), all_tasks=self.all_tasks)


@dataclass(frozen=True)
class EncoderConfig:
    """``[encoder]``: a built-in name or a local folder, and how many layers to keep."""

    source: str = DEFAULT_ENCODER
    num_layers: int | None = None

    def spec(self) -> EncoderSpec:
        """The encoder spec."""
        return EncoderSpec(self.source, self.num_layers)


@dataclass(frozen=True)
class StageGridConfig:
    """``[grid.target]`` / ``[grid.source]``: lists of values; every combination is tried."""

    learning_rate: list[float] = field(default_factory=lambda: [2e-5])
    epochs: list[int] = field(default_factory=lambda: [1])
    batch_size: list[int] = field(default_factory=lambda: [16])
    max_length: list[int] = field(default_factory=lambda: [128])
    warmup_ratio: list[float] = field(default_factory=lambda: [0.1])
    weight_decay: list[float] = field(default_factory=lambda: [0.01])


@dataclass(frozen=True)
class GridConfig:
    """``[grid]``: targets, sources, seeds, and the per-stage hyperparameter lists."""

    targets: list[str] | None = None
    sources: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    single_task_seeds: list[int] = field(default_factory=list)
    allow_self_transfer: bool = False
    precision: str = "fp32"
    matched_single_task: bool = False
    target: StageGridConfig = field(default_factory=StageGridConfig)
    source: StageGridConfig = field(default_factory=StageGridConfig)

    def spec(self) -> GridSpec:
        """The grid spec."""
        return GridSpec(
            targets=None if self.targets is None else tuple(self.targets),
            sources=None if self.sources is None else tuple(self.sources),
            target_settings=settings_grid(**dataclasses.asdict(self.target)),
            source_settings=settings_grid(**dataclasses.asdict(self.source)),
            seeds=tuple(self.seeds),
            single_task_seeds=tuple(self.single_task_seeds),
            allow_self_transfer=self.allow_self_transfer,
            precision=self.precision,  # type: ignore[arg-type]  # checked by GridSpec
            matched_single_task=self.matched_single_task,
        )


@dataclass(frozen=True)
class ExecutorConfig:
    """``[executor]``: local or Ray, workers, threads, device, retries."""

    kind: str = "local"
    workers: int | None = None
    threads_per_worker: int | None = None
    address: str | None = None
    device: str = "auto"
    max_attempts: int = 2

    def options(self) -> ExecutionOptions:
        """The execution options."""
        return ExecutionOptions(
            executor=self.kind,
            workers=self.workers,
            threads_per_worker=self.threads_per_worker,
            ray_address=self.address,
            device=self.device,
            max_attempts=self.max_attempts,
        )


@dataclass(frozen=True)
class AnsatConfig:
    """``[signals.ansat]``: conductance settings and the document sets of ANSAT.

    Left out, ``n_steps``, ``max_length`` and ``max_documents`` are derived from the run:
    adaptive integration (``start_steps`` doubled while a 95% upper confidence bound of the
    median completeness error of a model's documents, from 32 probe documents, is above
    ``tolerance``; at most 50), the grid's longest ``max_length``, and as many
    documents per set (10 to 100) as ``signals.budget`` allows.  Given, they win.
    """

    n_steps: int | None = None
    start_steps: int = 4
    tolerance: float = 0.1
    method: str = "gausslegendre"
    max_length: int | None = None
    split: str = "validation"
    max_documents: int | None = None
    seed: int = 0
    model_choice: str = "best_validation"
    documents_per_batch: int = 8
    internal_batch_size: int = 256
    baseline: str = "auto"
    completeness_tolerance: float | None = None

    def settings(self, *, max_length: int = 128, precision: str = "fp32") -> AnsatSettings:
        """The ANSAT stage settings (``max_length``, ``precision``: the derived defaults)."""
        adaptive = None
        if self.n_steps is None:
            adaptive = AdaptiveSteps(start=self.start_steps, tolerance=self.tolerance)
        return AnsatSettings(
            attribution=AttributionSettings(
                n_steps=ADAPTIVE_MAX_STEPS if self.n_steps is None else self.n_steps,
                method=self.method,  # type: ignore[arg-type]  # checked by AttributionSettings
                max_length=max_length if self.max_length is None else self.max_length,
                documents_per_batch=self.documents_per_batch,
                internal_batch_size=self.internal_batch_size,
                precision=precision,  # type: ignore[arg-type]  # checked by AttributionSettings
                baseline=self.baseline,  # type: ignore[arg-type]  # checked by AttributionSettings
            ),
            split=self.split,
            max_documents=MAX_DOCUMENTS if self.max_documents is None else self.max_documents,
            seed=self.seed,
            model_choice=self.model_choice,  # type: ignore[arg-type]  # checked by AnsatSettings
            adaptive=adaptive,
            documents_from_budget=self.max_documents is None,
            # Left out: warn above the adaptive tolerance (a model whose steps hit their cap
            # before completeness was within it), or 5% with fixed steps.
            completeness_tolerance=self.completeness_tolerance
            or (self.tolerance if adaptive else 0.05),
        )


@dataclass(frozen=True)
class PairSignalsConfig:
    """``[signals.pairs]``: task embeddings, estimators and baselines.

    Left out, ``max_length`` is the grid's longest ``max_length`` and ``max_examples`` (per
    task) is as many as half of ``signals.budget`` allows (32 to 500).
    """

    max_examples: int | None = None
    max_length: int | None = None
    batch_size: int = 32
    taskemb_parameters: bool = False
    transrate_eps: float = 1e-2
    model_choice: str = "best_validation"
    seed: int = 0

    def settings(
        self, *, max_length: int = 128, precision: str = "fp32", max_examples: int = MAX_EXAMPLES
    ) -> PairSignalSettings:
        """The pair-signal stage settings (keywords: the derived defaults)."""
        values = dataclasses.asdict(self)
        values["max_length"] = max_length if self.max_length is None else self.max_length
        values["max_examples"] = max_examples if self.max_examples is None else self.max_examples
        return PairSignalSettings(**values, precision=precision)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignalsConfig:
    """``[signals]``: the signals' budget and precision, and each signal's settings.

    ``budget`` is the share of the projected full-grid cost the signals may spend (it sizes
    ANSAT's document sets and caps its integration steps); ``precision`` is ``fp32`` or
    ``bf16`` (autocast for attributions, features and embeddings), by default the grid's.
    """

    budget: float = 0.05
    precision: str | None = None
    ansat: AnsatConfig = field(default_factory=AnsatConfig)
    pairs: PairSignalsConfig = field(default_factory=PairSignalsConfig)


@dataclass(frozen=True)
class EvaluationConfig:
    """``[evaluation]``: meta-model feature sets, depths, intervals, adaptive search."""

    feature_sets: list[str] = field(
        default_factory=lambda: ["f1", "f1+ansat", "f1+ansat+taskemb", "all"]
    )
    rmse_ks: list[int] = field(default_factory=lambda: list(range(5, 105, 5)))
    ndcg_k: int = 3
    regret_ks: list[int] = field(default_factory=lambda: [1, 3])
    allow_self_transfer: bool = False
    bootstrap_resamples: int = 2000
    # No longer used (the random baseline is exact); accepted so earlier runs' files load.
    random_permutations: int | None = None
    adaptive: bool = True
    adaptive_feature_set: str = "all"
    kappa: float = 1.0
    n_estimators: int = 300
    seed: int = 0
    meta_seeds: int = 5

    def settings(self) -> EvaluationSettings:
        """The evaluation settings."""
        values = dataclasses.asdict(self)
        del values["random_permutations"]
        for key in ("feature_sets", "rmse_ks", "regret_ks"):
            values[key] = tuple(values[key])
        return EvaluationSettings(**values)


#: The signal families a pool search can read, by column prefix (``baselines`` by name).
_SIGNAL_PREFIXES = ("textemb_", "taskemb_", "estimators_", "ansat_")


@dataclass(frozen=True)
class SearchConfig:
    """``[search]``: what ``transferscout run`` does and, in pool mode, how it searches.

    ``mode = "pool"`` (the default) trains the single-task models, computes the ``signals``
    read by the pool search, then searches every target's transfers at once within
    ``budget`` (a share of the projected full grid such as ``"20%"``, ``"30 trials"`` or a
    time such as ``"2h"``), stopping a target early when no remaining candidate's upper
    predicted gain beats its best model by ``margin``; ``seed`` seeds its tie-breaks;
    ``prior`` (a finished run folder or an imported matrix run) warm-starts the model of gain
    with what that pool learnt about the settings and the signals (off by default: the
    replay shows it does not help, BENCHMARKS "Cold start").
    ``mode = "grid"`` trains the whole grid and evaluates it in hindsight (the ``study``
    profile; also ``run --full-grid``).
    """

    mode: str = "pool"
    budget: str = "20%"
    margin: float = 0.01
    signals: list[str] = field(default_factory=lambda: list(POOL_SIGNALS))
    seed: int = 0
    prior: str | None = None

    def check(self) -> None:
        """Refuse an unknown mode, budget, margin or signal (one line each)."""
        if self.mode not in ("pool", "grid"):
            raise ConfigError(f"mode = {self.mode!r}; expected 'pool' or 'grid'")
        self.pool_budget()
        if not self.margin >= 0:
            raise ConfigError(f"margin = {self.margin}; expected 0 or more")
        names = ("source_size", "source_positive_rate", "target_positive_rate")
        for signal in self.signals:
            if not signal.startswith(_SIGNAL_PREFIXES) and signal not in names:
                raise ConfigError(
                    f"signals: {signal!r} is no pool-search signal; expected columns such as "
                    "textemb_cosine, estimators_logme, taskemb_rrf or ansat_ab_0.30"
                )

    def pool_budget(self) -> PoolBudget:
        """The parsed budget."""
        return PoolBudget.parse(self.budget)

    @property
    def text_signals_only(self) -> bool:
        """Whether every signal read comes from the text-only pair stage (no model is run)."""
        return all(not s.startswith(("taskemb_", "estimators_", "ansat_")) for s in self.signals)

    @property
    def reads_ansat(self) -> bool:
        """Whether ANSAT must be computed (its attributions are the costliest signal)."""
        return any(s.startswith("ansat_") for s in self.signals)


@dataclass(frozen=True)
class RunConfig:
    """The whole run configuration."""

    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def validate(self) -> None:
        """Check every section's values (what can be checked before any data is read).

        An error names the full dotted key (``grid.target.learning_rate``), though the
        checks themselves live in the library's settings classes.
        """
        checks: list[tuple[str, Callable[[], object], Mapping[str, str]]] = [
            ("data", self.data.task_options, {}),
            ("encoder", self.encoder.spec, {}),
            ("grid.target", lambda: settings_grid(**dataclasses.asdict(self.grid.target)), {}),
            ("grid.source", lambda: settings_grid(**dataclasses.asdict(self.grid.source)), {}),
            ("grid", self.grid.spec, {}),
            ("executor", self.executor.options, {"executor": "kind", "ray_address": "address"}),
            ("signals.ansat", self.ansat_settings, {}),
            ("signals.pairs", self.pair_settings, {}),
            ("signals", lambda: self.signal_budget(0.0), {"fraction": "budget"}),
            ("evaluation", self.evaluation.settings, {}),
            ("search", self.search.check, {}),
        ]
        for section, check, aliases in checks:
            try:
                check()
            except (ConfigError, EncoderError) as error:
                raise ConfigError(_full_key(str(error), section, aliases)) from None

    @property
    def signal_precision(self) -> str:
        """``signals.precision``, or the grid's when left out."""
        return self.signals.precision or self.grid.precision

    @property
    def signal_length(self) -> int:
        """The grid's longest ``max_length`` (the derived length of every signal)."""
        return max(*self.grid.target.max_length, *self.grid.source.max_length)

    def ansat_settings(self) -> AnsatSettings:
        """ANSAT's settings, with the defaults derived from the grid filled in."""
        return self.signals.ansat.settings(
            max_length=self.signal_length, precision=self.signal_precision
        )

    def pair_settings(self, max_examples: int = MAX_EXAMPLES) -> PairSignalSettings:
        """The pair signals' settings, with the defaults derived from the grid filled in.

        ``max_examples`` is used when the configuration leaves it out (derived by the caller).
        """
        return self.signals.pairs.settings(
            max_length=self.signal_length,
            precision=self.signal_precision,
            max_examples=max_examples,
        )

    def signal_budget(self, grid_seconds: float, spent_seconds: float = 0.0) -> SignalBudget:
        """``signals.budget`` of a grid projected to cost ``grid_seconds``."""
        return SignalBudget(grid_seconds, self.signals.budget, spent_seconds)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (``None`` values left out, as TOML has no null)."""
        data: dict[str, Any] = _drop_none(dataclasses.asdict(self))
        if not data["data"]["tables"]:  # a one-table run's file reads as before tables existed
            del data["data"]["tables"]
        return data


def _full_key(message: str, section: str, aliases: Mapping[str, str]) -> str:
    """``"learning_rate = 0; ..."`` -> ``"grid.target.learning_rate = 0; ..."``."""
    name = re.match(r"[a-z_]+", message)
    if name is None or message.startswith(section.split(".")[0] + "."):
        return message  # already names its section (e.g. "grid.seeds ...")
    key = aliases.get(name.group(), name.group())
    return f"{section}.{key}{message[name.end() :]}"


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


_STAGE = {"epochs": [2], "batch_size": [16], "max_length": [64]}

#: Built-in profiles: configurations to start from (a file and overrides go on top).
PROFILES: dict[str, dict[str, Any]] = {
    # Built-in corpus and 2-layer built-in encoder, four tasks, small balanced caps: the whole
    # pipeline in a few minutes on two CPU cores.  Learning rates 5e-4 and 1e-3: at 1e-4 and
    # 2e-4 the 26 steps left 7 of the 8 single-task models degenerate (one class for every
    # validation document); at these none is, at the same cost (BENCHMARKS.md, "Single-task
    # models that learn").
    "demo": {
        "data": {
            "corpus": "disaster-response",
            "tasks": ["request", "food", "water", "shelter"],
            "max_train_examples": 200,
            "max_eval_examples": 300,
            "cap_strategy": "balanced",
        },
        "encoder": {"num_layers": 2},
        "grid": {
            "target": {"learning_rate": [5e-4, 1e-3], **_STAGE},
            "source": {"learning_rate": [1e-3], **_STAGE},
        },
        "evaluation": {"bootstrap_resamples": 1000},
    },
    # The 12-task reference study of the built-in corpus (BENCHMARKS.md, "Reference study"):
    # sized to train its 336 trials in about 1.5 hours of a 2-core CPU machine.  Three seeds of
    # every single-task model measure seed noise; transfers use seed 0.  Learning rates 2e-4
    # and 3e-4 (source 2e-4): study v2 trained 1e-4 and 2e-4, and 19 of its 72 single-task
    # models at 1e-4 were degenerate, none at 2e-4 (BENCHMARKS.md, "Single-task models that
    # learn"; study v2 keeps its own configuration, benchmarks/results/study-v2/pool*.toml).
    # The 72 compute-matched single-task models (4 epochs: a transfer's 2 + 2; about 1 more
    # hour) are the yardstick of "transfer helps".
    "study": {
        "data": {
            "corpus": "disaster-response",
            "max_train_examples": 500,
            "max_eval_examples": 1000,
            "cap_strategy": "balanced",
        },
        "encoder": {"num_layers": 2},
        "grid": {
            "seeds": [0],
            "single_task_seeds": [1, 2],
            "matched_single_task": True,
            "target": {"learning_rate": [2e-4, 3e-4], **_STAGE},
            "source": {"learning_rate": [2e-4], **_STAGE},
        },
        # A study trains the whole grid and evaluates every method in hindsight.
        "search": {"mode": "grid"},
    },
}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    profile: str | None = None,
) -> RunConfig:
    """Read a run configuration and apply ``key=value`` overrides.

    The layers, each on top of the previous: the defaults, the ``profile`` (a key of
    :data:`PROFILES`), the TOML file at ``path``, the overrides.

    Raises:
        ConfigError: Unknown profile, the file cannot be read, a key is unknown, or a value
            has the wrong type.
    """
    data: dict[str, Any] = {}
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        data = copy.deepcopy(PROFILES[profile])  # overrides must never edit the profile
    if path is not None:
        data = _merge(data, read_config_file(path))
    for override in overrides:
        _apply_override(data, override)
    _resolve_data_path(data, Path.cwd())
    config: RunConfig = _build(RunConfig, data, "")
    config.validate()
    return config


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML configuration file's tables, with its data files' relative paths made absolute.

    Every relative path of its ``[data]`` section — ``path`` of ``[data]`` and of each
    ``[[data.tables]]``, ``path``/``train``/``validation``/``test`` of each ``[[data.tagged]]``
    and ``[[data.questions]]`` — is relative to the file's folder, wherever the command runs.

    Raises:
        ConfigError: The file is missing, a folder, unreadable or not TOML.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{path}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a TOML configuration file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the configuration file (permission)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    # A relative data.path in a file means next to the file, wherever the command runs.
    _resolve_data_path(data, path.resolve().parent)
    return data


def _resolve_data_path(data: dict[str, Any], folder: Path) -> None:
    section = data.get("data")
    if not isinstance(section, dict):
        return
    tables = section.get("tables")
    for part in [section, *(tables if isinstance(tables, list) else [])]:
        if isinstance(part, dict) and isinstance(part.get("path"), str):
            part["path"] = str(folder / Path(part["path"]).expanduser())
    for entry in [*(section.get("tagged") or []), *(section.get("questions") or [])]:
        for key in ("path", "train", "validation", "test"):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                entry[key] = str(folder / Path(entry[key]).expanduser())


def config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Validate a configuration given as nested dicts (e.g. a run's ``config.json``)."""
    config: RunConfig = _build(RunConfig, data, "")
    config.validate()
    return config


def load_run_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """The configuration a run was started with (its ``config.json``), with ``overrides``."""
    import json

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no config.json; is this a transferscout run folder?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise ConfigError(f"{path}: cannot read the run's configuration: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of configuration sections")
    for override in overrides:
        _apply_override(data, override)
    _resolve_data_path(data, Path.cwd())
    return config_from_dict(data)


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE, e.g. grid.seeds=[0,1]")
    value: Any
    if raw.strip().lower() in ("none", "null"):
        value = None
    else:
        try:
            value = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'}: expected a table of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(fields), n=1, cutoff=0.75)
        raise ConfigError(
            f"unknown configuration key {prefix + unknown[0]!r}; "
            + (
                f"did you mean {prefix + close[0]!r}?"
                if close
                else f"expected one of {', '.join(prefix + name for name in fields)}"
            )
        )
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for name in required:
        if name not in data:
            where = prefix.rstrip(".")
            section = re.sub(r"\[\d+\]$", "", where)
            entry = f"[[{section}]] entry" if section != where else f"[{section}] table"
            raise ConfigError(f"{where}: no {name!r} key; every {entry} needs one")
    values = {}
    for name, value in data.items():
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, key + ".")  # type: ignore[arg-type]
        else:
            values[name] = _check(value, hint, key)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'}: {error}") from None


def _build_item(cls: type[Any], data: Any, key: str) -> Any:
    """One table of an array of tables; its own checks' errors name it."""
    try:
        return _build(cls, data, key + ".")
    except ConfigError as error:
        if str(error).startswith(key):
            raise
        raise ConfigError(f"{key}: {error}") from None


def _check(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check(value, inner, key)
    if origin is list:
        item_type = args[0]
        tables = isinstance(item_type, type) and dataclasses.is_dataclass(item_type)
        if not isinstance(value, list):
            if tables or isinstance(value, Mapping):
                raise ConfigError(
                    f"{key} = {value!r}; expected a list"
                    + (f" of tables: [[{key}]] entries" if tables else f", e.g. {key} = [...]")
                )
            value = [value]  # one value where a list is expected: a list of one (epochs = 1)
        if tables:
            # an array of tables ([[data.tables]], [[data.tagged]])
            return [_build_item(item_type, item, f"{key}[{i}]") for i, item in enumerate(value)]
        return [_check(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} = {value!r}; expected a table of keys")
        return {
            _check(k, args[0], f"{key} key"): _check(v, args[1], f"{key}.{k}")
            for k, v in value.items()
        }
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{key} = {value!r}; expected {hint.__name__}")
    return value
