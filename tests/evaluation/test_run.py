from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferscout.evaluation import EvaluationSettings, evaluate_run
from transferscout.evaluation.adaptive import adaptive_replay
from transferscout.evaluation.table1 import best_models_table
from transferscout.grid.store import RunStore
from transferscout.meta.features import feature_columns

FAST = EvaluationSettings(bootstrap_resamples=200, n_estimators=50, meta_seeds=2)


def test_every_table_is_produced_from_the_store(small_run: Path) -> None:
    result = evaluate_run(small_run, FAST)
    folder = small_run / "evaluation"
    tables = ("candidates", "rmse", "curves", "ranking", "per_target", "savings", "table1")
    for name in (*tables, "seed_noise"):
        assert (folder / f"{name}.csv").exists(), name
    summary = json.loads((folder / "summary.json").read_text())
    # One seed per single-task setting: 3 tasks x 2 settings, no noise band.
    assert len(result.seed_noise) == 6 and (result.seed_noise["seeds"] == 1).all()
    assert summary["seed_noise"] == {"settings_with_repeated_seeds": 0}
    assert summary["targets"] == 3 and summary["candidates"] == 12
    assert summary["signal_hours"] > 0
    methods = set(result.curves["method"])
    assert {"oracle", "random", "adaptive:greedy", "adaptive:ucb"} <= methods
    assert {f"meta:{s}" for s in ("f1", "f1+ansat", "f1+ansat+taskemb", "all")} <= methods
    assert {
        "signal:ansat_ab_0.10",
        "signal:taskemb_rrf",
        "signal:estimators_logme",
        "signal:source_size",
    } <= methods
    # Every training charged once, summed by hand from the store: the grid is every
    # single-task model (2 settings x 3 tasks) plus every transfer's target stage; a
    # transfer's source stage is the source's single-task model at the source settings.
    with RunStore(small_run, readonly=True) as store:
        singles = store.rows(kind="single", status="done")
        transfers = store.rows(kind="transfer", status="done")
    every_single = sum(r.target_seconds or 0.0 for r in singles) / 3600
    source_stages = {r.source_trial for r in transfers}
    assert len(source_stages) == 3  # one per source task: the grid's one source setting
    stage_hours = sum(r.target_seconds or 0.0 for r in singles if r.id in source_stages) / 3600
    target_stages = sum(r.target_seconds or 0.0 for r in transfers) / 3600
    assert summary["single_task_hours"] == pytest.approx(every_single)
    assert summary["source_stage_hours"] == pytest.approx(stage_hours)
    assert summary["transfer_target_hours"] == pytest.approx(target_stages)
    assert summary["full_grid_hours"] == pytest.approx(target_stages + every_single)
    # The hyperparameter-only baseline reads no signal and no single-task score: its full
    # curve costs the transfers' target stages and the source stages they start from.
    assert "baseline:hyperparameters" in methods
    last = result.curves.groupby("method")["hours"].last()
    charged = summary["method_hours"]
    assert charged["baseline:hyperparameters"] == pytest.approx(stage_hours)
    assert last["baseline:hyperparameters"] == pytest.approx(target_stages + stage_hours)
    # meta:all uses every signal family and every single-task model; meta:f1 only the latter.
    assert charged["meta:all"] == pytest.approx(summary["signal_hours"] + every_single)
    assert charged["meta:f1"] == pytest.approx(every_single)
    assert every_single > stage_hours > 0
    assert last["meta:all"] == pytest.approx(target_stages + charged["meta:all"])
    # Every curve ends at the full grid's best F1 (all candidates trained).
    final = result.curves.groupby("method")["best_f1"].last()
    assert (final - summary["full_grid_best_f1"]).abs().max() < 1e-12
    # A binary run's aggregates are positive F1; the curves also carry the mean best gain.
    assert summary["target_kinds"] == {"binary": 3} and summary["aggregate"] == "score"
    assert summary["aggregate_label"] == "positive F1"
    best = summary["full_grid_best"]["binary"]["mean_best"]
    assert best == summary["full_grid_best_f1"]
    singles = result.candidates.groupby("target")["target_score"].first().mean()
    gains = result.curves["best_f1"] - singles
    assert (result.curves["best_gain"] - gains).abs().max() < 1e-12
    # The oracle is never beaten at any depth.
    oracle = result.curves[result.curves["method"] == "oracle"].set_index("k")["best_f1"]
    for _, curve in result.curves.groupby("method"):
        assert (curve.set_index("k")["best_f1"] <= oracle + 1e-12).all()
    ranking = result.ranking.set_index(["method", "metric"])
    assert ranking.loc[("oracle", "regret@1"), "estimate"] == 0.0
    assert ranking.loc[("oracle", "rank_of_best"), "estimate"] == 1.0
    # Seeded methods carry their spread over the seeds; the others are computed once.
    assert ranking.loc[("meta:f1", "ndcg@3"), "seeds"] == 2
    assert ranking.loc[("meta:f1", "ndcg@3"), "seed_sd"] >= 0
    assert ranking.loc[("signal:taskemb_rrf", "ndcg@3"), "seeds"] == 1
    assert ranking.loc[("random", "spearman"), "estimate"] == 0.0  # exact expectation
    # Every method is tested against the best no-signal baseline and meta:f1.
    tested = ranking.loc[("meta:all", "regret@1")]
    assert tested["baseline"] in ("random", "baseline:hyperparameters")
    assert 0 < tested["p_vs_baseline"] <= 1 and 0 < tested["p_vs_meta_f1"] <= 1
    assert {"prior:taskemb_rrf", "prior:ansat_ab_0.10"} <= set(result.ranking["method"])
    assert {"saved@0.01", "saved@0.035"} <= set(result.ranking["metric"])
    assert (
        summary["meta_seeds"] == [0, 1]
        and "every training is charged once" in summary["cost_convention"].lower()
    )
    assert set(result.rmse["feature_set"]) == {"f1", "f1+ansat", "f1+ansat+taskemb", "all"}
    assert set(result.savings["tolerance"]) == {0.01, 0.02, 0.035}
    # The pool search replayed at 5-30% of the transfer target stages, beside its baselines.
    replay = pd.read_csv(folder / "pool_replay.csv")
    assert (folder / "pool_replay_targets.csv").exists()
    assert set(replay["budget"]) == {0.05, 0.1, 0.2, 0.3}
    assert {"pool", "pool:none", "random", "online:hyperparameters", "oracle"} <= set(
        replay["method"]
    )
    pooled = summary["pool_replay"]
    assert pooled["grid_transfer_hours"] == pytest.approx(target_stages)
    assert pooled["single_task_hours"] == pytest.approx(every_single)
    assert set(pooled["by_budget"]) == {"0.05", "0.1", "0.2", "0.3"}
    # A candidate is trained when its predicted hours fit; what it spends is its realised
    # target stage (so a share can pass its budget a little): each trial counted once.
    per_target = pd.read_csv(folder / "pool_replay_targets.csv")
    trained = per_target.groupby(["method", "budget"])["trained"].sum()
    shown = replay.set_index(["method", "budget"])["trials"]
    assert (trained.reindex(shown.index) - shown).abs().max() < 1e-9  # means over random orders
    assert (replay["spent_share"] >= 0).all() and replay["loss_found"].notna().all()


def test_evaluation_is_reproducible(small_run: Path) -> None:
    first = evaluate_run(small_run, FAST)
    second = evaluate_run(small_run, FAST)
    pd.testing.assert_frame_equal(first.ranking, second.ranking)
    pd.testing.assert_frame_equal(first.curves, second.curves)


def _transfer_store(run_dir: Path, *, searched: bool = False) -> None:
    """Two targets; a's best transfer is from itself.  ``searched``: a search's chain b -> a ->
    b (t5, with its middle stage t6, b -> a, outside the grid) beats every transfer."""
    settings = {"learning_rate": 1e-4, "epochs": 1, "batch_size": 8, "max_length": 32}
    rows = [("single", "a", None, 0.5), ("single", "b", None, 0.4)]
    rows += [("transfer", "a", "a", 0.9), ("transfer", "a", "b", 0.6), ("transfer", "b", "a", 0.7)]
    if searched:
        rows += [("chain", "b", "a", 0.95), ("transfer", "a", "b", 0.8)]
    with RunStore(run_dir) as store:
        for number, (kind, target, source, f1) in enumerate(rows):
            # The search's trials train their target stage with other (source) settings.
            own = {**settings, "learning_rate": 5e-5} if number >= 5 else settings
            config = {
                "target": {"settings": own},
                "source": {"settings": settings} if source else None,
            }
            trial = f"t{number}"
            store.add_trials([(trial, kind, target, source, None, 0, config)])
            store.start(trial, worker="w")
            store.finish(
                trial,
                metrics={"test_f1": f1, "test_accuracy": 0.9},
                source_seconds=1.0 if source else None,
                target_seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
            )


def test_table1_honours_allow_self_transfer(tmp_path: Path) -> None:
    _transfer_store(tmp_path)
    best = best_models_table(tmp_path).set_index(["target", "model"])["f1"]
    assert best[("a", "encoder→source→target")] == pytest.approx(0.6)
    with_self = best_models_table(tmp_path, allow_self_transfer=True).set_index(
        ["target", "model"]
    )["f1"]
    assert with_self[("a", "encoder→source→target")] == pytest.approx(0.9)


def test_table1_leaves_out_chains_and_trials_outside_the_configured_grid(tmp_path: Path) -> None:
    _transfer_store(tmp_path, searched=True)
    every = best_models_table(tmp_path).set_index(["target", "model"])["f1"]
    # The chain (0.95) is not a transfer model of b; without a grid, t6 (0.8) counts for a.
    assert every[("b", "encoder→source→target")] == pytest.approx(0.7)
    assert every[("a", "encoder→source→target")] == pytest.approx(0.8)
    grid = {f"t{n}" for n in range(5)}
    table = best_models_table(tmp_path, trials=grid).set_index(["target", "model"])["f1"]
    assert table[("a", "encoder→source→target")] == pytest.approx(0.6)
    assert table[("b", "encoder→source→target")] == pytest.approx(0.7)


def test_table1_has_both_models_per_target_and_an_average(small_run: Path) -> None:
    table = best_models_table(small_run)
    per_target = table[table["target"] != "average"]
    assert len(per_target) == 6
    assert set(per_target["model"]) == {"encoder→target", "encoder→source→target"}
    transfers = per_target[per_target["model"] == "encoder→source→target"]
    assert (transfers["source"] != transfers["target"]).all()
    average = table[table["target"] == "average"].set_index("model")["f1"]
    assert (
        average["encoder→target"]
        == per_target[per_target["model"] == "encoder→target"]["f1"].mean()
    )


def _mixed_table() -> pd.DataFrame:
    """Two binary targets and a regression target (Spearman's rho, one of them negative)."""
    return pd.DataFrame(
        {
            "target": ["a", "a", "b", "b", "r", "r"],
            "target_kind": ["binary"] * 4 + ["regression"] * 2,
            "real_f1": [0.5, 0.7, 0.2, 0.4, -0.2, 0.4],
            "target_score": [0.6, 0.6, 0.3, 0.3, 0.1, 0.1],
            "hours": [1.0] * 6,
        }
    )


def test_totals_are_per_kind_and_as_a_gain_when_kinds_mix() -> None:
    from transferscout.evaluation.run import _totals

    totals = _totals(_mixed_table())
    summary = totals["summary"]
    assert summary["target_kinds"] == {"binary": 2, "regression": 1}
    assert summary["full_grid_best"]["binary"] == {
        "metric": "positive F1",
        "targets": 2,
        "mean_best": pytest.approx(0.55),
    }
    assert summary["full_grid_best"]["regression"]["mean_best"] == pytest.approx(0.4)
    # Best gains: a 0.7 - 0.6, b 0.4 - 0.3, r 0.4 - 0.1.
    assert summary["full_grid_best_gain"] == pytest.approx((0.1 + 0.1 + 0.3) / 3)
    assert summary["aggregate"] == "gain" and summary["aggregate_label"] == "score"
    assert "full_grid_best_f1" not in summary  # a mean of F1 and rho would mean nothing
    assert totals["mean_single_task"] == pytest.approx(1.0 / 3)
    binary = _totals(_mixed_table().iloc[:4])["summary"]
    assert binary["aggregate"] == "score" and binary["aggregate_label"] == "positive F1"
    assert binary["full_grid_best_f1"] == pytest.approx(0.55)


def test_ndcg_and_regret_of_a_regression_target_read_rho_as_a_relevance() -> None:
    from transferscout.evaluation.run import _per_target_metrics

    table = _mixed_table()
    settings = EvaluationSettings(ndcg_k=1, regret_ks=(1,))
    worst_first = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])  # right on a and b, wrong on r
    rows = {
        str(row["target"]): row
        for row in _per_target_metrics(table, "m", worst_first, settings, cost=None, charge=0.0)
    }
    # r: first pick rho -0.2 (relevance 0.4) against the best 0.4 (relevance 0.7).
    assert rows["r"]["regret@1"] == pytest.approx((0.7 - 0.4) / 0.7 * 100)
    assert rows["r"]["ndcg_linear@1"] == pytest.approx(0.4 / 0.7)
    assert rows["r"]["ndcg@1"] == pytest.approx((2**0.4 - 1) / (2**0.7 - 1))
    assert rows["a"]["regret@1"] == 0.0 and rows["a"]["ndcg@1"] == 1.0


def test_a_target_whose_candidates_all_score_0_is_left_out_of_the_ranking_metrics() -> None:
    """Issue 31.4: the oracle's NDCG over a and an all-zero target z is 1.0, not (1 + 0) / 2."""
    from transferscout.evaluation.compare import compare_methods
    from transferscout.evaluation.run import _per_target_metrics, unranked_targets

    table = pd.DataFrame(
        {
            "target": ["a", "a", "z", "z"],
            "target_kind": ["binary"] * 4,
            "real_f1": [0.5, 0.7, 0.0, 0.0],
            "target_score": [0.6, 0.6, 0.0, 0.0],
            "hours": [1.0] * 4,
        }
    )
    settings = EvaluationSettings(ndcg_k=1, regret_ks=(1,))
    oracle = table["real_f1"].to_numpy()
    rows = _per_target_metrics(table, "oracle", oracle, settings, cost=None, charge=0.0)
    by_target = {str(row["target"]): row for row in rows}
    assert by_target["a"]["ndcg@1"] == 1.0
    assert all(np.isnan(by_target["z"][m]) for m in ("ndcg@1", "regret@1", "spearman"))
    assert not np.isnan(by_target["z"]["saved@0.01"])  # time saved keeps the target
    per_target = pd.DataFrame([{**row, "seed": 0} for row in rows])
    ranking = compare_methods(per_target, ["oracle"]).set_index("metric")
    assert ranking.loc["ndcg@1", "estimate"] == 1.0  # was 0.5 with z counted as 0
    only_z = compare_methods(per_target[per_target["target"] == "z"], ["oracle"])
    assert np.isnan(only_z.set_index("metric").loc["ndcg@1", "estimate"])  # nothing to rank
    summary = unranked_targets(table)["unranked_targets"]
    assert summary["count"] == 1 and summary["targets"] == ["z"]
    assert "NDCG" in summary["why"] and unranked_targets(table.iloc[:2]) == {}


def test_the_search_policy_gets_per_target_metrics_and_paired_tests(small_run: Path) -> None:
    result = evaluate_run(small_run, FAST)
    candidates = result.candidates
    # Each candidate is charged its target stage (its source stage is a single-task model).
    replay = adaptive_replay(
        candidates.assign(hours=candidates["target_hours"]),
        feature_columns(candidates, "all"),
        strategy="greedy",
        seed=FAST.seed,
    )
    charge = result.summary["method_hours"]["adaptive:greedy"]
    grid_share = result.summary["single_task_hours"] / replay["target"].nunique()
    per_target = result.per_target.set_index(["method", "target"])
    for target, steps in replay.groupby("target"):
        steps = steps.sort_values("step")
        real, hours = steps["real_f1"].to_numpy(), steps["hours"].to_numpy()
        for tolerance in (0.01, 0.035):
            # Slow reference: walk the replayed order to the first near-best candidate.
            first = next(i for i, f in enumerate(real) if f >= real.max() - tolerance - 1e-12)
            spent = hours[: first + 1].sum() + charge / replay["target"].nunique()
            expected = (1 - spent / (hours.sum() + grid_share)) * 100
            got = per_target.loc[("adaptive:greedy", target), f"saved@{tolerance}"]
            assert got == pytest.approx(expected)
        rank = per_target.loc[("adaptive:greedy", target), "rank_of_best"]
        assert rank == 1 + int(np.argmax(real))
    ranking = result.ranking.set_index(["method", "metric"])
    tested = ranking.loc[("adaptive:greedy", "saved@0.01")]
    assert tested["baseline"] in ("random", "baseline:hyperparameters")
    assert 0 < tested["p_vs_baseline"] <= 1
    # The time-saved table carries the same tests, per method and tolerance.
    savings = result.savings.set_index(["method", "tolerance"])
    for method in ("adaptive:greedy", "meta:all"):
        for tolerance in (0.01, 0.02, 0.035):
            row = ranking.loc[(method, f"saved@{tolerance}")]
            assert savings.loc[(method, tolerance), "p_vs_baseline"] == row["p_vs_baseline"]
            assert savings.loc[(method, tolerance), "baseline"] == row["baseline"]
            other = ranking.loc[(row["baseline"], f"saved@{tolerance}"), "estimate"]
            assert savings.loc[(method, tolerance), "diff_vs_baseline"] == pytest.approx(
                row["estimate"] - other
            )


def test_every_single_task_training_is_charged_once(tmp_path: Path) -> None:
    """Every setting and seed of the table's tasks, once; source stages are the candidates'."""
    from transferscout.evaluation.run import _costs
    from transferscout.grid.store import RunStore

    hours = {  # (task, lr, seed) -> target hours
        ("food", 1e-4, 0): 1.0,
        ("food", 1e-4, 1): 5.0,  # a later, slower seed: a training too
        ("food", 2e-4, 0): 2.0,
        ("water", 1e-4, 1): 3.0,
        ("water", 1e-4, 2): 9.0,
        ("fire", 1e-4, 0): 7.0,  # in neither the sources nor the targets
    }
    with RunStore(tmp_path) as store:
        for (task, lr, seed), spent in hours.items():
            trial_id = f"{task}-{lr}-{seed}"
            config = {"target": {"settings": {"learning_rate": lr, "epochs": 2}}}
            store.add_trials([(trial_id, "single", task, None, None, seed, config)])
            store.start(trial_id, worker="w")
            store.finish(
                trial_id,
                metrics={"test_f1": 0.5},
                source_seconds=None,
                target_seconds=spent * 3600,
                examples_per_second=1.0,
                device="cpu",
            )
    # Two candidates food -> water start from the same source stage: charged once.
    table = pd.DataFrame(
        {"source": ["food", "food"], "target": ["water"] * 2, "source_trial": ["food-0.0001-0"] * 2}
    )
    families, singles = _costs(tmp_path, table)
    assert families == {}
    assert singles.all == pytest.approx(1.0 + 5.0 + 2.0 + 3.0 + 9.0)
    assert singles.source_stages == pytest.approx(1.0)


def test_a_model_trained_again_is_charged_its_first_hours(tmp_path: Path) -> None:
    from transferscout.evaluation.run import _costs, _recreated_models
    from transferscout.grid.store import RunStore

    def finish(store: RunStore, trial_id: str, hours: float, f1: float) -> None:
        store.start(trial_id, worker="w")
        store.finish(
            trial_id,
            metrics={"test_f1": f1},
            source_seconds=None,
            target_seconds=hours * 3600,
            examples_per_second=1.0,
            device="cpu",
        )

    config = {"target": {"settings": {"learning_rate": 1e-4, "epochs": 2}}}
    with RunStore(tmp_path) as store:
        for task, hours in (("food", 1.0), ("water", 3.0)):
            store.add_trials([(task, "single", task, None, None, 0, config)])
            finish(store, task, hours, 0.5)
        assert _recreated_models(tmp_path) == {}
        store.requeue_lost_models(["food", "water"])
        finish(store, "food", 6.0, 0.5)  # reproduced, on a loaded machine
        finish(store, "water", 2.0, 0.25)  # not reproduced (other hardware)
    table = pd.DataFrame({"source": ["food"], "target": ["water"]})
    assert _costs(tmp_path, table)[1].all == pytest.approx(1.0 + 3.0)
    recreated = _recreated_models(tmp_path)["recreated_models"]
    assert recreated == {"models": 2, "hours": pytest.approx(8.0), "not_reproduced": 1}
