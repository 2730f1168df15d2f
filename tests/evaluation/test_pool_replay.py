from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from transferscout.evaluation.pool_replay import (
    PRODUCT,
    pool_hours,
    pool_replay,
    pool_search_step,
    replay_pool_search,
    target_losses,
    varying_settings,
)
from transferscout.meta.pool import AdditiveGainModel, PoolPrior

#: (target, source, textemb, first validation gain, real F1, predicted = realised hours)
ROWS = [
    ("A", "X", 0.9, 0.05, 0.62, 1.0),
    ("A", "Y", 0.5, -0.02, 0.55, 1.0),
    ("A", "Z", 0.1, 0.01, 0.66, 1.0),
    ("B", "X", 0.2, 0.04, 0.48, 2.0),
    ("B", "Y", 0.8, -0.05, 0.38, 2.0),
    ("B", "Z", 0.5, 0.00, 0.42, 2.0),
]
SINGLE = {"A": 0.50, "B": 0.40}


def pool_table() -> pd.DataFrame:
    """Two targets, three sources each, one setting: every pick below is checked by hand."""
    frame = pd.DataFrame(
        ROWS,
        columns=["target", "source", "textemb_cosine", "first_validation_gain", "real_f1", "h"],
    )
    return frame.assign(
        setting="s",
        target_score=frame["target"].map(SINGLE),
        target_validation_score=frame["target"].map(SINGLE),
        target_hours=frame["h"],
        predicted_hours=frame["h"],
    ).drop(columns="h")


def test_the_first_pick_is_the_most_similar_source_of_the_cheapest_target() -> None:
    # Before any result every mean is signal_mean x the within-target z of TextEmb, with the
    # same spread for the same |z|: A's X and B's Y (the most similar) tie in expected
    # improvement, and A's costs half as much per hour.
    trace = replay_pool_search(pool_table(), ["setting"], budget_trials=1)
    assert trace[["target", "source"]].values.tolist() == [["A", "X"]]
    assert trace.attrs["stop"] == "trial budget: 1 trials trained"
    assert trace["observed"].tolist() == [0.05] and trace["total_hours"].tolist() == [1.0]


def test_the_second_pick_follows_the_one_observation_posterior() -> None:
    # After one observation y of row 0 the posterior predictive of row r is, by the rank-one
    # update of a Gaussian prior with diagonal covariance S:
    #   mean_r = x_r m + x_r S x_0 (y - x_0 m) / (x_0 S x_0 + noise^2)
    #   var_r = x_r S x_r - (x_r S x_0)^2 / (x_0 S x_0 + noise^2) + noise^2
    table = pool_table()
    prior = PoolPrior()
    z = (
        table["textemb_cosine"]
        .groupby(table["target"])
        .transform(lambda v: (v - v.mean()) / v.std())
    )
    variance = {
        "global": prior.global_sd**2,
        "target": prior.target_sd**2,
        "setting": prior.setting_sd**2,
        "source": prior.source_sd**2,
    }

    def shared(r: int, s: int) -> float:
        same = variance["global"] + variance["setting"]  # one setting: always shared
        same += variance["target"] * (table.at[r, "target"] == table.at[s, "target"])
        same += variance["source"] * (table.at[r, "source"] == table.at[s, "source"])
        return same + prior.signal_sd**2 * z[r] * z[s]

    noise = prior.noise_sd**2
    y = table.at[0, "first_validation_gain"]
    rows = [1, 2, 3, 4, 5]
    mean = np.array(
        [
            prior.signal_mean * z[r]
            + shared(r, 0) * (y - prior.signal_mean * z[0]) / (shared(0, 0) + noise)
            for r in rows
        ]
    )
    sd = np.sqrt([shared(r, r) - shared(r, 0) ** 2 / (shared(0, 0) + noise) + noise for r in rows])
    best = np.array([y if table.at[r, "target"] == "A" else 0.0 for r in rows])
    gap = (mean - best) / sd
    value = ((mean - best) * norm.cdf(gap) + sd * norm.pdf(gap)) / table["predicted_hours"][rows]
    expected = rows[int(np.argmax(value))]
    trace = replay_pool_search(table, ["setting"], budget_trials=2)
    assert trace["row"].tolist() == [0, expected]
    # By hand: A-X's +0.05 lifts the pool mean, so every B candidate is now expected to beat
    # B's single-task model, while A's must beat A's new best of 0.05.  Within B, X's shared
    # source effect adds 0.0009 x 0.045 / 0.0167 = +0.0024 but its TextEmb (z = -1) costs it
    # 2 x 0.005 + 0.0008 x 0.045 / 0.0167 = 0.0122 against Y (z = +1): B-Y, 0.040 against 0.030.
    assert (table.at[expected, "target"], table.at[expected, "source"]) == ("B", "Y")
    assert mean[rows.index(4)] == pytest.approx(0.0398, abs=1e-4)  # 4 digits, as by hand
    assert mean[rows.index(3)] == pytest.approx(0.0300, abs=1e-4)
    assert trace["predicted"].iloc[1] == pytest.approx(mean[rows.index(expected)], rel=1e-9)


def test_the_replay_is_the_loop_of_pool_search_step() -> None:
    # What the real search does: one pure step per trial with what it has observed.
    table = pool_table()
    trace = replay_pool_search(table, ["setting"], budget_hours=5.0, signal_hours=0.5)
    model = AdditiveGainModel(table, ["setting"], PoolPrior())
    observed: dict[int, float] = {}
    spent, picks = 0.0, []
    for step in range(1, 10):
        pick = pool_search_step(
            model,
            table["target"].tolist(),
            table["predicted_hours"].to_numpy(),
            observed,
            spent_hours=spent,
            budget_hours=5.0,
            budget_trials=None,
            signal_hours=0.5,
            margin=0.01,
            seed=0,
            step=step,
        )
        if pick.row is None:
            assert pick.reason == trace.attrs["stop"]
            break
        observed[pick.row] = float(table.at[pick.row, "first_validation_gain"])
        spent += float(table.at[pick.row, "target_hours"])
        picks.append(pick.row)
    assert picks == trace["row"].tolist()
    # 4.5 h after TextEmb's half hour: A-X (1 h), B-X (2 h), then only A's 1-h rows fit.
    assert trace["total_hours"].iloc[-1] <= 5.0
    assert trace["total_hours"].tolist() == pytest.approx(
        0.5 + np.cumsum(trace["hours"]).to_numpy()
    )
    assert "time budget" in str(trace.attrs["stop"])


def test_losses_found_and_handed_by_hand() -> None:
    losses = target_losses(pool_table(), [0, 4])  # A-X and B-Y
    # A: grid best 0.66 (Z); found 0.62 (X, also handed: its gain 0.05 > 0).
    # B: grid best 0.48 (X); Y (0.38, gain -0.05) loses to the single-task 0.40, handed too.
    # The full grid hands over A-X (0.62) and B-X (0.48).
    assert losses.loc["A", "loss_found"] == pytest.approx(0.04)
    assert losses.loc["A", "loss_handed"] == pytest.approx(0.04)
    assert losses.loc["B", "loss_found"] == pytest.approx(0.08)
    assert losses.loc["B", "loss_handed"] == pytest.approx(0.08)
    assert losses["grid_loss_handed"].tolist() == pytest.approx([0.04, 0.0])
    assert losses["trained"].tolist() == [1, 1]
    nothing = target_losses(pool_table(), [])
    assert nothing["loss_found"].tolist() == pytest.approx([0.16, 0.08])


def test_no_pick_reads_the_truth() -> None:
    table = pool_table()
    first = pool_replay(table, ["setting"], budgets=(0.3, 0.6), random_orders=3)
    rng = np.random.default_rng(1)
    shuffled = table.assign(
        real_f1=rng.permutation(table["real_f1"].to_numpy()),
        target_score=table["target"].map({"A": 0.9, "B": 0.1}),
    )
    second = pool_replay(shuffled, ["setting"], budgets=(0.3, 0.6), random_orders=3)
    assert first.picks.keys() == second.picks.keys()
    for key, picks in first.picks.items():
        if key[0] != "oracle":  # the one method that orders by the truth
            assert second.picks[key] == picks, key
    pd.testing.assert_frame_equal(first.trace, second.trace)


def test_budgets_spend_and_the_baselines() -> None:
    table = pool_table()  # 9 transfer hours
    result = pool_replay(
        table,
        ["setting"],
        budgets=(0.5,),
        family_hours={"textemb": 0.5, "taskemb": 7.0},
        random_orders=4,
    )
    summary = result.summary.set_index("method")
    assert result.facts["grid_transfer_hours"] == 9.0
    # Every method's trained rows fit in 4.5 h, signals included.
    assert (summary["spent_share"] <= 0.5 + 1e-12).all()
    assert summary.loc[PRODUCT, "signal_hours"] == 0.5
    assert summary.loc["random", "signal_hours"] == 0.0
    # TextEmb's order per target, round-robin: A-X (1 h), B-Y (2 h), A-Y (1 h): 4.5 h.
    assert result.picks[("signal:textemb_cosine", 0.5)] == [[0, 4, 1]]
    # The oracle trains A-Z (+0.16) then B-X (+0.08): nothing lost.
    assert result.picks[("oracle", 0.5)] == [[2, 3]]
    assert summary.loc["oracle", "loss_found"] == 0.0
    # The product's policy with no signal is replayed beside it (it spends no signal hour).
    assert summary.loc["pool:none", "signal_hours"] == 0.0
    assert len(result.picks[("random", 0.5)]) == 4
    # Paired tests of the product against every other method.
    assert np.isnan(summary.loc[PRODUCT, "p_found"])
    others = summary.drop(index=PRODUCT)
    assert ((others["p_found"] > 0) & (others["p_found"] <= 1)).all()
    product = result.per_target.query("method == @PRODUCT")
    assert summary.loc[PRODUCT, "loss_found"] == pytest.approx(product["loss_found"].mean())


def test_hours_missing_mean_equal_cost_per_trial() -> None:
    table = pool_table()
    predicted, realised = pool_hours(table.drop(columns=["target_hours"]))
    assert predicted.tolist() == [1.0] * 6 and realised.tolist() == [1.0] * 6
    predicted, realised = pool_hours(table.assign(predicted_hours=[np.nan, 1, 1, 2, 2, np.nan]))
    assert predicted.tolist() == [1.5, 1, 1, 2, 2, 1.5] and realised.tolist() == [1, 1, 1, 2, 2, 2]
    result = pool_replay(table.drop(columns=["target_hours"]), ["setting"], budgets=(0.5,))
    assert result.facts["equal_cost_per_trial"] is True
    assert result.summary["trials"].max() <= 3  # half of 6 equal trials


def test_a_signal_missing_from_the_table_is_dropped_and_said() -> None:
    table = pool_table().drop(columns=["textemb_cosine"])
    result = pool_replay(table, ["setting"], budgets=(0.5,), random_orders=2)
    assert result.facts["product_signals"] == [] and result.facts["product_signals_missing"] == [
        "textemb_cosine"
    ]
    assert varying_settings(table, ["setting", "target", "absent"]) == ["target"]


def test_in_order_and_round_robin_skip_what_does_not_fit_and_go_on() -> None:
    from transferscout.evaluation.pool_replay import _in_order, _Pool, _round_robin

    table = pool_table()
    predicted = np.array([1.0, 3.0, 1.0, 2.0, 1.0, 0.5])
    pool = _Pool(
        table,
        table["target"].to_numpy(dtype=object),
        predicted,
        predicted.copy(),
        table["first_validation_gain"].to_numpy(dtype=np.float64),
        frozenset({2}),
    )
    # budget 3: row 0 (1 h), row 1 (3 h) no longer fits, row 2 excluded, row 3 (2 h) fits
    # exactly; nothing is left then.
    assert _in_order(pool, [0, 1, 2, 3, 4, 5], 3.0, 0.0) == [0, 3]
    # round-robin A then B: A's 0 (1 h), B's 4 (1 h), A's 1 (3 h) never fits, B's 5 (0.5 h)
    orders = {"A": [0, 1, 2], "B": [4, 5, 3]}
    assert _round_robin(pool, orders, 3.0, 0.0) == [0, 4, 5]


def test_without_a_varying_setting_the_hyperparameters_only_baseline_is_left_out() -> None:
    result = pool_replay(pool_table(), [], budgets=(0.5,), random_orders=2)
    assert "online:hyperparameters" not in set(result.summary["method"])
    assert "no setting varies" in str(result.facts["skipped"])
    with_setting = pool_replay(
        pool_table().assign(setting=["s", "t"] * 3), ["setting"], budgets=(0.5,), random_orders=2
    )
    assert "online:hyperparameters" in set(with_setting.summary["method"])
    assert with_setting.facts["skipped"] == {}
