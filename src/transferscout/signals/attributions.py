"""Word-level conductance of a model on documents, with a columnar cache in the run folder.

For each (model, settings) the cache keeps three Parquet files under ``attributions/``:
``<key>.words.parquet`` (document id, word index, word, per-layer word scores, mean score),
``<key>.tokens.parquet`` (document id, token index, token, raw per-layer conductance) and
``<key>.documents.parquet`` (document id, ``F(x) − F(x')``, completeness error).  The key
hashes the model file's content and the settings that change the numbers, so re-running ANSAT
never recomputes an attribution, and new documents are added to the existing files.

Rows are content-addressed: every row carries a ``doc_key`` (:func:`document_key`), the
document's id followed by a hash of its text, its second text (a pair) and the output
attributed for it with this model (what the kind's ``attribution_targets`` gave), and the
cache is read and written by ``doc_key`` only.  A document id is no identity: two targets may
both number their rows 0, 1, 2…, and one text is attributed at its gold label by its own
task's model but at the predicted one otherwise; such documents get rows of their own instead
of silently reusing another text's scores.  ``doc_id`` stays in the tables for reading them.
Files written before ``doc_key`` existed are read as empty: their documents are attributed
once more, and the files are then replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq

from transferscout.encoders.adapter import BASELINES, Baseline, family_of
from transferscout.errors import ConfigError
from transferscout.kinds.base import AttributionTarget as Target
from transferscout.kinds.base import SpanTarget
from transferscout.kinds.qa import answer_token_span
from transferscout.kinds.tagging import piece_words
from transferscout.signals.conductance import (
    Method,
    batch_documents,
    layer_conductance_all,
)
from transferscout.signals.words import word_scores
from transferscout.training.settings import Precision

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "AttributionCache",
    "AttributionSettings",
    "attribute_documents",
    "baseline_fill_id",
    "document_key",
    "resolve_baseline",
    "span_pieces",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttributionSettings:
    """How conductance is computed.

    Attributes:
        n_steps: Integration steps (``n_steps + 1`` points, as Captum).
        method: ``gausslegendre`` or a Riemann rule.
        target: The class whose logit is attributed (1: the positive class).
        max_length: Documents are truncated to this many tokens.
        documents_per_batch: Documents that go through the model together.
        internal_batch_size: Most interpolated rows per forward pass (memory bound).
        baseline: ``auto`` (the encoder family's default), ``pad``, ``mask`` or ``zero``
            (see :data:`transferscout.encoders.BASELINES`).
        precision: ``bf16`` runs the model under bfloat16 autocast (faster on recent CPUs,
            slightly different numbers); ``fp32`` does not.
    """

    n_steps: int = 50
    method: Method = "gausslegendre"
    target: int = 1
    max_length: int = 128
    documents_per_batch: int = 8
    internal_batch_size: int = 256
    baseline: Baseline | Literal["auto"] = "auto"
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if self.baseline != "auto" and self.baseline not in BASELINES:
            raise ConfigError(
                f"baseline = {self.baseline!r}; expected auto, {', '.join(BASELINES)}"
            )
        if self.n_steps < 1:
            raise ConfigError(f"n_steps = {self.n_steps}; expected at least 1")
        if self.documents_per_batch < 1 or self.internal_batch_size < 2:
            raise ConfigError("documents_per_batch must be >= 1 and internal_batch_size >= 2")
        if self.method not in (
            "gausslegendre",
            "riemann_left",
            "riemann_right",
            "riemann_middle",
            "riemann_trapezoid",
        ):
            raise ConfigError(f"method = {self.method!r}; expected gausslegendre or riemann_*")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision = {self.precision!r}; expected 'fp32' or 'bf16'")

    def key(self) -> dict[str, object]:
        """The settings that change the numbers (batching does not)."""
        data = asdict(self)
        del data["documents_per_batch"], data["internal_batch_size"]
        if self.baseline == "auto":  # the family's default; keys written before it existed
            del data["baseline"]
        if self.precision == "fp32":  # the keys of caches made before the option stay valid
            del data["precision"]
        return data


@dataclass(frozen=True)
class _Encoded:
    """One document's tokens, word index per token, token types and each word's text.

    ``spaced`` is the index of each token's word among the first text's words separated by
    single spaces (a tagged sentence's words; ``None`` for special tokens and a second text).
    ``offsets`` are each token's characters in its own text, ``in_second`` whether a token
    is of the second text, ``second_words`` whether each word is, ``special`` whether a
    token is a special token (a pair's baseline keeps them all).
    """

    input_ids: list[int]
    word_ids: list[int | None]
    token_types: list[int]
    words: list[str]
    spaced: list[int | None]
    offsets: list[tuple[int, int]]
    in_second: list[bool]
    second_words: list[bool]
    special: list[bool]


def _encode_documents(
    tokenizer: PreTrainedTokenizerBase,
    documents: Mapping[str, str],
    pairs: Mapping[str, str],
    max_length: int,
) -> dict[str, _Encoded]:
    """Tokenise documents (a pair as the tokenizer's sentence pair) and locate their words.

    The words of a pair's second text are numbered after the first text's, so a document's
    words are those of both texts, in order.
    """
    out: dict[str, _Encoded] = {}
    single = [doc for doc in documents if doc not in pairs]
    paired = [doc for doc in documents if doc in pairs]
    for ids, second in ((single, None), (paired, [pairs[d] for d in paired])):
        if not ids:
            continue
        first = [documents[d] for d in ids]
        encoded = tokenizer(
            first,
            *(() if second is None else (second,)),
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
        )
        types = encoded.get("token_type_ids")
        for index, doc in enumerate(ids):
            sequences = encoded.sequence_ids(index)
            texts = [first[index], "" if second is None else second[index]]
            shift = 1 + max(
                (
                    w
                    for w, q in zip(encoded.word_ids(index), sequences, strict=True)
                    if w is not None and q == 0
                ),
                default=-1,
            )
            word_ids: list[int | None] = []
            spans: dict[int, tuple[int, int, int]] = {}
            offsets = encoded["offset_mapping"][index]
            for word, sequence, (start, stop) in zip(
                encoded.word_ids(index), sequences, offsets, strict=True
            ):
                if word is None or sequence is None:
                    word_ids.append(None)
                    continue
                word += shift * sequence
                word_ids.append(word)
                old = spans.get(word)
                spans[word] = (sequence, start, stop) if old is None else (sequence, old[1], stop)
            located = [spans[w] for w in sorted(spans)]
            words = [texts[q][a:b] for q, a, b in located]
            token_types = list(types[index]) if types is not None and second is not None else []
            outside = [int(q != 0) for q in sequences]  # specials and a second text
            spaced = piece_words(offsets, outside, first[index])
            out[doc] = _Encoded(
                list(encoded["input_ids"][index]),
                word_ids,
                token_types,
                words,
                spaced,
                [(int(a), int(b)) for a, b in offsets],
                [q == 1 for q in sequences],
                [q == 1 for q, _, _ in located],
                [q is None for q in sequences],
            )
    return out


def document_key(doc_id: str, text: str, second: str | None, target: Target) -> str:
    """The cache row key of a document: its id and a hash of what its attribution depends on.

    ``second`` is a pair's second text (``None`` for a single text) and ``target`` the output
    attributed (an int, ``((word, output), …)`` or a :class:`~transferscout.kinds.SpanTarget`).
    A pair's key also names its baseline (every special token kept, since issue 31.8), so
    pair rows cached with the earlier baseline are computed again.
    """
    if isinstance(target, SpanTarget):
        attributed: object = ["span", int(target.start), int(target.end)]
    elif isinstance(target, tuple):
        attributed = [[int(word), int(output)] for word, output in target]
    else:
        attributed = int(target)
    parts: list[object] = [text, second, attributed]
    if second is not None:
        parts.append("specials-kept")
    content = json.dumps(parts, ensure_ascii=False)
    return f"{doc_id}:{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def baseline_fill_id(tokenizer: PreTrainedTokenizerBase, baseline: Baseline) -> int | None:
    """The token id a baseline puts at the inner tokens (``None`` for ``zero``).

    Raises:
        ConfigError: The tokenizer has no such token.
    """
    if baseline == "zero":
        return None
    fill_id = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    if fill_id is None:
        raise ConfigError(
            f"the {baseline!r} conductance baseline needs a {baseline} token, which the "
            "tokenizer does not have; set signals.ansat.baseline to another one"
        )
    return int(fill_id)


def resolve_baseline(model: torch.nn.Module, settings: AttributionSettings) -> Baseline:
    """The baseline ``settings`` ask for, with ``auto`` resolved to the model family's."""
    return family_of(model).baseline if settings.baseline == "auto" else settings.baseline


def attribute_documents(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    documents: Mapping[str, str],
    settings: AttributionSettings,
    *,
    on_batch: Callable[[int], None] | None = None,
    targets: Mapping[str, Target] | None = None,
    pairs: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Conductance of every document, as a words, a tokens and a documents table.

    The documents table holds each document's ``F(x) − F(x')`` and completeness error (see
    :func:`transferscout.signals.conductance.completeness_errors`).  Documents are batched by
    length (little padding) among those with the same attributed output; ``on_batch(n)`` is
    called after each batch of ``n`` documents.

    Args:
        model: The model.
        tokenizer: Its tokenizer.
        documents: Document id -> text.
        settings: How conductance is computed.
        on_batch: Progress callback.
        targets: Document id -> the output index attributed (default: ``settings.target``
            for every document), or ``((word, output), …)``: the sum of those outputs at
            the first piece of each word (words separated by single spaces; a token head's
            gold entity tags), or a :class:`~transferscout.kinds.SpanTarget` (a span head:
            only the second text's words are kept); the task's kind decides it.
        pairs: Document id -> the second text of a text-pair document.

    Raises:
        ConfigError: The baseline needs a token the tokenizer does not have.
    """
    import torch

    baseline = resolve_baseline(model, settings)
    fill_id = baseline_fill_id(tokenizer, baseline)
    device_type = next(model.parameters()).device.type
    encoded = _encode_documents(tokenizer, documents, pairs or {}, settings.max_length)
    ids = list(documents)
    target_of = {doc: settings.target if targets is None else targets[doc] for doc in ids}
    keys = {
        doc: document_key(doc, documents[doc], (pairs or {}).get(doc), target_of[doc])
        for doc in ids
    }
    word_rows: list[dict[str, object]] = []
    token_rows: list[dict[str, object]] = []
    document_rows: list[dict[str, object]] = []
    # documents with the same output index share batches; summed token outputs (one set per
    # document) are batched together, as weights over (token, output)
    groups: dict[str, int] = {}
    for doc in ids:
        target_doc = target_of[doc]
        groups[doc] = target_doc if isinstance(target_doc, int) else -1
    for target in sorted(set(groups.values())):
        group = [doc for doc in ids if groups[doc] == target]
        order = np.argsort([len(encoded[doc].input_ids) for doc in group], kind="stable")
        for start in range(0, len(order), settings.documents_per_batch):
            batch = [group[int(i)] for i in order[start : start + settings.documents_per_batch]]
            input_ids, mask = batch_documents(
                [encoded[doc].input_ids for doc in batch], tokenizer.pad_token_id
            )
            # a pair's baseline keeps its special tokens, the separator between its texts too
            keep = None
            if any(doc in (pairs or {}) for doc in batch):
                keep = torch.zeros_like(input_ids, dtype=torch.bool)
                for row, doc in enumerate(batch):
                    special = encoded[doc].special
                    keep[row, : len(special)] = torch.as_tensor(special, dtype=torch.bool)
            types = None
            if any(encoded[doc].token_types for doc in batch):
                types = torch.zeros_like(input_ids)
                for row, doc in enumerate(batch):
                    values = encoded[doc].token_types
                    types[row, : len(values)] = torch.as_tensor(values, dtype=torch.long)
            with torch.autocast(
                device_type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"
            ):
                result = layer_conductance_all(
                    model,
                    input_ids,
                    mask,
                    target=target
                    if target >= 0
                    else _token_weights(model, [encoded[d] for d in batch], target_of, batch),
                    n_steps=settings.n_steps,
                    method=settings.method,
                    internal_batch_size=settings.internal_batch_size,
                    baseline=baseline,
                    fill_id=fill_id,
                    token_type_ids=types,
                    special_tokens_mask=keep,
                )
            completeness = result.completeness_errors
            for row, doc in enumerate(batch):
                item = encoded[doc]
                document_rows.append(
                    {
                        "doc_id": doc,
                        "doc_key": keys[doc],
                        "endpoint_difference": float(result.endpoint_difference[row]),
                        "completeness_error": float(completeness[row]),
                    }
                )
                length = int(mask[row].sum())
                raw = result.scores[:, row, :length]
                for t in range(length):
                    token_rows.append(
                        {
                            "doc_id": doc,
                            "doc_key": keys[doc],
                            "token_index": t,
                            "token": tokenizer.convert_ids_to_tokens(item.input_ids[t]),
                            "layer_scores": raw[:, t].tolist(),
                        }
                    )
                per_layer, mean = word_scores(raw, item.word_ids)
                kept = _attributed_words(item, target_of[doc])
                for index, w in enumerate(kept):
                    word_rows.append(
                        {
                            "doc_id": doc,
                            "doc_key": keys[doc],
                            "word_index": index,
                            "word": item.words[w],
                            "layer_scores": per_layer[:, w].tolist(),
                            "score": float(mean[w]),
                        }
                    )
            if on_batch is not None:
                on_batch(len(batch))
    return (
        pd.DataFrame(word_rows, columns=_WORD_COLUMNS),
        pd.DataFrame(token_rows, columns=_TOKEN_COLUMNS),
        pd.DataFrame(document_rows, columns=_DOCUMENT_COLUMNS),
    )


def _attributed_words(item: _Encoded, target: Target) -> list[int]:
    """The words a document's scores are kept for: a span's context words, else all."""
    if isinstance(target, SpanTarget):
        return [w for w, second in enumerate(item.second_words) if second]
    return list(range(len(item.words)))


def span_pieces(
    offsets: Sequence[tuple[int, int]], in_second: Sequence[bool], target: SpanTarget
) -> tuple[int, int] | None:
    """The pieces whose start and end logits a span target attributes, or ``None``.

    The first piece holding the span's first character and the last holding its last (as
    the gold span is placed for training: :func:`~transferscout.kinds.qa.answer_token_span`);
    ``None`` for an empty span or one cut off by truncation.
    """
    if target.end <= target.start:
        return None
    return answer_token_span(offsets, in_second, target.start, target.end)


def _token_weights(
    model: torch.nn.Module,
    items: list[_Encoded],
    target_of: Mapping[str, Target],
    batch: list[str],
) -> torch.Tensor:
    """``(documents, tokens, outputs)``: the token outputs whose sum F is.

    1 at each target word's first piece and output (a token head), or at a span's first
    piece's start logit (output 0) and last piece's end logit (output 1).
    """
    import torch

    width = max(len(item.input_ids) for item in items)
    spans = any(isinstance(target_of[doc], SpanTarget) for doc in batch)
    outputs = 2 if spans else int(getattr(model, "config").num_labels)  # noqa: B009
    weights = torch.zeros(len(items), width, outputs)
    for row, (item, doc) in enumerate(zip(items, batch, strict=True)):
        target = target_of[doc]
        assert not isinstance(target, int)
        if isinstance(target, SpanTarget):
            found = span_pieces(item.offsets, item.in_second, target)
            if found is not None:  # else nothing is attributed (F = 0)
                weights[row, found[0], 0] = 1.0
                weights[row, found[1], 1] = 1.0
            continue
        first: dict[int, int] = {}
        for position, word in enumerate(item.spaced):
            if word is not None:
                first.setdefault(word, position)
        for word, output in target:
            if word in first:  # a word cut off by truncation adds nothing
                weights[row, first[word], output] = 1.0
    return weights


_WORD_COLUMNS = ["doc_id", "doc_key", "word_index", "word", "layer_scores", "score"]
_TOKEN_COLUMNS = ["doc_id", "doc_key", "token_index", "token", "layer_scores"]
_DOCUMENT_COLUMNS = ["doc_id", "doc_key", "endpoint_difference", "completeness_error"]
_COLUMNS = {"words": _WORD_COLUMNS, "tokens": _TOKEN_COLUMNS, "documents": _DOCUMENT_COLUMNS}


class AttributionCache:
    """Cached word and token attributions of models, in ``<run>/attributions``."""

    def __init__(self, run_dir: str | Path) -> None:
        self.folder = Path(run_dir) / "attributions"

    @staticmethod
    def key(model_fingerprint: str, settings: AttributionSettings) -> str:
        """The cache key of a model file's content and the settings."""
        text = json.dumps([model_fingerprint, settings.key()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _path(self, key: str, kind: str) -> Path:
        return self.folder / f"{key}.{kind}.parquet"

    def _read(self, key: str, kind: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A cached table (empty if nothing is cached, or only rows without ``doc_key``)."""
        path = self._path(key, kind)
        if path.exists() and "doc_key" in pq.read_schema(path).names:
            return pd.read_parquet(path, columns=columns)
        return pd.DataFrame(columns=columns or _COLUMNS[kind])

    def words(self, key: str) -> pd.DataFrame:
        """The cached words table (empty if nothing is cached)."""
        return self._read(key, "words")

    def tokens(self, key: str) -> pd.DataFrame:
        """The cached raw per-layer token scores (empty if nothing is cached)."""
        return self._read(key, "tokens")

    def documents(self, key: str) -> pd.DataFrame:
        """The cached per-document completeness (empty if nothing is cached)."""
        return self._read(key, "documents")

    def ids(self, key: str) -> set[str]:
        """The ids of the cached documents (any text or target: see :meth:`missing`)."""
        return {str(doc) for doc in self._read(key, "words", ["doc_id"])["doc_id"]}

    def completeness(self, key: str, doc_keys: Mapping[str, str]) -> dict[str, float]:
        """Median and max completeness error over some documents (id -> :func:`document_key`).

        NaN: none recorded.
        """
        table = self.documents(key)
        errors = table.loc[table["doc_key"].isin(set(doc_keys.values())), "completeness_error"]
        values = errors.to_numpy(dtype=np.float64)
        if not len(values):
            return {"median": float("nan"), "max": float("nan"), "documents": 0.0}
        return {
            "median": float(np.median(values)),
            "max": float(values.max()),
            "documents": float(len(values)),
        }

    def missing(self, key: str, doc_keys: Mapping[str, str]) -> list[str]:
        """The ids of the documents (id -> :func:`document_key`) with no cached attribution."""
        known = set(self._read(key, "words", ["doc_key"])["doc_key"])
        return [doc for doc, doc_key in doc_keys.items() if doc_key not in known]

    def add(
        self, key: str, words: pd.DataFrame, tokens: pd.DataFrame, documents: pd.DataFrame
    ) -> None:
        """Append new documents' attributions (files are replaced atomically, words last)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for kind, new, old in (
            ("documents", documents, self.documents(key)),
            ("tokens", tokens, self.tokens(key)),
            ("words", words, self.words(key)),
        ):
            table = new if old.empty else pd.concat([old, new], ignore_index=True)
            path = self._path(key, kind)
            temporary = path.with_suffix(".tmp")
            table.to_parquet(temporary, index=False)
            temporary.replace(path)

    def word_scores(
        self, key: str, doc_keys: Mapping[str, str]
    ) -> dict[str, npt.NDArray[np.float64]]:
        """Document id -> mean word scores in word order, for documents (id -> doc key)."""
        table = self.words(key)
        table = table[table["doc_key"].isin(set(doc_keys.values()))]
        table = table.sort_values(["doc_key", "word_index"])
        by_key = {
            str(doc_key): group["score"].to_numpy(dtype=np.float64)
            for doc_key, group in table.groupby("doc_key", sort=False)
        }
        # a document with no word (only special tokens) has no rows
        empty = np.zeros(0, dtype=np.float64)
        return {doc: by_key.get(doc_key, empty) for doc, doc_key in doc_keys.items()}
