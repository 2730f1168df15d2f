from __future__ import annotations

from pathlib import Path

import pytest

from transferscout.config import RunConfig, load_config
from transferscout.errors import ConfigError, DataError
from transferscout.training.settings import StageSettings


def test_defaults() -> None:
    config = load_config()
    assert config == RunConfig()
    assert config.data.corpus == "disaster-response"
    assert config.grid.spec().target_settings == (StageSettings(),)


def test_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(
        '[data]\ntasks = ["food", "water"]\nmax_train_examples = 500\n'
        "[encoder]\nnum_layers = 2\n"
        "[grid.target]\nlearning_rate = [1e-5, 3e-5]\nepochs = [1, 2]\n"
    )
    config = load_config(
        path, ["grid.seeds=[0, 1]", "data.max_train_examples=none", "executor.kind=ray"]
    )
    assert config.data.tasks == ["food", "water"]
    assert config.data.max_train_examples is None
    assert config.encoder.spec().num_layers == 2
    assert len(config.grid.spec().target_settings) == 4
    assert config.grid.seeds == [0, 1]
    assert config.executor.options().executor == "ray"
    assert config.to_dict()["grid"]["target"]["learning_rate"] == [1e-5, 3e-5]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("grid.seedz=[1]", "unknown configuration key 'grid.seedz'; did you mean 'grid.seeds'"),
        ("data.multilable_column=x", "did you mean 'data.multilabel_column'"),
        ("grid.zzz=1", r"'grid.zzz'; expected one of grid\.targets, grid\.sources"),
        ("data.seed='x'", "data.seed = 'x'; expected int"),
        ("data.all_tasks=1", "data.all_tasks = 1; expected bool"),
        ("grid.target.epochs=[1.5]", r"grid.target.epochs\[0\] = 1.5; expected int"),
        ("executor.workers=0", "^executor.workers = 0; expected at least 1"),
        ("grid.target.learning_rate=[]", "non-empty list"),
        ("data.cap_strategy=oversample", "^data.cap_strategy = 'oversample'"),
        ("seeds", "expected KEY=VALUE"),
        ("grid=3", "grid: expected a table"),
        ("evaluation.meta_seeds=0", "meta_seeds = 0; expected at least 1"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_one_value_where_a_list_is_expected_is_a_list_of_one(tmp_path: Path) -> None:
    config = load_config(None, ["grid.target.epochs=1", "grid.target.learning_rate=3e-4"])
    assert config.to_dict()["grid"]["target"]["epochs"] == [1]
    assert config.to_dict()["grid"]["target"]["learning_rate"] == [3e-4]
    # The same trials as the list form.
    listed = load_config(None, ["grid.target.epochs=[1]", "grid.target.learning_rate=[3e-4]"])
    assert config.grid.spec() == listed.grid.spec()
    # A table where an array of tables is expected says how to write one.
    path = tmp_path / "run.toml"
    path.write_text('[data]\ncorpus = "none"\n[data.tagged]\nname = "ner"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"expected a list of tables: \[\[data.tagged\]\]"):
        load_config(path)


def test_evaluation_seeds_and_the_retired_random_permutations() -> None:
    settings = load_config(None, ["evaluation.meta_seeds=3", "evaluation.seed=4"]).evaluation
    assert settings.settings().seeds == [4, 5, 6]
    # Earlier runs' files name random_permutations; they still load (the baseline is exact).
    old = load_config(None, ["evaluation.random_permutations=200"]).evaluation.settings()
    assert old == load_config().evaluation.settings()


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[data\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_signal_defaults_are_derived_from_the_grid_and_explicit_values_win() -> None:
    config = load_config(
        None,
        ["grid.target.max_length=[48, 64]", "grid.source.max_length=[32]", "grid.precision=bf16"],
    )
    ansat = config.ansat_settings()
    assert ansat.attribution.max_length == 64  # the grid's longest
    assert ansat.attribution.precision == "bf16"  # the grid's precision
    assert ansat.adaptive is not None and ansat.attribution.n_steps == 50  # adaptive, at most 50
    assert ansat.documents_from_budget and ansat.max_documents == 100
    pairs = config.pair_settings()
    assert (pairs.max_length, pairs.precision) == (64, "bf16")
    explicit = load_config(
        None,
        [
            "grid.target.max_length=[64]",
            "signals.ansat.n_steps=20",
            "signals.ansat.max_length=128",
            "signals.ansat.max_documents=30",
            "signals.pairs.max_length=96",
            "signals.precision=fp32",
            "grid.precision=bf16",
        ],
    )
    ansat = explicit.ansat_settings()
    assert ansat.adaptive is None and ansat.attribution.n_steps == 20
    assert ansat.attribution.max_length == 128 and ansat.attribution.precision == "fp32"
    assert not ansat.documents_from_budget and ansat.max_documents == 30
    assert explicit.pair_settings().max_length == 96
    assert explicit.signal_budget(1000.0).seconds == 50.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("signals.budget=0", "budget = 0.0; expected a share"),
        ("signals.precision=fp16", "precision = 'fp16'"),
        ("signals.ansat.tolerance=0", "tolerance = 0.0; expected > 0"),
    ],
)
def test_bad_signal_settings(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_task_kinds_and_pair_column(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(
        '[data]\npath = "d.csv"\nlabel_columns = ["topic", "score"]\ntext_pair_column = "b"\n'
        'task_kinds = { topic = "multiclass", score = "regression" }\n'
    )
    config = load_config(path)
    assert config.data.task_kinds == {"topic": "multiclass", "score": "regression"}
    assert config.data.text_pair_column == "b"
    with pytest.raises(ConfigError, match="unknown task kind 'ordinal'"):
        load_config(path, ["data.task_kinds={topic='ordinal'}"])
    with pytest.raises(ConfigError, match=r"data.task_kinds = \[\]; expected a table"):
        load_config(path, ["data.task_kinds=[]"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("grid.target.learning_rate=[-1.0]", "grid.target.learning_rate = -1.0; expected a pos"),
        ("grid.source.batch_size=[0]", "grid.source.batch_size = 0; expected an integer >= 1"),
        ("grid.target.warmup_ratio=[1.0]", "grid.target.warmup_ratio = 1.0; expected a number"),
        ("executor.kind=spark", "executor.kind = 'spark'; expected 'local' or 'ray'"),
        ("executor.max_attempts=0", "executor.max_attempts = 0; expected at least 1"),
        ("encoder.num_layers=0", "encoder.num_layers = 0; expected at least 1"),
        ("data.max_train_examples=1", "data.max_train_examples = 1; expected at least 2"),
        ("data.fractions=[0.5, 0.5]", "data.fractions = "),
        ("signals.ansat.n_steps=0", "signals.ansat.n_steps = 0; expected at least 1"),
        ("signals.ansat.split=dev", "signals.ansat.split = 'dev'"),
        ("signals.pairs.max_examples=2", "signals.pairs.max_examples = 2; expected at least 4"),
        ("signals.pairs.batch_size=0", "signals.pairs.batch_size = 0; expected at least 1"),
        ("evaluation.bootstrap_resamples=0", "evaluation.bootstrap_resamples = 0; expected at"),
        ("evaluation.n_estimators=0", "evaluation.n_estimators = 0; expected at least 1"),
        ("evaluation.rmse_ks=[0, 5]", r"evaluation.rmse_ks = \[0, 5\]; expected integers >= 1"),
        ("evaluation.feature_sets=['f1+bogus']", "evaluation.feature_sets: unknown feature group"),
        ("evaluation.adaptive_feature_set=nope", "evaluation.adaptive_feature_set: unknown"),
    ],
)
def test_range_errors_name_the_full_dotted_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message):
        load_config(None, [override])


def test_data_path_is_relative_to_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "run.toml").write_text('[data]\npath = "data/tweets.csv"\nlabel_columns = ["a"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("../project/run.toml"))
    assert config.data.path == str(folder / "data" / "tweets.csv")
    # a path given on the command line is relative to the working folder, as any argument
    config = load_config(Path("../project/run.toml"), ["data.path=mine.csv"])
    assert config.data.path == str(elsewhere / "mine.csv")


#: A ``[data]`` section with every kind of data file path, all relative.
EVERY_PATH = """
[data]
path = "table.csv"
label_columns = ["a"]
[[data.tables]]
path = "more/pairs.csv"
label_columns = ["b"]
[[data.tagged]]
name = "ner"
train = "ner/train.conll"
validation = "ner/dev.conll"
test = "../shared/test.conll"
[[data.questions]]
name = "qa"
path = "squad.json"
"""


def test_every_data_file_path_is_relative_to_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "run.toml").write_text(EVERY_PATH)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    data = load_config(Path("../project/run.toml")).data
    assert data.path == str(folder / "table.csv")
    assert data.tables[0].path == str(folder / "more" / "pairs.csv")
    (tagged,) = data.tagged
    assert (tagged.path, tagged.train, tagged.validation, tagged.test) == (
        None,
        str(folder / "ner" / "train.conll"),
        str(folder / "ner" / "dev.conll"),
        str(folder / ".." / "shared" / "test.conll"),
    )
    assert data.questions[0].path == str(folder / "squad.json")


MIXED_POOL = """
[data]
path = "kinds.csv"
label_columns = ["urgent", "topic"]
task_kinds = { topic = "multiclass" }
id_column = "id"
fractions = [0.6, 0.2, 0.2]

[[data.tables]]
path = "pairs.csv"
text_pair_column = "second"
label_columns = ["share"]
id_column = "id"
"""


def _mixed_pool(folder: Path) -> Path:
    from tests.conftest import kind_rows, pair_rows, write_csv

    write_csv(folder / "kinds.csv", kind_rows())
    write_csv(folder / "pairs.csv", pair_rows())
    path = folder / "run.toml"
    path.write_text(MIXED_POOL)
    return path


def test_data_tables_join_a_pair_table_to_a_single_text_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import PAIR_SPEC
    from transferscout.config import config_from_dict
    from transferscout.tasks import TaskOptions, load_tasks

    path = _mixed_pool(tmp_path)
    monkeypatch.chdir(tmp_path.parent)  # the tables' paths are next to the file
    config = load_config(path)
    assert config.data.tables[0].path == str(tmp_path / "pairs.csv")
    tasks = config.data.load()
    assert tasks.names == ["urgent", "topic", "share"]
    assert [tasks[n].is_pair for n in tasks.names] == [False, False, True]
    assert tasks["topic"].kind.name == "multiclass"
    # each table's tasks are exactly what the table alone gives, prepared as [data] says
    alone = load_tasks(tmp_path / "pairs.csv", PAIR_SPEC, TaskOptions(fractions=(0.6, 0.2, 0.2)))
    assert tasks["share"].fingerprint == alone["share"].fingerprint
    assert config_from_dict(config.to_dict()) == config  # config.json holds the tables
    assert "tables" not in load_config(None).to_dict()["data"]  # a one-table run, as before


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        ("bogus = 1\n", ConfigError, r"unknown configuration key 'data.tables\[1\].bogus'"),
        ('text_column = "text"\n', ConfigError, r"^data.tables\[1\]: give exactly one of path"),
        ('path = "pairs.csv"\nlabel_columns = ["share"]\n', DataError, "duplicate task name"),
        (
            'path = "kinds.csv"\nlabel_columns = ["words"]\ntask_kinds = { words = "ordinal" }\n',
            ConfigError,
            r"^data.tables\[1\]: unknown task kind 'ordinal'",
        ),
        (
            'path = "kinds.csv"\nlabel_columns = ["words"]\n'
            'task_kinds = { topic = "multiclass" }\n',
            ConfigError,
            r"^data.tables\[1\]: kinds\['topic'\] = 'multiclass', but 'topic' is not a label",
        ),
    ],
)
def test_a_bad_table_is_refused_before_any_work(
    tmp_path: Path, extra: str, error: type[Exception], message: str
) -> None:
    path = _mixed_pool(tmp_path)
    path.write_text(MIXED_POOL + "\n[[data.tables]]\n" + extra)
    with pytest.raises(error, match=message):
        load_config(path).data.load()


@pytest.mark.parametrize("section", ["tagged", "questions"])
def test_a_file_task_without_its_name_is_one_line_naming_the_entry(
    tmp_path: Path, section: str
) -> None:
    from transferscout.config import DataConfig

    path = tmp_path / "run.toml"
    path.write_text(f'[data]\n[[data.{section}]]\nname = "a"\npath = "a.txt"\n'
                    f'[[data.{section}]]\npath = "b.txt"\n')  # fmt: skip
    expected = f"data.{section}[1]: no 'name' key; every [[data.{section}]] entry needs one"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected
    # the same entries as a target's [data] gives them (rank/search --data-config)
    with pytest.raises(ConfigError) as info:
        DataConfig(**{section: [{"name": "a", "path": "a.txt"}, {"path": "b.txt"}]})
    assert str(info.value) == expected


def test_overrides_never_edit_the_profile_they_start_from() -> None:
    edited = load_config(profile="study", overrides=["data.max_train_examples=300"])
    again = load_config(profile="study")
    assert edited.data.max_train_examples == 300
    assert again.data.max_train_examples == 500


def test_the_compute_matched_baseline_is_on_in_the_study_profile_only() -> None:
    assert load_config(profile="study").grid.spec().matched_single_task is True
    assert load_config(profile="demo").grid.spec().matched_single_task is False
    assert load_config().grid.spec().matched_single_task is False
    off = load_config(profile="study", overrides=["grid.matched_single_task=false"])
    assert off.grid.spec().matched_single_task is False
