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
    with pytest.raises(DataError) as error:
        read_tagged(path, tag_column=4)
    assert str(error.value) == (
        f"{path}, line 1: no tag column 4: the line has 4 columns; expected at least 5 columns "
        "separated by spaces or tabs: the word, then its tag at index 4 (tag_index), "
        "got 'Flood NN B-NP O'"
    )
    path.write_text("rain\n", encoding="utf-8")  # a word without its tag
    with pytest.raises(DataError, match="line 1: no tag column 1: the line has 1 column; "):
        read_tagged(path, tag_column=1)
    path.write_text("Flood B-NP\nrain\n", encoding="utf-8")  # fewer columns than line 1
    with pytest.raises(DataError, match="line 2: the line has 1 column, but the file's first"):
        read_tagged(path, tag_column=1)
    with pytest.raises(DataError, match="expected a tag_index of 1 or more"):
        read_tagged(path, tag_column=0)
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


def _gazetteer_file(tmp_path: Path, name: str = "g.conll", n: int = 40, seed: int = 0) -> Path:
    from tests.conftest import gazetteer_conll

    return gazetteer_conll(tmp_path / name, n, seed=seed)


def test_a_tagged_task_is_split_checked_and_hashed(tmp_path: Path) -> None:
    from transferscout.kinds import get_kind
    from transferscout.tasks import TaskOptions
    from transferscout.tasks.tagged import tagged_task

    path = _gazetteer_file(tmp_path)
    options = TaskOptions(fractions=(0.6, 0.2, 0.2), seed=3)
    task, notes = tagged_task("places", read_tagged(path, tag_column=2), options)
    assert task.kind is get_kind("tagging") and notes == []
    assert task.classes == ("B-LOC", "B-PER", "I-LOC", "O")
    assert [len(s) for _, s in task.splits()] == [24, 8, 8]
    first = task.train.ids[0]
    assert first.startswith("g.conll:lines ")
    # the text is the words joined by single spaces, one tag id per word
    assert all(
        len(text.split(" ")) == len(tags)
        for text, tags in zip(task.train.texts, task.train.labels, strict=True)
    )
    again, _ = tagged_task("places", read_tagged(path, tag_column=2), options)
    assert again.fingerprint == task.fingerprint
    other, _ = tagged_task("places", read_tagged(path, tag_column=2), TaskOptions(seed=4))
    assert other.fingerprint != task.fingerprint


def test_three_files_are_the_three_splits_and_caps_apply(tmp_path: Path) -> None:
    from transferscout.tasks import TaskOptions
    from transferscout.tasks.tagged import TaggedSpec, load_tagged_task

    files = [_gazetteer_file(tmp_path, f"{s}.conll", 30, seed=i) for i, s in enumerate("abc")]
    spec = TaggedSpec(
        "places", train=str(files[0]), validation=str(files[1]), test=str(files[2]), tag_index=2
    )
    task, notes = load_tagged_task(spec, TaskOptions(max_train_examples=20))
    assert [len(s) for _, s in task.splits()] == [20, 30, 30]
    assert task.test.ids[0].startswith("c.conll:") and notes[0].kind == "capped"


def test_a_split_without_entities_is_refused(tmp_path: Path) -> None:
    from transferscout.tasks import TaskOptions
    from transferscout.tasks.tagged import tagged_task

    path = tmp_path / "o.conll"
    path.write_text("a O\nb O\n\nc O\n\nd B-LOC\n\ne O\n")
    with pytest.raises(DataError, match="0 sentence"):
        tagged_task("t", read_tagged(path, tag_column=1), TaskOptions(fractions=(0.5, 0.25, 0.25)))


def test_a_word_with_a_space_is_an_error_naming_its_record(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"tokens": ["New York", "is"], "tags": ["B-LOC", "O"]}) + "\n")
    with pytest.raises(DataError, match=r"line 1.*without spaces"):
        read_tagged(path)


def test_the_run_configuration_adds_tagged_tasks_to_the_table(tmp_path: Path) -> None:
    from tests.conftest import kind_rows, write_csv
    from transferscout.config import load_config
    from transferscout.errors import ConfigError

    write_csv(tmp_path / "kinds.csv", kind_rows(30))
    _gazetteer_file(tmp_path, "places.conll")
    (tmp_path / "run.toml").write_text(
        """
[data]
path = "kinds.csv"
label_columns = ["urgent", "topic"]
task_kinds = { topic = "multiclass" }
fractions = [0.6, 0.2, 0.2]
tasks = ["places", "urgent"]

[[data.tagged]]
name = "places"
path = "places.conll"
tag_index = 2
"""
    )
    config = load_config(tmp_path / "run.toml")  # paths are relative to the file
    tasks = config.data.load()
    assert tasks.names == ["places", "urgent"]
    assert [tasks[n].kind.name for n in tasks.names] == ["tagging", "binary"]
    only = load_config(
        tmp_path / "run.toml", ["data.tasks=none", "data.path=none", "data.corpus=none"]
    )
    assert only.data.load().names == ["places"]
    with pytest.raises(ConfigError, match=r"either path .* or all of train"):
        load_config(tmp_path / "run.toml", ["data.tagged=[{name = 'x'}]"])


def test_a_tagging_label_column_of_a_table(tmp_path: Path) -> None:
    from tests.conftest import write_csv
    from transferscout.tasks import TableSpec, TaskOptions, load_tasks

    rows = [
        {"text": "doctor in the city", "ner": "B-PER O O B-LOC"},
        {"text": "we need food", "ner": "O O O"},
    ] * 6
    rows = [{**r, "text": f"{r['text']} {i}", "ner": r["ner"] + " O"} for i, r in enumerate(rows)]
    spec = TableSpec(label_columns=("ner",), kinds={"ner": "tagging"})
    tasks = load_tasks(write_csv(tmp_path / "t.csv", rows), spec, TaskOptions(min_positives=1))
    assert tasks["ner"].classes == ("B-LOC", "B-PER", "O")
    rows[3]["ner"] = "O O"
    with pytest.raises(DataError, match=r"line 5.*4 tags, one per space-separated word, got 2"):
        load_tasks(write_csv(tmp_path / "bad.csv", rows), spec, TaskOptions())


def _refused(config: Path) -> list[str]:
    """``tasks describe`` and ``run`` of ``config``: both exit 2 with the same stderr lines.

    The run folder is never created.
    """
    from typer.testing import CliRunner

    from transferscout.cli import app

    runner = CliRunner()
    described = runner.invoke(app, ["tasks", "describe", "--config", str(config)])
    run = runner.invoke(app, ["run", str(config), "-o", str(config.parent / "run")])
    assert described.exit_code == run.exit_code == 2, described.output
    assert run.stderr == described.stderr
    assert not (config.parent / "run").exists()
    return described.stderr.strip().splitlines()


def test_a_conll_line_with_another_number_of_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ner.conll"
    path.write_text("-DOCSTART- -X- O\n\nwe X O\nneed X O\n\nneed extra X O\nfood X O\n")
    with pytest.raises(DataError) as error:
        read_tagged(path, tag_column=2)  # would read the tag 'X' for "need"
    message = (
        f"{path}, line 6: the line has 4 columns, but the file's first word line (line 3) "
        "has 3; expected 3 columns (separated by spaces or tabs) on every word line, got "
        "'need extra X O'"
    )
    assert str(error.value) == message
    config = tmp_path / "run.toml"
    config.write_text(
        '[data]\ncorpus = "none"\n\n[[data.tagged]]\nname = "ner"\npath = "ner.conll"\n'
        "tag_index = 2\n"
    )
    assert _refused(config) == [f"error: {message}"]
    path.write_text("we X O\nneed\tX  O \n\nfood X O\n")  # any spaces and tabs: 3 columns
    assert read_tagged(path, tag_column=2).words == [("we", "need"), ("food",)]


def test_a_tag_only_in_the_test_file_is_refused(tmp_path: Path) -> None:
    train = _gazetteer_file(tmp_path, "train.conll", 30, seed=0)
    _gazetteer_file(tmp_path, "dev.conll", 10, seed=1)
    test = _gazetteer_file(tmp_path, "test.conll", 10, seed=2)
    assert "MISC" not in train.read_text()
    test.write_text(test.read_text() + "\nhelp X O\nRed X B-MISC\nCross X I-MISC\n")
    lines = test.read_text().split("\n")
    first = lines.index("Red X B-MISC")  # the line before it, numbered from 1
    config = tmp_path / "run.toml"
    config.write_text(
        '[data]\ncorpus = "none"\n\n[[data.tagged]]\nname = "places"\ntrain = "train.conll"\n'
        'validation = "dev.conll"\ntest = "test.conll"\ntag_index = 2\n'
    )
    assert _refused(config) == [
        f"error: {test}, lines {first}-{first + 2}: task 'places': the tag 'B-MISC' occurs in "
        "the test split but never in training; expected every tag of validation and test to "
        "occur in training (add data, fix the tag, or change the split)"
    ]
    test.write_text(test.read_text().replace("MISC", "LOC"))  # tags training has: accepted
    from transferscout.config import load_config

    assert load_config(config).data.load()["places"].classes == ("B-LOC", "B-PER", "I-LOC", "O")


def test_a_tag_only_in_the_test_split_of_a_table_column_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.conftest import write_csv
    from transferscout.cli import app

    rows = [
        {"text": f"doctor in the city {i}", "ner": "B-PER O O B-LOC O", "split": split}
        for i, split in enumerate(["train"] * 4 + ["validation", "test"])
    ]
    rows[-1]["ner"] = "B-PER O O B-ORG O"
    data = write_csv(tmp_path / "t.csv", rows)
    result = CliRunner().invoke(
        app,
        [
            "tasks", "describe", "--data", str(data), "--label-columns", "ner",
            "--kinds", "ner=tagging", "--split-column", "split",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    # tag ids in tag order: B-LOC 0, B-ORG 1, B-PER 2, O 3
    assert result.stderr.strip().splitlines() == [
        f"error: {data}: task 'ner': tag id(s) [1] occur in the test split but never in "
        "training; expected every tag of validation and test to occur in training (add data, "
        "fix the tag, or change the split)"
    ]


#: A CoNLL-U file as UD treebanks ship them: comments, a multiword token (``2-3`` "del" =
#: "de" + "el"), an empty node (``4.1``), UPOS and XPOS columns.
CONLLU = """# newdoc id = d1
# sent_id = 1
# text = Voy del parque
1\tVoy\tir\tVERB\tVMIP1S0\t_\t0\troot\t_\t_
2-3\tdel\t_\t_\t_\t_\t_\t_\t_\t_
2\tde\tde\tADP\tSPS00\t_\t4\tcase\t_\t_
3\tel\tel\tDET\tDA0MS0\t_\t4\tdet\t_\t_
4\tparque\tparque\tNOUN\tNCMS000\t_\t1\tobl\t_\t_
4.1\tfue\tir\tVERB\t_\t_\t_\t_\t1:conj\t_

# sent_id = 2
# text = Llueve
1\tLlueve\tllover\tVERB\tVMIP3S0\t_\t0\troot\t_\tSpaceAfter=No
"""


def test_conllu_is_read_as_itself(tmp_path: Path) -> None:
    """Issue 31.2: comments, multiword ranges and empty nodes are no words; UPOS or XPOS."""
    path = tmp_path / "es.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    upos = read_tagged(path)
    assert upos.words == [("Voy", "de", "el", "parque"), ("Llueve",)]
    assert upos.tags == [("VERB", "ADP", "DET", "NOUN"), ("VERB",)]
    assert upos.locations == ["lines 4-9", "line 13"]  # word lines, not comments
    xpos = read_tagged(path, conllu_tags="xpos")
    assert xpos.tags[0] == ("VMIP1S0", "SPS00", "DA0MS0", "NCMS000")
    with pytest.raises(DataError, match="line 9, column 'XPOS': the word 'fue' has no XPOS tag"):
        path.write_text(CONLLU.replace("4.1\t", "5\t"), encoding="utf-8")
        read_tagged(path, conllu_tags="xpos")
    path.write_text(CONLLU.replace("\tparque\tparque", " parque parque"), encoding="utf-8")
    with pytest.raises(DataError, match="line 8: the line has 8 columns separated by tabs"):
        read_tagged(path)


def test_a_conllu_file_read_as_plain_conll_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "es.txt"
    path.write_text(CONLLU, encoding="utf-8")
    with pytest.raises(DataError, match=r'line 1: this is a CoNLL-U file.*format = "conllu"'):
        read_tagged(path, format="conll", tag_column=3)
    path.write_text(CONLLU.split("\n\n")[0].split("\n", 3)[3], encoding="utf-8")  # no comments
    with pytest.raises(DataError, match="this is a CoNLL-U file"):
        read_tagged(path, format="conll", tag_column=3)


def test_a_conllu_part_of_speech_task_in_a_run_configuration(tmp_path: Path) -> None:
    """A UD file in ``[[data.tagged]]``: the task is scored by token accuracy (stated or not)."""
    from transferscout.config import load_config

    sentences = [CONLLU.split("\n\n")[i % 2] for i in range(30)]
    (tmp_path / "ud.conllu").write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    (tmp_path / "run.toml").write_text(
        """
[data]
fractions = [0.6, 0.2, 0.2]

[[data.tagged]]
name = "pos"
path = "ud.conllu"
"""
    )
    config = load_config(tmp_path / "run.toml")
    task = config.data.load()["pos"]
    assert task.kind.name == "tagging-accuracy" and task.classes == ("ADP", "DET", "NOUN", "VERB")
    assert [len(s) for _, s in task.splits()] == [18, 6, 6]  # sentences, not lines
    text = (tmp_path / "run.toml").read_text()
    (tmp_path / "run.toml").write_text(text + 'metric = "macro_f1"\nconllu_tags = "xpos"\n')
    stated = load_config(tmp_path / "run.toml").data.load()["pos"]
    assert stated.kind.name == "tagging-macro-f1" and "NCMS000" in stated.classes
