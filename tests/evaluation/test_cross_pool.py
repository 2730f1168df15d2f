from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from transferscout.cli import app
from transferscout.config import load_config
from transferscout.errors import ConfigError
from transferscout.evaluation import EvaluationSettings, evaluate_cross_pool, versus_within
from transferscout.evaluation.cross_pool import compatible_feature_sets
from transferscout.meta.features import HYPERPARAMETERS, META_TARGET, candidate_table
from transferscout.meta.regressor import TransferRegressor, fit_and_predict
from transferscout.tables import export_tables, import_tables, subset_tables

FAST = EvaluationSettings(
    bootstrap_resamples=100, n_estimators=20, meta_seeds=2, feature_sets=("f1", "f1+ansat")
)


def test_versus_within_pairs_targets_by_hand() -> None:
    cross = pd.DataFrame(
        {
            "method": ["meta:f1"] * 3 + ["signal:x"],
            "target": ["a", "b", "c", "a"],
            "seeds": [2, 2, 2, 1],
            "ndcg@3": [0.9, 0.8, 0.7, 0.5],
            "spearman": [0.1, 0.2, 0.3, 0.4],  # not tested: not compared
        }
    )
    within = pd.DataFrame(
        {
            "method": ["meta:f1"] * 4,
            "target": ["a", "b", "c", "d"],  # d is not in the cross-pool evaluation
            "seeds": [2] * 4,
            "ndcg@3": [0.8, 0.8, 0.6, 0.1],
            "spearman": [0.0] * 4,
        }
    )
    compared = versus_within(cross, within)
    assert compared[["method", "metric", "targets"]].values.tolist() == [["meta:f1", "ndcg@3", 3]]
    row = compared.iloc[0]
    assert row["cross"] == pytest.approx(0.8) and row["within"] == pytest.approx(2.2 / 3)
    assert row["difference"] == pytest.approx(0.2 / 3)
    # Differences 0.1, 0, 0.1: |mean| is as large for 4 of the 8 sign vectors (s_a = s_c).
    assert row["p"] == pytest.approx(0.5)


def _pool(kind: str = "binary", **columns: list[float]) -> pd.DataFrame:
    base = {c: [1.0, 2.0] for c in HYPERPARAMETERS}
    return pd.DataFrame(
        {"target": ["a", "b"], "target_kind": [kind, kind], "source_f1": [0.5, 0.6],
         "target_f1": [0.4, 0.3], **base, **columns}
    )  # fmt: skip


def test_compatible_feature_sets_skip_missing_and_refuse_mismatches() -> None:
    fit = _pool(taskemb_layer_1=[0.1, 0.2])
    table = _pool()
    columns, skipped = compatible_feature_sets(fit, table, ["f1", "f1+taskemb"])
    assert list(columns) == ["f1"] and skipped == ["f1+taskemb"]
    with pytest.raises(ConfigError, match="different columns in the two runs"):
        compatible_feature_sets(fit, _pool(taskemb_layer_2=[0.1, 0.2]), ["f1", "f1+taskemb"])
    with pytest.raises(ConfigError, match="kind regression"):
        compatible_feature_sets(fit, _pool("regression"), ["f1"])
    with pytest.raises(ConfigError, match="no feature set has its signals in both runs"):
        compatible_feature_sets(fit, table, ["f1+taskemb"])


@pytest.fixture(scope="module")
def two_pools(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small run (3 targets), and a pool of two of its tasks exported and rebuilt."""
    folder = tmp_path_factory.mktemp("pools")
    export_tables(small_run, folder / "tables")
    import_tables(folder / "tables", folder / "evaluated")
    assert subset_tables(folder / "tables", folder / "water-shelter", ["water", "shelter"]) == {
        "trials": 4 + 4,  # 2 tasks x 2 target settings single-task; 2 pairs x 2 settings
        "pair_signals": len(
            pd.read_csv(folder / "tables" / "pair_signals.csv").query(
                "source != 'food' and target != 'food'"
            )
        ),
    }
    import_tables(folder / "water-shelter", folder / "fitted")
    return folder / "evaluated", folder / "fitted"


def test_a_meta_model_fitted_on_another_pool_ranks_this_one(
    two_pools: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    evaluated, fitted = two_pools
    with caplog.at_level(logging.WARNING):
        crossed = evaluate_cross_pool(evaluated, fitted, FAST)
    assert "targets shelter, water are in both runs" in caplog.text
    result = crossed.evaluation
    table = result.candidates
    assert len(table) == 12 and result.summary["fitted_on_candidates"] == 4
    # The prediction is the seed mean of one model fitted on the other pool's candidates.
    fit_table = candidate_table(fitted)
    columns = [*HYPERPARAMETERS, "source_f1", "target_f1"]
    expected = np.mean(
        [
            fit_and_predict(
                fit_table,
                table,
                columns,
                make_regressor=partial(TransferRegressor, n_estimators=20, random_state=seed),
                target_column=META_TARGET,
            )
            for seed in FAST.seeds
        ],
        axis=0,
    )
    np.testing.assert_allclose(table["predicted_f1"], expected, rtol=1e-6)
    methods = set(result.ranking["method"])
    assert {"meta:f1", "meta:f1+ansat", "baseline:hyperparameters", "random"} <= methods
    assert not any(m.startswith("adaptive:") for m in methods)  # not replayed across pools
    ndcg = result.ranking.set_index(["method", "metric"]).loc[("meta:f1+ansat", "ndcg@3")]
    assert 0 <= ndcg["p_vs_meta_f1"] <= 1
    compared = crossed.versus_within.set_index(["method", "metric"])
    assert compared.loc[("meta:f1", "ndcg@3"), "targets"] == 3
    within = crossed.within.ranking.set_index(["method", "metric"])
    assert compared.loc[("meta:f1", "ndcg@3"), "within"] == pytest.approx(
        within.loc[("meta:f1", "ndcg@3"), "estimate"]
    )
    folder = evaluated / "evaluation" / "cross_pool"
    assert (folder / "versus_within.csv").exists() and (folder / "ranking.csv").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["fitted_on"] == str(fitted)


def test_fitting_on_the_run_itself_is_refused_before_writing(two_pools: tuple[Path, Path]) -> None:
    evaluated, _ = two_pools
    with pytest.raises(ConfigError, match="fitted on the evaluated run itself"):
        evaluate_cross_pool(
            evaluated, evaluated.parent / ".." / evaluated.parent.name / "evaluated"
        )


def test_cli_fit_on(two_pools: tuple[Path, Path], small_run: Path, tiny_encoder_dir: Path) -> None:
    evaluated, fitted = two_pools
    toml = evaluated.parent / "small.toml"
    toml.write_text(
        f'[data]\npath = "{small_run.parent / "keywords.csv"}"\n'
        'label_columns = ["food", "water", "shelter"]\nid_column = "id"\n'
        "fractions = [0.6, 0.2, 0.2]\n"
        f'[encoder]\nsource = "{tiny_encoder_dir}"\n'
        "[grid.target]\nlearning_rate = [1e-3, 3e-3]\nepochs = [6]\nbatch_size = [8]\n"
        "max_length = [32]\n"
        "[grid.source]\nlearning_rate = [3e-3]\nepochs = [6]\nbatch_size = [8]\n"
        "max_length = [32]\n"
        '[evaluation]\nmeta_seeds = 1\nn_estimators = 20\nbootstrap_resamples = 50\n'
        'feature_sets = ["f1"]\nadaptive = false\n'
    )  # fmt: skip
    config = load_config(toml).to_dict()
    (evaluated / "config.json").write_text(json.dumps(config))
    config["data"]["tasks"] = ["water", "shelter"]
    (fitted / "config.json").write_text(json.dumps(config))
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(evaluated), "--fit-on", str(fitted)])
    assert result.exit_code == 0, result.output
    assert "difference" in result.output and "within" in result.output
    assert (evaluated / "evaluation" / "cross_pool" / "versus_within.csv").exists()
    refused = runner.invoke(app, ["evaluate", str(evaluated), "--fit-on", str(evaluated)])
    assert refused.exit_code == 2
    assert "fitted on the evaluated run itself" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_the_report_shows_the_cross_pool_evaluation(two_pools: tuple[Path, Path]) -> None:
    from transferscout.report import write_report

    evaluated, fitted = two_pools
    evaluate_cross_pool(evaluated, fitted, FAST)
    markdown = write_report(evaluated).markdown.read_text()
    assert "## A meta-model that travels: fitted on another run vs leave-one-target-out" in markdown
    assert f"Meta-models fitted on {fitted}" in markdown
