from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from transferscout.meta.regressor import TransferRegressor, leave_one_target_out


@parametrize_with_checks([TransferRegressor()])
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_fit_returns_self_and_learns_a_simple_function() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((300, 3))
    y = 0.8 * x[:, 0] + 0.1
    model = TransferRegressor(n_estimators=200)
    assert model.fit(x, y) is model
    assert np.sqrt(np.mean((model.predict(x) - y) ** 2)) < 0.02
    x[::7, 1] = np.nan  # missing signals are allowed
    TransferRegressor(n_estimators=5).fit(x, y).predict(x)


def _candidates(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for target in "abcdef":
        base = rng.random()
        for source in range(8):
            signal = rng.random()
            rows.append(
                {
                    "target": target,
                    "source": str(source),
                    "signal": signal,
                    "target_id": "abcdef".index(target),  # identifies the target
                    "real_f1": 0.5 * signal + 0.4 * base,
                }
            )
    return pd.DataFrame(rows)


def test_leave_one_target_out_never_sees_the_held_out_target() -> None:
    table = _candidates()
    seen: list[set[int]] = []

    class Recording(TransferRegressor):
        def fit(self, X: object, y: object) -> Recording:  # noqa: N803
            seen.append(set(np.asarray(X)[:, 1].astype(int).tolist()))
            return super().fit(X, y)  # type: ignore[return-value]

    predictions = leave_one_target_out(
        table, ["signal", "target_id"], make_regressor=lambda: Recording(n_estimators=20)
    )
    assert len(seen) == 6
    assert all(len(ids) == 5 for ids in seen)
    assert [i for i in range(6) if i not in set().union(*[s for s in seen])] == []
    assert not np.isnan(predictions).any()


def test_a_planted_target_identifying_feature_does_not_help() -> None:
    # Each target's F1 level is a function of its id only; leave-one-target-out cannot learn
    # the held-out target's level from its id, so adding the id must not reduce the error.
    table = _candidates(1)
    table["real_f1"] = table["signal"] * 0.2 + table["target_id"].map(
        dict(enumerate([0.1, 0.7, 0.3, 0.9, 0.2, 0.6]))
    )
    real = table["real_f1"].to_numpy()
    without = leave_one_target_out(
        table, ["signal"], make_regressor=lambda: TransferRegressor(n_estimators=50)
    )
    with_id = leave_one_target_out(
        table, ["signal", "target_id"], make_regressor=lambda: TransferRegressor(n_estimators=50)
    )
    error_without = np.sqrt(np.mean((without - real) ** 2))
    error_with = np.sqrt(np.mean((with_id - real) ** 2))
    assert error_with >= error_without * 0.9
    # A model that *could* see the target (ordinary fit on everything) would use the id.
    leaky = TransferRegressor(n_estimators=50).fit(table[["signal", "target_id"]], real)
    assert (
        np.sqrt(np.mean((leaky.predict(table[["signal", "target_id"]]) - real) ** 2))
        < error_with / 3
    )


def test_needs_two_targets() -> None:
    table = _candidates().query("target == 'a'")
    with pytest.raises(ValueError, match="at least two targets"):
        leave_one_target_out(table, ["signal"])


def test_no_boosting_rounds_is_refused_not_a_constant_prediction() -> None:
    features = np.arange(8, dtype=float).reshape(-1, 1)
    with pytest.raises(ValueError, match="n_estimators = 0; expected at least 1"):
        TransferRegressor(n_estimators=0).fit(features, features[:, 0] / 10)
