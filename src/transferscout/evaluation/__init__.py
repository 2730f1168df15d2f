"""Evaluation of rankings against the real grid: metrics, curves, adaptive search, tables."""

from transferscout.evaluation.cross_pool import CrossPoolResult, evaluate_cross_pool, versus_within
from transferscout.evaluation.noise import gains_beyond_noise, seed_noise
from transferscout.evaluation.ordering import ranking_order
from transferscout.evaluation.run import EvaluationResult, EvaluationSettings, evaluate_run
from transferscout.evaluation.stats import sign_flip_test

__all__ = [
    "CrossPoolResult",
    "EvaluationResult",
    "EvaluationSettings",
    "evaluate_cross_pool",
    "evaluate_run",
    "gains_beyond_noise",
    "ranking_order",
    "seed_noise",
    "sign_flip_test",
    "versus_within",
]
