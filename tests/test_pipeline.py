from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import keyword_rows, kind_rows, write_csv
from tests.run_config import KEYWORDS, SMALL_RUN, tiny_config, write_config
from transferscout.cli import app
from transferscout.config import load_config
from transferscout.pipeline import run_pipeline
from transferscout.recommend import recommend_sources, single_task_score
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


def test_rank_reads_a_data_config_beside_its_file_and_prints_names_as_they_are(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data" / "new-target"
    folder.mkdir(parents=True)
    rows = [{"message": r["text"], "pour": r["food"]} for r in keyword_rows(90, seed=3)]
    write_csv(folder / "new.csv", rows)
    (folder / "target.toml").write_text('[data]\npath = "new.csv"\ntext_column = "message"\n')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the data file is beside the TOML file, not here
    name = "[[a.b]] [/x] ["  # rich markup would refuse "[/x]" and eat "[[a.b]]"
    result = CliRunner().invoke(
        app,
        [
            "rank", str(finished_run), "--data-config", "../data/new-target/target.toml",
            "--label-column", "pour", "--name", name,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())  # the title may wrap over lines
    assert f"Sources for {name!r} (meta-model" in words


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


def test_matched_single_task_models_train_through_run_and_rank_and_change_no_signal(
    finished_run: Path, config_file: Path, tmp_path: Path
) -> None:
    import shutil

    import pandas as pd

    from transferscout.evaluation.table1 import MATCHED, TRANSFER
    from transferscout.grid.models import matched_single_task_ids, trial_score
    from transferscout.grid.store import RunStore

    run = shutil.copytree(finished_run, tmp_path / "run", ignore=shutil.ignore_patterns("*.lock"))
    with RunStore(run, readonly=True) as store:
        signals = store.pair_signals()
    result = run_pipeline(load_config(config_file, ["grid.matched_single_task=true"]), run)
    # 3 targets x 2 target settings at 6 + 6 epochs, seed 0; the signals are not recomputed
    assert result.grid.ran_now == 6 and result.grid.done == 6 + 12 + 6
    assert result.stages_run == ["evaluation", "report"]
    with RunStore(run, readonly=True) as store:
        assert store.pair_signals() == signals
        rows = store.rows()
    matched = [r for r in rows if r.id in matched_single_task_ids(rows)]
    assert len(matched) == 6 and {r.config["target"]["settings"]["epochs"] for r in matched} == {12}
    # the evaluation's baseline: each target's best single-task model by validation, of all
    singles = [r for r in rows if r.kind == "single" and r.status == "done"]
    candidates = pd.read_csv(run / "evaluation" / "candidates.csv")
    for target, own in candidates.groupby("target")["target_score"].first().items():
        best = max(
            (r for r in singles if r.target == target), key=lambda r: trial_score(r, "validation")
        )
        assert own == trial_score(best)
    table1 = pd.read_csv(run / "evaluation" / "table1.csv")
    assert set(table1[table1["target"] != "average"]["model"]) >= {MATCHED, TRANSFER}
    assert table1[table1["model"] == TRANSFER][["gain", "gain_plain"]].notna().all().all()
    summary = json.loads((run / "evaluation" / "summary.json").read_text())
    assert "full_grid_best_gain_plain" in summary
    assert summary["single_task_baseline"]["compute_matched_trained"] is True
    # rank: the new target's reference models include its compute-matched ones
    rows = [{"text": r["text"], "camp": r["food"]} for r in keyword_rows(90, seed=3)]
    target = load_tasks(
        write_csv(tmp_path / "camp.csv", rows),
        TableSpec(label_columns=("camp",)),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    recommend_sources(run, target)
    with RunStore(run, readonly=True) as store:
        every = store.rows()
    camp = [r for r in every if r.target == "camp"]
    best = max(camp, key=lambda r: trial_score(r, "validation"))
    assert single_task_score(run, "camp") == trial_score(best)  # what rank's gains add to
    assert sorted(r.config["target"]["settings"]["epochs"] for r in camp) == [6, 6, 12, 12]
    assert {r.id for r in camp if r.config["target"]["settings"]["epochs"] == 12} <= (
        matched_single_task_ids(every)
    )


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
    from transferscout.evaluation.best_sources import best_sources

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
    # A predicted gain that would take the score out of its metric's range is shown clipped.
    import pandas as pd

    path = _candidates(tmp_path / "clipped", ["binary", "binary"]) / "evaluation"
    table = pd.read_csv(path / "candidates.csv")
    table["predicted_all"] = [0.9, 0.05, -0.5, 0.02]  # a: 0.5 + 0.9; b's first pick: 0.2 + 0.02
    table.to_csv(path / "candidates.csv", index=False)
    clipped = best_sources(path.parent).set_index("target")
    assert clipped.loc["a", "predicted positive F1"] == 1.0
    assert clipped.loc["b", "predicted positive F1"] == pytest.approx(0.22)


def test_rank_says_when_the_targets_kind_is_one_the_meta_model_never_saw(
    finished_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    # A regression target against the binary-only run: each text's word count minus 5 (120
    # texts: enough for the tiny model's reference models to learn it, so it is not refused
    # as degenerate).
    rows = [{"text": r["text"], "length": str(int(r["words"]) - 5)} for r in kind_rows(120, seed=9)]
    target = load_tasks(
        write_csv(tmp_path / "length.csv", rows),
        TableSpec(label_columns=("length",), kinds={"length": "regression"}),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    with caplog.at_level(logging.WARNING, logger="transferscout.recommend"):
        result = recommend_sources(finished_run, target)
    assert result.method.startswith("meta-model") and len(result.table) == 3 * 2
    assert [r.getMessage() for r in caplog.records if "never saw" in r.getMessage()] == [
        "the target 'length' is of kind regression, which the meta-model never saw: it is "
        "fitted on binary targets only (gains in their metrics), so read its predictions with "
        "care"
    ]
    caplog.clear()
    rows = [{"text": r["text"], "camp": r["food"]} for r in keyword_rows(90, seed=3)]
    binary = load_tasks(
        write_csv(tmp_path / "camp.csv", rows),
        TableSpec(label_columns=("camp",)),
        TaskOptions(fractions=(0.6, 0.2, 0.2)),
    )
    with caplog.at_level(logging.WARNING, logger="transferscout.recommend"):
        recommend_sources(finished_run, binary)
    assert not [r for r in caplog.records if "never saw" in r.getMessage()]


def test_a_run_upgraded_to_other_library_versions_reruns_nothing(
    finished_run: Path, config_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import shutil
    import sqlite3

    run = shutil.copytree(finished_run, tmp_path / "run", ignore=shutil.ignore_patterns("*.lock"))
    run_pipeline(load_config(config_file), run)  # whatever other tests left: up to date
    with sqlite3.connect(run / "store.sqlite") as db:  # as an older transformers left it
        db.execute("UPDATE trials SET config = json_set(config, '$.versions.transformers', '4.1')")
    with caplog.at_level(logging.INFO, logger="transferscout.grid.runner"):
        again = run_pipeline(load_config(config_file), run)
    # The same trials: nothing trained, no signal or evaluation computed again.
    assert again.grid.ran_now == 0 and again.stages_run == []
    said = [r.getMessage() for r in caplog.records if "library versions" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("reusing 18 finished trials")
    # A trial trained again (retrain_on_version_change) finishes anew: what reads it runs again.
    with sqlite3.connect(run / "store.sqlite") as db:
        db.execute("UPDATE trials SET finished_at = finished_at + 1 WHERE kind = 'single'")
    assert run_pipeline(load_config(config_file), run).stages_run == [
        "pairs",
        "ansat",
        "evaluation",
        "report",
    ]
