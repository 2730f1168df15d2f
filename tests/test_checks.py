from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import keyword_rows, write_csv
from transferscout.checks import check_before_training
from transferscout.cli import app
from transferscout.config import load_config
from transferscout.errors import ConfigError, EncoderError, TransferScoutError

CONFIG = """
[data]
path = "{data}"
label_columns = ["food", "water"]
id_column = "id"

[encoder]
source = "{encoder}"

[grid.target]
max_length = [32]

[grid.source]
max_length = [32]

[signals.ansat]
max_length = 32

[signals.pairs]
max_length = 32

[executor]
device = "cpu"
"""


@pytest.fixture
def configure(tmp_path: Path, tiny_encoder_dir: Path):  # type: ignore[no-untyped-def]
    data = write_csv(tmp_path / "data.csv", keyword_rows(30))

    def write(encoder: Path = tiny_encoder_dir) -> Path:
        path = tmp_path / "run.toml"
        path.write_text(CONFIG.format(data=data, encoder=encoder))
        return path

    return write


def _grid_run(config: Path, run_dir: Path, *overrides: str) -> tuple[int, str]:
    arguments = ["--quiet", "grid", "run", str(run_dir), "--config", str(config)]
    for override in overrides:
        arguments += ["--set", override]
    result = CliRunner().invoke(app, arguments)
    return result.exit_code, result.stderr


def _refused(config: Path, tmp_path: Path, *overrides: str) -> str:
    run_dir = tmp_path / "run"
    code, stderr = _grid_run(config, run_dir, *overrides)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1, stderr  # one line, no traceback
    assert not run_dir.exists()  # nothing written
    return stderr


def test_a_good_configuration_passes(configure, tiny_encoder_dir: Path) -> None:  # type: ignore[no-untyped-def]
    check_before_training(load_config(configure()))


def test_max_length_beyond_the_position_embeddings(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stderr = _refused(configure(), tmp_path, "grid.target.max_length=[256]")
    assert "grid.target.max_length = 256" in stderr and "for 128 tokens" in stderr
    with pytest.raises(ConfigError, match="signals.ansat.max_length = 200"):
        check_before_training(load_config(configure(), ["signals.ansat.max_length=200"]))


def test_unknown_family(configure, tmp_path: Path, tiny_encoder_dir: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "odd"
    shutil.copytree(tiny_encoder_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    stderr = _refused(configure(folder), tmp_path)
    assert "encoder family 'gpt2' is not supported" in stderr and "bert" in stderr


def test_no_tokenizer_is_an_error_not_a_fallback(
    configure, tmp_path: Path, tiny_encoder_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "bare"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_encoder_dir / name, folder / name)
    stderr = _refused(configure(folder), tmp_path)
    assert "no tokenizer files" in stderr


def test_a_tokenizer_of_unknown_tokens_only(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    from transferscout.encoders import load_encoder

    folder = tmp_path / "unk"
    shutil.copytree(tiny_encoder_dir, folder)
    for name in ("tokenizer.json", "vocab.txt"):
        (folder / name).unlink(missing_ok=True)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
    with pytest.raises(EncoderError, match="as unknown tokens only"):
        load_encoder(str(folder))


def test_broken_weights(configure, tmp_path: Path, tiny_encoder_dir: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "broken"
    shutil.copytree(tiny_encoder_dir, folder)
    (folder / "model.safetensors").write_bytes(b"not weights")
    stderr = _refused(configure(folder), tmp_path)
    assert "cannot load the encoder" in stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu(configure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stderr = _refused(configure(), tmp_path, "executor.device=cuda")
    assert "CUDA is not available" in stderr


def test_not_a_device(configure) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransferScoutError, match="'cuda:x' is not a device name"):
        check_before_training(load_config(configure(), ["executor.device=cuda:x"]))


def test_a_question_without_room_for_its_context_is_refused_up_front(
    tmp_path: Path, tiny_encoder_dir: Path
) -> None:
    from tests.conftest import templated_squad

    squad = templated_squad(tmp_path / "aid.json", 10, seed=0)
    document = json.loads(squad.read_text())
    qa = document["data"][0]["paragraphs"][7]["qas"][1]
    qa["question"] = "send water to the village or the city please"  # 9 pieces
    squad.write_text(json.dumps(document))
    other = templated_squad(tmp_path / "other.json", 10, seed=1)
    questions = "".join(
        f'[[data.questions]]\nname = "{name}"\npath = "{path}"\n\n'
        for name, path in (("aid", squad), ("other", other))
    )
    table = 'path = "{data}"\nlabel_columns = ["food", "water"]\nid_column = "id"\n'
    config = tmp_path / "qa.toml"
    config.write_text(
        CONFIG.replace(table, 'corpus = "none"\n\n' + questions).format(encoder=tiny_encoder_dir)
    )
    check_before_training(load_config(config))  # the encoder alone is fine
    # at 16 tokens a window holds 13 beside [CLS] [SEP] [SEP]: 9 for the question leave 4,
    # not more than the stride of 16 // 4 = 4
    stderr = _refused(config, tmp_path, "grid.target.max_length=[16]")
    assert "task 'aid': question 'c7b' takes 9 tokens, leaving 4 of max_length 16" in stderr
    assert "more than the stride of 4" in stderr


def test_settings_that_give_a_task_too_few_steps_are_warned_about_before_training(  # type: ignore[no-untyped-def]
    configure, caplog: pytest.LogCaptureFixture
) -> None:
    """Defaults that learn: 200 examples at batch 16 and 2 epochs are 26 steps, under 100."""
    from transferscout.checks import step_warnings, target_steps
    from transferscout.training.settings import MIN_STEPS, few_steps, optimisation_steps

    assert optimisation_steps(200, 16, 2) == 13 * 2 and MIN_STEPS == 100
    config = load_config(configure())
    tasks = config.data.load()
    train = len(tasks["food"].train)  # keyword_rows(30), split here
    per_epoch = -(-train // 16)
    assert target_steps(tasks, config.grid) == {"food": per_epoch, "water": per_epoch}
    warnings = step_warnings(config, tasks)
    # every task is a target and (sources: all) a source: one warning per task and stage
    assert len(warnings) == 4
    expected_epochs = -(-MIN_STEPS // per_epoch)
    assert warnings[0] == (
        f"task 'food': grid.target settings give {per_epoch} optimisation steps ({train} "
        f"training examples / batch size 16 = {per_epoch} per epoch x 1 epoch(s)), under 100: "
        "its models may learn nothing (predict one class). Set grid.target.epochs = "
        f"{expected_epochs} (or a smaller grid.target.batch_size, or more data)"
    )
    enough = load_config(
        configure(), [f"grid.target.epochs=[{expected_epochs}]", "grid.source.epochs=[200]"]
    )
    assert step_warnings(enough, tasks) == []
    with caplog.at_level("WARNING"):
        check_before_training(config, tasks)
    said = [r.getMessage() for r in caplog.records if "optimisation steps" in r.getMessage()]
    assert said == [
        warnings[0] + "; and 3 more task stages under it (`transferscout tasks "
        "describe` shows each task's steps)"
    ]  # one line, however many tasks
    assert few_steps("t", 1000, (), "grid.target") is None  # no settings: nothing to say


def test_tasks_describe_says_how_many_steps_each_task_gets(configure) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        app, ["tasks", "describe", "--config", str(configure()), "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    steps = {row["task"]: row["steps"] for row in json.loads(result.stdout)["tasks"]}
    table = CliRunner().invoke(app, ["tasks", "describe", "--config", str(configure())])
    assert set(steps) == {"food", "water"} and all(0 < s < 100 for s in steps.values())
    assert "fewer than 100 optimisation steps" in table.output
