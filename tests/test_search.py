from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import keyword_rows, kind_rows, write_csv
from tests.run_config import KEYWORDS, SMALL_RUN, tiny_config
from transferscout.config import RunConfig, config_from_dict
from transferscout.errors import ConfigError, DataError
from transferscout.grid.store import RunStore
from transferscout.search import Budget, SearchResult, SearchSettings, search_target
from transferscout.targets import prepare_target

pytestmark = pytest.mark.slow


def _config(run_dir: Path, encoder: Path) -> RunConfig:
    """The configuration the session's ``small_run`` was built with."""
    data = {**KEYWORDS, "path": str(run_dir.parent / "keywords.csv")}
    return config_from_dict(tiny_config(data, encoder, {**SMALL_RUN, "evaluation": None}))


def _copy_run(small_run: Path, tiny_encoder_dir: Path, folder: Path) -> tuple[Path, RunConfig]:
    """A private copy of the session's run (searches write into their run)."""
    shutil.copy(small_run.parent / "keywords.csv", folder / "keywords.csv")
    run_dir = folder / "run"
    shutil.copytree(small_run, run_dir, ignore=shutil.ignore_patterns("store.lock"))
    config = _config(run_dir, tiny_encoder_dir)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    return run_dir, config


def _new_target_file(folder: Path) -> Path:
    """The run's documents with a new label, ``supplies`` (a copy of food: learnable)."""
    rows = keyword_rows(90, seed=3)
    for row in rows:
        row["supplies"] = row["food"]
    return write_csv(folder / "supplies.csv", rows)


@pytest.fixture(scope="module")
def searched(
    small_run: Path, tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, RunConfig, SearchResult, int]:
    folder = tmp_path_factory.mktemp("search")
    run_dir, config = _copy_run(small_run, tiny_encoder_dir, folder)
    target = prepare_target(
        config, "supplies", data={"path": str(_new_target_file(folder)), "id_column": "id"}
    )
    with RunStore(run_dir, readonly=True) as store:
        before = len(store.rows())
    result = search_target(
        run_dir, SearchSettings(Budget(trials=3), chains=2, margin=0.0), target=target
    )
    return run_dir, config, result, before


def test_search_trains_exactly_its_budget_and_a_chain(
    searched: tuple[Path, RunConfig, SearchResult, int],
) -> None:
    run_dir, _, result, before = searched
    assert result.tried == 3 and result.pool == 6
    assert result.trace["kind"].tolist() == ["transfer", "transfer", "chain"]
    with RunStore(run_dir, readonly=True) as store:
        mine = [r for r in store.rows() if r.target == "supplies"]
        added = len(store.rows()) - before
    kinds = sorted(r.kind for r in mine)
    # Two reference single-task models, two transfer candidates, one chain; the chain's middle
    # stage (food/water/shelter -> its best source, source settings) is a grid trial already.
    assert kinds == ["chain", "single", "single", "transfer", "transfer"]
    assert added == 5 and all(r.status == "done" for r in mine)
    chain = result.chain
    assert chain is not None and chain["tried"] and len(chain["sources"]) == 2
    assert chain["sources"][-1] == chain["best_single_source"]
    assert chain["outside_grid"] == []  # source settings are among the grid's target settings
    assert chain["beat_best_single_source"] == (
        chain["validation_f1"] > chain["best_single_validation_f1"]
    )
    trace = json.loads((result.folder / "trace.json").read_text())
    assert [step["trial"] for step in trace] == result.trace["trial"].tolist()
    # Predicted and upper scores are positive F1s: inside [0, 1], never inf (the chain's are
    # not predicted).
    steps = result.trace[result.trace["kind"] == "transfer"]
    for column in ("predicted_f1", "upper_f1"):
        assert steps[column].between(0.0, 1.0).all(), steps[column].tolist()
    assert (steps["upper_f1"] >= steps["predicted_f1"]).all()
    # Best so far is the validation-best model so far (test F1 is only reported).
    assert result.best["validation_f1"] >= result.reference["validation_f1"]


def test_the_saved_folder_loads_with_transformers_and_reproduces_the_test_metric(
    searched: tuple[Path, RunConfig, SearchResult, int],
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from transferscout.training.finetune import evaluate

    run_dir, config, result, _ = searched
    folder = result.model_dir
    assert folder is not None
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in folder.iterdir()}
    # one file mode for the folder (safetensors alone would leave its weights 0600)
    assert len({p.stat().st_mode & 0o777 for p in folder.iterdir() if p.is_file()}) == 1
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    target = prepare_target(
        config,
        "supplies",
        data={"path": str(run_dir.parent / "supplies.csv"), "id_column": "id"},
    )
    metrics = evaluate(
        model, tokenizer, target.test, max_length=32, device=__import__("torch").device("cpu")
    )
    assert metrics["f1"] == pytest.approx(result.best["test_f1"], abs=1e-12)
    assert model.config.id2label[1] == "supplies"
    card = (folder / "README.md").read_text()
    assert "settings: `null`" not in card
    assert result.best["kind"] != "transfer" or "- Source stage (" in card
    assert "Candidates tried: 2 of 6 single-source candidates and 1 chain" in card
    assert f"{result.reference['test_f1']:.4f}" in card


def test_a_second_search_trains_nothing_and_replays_the_same_trace(
    searched: tuple[Path, RunConfig, SearchResult, int],
) -> None:
    run_dir, config, first, _ = searched
    target = prepare_target(
        config, "supplies", data={"path": str(run_dir.parent / "supplies.csv"), "id_column": "id"}
    )
    with RunStore(run_dir, readonly=True) as store:
        attempts = {r.id: r.attempts for r in store.rows()}
    again = search_target(
        run_dir, SearchSettings(Budget(trials=3), chains=2, margin=0.0), target=target
    )
    with RunStore(run_dir, readonly=True) as store:
        assert {r.id: r.attempts for r in store.rows()} == attempts
    assert again.trace["trial"].tolist() == first.trace["trial"].tolist()
    assert again.best == first.best


def test_a_time_budget_never_starts_a_candidate_predicted_not_to_fit(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    # food's single-task model is perfect on validation and predictions stay within [0, 1]:
    # with the default margin the stop rule would end the search before any budget check.
    margin = {"margin": 0.0}
    # Nothing fits after the reference models: the single-task model is the result.
    none = search_target(run_dir, SearchSettings(Budget(hours=1e-9), **margin), own_target="food")
    assert none.tried == 0 and "time budget" in none.stopped and none.best["kind"] == "single-task"
    assert none.model_dir is not None and (none.model_dir / "model.safetensors").exists()
    unsaved = search_target(
        run_dir, SearchSettings(Budget(hours=1e-9), **margin), own_target="food", export=False
    )
    assert unsaved.model_dir is None and unsaved.best == none.best
    budget = none.hours + 0.002
    some = search_target(run_dir, SearchSettings(Budget(hours=budget), **margin), own_target="food")
    assert some.tried > 0
    for step in some.trace.to_dict("records"):
        spent_before = step["total_hours"] - step["hours"]
        assert step["predicted_hours"] <= budget - spent_before + 1e-12


def test_budgets_parse_and_bad_ones_are_refused() -> None:
    assert Budget.parse("8trials") == Budget(trials=8)
    assert Budget.parse("8 trials") == Budget(trials=8)
    assert Budget.parse("2h") == Budget(hours=2.0)
    assert Budget.parse("90m") == Budget(hours=1.5)
    for bad in ("2.5trials", "0trials", "soon", "-1h"):
        with pytest.raises(ConfigError):
            Budget.parse(bad)
    with pytest.raises(ConfigError, match="chains"):
        SearchSettings(Budget(trials=1), chains=1)


def test_a_killed_search_resumes_to_the_same_result(
    small_run: Path,
    tiny_encoder_dir: Path,
    tmp_path: Path,
    searched: tuple[Path, RunConfig, SearchResult, int],
) -> None:
    run_dir, _ = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    data = _new_target_file(tmp_path)
    command = [
        sys.executable,
        "-m",
        "transferscout",
        "search",
        str(run_dir),
        "--data",
        str(data),
        "--label-column",
        "supplies",
        "--id-column",
        "id",
        "--budget",
        "3trials",
        "--chains",
        "2",
        "--margin",
        "0",
    ]
    env = {**os.environ, "TRANSFERSCOUT_CRASH_AT": "finishing:3"}  # the first candidate
    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert killed.returncode == -9, killed.stderr
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    trace = json.loads((run_dir / "search" / "supplies" / "trace.json").read_text())
    _, _, reference, _ = searched
    assert [s["trial"] for s in trace] == reference.trace["trial"].tolist()
    assert [s["test_f1"] for s in trace] == reference.trace["test_f1"].tolist()
    with RunStore(run_dir, readonly=True) as store:
        ids = [r.id for r in store.rows()]
    assert len(ids) == len(set(ids))


def test_a_search_runs_on_ray_and_reads_its_own_targets_trials_only_when_picked(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    import dataclasses

    import ray

    from transferscout.config import ExecutorConfig
    from transferscout.meta.features import candidate_table
    from transferscout.recommend import meta_model_history

    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    config = dataclasses.replace(
        config, executor=ExecutorConfig(kind="ray", workers=1, threads_per_worker=1, device="cpu")
    )
    with RunStore(run_dir, readonly=True) as store:
        attempts = {r.id: r.attempts for r in store.rows()}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = search_target(
            run_dir, SearchSettings(Budget(trials=2), margin=0.0), own_target="food", config=config
        )
    finally:
        ray.shutdown()
    # The two candidates are grid trials: read when picked, never trained again; only the
    # model kept at the end is trained (on Ray) if its weights were not kept by the grid.
    with RunStore(run_dir, readonly=True) as store:
        retrained = {r.id for r in store.rows() if r.attempts != attempts.get(r.id)}
        picked = [store.row(t) for t in result.trace["trial"]]
    assert result.tried == 2 and all(r is not None and r.target == "food" for r in picked)
    assert retrained <= {result.best["trial"], *(r.source_trial for r in picked if r)}
    assert result.model_dir is not None and (result.model_dir / "model.safetensors").exists()
    history = meta_model_history(
        run_dir, candidate_table(run_dir), config, config.data.load(), exclude_target="food"
    )
    assert history is not None and set(history.table["target"]) == {"water", "shelter"}


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    target = prepare_target(
        config, "supplies", data={"path": str(_new_target_file(tmp_path)), "id_column": "id"}
    )
    # First the reference models only (no candidate fits a zero time budget) ...
    search_target(run_dir, SearchSettings(Budget(hours=1e-9)), target=target)
    # ... then every trial on the target fails: both candidates are tried and recorded.
    monkeypatch.setenv("TRANSFERSCOUT_FAIL_TASK", "raise:supplies")
    result = search_target(run_dir, SearchSettings(Budget(trials=2), margin=0.0), target=target)
    assert result.tried == 2 and result.trace["validation_f1"].isna().all()
    assert result.best["kind"] == "single-task"
    with RunStore(run_dir, readonly=True) as store:
        failed = [r for r in store.rows(status="failed") if r.target == "supplies"]
    assert sorted(r.id for r in failed) == sorted(result.trace["trial"])


def test_the_reference_includes_the_compute_matched_models_and_is_the_best_by_validation(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    from transferscout.grid.models import trial_score

    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    data = tiny_config(
        {**KEYWORDS, "path": str(tmp_path / "keywords.csv")},
        tiny_encoder_dir,
        {**SMALL_RUN, "evaluation": None, "grid.matched_single_task": True},
    )
    config = config_from_dict(data)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    target = prepare_target(
        config, "supplies", data={"path": str(_new_target_file(tmp_path)), "id_column": "id"}
    )
    result = search_target(
        run_dir, SearchSettings(Budget(trials=1)), target=target, config=config, export=False
    )
    with RunStore(run_dir, readonly=True) as store:
        singles = [r for r in store.rows(kind="single") if r.target == "supplies"]
    # 2 target settings at 6 epochs and, matched, at 6 + 6
    assert sorted(r.config["target"]["settings"]["epochs"] for r in singles) == [6, 6, 12, 12]
    best = max(singles, key=lambda r: trial_score(r, "validation"))
    assert result.reference["trial"] == best.id


def test_a_search_says_when_the_targets_kind_is_one_the_meta_model_never_saw(
    small_run: Path,
    tiny_encoder_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    # A regression target against the binary-only run: each text's word count minus 5 (120
    # texts: enough for the tiny model's reference models to learn it).
    rows = kind_rows(120, seed=9)
    for row in rows:
        row["length"] = str(int(row["words"]) - 5)
    path = write_csv(tmp_path / "length.csv", rows)
    target = prepare_target(
        config,
        "length",
        data={"path": str(path), "id_column": "id", "task_kinds": {"length": "regression"}},
    )
    with caplog.at_level(logging.WARNING, logger="transferscout.recommend"):
        result = search_target(run_dir, SearchSettings(Budget(trials=1)), target=target)
    assert result.tried == 1
    assert [r.getMessage() for r in caplog.records if "never saw" in r.getMessage()] == [
        "the target 'length' is of kind regression, which the meta-model never saw: it is "
        "fitted on binary targets only (gains in their metrics), so read its predictions with "
        "care"
    ]


def test_a_target_name_that_would_leave_the_run_folder_is_refused(
    small_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    import dataclasses

    run_dir, config = _copy_run(small_run, tiny_encoder_dir, tmp_path)
    target = prepare_target(
        config, "supplies", data={"path": str(_new_target_file(tmp_path)), "id_column": "id"}
    )
    with RunStore(run_dir, readonly=True) as store:
        before = len(store.rows())
    for name in ("../escape", "a/b", ".."):
        with pytest.raises(DataError, match="cannot name the search's folder"):
            search_target(
                run_dir,
                SearchSettings(Budget(trials=1)),
                target=dataclasses.replace(target, name=name),
            )
    with RunStore(run_dir, readonly=True) as store:
        assert len(store.rows()) == before  # refused before anything was trained
    assert not (tmp_path / "escape").exists() and not (run_dir / "search").exists()
