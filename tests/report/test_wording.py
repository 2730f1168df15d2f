from __future__ import annotations

from transferscout.report import wording

BINARY = {
    "targets": 2,
    "candidates": 4,
    "target_kinds": {"binary": 2},
    "full_grid_best": {"binary": {"metric": "positive F1", "targets": 2, "mean_best": 0.55}},
    "full_grid_best_gain": 0.1,
    "full_grid_best_f1": 0.55,
    "aggregate": "score",
    "aggregate_label": "positive F1",
}

MIXED = {
    "targets": 3,
    "candidates": 6,
    "target_kinds": {"binary": 2, "regression": 1},
    "full_grid_best": {
        "binary": {"metric": "positive F1", "targets": 2, "mean_best": 0.55},
        "regression": {"metric": "Spearman ρ", "targets": 1, "mean_best": 0.4},
    },
    "full_grid_best_gain": 0.5 / 3,
    "aggregate": "gain",
    "aggregate_label": "score",
}


def test_a_binary_run_speaks_of_positive_f1() -> None:
    assert wording.headline(BINARY) == (
        "2 targets, 4 transfer candidates; full-grid mean best positive F1 0.5500."
    )
    assert wording.loss_phrase(BINARY) == "mean positive F1"
    assert wording.lost_header(BINARY) == "positive F1 lost"
    assert not wording.is_gain(BINARY)


def test_a_summary_from_before_kinds_is_a_binary_runs() -> None:
    old = {"targets": 12, "candidates": 264, "full_grid_best_f1": 0.48521}
    assert wording.headline(old).endswith("full-grid mean best positive F1 0.4852.")
    assert wording.loss_phrase(old) == "mean positive F1"


def test_a_mixed_run_gives_levels_per_kind_and_pools_gains() -> None:
    assert wording.headline(MIXED) == (
        "3 targets (2 binary, 1 regression), 6 transfer candidates; full-grid mean best "
        "positive F1 0.5500 (2 binary targets), Spearman ρ 0.4000 (1 regression target); "
        "mean best gain over the single-task model +0.1667 (each target's own metric)."
    )
    assert wording.is_gain(MIXED) and wording.lost_header(MIXED) == "score lost"
    assert "gain over the single-task models" in wording.loss_phrase(MIXED)


def test_a_single_other_kind_names_its_metric() -> None:
    regression = {
        **MIXED,
        "targets": 1,
        "target_kinds": {"regression": 1},
        "full_grid_best": {"regression": MIXED["full_grid_best"]["regression"]},  # type: ignore[index]
        "aggregate": "score",
        "aggregate_label": "Spearman ρ",
    }
    assert wording.headline(regression).endswith("full-grid mean best Spearman ρ 0.4000.")
    assert wording.loss_phrase(regression) == "mean Spearman ρ"
