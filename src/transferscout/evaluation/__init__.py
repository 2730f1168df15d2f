"""Evaluation of rankings against the real grid: metrics, curves, adaptive search, tables."""

from transferscout.evaluation.noise import gains_beyond_noise, seed_noise
from transferscout.evaluation.run import EvaluationResult, EvaluationSettings, evaluate_run

__all__ = [
    "EvaluationResult",
    "EvaluationSettings",
    "evaluate_run",
    "gains_beyond_noise",
    "seed_noise",
]
