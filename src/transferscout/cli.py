"""The ``transferscout`` command line: a thin layer over the library's functions.

A user's mistake (bad data, configuration, run folder, store) is one line on stderr and exit
code 2; so is an environment problem (permissions, a full disk).  Anything else is a bug: its
traceback is printed, with a line saying so, and the exit code is 1.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from transferscout._text import counted
from transferscout.encoders import DEFAULT_ENCODER, EncoderSpec, encoder_fingerprint, load_encoder
from transferscout.errors import ConfigError, TransferScoutError
from transferscout.tasks import (
    CORPORA,
    TableSpec,
    Task,
    TaskOptions,
    TaskSet,
    load_corpus,
    load_tasks,
)
from transferscout.tasks.readers import FORMATS

if TYPE_CHECKING:
    from transferscout.grid.store import Recreation

#: OS errors that are the environment's, not the program's: reported in one line.
_ENVIRONMENT_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT}


class _App(typer.Typer):
    """The Typer app, with the CLI's error rule applied to whatever a command lets escape."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TransferScoutError as error:
            raise SystemExit(_report(str(error))) from None
        except OSError as error:
            if error.errno not in _ENVIRONMENT_ERRORS:
                raise SystemExit(_bug()) from None
            where = f"{error.filename}: " if error.filename else ""
            raise SystemExit(_report(f"{where}{error.strerror}")) from None
        except Exception:
            raise SystemExit(_bug()) from None


def _report(message: str) -> int:
    error_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    return 2


def _bug() -> int:
    traceback.print_exc(file=sys.stderr)
    sys.stderr.write(
        "\nThis is a bug in transferscout, not a mistake of yours: please report it with the "
        "traceback above and the command you ran.\n"
    )
    return 1


app = _App(
    help="Predict which source tasks help a target task under intermediate-task transfer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="Build and inspect task sets.", no_args_is_help=True)
encoders_app = typer.Typer(help="Inspect encoders.", no_args_is_help=True)
grid_app = typer.Typer(help="Train the single-task and transfer trial grid.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(encoders_app, name="encoders")
signals_app = typer.Typer(help="Compute and show transferability signals.", no_args_is_help=True)
app.add_typer(grid_app, name="grid")
app.add_typer(signals_app, name="signals")
tables_app = typer.Typer(
    help="Export a run as plain tables, or rebuild one from them.", no_args_is_help=True
)
app.add_typer(tables_app, name="tables")

# Nothing printed is read as rich markup or emoji codes: error messages, task names, paths and
# data quote the user's text ("[[data.questions]]", "ner[v2].conll", "[/quote]"), which markup
# would eat or refuse.  Styles are given as styles (``Text``, ``style=``), never in the text.
# A terminal's own width; a file or pipe (a log) gets room for the widest table instead of
# rich's 80 columns, which folded the time-saved table's cells over several lines.
console = Console(width=None if sys.stdout.isatty() else 160, markup=False, emoji=False)
error_console = Console(stderr=True, markup=False, emoji=False)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings only.")] = False,
) -> None:
    """Set up logging for every command."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[
            RichHandler(
                console=error_console,
                show_path=False,
                log_time_format="%Y-%m-%dT%H:%M:%S%z",
                markup=False,  # a record's text (task names, paths, data) is shown as it is
            )
        ],
        force=True,
    )


def _split_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _kinds(value: str | None) -> dict[str, str]:
    """``"a=multiclass,b=regression"`` -> ``{"a": "multiclass", "b": "regression"}``."""
    out = {}
    for part in _split_list(value) or ():
        column, sep, kind = part.partition("=")
        if not sep:
            raise ConfigError(f"--kinds {part!r}: expected COLUMN=KIND, e.g. topic=multiclass")
        out[column.strip()] = kind.strip()
    return out


def _fail(error: TransferScoutError) -> typer.Exit:
    return typer.Exit(code=_report(str(error)))


def _check_output(output: str) -> None:
    if output not in ("table", "csv", "json"):
        raise _fail(TransferScoutError(f"--output {output!r}; expected table, csv or json"))


@tasks_app.command("describe")
def tasks_describe(
    corpus: Annotated[
        str | None,
        typer.Option(help=f"A built-in corpus: {', '.join(CORPORA)}. Default when no --data."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A CSV/TSV/JSONL/Parquet file or a datasets folder.")
    ] = None,
    data_format: Annotated[
        str, typer.Option("--format", help=f"Format of --data: {', '.join(FORMATS)}.")
    ] = "auto",
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    text_pair_column: Annotated[
        str | None, typer.Option(help="Column with a second text: every task is on pairs.")
    ] = None,
    label_columns: Annotated[
        str | None, typer.Option(help="Comma-separated label columns, one task each.")
    ] = None,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Kinds of label columns that are not binary, e.g. 'topic=multiclass,"
            "score=regression'."
        ),
    ] = None,
    multilabel_column: Annotated[
        str | None, typer.Option(help="One column listing each document's labels.")
    ] = None,
    label_delimiter: Annotated[
        str | None, typer.Option(help="Separator of labels in a string multi-label cell.")
    ] = None,
    split_column: Annotated[
        str | None, typer.Option(help="Column of train/validation/test; else split here.")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Column of unique document ids.")] = None,
    tasks: Annotated[
        str | None, typer.Option(help="Comma-separated task names to keep (default: all).")
    ] = None,
    all_tasks: Annotated[
        bool, typer.Option(help="Built-in corpus: every usable category, not the default set.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the split and the capping samples.")] = 0,
    max_train_examples: Annotated[
        int | None, typer.Option(help="Cap on training examples per task.")
    ] = None,
    max_eval_examples: Annotated[
        int | None, typer.Option(help="Cap on validation and test examples per task.")
    ] = None,
    cap_strategy: Annotated[
        str, typer.Option(help="How to cap training data: stratified or balanced.")
    ] = "stratified",
    duplicates: Annotated[
        str, typer.Option(help="Exact duplicate texts: drop, keep or error.")
    ] = "drop",
    output: Annotated[str, typer.Option(help="table, csv or json.")] = "table",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help=(
                "A run configuration: describe its \\[data] tasks (every \\[\\[data.tables]] too)."
            ),
        ),
    ] = None,
) -> None:
    """Show each task's kind, metric, split sizes and labels, and what was dropped and why."""
    from transferscout.config import load_config

    _check_output(output)
    try:
        if config is not None:
            if data is not None or corpus is not None:
                raise TransferScoutError("give either --config or --data/--corpus, not both")
            loaded = load_config(config)
            _print_task_set(loaded.data.load(), output, loaded.grid)
            return
        options = TaskOptions(
            tasks=_split_list(tasks),
            seed=seed,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
            cap_strategy=cap_strategy,  # type: ignore[arg-type]  # validated by TaskOptions
            duplicates=duplicates,  # type: ignore[arg-type]
        )
        if data is not None:
            if corpus is not None:
                raise typer.BadParameter("give either --corpus or --data, not both")
            spec = TableSpec(
                text_column=text_column,
                text_pair_column=text_pair_column,
                label_columns=_split_list(label_columns),
                kinds=_kinds(kinds),
                multilabel_column=multilabel_column,
                label_delimiter=label_delimiter,
                split_column=split_column,
                id_column=id_column,
            )
            task_set = load_tasks(data, spec, options, format=data_format)  # type: ignore[arg-type]
        else:
            task_set = load_corpus(corpus or next(iter(CORPORA)), options, all_tasks=all_tasks)
    except TransferScoutError as error:
        raise _fail(error) from None
    _print_task_set(task_set, output)


def _print_task_set(task_set: TaskSet, output: str, grid: Any = None) -> None:
    from transferscout.checks import target_steps
    from transferscout.config import GridConfig
    from transferscout.training.settings import MIN_STEPS

    frame = task_set.describe()
    # the fewest optimisation steps grid.target's settings (the configuration's, else the
    # defaults) give each task's single-task models
    steps = target_steps(task_set, grid if grid is not None else GridConfig())
    frame["steps"] = frame["task"].map(steps)
    if output == "csv":
        console.out(frame.to_csv(index=False), end="")
        return
    if output == "json":
        payload = {
            "source": task_set.source,
            "tasks": frame.to_dict("records"),
            "notes": [note.__dict__ for note in task_set.notes],
        }
        console.out(json.dumps(payload, indent=2))
        return
    table = Table(
        title=f"{len(task_set)} tasks (positives / examples per split)",
        caption=f"from {task_set.source}; multi-class positives: not of the majority class, "
        "regression: above the median",
    )
    _name_column(table, "task", task_set.names)
    table.add_column("kind", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    for header in ("train", "val", "test"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    for row in frame.to_dict("records"):
        counts = [f"{row[f'{s}_positives']}/{row[s]}" for s in ("train", "validation", "test")]
        rate = f"{row['train_rate']:.1%}"
        kind = f"{row['kind']} (pair)" if row["pair"] else str(row["kind"])
        few = "!" if row["steps"] < MIN_STEPS else ""
        table.add_row(
            str(row["task"]),
            kind,
            str(row["metric"]),
            *counts,
            rate,
            f"{row['steps']}{few}",
            str(row["fingerprint"])[:6],
        )
    console.print(table)
    if (frame["steps"] < MIN_STEPS).any():
        console.print(
            f"! fewer than {MIN_STEPS} optimisation steps (training examples / batch size x "
            "epochs, grid.target's fewest): its single-task models may learn nothing; raise "
            "grid.target.epochs",
            style="yellow",
            markup=False,
        )
    if task_set.notes:
        notes = Table(title="Dropped or changed on purpose")
        notes.add_column("what")
        notes.add_column("count", justify="right")
        notes.add_column("detail")
        for note in task_set.notes:
            notes.add_row(note.kind, str(note.count), note.detail)
        console.print(notes)


@encoders_app.command("describe")
def encoders_describe(
    source: Annotated[
        str, typer.Argument(help="A built-in encoder name or a local model folder.")
    ] = DEFAULT_ENCODER,
    num_layers: Annotated[int | None, typer.Option(help="Keep only the first N layers.")] = None,
) -> None:
    """Load an encoder and show its family, layers, representation, size and fingerprint."""
    try:
        spec = EncoderSpec(source, num_layers)
        encoder = load_encoder(spec)
        fingerprint = encoder_fingerprint(spec)
    except TransferScoutError as error:
        raise _fail(error) from None
    parameters = sum(p.numel() for p in encoder.model.parameters())
    family = encoder.family.describe()
    table = Table(title=f"encoder {source}", show_header=False)
    for key, value in (
        ("folder", str(encoder.path)),
        ("family", family["family"]),
        ("layers", f"{encoder.num_layers} ({family['layers']})"),
        ("representation", family["representation"]),
        ("token types", family["token types"]),
        ("baseline default", family["baseline default"]),
        ("hidden size", str(encoder.hidden_size)),
        ("parameters", f"{parameters:,}"),
        ("vocabulary", f"{len(encoder.tokenizer):,}"),
        ("fingerprint", fingerprint[:16]),
    ):
        table.add_row(key, value)
    console.print(table)


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="A TOML run configuration.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a configuration key: KEY=VALUE (repeatable)."),
]
RetrainOption = Annotated[
    bool,
    typer.Option(
        "--retrain-on-version-change",
        help="Train again finished trials trained under other torch/transformers versions "
        "(default: reuse them; the run says how many).",
    ),
]


def _run_config(run_dir: Path, config: Path | None, overrides: list[str] | None) -> Any:
    """``--config`` if given; else the run's own ``config.json``; else the defaults."""
    from transferscout.config import load_config, load_run_config

    if config is None and (run_dir / "config.json").is_file():
        return load_run_config(run_dir, overrides or ())
    return load_config(config, overrides or ())


@app.command("run")
def run_command(
    config: Annotated[Path | None, typer.Argument(help="A TOML run configuration.")] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="A built-in profile: demo or study.")
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", "-o", help="The run folder (default: runs/<profile or file>)."),
    ] = None,
    overrides: SetOption = None,
    retrain_on_version_change: RetrainOption = False,
    prior: Annotated[
        Path | None,
        typer.Option(
            "--prior",
            help="Warm-start the pool search from another pool: a finished run folder or a "
            "matrix run (search.prior; off by default, as the replay shows it does not help).",
        ),
    ] = None,
    full_grid: Annotated[
        bool,
        typer.Option(
            "--full-grid",
            help="Train the whole transfer grid and evaluate every method in hindsight "
            '(search.mode = "grid"; the study profile\'s default).',
        ),
    ] = False,
) -> None:
    """Find every target's best model: single-task models, cheap signals, then a pool search.

    The pool search trains the transfers most likely to beat each target's single-task model
    within search.budget (default 20% of the projected full grid) and writes, per target,
    the model to use (<run>/search/<target>/model) and a report. With --full-grid (or
    search.mode = "grid") the whole grid is trained and evaluated instead. Resumable: run the
    same command again after any stop.

    Example: transferscout run --profile demo -s search.budget=30%
    """
    from transferscout.config import load_config

    if config is None and profile is None:
        raise _fail(TransferScoutError("give a configuration file or --profile (demo, study)"))
    name = profile if config is None else config.stem
    folder = run_dir or Path("runs") / str(name)
    try:
        loaded = load_config(config, overrides or (), profile=profile)
        if prior is not None:
            loaded = dataclasses.replace(
                loaded, search=dataclasses.replace(loaded.search, prior=str(prior.resolve()))
            )
        if full_grid:
            loaded = dataclasses.replace(
                loaded, search=dataclasses.replace(loaded.search, mode="grid")
            )
        if loaded.search.mode == "grid":
            _run_grid_mode(loaded, folder, retrain_on_version_change)
        else:
            _run_pool_mode(loaded, folder, retrain_on_version_change)
    except TransferScoutError as error:
        raise _fail(error) from None


def _run_pool_mode(config: Any, folder: Path, retrain_on_version_change: bool) -> None:
    from transferscout.pool_search import search_pool
    from transferscout.report.pool import pool_headline, pool_targets_table

    result = search_pool(
        config, folder, progress=True, retrain_on_version_change=retrain_on_version_change
    )
    summary = json.loads((folder / "search" / "summary.json").read_text(encoding="utf-8"))
    _print_frame(pool_targets_table(summary), "The model to use for each target")
    for name, why in sorted(result.skipped.items()):
        console.print(f"{name} was not searched: {why}", style="yellow", markup=False)
    console.print(pool_headline(summary), markup=False)
    console.print(f"stopped: {result.stopped}", markup=False)
    console.print(f"models: {result.folder.resolve()}/<target>/model")
    if result.report is not None:
        console.print(f"report: {result.report.html.resolve()}")


def _run_grid_mode(config: Any, folder: Path, retrain_on_version_change: bool) -> None:
    from transferscout.evaluation.best_sources import best_sources
    from transferscout.pipeline import run_pipeline
    from transferscout.report.opening import degenerate_text, mark_targets, marked_targets

    result = run_pipeline(
        config, folder, progress=True, retrain_on_version_change=retrain_on_version_change
    )
    ran = ", ".join(result.stages_run) or "nothing (all cached)"
    console.print(f"grid: {_grid_counts(result.grid)}; stages run: {ran}")
    summary = json.loads((folder / "evaluation" / "summary.json").read_text(encoding="utf-8"))
    if text := degenerate_text(summary):
        console.print(text, style="yellow", markup=False)
    _print_frame(
        mark_targets(best_sources(folder), marked_targets(summary)),
        "Best source per target (meta-model's first pick vs the real best)",
    )
    _print_savings(folder)
    if result.report is not None:
        console.print(f"report: {result.report.html.resolve()}")


def _grid_counts(grid: Any) -> str:
    retry = f" ({grid.retryable} to retry on the next run)" if grid.retryable else ""
    return (
        f"{grid.done} done, {grid.failed} failed{retry}, {grid.pending} pending "
        f"({grid.ran_now} trials run now)"
    )


def _print_savings(run_dir: Path) -> None:
    import pandas as pd

    from transferscout.report import wording
    from transferscout.report.opening import savings_table

    savings = pd.read_csv(run_dir / "evaluation" / "savings.csv")
    summary = json.loads((run_dir / "evaluation" / "summary.json").read_text(encoding="utf-8"))
    shown = [m for m in ("meta:all", "adaptive:greedy") if m in set(savings["method"])]
    console.print(wording.headline(summary))
    table = savings_table(savings, shown or None, long=True, lost=wording.lost_header(summary))
    caption = None
    if "baseline" in table.columns and table["baseline"].nunique() == 1:
        # one baseline for every row: named once under the table, not in a column of its own
        caption = f"vs baseline: paired test of per-target time saved, vs {table['baseline'][0]}"
        table = table.drop(columns="baseline")
    _print_frame(
        table,
        f"Time saved against the full grid (per tolerance of loss in "
        f"{wording.loss_phrase(summary)})",
        caption=caption,
        names=list(table["method"]),
    )


def _print_frame(
    frame: object, title: str, *, caption: str | None = None, names: Sequence[str] = ()
) -> None:
    """A table of strings and numbers; the first column (names) wraps instead of being cut."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    table = Table(title=title, caption=caption)
    for index, column in enumerate(frame.columns):
        if index == 0:
            _name_column(table, str(column), names)
        else:
            table.add_column(str(column), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


TargetData = Annotated[
    Path | None,
    typer.Option(
        "--data", help="The target's data file (default: the run's own data, a held-out label)."
    ),
]
TargetConfig = Annotated[
    Path | None,
    typer.Option("--data-config", help="A TOML file whose \\[data] section describes the target."),
]
TargetCorpus = Annotated[str | None, typer.Option(help="A built-in corpus holding the target.")]
TargetTask = Annotated[
    str | None,
    typer.Option("--task", help="The target label: a multi-label value or a corpus category."),
]
TargetLabel = Annotated[
    str | None, typer.Option(help="The target's 0/1 label column (instead of --task).")
]
TargetMultilabel = Annotated[
    str | None, typer.Option(help="A column listing each document's labels (with --task).")
]
TargetDelimiter = Annotated[
    str | None, typer.Option(help="Separator of labels in a string multi-label cell.")
]
TargetText = Annotated[str | None, typer.Option(help="Column with the text (default: text).")]
TargetPair = Annotated[
    str | None, typer.Option(help="Column with a second text: the target is on text pairs.")
]
TargetKind = Annotated[
    str | None,
    typer.Option(
        help="The target's kind: binary, multiclass, regression or tagging (default: binary; "
        "a QA target: --data-config with \\[\\[data.questions]])."
    ),
]
TargetSplit = Annotated[
    str | None, typer.Option(help="Column of train/validation/test; else split as the run did.")
]
TargetId = Annotated[str | None, typer.Option(help="Column of unique document ids.")]
TargetFormat = Annotated[str | None, typer.Option("--format", help="Format of --data.")]
TargetName = Annotated[str | None, typer.Option(help="Task name (default: the label).")]
TargetCap = Annotated[
    int | None,
    typer.Option(help="Cap on the target's training examples (default: as the run's tasks)."),
]
TargetEvalCap = Annotated[
    int | None, typer.Option(help="Cap on validation/test examples (default: as the run's).")
]
TargetStrategy = Annotated[
    str | None, typer.Option(help="stratified or balanced (default: as the run's tasks).")
]
TargetSeed = Annotated[int | None, typer.Option(help="Split/cap seed (default: the run's).")]


def _target_task(
    run_dir: Path,
    *,
    data: Path | None,
    data_config: Path | None,
    corpus: str | None,
    task: str | None,
    label_column: str | None,
    multilabel_column: str | None,
    label_delimiter: str | None,
    text_column: str | None,
    text_pair_column: str | None,
    kind: str | None,
    split_column: str | None,
    id_column: str | None,
    data_format: str | None,
    name: str | None,
    max_train_examples: int | None,
    max_eval_examples: int | None,
    cap_strategy: str | None,
    seed: int | None,
    overrides: Sequence[str] = (),
) -> Task:
    """The new target, described like a run's data and prepared as the run's tasks were."""
    from transferscout.config import load_run_config
    from transferscout.targets import data_section, prepare_target

    if (task is None) == (label_column is None):
        raise TransferScoutError("give the target label: --label-column COL or --task LABEL")
    given: dict[str, object] = {} if data_config is None else data_section(data_config)
    for key, value in (
        ("path", None if data is None else str(data)),
        ("corpus", corpus),
        ("multilabel_column", multilabel_column),
        ("label_delimiter", label_delimiter),
        ("text_column", text_column),
        ("text_pair_column", text_pair_column),
        ("split_column", split_column),
        ("id_column", id_column),
        ("format", data_format),
        ("max_train_examples", max_train_examples),
        ("max_eval_examples", max_eval_examples),
        ("cap_strategy", cap_strategy),
        ("seed", seed),
    ):
        if value is not None:
            given[key] = value
    if label_column is not None:
        given["label_columns"] = [label_column]
    label = label_column or task
    assert label is not None
    if kind is not None:
        given["task_kinds"] = {label: kind}
    config = load_run_config(run_dir, overrides)
    return prepare_target(config, label, data=given, name=name)


@app.command("rank")
def rank_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished run whose tasks are the sources.")],
    data: TargetData = None,
    data_config: TargetConfig = None,
    corpus: TargetCorpus = None,
    task: TargetTask = None,
    label_column: TargetLabel = None,
    multilabel_column: TargetMultilabel = None,
    label_delimiter: TargetDelimiter = None,
    text_column: TargetText = None,
    text_pair_column: TargetPair = None,
    kind: TargetKind = None,
    split_column: TargetSplit = None,
    id_column: TargetId = None,
    data_format: TargetFormat = None,
    name: TargetName = None,
    max_train_examples: TargetCap = None,
    max_eval_examples: TargetEvalCap = None,
    cap_strategy: TargetStrategy = None,
    seed: TargetSeed = None,
    output: Annotated[str, typer.Option(help="table, csv or json.")] = "table",
    top: Annotated[int, typer.Option(help="Rows shown in the table.")] = 20,
    overrides: SetOption = None,
) -> None:
    """Rank the run's tasks as sources for a new target; trains no transfer pair.

    -s changes the run's configuration for this ranking only (e.g. -s signals.budget=0.1 to
    give the new target's attributions more steps).
    """
    from transferscout.config import load_run_config
    from transferscout.evaluation.table1 import DEGENERATE_MARK
    from transferscout.recommend import recommend_sources

    _check_output(output)
    if top < 1:
        raise _fail(TransferScoutError(f"--top {top}; expected at least 1"))
    try:
        target = _target_task(
            run_dir,
            data=data,
            data_config=data_config,
            corpus=corpus,
            task=task,
            label_column=label_column,
            multilabel_column=multilabel_column,
            label_delimiter=label_delimiter,
            text_column=text_column,
            text_pair_column=text_pair_column,
            kind=kind,
            split_column=split_column,
            id_column=id_column,
            data_format=data_format,
            name=name,
            max_train_examples=max_train_examples,
            max_eval_examples=max_eval_examples,
            cap_strategy=cap_strategy,
            seed=seed,
            overrides=overrides or (),
        )
        run_config = load_run_config(run_dir, overrides or ())
        result = recommend_sources(
            run_dir,
            TaskSet((target,), str(data or run_dir)),
            config=run_config,
            progress=output == "table",
        )
    except TransferScoutError as error:
        raise _fail(error) from None
    frame = result.table
    if output == "csv":
        console.out(frame.to_csv(index=False), end="")
        return
    if output == "json":
        payload = {
            "method": result.method,
            "suggested_budget": result.suggested_budget,
            "interval_coverage": result.coverage,
            "interval_informative": result.informative,
            "baseline_degenerate": result.baseline_degenerate,
            "candidates": frame.to_dict("records"),
        }
        console.out(json.dumps(payload, indent=2, default=float))
        return
    metric = target.kind.metric_label
    mark = "" if result.baseline_degenerate is None else f" {DEGENERATE_MARK}"
    table = Table(title=f"Sources for {target.name!r} ({result.method})")
    _name_column(table, "source")
    interval = "95% interval" if result.informative else "95% interval (uninformative)"
    for column in ("source lr", "target lr", f"predicted {metric}{mark}", interval):
        table.add_column(column, justify="right")
    for row in frame.head(top).itertuples(index=False):
        table.add_row(
            str(row.source),
            f"{row.source_learning_rate:g}",
            f"{row.target_learning_rate:g}",
            f"{row.predicted_f1:.3f}",
            f"[{row.low:.3f}, {row.high:.3f}]",
        )
    console.print(table)
    if not result.informative:
        console.print(
            "the 95% intervals are wider than half the range of the "
            f"{metric}: the meta-model cannot tell these candidates apart with confidence, "
            "so read the order as its best guess, not as a finding",
            markup=False,
        )
    if result.baseline_degenerate is not None:
        console.print(
            f"{DEGENERATE_MARK} the single-task baseline of {target.name!r} is "
            f"degenerate: it {result.baseline_degenerate}; the predicted scores are gains "
            "over it, and a gain over a degenerate baseline is no finding",
            style="yellow",
            markup=False,
        )
    if result.coverage is not None:
        console.print(
            f"the 95% intervals covered {result.coverage:.1%} of the run's real scores when "
            "each target's interval was built from the other targets' errors"
        )
    if result.suggested_budget is not None:
        console.print(
            f"suggested budget: train the top {counted(result.suggested_budget, 'candidate')} (on "
            "the run's targets that lost at most 0.02 of their own metric against the full "
            "grid), or let "
            f"`transferscout search {run_dir} ... --budget {result.suggested_budget}trials` "
            "train them"
        )


@app.command("search")
def search_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished run whose tasks are the sources.")],
    budget: Annotated[
        str, typer.Option(help="Candidates to train (8trials) or training time (2h, 90m).")
    ],
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="One of the run's tasks (its transfer results are not read)."
        ),
    ] = None,
    data: TargetData = None,
    data_config: TargetConfig = None,
    corpus: TargetCorpus = None,
    task: TargetTask = None,
    label_column: TargetLabel = None,
    multilabel_column: TargetMultilabel = None,
    label_delimiter: TargetDelimiter = None,
    text_column: TargetText = None,
    text_pair_column: TargetPair = None,
    kind: TargetKind = None,
    split_column: TargetSplit = None,
    id_column: TargetId = None,
    data_format: TargetFormat = None,
    name: TargetName = None,
    max_train_examples: TargetCap = None,
    max_eval_examples: TargetEvalCap = None,
    cap_strategy: TargetStrategy = None,
    seed: TargetSeed = None,
    margin: Annotated[
        float,
        typer.Option(help="Stop when no candidate's upper predicted F1 beats the best by this."),
    ] = 0.01,
    chains: Annotated[
        int, typer.Option(help="Also try the chain of the N best sources (0: no chain; 2).")
    ] = 0,
    strategy: Annotated[str, typer.Option(help="greedy or ucb.")] = "greedy",
    output: Annotated[
        Path | None, typer.Option(help="Model folder (default: RUN/search/TARGET/model).")
    ] = None,
    overrides: SetOption = None,
) -> None:
    """Train a target's best candidates in the meta-model's order within a budget; keep the best.

    -s changes the run's configuration for this search only (e.g. -s executor.workers=2).
    """
    from transferscout.config import load_run_config
    from transferscout.evaluation.table1 import DEGENERATE_MARK
    from transferscout.search import Budget, SearchSettings, search_target

    try:
        settings = SearchSettings(
            Budget.parse(budget), margin=margin, chains=chains, strategy=strategy
        )
        new_target = None
        if target is None:
            new_target = _target_task(
                run_dir,
                data=data,
                data_config=data_config,
                corpus=corpus,
                task=task,
                label_column=label_column,
                multilabel_column=multilabel_column,
                label_delimiter=label_delimiter,
                text_column=text_column,
                text_pair_column=text_pair_column,
                kind=kind,
                split_column=split_column,
                id_column=id_column,
                data_format=data_format,
                name=name,
                max_train_examples=max_train_examples,
                max_eval_examples=max_eval_examples,
                cap_strategy=cap_strategy,
                seed=seed,
                overrides=overrides or (),
            )
        elif data or data_config or corpus or task or label_column:
            raise TransferScoutError("--target names a task of the run; give no data options")
        run_config = load_run_config(run_dir, overrides or ())
        result = search_target(
            run_dir,
            settings,
            target=new_target,
            own_target=target,
            config=run_config,
            output=output,
            progress=True,
        )
    except TransferScoutError as error:
        raise _fail(error) from None
    table = Table(title=f"Search for {result.target!r}: {result.stopped}")
    table.add_column("step", justify="right")
    _name_column(table, "candidate")
    for column in ("predicted", "validation", "test", "hours", "best so far"):
        table.add_column(column, justify="right")
    for step in result.trace.to_dict("records"):
        predicted = float(step["predicted_f1"])
        table.add_row(
            str(step["step"]),
            str(step["candidate"]),
            "-" if predicted != predicted else f"{predicted:.3f}",  # a chain has no prediction
            f"{float(step['validation_f1']):.3f}",
            f"{float(step['test_f1']):.3f}",
            f"{float(step['hours']):.3f}",
            f"{float(step['best_test_f1']):.3f} ({step['best']})",
        )
    console.print(table)
    best, reference = result.best, result.reference
    metric = best["metric_label"]  # the target kind's primary metric, as the kind names it
    chain_tried = int(bool(result.chain and result.chain.get("tried")))
    origin = " -> ".join(best["sources"]) or "no source (single-task)"
    weak = f" {DEGENERATE_MARK}" if reference.get("degenerate") else ""
    console.print(
        f"best: {origin}: test {metric} {best['test_f1']:.3f} (validation "
        f"{best['validation_f1']:.3f}) "
        f"vs single-task {reference['test_f1']:.3f}{weak}; {result.tried - chain_tried} of "
        f"{result.pool} single-source candidates"
        + (" and 1 chain" if chain_tried else "")
        + f" tried in {result.hours:.3f} training hours (reference models included)"
    )
    for shown, summary in (("the single-task model", reference), ("the kept model", best)):
        if summary.get("degenerate"):
            console.print(
                f"{DEGENERATE_MARK} {shown} is degenerate: it {summary['degenerate']}"
                + ("; a gain over it is no finding" if summary is reference else ""),
                style="yellow",
                markup=False,
            )
    if result.chain is not None and result.chain.get("error"):
        console.print(
            f"chain {' -> '.join(result.chain['sources'])} failed: {result.chain['error']}"
        )
    elif result.chain is not None and result.chain.get("tried"):
        verdict = "beat" if result.chain["beat_best_single_source"] else "did not beat"
        console.print(
            f"chain {' -> '.join(result.chain['sources'])}: validation {metric} "
            f"{result.chain['validation_f1']:.3f} {verdict} the best single source "
            f"({result.chain['best_single_validation_f1']:.3f})"
        )
    for stage in (result.chain or {}).get("outside_grid") or []:
        console.print(
            f"chain stage outside the configured grid (trained for the chain only): {stage}"
        )
    if result.interval and not result.interval["informative"]:
        console.print(
            f"the meta-model's 95% intervals (±{result.interval['halfwidth']:.2f}) are wider than "
            f"half the range of the {metric}: its upper bounds, and so its stop rule, say little "
            "here; the order is its best guess"
        )
    model = "" if result.model_dir is None else f"model: {result.model_dir.resolve()} ; "
    console.print(f"{model}trace: {result.folder / 'trace.csv'}")


def _shorten(name: str, width: int) -> str:
    """A name shortened from the middle (see :func:`transferscout.report.opening.shorten`)."""
    from transferscout.report.opening import shorten as middle

    return middle(name, width)


def _name_column(table: Table, header: str, names: Sequence[str] = ()) -> None:
    """A column of task names: wrapped, never cut to an indistinguishable stub.

    With ``names``, the column is at least as wide as the longest of them (up to 16
    characters), so narrow neighbours cannot squeeze it into a few letters a line.
    """
    width = min(max((len(name) for name in names), default=0), 16)
    table.add_column(header, overflow="fold", min_width=width or None)


@tables_app.command("export")
def tables_export(
    run_dir: Annotated[Path, typer.Argument(help="The run folder.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the CSV tables.")],
) -> None:
    """Write trials.csv, pair_signals.csv, signal_costs.csv and config.json."""
    from transferscout.tables import export_tables

    try:
        written = export_tables(run_dir, out_dir)
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print("wrote " + ", ".join(str(p) for p in written))


@tables_app.command("import")
def tables_import(
    in_dir: Annotated[Path, typer.Argument(help="A folder written by `tables export`.")],
    run_dir: Annotated[Path, typer.Argument(help="The run folder to (re)build.")],
) -> None:
    """Rebuild a run's store from exported tables (then `evaluate` and `report` work)."""
    from transferscout.tables import import_tables

    try:
        count = import_tables(in_dir, run_dir)
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"{count} trials imported into {run_dir}")


@tables_app.command("import-matrix")
def tables_import_matrix(
    matrix_file: Annotated[
        Path, typer.Argument(help="A transfer matrix: a CSV of (target, source, score) rows.")
    ],
    run_dir: Annotated[Path, typer.Argument(help="The run folder to write (new or empty).")],
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="plain (target, source, score, single_task_score; optional setting, seed, "
            "validation_score, single_task_validation_score, hours, signal columns) or "
            "model-recycling (a <base>_table.csv of IBM/model-recycling).",
        ),
    ] = "plain",
) -> None:
    """Import anyone's transfer matrix as a run folder (its pool table, matrix/pool.csv).

    Example: transferscout tables import-matrix transfers.csv runs/mine

    Example: transferscout tables import-matrix roberta-base_table.csv runs/rb --format
    model-recycling
    """
    from transferscout.matrix import import_matrix

    try:
        info = import_matrix(matrix_file, run_dir, format=format)
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"imported {matrix_file} into {run_dir}:")
    for line in info.summary():
        console.print(f"  {line}")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="An evaluated run folder.")],
) -> None:
    """(Re)write the HTML and Markdown report from a run's evaluation files."""
    from transferscout.grid.store import check_run_folder
    from transferscout.matrix_evaluation import is_matrix_run
    from transferscout.report import write_report
    from transferscout.report.matrix import write_matrix_report

    try:
        if not (run_dir / "evaluation" / "summary.json").is_file():
            raise TransferScoutError(
                f"{run_dir}: no evaluation to report; run `transferscout evaluate {run_dir}`"
            )
        check_run_folder(run_dir / "report")
        files = write_matrix_report(run_dir) if is_matrix_run(run_dir) else write_report(run_dir)
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"report: {files.html.resolve()} (and {files.markdown.name})")


@grid_app.command("run")
def grid_run(
    run_dir: Annotated[Path, typer.Argument(help="The run folder (created, or continued).")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    retrain_on_version_change: RetrainOption = False,
) -> None:
    """Train every single-task and transfer trial of the grid; re-run to continue.

    Without ``--config``, an existing run continues with its own ``config.json``.
    """
    from transferscout.pipeline import train_grid

    try:
        summary = train_grid(
            _run_config(run_dir, config, overrides),
            run_dir,
            progress=True,
            retrain_on_version_change=retrain_on_version_change,
        )
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"grid: {_grid_counts(summary)} in {run_dir}")
    if summary.failed:
        console.print(f"see the errors with: transferscout status {run_dir}")


@signals_app.command("ansat")
def signals_ansat(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with trained single-task models.")],
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Attribute each task's single-task model (conductance) and store ANSAT for every pair."""
    from transferscout.pipeline import compute_ansat_signals

    try:
        pairs = compute_ansat_signals(
            _run_config(run_dir, config, overrides), run_dir, progress=True
        )
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"ANSAT: 46 features stored for each of {pairs} ordered task pairs in {run_dir}")


@signals_app.command("pairs")
def signals_pairs(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with trained single-task models.")],
    config: ConfigOption = None,
    overrides: SetOption = None,
) -> None:
    """Store TextEmb, TaskEmb, LogME, LEEP, NCE, H-score, TransRate and baselines per pair."""
    from transferscout.pipeline import compute_pair_signals_stage

    try:
        pairs = compute_pair_signals_stage(
            _run_config(run_dir, config, overrides), run_dir, progress=True
        )
    except TransferScoutError as error:
        raise _fail(error) from None
    console.print(f"pair signals stored for {pairs} ordered task pairs in {run_dir}")


@signals_app.command("show")
def signals_show(
    run_dir: Annotated[Path, typer.Argument(help="The run folder.")],
    family: Annotated[str, typer.Option(help="Signal family, e.g. ansat.")] = "ansat",
    name: Annotated[str, typer.Option(help="Signal name, e.g. ansat_ab_0.10.")] = "ansat_ab_0.10",
) -> None:
    """Show one signal as a source x target matrix."""
    from transferscout.grid.store import RunStore

    try:
        with RunStore(run_dir, readonly=True) as store:
            rows = [r for r in store.pair_signals(family) if r["name"] == name]
    except TransferScoutError as error:
        raise _fail(error) from None
    if not rows:
        raise _fail(TransferScoutError(f"{run_dir}: no {family} signal named {name!r} stored"))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    values = {(r["source"], r["target"]): r["value"] for r in rows}
    table = Table(title=f"{family} {name} (rows: source, columns: target)")
    _name_column(table, "source")
    for target in targets:  # headers cannot wrap well: shortened from the middle
        table.add_column(_shorten(target, 16), justify="right", overflow="fold")
    for source in dict.fromkeys(r["source"] for r in rows):
        table.add_row(source, *(f"{values.get((source, t), float('nan')):.3f}" for t in targets))
    console.print(table)


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run with its grid and signals computed.")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    fit_on: Annotated[
        Path | None,
        typer.Option(
            "--fit-on",
            help="Another run: also rank this run's sources with meta-models fitted on all of "
            "its candidates (a meta-model that travels), against the within-pool result.",
        ),
    ] = None,
) -> None:
    """Fit the meta-models leave-one-target-out and compute every ranking metric and curve.

    Only the configured grid's trials are evaluated (without ``--config``: the run's own).
    With ``--fit-on OTHER_RUN`` the meta-models are also fitted on OTHER_RUN's candidates and
    rank this run's (written to RUN/evaluation/cross_pool), paired per target with the
    within-pool leave-one-target-out result.
    """
    from transferscout.matrix_evaluation import is_matrix_run
    from transferscout.pipeline import evaluate, evaluate_across_pools

    if config is None and is_matrix_run(run_dir):
        _evaluate_matrix_run(run_dir, overrides, fit_on)
        return
    try:
        if config is None and not any(
            (run_dir / name).is_file() for name in ("config.json", "store.sqlite")
        ):
            raise TransferScoutError(
                f"{run_dir}: neither a run (no config.json or store.sqlite) nor a matrix run "
                "(no matrix.json); train one with `transferscout run`, or import a matrix with "
                "`transferscout tables import-matrix`"
            )
        run_config = _run_config(run_dir, config, overrides)
        if fit_on is None:
            result = evaluate(run_config, run_dir)
        else:
            crossed = evaluate_across_pools(run_config, run_dir, fit_on)
            result = crossed.within
    except TransferScoutError as error:
        raise _fail(error) from None
    _print_ranking(result.ranking)
    console.print(f"tables written to {Path(run_dir) / 'evaluation'}")
    if fit_on is not None:
        _print_ranking(crossed.evaluation.ranking, f"Fitted on {fit_on}: ranking quality")
        _print_versus_within(crossed.versus_within, fit_on)
        console.print(f"tables written to {Path(run_dir) / 'evaluation' / 'cross_pool'}")


def _evaluate_matrix_run(run_dir: Path, overrides: list[str] | None, fit_on: Path | None) -> None:
    """``evaluate`` on a matrix run: the pool search replayed and the signals' rankings."""
    import pandas as pd

    from transferscout.matrix_evaluation import evaluate_matrix
    from transferscout.report.matrix import matrix_headlines, rankings_table, replay_table

    try:
        if overrides or fit_on is not None:
            raise TransferScoutError(
                f"{run_dir}: a matrix run is evaluated without a configuration; "
                "--set and --fit-on apply to runs trained here"
            )
        result = evaluate_matrix(run_dir)
    except TransferScoutError as error:
        raise _fail(error) from None
    for line in result.notes:
        console.print(line, markup=False)
    replay = pd.read_csv(result.folder / "pool_replay.csv")
    ten = replay[replay["budget"].isin([0.1, 0.2])]
    _print_frame(
        replay_table(ten),
        f"The pool search replayed at 10% and 20% of the {result.summary['budget_unit']}",
        caption="found: mean loss to each target's best (share within 0.01); handed: the model "
        "handed over; p: paired sign-flip test of pool against the method",
        names=list(dict.fromkeys(ten["method"])),
    )
    for line in matrix_headlines(result.summary)[1:3]:
        console.print(line, markup=False)
    _print_frame(
        rankings_table(result.rankings),
        "Each signal's order per target against random (mean over targets)",
        caption="(difference to random, paired sign-flip p across targets)",
        names=list(dict.fromkeys(result.rankings["method"])),
    )
    console.print(f"tables written to {result.folder}")
    console.print(f"report: {result.report.html.resolve()}")


def _print_versus_within(frame: object, fit_on: Path) -> None:
    import pandas as pd

    from transferscout.report.opening import p_text

    assert isinstance(frame, pd.DataFrame)
    shown = frame[frame["metric"].isin(["ndcg@3", "regret@1", "regret@3", "saved@0.02"])]
    shown = shown.assign(p=[p_text(p) for p in shown["p"]])
    _print_frame(
        shown[["method", "metric", "targets", "cross", "within", "difference", "p"]],
        f"Fitted on {fit_on} vs leave-one-target-out on the same targets (mean over targets)",
        caption="p: two-sided sign-flip test of the per-target differences",
        names=list(shown["method"]),
    )


def _print_ranking(
    ranking: object,
    title: str = "Ranking quality per method",
) -> None:
    import pandas as pd

    assert isinstance(ranking, pd.DataFrame)
    shown = ranking[
        ranking["method"].str.startswith(("meta:", "oracle", "random"))
        | ranking["method"].isin(
            ["signal:ansat_ab_0.10", "signal:taskemb_rrf", "signal:estimators_logme"]
        )
    ]
    table = Table(title=f"{title} (mean over targets, 95% bootstrap interval)")
    metrics = [
        m
        for m in ("ndcg@3", "regret@1", "regret@3", "rank_of_best", "spearman")
        if m in set(shown["metric"])
    ]
    _name_column(table, "method")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for method, group in shown.groupby("method", sort=False):
        lookup = {row.metric: (row.estimate, row.low, row.high) for row in group.itertuples()}
        cells = [_interval(*lookup[m]) for m in metrics]
        table.add_row(str(method), *cells)
    console.print(table)


def _recreations_line(recreations: Sequence[Recreation]) -> Text:
    differ = sum(not r.same_metrics for r in recreations)
    line = Text(
        f"{len(recreations)} lost models trained again ("
        f"{sum(r.seconds or 0.0 for r in recreations) / 3600:.2f} hours, not counted above: "
        "each trial keeps its first measured time)"
    )
    if differ:
        line.append("; ")
        line.append(f"{differ} did not reproduce their first results", style="red")
        line.append(" (the new ones are kept)")
    return line


#: Degenerate models listed by ``status`` (all are counted).
_DEGENERATE_ROWS = 20


@app.command("status")
def status(
    run_dir: Annotated[Path, typer.Argument(help="The run folder.")],
) -> None:
    """Show a run's progress: trials done/failed/pending, throughput, ETA, failures."""
    from transferscout.grid.status import run_status

    try:
        report = run_status(run_dir)
    except TransferScoutError as error:
        raise _fail(error) from None
    counts = report.counts
    console.print(
        Text.assemble(
            f"{report.total} trials: ",
            (f"{counts['done']} done", "green"),
            ", ",
            (f"{counts['failed']} failed", "red"),
            f", {counts['running']} running, {counts['pending']} pending",
        )
    )
    finished = counts["pending"] + counts["running"] == 0 and report.total > 0
    if report.trials_per_hour is not None and not finished:
        eta = "-" if report.eta_seconds is None else _duration(report.eta_seconds)
        console.print(
            f"throughput {report.trials_per_hour:.1f} trials/hour, "
            f"{report.training_hours:.2f} training hours so far, ETA {eta}"
        )
    if finished:
        # What a finished run has, and where its report is (an ETA of 0m00s says neither).
        stages = [
            name
            for name, path in (
                ("evaluation", run_dir / "evaluation" / "summary.json"),
                ("report", run_dir / "report" / "report.html"),
            )
            if path.exists()
        ]
        console.print(
            f"every trial has finished ({report.training_hours:.2f} training hours)"
            + (f"; {' and '.join(stages)} written" if stages else "; not evaluated yet")
        )
        if "report" in stages:
            console.print(f"report: {run_dir / 'report' / 'report.html'}")
    searched = run_dir / "search" / "summary.json"
    if searched.is_file():
        pool = json.loads(searched.read_text(encoding="utf-8"))
        console.print(
            f"pool search: {pool['trained']} of {pool['candidates']} transfer candidates "
            f"trained; stopped: {pool['stopped']}",
            markup=False,
        )
    if report.recreations:
        console.print(_recreations_line(report.recreations))
    if report.degenerate:
        console.print(
            f"{len(report.degenerate)} degenerate model{'' if len(report.degenerate) == 1 else 's'}"
            " (one class for nearly every validation example, or a constant; a gain over one is "
            f"no finding), targets: {', '.join(report.degenerate_targets)}",
            style="yellow",
            markup=False,
        )
        shown = report.degenerate[:_DEGENERATE_ROWS]
        left = len(report.degenerate) - len(shown)
        table = Table(
            title="Degenerate models" + (f" (the first {len(shown)})" if left else ""),
            caption=f"and {left} more" if left else None,
        )
        for column in ("trial", "kind", "target", "source", "seed", "why"):
            table.add_column(column, overflow="fold")
        for row, reason in shown:
            table.add_row(
                row.id[:10], row.kind, row.target, row.source or "", str(row.seed), reason
            )
        console.print(table)
    if report.failures:
        table = Table(title="Failed trials")
        for column in ("trial", "kind", "target", "source", "attempts", "error"):
            table.add_column(column, overflow="fold")
        for row in report.failures:
            table.add_row(
                row.id[:10],
                row.kind,
                row.target,
                row.source or "",
                str(row.attempts),
                (row.error or "").splitlines()[0][:200],
            )
        console.print(table)


def _interval(estimate: object, low: object, high: object) -> str:
    return f"{float(estimate):.3f} [{float(low):.2f}, {float(high):.2f}]"  # type: ignore[arg-type]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
