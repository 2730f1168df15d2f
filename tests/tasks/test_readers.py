from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROWS, write_csv
from transferscout.errors import DataError
from transferscout.tasks.readers import read_table


def test_csv_columns_and_line_locations(small_csv: Path) -> None:
    table = read_table(small_csv)
    assert list(table.columns) == ["id", "text", "food", "water", "split"]
    assert table.columns["text"][0] == "we need food now"
    assert table.locations[:2] == ["line 2", "line 3"]
    assert len(table) == len(ROWS)
    assert table.splits is None


def test_csv_multiline_record_reports_its_line_span(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('text,food\n"two\nlines",1\nplain,0\n', encoding="utf-8")
    table = read_table(path)
    assert table.columns["text"] == ["two\nlines", "plain"]
    assert table.locations == ["lines 2-3", "line 4"]


def test_csv_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,food\nhello,1\n".encode())
    assert list(read_table(path).columns) == ["text", "food"]


def test_tsv(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "small.tsv", ROWS, delimiter="\t")
    assert read_table(path).columns["food"][:3] == ["1", "0", "1"]


def test_jsonl_keeps_types_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"text": "a", "labels": ["x", "y"]}\n\n{"text": "b", "labels": [], "extra": 1}\n',
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.columns["labels"] == [["x", "y"], []]
    assert table.columns["extra"] == [None, 1]
    assert table.locations == ["line 1", "line 3"]


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "labels": [["x"], ["x", "y"]]}), path)
    table = read_table(path)
    assert table.columns["labels"] == [["x"], ["x", "y"]]
    assert table.locations == ["row 1", "row 2"]


def test_hf_dataset_dict_folder_carries_its_splits(tmp_path: Path) -> None:
    import datasets

    parts = {
        "train": datasets.Dataset.from_dict({"text": ["a", "b"], "food": [1, 0]}),
        "test": datasets.Dataset.from_dict({"text": ["c"], "food": [1]}),
    }
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "dd"))
    table = read_table(tmp_path / "dd")
    assert table.columns["text"] == ["a", "b", "c"]
    assert table.splits == ["train", "train", "test"]
    assert table.locations[2] == "split 'test', row 1"


def test_hf_single_dataset_folder(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": ["a"], "food": [1]}).save_to_disk(str(tmp_path / "d"))
    table = read_table(tmp_path / "d")
    assert table.columns == {"text": ["a"], "food": [1]}
    assert table.splits is None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match=r"cannot tell the format from the suffix '\.xlsx'"):
        read_table(path)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,food\nok,1\ncaf\xe9 au lait,0\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert "latin1.csv" in message and "line 3" in message
    assert "not UTF-8 (byte 0xe9" in message
    assert info.value.where == "line 3"


def test_non_utf8_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    with pytest.raises(DataError, match="line 2: bytes that are not UTF-8"):
        read_table(path)


def test_duplicate_header_names_are_duplicate_task_names(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("text,food,food\na,1,0\n", encoding="utf-8")
    with pytest.raises(DataError, match="duplicate column name 'food'"):
        read_table(path)


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("text,food\na,1\nb,0,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3: wrong number of fields; expected 2 fields"):
        read_table(path)


def test_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2: not valid JSON"):
        read_table(path)


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text(json.dumps(["a", 1]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: not a JSON object"):
        read_table(path)


def test_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot read as a Hugging Face datasets folder"):
        read_table(tmp_path / "empty")


# Characters that str.splitlines() treats as line breaks but CSV and JSON do not.
UNICODE_BREAKS = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"]


@pytest.mark.parametrize("char", UNICODE_BREAKS)
def test_csv_field_with_a_unicode_line_separator_is_one_field(tmp_path: Path, char: str) -> None:
    path = tmp_path / "seps.csv"
    path.write_text(f"text,food\nfirst{char}half,1\nplain,0\n", encoding="utf-8")
    table = read_table(path)
    assert table.columns["text"] == [f"first{char}half", "plain"]
    assert table.columns["food"] == ["1", "0"]
    assert table.locations == ["line 2", "line 3"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_jsonl_string_with_a_unicode_line_separator_is_one_record(
    tmp_path: Path, char: str
) -> None:
    path = tmp_path / "seps.jsonl"
    path.write_text(f'{{"text": "first{char}half", "food": 1}}\n{{"text": "b"}}\n', "utf-8")
    table = read_table(path)
    assert table.columns["text"] == [f"first{char}half", "b"]
    assert table.locations == ["line 1", "line 2"]


def test_jsonl_with_windows_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text": "b"}\r\n')
    assert read_table(path).columns["text"] == ["a", "b"]


def test_csv_field_longer_than_the_csv_module_default_limit(tmp_path: Path) -> None:
    long_text = "word " * 40_000  # 200,000 characters; the csv module refuses > 131,072
    path = tmp_path / "long.csv"
    path.write_text(f'text,food\n"{long_text}",1\nshort,0\n', encoding="utf-8")
    assert read_table(path).columns["text"][0] == long_text


@pytest.mark.parametrize(
    ("name", "content"),
    [("header.csv", "text,food\n"), ("header.tsv", "text\tfood\n\n"), ("blank.jsonl", "\n\n")],
)
def test_a_file_without_data_rows_says_so(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=rf"{name}: no data rows"):
        read_table(path)


def test_parquet_without_rows_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    with pytest.raises(DataError, match=r"empty\.parquet: no data rows"):
        read_table(path)
