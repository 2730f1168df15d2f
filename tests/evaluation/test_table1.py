from __future__ import annotations

from pathlib import Path

from transferscout.evaluation.table1 import best_models_table
from transferscout.grid.store import RunStore


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
