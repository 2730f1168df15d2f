from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from transferscout.encoders import EncoderSpec
from transferscout.errors import TransferScoutError
from transferscout.evaluation.run import charged_costs
from transferscout.grid.models import (
    load_trained_model,
    model_fingerprint,
    select_single_task_models,
)
from transferscout.grid.runner import ExecutionOptions, run_grid
from transferscout.grid.spec import GridSpec, settings_grid
from transferscout.grid.store import RunStore
from transferscout.signals.adaptive import AdaptiveSteps, spread
from transferscout.signals.ansat import ansat_feature_names
from transferscout.signals.ansat_stage import AnsatSettings, compute_ansat
from transferscout.signals.attributions import (
    AttributionCache,
    AttributionSettings,
    attribute_documents,
)
from transferscout.signals.budget import MIN_DOCUMENTS, SignalBudget
from transferscout.signals.documents import document_sets
from transferscout.tasks import TaskSet

SETTINGS = AnsatSettings(attribution=AttributionSettings(n_steps=6, max_length=32), max_documents=5)


@pytest.fixture(scope="module")
def trained_run(
    tmp_path_factory: pytest.TempPathFactory, tasks: TaskSet, tiny_encoder_dir: Path
) -> Path:
    run_dir = tmp_path_factory.mktemp("ansat-run")
    grid = GridSpec(
        sources=(), target_settings=settings_grid(learning_rate=[3e-3], epochs=[4], max_length=[32])
    )
    options = ExecutionOptions(workers=1, threads_per_worker=1, device="cpu")
    assert run_grid(run_dir, tasks, grid, EncoderSpec(str(tiny_encoder_dir)), options).done == 3
    return run_dir


def _ansat_rows(run_dir: Path) -> dict[tuple[str, str, str], float]:
    with RunStore(run_dir, readonly=True) as store:
        return {
            (r["source"], r["target"], r["name"]): r["value"] for r in store.pair_signals("ansat")
        }


def _model_steps(run_dir: Path) -> dict[str, int]:
    """Each model's steps in its last conductance cost record (they are read in that order)."""
    with RunStore(run_dir, readonly=True) as store:
        costs = store.costs("conductance")
    return {c["detail"]["task"]: int(c["detail"]["n_steps"]) for c in costs}


def _incomplete(run_dir: Path) -> dict[str, str]:
    """The models the last ANSAT stage found incomplete, with their reasons."""
    with RunStore(run_dir, readonly=True) as store:
        (record,) = store.costs("ansat")
    return dict(record["detail"]["incomplete"])


def test_every_ordered_pair_gets_every_feature(trained_run: Path, tasks: TaskSet) -> None:
    assert compute_ansat(trained_run, tasks, SETTINGS) == 9
    rows = _ansat_rows(trained_run)
    assert len(rows) == 9 * 46
    names = ansat_feature_names()
    for source in tasks.names:
        for target in tasks.names:
            assert all((source, target, name) in rows for name in names)
    # Set sizes follow the capped positive test documents; a task with itself shares all.
    assert rows[("food", "water", "n_docs_a")] == rows[("food", "shelter", "n_docs_a")] <= 5
    assert rows[("food", "food", "n_docs_ab")] == rows[("food", "food", "n_docs_a")]
    # ANSAT counts fall (weakly) as the threshold rises.
    values = [rows[("water", "food", f"ansat_a_{t:.2f}")] for t in (0.05, 0.2, 0.4, 0.7)]
    assert values == sorted(values, reverse=True)
    # Self-pairs: a word shared with itself is any word above the threshold, so >= any pair.
    assert rows[("food", "food", "ansat_a_0.05")] >= rows[("food", "water", "ansat_a_0.05")]


def test_rerun_reuses_the_cached_attributions_and_reproduces(
    trained_run: Path, tasks: TaskSet
) -> None:
    compute_ansat(trained_run, tasks, SETTINGS)
    first = _ansat_rows(trained_run)
    files = sorted((trained_run / "attributions").glob("*.parquet"))
    assert len(files) == 3 * 3  # words, tokens and documents for each of the three models
    stamps = {f: f.stat().st_mtime_ns for f in files}
    with RunStore(trained_run, readonly=True) as store:
        costs_before = store.costs("conductance")
    compute_ansat(trained_run, tasks, SETTINGS)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # nothing recomputed
    with RunStore(trained_run, readonly=True) as store:
        assert store.costs("conductance") == costs_before
    assert _ansat_rows(trained_run) == first


def test_completeness_of_every_model_is_stored_and_warned_about(
    trained_run: Path, tasks: TaskSet, caplog: pytest.LogCaptureFixture
) -> None:
    strict = AnsatSettings(
        attribution=SETTINGS.attribution,
        max_documents=SETTINGS.max_documents,
        completeness_tolerance=1e-9,
    )
    with caplog.at_level("WARNING"):
        compute_ansat(trained_run, tasks, strict)
    with RunStore(trained_run, readonly=True) as store:
        detail = store.pair_signals("ansat")[0]["detail"]
    completeness = detail["completeness"]
    assert sorted(completeness) == ["food", "shelter", "water"]
    cache = AttributionCache(trained_run)
    for name, summary in completeness.items():
        assert 0 < summary["median"] <= summary["max"] < float("inf")
        with RunStore(trained_run, readonly=True) as store:
            row = store.row(detail["models"][name])
        assert row is not None
        key = AttributionCache.key(model_fingerprint(trained_run, row), SETTINGS.attribution)
        errors = cache.documents(key)["completeness_error"].to_numpy()
        assert summary["documents"] == len(errors)
        assert summary["median"] == pytest.approx(float(np.median(errors)))
        assert f"conductance of {name}'s model" in caplog.text
    assert "raise signals.ansat.n_steps" in caplog.text


def test_cached_words_and_raw_layer_scores(trained_run: Path, tasks: TaskSet) -> None:
    compute_ansat(trained_run, tasks, SETTINGS)
    key = next(iter(sorted((trained_run / "attributions").glob("*.words.parquet")))).name.split(
        "."
    )[0]
    cache = AttributionCache(trained_run)
    words = cache.words(key)
    tokens = cache.tokens(key)
    assert set(words["doc_id"]) == set(tokens["doc_id"])
    assert {"word", "score", "layer_scores"} <= set(words.columns)
    assert all(len(scores) == 3 for scores in tokens["layer_scores"])  # the tiny encoder's layers
    first_doc = words[words["doc_id"] == words["doc_id"].iloc[0]]
    assert first_doc["word_index"].tolist() == list(range(len(first_doc)))
    assert all(-3.0 <= s <= 3.0 for s in words["score"])


def test_more_documents_are_added_to_the_cache(trained_run: Path, tasks: TaskSet) -> None:
    few = AnsatSettings(attribution=SETTINGS.attribution, split="train", max_documents=5)
    compute_ansat(trained_run, tasks, few)
    assert _ansat_rows(trained_run)[("food", "water", "n_docs_a")] == 5
    cache = AttributionCache(trained_run)
    key = next(iter(sorted((trained_run / "attributions").glob("*.words.parquet")))).name.split(
        "."
    )[0]
    before = set(cache.words(key)["doc_id"])
    more = AnsatSettings(attribution=SETTINGS.attribution, split="train", max_documents=10)
    compute_ansat(trained_run, tasks, more)
    assert _ansat_rows(trained_run)[("food", "water", "n_docs_a")] == 10
    after = set(cache.words(key)["doc_id"])
    assert before < after  # kept, and added to


def test_without_trained_models(tmp_path: Path, tasks: TaskSet) -> None:
    RunStore(tmp_path).close()
    with pytest.raises(TransferScoutError, match="no finished single-task model"):
        compute_ansat(tmp_path, tasks, SETTINGS)


def test_budget_sizes_the_sets_and_adaptive_steps_are_recorded(
    trained_run: Path, tasks: TaskSet
) -> None:
    settings = AnsatSettings(
        attribution=AttributionSettings(n_steps=8, max_length=32),
        split="train",
        max_documents=100,
        adaptive=AdaptiveSteps(start=2, tolerance=1e6, probe_documents=3),
        documents_from_budget=True,
    )
    # A budget far below one document per set: the plan keeps the minimum and says so.
    budget = SignalBudget(grid_seconds=1.0, fraction=0.05)
    compute_ansat(trained_run, tasks, settings, budget=budget)
    with RunStore(trained_run, readonly=True) as store:
        detail = store.pair_signals("ansat")[0]["detail"]
        costs = [c for c in store.costs("conductance") if c["detail"].get("n_steps") == 2]
    assert detail["settings"]["max_documents"] == MIN_DOCUMENTS
    assert detail["plan"]["max_documents"] == MIN_DOCUMENTS
    assert detail["plan"]["points"] == 3  # the loose tolerance keeps the start: 2 steps
    assert "attributions × 3 points" in detail["plan"]["description"]
    assert detail["steps"] == {name: 2 for name in tasks.names}
    assert set(detail["completeness"]) == set(tasks.names)
    assert len(costs) == 3 and all("completeness" in c["detail"] for c in costs)
    assert _ansat_rows(trained_run)[("food", "water", "n_docs_a")] <= MIN_DOCUMENTS
    # A re-run reuses the plan and every attribution.
    files = sorted((trained_run / "attributions").glob("*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    compute_ansat(trained_run, tasks, settings, budget=budget)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps


def test_a_strict_tolerance_raises_the_steps_within_a_generous_budget(
    trained_run: Path, tasks: TaskSet
) -> None:
    settings = AnsatSettings(
        attribution=AttributionSettings(n_steps=6, max_length=32),
        split="train",
        max_documents=12,
        adaptive=AdaptiveSteps(start=3, tolerance=1e-12, probe_documents=3),
        documents_from_budget=True,
    )
    compute_ansat(trained_run, tasks, settings, budget=SignalBudget(grid_seconds=1e9))
    plans = (trained_run / "attributions").glob("plan-*.json")
    plan = json.loads(max(plans, key=lambda p: p.stat().st_mtime_ns).read_text())  # this one
    assert plan["max_documents"] == 12  # the budget allows the cap
    assert plan["points"] == 4  # planned at the start steps
    # Never within tolerance: every model, the calibrated first one too, goes to the cap ...
    assert _model_steps(trained_run) == {name: 6 for name in tasks.names}
    # ... and stays outside it there: no ANSAT value is read from its attributions.
    assert not _ansat_rows(trained_run)
    reasons = _incomplete(trained_run)
    assert set(reasons) == set(tasks.names)
    assert all("at 6 steps" in r and "signals.ansat.baseline" in r for r in reasons.values())


def test_cached_rows_of_other_texts_under_the_same_ids_are_not_reused(
    trained_run: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    """An earlier target numbered its documents as these: its attributions are not theirs."""
    fresh, seeded = tmp_path / "fresh", tmp_path / "seeded"
    for folder in (fresh, seeded):
        shutil.copytree(
            trained_run, folder, ignore=shutil.ignore_patterns("store.lock", "attributions")
        )
    cache = AttributionCache(seeded)
    with RunStore(seeded, readonly=True) as store:
        models = select_single_task_models(store, tasks)
    for row in models.values():
        encoder = load_trained_model(seeded, row, device="cpu")
        other = {  # the same ids and word counts, other texts
            doc: " ".join(reversed(text.split()))
            for task in tasks.tasks
            for _, split in task.splits()
            for doc, text in zip(split.ids, split.texts, strict=True)
        }
        key = AttributionCache.key(model_fingerprint(seeded, row), SETTINGS.attribution)
        tables = attribute_documents(encoder.model, encoder.tokenizer, other, SETTINGS.attribution)
        cache.add(key, *tables)
    compute_ansat(fresh, tasks, SETTINGS)
    compute_ansat(seeded, tasks, SETTINGS)
    assert _ansat_rows(seeded) == pytest.approx(_ansat_rows(fresh), nan_ok=True)


def test_after_a_recompute_at_other_settings_only_the_used_attributions_are_charged(
    trained_run: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)  # other tests may have attributed it at other settings
    compute_ansat(run, tasks, SETTINGS)
    with RunStore(run, readonly=True) as store:
        before = len(store.costs("conductance"))
    other = AnsatSettings(
        attribution=AttributionSettings(n_steps=7, max_length=32), max_documents=5
    )
    compute_ansat(run, tasks, other)  # new cache keys: every model attributed again
    with RunStore(run, readonly=True) as store:
        costs, ansat = store.costs(), store.pair_signals("ansat")
    conductance = [c for c in costs if c["family"] == "conductance"]
    keys = set(ansat[0]["detail"]["attributions"].values())
    assert len(keys) == 3
    fresh = [c for c in conductance if c["item"].split(":")[0] in keys]
    assert len(fresh) == 3 and len(conductance) == before + 3  # earlier rows are kept
    charged = charged_costs(costs, ansat)
    assert [c for c in charged if c["family"] == "conductance"] == fresh
    assert [c for c in charged if c["family"] != "conductance"] == [
        c for c in costs if c["family"] != "conductance"
    ]
    # a store whose ANSAT detail does not name its attributions charges every one of them
    unnamed = [{**row, "detail": {}} for row in ansat]
    charged_all = [c for c in charged_costs(costs, unnamed) if c["family"] == "conductance"]
    assert charged_all == conductance


def test_the_step_cap_follows_the_throughput_measured_on_the_models(
    trained_run: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    """A plan's rate far too pessimistic caps the first model only, not every model after it.

    The stored plan stands in for one calibrated on a few documents where per-call overhead
    dominates, or on a machine busier than now: the models' own attributions correct it.
    """
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("attributions"))
    settings = AnsatSettings(
        attribution=AttributionSettings(n_steps=6, max_length=32),
        split="train",
        max_documents=6,
        adaptive=AdaptiveSteps(start=2, tolerance=1e-12, probe_documents=3),
        documents_from_budget=True,
    )
    budget = SignalBudget(grid_seconds=1e9)
    compute_ansat(run, tasks, settings, budget=budget)
    folder = run / "attributions"
    (plan_file,) = folder.glob("plan-*.json")
    for path in folder.iterdir():
        if path != plan_file:
            path.unlink()
    plan = json.loads(plan_file.read_text())
    plan["seconds_per_token_point"] = 1e6  # a share of 1.7e7 s fits no document at this rate
    plan_file.write_text(json.dumps(plan))
    compute_ansat(run, tasks, settings, budget=budget)
    assert sorted(_model_steps(run).values()) == [2, 6, 6]  # the old rule: [2, 2, 2]


# Tolerance 0.2 on 3 probe documents (their largest error), start 2, at most 8 steps: on the
# train split, food's probe is at 0.28 with 2 steps and 0.14 with 4, shelter's at 0.25 with 4
# and 0.14 with 8, and one of water's documents stays above 1 at 8 steps.
WITHIN = AnsatSettings(
    attribution=AttributionSettings(n_steps=8, max_length=32),
    split="train",
    max_documents=14,
    adaptive=AdaptiveSteps(start=2, tolerance=0.2, probe_documents=3),
)


def test_a_model_outside_tolerance_has_no_ansat_and_says_why(
    trained_run: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("attributions"))
    compute_ansat(run, tasks, WITHIN)
    assert _model_steps(run) == {"food": 4, "water": 8, "shelter": 8}
    reasons = _incomplete(run)
    assert list(reasons) == ["water"]
    assert "at 8 steps, above the 0.2 tolerance" in reasons["water"]
    assert "signals.ansat.baseline" in reasons["water"]
    rows = _ansat_rows(run)
    names = ansat_feature_names()
    for source in tasks.names:
        for target in tasks.names:
            stored = [(source, target, name) in rows for name in names]
            assert stored == [not {source, target} & {"water"}] * len(names)
    with RunStore(run, readonly=True) as store:
        detail = store.pair_signals("ansat")[0]["detail"]
    assert detail["incomplete"] == reasons
    assert detail["completeness"]["water"]["documents"] == 3  # its probe, all it was tried on
    assert all(detail["completeness"][name]["median"] <= 0.2 for name in ("food", "shelter"))
    # A re-run attributes nothing again: the incomplete model is not tried at the same budget.
    files = sorted((run / "attributions").glob("*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    compute_ansat(run, tasks, WITHIN)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    assert _ansat_rows(run) == rows


def test_a_budget_short_of_the_steps_buys_fewer_documents_at_those_steps(
    trained_run: Path, tasks: TaskSet, tmp_path: Path
) -> None:
    """Food's 4 steps on all its documents overrun its share: it gets fewer documents.

    The stored plan's rate (1 s per token·point) is what food's decisions are made at (the
    first model: no model was measured before it), so its share buys a hand-computed number
    of documents; the models after it are measured far faster and keep every document.
    """
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("attributions"))
    settings = replace(WITHIN, documents_from_budget=True)
    budget = SignalBudget(grid_seconds=1e9)
    compute_ansat(run, tasks, settings, budget=budget)  # makes the plan (14 per set)
    folder = run / "attributions"
    (plan_file,) = folder.glob("plan-*.json")
    for path in folder.iterdir():
        if path != plan_file:
            path.unlink()
    plan = json.loads(plan_file.read_text())
    assert plan["max_documents"] == 14
    sets = document_sets(tasks, split="train", max_documents=14)
    pairs = [(s, t) for s in tasks.names for t in tasks.names]

    def documents(most: int | None) -> list[str]:
        return sorted(
            {
                doc
                for s, t in pairs
                if "food" in (s, t)
                for ids in sets.limited(s, t, most).values()
                for doc in ids
            }
        )

    with RunStore(run, readonly=True) as store:
        row = select_single_task_models(store, tasks)["food"]
    tokenizer = load_trained_model(run, row, device="cpu").tokenizer
    every = documents(None)
    length = {
        doc: len(ids)
        for doc, ids in zip(
            every,
            tokenizer([sets.texts[d] for d in every], truncation=True, max_length=32)["input_ids"],
            strict=True,
        )
    }
    probe = set(spread(every, 3))
    probe_points = sum(length[d] for d in probe) * (3 + 5)  # tries at 2 and 4 steps

    def rest(most: int) -> int:  # token·points of food's other documents at 4 steps
        return 5 * sum(length[d] for d in documents(most) if d not in probe)

    top = max(
        len(ids) for s, t in pairs if "food" in (s, t) for ids in sets.for_pair(s, t).values()
    )
    # 11 and 12 per set cost alike (food's sets of 12 or fewer are whole by then), as do 13, 14
    assert top == 14 and [rest(k) for k in range(10, 15)] == [890, 970, 970, 1045, 1045]
    # Food's share, in token·points at 1 s each: 12 documents per set fit, 13 do not.
    share = probe_points + (970 + 1045) / 2
    plan["seconds_per_token_point"] = 1.0
    plan_file.write_text(json.dumps(plan))
    budget = SignalBudget(grid_seconds=share * 3 / 0.95 / 0.05)  # food's share: 95% of a third
    compute_ansat(run, tasks, settings, budget=budget)
    with RunStore(run, readonly=True) as store:
        detail = store.pair_signals("ansat")[0]["detail"]
    assert detail["steps"] == {"food": 4, "water": 8, "shelter": 8}
    assert detail["documents"] == {"food": 12, "water": None, "shelter": None}
    assert detail["completeness"]["food"]["documents"] == len(documents(12))
    rows = _ansat_rows(run)
    # food's pairs are read on its 12 documents per set; the others' on all of theirs
    assert rows[("food", "shelter", "n_docs_a")] == rows[("shelter", "food", "n_docs_b")] == 12
    assert rows[("shelter", "shelter", "n_docs_a")] == len(sets.single["shelter"])
