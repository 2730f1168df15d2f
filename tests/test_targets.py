from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import done_row, keyword_rows, write_csv
from transferscout.config import config_from_dict
from transferscout.errors import ConfigError, DataError
from transferscout.grid.store import TrialRow
from transferscout.targets import check_not_degenerate, data_section, prepare_target


def _run_config(data: Path, **prepare: object) -> object:
    return config_from_dict(
        {
            "data": {
                "path": str(data),
                "label_columns": ["food", "water"],
                "id_column": "id",
                "fractions": [0.6, 0.2, 0.2],
                "seed": 3,
                **prepare,
            }
        }
    )


def _rows_with_combined_label(n: int = 90) -> list[dict[str, str]]:
    rows = keyword_rows(n, seed=3)
    for row in rows:
        labels = [t for t in ("food", "water", "shelter") if row[t] == "1"]
        row["labels"] = ";".join(labels)
    return rows


def test_a_held_out_label_of_the_runs_own_file_is_prepared_like_the_runs_tasks(
    tmp_path: Path,
) -> None:
    data = write_csv(tmp_path / "d.csv", _rows_with_combined_label())
    run = _run_config(data, max_train_examples=20, cap_strategy="balanced")
    target = prepare_target(run, "shelter")  # type: ignore[arg-type]
    assert target.name == "shelter"
    # The run's balanced cap of 20 holds: 10 positives and 10 negatives.
    assert len(target.train) == 20 and target.train.positives == 10
    # Overriding one preparation key keeps the others (seed, fractions, id column).
    stratified = prepare_target(run, "shelter", data={"cap_strategy": "stratified"})  # type: ignore[arg-type]
    assert len(stratified.train) == 20 and stratified.train.positives != 10
    assert set(stratified.test.ids) == set(target.test.ids)


def test_a_multilabel_column_and_a_task_name_give_the_labels_of_the_01_column(
    tmp_path: Path,
) -> None:
    rows = _rows_with_combined_label()
    truth = {row["id"]: int(row["shelter"]) for row in rows}
    data = write_csv(tmp_path / "d.csv", rows)
    run = _run_config(data)
    from_column = prepare_target(run, "shelter", data={"path": str(data), "id_column": "id"})  # type: ignore[arg-type]
    from_labels = prepare_target(
        run,  # type: ignore[arg-type]
        "shelter",
        data={
            "path": str(data),
            "id_column": "id",
            "multilabel_column": "labels",
            "label_delimiter": ";",
        },
    )
    # (The split stratifies on every label the data names, so the two splits may differ.)
    for task in (from_column, from_labels):
        for _, split in task.splits():
            assert split.labels.tolist() == [truth[i] for i in split.ids]
    assert sum(len(s) for _, s in from_labels.splits()) == len(rows)
    renamed = prepare_target(run, "shelter", data={}, name="tents")  # type: ignore[arg-type]
    assert renamed.name == "tents" and renamed.fingerprint != from_column.fingerprint


def test_bad_target_options_are_refused_before_reading(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "d.csv", _rows_with_combined_label())
    run = _run_config(data)
    with pytest.raises(ConfigError, match="cap_strategy"):
        prepare_target(run, "shelter", data={"cap_strategy": "oversample"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown data option"):
        prepare_target(run, "shelter", data={"colour": "red"})  # type: ignore[arg-type]
    with pytest.raises(DataError):
        prepare_target(run, "no_such_label")  # type: ignore[arg-type]
    toml = tmp_path / "t.toml"
    toml.write_text("[grid]\nseeds = [0]\n")
    with pytest.raises(ConfigError, match=r"no \[data\] table"):
        data_section(toml)


def test_a_data_section_reads_its_files_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data" / "new-target"
    folder.mkdir(parents=True)
    (folder / "target.toml").write_text(
        '[data]\npath = "new.csv"\n[[data.tagged]]\nname = "ner"\npath = "new.conll"\n'
        '[[data.questions]]\nname = "qa"\ntrain = "q/train.json"\nvalidation = "q/dev.json"\n'
        'test = "/abs/test.json"\n'
    )
    monkeypatch.chdir(tmp_path)
    section = data_section(Path("data/new-target/target.toml"))
    assert section["path"] == str(folder / "new.csv")
    assert section["tagged"] == [{"name": "ner", "path": str(folder / "new.conll")}]
    (questions,) = section["questions"]
    assert questions["train"] == str(folder / "q" / "train.json")
    assert questions["validation"] == str(folder / "q" / "dev.json")
    assert questions["test"] == "/abs/test.json"  # an absolute path stays as it is


def _row(predicted: int, lr: float = 1e-4) -> TrialRow:
    return done_row(
        target="offer",
        config={"target": {"settings": {"learning_rate": lr}}},
        metrics={
            "validation_predicted_positives": predicted,
            "validation_positives": 30,
            "validation_n": 300,
        },
    )


def test_a_target_whose_every_model_is_degenerate_is_refused_with_numbers(
    tmp_path: Path,
) -> None:
    data = write_csv(tmp_path / "d.csv", _rows_with_combined_label())
    task = prepare_target(_run_config(data), "shelter")  # type: ignore[arg-type]
    with pytest.raises(DataError) as caught:
        # 26 negatives predicted of 270 (< 0.1 x 270 = 27): nearly everything positive
        check_not_degenerate(task, [_row(0), _row(274, lr=2e-4)])
    message = str(caught.value)
    assert "every one of its 2 single-task models" in message
    assert "lr 0.0001, seed 0: predicts negative for 300 of 300 validation examples" in message
    assert "predicts positive for 274 of 300 validation examples (270 are not positive; 26" in (
        message
    )
    assert f"{task.train.positives}/{len(task.train)} positive" in message
    assert "rarer class(es)" in message and "--cap-strategy balanced" in message
    # One model that predicts the other class often enough is enough: 27 of 270 negatives.
    check_not_degenerate(task, [_row(0), _row(273, lr=2e-4)])
    # Metrics the rule cannot judge (no counts) leave the target accepted.
    unjudged = done_row(
        target="offer",
        config={"target": {"settings": {"learning_rate": 1e-4}}},
        metrics={"validation_f1": 0.0},
    )
    check_not_degenerate(task, [unjudged])


def test_a_target_of_another_kind_or_on_text_pairs_is_prepared_with_its_kind(
    tmp_path: Path,
) -> None:
    from tests.conftest import kind_rows, pair_rows

    run = _run_config(write_csv(tmp_path / "d.csv", _rows_with_combined_label()))
    data = write_csv(tmp_path / "k.csv", kind_rows(45, seed=9))
    topic = prepare_target(
        run,  # type: ignore[arg-type]
        "topic",
        data={"path": str(data), "task_kinds": {"topic": "multiclass", "words": "regression"}},
        name="new_topic",
    )
    assert topic.name == "new_topic" and topic.kind.name == "multiclass"
    assert set(topic.classes) == {"food", "water", "shelter"} and topic.num_outputs == 3
    pairs = write_csv(tmp_path / "p.csv", pair_rows(45, seed=3))
    share = prepare_target(
        run,  # type: ignore[arg-type]
        "share",
        data={"path": str(pairs), "text_pair_column": "second"},
    )
    assert share.is_pair and share.kind.name == "binary"
    assert share.train.pairs is not None and all(p for p in share.train.pairs)
