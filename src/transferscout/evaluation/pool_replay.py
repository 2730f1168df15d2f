"""The pool search replayed on a finished pool table, against the baselines it must beat.

A *pool table* (see :mod:`transferscout.meta.pool`) has one row per (target, candidate) with
what the search observes after training it (``first_validation_gain``), its cost
(``target_hours``, realised; ``predicted_hours``, known before) and the truth (``real_f1``, and
``target_score`` for the target's single-task model).  The replay runs the pool search's loop —
:func:`pool_search_step` each step, the one call the real search makes too — with "training" a
candidate reading its row.  Every decision reads ``first_validation_gain`` and the hours only;
the truth is read afterwards, by :func:`target_losses`.

Budgets are shares of the grid's transfer hours (Σ ``target_hours``: a transfer's source stage
is the source's single-task model, trained once and needed by grid and search alike, so it is
not counted; the single-task hours are reported beside).  A method spends the recorded hours of
the signal families it reads (never the single-task models: the pool search trains them anyway)
plus the target stages of the candidates it trains.  A candidate is trained when its predicted
hours fit in what is left; its realised hours are then spent.

Per target, with ``grid_best = max(target_score, max real_f1)``:

- ``loss_found``: ``grid_best −`` the best truth among the single-task model and every trained
  candidate (what the search could have handed over had it known the truth);
- ``loss_handed``: ``grid_best −`` the truth of the model it hands over: the trained candidate
  with the best ``first_validation_gain`` if that gain is above 0, else the single-task model.

The methods (:func:`pool_replay`): the product's policy (``pool``), the same policy with each
single signal and with none (``pool:<signal>``, ``pool:none``), random order (the mean over
seeded orders), random with round-robin over targets, the online hyperparameters-only model
(:func:`transferscout.evaluation.adaptive.adaptive_step` refitted on the setting columns over
everything observed in the pool, round-robin over targets; left out, and said in the facts, when
no setting varies: it then has no feature and its order is random), each signal's order (round-robin
over targets) and the oracle (each target's best-truth candidate, if it beats the single-task
model, largest real gain first).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from transferscout.evaluation.adaptive import adaptive_step, tie_seed
from transferscout.evaluation.methods import SINGLE_SIGNALS, signal_family_hours
from transferscout.evaluation.ordering import ranking_order
from transferscout.evaluation.stats import sign_flip_test
from transferscout.kinds import get_kind
from transferscout.meta.features import FIRST_GAIN
from transferscout.meta.pool import AdditiveGainModel, PoolPick, PoolPrior, pool_pick

__all__ = [
    "ONLINE",
    "PRODUCT",
    "REPLAY_BUDGETS",
    "REPLAY_SIGNALS",
    "TOLERANCE",
    "PoolReplayResult",
    "pool_hours",
    "pool_replay",
    "pool_search_step",
    "replay_pool_search",
    "target_losses",
    "varying_settings",
]

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

#: The budgets replayed: shares of the grid's transfer (target-stage) hours.
REPLAY_BUDGETS = (0.05, 0.10, 0.20, 0.30)

#: A target is "found" when its loss to the grid's best is at most this.
TOLERANCE = 0.01

#: The product's policy (the pool search with its default prior).
PRODUCT = "pool"

#: Signals whose order (and whose single-signal pool policy) is replayed, where the table has
#: them: the evaluation's single signals, and the published matrices' ``mnli_lp``.
REPLAY_SIGNALS = (*SINGLE_SIGNALS, "mnli_lp")

#: The online hyperparameters-only baseline (replayed where a setting varies).
ONLINE = "online:hyperparameters"

#: Random orders averaged per random baseline.
RANDOM_ORDERS = 20

# Losses are differences of sums of the same scores: the tolerance allows for their last bits.
_SLACK = 1e-12


def varying_settings(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The setting columns whose value varies in the pool.

    A constant one has no effect to learn: the model's pool mean is already shared by every
    candidate (and a second shared effect would widen its prior).
    """
    return [c for c in columns if c in table.columns and table[c].nunique(dropna=False) > 1]


def pool_hours(table: pd.DataFrame) -> tuple[Array, Array]:
    """Each row's predicted and realised hours (equal cost per trial where they are missing).

    ``predicted_hours`` missing (a column or a value) is the mean of the known ones, or 1 when
    none is known; ``target_hours`` missing anywhere makes every trial cost 1 (an imported
    matrix without hours: equal cost per trial), and then so does every prediction.
    """
    n = len(table)
    realised = (
        table["target_hours"].to_numpy(dtype=np.float64)
        if "target_hours" in table.columns
        else np.full(n, np.nan)
    )
    if not np.isfinite(realised).all():
        return np.ones(n), np.ones(n)
    predicted = (
        table["predicted_hours"].to_numpy(dtype=np.float64)
        if "predicted_hours" in table.columns
        else np.full(n, np.nan)
    )
    known = np.isfinite(predicted)
    fill = float(predicted[known].mean()) if known.any() else 1.0
    return np.where(known, predicted, fill), realised


def pool_search_step(
    model: AdditiveGainModel,
    targets: Sequence[str],
    predicted_hours: Array,
    observed: Mapping[int, float],
    *,
    excluded: Sequence[int] = (),
    failed: Sequence[int] = (),
    headroom: Array | None = None,
    spent_hours: float,
    budget_hours: float | None,
    budget_trials: int | None,
    signal_hours: float,
    margin: float,
    seed: int,
    step: int,
) -> PoolPick:
    """One step of the pool search: what to train next, or why to stop (pure).

    The real search and the replay both call this with what they have observed so far, so
    the same observations give the same pick.  The trial budget is met when ``observed`` and
    ``failed`` together hold ``budget_trials`` rows (a failed trial counts); otherwise
    :func:`transferscout.meta.pool.pool_pick` decides with ``hours_left = budget_hours −
    signal_hours − spent_hours`` (``None`` without a time budget).

    Args:
        model: The additive model over the pool's rows (built once).
        targets: Each row's target.
        predicted_hours: Each row's predicted target-stage hours (:func:`pool_hours`).
        observed: Row -> observed validation gain of every trained row.
        excluded: Rows not to train that were never tried (a target not searched, a grid
            trial without a result).
        failed: Rows tried whose trial failed: never again, and counted in a trial budget.
        headroom: Each row's largest possible gain (see :func:`pool_pick`; ``None``: none).
        spent_hours: Realised target-stage hours of the trained rows (failed ones included).
        budget_hours: The time budget (``None``: none).
        budget_trials: The trial budget (``None``: none).
        signal_hours: The hours of the signals the model reads, spent before the first step.
        margin: The stop rule's margin.
        seed: Seeds the tie-break key.
        step: The 1-based step.
    """
    if budget_trials is not None and len(observed) + len(failed) >= budget_trials:
        return PoolPick(
            None, np.nan, np.nan, np.nan, (), f"trial budget: {budget_trials} trials trained"
        )
    hours_left = None if budget_hours is None else budget_hours - signal_hours - spent_hours
    return pool_pick(
        model,
        targets,
        predicted_hours,
        observed,
        [*excluded, *failed],
        hours_left=hours_left,
        margin=margin,
        seed=seed,
        step=step,
        headroom=headroom,
    )


def _untrainable(table: pd.DataFrame) -> list[int]:
    """Rows without an observation to read (a failed trial of the grid): never trained."""
    gain = table[FIRST_GAIN].to_numpy(dtype=np.float64)
    return [int(i) for i in np.flatnonzero(~np.isfinite(gain))]


def not_searched(table: pd.DataFrame) -> list[int]:
    """Rows of targets the pool search leaves out: their single-task model is degenerate.

    Read from ``target_degenerate`` (the candidate table's; an imported matrix has none).
    """
    if "target_degenerate" not in table.columns:
        return []
    flagged = table["target_degenerate"].fillna(False).astype(bool).to_numpy()
    return [int(i) for i in np.flatnonzero(flagged)]


def pool_headroom(table: pd.DataFrame) -> Array | None:
    """Each row's largest possible gain: its metric's maximum minus the single-task score.

    From ``target_kind`` and ``target_validation_score`` (``None`` when the table lacks
    either, as an imported matrix does: no cap).
    """
    if not {"target_kind", "target_validation_score"} <= set(table.columns):
        return None
    highest = table["target_kind"].map(lambda kind: get_kind(str(kind)).metric_range[1])
    room = highest.astype(float) - table["target_validation_score"].astype(float)
    return np.asarray(np.nan_to_num(room.to_numpy(dtype=np.float64), nan=np.inf), dtype=np.float64)


def replay_pool_search(
    table: pd.DataFrame,
    setting_columns: Sequence[str],
    *,
    prior: PoolPrior | None = None,
    budget_hours: float | None = None,
    budget_trials: int | None = None,
    margin: float = 0.01,
    seed: int = 0,
    signal_hours: float = 0.0,
) -> pd.DataFrame:
    """The pool search's trace on a finished pool table (its results read, not trained).

    ``AdditiveGainModel(table, setting_columns, prior)`` once, then :func:`pool_search_step`
    each step, observing the picked row's ``first_validation_gain`` and spending its
    ``target_hours``, until it says stop.  No other column of the truth is read.

    Returns:
        One row per trained candidate: ``step`` (1-based), ``row`` (the table's position),
        ``target``, ``source``, the setting columns, ``predicted`` and ``upper`` (the model's
        gain and upper bound before training it), ``observed`` (its validation gain),
        ``hours`` (its realised target-stage hours) and ``total_hours`` (``signal_hours`` plus
        every target stage so far).  ``attrs["stop"]`` says why the search stopped.
    """
    table = table.reset_index(drop=True)
    model = AdditiveGainModel(table, setting_columns, prior)
    targets = table["target"].astype(str).tolist()
    predicted, realised = pool_hours(table)
    gains = table[FIRST_GAIN].to_numpy(dtype=np.float64)
    excluded = sorted({*_untrainable(table), *not_searched(table)})
    headroom = pool_headroom(table)
    observed: dict[int, float] = {}
    spent, records, step = 0.0, [], 0
    while True:
        step += 1
        pick = pool_search_step(
            model,
            targets,
            predicted,
            observed,
            excluded=excluded,
            headroom=headroom,
            spent_hours=spent,
            budget_hours=budget_hours,
            budget_trials=budget_trials,
            signal_hours=signal_hours,
            margin=margin,
            seed=seed,
            step=step,
        )
        if pick.row is None:
            break
        row = pick.row
        observed[row] = float(gains[row])
        spent += float(realised[row])
        records.append(
            {
                "step": step,
                "row": row,
                "target": targets[row],
                "source": str(table.at[row, "source"]),
                **{c: table.at[row, c] for c in setting_columns},
                "predicted": pick.predicted,
                "upper": pick.upper,
                "observed": observed[row],
                "hours": float(realised[row]),
                "total_hours": signal_hours + spent,
            }
        )
    columns = ["step", "row", "target", "source", *setting_columns, "predicted", "upper"]
    trace = pd.DataFrame(records, columns=[*columns, "observed", "hours", "total_hours"])
    trace.attrs["stop"] = pick.reason
    return trace


def target_losses(table: pd.DataFrame, trained: Sequence[int]) -> pd.DataFrame:
    """Per target: what the trained rows found and what the search hands over (see the module).

    Returns:
        Index ``target``; columns ``grid_best``, ``loss_found``, ``loss_handed``, ``trained``
        (candidates trained) and ``grid_loss_handed`` (what the full grid hands over).
    """
    table = table.reset_index(drop=True)
    chosen = np.zeros(len(table), dtype=bool)
    chosen[np.asarray(trained, dtype=np.intp)] = True
    position = np.full(len(table), np.inf)
    position[np.asarray(trained, dtype=np.intp)] = np.arange(len(trained))
    records = {}
    for target, index in table.groupby("target", sort=True).indices.items():
        real = table["real_f1"].to_numpy(dtype=np.float64)[index]
        gain = table[FIRST_GAIN].to_numpy(dtype=np.float64)[index]
        own = float(table["target_score"].iloc[index[0]])
        best = max(own, float(np.nanmax(real))) if np.isfinite(real).any() else own
        mine = chosen[index]
        found = max([own, *real[mine & np.isfinite(real)]])
        records[target] = {
            "grid_best": best,
            "loss_found": best - found,
            "loss_handed": best - _handed(real, gain, own, mine, position[index]),
            "trained": int(mine.sum()),
            "grid_loss_handed": best
            - _handed(
                real, gain, own, np.ones(len(index), bool), np.arange(len(index), dtype=float)
            ),
        }
    frame = pd.DataFrame.from_dict(records, orient="index")
    frame.index.name = "target"
    return frame


def _handed(
    real: Array, gain: Array, own: float, keep: npt.NDArray[np.bool_], order: Array
) -> float:
    """The truth of the model handed over among the ``keep`` rows of one target.

    The best observed gain above 0 (ties: the earliest in ``order``), else the single-task
    model (``own``).
    """
    value = np.where(keep & np.isfinite(gain), gain, -np.inf)
    top = float(value.max()) if len(value) else -np.inf
    if not top > 0:
        return own
    first = np.flatnonzero(value == top)
    return float(real[first[np.argmin(order[first])]])


@dataclass(frozen=True)
class _Pool:
    """A pool table's arrays, read once for every method's replay."""

    table: pd.DataFrame
    targets: npt.NDArray[np.object_]
    predicted: Array
    realised: Array
    gains: Array
    excluded: frozenset[int]


def _round_robin(
    pool: _Pool,
    orders: Mapping[str, Sequence[int]],
    budget: float,
    spent_before: float,
) -> list[int]:
    """Rows trained by cycling over the targets (name order), each its next row that fits.

    What is left only shrinks, so a row that does not fit now never will: each queue is read
    once (a pool of thousands of candidates in one pass).
    """
    trained: list[int]
    queues = {t: [r for r in rows if r not in pool.excluded] for t, rows in sorted(orders.items())}
    at = dict.fromkeys(queues, 0)
    spent, trained = spent_before, []
    while queues:
        for target in list(queues):
            queue, position = queues[target], at[target]
            while position < len(queue) and not pool.predicted[queue[position]] <= budget - spent:
                position += 1
            if position == len(queue):
                del queues[target]
                continue
            row = queue[position]
            at[target] = position + 1
            trained.append(row)
            spent += float(pool.realised[row])
    return trained


def _in_order(pool: _Pool, order: Sequence[int], budget: float, spent_before: float) -> list[int]:
    """Rows trained in one order over the whole pool: each step the first that fits.

    One pass: what is left only shrinks, so a row that does not fit now never will.
    """
    trained: list[int]
    spent, trained = spent_before, []
    for row in order:
        if row in pool.excluded or not pool.predicted[row] <= budget - spent:
            continue
        trained.append(row)
        spent += float(pool.realised[row])
    return trained


def _per_target_orders(pool: _Pool, score: Array, seed: int) -> dict[str, list[int]]:
    """Each target's rows by decreasing score, then predicted hours, then a seeded key."""
    orders = {}
    for target in sorted(set(pool.targets)):
        rows = np.flatnonzero(pool.targets == target)
        order = ranking_order(score[rows], pool.predicted[rows], seed=seed)
        orders[str(target)] = [int(r) for r in rows[order]]
    return orders


def _setting_features(table: pd.DataFrame, columns: Sequence[str]) -> Array:
    """The settings as numbers for the booster.

    A numeric column as it is, another by its sorted levels' codes (an imported matrix's
    ``setting`` names); a constant 0 when there is no column.
    """
    if not columns:
        return np.zeros((len(table), 1))
    parts = []
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            values = pd.Series(pd.factorize(table[column].astype(str), sort=True)[0])
        parts.append(values.to_numpy(dtype=np.float64))
    return np.column_stack(parts)


def _online_hyperparameters(
    pool: _Pool, setting_columns: Sequence[str], budget: float, seed: int
) -> list[int]:
    """Round-robin over targets; each turn, the setting-only booster refitted on every trial."""
    trained: list[int]
    features = _setting_features(pool.table, setting_columns)
    remaining = {
        str(t): [int(r) for r in np.flatnonzero(pool.targets == t) if int(r) not in pool.excluded]
        for t in sorted(set(pool.targets))
    }
    spent, trained, step = 0.0, [], 0
    while remaining:
        for target in list(remaining):
            rows = [r for r in remaining[target] if pool.predicted[r] <= budget - spent]
            if not rows:
                del remaining[target]
                continue
            step += 1
            cost = pool.predicted[rows]
            if trained:
                ordered = adaptive_step(
                    features[trained],
                    pool.gains[trained],
                    features[rows],
                    cost,
                    step=step,
                    seed=seed,
                ).order
            else:  # nothing observed yet: predicted cost, then the seeded key
                ordered = ranking_order(np.zeros(len(rows)), cost, seed=tie_seed(seed, step))
            row = rows[int(ordered[0])]
            remaining[target].remove(row)
            trained.append(row)
            spent += float(pool.realised[row])
    return trained


def _oracle(pool: _Pool, budget: float) -> list[int]:
    """Each target's best-truth row where it beats the single-task model, best gain first."""
    real = pool.table["real_f1"].to_numpy(dtype=np.float64)
    own = pool.table["target_score"].to_numpy(dtype=np.float64)
    picks = []
    for target in sorted(set(pool.targets)):
        rows = [int(r) for r in np.flatnonzero(pool.targets == target) if r not in pool.excluded]
        if rows:
            best = max(rows, key=lambda r: (real[r], -pool.predicted[r]))
            if real[best] > own[best]:
                picks.append(best)
    picks.sort(key=lambda r: -(real[r] - own[r]))
    return _in_order(pool, picks, budget, 0.0)


@dataclass
class PoolReplayResult:
    """The pool-search replay's tables.

    Attributes:
        summary: One row per (method, budget): ``budget`` (share of the grid's transfer
            hours), ``budget_hours``, ``trials``, ``spent_share`` (signals + target stages over
            the grid's transfer hours), ``signal_hours``, ``loss_found``, ``loss_handed``,
            ``within`` (share of targets with ``loss_found`` ≤ :data:`TOLERANCE`),
            ``diff_found`` / ``p_found`` and ``diff_handed`` / ``p_handed`` (the product's mean
            loss minus the method's, and the paired sign-flip p-value across targets).
        per_target: One row per (method, budget, target) of :func:`target_losses` (random
            methods: the mean over their orders).
        trace: The product's trace at each budget (:func:`replay_pool_search`, with ``budget``).
        facts: What the summary rests on (hours, counts, the full grid's own loss).
        picks: (method, budget) -> the rows each replay trained, in order (one list per
            random order).
    """

    summary: pd.DataFrame
    per_target: pd.DataFrame
    trace: pd.DataFrame
    facts: dict[str, object]
    picks: dict[tuple[str, float], list[list[int]]]


def pool_replay(
    table: pd.DataFrame,
    setting_columns: Sequence[str],
    *,
    family_hours: Mapping[str, float] | None = None,
    prior: PoolPrior | None = None,
    budgets: Sequence[float] = REPLAY_BUDGETS,
    margin: float = 0.01,
    seed: int = 0,
    signals: Sequence[str] = REPLAY_SIGNALS,
    single_task_hours: float | None = None,
    random_orders: int = RANDOM_ORDERS,
) -> PoolReplayResult:
    """Replay the pool search and every baseline at each budget (see the module docstring).

    Args:
        table: The pool table (sources ≠ targets).
        setting_columns: The columns whose values are a candidate's settings.
        family_hours: Recorded hours per signal-cost family (what a method reading a signal
            spends; none: signals are free, as in a matrix that records no cost).
        prior: The product's prior (default :class:`PoolPrior`); its signals missing from the
            table are dropped, and said so in ``facts``.
        budgets: Shares of the grid's transfer hours.
        margin: The stop rule's margin.
        seed: Seeds every tie-break and the first random order.
        signals: Signal columns replayed alone, where the table has them.
        single_task_hours: Reported beside (the single-task models grid and search both need).
        random_orders: Orders averaged per random baseline.
    """
    table = table.reset_index(drop=True)
    hours = family_hours or {}
    predicted, realised = pool_hours(table)
    pool = _Pool(
        table,
        table["target"].astype(str).to_numpy(dtype=object),
        predicted,
        realised,
        table[FIRST_GAIN].to_numpy(dtype=np.float64),
        frozenset(_untrainable(table)),
    )
    grid_hours = float(realised.sum())
    product = prior or PoolPrior()
    dropped = [s for s in product.signals if s not in table.columns]
    product = replace(product, signals=tuple(s for s in product.signals if s in table.columns))
    present = [s for s in dict.fromkeys(signals) if s in table.columns]

    policies: dict[str, PoolPrior] = {PRODUCT: product, "pool:none": replace(product, signals=())}
    for signal in present:
        if (signal,) != product.signals:
            policies[f"pool:{signal}"] = replace(product, signals=(signal,))

    def cost_of(columns: Sequence[str]) -> float:
        return signal_family_hours(columns, hours)

    runs: list[tuple[str, float, float, list[list[int]]]] = []  # method, budget, signals, rows
    traces = []
    for share in budgets:
        budget = share * grid_hours
        for name, policy in policies.items():
            charged = cost_of(policy.signals)
            trace = replay_pool_search(
                table,
                setting_columns,
                prior=policy,
                budget_hours=budget,
                margin=margin,
                seed=seed,
                signal_hours=charged,
            )
            if name == PRODUCT:
                traces.append(trace.assign(budget=share, stop=trace.attrs["stop"]))
            runs.append((name, share, charged, [trace["row"].tolist()]))
        rng = np.random.default_rng(seed)
        keys = [rng.random(len(table)) for _ in range(random_orders)]
        runs.append(
            (
                "random",
                share,
                0.0,
                [_in_order(pool, np.argsort(k).tolist(), budget, 0.0) for k in keys],
            )
        )
        runs.append(
            (
                "random:round-robin",
                share,
                0.0,
                [_round_robin(pool, _per_target_orders(pool, k, seed), budget, 0.0) for k in keys],
            )
        )
        if setting_columns:  # without a varying setting it has no feature: random order
            runs.append(
                (
                    ONLINE,
                    share,
                    0.0,
                    [[*_online_hyperparameters(pool, setting_columns, budget, seed)]],
                )
            )
        for signal in present:
            charged = cost_of([signal])
            score = table[signal].to_numpy(dtype=np.float64)
            orders = _per_target_orders(pool, score, seed)
            runs.append(
                (f"signal:{signal}", share, charged, [_round_robin(pool, orders, budget, charged)])
            )
        runs.append(("oracle", share, 0.0, [_oracle(pool, budget)]))

    per_target_rows = []
    for method, share, charged, picks in runs:
        losses = [target_losses(table, rows) for rows in picks]
        mean = sum(losses[1:], losses[0]) / len(losses)
        spent = float(np.mean([realised[rows].sum() for rows in picks]))
        per_target_rows.append(
            mean.reset_index().assign(
                method=method,
                budget=share,
                signal_hours=charged,
                spent_share=(charged + spent) / grid_hours if grid_hours > 0 else np.nan,
                trials=float(np.mean([len(rows) for rows in picks])),
                within=np.mean([(loss["loss_found"] <= TOLERANCE + _SLACK) for loss in losses], 0),
            )
        )
    per_target = pd.concat(per_target_rows, ignore_index=True)
    summary = _summarise(per_target, grid_hours)
    trace_frame = pd.concat(traces, ignore_index=True) if traces else pd.DataFrame()
    grid = target_losses(table, [])
    facts: dict[str, object] = {
        "grid_transfer_hours": grid_hours,
        "single_task_hours": single_task_hours,
        "targets": int(table["target"].nunique()),
        "candidates": len(table),
        "budgets": list(budgets),
        "margin": margin,
        "product_signals": list(product.signals),
        "product_signals_missing": dropped,
        "equal_cost_per_trial": bool((realised == 1.0).all() and (predicted == 1.0).all()),
        "skipped": {}
        if setting_columns
        else {
            ONLINE: "no setting varies in the pool: the hyperparameters-only model has no "
            "feature, so its order is random:round-robin's"
        },
        "grid_loss_handed": float(grid["grid_loss_handed"].mean()),
        "grid_within_handed": float((grid["grid_loss_handed"] <= TOLERANCE + _SLACK).mean()),
    }
    trained_rows = {(method, share): rows for method, share, _, rows in runs}
    return PoolReplayResult(summary, per_target, trace_frame, facts, trained_rows)


def _summarise(per_target: pd.DataFrame, grid_hours: float) -> pd.DataFrame:
    """Mean losses per (method, budget) and the product's paired tests against each method."""
    rows = []
    product = per_target[per_target["method"] == PRODUCT]
    for (method, share), group in per_target.groupby(["method", "budget"], sort=False):
        row: dict[str, object] = {
            "method": method,
            "budget": share,
            "budget_hours": float(cast(float, share)) * grid_hours,
            "trials": float(group["trials"].iloc[0]),
            "spent_share": float(group["spent_share"].iloc[0]),
            "signal_hours": float(group["signal_hours"].iloc[0]),
            "loss_found": float(group["loss_found"].mean()),
            "loss_handed": float(group["loss_handed"].mean()),
            "within": float(group["within"].mean()),
        }
        for loss in ("found", "handed"):
            if method == PRODUCT:
                row[f"diff_{loss}"] = row[f"p_{loss}"] = np.nan
                continue
            mine = product[product["budget"] == share].set_index("target")[f"loss_{loss}"]
            theirs = group.set_index("target")[f"loss_{loss}"].reindex(mine.index)
            difference = (mine - theirs).to_numpy(dtype=np.float64)
            row[f"diff_{loss}"] = float(np.nanmean(difference))
            row[f"p_{loss}"] = sign_flip_test(difference)
        rows.append(row)
    return pd.DataFrame(rows)
