from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import keyword_rows, write_csv
from tests.run_config import KEYWORDS, SMALL_RUN, tiny_config, write_config
from transferscout.cli import app
from transferscout.config import load_config
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources
from transferscout.tasks import TableSpec, TaskOptions, load_tasks

pytestmark = pytest.mark.slow

EVALUATION = {"bootstrap_resamples": 100, "meta_seeds": 2, "n_estimators": 30}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("pipeline")
    data = write_csv(folder / "keywords.csv", keyword_rows(90, seed=3))
    config = tiny_config(
        {**KEYWORDS, "path": str(data)},
        tiny_encoder_dir,
        {**SMALL_RUN, "evaluation": EVALUATION},
    )
    return write_config(folder / "run.toml", config)


@pytest.fixture(scope="module")
def finished_run(config_file: Path) -> Path:
    run_dir = config_file.parent / "run"
    result = run_pipeline(load_config(config_file), run_dir)
    assert result.grid.done == 6 + 12
    assert result.stages_run == ["pairs", "ansat", "evaluation", "report"]
    return run_dir


def test_second_run_is_served_from_the_caches(finished_run: Path, config_file: Path) -> None:
    report = finished_run / "report" / "report.html"
    stamp = report.stat().st_mtime_ns
    again = run_pipeline(load_config(config_file), finished_run)
    assert again.stages_run == [] and again.grid.ran_now == 0
    assert report.stat().st_mtime_ns == stamp


def test_a_changed_setting_reruns_only_what_depends_on_it(
    finished_run: Path, config_file: Path
) -> None:
    changed = run_pipeline(load_config(config_file, ["evaluation.ndcg_k=2"]), finished_run)
    assert changed.stages_run == ["evaluation", "report"]
    assert changed.grid.ran_now == 0


def test_derived_pair_examples_are_calibrated_and_charged(
    finished_run: Path, config_file: Path, tmp_path: Path
) -> None:
    import shutil

    from transferscout.grid.store import RunStore
    from transferscout.pipeline import pair_settings
    from transferscout.signals.budget import MIN_EXAMPLES

    run = shutil.copytree(finished_run, tmp_path / "run", ignore=shutil.ignore_patterns("*.lock"))
    # a budget so small that no example fits: the floor
    config = load_config(config_file, ["signals.pairs.max_examples=none", "signals.budget=1e-9"])
    assert pair_settings(config, run, config.data.load()).max_examples == MIN_EXAMPLES
    with RunStore(run, readonly=True) as store:
        assert [c["family"] for c in store.costs()].count("calibration") == 1


def test_rank_a_new_target_without_training_any_pair(finished_run: Path, tmp_path: Path) -> None:
    # The run's own documents under a new name: the tiny encoder learns food (and so camp).
    rows = [{"text": r["text"], "camp": r["food"]} for r in keyword_rows(90, seed=3)]
    target = load_tasks(
        write_csv(tmp_path / "camp.csv", rows),
        TableSpec(label_columns=("camp",)),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    result = recommend_sources(finished_run, target)
    table = result.table
    assert set(table["source"]) == {"food", "water", "shelter"}
    assert len(table) == 3 * 2  # sources x target settings (one source setting)
    assert table["predicted_f1"].is_monotonic_decreasing
    # 12 leave-one-target-out residuals are too few for a 95% split-conformal quantile (it needs
    # ceil(13 * 0.95) = 13 of them): the honest interval is F1's whole range, and covers all.
    assert (table["low"] == 0.0).all() and (table["high"] == 1.0).all()
    assert result.coverage == 1.0
    assert result.method.startswith("meta-model") and "split-conformal" in result.method
    from transferscout.grid.store import RunStore

    with RunStore(finished_run, readonly=True) as store:
        assert not [r for r in store.rows(kind="transfer") if r.target == "camp"]  # no pair trained
        assert len([r for r in store.rows(kind="single") if r.target == "camp"]) == 2
        assert all(
            c["family"].startswith("rank:")
            for c in store.costs()
            if "camp" in json.dumps(c["detail"]) or c["family"].startswith("rank:")
        )


def test_rank_command_outputs_json(finished_run: Path, tmp_path: Path) -> None:
    rows = [{"message": r["text"], "drink": r["food"]} for r in keyword_rows(90, seed=3)]
    data = write_csv(tmp_path / "drink.csv", rows)
    result = CliRunner().invoke(
        app,
        [
            "rank",
            str(finished_run),
            "--data",
            str(data),
            "--text-column",
            "message",
            "--label-column",
            "drink",
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["candidates"]) == 6 and payload["method"].startswith("meta-model")
    assert payload["interval_coverage"] == 1.0


def test_rank_refuses_a_degenerate_target_with_its_numbers(
    finished_run: Path, tmp_path: Path
) -> None:
    # On 60 other documents the tiny encoder's tent models never predict a positive.
    rows = [{"text": r["text"], "tent": r["shelter"]} for r in keyword_rows(60, seed=11)]
    data = write_csv(tmp_path / "tent.csv", rows)
    result = CliRunner().invoke(
        app, ["rank", str(finished_run), "--data", str(data), "--label-column", "tent"]
    )
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "is degenerate: every one of its 2 single-task models" in message
    assert "predicts negative for" in message and "validation examples" in message
    assert "/36 positive (36 examples)" in message and "Traceback" not in message


def test_rank_refuses_a_target_named_like_a_source(finished_run: Path, tmp_path: Path) -> None:
    rows = [{"text": r["text"], "food": r["food"]} for r in keyword_rows(40, seed=13)]
    data = write_csv(tmp_path / "food.csv", rows)
    result = CliRunner().invoke(
        app, ["rank", str(finished_run), "--data", str(data), "--label-column", "food"]
    )
    assert result.exit_code == 2
    assert "already a task of the run" in result.stderr


def test_run_command_prints_the_summary(config_file: Path, finished_run: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(config_file), "--run-dir", str(finished_run)])
    assert result.exit_code == 0, result.output
    assert "Best source per target" in result.stdout
    assert "report:" in result.stdout and "report.html" in result.stdout


def test_the_evaluation_covers_the_configured_grid_only(
    finished_run: Path, config_file: Path
) -> None:
    import pandas as pd

    narrowed = run_pipeline(
        load_config(config_file, ["grid.target.learning_rate=[1e-3]"]), finished_run
    )
    assert narrowed.grid.ran_now == 0 and narrowed.grid.total == 6 + 6  # singles: 2 settings
    assert "evaluation" in narrowed.stages_run and "ansat" not in narrowed.stages_run
    candidates = pd.read_csv(finished_run / "evaluation" / "candidates.csv")
    assert set(candidates["target_learning_rate"]) == {1e-3}  # not the earlier 3e-3 trials
    assert len(candidates) == 6
    restored = run_pipeline(load_config(config_file), finished_run)
    assert restored.grid.ran_now == 0 and "evaluation" in restored.stages_run
    assert len(pd.read_csv(finished_run / "evaluation" / "candidates.csv")) == 12


def _candidates(folder: Path, kinds: list[str]) -> Path:
    """A hand-made evaluation: two targets, two candidates each, predicted gains."""
    import pandas as pd

    (folder / "evaluation").mkdir(parents=True)
    pd.DataFrame(
        {
            "source": ["b", "c", "a", "c"],
            "target": ["a", "a", "b", "b"],
            "target_learning_rate": [1e-4] * 4,
            "planned_cost": [1.0] * 4,
            "target_kind": [kinds[0], kinds[0], kinds[1], kinds[1]],
            "target_score": [0.5, 0.5, 0.2, 0.2],
            "real_f1": [0.6, 0.7, 0.1, 0.3],
            "real_gain": [0.1, 0.2, -0.1, 0.1],
            "predicted_all": [0.15, 0.05, -0.05, 0.02],
        }
    ).to_csv(folder / "evaluation" / "candidates.csv", index=False)
    return folder


def test_best_sources_shows_predicted_scores_in_each_targets_metric(tmp_path: Path) -> None:
    from transferscout.pipeline import best_sources

    binary = best_sources(_candidates(tmp_path / "binary", ["binary", "binary"]))
    assert list(binary.columns) == [
        "target", "pick", "lr", "predicted positive F1", "real positive F1", "best",
        "best positive F1",
    ]  # fmt: skip
    # the prediction is the single-task score plus the predicted gain
    first = binary.set_index("target")
    assert first.loc["a", "pick"] == "b" and first.loc["b", "pick"] == "c"
    assert first.loc["a", "predicted positive F1"] == pytest.approx(0.5 + 0.15)
    assert first.loc["b", "predicted positive F1"] == pytest.approx(0.2 + 0.02)
    assert first.loc["a", "best"] == "c" and first.loc["a", "best positive F1"] == 0.7
    mixed = best_sources(_candidates(tmp_path / "mixed", ["binary", "regression"]))
    assert list(mixed.columns) == [
        "target", "metric", "pick", "lr", "predicted", "real", "best", "best score",
    ]  # fmt: skip
    assert mixed["metric"].tolist() == ["positive F1", "Spearman ρ"]
