from __future__ import annotations

from pathlib import Path

import pytest

from tests.grid.test_models import ENCODER, GRID, store_of
from transferscout.evaluation.run import _totals, single_task_baselines
from transferscout.evaluation.table1 import MATCHED, SINGLE, TRANSFER, best_models_table
from transferscout.grid.spec import TrialSpec, expand_grid
from transferscout.grid.store import RunStore
from transferscout.meta.features import candidate_table
from transferscout.tasks import TaskSet

#: (validation, test) per target and model: food's matched model validates best (its gain is
#: measured against it); water's matched model has the best *test* score but not the best
#: validation score, so water's baseline stays the plain model.
SCORES = {
    ("food", "single", 1): {0: (0.5, 0.50), 1: (0.6, 0.55)},
    ("food", "single", 2): {0: (0.7, 0.62), 1: (0.65, 0.60)},
    ("food", "transfer", 1): {0: (0.66, 0.70)},
    ("water", "single", 1): {0: (0.8, 0.75), 1: (0.7, 0.72)},
    ("water", "single", 2): {0: (0.6, 0.80), 1: (0.62, 0.78)},
    ("water", "transfer", 1): {0: (0.7, 0.74)},
    ("shelter", "single", 1): {0: (0.5, 0.5), 1: (0.5, 0.5)},
}


def _scores(trial: TrialSpec) -> tuple[float, float]:
    return SCORES[(trial.target, trial.kind, trial.target_settings.epochs)][trial.seed]


@pytest.fixture
def matched_run(tasks: TaskSet, tmp_path: Path) -> Path:
    return store_of(tmp_path, expand_grid(GRID, tasks, ENCODER, "e" * 64), _scores)


def test_table1_shows_the_gain_over_the_better_single_task_model_by_validation(
    matched_run: Path,
) -> None:
    table = best_models_table(matched_run)
    rows = table.set_index(["target", "model"])
    approx = pytest.approx  # means of a few floats: exact up to rounding
    # seed means per configuration; the single-task rows' validation decides the baseline
    assert rows.loc[("food", SINGLE), "f1"] == approx(0.525)
    assert rows.loc[("food", MATCHED), "f1"] == approx(0.61)
    assert list(rows.loc["food", "baseline"]) == [False, True, False]
    assert rows.loc[("food", TRANSFER), "gain"] == approx(0.70 - 0.61)
    assert rows.loc[("food", TRANSFER), "gain_plain"] == approx(0.70 - 0.525)
    # water's matched model tests better but validates worse: never chosen by test
    assert list(rows.loc["water", "baseline"]) == [True, False, False]
    assert rows.loc[("water", TRANSFER), "gain"] == approx(0.74 - 0.735)
    assert rows.loc[("water", TRANSFER), "gain_plain"] == approx(0.74 - 0.735)
    assert rows.loc[("water", MATCHED), "target_epochs"] == 2
    average = rows.loc["average"].reset_index().set_index("model")
    assert average.loc[TRANSFER, "gain"] == approx((0.09 + 0.005) / 2)
    assert average.loc[TRANSFER, "gain_plain"] == approx((0.175 + 0.005) / 2)
    assert average.loc[MATCHED, "f1"] == approx((0.61 + 0.79) / 2)


def test_without_matched_trials_the_table_has_its_two_models_and_equal_gains(
    matched_run: Path, tasks: TaskSet
) -> None:
    from dataclasses import replace

    plain = {
        t.id
        for t in expand_grid(replace(GRID, matched_single_task=False), tasks, ENCODER, "e" * 64)
    }
    table = best_models_table(matched_run, trials=plain)
    assert MATCHED not in set(table["model"])
    transfers = table[(table["model"] == TRANSFER) & (table["target"] != "average")]
    assert list(transfers["gain"]) == list(transfers["gain_plain"])
    assert transfers.set_index("target")["gain"]["food"] == pytest.approx(0.70 - 0.525)


def test_the_evaluations_gain_is_over_the_best_validation_model_of_both(matched_run: Path) -> None:
    table = candidate_table(matched_run)
    own = table.set_index("target")["target_score"]
    # food: the matched seed-0 model (validation 0.7); water: the plain seed-0 one (0.8)
    assert own["food"] == 0.62 and own["water"] == 0.75
    baselines = single_task_baselines(matched_run)
    assert baselines["plain"] == {"food": 0.55, "water": 0.75, "shelter": 0.5}
    assert baselines["matched"] == ["food"]
    summary = _totals(table, baselines)["summary"]
    approx = pytest.approx  # means of two differences
    assert summary["full_grid_best_gain"] == approx(((0.70 - 0.62) + (0.74 - 0.75)) / 2)
    assert summary["full_grid_best_gain_plain"] == approx(((0.70 - 0.55) + (0.74 - 0.75)) / 2)
    assert summary["single_task_baseline"]["compute_matched_targets"] == ["food"]


def _counts(predicted: int) -> dict[str, float]:
    """Binary validation counts of 100 documents, 20 positive, ``predicted`` predicted so."""
    return {
        "validation_n": 100,
        "validation_positives": 20,
        "validation_predicted_positives": predicted,
    }


def test_table1_marks_degenerate_models_and_the_targets_of_degenerate_baselines(
    tmp_path: Path,
) -> None:
    settings = {"learning_rate": 1e-4, "epochs": 1, "batch_size": 8, "max_length": 32}
    # a's single-task model predicts positive for 99 of 100 (1 negative < 0.1 x 80 negatives);
    # b's predicts 25 positives; the transfers learnt.
    rows = [
        ("single", "a", None, 0.33, 99),
        ("single", "b", None, 0.4, 25),
        ("transfer", "a", "b", 0.6, 30),
        ("transfer", "b", "a", 0.7, 22),
    ]
    with RunStore(tmp_path) as store:
        for number, (kind, target, source, f1, predicted) in enumerate(rows):
            config = {
                "target": {"settings": settings},
                "source": {"settings": settings} if source else None,
            }
            trial = f"t{number}"
            store.add_trials([(trial, kind, target, source, None, 0, config)])
            store.start(trial, worker="w")
            store.finish(
                trial,
                metrics={"test_f1": f1, "test_accuracy": 0.5, **_counts(predicted)},
                source_seconds=1.0 if source else None,
                target_seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
            )
    table = best_models_table(tmp_path).set_index(["target", "model"])
    flags = table[["degenerate", "baseline_degenerate"]].astype(bool)
    assert flags.loc[("a", "encoder→target")].tolist() == [True, True]
    assert flags.loc[("a", "encoder→source→target")].tolist() == [False, True]
    assert flags.loc[("b", "encoder→target")].tolist() == [False, False]
    assert flags.loc[("b", "encoder→source→target")].tolist() == [False, False]
    # an average row is flagged when any row it averages is
    assert flags.loc[("average", "encoder→target")].tolist() == [True, True]
    assert flags.loc[("average", "encoder→source→target")].tolist() == [False, True]


def _store(run_dir: Path, rows: list[tuple[str, str, str | None, str, float]]) -> Path:
    """A real store of finished trials ``(kind, target, source, target kind, test score)``.

    Validation scores equal test scores; a QA target's config records its kind, as trials do.
    """
    settings = {"learning_rate": 1e-4, "epochs": 1, "batch_size": 8, "max_length": 32}
    with RunStore(run_dir) as store:
        for number, (kind, target, source, task_kind, score) in enumerate(rows):
            head = {} if task_kind == "binary" else {"task_kind": task_kind, "outputs": 2}
            config = {
                "target": {"settings": settings, **head},
                "source": {"settings": settings} if source else None,
            }
            trial = f"t{number}"
            store.add_trials([(trial, kind, target, source, None, 0, config)])
            store.start(trial, worker="w")
            store.finish(
                trial,
                metrics={"test_f1": score, "validation_f1": score},
                source_seconds=1.0 if source else None,
                target_seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
            )
    return run_dir


def test_table1_averages_a_binary_and_a_qa_target_apart(tmp_path: Path) -> None:
    """Issue 31.3: positive F1 and SQuAD F1 share the key ``f1`` but are never averaged."""
    run = _store(
        tmp_path,
        [
            ("single", "uncertain", None, "binary", 0.5),
            ("single", "questions", None, "qa", 0.3),
            ("transfer", "uncertain", "questions", "binary", 0.721),
            ("transfer", "questions", "uncertain", "qa", 0.391),
        ],
    )
    table = best_models_table(run)
    averages = table[table["target"] == "average"].set_index(["model", "kind"])
    assert averages.loc[(TRANSFER, "binary"), "f1"] == pytest.approx(0.721)  # not 0.556
    assert averages.loc[(TRANSFER, "qa"), "f1"] == pytest.approx(0.391)
    assert averages.loc[(SINGLE, "qa"), "gain"] != averages.loc[(SINGLE, "qa"), "gain"]  # NaN
    assert len(averages) == 4 and set(averages["metric"]) == {"f1"}


def test_table1_and_the_best_sources_name_the_same_source_among_ties(tmp_path: Path) -> None:
    """Issue 31.5: candidates that all score 0 — one rule (the first source) names the best."""
    from transferscout.evaluation.best_sources import best_sources
    from transferscout.meta.features import HYPERPARAMETERS

    rows = [("single", "t", None, "binary", 0.0)]
    rows += [("transfer", "t", source, "binary", 0.0) for source in ("b", "c", "a")]
    rows += [("single", source, None, "binary", 0.4) for source in ("a", "b", "c")]
    run = _store(tmp_path, rows)
    table = best_models_table(run)
    named = table.set_index(["target", "model"]).loc[("t", TRANSFER), "source"]
    assert named == "a"
    candidates = candidate_table(run)
    assert set(HYPERPARAMETERS) <= set(candidates.columns)
    (run / "evaluation").mkdir()
    for order in (candidates, candidates.iloc[::-1]):  # whatever the rows' order
        order.assign(predicted_all=0.0, planned_cost=1.0).to_csv(
            run / "evaluation" / "candidates.csv", index=False
        )
        summary = best_sources(run).set_index("target")
        assert summary.loc["t", "best"] == named


def test_a_best_transfer_that_predicts_one_class_is_said_and_marked(tmp_path: Path) -> None:
    """Issue 31.6: a transfer predicting every example positive (F1 2p / (1 + p)) is no gain."""
    from transferscout.evaluation.table1 import degenerate_best_transfers
    from transferscout.report.opening import degenerate_text, marked_targets

    settings = {"learning_rate": 1e-4, "epochs": 1, "batch_size": 8, "max_length": 32}
    # a's single-task model learnt (25 predicted positives of 20); its transfer from b predicts
    # 100 of 100 positive: validation F1 2 * 0.2 / 1.2 = 0.333 > 0.3, a +0.03 "gain"
    rows = [
        ("single", "a", None, 0.3, 25),
        ("single", "b", None, 0.4, 22),
        ("transfer", "a", "b", 0.333, 100),
        ("transfer", "b", "a", 0.5, 21),
    ]
    with RunStore(tmp_path) as store:
        for number, (kind, target, source, f1, predicted) in enumerate(rows):
            config = {
                "target": {"settings": settings},
                "source": {"settings": settings} if source else None,
            }
            store.add_trials([(f"t{number}", kind, target, source, None, 0, config)])
            store.start(f"t{number}", worker="w")
            store.finish(
                f"t{number}",
                metrics={"test_f1": f1, "validation_f1": f1, **_counts(predicted)},
                source_seconds=1.0 if source else None,
                target_seconds=1.0,
                examples_per_second=1.0,
                device="cpu",
            )
    table = best_models_table(tmp_path)
    found = degenerate_best_transfers(table)
    assert found == {"degenerate_best_transfers": {"a": "b"}}
    summary = {"degenerate_models": {"models": 1, "of": 4, "by_trial_kind": {"transfer": 1}}}
    summary["degenerate_models"]["targets"] = ["a"]  # type: ignore[index]
    summary.update(found)
    assert "best transfer (Table 1) is itself degenerate" in degenerate_text(summary)
    assert "a (from b)" in degenerate_text(summary)
    assert marked_targets(summary) == ["a"]
