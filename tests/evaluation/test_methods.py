from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation.methods import (
    HYPERPARAMETER_BASELINE,
    method_charges,
    seeded_scores,
    signal_family_hours,
    signal_scores,
)
from transferscout.meta.features import HYPERPARAMETERS
from transferscout.meta.regressor import TransferRegressor

FAMILIES = {
    "conductance": 1.0,
    "ansat": 0.5,
    "taskemb": 2.0,
    "textemb": 4.0,
    "features": 0.25,
    "estimators": 0.125,
}


def test_each_method_is_charged_what_it_needs() -> None:
    methods = [
        "meta:f1",
        "meta:f1+ansat",
        "meta:all",
        "signal:textemb_cosine",
        "signal:estimators_logme",
        "prior:ansat_ab_0.10",
        "signal:source_size",
        HYPERPARAMETER_BASELINE,
        "random",
        "oracle",
        "adaptive:greedy",
    ]
    charges = method_charges(methods, FAMILIES, 10.0, adaptive_feature_set="f1+ansat")
    assert charges == {
        "meta:f1": 10.0,  # single-task models for the F1s
        "meta:f1+ansat": 11.5,
        "meta:all": 10.0 + sum(FAMILIES.values()),
        "signal:textemb_cosine": 4.0,  # the pretrained encoder only
        "signal:estimators_logme": 10.375,
        "prior:ansat_ab_0.10": 11.5,
        "signal:source_size": 0.0,
        HYPERPARAMETER_BASELINE: 0.0,
        "random": 0.0,
        "oracle": 0.0,
        "adaptive:greedy": 11.5,
    }


def _table() -> pd.DataFrame:
    rows = []
    for target in ("a", "b", "c", "d"):
        for source in ("a", "b", "c", "d"):
            if source == target:
                continue
            for lr in (1e-4, 2e-4):
                signal = {"a": 0.1, "b": 0.5, "c": 0.9, "d": 0.3}[source]
                rows.append(
                    {
                        "source": source,
                        "target": target,
                        **dict.fromkeys(HYPERPARAMETERS, 1.0),
                        "target_learning_rate": lr,
                        "real_f1": (0.6 if lr == 2e-4 else 0.2) + 0.1 * signal,
                        "real_gain": (0.1 if lr == 2e-4 else -0.3) + 0.1 * signal,
                        "validation_gain": (0.1 if lr == 2e-4 else -0.3) + 0.1 * signal,
                        "source_f1": signal,
                        "target_f1": 0.5,
                        "textemb_cosine": signal,
                    }
                )
    return pd.DataFrame(rows)


def test_a_signal_within_the_prior_orders_by_setting_then_by_signal() -> None:
    table = _table()
    scores = seeded_scores(
        table,
        {"f1": [*HYPERPARAMETERS, "source_f1", "target_f1"]},
        lambda: TransferRegressor(n_estimators=30, random_state=0),
    )
    assert set(scores) == {
        "meta:f1",
        HYPERPARAMETER_BASELINE,
        "prior:textemb_cosine",
    } and set(signal_scores(table)) == {"signal:textemb_cosine"}
    prior = scores["prior:textemb_cosine"]
    for _, group in table.groupby("target"):
        ordered = group.iloc[np.argsort(-prior[group.index], kind="stable")]
        # The learnt prior puts lr 2e-4 first; within it, the signal decides.
        assert (ordered["target_learning_rate"].iloc[:3] == 2e-4).all()
        assert ordered["textemb_cosine"].iloc[:3].is_monotonic_decreasing
        assert ordered["textemb_cosine"].iloc[3:].is_monotonic_decreasing
        # One prediction per setting within a target (each target has its own LOTO model).
        assert np.unique(scores[HYPERPARAMETER_BASELINE][group.index]).size == 2


def test_a_missing_signal_ranks_its_candidates_last_and_tied() -> None:
    import pandas as pd

    from transferscout.evaluation.methods import signal_scores

    table = pd.DataFrame({"estimators_leep": [0.5, np.nan, -2.0, np.nan]})
    score = signal_scores(table)["signal:estimators_leep"]
    assert score.tolist() == [0.5, -3.0, -2.0, -3.0]
    assert signal_scores(pd.DataFrame({"estimators_leep": [np.nan, np.nan]}))[
        "signal:estimators_leep"
    ].tolist() == [0.0, 0.0]


def test_signal_family_hours_counts_each_family_once() -> None:
    hours = {"textemb": 0.1, "features": 0.2, "estimators": 0.3, "conductance": 1.0}
    assert signal_family_hours(["estimators_logme", "estimators_leep"], hours) == pytest.approx(0.5)
    assert signal_family_hours(["textemb_cosine", "mnli_lp"], hours) == pytest.approx(0.1)
    assert signal_family_hours([], hours) == 0.0
