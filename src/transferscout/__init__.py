"""transferscout: predict which source tasks help a target task, before training.

The public API is one flat namespace.  Names are imported on first use, so that
``import transferscout`` (and the command line) stays fast: the heavy libraries (torch,
transformers, XGBoost) load only when a function that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "ConfigError": "transferscout.errors",
    "DataError": "transferscout.errors",
    "EncoderError": "transferscout.errors",
    "TransferScoutError": "transferscout.errors",
    # tasks
    "CORPORA": "transferscout.tasks",
    "SPLITS": "transferscout.tasks",
    "DataNote": "transferscout.tasks",
    "Split": "transferscout.tasks",
    "TableSpec": "transferscout.tasks",
    "Task": "transferscout.tasks",
    "TaskOptions": "transferscout.tasks",
    "TaskSet": "transferscout.tasks",
    "corpus_path": "transferscout.tasks",
    "load_corpus": "transferscout.tasks",
    "load_tasks": "transferscout.tasks",
    "read_table": "transferscout.tasks",
    "stratified_split": "transferscout.tasks",
    # task kinds and their metrics
    "KINDS": "transferscout.kinds",
    "TaskKind": "transferscout.kinds",
    "get_kind": "transferscout.kinds",
    "applicable_estimators": "transferscout.kinds",
    "score_label": "transferscout.kinds",
    "binary_metrics": "transferscout.training.metrics",
    "multiclass_metrics": "transferscout.training.metrics",
    "regression_metrics": "transferscout.training.metrics",
    # sequence labelling: tagged sentences, tagging tasks, the entity metric
    "TaggedSentences": "transferscout.tasks.tagged",
    "TaggedSpec": "transferscout.tasks.tagged",
    "load_tagged_task": "transferscout.tasks.tagged",
    "read_tagged": "transferscout.tasks.tagged",
    "tagged_task": "transferscout.tasks.tagged",
    "sequence_metrics": "transferscout.kinds.tagging",
    # extractive question answering (readers, tasks, metric)
    "Answer": "transferscout.kinds.qa",
    "qa_metrics": "transferscout.kinds.qa",
    "Questions": "transferscout.tasks.questions",
    "QuestionsSpec": "transferscout.tasks.questions",
    "question_task": "transferscout.tasks.questions",
    "read_questions": "transferscout.tasks.questions",
    # encoders, configuration, grid
    "EncoderSpec": "transferscout.encoders",
    "EncoderFamily": "transferscout.encoders",
    "FAMILIES": "transferscout.encoders",
    "encoder_family": "transferscout.encoders",
    "load_encoder": "transferscout.encoders",
    "check_before_training": "transferscout.checks",
    "RunConfig": "transferscout.config",
    "DataConfig": "transferscout.config",
    "DataTableConfig": "transferscout.config",
    "load_config": "transferscout.config",
    "ExecutionOptions": "transferscout.grid.runner",
    "run_grid": "transferscout.grid.runner",
    "search_pool": "transferscout.pool_search",
    "PoolSearchResult": "transferscout.pool_search",
    "PoolBudget": "transferscout.meta.pool",
    "GridSpec": "transferscout.grid.spec",
    "settings_grid": "transferscout.grid.spec",
    # signals
    "ansat": "transferscout.signals",
    "ansat_features": "transferscout.signals",
    "layer_conductance_all": "transferscout.signals",
    "completeness_errors": "transferscout.signals",
    "text_embedding": "transferscout.signals",
    "task_embedding": "transferscout.signals",
    "log_maximum_evidence": "transferscout.signals",
    "log_maximum_evidence_regression": "transferscout.signals",
    "log_expected_empirical_prediction": "transferscout.signals",
    "negative_conditional_entropy": "transferscout.signals",
    "h_score": "transferscout.signals",
    "regularized_h_score": "transferscout.signals",
    "transrate": "transferscout.signals",
    "SignalBudget": "transferscout.signals.budget",
    "grid_budget": "transferscout.signals.budget",
    # meta-model, evaluation, report, workflows
    "TransferRegressor": "transferscout.meta",
    "candidate_table": "transferscout.meta",
    "feature_columns": "transferscout.meta",
    "conformal_halfwidth": "transferscout.meta",
    "EvaluationSettings": "transferscout.evaluation",
    "evaluate_run": "transferscout.evaluation",
    "CrossPoolResult": "transferscout.evaluation",
    "evaluate_cross_pool": "transferscout.evaluation",
    "evaluate_across_pools": "transferscout.pipeline",
    "subset_tables": "transferscout.tables",
    "evaluate_matrix": "transferscout.matrix_evaluation",
    "MatrixEvaluation": "transferscout.matrix_evaluation",
    "ranking_order": "transferscout.evaluation",
    "sign_flip_test": "transferscout.evaluation",
    "write_report": "transferscout.report",
    "run_pipeline": "transferscout.pipeline",
    "recommend_sources": "transferscout.recommend",
    "Budget": "transferscout.search",
    "SearchSettings": "transferscout.search",
    "SearchResult": "transferscout.search",
    "search_target": "transferscout.search",
    "prepare_target": "transferscout.targets",
    "check_not_degenerate": "transferscout.targets",
}

__all__ = [
    "DataConfig",
    "DataTableConfig",
    "Budget",
    "CORPORA",
    "SearchResult",
    "SearchSettings",
    "check_not_degenerate",
    "prepare_target",
    "search_target",
    "KINDS",
    "TaskKind",
    "applicable_estimators",
    "binary_metrics",
    "get_kind",
    "log_maximum_evidence_regression",
    "multiclass_metrics",
    "regression_metrics",
    "TaggedSentences",
    "TaggedSpec",
    "load_tagged_task",
    "read_tagged",
    "sequence_metrics",
    "tagged_task",
    "Answer",
    "Questions",
    "QuestionsSpec",
    "qa_metrics",
    "question_task",
    "read_questions",
    "ConfigError",
    "DataError",
    "DataNote",
    "EncoderError",
    "EncoderFamily",
    "EncoderSpec",
    "CrossPoolResult",
    "EvaluationSettings",
    "ExecutionOptions",
    "FAMILIES",
    "GridSpec",
    "RunConfig",
    "SPLITS",
    "SignalBudget",
    "Split",
    "TableSpec",
    "Task",
    "TaskOptions",
    "TaskSet",
    "TransferRegressor",
    "TransferScoutError",
    "ansat",
    "ansat_features",
    "candidate_table",
    "check_before_training",
    "completeness_errors",
    "conformal_halfwidth",
    "corpus_path",
    "encoder_family",
    "evaluate_across_pools",
    "evaluate_cross_pool",
    "evaluate_run",
    "evaluate_matrix",
    "MatrixEvaluation",
    "feature_columns",
    "grid_budget",
    "h_score",
    "layer_conductance_all",
    "load_config",
    "score_label",
    "load_corpus",
    "load_encoder",
    "load_tasks",
    "log_expected_empirical_prediction",
    "log_maximum_evidence",
    "negative_conditional_entropy",
    "ranking_order",
    "read_table",
    "recommend_sources",
    "regularized_h_score",
    "run_grid",
    "run_pipeline",
    "search_pool",
    "PoolSearchResult",
    "PoolBudget",
    "settings_grid",
    "sign_flip_test",
    "stratified_split",
    "subset_tables",
    "task_embedding",
    "text_embedding",
    "transrate",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transferscout' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from transferscout.checks import check_before_training
    from transferscout.config import DataConfig, DataTableConfig, RunConfig, load_config
    from transferscout.encoders import (
        FAMILIES,
        EncoderFamily,
        EncoderSpec,
        encoder_family,
        load_encoder,
    )
    from transferscout.errors import ConfigError, DataError, EncoderError, TransferScoutError
    from transferscout.evaluation import (
        CrossPoolResult,
        EvaluationSettings,
        evaluate_cross_pool,
        evaluate_run,
        ranking_order,
        sign_flip_test,
    )
    from transferscout.grid.runner import ExecutionOptions, run_grid
    from transferscout.grid.spec import GridSpec, settings_grid
    from transferscout.kinds import KINDS, TaskKind, applicable_estimators, get_kind, score_label
    from transferscout.kinds.qa import Answer, qa_metrics
    from transferscout.kinds.tagging import sequence_metrics
    from transferscout.matrix_evaluation import MatrixEvaluation, evaluate_matrix
    from transferscout.meta import (
        TransferRegressor,
        candidate_table,
        conformal_halfwidth,
        feature_columns,
    )
    from transferscout.meta.pool import PoolBudget
    from transferscout.pipeline import evaluate_across_pools, run_pipeline
    from transferscout.pool_search import PoolSearchResult, search_pool
    from transferscout.recommend import recommend_sources
    from transferscout.report import write_report
    from transferscout.search import Budget, SearchResult, SearchSettings, search_target
    from transferscout.signals import (
        ansat,
        ansat_features,
        completeness_errors,
        h_score,
        layer_conductance_all,
        log_expected_empirical_prediction,
        log_maximum_evidence,
        log_maximum_evidence_regression,
        negative_conditional_entropy,
        regularized_h_score,
        task_embedding,
        text_embedding,
        transrate,
    )
    from transferscout.signals.budget import SignalBudget, grid_budget
    from transferscout.tables import subset_tables
    from transferscout.targets import check_not_degenerate, prepare_target
    from transferscout.tasks import (
        CORPORA,
        SPLITS,
        DataNote,
        Split,
        TableSpec,
        Task,
        TaskOptions,
        TaskSet,
        corpus_path,
        load_corpus,
        load_tasks,
        read_table,
        stratified_split,
    )
    from transferscout.tasks.questions import (
        Questions,
        QuestionsSpec,
        question_task,
        read_questions,
    )
    from transferscout.tasks.tagged import TaggedSentences, read_tagged
    from transferscout.training.metrics import (
        binary_metrics,
        multiclass_metrics,
        regression_metrics,
    )
