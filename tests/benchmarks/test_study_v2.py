"""The study-v2 script's checks of what the committed tables hold (hand-made tables)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.benchmarks import load_benchmark

study_v2 = load_benchmark("study_v2")


def _tables(folder: Path, statuses: dict[str, str], signal_pairs: list[tuple[str, str]]) -> Path:
    """Tasks a, b, c: single-task trials done; transfers a->b, b->a, c->a with ``statuses``."""
    folder.mkdir(parents=True)
    rows = [
        {"id": f"s-{t}", "kind": "single", "target": t, "source": "", "seed": 0, "status": "done",
         "source_trial": "", "source_seconds": None, "target_seconds": 10.0}
        for t in "abc"
    ]  # fmt: skip
    rows += [
        {"id": pair, "kind": "transfer", "target": pair[-1], "source": pair[0], "seed": 0,
         "status": status, "source_trial": f"s-{pair[0]}", "source_seconds": 10.0,
         "target_seconds": 5.0}
        for pair, status in statuses.items()
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(
        [{"family": "textemb", "source": s, "target": t, "name": "cosine", "value": 0.5,
          "detail_id": 0} for s, t in signal_pairs],
        columns=["family", "source", "target", "name", "value", "detail_id"],
    ).to_csv(folder / "pair_signals.csv", index=False)  # fmt: skip
    pd.DataFrame([{"detail_id": 0, "detail": "{}"}]).to_csv(
        folder / "signal_details.csv", index=False
    )
    pd.DataFrame([{"family": "textemb", "item": "x", "seconds": 1.0, "detail": "{}"}]).to_csv(
        folder / "signal_costs.csv", index=False
    )
    (folder / "config.json").write_text(json.dumps({"data": {"corpus": "disaster-response"}}))
    return folder


def test_trial_counts_per_kind_seed_and_status(tmp_path: Path) -> None:
    tables = _tables(tmp_path / "t", {"a>b": "done", "b>a": "pending", "c>a": "failed"}, [])
    counts = study_v2.trial_counts(pd.read_csv(tables / "trials.csv"))
    transfer = counts[counts["kind"] == "transfer"].iloc[0]
    assert (transfer["done"], transfer["pending"], transfer["failed"], transfer["total"]) == (
        1, 1, 1, 3,
    )  # fmt: skip


def test_pool_state_says_what_is_missing(tmp_path: Path) -> None:
    missing = study_v2.pool_state("pool2", tmp_path / "nothing")
    assert not missing.evaluable and "no " in missing.problems[0]
    partial = _tables(tmp_path / "p", {"a>b": "done", "b>a": "done", "c>a": "pending"},
                      [("a", "b")])  # fmt: skip
    state = study_v2.pool_state("pool1", partial)
    assert state.evaluable
    assert state.problems == ["1 trials pending", "signals for 1 of 2 finished pairs"]
    unsigned = _tables(tmp_path / "u", {"a>b": "done"}, [])
    assert study_v2.pool_state("pool2", unsigned).problems == [
        "no pair signals (compute them, then `tables export`)"
    ]
    first = _tables(tmp_path / "first", {"a>b": "done"}, [("a", "b")])
    copied = _tables(tmp_path / "copy", {"a>b": "done", "b>a": "done"}, [("a", "b")])
    flagged = study_v2.pool_state("pool1", copied, first)
    assert "not recomputed" in flagged.problems[-1]


def test_split_demo_keeps_each_halfs_own_transfers(tmp_path: Path) -> None:
    first = _tables(tmp_path / "first", {"a>b": "done", "b>a": "done", "c>a": "done"},
                    [("a", "b"), ("c", "a")])  # fmt: skip
    folders = study_v2.split_demo_tables(first, tmp_path / "runs")
    half_a = pd.read_csv(folders["half-a"] / "trials.csv")  # tasks a and c
    assert sorted(half_a["id"]) == ["c>a", "s-a", "s-c"]
    signals = pd.read_csv(folders["half-a"] / "pair_signals.csv")
    assert list(zip(signals["source"], signals["target"], strict=True)) == [("c", "a")]
    config = json.loads((folders["half-b"] / "config.json").read_text())
    assert config["data"]["tasks"] == ["b"]


def test_source_models_retrained_after_their_transfers_are_flagged() -> None:
    trials = pd.DataFrame(
        {
            "id": ["s-a", "s-b", "a>b", "b>a", "a>c"],
            "kind": ["single", "single", "transfer", "transfer", "transfer"],
            "status": ["done"] * 5,
            "source_trial": ["", "", "s-a", "s-b", "s-a"],
            "source_seconds": [None, None, 10.0, 20.0, 11.0],
            # s-a now took 30 s (3x and 2.7x what a>b and a>c recorded); s-b as recorded
            "target_seconds": [30.0, 20.0, 5.0, 5.0, 5.0],
        }
    )
    text = study_v2.rerecorded_sources(trials)
    assert text.startswith("2 transfers") and "median 2.9x" in text
    same = trials.assign(target_seconds=[10.0, 20.0, 5.0, 5.0, 5.0])
    assert study_v2.rerecorded_sources(same) == ""


def _with_metrics(folder: Path, seconds: dict[str, float], f1: dict[str, float]) -> None:
    trials = pd.read_csv(folder / "trials.csv")
    trials["target_seconds"] = trials["id"].map(seconds).fillna(trials["target_seconds"])
    trials["examples_per_second"] = 100.0 / trials["target_seconds"]
    trials["metrics"] = [
        json.dumps({"test_f1": f1.get(i, 0.5), "train_loss": 0.1 * n})
        for n, i in enumerate(trials["id"])
    ]
    trials.to_csv(folder / "trials.csv", index=False)


def test_retrained_single_task_trials_keep_their_first_hours(tmp_path: Path) -> None:
    pool = _tables(tmp_path / "pool", {"a>b": "done", "c>a": "done"}, [("a", "b")])
    first = _tables(tmp_path / "first", {"a>b": "done"}, [("a", "b")])
    trials = pd.read_csv(pool / "trials.csv")
    trials.loc[trials["id"] == "c>a", "source_seconds"] = 30.0  # trained after the re-run
    trials.to_csv(pool / "trials.csv", index=False)
    # the pool re-ran every single-task model 3x slower; s-c's test F1 came out different
    _with_metrics(pool, {"s-a": 30.0, "s-b": 30.0, "s-c": 30.0}, {"s-c": 0.7})
    _with_metrics(first, {}, {})
    out, note = study_v2.first_measurements(pool, first, tmp_path / "copy")
    trials = pd.read_csv(out / "trials.csv").set_index("id")
    assert trials.loc["s-a", "target_seconds"] == 10.0
    assert trials.loc["s-a", "examples_per_second"] == 10.0
    assert trials.loc["s-b", "target_seconds"] == 10.0
    assert trials.loc["s-c", "target_seconds"] == 30.0  # not the same training: kept as run
    assert trials.loc["a>b", "target_seconds"] == 5.0
    assert trials.loc["a>b", "source_seconds"] == 10.0
    assert trials.loc["c>a", "source_seconds"] == 30.0  # s-c was not restored
    assert study_v2.rerecorded_sources(trials.reset_index()) == ""
    assert note.startswith("2 single-task trials") and "median 3.0x" in note
    assert pd.read_csv(pool / "trials.csv").set_index("id").loc["s-a", "target_seconds"] == 30.0
    _, none = study_v2.first_measurements(first, first, tmp_path / "copy2")
    assert none == ""


def test_summary_puts_each_evaluation_side_by_side_with_its_p_values() -> None:
    from transferscout.evaluation import EvaluationResult

    empty = pd.DataFrame()

    def result(rows: list[tuple[str, str, float, float, float]]) -> EvaluationResult:
        ranking = pd.DataFrame(
            rows, columns=["method", "metric", "estimate", "p_vs_baseline", "p_vs_meta_f1"]
        )
        return EvaluationResult(empty, empty, empty, ranking, empty, empty, empty, empty)

    within = result(
        [
            ("meta:f1", "ndcg@3", 0.955, 0.002, float("nan")),
            ("baseline:hyperparameters", "ndcg@3", 0.870, float("nan"), 0.002),
            ("meta:f1", "saved@0.01", 83.46, 0.35, float("nan")),
        ]
    )
    crossed = result([("meta:f1", "ndcg@3", 0.9, 0.0004, float("nan"))])
    text = study_v2.summary_section({"pool1 (within)": within, "pool2 (fitted on pool1)": crossed})
    lines = text.splitlines()
    ndcg = lines[lines.index("**ndcg@3**") + 2 :]
    assert ndcg[0] == "| method | pool1 (within) | pool2 (fitted on pool1) |"
    assert ndcg[2] == "| meta:f1 | 0.955 (b 0.002) | 0.900 (b <0.001) |"
    assert ndcg[6] == "| baseline:hyperparameters | 0.870 (f 0.002) |  |"
    saved = lines[lines.index("**saved@0.01**") + 4]
    assert saved == "| meta:f1 | 83.5% (b 0.350 n.s.) |  |"
