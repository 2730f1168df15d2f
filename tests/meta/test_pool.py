from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from transferscout.errors import ConfigError
from transferscout.meta.pool import (
    AdditiveGainModel,
    PoolBudget,
    PoolPrior,
    expected_improvement,
    pool_pick,
)


def _pool() -> pd.DataFrame:
    """Two targets, three sources each (not themselves), two target settings: 8 candidates."""
    rows = []
    for target in ("a", "b"):
        for source in ("a", "b", "c"):
            if source == target:
                continue
            for rate in (1e-4, 2e-4):
                similarity = {"a": 0.1, "b": 0.5, "c": 0.9}[source]
                rows.append(
                    {"target": target, "source": source, "rate": rate, "textemb_cosine": similarity}
                )
    return pd.DataFrame(rows)


def test_budget_parse_and_refusals() -> None:
    assert PoolBudget.parse("20%") == PoolBudget(share=0.2)
    assert PoolBudget.parse("30 trials") == PoolBudget(trials=30)
    assert PoolBudget.parse("90m") == PoolBudget(hours=1.5)
    assert PoolBudget.parse("20%").limit_hours(10.0) == pytest.approx(2.0)
    assert PoolBudget.parse("3t").limit_hours(10.0) is None
    assert PoolBudget.parse("100%").label == "100%"
    for bad in ("0", "-5%", "120%", "3x", "0%", "1.5 trials", "0 trials", ""):
        with pytest.raises(ConfigError, match="budget"):
            PoolBudget.parse(bad)


def test_posterior_matches_the_closed_form_of_bayesian_linear_regression() -> None:
    frame = _pool()
    prior = PoolPrior(noise_sd=0.05)
    model = AdditiveGainModel(frame, ["rate"], prior)
    # Design: the pool mean + 2 targets + 2 rates + 3 sources + 1 signal = 9 columns.
    assert model.design.shape == (8, 9)
    observed, values = [0, 3, 5], [0.02, -0.01, 0.04]
    mean, sd = model.predict(observed, values, range(8))
    prior_cov = np.diag(1 / model.prior_precision)
    x = model.design[observed]
    # The same posterior predictive by the Gaussian-process form (a slow reference).
    kernel = model.design @ prior_cov @ model.design.T
    k_oo = kernel[np.ix_(observed, observed)] + 0.05**2 * np.eye(3)
    prior_mean = model.design @ model.prior_mean
    weights = np.linalg.solve(k_oo, np.asarray(values) - prior_mean[observed])
    expected_mean = prior_mean + kernel[:, observed] @ weights
    expected_var = np.diag(kernel) - np.einsum(
        "ij,jk,ik->i", kernel[:, observed], np.linalg.inv(k_oo), kernel[:, observed]
    )
    np.testing.assert_allclose(mean, expected_mean, atol=1e-10)  # float round-off only
    np.testing.assert_allclose(sd, np.sqrt(expected_var + 0.05**2), atol=1e-10)
    assert x.shape == (3, 9)


def test_cold_prior_orders_sources_by_text_similarity() -> None:
    frame = _pool()
    model = AdditiveGainModel(frame, ["rate"])
    mean, _ = model.predict([], [], range(len(frame)))
    for _, rows in frame.assign(mean=mean).groupby("target"):
        by_similarity = rows.sort_values("textemb_cosine")["mean"].to_numpy()
        assert np.all(np.diff(by_similarity) >= 0) and by_similarity[-1] > by_similarity[0]


def test_expected_improvement_matches_its_integral() -> None:
    mean, sd, best = np.array([0.01, -0.02]), np.array([0.03, 0.01]), np.array([0.0, 0.0])
    grid = np.linspace(-1, 1, 400_001)
    for m, s, b, value in zip(mean, sd, best, expected_improvement(mean, sd, best), strict=True):
        integral = np.trapezoid(np.maximum(grid - b, 0) * norm.pdf(grid, m, s), grid)
        assert value == pytest.approx(integral, rel=1e-5)  # quadrature error only


def test_pick_prefers_the_similar_source_then_learns_from_other_targets() -> None:
    frame = _pool()
    model = AdditiveGainModel(frame, ["rate"])
    targets = frame["target"].tolist()
    hours = np.ones(len(frame))
    first = pool_pick(model, targets, hours, {}, [], hours_left=None, margin=0.0, seed=0, step=1)
    assert first.row is not None and frame.loc[first.row, "source"] == "c"
    # Source c turns out to hurt a lot on target b (both rates): on target a, b is tried next.
    hurt = {int(i): -0.2 for i in frame.index[(frame.source == "c") & (frame.target == "b")]}
    pick = pool_pick(model, targets, hours, hurt, [], hours_left=None, margin=0.0, seed=0, step=3)
    assert pick.row is not None
    assert (frame.loc[pick.row, "target"], frame.loc[pick.row, "source"]) == ("a", "b")


def test_stop_rules_headroom_time_and_exclusions() -> None:
    frame = _pool()
    model = AdditiveGainModel(frame, ["rate"])
    targets = frame["target"].tolist()
    hours = np.full(len(frame), 0.5)
    # Perfect single-task models: no gain is possible, nothing is trained.
    none_left = pool_pick(
        model,
        targets,
        hours,
        {},
        [],
        hours_left=None,
        margin=0.0,
        seed=0,
        step=1,
        headroom=np.zeros(len(frame)),
    )
    assert none_left.row is None and none_left.finished == ("a", "b")
    assert "upper predicted gain" in (none_left.reason or "")
    short = pool_pick(model, targets, hours, {}, [], hours_left=0.4, margin=0.0, seed=0, step=1)
    assert short.row is None and "time budget" in (short.reason or "")
    everything = list(range(len(frame)))
    done = pool_pick(
        model, targets, hours, {}, everything, hours_left=None, margin=0, seed=0, step=1
    )
    assert done.row is None and "no candidate is left" in (done.reason or "")
    # Target a excluded: every pick is of b.
    only_b = [i for i, t in enumerate(targets) if t == "a"]
    pick = pool_pick(model, targets, hours, {}, only_b, hours_left=None, margin=0.0, seed=0, step=1)
    assert pick.row is not None and targets[pick.row] == "b" and math.isfinite(pick.predicted)


def test_prior_refuses_non_positive_spreads() -> None:
    with pytest.raises(ConfigError, match="noise_sd"):
        PoolPrior(noise_sd=0.0)
    with pytest.raises(ConfigError, match="was not computed"):
        AdditiveGainModel(_pool(), ["rate"], PoolPrior(signals=("estimators_logme",)))


def test_shared_means_recover_setting_effects_and_seed_another_pools_prior() -> None:
    frame = _pool()
    # Gains made of a pool mean of -0.05 and a setting effect of ±0.04, observed exactly.
    truth = -0.05 + np.where(frame["rate"] == 2e-4, 0.04, -0.04)
    model = AdditiveGainModel(frame, ["rate"], PoolPrior(noise_sd=0.001))
    means = model.shared_means(list(range(len(frame))), truth.tolist())
    assert set(means) == {
        "pool",
        "setting:rate=0.0001",
        "setting:rate=0.0002",
        "signal:textemb_cosine",
    }
    # The rates differ by 0.08 (every target and source saw both: nothing else explains it);
    # the pool mean of -0.05 is shared with the targets' and sources' effects (all shrunk).
    effect = means["setting:rate=0.0002"] - means["setting:rate=0.0001"]
    assert effect == pytest.approx(0.08, abs=2e-3)  # the prior's shrinkage at noise 0.001
    assert -0.05 < means["pool"] < -0.02
    warm = AdditiveGainModel(frame, ["rate"], PoolPrior(means=tuple(means.items())))
    cold = AdditiveGainModel(frame, ["rate"])
    warm_mean, _ = warm.predict([], [], range(len(frame)))
    cold_mean, _ = cold.predict([], [], range(len(frame)))
    fast = (frame["rate"] == 2e-4).to_numpy()
    # Before any trial of its own, the warm model already prefers the better rate.
    assert warm_mean[fast].min() > warm_mean[~fast].max()
    assert abs(cold_mean[fast].mean() - cold_mean[~fast].mean()) < 1e-12


def test_the_kept_posterior_gives_the_same_numbers_as_one_computed_afresh() -> None:
    frame = _pool()
    observed, values = [0, 3, 5, 6], [0.02, -0.01, 0.04, 0.0]
    stepwise = AdditiveGainModel(frame, ["rate"])
    for k in range(len(observed) + 1):  # one more observation per call, as a search makes
        mean, sd = stepwise.predict(observed[:k], values[:k], range(8))
    fresh = AdditiveGainModel(frame, ["rate"]).predict(observed, values, range(8))
    assert mean.tolist() == fresh[0].tolist() and sd.tolist() == fresh[1].tolist()  # bit for bit
    # another history on the same model is computed from the prior, not from the kept state
    other = stepwise.predict([5, 0], [0.04, 0.02], range(8))
    assert (
        other[0].tolist()
        == AdditiveGainModel(frame, ["rate"]).predict([5, 0], [0.04, 0.02], range(8))[0].tolist()
    )
    assert not np.allclose(other[0], mean)


def test_the_pick_is_the_first_of_the_lexicographic_sort() -> None:
    from transferscout.meta.pool import _first

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        gain = rng.choice([0.0, 0.1, 0.2, -np.inf], size=n)  # many ties
        hours = rng.choice([1.0, 2.0], size=n)
        key = rng.choice([0.3, 0.5, 0.7], size=n)  # ties in the key too: the first position
        assert _first(gain, hours, key) == int(np.lexsort((key, hours, -gain))[0])


def test_the_noise_is_estimated_from_what_the_additive_model_cannot_explain() -> None:
    rng = np.random.default_rng(0)
    rows = [
        {"target": t, "source": s, "rate": r, "textemb_cosine": rng.random()}
        for t in "abcd"
        for s in "uvwxyz"
        for r in (1e-4, 2e-4)
    ]
    frame = pd.DataFrame(rows)
    additive = 0.03 * (frame["rate"] == 2e-4) + frame["source"].map(
        dict(zip("uvwxyz", [0.02, -0.01, 0.0, 0.01, -0.02, 0.03], strict=True))
    )
    observed = list(range(0, 40, 2))  # 20 rows, every target and source
    exact = AdditiveGainModel(frame, ["rate"])
    assert exact.fit_noise(observed, additive[observed].tolist()) == pytest.approx(0.02)
    # A source x target interaction of sd 0.1 is noise to the additive model: estimated.
    mixed = additive + rng.normal(0, 0.1, len(frame))
    noisy = AdditiveGainModel(frame, ["rate"])
    estimate = noisy.fit_noise(observed, mixed[observed].tolist())
    assert 0.06 < estimate < 0.16  # 20 observations of sd 0.1: a rough estimate
    assert noisy.noise_sd == estimate
    # Fewer than NOISE_MIN_OBSERVATIONS: the prior's noise.
    assert (
        AdditiveGainModel(frame, ["rate"]).fit_noise(observed[:5], mixed[observed[:5]].tolist())
        == 0.02
    )
