"""Tagged sentences from CoNLL files, JSONL, Parquet and datasets folders; BIO checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transferscout.errors import DataError
from transferscout.tasks.tagged import read_tagged

CONLL = """-DOCSTART- -X- -X- O

Flood NN B-NP O
in IN B-PP O
New NNP B-NP B-LOC
York NNP I-NP I-LOC

Send VB B-VP O
Ana NNP B-NP I-PER
"""


def test_conll_with_a_chosen_tag_column(tmp_path: Path) -> None:
    path = tmp_path / "d.conll"
    path.write_text(CONLL, encoding="utf-8")
    entities = read_tagged(path, tag_column=3)
    assert entities.words == [("Flood", "in", "New", "York"), ("Send", "Ana")]
    # "I-PER" after "O" breaks IOB2: reported (naming its lines and word) and read as B-PER
    assert entities.tags == [("O", "O", "B-LOC", "I-LOC"), ("O", "B-PER")]
    assert entities.locations == ["lines 3-6", "lines 8-9"]
    assert len(entities.bio_warnings) == 1
    assert "lines 8-9" in entities.bio_warnings[0] and "word 2 'I-PER'" in entities.bio_warnings[0]
    assert entities.tag_names == ("B-LOC", "B-PER", "I-LOC", "O")
    path.write_text("São\u00a0Paulo\tB-LOC\r\nrain\u2028x O\n", encoding="utf-8")
    odd = read_tagged(path, tag_column=1)  # only spaces/tabs split fields, only \n ends lines
    assert odd.words == [("São\u00a0Paulo", "rain\u2028x")] and odd.tags == [("B-LOC", "O")]
    path.write_text(CONLL, encoding="utf-8")
    pos = read_tagged(path, format="conll", tag_column=1)  # not BIO: nothing repaired
    assert pos.tags[1] == ("VB", "NNP") and pos.bio_warnings == ()


def test_conll_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.conll"
    path.write_text("Flood NN B-NP O\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1: no tag column 4") as error:
        read_tagged(path, tag_column=4)
    assert "1..3" in str(error.value)
    with pytest.raises(DataError, match="not a column index"):
        read_tagged(path, tag_column="tags")
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="no sentences"):
        read_tagged(path, tag_column=1)


def _records(tmp_path: Path, records: list[dict[str, object]]) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_and_parquet_token_and_tag_lists(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [
        {"tokens": ["need", "water"], "tags": ["O", "B-AID"]},
        {"tokens": ["in", "Gonaives", "city"], "tags": ["O", "B-LOC", "I-LOC"]},
    ]
    from_jsonl = read_tagged(_records(tmp_path, records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "d.parquet")
    from_parquet = read_tagged(tmp_path / "d.parquet")
    for sentences in (from_jsonl, from_parquet):
        assert sentences.words == [("need", "water"), ("in", "Gonaives", "city")]
        assert sentences.tags == [("O", "B-AID"), ("O", "B-LOC", "I-LOC")]
        assert sentences.tag_names == ("B-AID", "B-LOC", "I-LOC", "O")
    assert from_jsonl.locations == ["line 1", "line 2"]


def test_table_errors_name_the_record(tmp_path: Path) -> None:
    bad_length = [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["a", "b"], "tags": ["O"]}]
    with pytest.raises(DataError, match="line 2, column 'tags': words and tags differ"):
        read_tagged(_records(tmp_path, bad_length))
    not_a_list = [{"tokens": "a b", "tags": ["O", "O"]}]
    with pytest.raises(DataError, match="line 1, column 'tokens': cannot read the words"):
        read_tagged(_records(tmp_path, not_a_list))
    with pytest.raises(DataError, match="no tags column 'ner'"):
        read_tagged(_records(tmp_path, [{"tokens": ["a"], "tags": ["O"]}]), tag_column="ner")
    with pytest.raises(DataError, match="is an index"):
        read_tagged(_records(tmp_path, [{"tokens": ["a"], "tags": ["O"]}]), tag_column=1)


def test_a_datasets_folder_with_a_classlabel_sequence(tmp_path: Path) -> None:
    import datasets

    names = ["O", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "words": datasets.Sequence(datasets.Value("string")),
            "ner": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    data = {"words": [["in", "Jacmel", "town"], ["help"]], "ner": [[0, 1, 2], [0]]}
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(tmp_path / "d"))
    sentences = read_tagged(tmp_path / "d", tokens_column="words", tag_column="ner")
    assert sentences.tags == [("O", "B-LOC", "I-LOC"), ("O",)]
    assert sentences.tag_names == ("O", "B-LOC", "I-LOC")  # the ClassLabel's order
    assert sentences.locations == ["row 1", "row 2"]
    # an I-X repaired to a B-X the names lack: B-X comes after the declared names
    names = ["O", "I-LOC"]
    features["ner"] = datasets.Sequence(datasets.ClassLabel(names=names))
    data = {"words": [["in", "Jacmel"]], "ner": [[0, 1]]}
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(tmp_path / "e"))
    repaired = read_tagged(tmp_path / "e", tokens_column="words", tag_column="ner")
    assert repaired.tags == [("O", "B-LOC")] and repaired.tag_names == ("O", "I-LOC", "B-LOC")
