"""Transferability signals: conductance/ANSAT, task embeddings, model-based estimators."""

from transferscout.signals.ansat import THRESHOLDS, ansat, ansat_features
from transferscout.signals.conductance import (
    completeness_errors,
    integration_alphas,
    layer_conductance_all,
)
from transferscout.signals.embeddings import (
    cosine_similarity,
    reciprocal_rank_fusion,
    task_embedding,
    text_embedding,
)
from transferscout.signals.estimators import (
    h_score,
    log_expected_empirical_prediction,
    log_maximum_evidence,
    log_maximum_evidence_regression,
    negative_conditional_entropy,
    regularized_h_score,
    transrate,
)

__all__ = [
    "THRESHOLDS",
    "ansat",
    "ansat_features",
    "completeness_errors",
    "cosine_similarity",
    "h_score",
    "integration_alphas",
    "layer_conductance_all",
    "log_expected_empirical_prediction",
    "log_maximum_evidence",
    "log_maximum_evidence_regression",
    "negative_conditional_entropy",
    "reciprocal_rank_fusion",
    "regularized_h_score",
    "task_embedding",
    "text_embedding",
    "transrate",
]
