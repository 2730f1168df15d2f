"""The pool search's policy: one additive model of transfer gain, one acquisition rule, one stop.

A *pool* is every (target, candidate) pair of a run: the candidates of all targets at once.  The
pool search trains one of them at a time and refits after each; this module is the pure part of
that loop, shared by the real search (:mod:`transferscout.pool_search`) and its replay on a
finished grid or an imported matrix (:mod:`transferscout.evaluation.pool_replay`), so the two
make the same picks from the same observations.

**The model.**  A candidate's validation gain over its target's single-task model is

    gain = pool mean + target effect + Σ_setting-columns effect of its value + source effect
           + Σ_signals w_s · (signal standardised within the target) + noise,

a Bayesian linear model with independent Gaussian priors on the effects (mean 0) and on the
signal weights (a small positive mean: before any result, a more similar source is expected to
help a little — the cold prior that orders sources by TextEmb), and Gaussian noise.  Its
posterior is exact and cheap; the effects are shared by every target, so a trial on one target
teaches the model about its source and settings on all of them.  Chosen by the replay on study
v2's two pools over an XGBoost refit, a signal-only order and the hyperparameter-only model
(BENCHMARKS "Cold start"); no test score enters the model.

**The acquisition.**  Expected improvement of the candidate's target's best gain so far (0: the
single-task model) under the posterior predictive, per predicted hour; ties by predicted cost,
then a seeded key (:func:`transferscout.evaluation.ordering.ranking_order`'s rule).

**The stop.**  A target is finished when no remaining candidate's upper predictive bound
(``mean + 1.96 sd``, capped at the gain a perfect score would be) beats its best gain by more
than ``margin`` — never before one of its own candidates has been tried; the pool stops when
every target is finished or nothing left fits the budget.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr

from transferscout.errors import ConfigError

__all__ = [
    "POOL_SIGNALS",
    "PoolBudget",
    "PoolPick",
    "PoolPrior",
    "AdditiveGainModel",
    "expected_improvement",
    "pool_pick",
]

Array = npt.NDArray[np.float64]

#: The signals the pool search reads by default: the one the replay shows to pay for its cost
#: (TextEmb: seconds; LogME, TaskEmb and ANSAT ordered worse or cost most of the budget).
POOL_SIGNALS = ("textemb_cosine",)

#: The upper bound of the stop rule: a 97.5% one-sided predictive bound.
UPPER_Z = 1.96

#: Observations before the noise is estimated from the fit (:meth:`AdditiveGainModel.fit_noise`).
NOISE_MIN_OBSERVATIONS = 10


@dataclass(frozen=True)
class PoolBudget:
    """What a pool search may spend: a share of the projected full grid, trials or hours.

    The share and the hours count the signals the search reads plus the target stages of the
    transfers it trains (a transfer's source stage is its source's single-task model, which
    every search and the grid train once: counted beside, never in the budget).  A trial
    budget counts transfer trials.
    """

    share: float | None = None
    trials: int | None = None
    hours: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.share, self.trials, self.hours) if v is not None]
        if len(given) != 1:
            raise ConfigError("a budget is one of a share (20%), trials (30 trials) or a time (2h)")
        if self.share is not None and not 0 < self.share <= 1:
            raise ConfigError(
                f"budget = {self.share * 100:g}%; expected more than 0% and at most 100% "
                "of the projected full grid"
            )
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"budget = {self.trials} trials; expected at least 1")
        if self.hours is not None and not self.hours > 0:
            raise ConfigError(f"budget = {self.hours:g} h; expected more than 0")

    @classmethod
    def parse(cls, text: str) -> PoolBudget:
        """``20%``, ``30 trials`` / ``30t``, or ``2h`` / ``90m`` / ``1.5 hours``."""
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(%|[a-z]+)\s*", str(text).lower())
        units: dict[str, float | None] = {"t": None, "trial": None, "trials": None}
        units.update({"h": 1.0, "hour": 1.0, "hours": 1.0})
        units.update({"m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minutes": 1 / 60})
        if match is None or (match.group(2) != "%" and match.group(2) not in units):
            raise ConfigError(
                f"budget {text!r}; expected a share of the projected full grid (20%), a number "
                "of trials (30 trials) or a time (2h, 90m)"
            )
        value, unit = float(match.group(1)), match.group(2)
        if unit == "%":
            return cls(share=value / 100)
        scale = units[unit]
        if scale is None:
            if not value.is_integer():
                raise ConfigError(f"budget {text!r}; a number of trials is a whole number")
            return cls(trials=int(value))
        return cls(hours=value * scale)

    def limit_hours(self, projected_hours: float) -> float | None:
        """The hours the budget allows on a pool projected at ``projected_hours`` (trials: None)."""
        if self.share is not None:
            return self.share * projected_hours
        return self.hours

    @property
    def label(self) -> str:
        """``20%``, ``30 trials`` or ``2.00 h``."""
        if self.share is not None:
            return f"{self.share * 100:g}%"
        return f"{self.trials} trials" if self.trials is not None else f"{self.hours:.2f} h"


@dataclass(frozen=True)
class PoolPrior:
    """Prior standard deviations of the additive model's parts (in the metric's units).

    Attributes:
        signals: Signal columns read (standardised within each target).
        global_sd: The pool's mean gain, shared by every candidate (one trial on any target
            moves every target's prediction).  0.1 by the replay (BENCHMARKS "Cold start:
            pool search replayed"): without it, or at 0.05, the loss at 10% of the grid's
            transfer hours is larger on both study v2 pools and the first study.
        target_sd: A target's mean gain.
        setting_sd: The effect of one value of one settings column.
        source_sd: The effect of one source.
        signal_sd: A signal's weight (per within-target standard deviation).
        signal_mean: A signal's prior weight: positive, so that higher similarity is tried
            first before any result.
        noise_sd: One trial's validation gain around the model's mean.
        means: Prior means of named parts (a warm start: :meth:`AdditiveGainModel.shared_means`
            of a model fitted on another pool); the pool mean (``pool``), each setting value
            (``setting:<column>=<value>``) and each signal weight (``signal:<name>``).  Parts
            not named keep their default mean.
    """

    signals: tuple[str, ...] = POOL_SIGNALS
    global_sd: float = 0.1
    target_sd: float = 0.05
    setting_sd: float = 0.05
    source_sd: float = 0.03
    signal_sd: float = 0.02
    signal_mean: float = 0.005
    noise_sd: float = 0.02
    means: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("global_sd", "target_sd", "setting_sd", "source_sd", "signal_sd", "noise_sd"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"pool prior {name} = {getattr(self, name)}; expected > 0")


class AdditiveGainModel:
    """The Bayesian additive model over a fixed frame of candidates (see the module docstring).

    A candidate's row of the design has one 1 per group (the pool mean, its target, each
    setting column's value, its source) and its standardised signals, so the model keeps it
    sparse: a column index and a value per group.  The posterior is updated one observation at
    a time (the covariance form of Bayesian linear regression's rank-one update), in the order
    the observations are given, and the state after the last call is kept: a search that
    observes one more trial per step pays one rank-one update and one pass over its rows, not a
    solve over the whole design (a pool of 15,768 candidates: milliseconds a step instead of
    seconds).  The kept state is only a shortcut: the same observations in the same order give
    the same numbers, bit for bit, whether it is used or computed from the prior.

    Args:
        candidates: One row per (target, candidate), with ``target``, ``source``, the
            ``setting_columns`` and the prior's signal columns (a missing signal value counts
            as the target's mean).
        setting_columns: Columns whose values are the candidate's settings (each value gets
            its own effect).
        prior: The prior.
    """

    def __init__(
        self,
        candidates: pd.DataFrame,
        setting_columns: Sequence[str],
        prior: PoolPrior | None = None,
    ) -> None:
        self.prior = prior or PoolPrior()
        p = self.prior
        n = len(candidates)
        columns: list[npt.NDArray[np.intp]] = [np.zeros(n, dtype=np.intp)]
        entries: list[Array] = [np.ones(n)]
        means: list[float] = [0.0]
        variances: list[float] = [p.global_sd**2]
        #: The name of each part (each column of the design).
        self.names: list[str] = ["pool"]
        groups = [("target", p.target_sd), *((c, p.setting_sd) for c in setting_columns)]
        for column, sd in [*groups, ("source", p.source_sd)]:
            values = candidates[column].astype(str).to_numpy()
            levels = np.asarray(sorted(set(values)), dtype=object)
            offset = len(means)
            codes = np.searchsorted(levels, values) if len(levels) else np.zeros(0, np.intp)
            columns.append(np.asarray(codes, dtype=np.intp) + offset)
            entries.append(np.ones(n))
            means += [0.0] * len(levels)
            variances += [sd**2] * len(levels)
            group = column if column in ("target", "source") else f"setting:{column}"
            self.names += [f"{group}={level}" for level in levels]
        targets = candidates["target"].astype(str)
        for signal in p.signals:
            if signal not in candidates.columns:
                raise ConfigError(f"the pool search's signal {signal!r} was not computed")
            given = pd.Series(candidates[signal].to_numpy(dtype=np.float64), index=targets.index)
            grouped = given.groupby(targets)
            spread = grouped.transform("std").fillna(0.0)
            z = (given - grouped.transform("mean")) / spread.where(spread > 0, 1.0)
            columns.append(np.full(n, len(means), dtype=np.intp))
            entries.append(z.fillna(0.0).to_numpy(dtype=np.float64))
            means.append(p.signal_mean)
            variances.append(p.signal_sd**2)
            self.names.append(f"signal:{signal}")
        given_means = dict(p.means)
        means = [given_means.get(name, mean) for name, mean in zip(self.names, means, strict=True)]
        #: Per row and group: the design column that is not 0, and its value.
        self.columns: npt.NDArray[np.intp] = np.column_stack(columns)
        self.entries: Array = np.column_stack(entries)
        self.prior_mean = np.asarray(means)
        self.prior_precision = 1.0 / np.asarray(variances)
        #: The observation noise's standard deviation in use (see :meth:`fit_noise`).
        self.noise_sd = p.noise_sd
        self._state: tuple[list[int], list[float], Array, Array] = self._prior_state()
        self._codes: tuple[object, npt.NDArray[np.intp], list[str]] | None = None

    @property
    def design(self) -> Array:
        """The dense design matrix (rows: candidates; columns: every effect, then signals)."""
        dense = np.zeros((len(self.columns), len(self.prior_mean)))
        rows = np.repeat(np.arange(len(self.columns)), self.columns.shape[1])
        np.add.at(dense, (rows, self.columns.ravel()), self.entries.ravel())
        return dense

    def _prior_state(self) -> tuple[list[int], list[float], Array, Array]:
        return [], [], self.prior_mean.copy(), np.diag(1.0 / self.prior_precision)

    def _posterior(self, observed: Sequence[int], values: Sequence[float]) -> tuple[Array, Array]:
        """The weights' posterior mean and covariance after ``observed`` (in their order)."""
        rows = [int(r) for r in observed]
        gains = [float(v) for v in values]
        seen, seen_values, mean, cov = self._state
        k = len(seen)
        if not (len(rows) >= k and rows[:k] == seen and gains[:k] == seen_values):
            seen, seen_values, mean, cov = self._prior_state()
            k = 0
        if k == len(rows):
            return mean, cov
        mean, cov = mean.copy(), cov.copy()
        noise = self.noise_sd**2
        for row, value in zip(rows[k:], gains[k:], strict=True):
            index, entry = self.columns[row], self.entries[row]
            shared = cov[:, index] @ entry  # Σ x
            spread = noise + float(entry @ shared[index])  # x'Σx + noise
            mean += shared * ((value - float(entry @ mean[index])) / spread)
            cov -= np.outer(shared, shared / spread)
        self._state = (rows, gains, mean, cov)
        return mean, cov

    def predict(
        self,
        observed: Sequence[int],
        values: Sequence[float],
        rows: Sequence[int] | npt.NDArray[np.intp],
    ) -> tuple[Array, Array]:
        """Posterior predictive mean and standard deviation of the gain of ``rows``.

        ``observed`` are candidate rows with a finished trial and ``values`` their validation
        gains.
        """
        weights, cov = self._posterior(observed, values)
        wanted = np.asarray(rows, dtype=np.intp)
        index, entry = self.columns[wanted], self.entries[wanted]
        mean = (entry * weights[index]).sum(axis=1)
        groups = index.shape[1]
        variance = np.zeros(len(wanted))
        for g in range(groups):
            variance += entry[:, g] ** 2 * cov[index[:, g], index[:, g]]
            for h in range(g + 1, groups):
                variance += 2.0 * entry[:, g] * entry[:, h] * cov[index[:, g], index[:, h]]
        sd = np.sqrt(np.maximum(variance, 0.0) + self.noise_sd**2)
        return mean, sd

    def fit_noise(self, observed: Sequence[int], values: Sequence[float]) -> float:
        """Re-estimate the observation noise from the fit so far (empirical Bayes), and use it.

        ``RSS / (n − effective parameters)`` of the posterior mean on the observed rows, never
        below the prior's ``noise_sd``; taken up (and the posterior recomputed) only from
        :data:`NOISE_MIN_OBSERVATIONS` observations on and when it moves by more than a
        quarter.  What the additive model cannot explain — a source that helps one target
        and hurts another — is noise to it; with the prior's small noise it was believed
        exactly, so the search stopped early or spent its budget where nothing moved.  A
        deterministic function of the observations in their order: the real search and its
        replay make the same calls.
        """
        n = len(observed)
        if n < NOISE_MIN_OBSERVATIONS:
            return self.noise_sd
        weights, cov = self._posterior(observed, values)
        rows = np.asarray(observed, dtype=np.intp)
        index, entry = self.columns[rows], self.entries[rows]
        fitted = (entry * weights[index]).sum(axis=1)
        residual = np.asarray(values, dtype=np.float64) - fitted
        latent = np.zeros(n)
        groups = index.shape[1]
        for g in range(groups):
            latent += entry[:, g] ** 2 * cov[index[:, g], index[:, g]]
            for h in range(g + 1, groups):
                latent += 2.0 * entry[:, g] * entry[:, h] * cov[index[:, g], index[:, h]]
        effective = float(np.sum(latent) / self.noise_sd**2)
        estimate = math.sqrt(float(residual @ residual) / max(n - effective, 1.0))
        estimate = max(estimate, self.prior.noise_sd)
        if abs(estimate / self.noise_sd - 1.0) > 0.25:
            self.noise_sd = estimate
            self._state = self._prior_state()
        return self.noise_sd

    def shared_means(self, observed: Sequence[int], values: Sequence[float]) -> dict[str, float]:
        """The posterior means of the parts another pool can share: a warm start's prior.

        The pool mean, the settings' effects and the signals' weights (a new pool's targets
        and sources are its own, so their effects are not shared).
        """
        noise = self.noise_sd**2
        x = self.design[np.asarray(observed, dtype=np.intp)]
        precision = np.diag(self.prior_precision) + x.T @ x / noise
        rhs = self.prior_precision * self.prior_mean + x.T @ np.asarray(values) / noise
        weights = np.linalg.solve(precision, rhs)
        return {
            name: float(weight)
            for name, weight in zip(self.names, weights, strict=True)
            if name == "pool" or name.startswith(("setting:", "signal:"))
        }

    def target_codes(self, targets: Sequence[str]) -> tuple[npt.NDArray[np.intp], list[str]]:
        """Each row's target as a code into the sorted target names.

        Kept for the same ``targets`` object (a search passes one list, unchanged, every step).
        """
        if (
            self._codes is not None
            and self._codes[0] is targets
            and len(self._codes[1]) == len(targets)
        ):
            return self._codes[1], self._codes[2]
        codes, names = pd.factorize(pd.Series(list(targets), dtype=object).astype(str), sort=True)
        result = (np.asarray(codes, dtype=np.intp), [str(n) for n in names])
        self._codes = (targets, *result)
        return result


def expected_improvement(mean: Array, sd: Array, best: Array) -> Array:
    """E[max(gain − best, 0)] for Gaussian gains (``sd`` > 0)."""
    z = (mean - best) / sd
    density = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return np.asarray((mean - best) * ndtr(z) + sd * density, dtype=np.float64)


@dataclass(frozen=True)
class PoolPick:
    """One decision of the pool search: a candidate row to train, or why to stop.

    Attributes:
        row: The candidate's row in the frame (``None``: stop).
        predicted: Its predicted validation gain (NaN when stopping).
        upper: Its upper predictive bound.
        acquisition: Its expected improvement per predicted hour.
        finished: Targets the stop rule has finished (none of their candidates can beat their
            best by the margin), in name order.
        reason: Why the search stops (``None`` when it goes on).
    """

    row: int | None
    predicted: float
    upper: float
    acquisition: float
    finished: tuple[str, ...]
    reason: str | None = None


def pool_pick(
    model: AdditiveGainModel,
    targets: Sequence[str],
    predicted_hours: Array,
    observed: Mapping[int, float],
    excluded: Sequence[int],
    *,
    hours_left: float | None,
    margin: float,
    seed: int,
    step: int,
    headroom: Array | None = None,
) -> PoolPick:
    """The next candidate of the pool, or why to stop.

    Args:
        model: The model over the pool's candidates.
        targets: Each candidate row's target.
        predicted_hours: Each row's predicted training hours (from the configuration).
        observed: Row -> validation gain of every finished trial.
        excluded: Rows not to train (failed trials, and targets left out of the search).
        hours_left: The time budget's hours left (``None``: a trial budget, checked by the
            caller).
        margin: The stop rule's margin.
        seed: Seeds the tie-break key.
        step: The 1-based step (the key's second seed).
        headroom: Each row's largest possible gain (the metric's maximum minus the target's
            single-task validation score; ``None``: unbounded).  An upper bound is capped
            there: a target whose single-task model is already perfect on validation is
            finished before any trial.
    """
    codes, names = model.target_codes(targets)
    open_rows = np.ones(len(codes), dtype=bool)
    open_rows[np.fromiter(observed, dtype=np.intp, count=len(observed))] = False
    open_rows[np.asarray(list(excluded), dtype=np.intp)] = False
    remaining = np.flatnonzero(open_rows)
    if len(remaining) == 0:
        return _stop((), "no candidate is left to train")
    rows = list(observed)
    values = [observed[r] for r in rows]
    best_gain = np.zeros(len(names))  # a target's best gain so far (0: its single-task model)
    seen = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(seen)
    np.maximum.at(best_gain, codes[np.asarray(rows, dtype=np.intp)[finite]], seen[finite])
    model.fit_noise(rows, values)
    mean, sd = model.predict(rows, values, remaining)
    best = best_gain[codes[remaining]]
    upper = mean + UPPER_Z * sd
    if headroom is not None:
        upper = np.minimum(upper, headroom[remaining])
    promising = upper > best + margin
    # A target none of whose candidates has been tried is not finished by what the others
    # showed: one diverged trial elsewhere would otherwise pull the pool mean down and stop
    # the whole search (on the study grids this changes no pick: BENCHMARKS "Cold start").
    tried = np.zeros(len(names), dtype=bool)
    touched = np.asarray([*observed, *excluded], dtype=np.intp)
    tried[codes[touched]] = True
    untried = ~tried[codes[remaining]]
    if headroom is not None:
        untried &= headroom[remaining] > margin
    promising |= untried
    live = np.zeros(len(names), dtype=bool)
    live[codes[remaining[promising]]] = True
    finished = tuple(name for name, alive in zip(names, live, strict=True) if not alive)
    if not promising.any():
        return _stop(
            finished,
            f"for every target, no remaining candidate's upper predicted gain beats its best "
            f"model by {margin}",
        )
    hours = predicted_hours[remaining]
    fits = promising if hours_left is None else promising & (hours <= hours_left)
    if not fits.any():
        left = max(hours_left or 0, 0)
        return _stop(
            finished, f"time budget: no candidate's predicted cost fits in the {left:.3f} h left"
        )
    gain_per_hour = expected_improvement(mean, sd, best) / np.maximum(hours, 1e-12)
    gain_per_hour = np.where(fits, gain_per_hour, -np.inf)
    key = np.random.default_rng(seed * 1_000_003 + step).random(len(remaining))
    position = _first(gain_per_hour, hours, key)
    return PoolPick(
        int(remaining[position]),
        float(mean[position]),
        float(upper[position]),
        float(gain_per_hour[position]),
        finished,
    )


def _stop(finished: tuple[str, ...], reason: str) -> PoolPick:
    """The pick that stops the search, and why."""
    return PoolPick(None, np.nan, np.nan, np.nan, finished, reason)


def _first(gain_per_hour: Array, hours: Array, key: Array) -> int:
    """The position ``np.lexsort((key, hours, -gain_per_hour))`` puts first, in one pass.

    The largest acquisition, then the lowest predicted cost, then the lowest key (then the
    lowest position, as the stable sort); NaNs fall back to the sort.
    """
    if np.isnan(gain_per_hour).any() or np.isnan(hours).any() or np.isnan(key).any():
        return int(np.lexsort((key, hours, -gain_per_hour))[0])
    tied = np.flatnonzero(gain_per_hour == gain_per_hour.max())
    tied = tied[hours[tied] == hours[tied].min()]
    return int(tied[np.argmin(key[tied])])
