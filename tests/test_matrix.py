from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from transferscout.cli import app
from transferscout.errors import DataError, TransferScoutError
from transferscout.matrix import (
    POOL_COLUMNS,
    import_matrix,
    load_matrix_info,
    load_matrix_table,
    read_matrix,
)
from transferscout.meta.pool import AdditiveGainModel, PoolPrior, pool_pick

runner = CliRunner()

RECYCLING = Path(__file__).parent / "fixtures" / "model-recycling"
ROBERTA = RECYCLING / "roberta-base_table.csv"

HEADER = (
    "target,source,setting,seed,score,validation_score,single_task_score,"
    "single_task_validation_score,hours,textemb_cosine,note"
)

#: Two targets, three sources, two settings; (t1, a, lr1) and (t2, b, lr1) have two seeds,
#: written highest seed first; t1's single-task scores are left empty on one row; c has no
#: TextEmb on t1; ``note`` is text (not a signal).
MATRIX = "\n".join(
    [
        HEADER,
        "t1,a,lr1,1,0.70,0.66,0.60,0.58,0.5,0.9,x",
        "t1,a,lr1,0,0.60,0.62,0.60,0.58,0.4,0.9,y",
        "t1,b,lr1,0,0.55,0.50,,,0.4,0.2,",
        "t1,c,lr1,0,0.65,0.61,0.60,0.58,0.4,,",
        "t1,a,lr2,0,0.62,0.60,0.60,0.58,0.8,0.9,",
        "t1,b,lr2,0,0.66,0.64,0.60,0.58,0.8,0.2,",
        "t1,c,lr2,0,0.58,0.59,0.60,0.58,0.8,,",
        "t2,a,lr1,0,0.30,0.35,0.40,0.42,0.2,0.1,",
        "t2,b,lr1,0,0.50,0.49,0.40,0.42,0.2,0.5,",
        "t2,b,lr1,1,0.44,0.45,0.40,0.42,0.3,0.5,",
        "t2,c,lr2,0,0.45,0.44,0.40,0.42,0.25,0.7,",
    ]
)


def _write(tmp_path: Path, text: str, name: str = "matrix.csv") -> Path:
    path = tmp_path / name
    path.write_text(text + ("\n" if text else ""), encoding="utf-8")
    return path


def test_a_hand_made_matrix_becomes_its_pool_table(tmp_path: Path) -> None:
    table = read_matrix(_write(tmp_path, MATRIX))
    assert list(table.columns) == [*POOL_COLUMNS, "textemb_cosine"]
    assert len(table) == 9  # (target, source, setting) candidates
    rows = table.set_index(["target", "source", "setting"])
    two_seeds = rows.loc[("t1", "a", "lr1")]
    assert two_seeds["seeds"] == 2
    assert two_seeds["real_f1"] == pytest.approx(0.65)  # mean of 0.70, 0.60
    assert two_seeds["real_f1_sd"] == pytest.approx(math.sqrt(0.005))  # sample sd of the two
    assert two_seeds["first_validation_score"] == 0.62  # seed 0's, though written second
    assert two_seeds["first_validation_gain"] == pytest.approx(0.62 - 0.58)
    assert two_seeds["validation_score"] == pytest.approx(0.64)
    assert two_seeds["validation_gain"] == pytest.approx(0.64 - 0.58)
    assert two_seeds["real_gain"] == pytest.approx(0.05)
    assert two_seeds["target_hours"] == 0.4  # seed 0's: one training's
    assert math.isnan(two_seeds["predicted_hours"])  # not given: equal cost per trial
    # the row without single-task scores takes the target's (given on its other rows)
    assert rows.loc[("t1", "b", "lr1"), "target_score"] == 0.60
    assert rows.loc[("t1", "b", "lr1"), "target_validation_score"] == 0.58
    other = rows.loc[("t2", "b", "lr1")]
    assert (other["real_f1"], other["first_validation_score"]) == (pytest.approx(0.47), 0.49)
    assert (other["target_hours"], other["textemb_cosine"]) == (0.2, 0.5)
    assert math.isnan(rows.loc[("t1", "c", "lr2"), "textemb_cosine"])  # not computed: NaN
    assert rows.loc[("t2", "c", "lr2"), "real_gain"] == pytest.approx(0.05)
    one_seed = table[table["seeds"] == 1]
    assert one_seed["real_f1_sd"].isna().all()


def test_import_writes_the_pool_table_and_what_it_holds(tmp_path: Path) -> None:
    path = _write(tmp_path, MATRIX)
    result = runner.invoke(app, ["tables", "import-matrix", str(path), str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "2 targets, 3 sources, 2 settings, 9 candidates (from 11 rows" in result.stdout
    assert "hours: the target stages' hours" in result.stdout
    assert "validation: separate validation scores" in result.stdout
    assert "signals: textemb_cosine" in result.stdout
    assert "not signals (text): note" in result.stdout
    meta = json.loads((tmp_path / "run" / "matrix.json").read_text(encoding="utf-8"))
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["path"] == str(path.resolve())
    assert (meta["format"], meta["rows"], meta["candidates"]) == ("plain", 11, 9)
    assert (meta["targets"], meta["sources"], meta["settings"]) == (
        ["t1", "t2"],
        ["a", "b", "c"],
        ["lr1", "lr2"],
    )
    assert (meta["has_hours"], meta["has_validation"], meta["signals"]) == (
        True,
        True,
        ["textemb_cosine"],
    )
    assert meta["text_columns"] == ["note"]
    back = load_matrix_table(tmp_path / "run")
    pd.testing.assert_frame_equal(back, read_matrix(path))
    assert load_matrix_info(tmp_path / "run").candidates == 9
    # a matrix run may be imported again (its matrix is replaced)
    again = runner.invoke(app, ["tables", "import-matrix", str(path), str(tmp_path / "run")])
    assert again.exit_code == 0, again.output


def test_a_matrix_without_hours_or_validation_says_so(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "target,source,score,single_task_score\nNA,None,0.5,0.4\nNA,b,0.3,0.4\nb,NA,0.7,0.6",
    )
    run = tmp_path / "run"
    result = runner.invoke(app, ["tables", "import-matrix", str(path), str(run)])
    assert result.exit_code == 0, result.output
    assert "hours: none given, equal cost per trial" in result.stdout
    assert "one score: decisions and truth read the same score" in result.stdout
    assert "signals: none" in result.stdout
    table = load_matrix_table(run)
    # names are names, even "NA" and "None"
    assert list(zip(table["target"], table["source"], strict=True)) == [
        ("NA", "None"),
        ("NA", "b"),
        ("b", "NA"),
    ]
    assert (table["setting"] == "default").all()
    assert (table["target_hours"] == 1.0).all()  # one unit per trial
    assert table["predicted_hours"].isna().all()
    # one score: the observation is the truth
    assert table["first_validation_gain"].tolist() == pytest.approx([0.1, -0.1, 0.1])
    assert table["first_validation_gain"].tolist() == table["real_gain"].tolist()
    assert table["target_validation_score"].tolist() == table["target_score"].tolist()
    meta = json.loads((run / "matrix.json").read_text(encoding="utf-8"))
    assert (meta["has_hours"], meta["has_validation"]) == (False, False)


def _replace(line: int, text: str) -> str:
    """The hand-made matrix with its ``line``-th line (1-based) replaced."""
    lines = MATRIX.split("\n")
    lines[line - 1] = text
    return "\n".join(lines)


#: Bad plain matrices -> what the one line says.
BAD_PLAIN = {
    "empty file": ("", ": the file is empty"),
    "header only": (HEADER, ": no data rows"),
    "missing column": (
        "target,source,score\nt1,a,0.5",
        ", line 1: no column 'single_task_score'; expected the columns target, source, score, "
        "single_task_score",
    ),
    "validation without its single-task column": (
        "target,source,score,single_task_score,validation_score\nt1,a,0.5,0.4,0.5",
        ", line 1: no column 'single_task_validation_score'",
    ),
    "a target without a single-task score": (
        MATRIX.replace(",0.40,0.42,", ",,0.42,"),
        ", line 9, column 'single_task_score': target 't2' has no single-task score",
    ),
    "two single-task scores": (
        _replace(6, "t1,a,lr2,0,0.62,0.60,0.61,0.58,0.8,0.9,"),
        ", line 6, column 'single_task_score': target 't1' has another single-task score on line 2",
    ),
    "duplicate rows": (
        _replace(5, "t1,a,lr1,0,0.60,0.62,0.60,0.58,0.4,0.9,y"),
        ", line 5: duplicate row: target 't1', source 'a', setting 'lr1', seed 0 is also on line 3",
    ),
    "duplicate rows without seeds": (
        "target,source,score,single_task_score\nt1,a,0.5,0.4\nt1,a,0.6,0.4",
        ", line 3: duplicate row: target 't1', source 'a', setting 'default' is also on line 2; "
        "expected one row per (target, source, setting); add a seed column",
    ),
    "non-numeric score": (
        _replace(4, "t1,b,lr1,0,high,0.50,,,0.4,0.2,"),
        ", line 4, column 'score': not a number",
    ),
    "non-numeric single-task score": (
        _replace(4, "t1,b,lr1,0,0.55,0.50,0.6o,,0.4,0.2,"),
        ", line 4, column 'single_task_score': not a number",
    ),
    "infinite validation score": (
        _replace(4, "t1,b,lr1,0,0.55,inf,,,0.4,0.2,"),
        ", line 4, column 'validation_score': not a number",
    ),
    "empty score": (
        _replace(4, "t1,b,lr1,0,,0.50,,,0.4,0.2,"),
        ", line 4, column 'score': empty cell",
    ),
    "negative hours": (
        _replace(4, "t1,b,lr1,0,0.55,0.50,,,-1,0.2,"),
        ", line 4, column 'hours': not hours; expected hours ≥ 0",
    ),
    "non-integer seed": (
        _replace(4, "t1,b,lr1,zero,0.55,0.50,,,0.4,0.2,"),
        ", line 4, column 'seed': not an integer seed",
    ),
    "a signal with a typo": (
        _replace(4, "t1,b,lr1,0,0.55,0.50,,,0.4,0.2x,"),
        ", line 4, column 'textemb_cosine': not a number in a signal column",
    ),
    "a signal that differs between seeds": (
        _replace(2, "t1,a,lr1,1,0.70,0.66,0.60,0.58,0.5,0.8,x"),
        ", line 3, column 'textemb_cosine': another value of the signal on line 2",
    ),
    "a source that is its target": (
        _replace(4, "t1,t1,lr1,0,0.55,0.50,,,0.4,0.2,"),
        ", line 4, column 'source': source 't1' is its target",
    ),
    "an empty target": (
        _replace(4, ",b,lr1,0,0.55,0.50,,,0.4,0.2,"),
        ", line 4, column 'target': empty cell",
    ),
    "a signal named as a pool column": (
        "target,source,score,single_task_score,real_f1\nt1,a,0.5,0.4,0.5",
        ", line 1, column 'real_f1': column 'real_f1' is a name of the pool table",
    ),
    "a wrong number of fields": (
        _replace(4, "t1,b,lr1,0,0.55"),
        ", line 4: wrong number of fields",
    ),
}


def _one_line_error(args: list[str], expected: str, run: Path) -> None:
    result = runner.invoke(app, ["tables", "import-matrix", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not run.exists()  # nothing written


@pytest.mark.parametrize("case", list(BAD_PLAIN))
def test_a_bad_plain_matrix_is_one_line_exit_2_and_writes_nothing(
    case: str, tmp_path: Path
) -> None:
    text, expected = BAD_PLAIN[case]
    path = _write(tmp_path, text)
    run = tmp_path / "run"
    _one_line_error([str(path), str(run)], f"{path}{expected}", run)
    with pytest.raises(DataError):
        read_matrix(path)


def test_a_folder_that_is_not_a_matrix_run_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, MATRIX)
    run = tmp_path / "run"
    run.mkdir()
    (run / "store.sqlite").write_text("not mine", encoding="utf-8")
    result = runner.invoke(app, ["tables", "import-matrix", str(path), str(run)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {run}: not empty and not a matrix run (no matrix.json); import into a new "
        "or empty folder"
    ]
    assert sorted(p.name for p in run.iterdir()) == ["store.sqlite"]
    with pytest.raises(TransferScoutError, match="not a matrix run"):
        load_matrix_table(run)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert import_matrix(path, empty).candidates == 9  # an empty folder is fine


def test_an_unknown_format_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, MATRIX)
    run = tmp_path / "run"
    _one_line_error(
        [str(path), str(run), "--format", "excel"],
        "matrix format 'excel'; expected one of plain, model-recycling",
        run,
    )


def test_the_model_recycling_roberta_base_table(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["tables", "import-matrix", str(ROBERTA), str(run), "--format", "model-recycling"]
    )
    assert result.exit_code == 0, result.output
    # The file: 1278 checkpoints (the base model first, and once more on line 251), 36 target
    # columns; 386 checkpoints are evaluated on all 36 targets, 891 on none.
    assert "36 targets, 385 sources, 1 setting, 13860 candidates (from 1278 rows" in result.stdout
    assert "equal cost per trial" in result.stdout
    assert "one score: decisions and truth read the same score" in result.stdout
    assert "signals: mnli_lp" in result.stdout
    meta = json.loads((run / "matrix.json").read_text(encoding="utf-8"))
    assert meta["left_out"] == {
        "the base model's own rows (no transfer)": 1,
        "checkpoints evaluated on no target": 891,
    }
    assert meta["targets"][:3] == ["20_newsgroup", "ag_news", "amazon_reviews_multi"]
    assert "roberta-base" not in meta["sources"]
    table = load_matrix_table(run)
    assert "avg" not in table.columns  # the mean over the targets is the truth: not a signal
    assert table.groupby("target").size().eq(385).all()
    # line 3 of the file: ibm/ColD-Fusion-itr13-seed2, mnli_lp 84.79454841334419, cb
    # 89.28571428571429; the base model (line 2) has 67.76785714285714 on cb
    cell = table.set_index(["target", "source"]).loc[("cb", "ibm/ColD-Fusion-itr13-seed2")]
    assert cell["real_f1"] == pytest.approx(0.8928571428571429, rel=1e-12)  # ÷ 100 rounds
    assert cell["target_score"] == pytest.approx(0.6776785714285714, rel=1e-12)
    assert cell["first_validation_gain"] == pytest.approx(0.8928571 - 0.6776786, abs=1e-7)
    assert cell["mnli_lp"] == 84.79454841334419  # the signal keeps the file's scale
    assert table["mnli_lp"].notna().all()
    assert table["real_f1"].between(-1, 1).all()


def test_the_pool_search_runs_on_model_recycling(tmp_path: Path) -> None:
    table = read_matrix(ROBERTA, format="model-recycling")
    model = AdditiveGainModel(table, ["setting"], PoolPrior(signals=("mnli_lp",)))
    hours = table["predicted_hours"].fillna(1.0).to_numpy()  # NaN: equal cost per trial
    observed: dict[int, float] = {}
    for step in (1, 2, 3):
        pick = pool_pick(
            model,
            table["target"].tolist(),
            hours,
            observed,
            [],
            hours_left=None,
            margin=0.0,
            seed=0,
            step=step,
        )
        assert pick.row is not None and pick.row not in observed
        observed[pick.row] = float(table["first_validation_gain"].iloc[pick.row])
    picked = table.iloc[list(observed)]
    assert picked["target"].is_unique  # the first picks spread over targets
    # before any result the prior orders by mnli_lp: the first pick is its target's best
    first = table.iloc[next(iter(observed))]
    assert first["mnli_lp"] == table.loc[table["target"] == first["target"], "mnli_lp"].max()


def test_repeated_checkpoints_of_t5_v1_1_are_one_each(tmp_path: Path) -> None:
    table = read_matrix(RECYCLING / "google_t5-v1_1-base_table.csv", format="model-recycling")
    # 140 checkpoints after the base model: 7 listed twice (the repeat with mnli_lp 0.0), 95
    # evaluated on no target: 38 sources
    assert table["source"].nunique() == 38 and len(table) == 38 * 36
    row = table[(table["source"] == "shaiman12/flan-t5-base-samsum") & (table["target"] == "cb")]
    assert row["mnli_lp"].tolist() == [84.77420667209114]  # the first row's, not the 0.0


def _recycling(
    tmp_path: Path, lines: int, change: dict[tuple[int, str], str], drop: str | None = None
) -> Path:
    """The first ``lines`` lines of the roberta-base table, cells changed by (line, column)."""
    with ROBERTA.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[:lines]
    header = rows[0]
    for (line, column), value in change.items():
        rows[line - 1][header.index(column)] = value
    if drop is not None:
        at = header.index(drop)
        rows = [row[:at] + row[at + 1 :] for row in rows]
    path = tmp_path / "roberta-base_table.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_small_model_recycling_table_keeps_a_missing_probe_as_nan(tmp_path: Path) -> None:
    path = _recycling(tmp_path, 4, {(3, "mnli_lp"): "", (4, "cb"): ""})
    table = read_matrix(path, format="model-recycling")
    assert len(table) == 36 + 35  # line 4's cb cell: not evaluated, left out
    first = table[table["source"] == "ibm/ColD-Fusion-itr13-seed2"]
    assert first["mnli_lp"].isna().all()
    assert table.loc[table["source"] != "ibm/ColD-Fusion-itr13-seed2", "mnli_lp"].notna().all()


BAD_RECYCLING = {
    "missing mnli_lp": (
        {},
        "mnli_lp",
        "line 1: no column 'mnli_lp'",
    ),
    "non-numeric score": (
        {(3, "boolq"): "eighty"},
        None,
        "line 3, column 'boolq': not accuracy × 100",
    ),
    "a score above 100": (
        {(4, "rte"): "172.5"},
        None,
        "line 4, column 'rte': not a score × 100",
    ),
    "a target without a single-task score": (
        {(2, "wic"): ""},
        None,
        "line 2, column 'wic': target 'wic' has no single-task score",
    ),
    "a target without a candidate": (
        {(3, "wsc"): "", (4, "wsc"): ""},
        None,
        "line 1, column 'wsc': target 'wsc' has no candidate",
    ),
    "the first row is not the base model": (
        {(2, "model_name"): "roberta-large"},
        None,
        "line 2, column 'model_name': the first row is not the base model",
    ),
    "a checkpoint twice with other scores": (
        {(4, "model_name"): "ibm/ColD-Fusion-itr13-seed2"},
        None,
        "line 4, column 'model_name': duplicate row: checkpoint 'ibm/ColD-Fusion-itr13-seed2' "
        "is also on line 3",
    ),
}


@pytest.mark.parametrize("case", list(BAD_RECYCLING))
def test_a_bad_model_recycling_table_is_one_line_exit_2_and_writes_nothing(
    case: str, tmp_path: Path
) -> None:
    change, drop, expected = BAD_RECYCLING[case]
    path = _recycling(tmp_path, 4, change, drop)
    run = tmp_path / "run"
    _one_line_error([str(path), str(run), "--format", "model-recycling"], expected, run)
