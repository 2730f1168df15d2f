"""Tiny random encoders of every supported family, each saved with its own tokenizer class.

Nothing is downloaded: each tokenizer is trained here from a small word list (WordPiece
vocabularies written by hand, SentencePiece and byte-level BPE models trained in a moment) and
each model is built from a config with hidden size 32 and two layers.  A row of :data:`ROWS`
is all a new family needs (next to its adapter entry).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from transferscout._offline import enable_offline_mode

enable_offline_mode()

import transformers  # noqa: E402

_WORDS = (
    "the a an and or of to in on at for with from by is are was be has have not no we i you "
    "they it this that there here need needs help please food water shelter tent tents medical "
    "doctor hospital people village city road area rice beans families wells dry power out "
    "storm coming tonight send clean drinking hungry children closed everywhere"
).split()
_CHARACTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
_CHARACTERS += list(".,!?'-:;/#@()")


def _corpus() -> list[str]:
    """Sentences for training the subword models: every word and every character."""
    lines = [" ".join(_WORDS[i : i + 7]) for i in range(0, len(_WORDS), 3)]
    lines += [" ".join(_CHARACTERS[i : i + 8]) for i in range(0, len(_CHARACTERS), 8)]
    lines += [f"{w} {i}" for i, w in enumerate(_WORDS)]
    return lines * 5


def _wordpiece(
    cls: str, specials: tuple[str, ...], *, vocab_only: bool = False
) -> Callable[[Path], Any]:
    """A WordPiece vocabulary; ``vocab_only`` keeps just ``vocab.txt`` (no tokenizer.json)."""

    def build(directory: Path) -> Any:
        vocab = list(specials)
        for token in [*_CHARACTERS, *(f"##{c}" for c in _CHARACTERS), *_WORDS]:
            if token not in vocab:
                vocab.append(token)
        tokenizer = getattr(transformers, cls)(
            vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True
        )
        tokenizer.save_pretrained(directory)
        if vocab_only:
            (directory / "tokenizer.json").unlink()
            (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        return tokenizer

    return build


_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _sentencepiece(
    cls: str, filename: str, pieces: dict[str, Any], *, keep_tokenizer_json: bool = True
) -> Callable[[Path], Any]:
    """Train a unigram SentencePiece model, save it as the family ships it, load it with ``cls``."""

    def build(directory: Path) -> Any:
        import sentencepiece

        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(_corpus()),
            model_writer=model,
            vocab_size=200,
            model_type="unigram",
            character_coverage=1.0,
            hard_vocab_limit=False,
            minloglevel=2,
            **pieces,
        )
        directory.mkdir(parents=True, exist_ok=True)
        (directory / filename).write_bytes(model.getvalue())
        (directory / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": cls, "do_lower_case": False})
        )
        tokenizer = getattr(transformers, cls).from_pretrained(directory)
        if keep_tokenizer_json:
            tokenizer.save_pretrained(directory)
        return tokenizer

    return build


def _byte_level_bpe(cls: str) -> Callable[[Path], Any]:
    """A byte-level BPE (vocab.json + merges.txt), as RoBERTa ships it."""

    def build(directory: Path) -> Any:
        from tokenizers import ByteLevelBPETokenizer

        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(
            _corpus(),
            vocab_size=400,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            show_progress=False,
        )
        directory.mkdir(parents=True, exist_ok=True)
        bpe.save_model(str(directory))
        (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": cls}))
        tokenizer = getattr(transformers, cls).from_pretrained(directory)
        tokenizer.save_pretrained(directory)
        return tokenizer

    return build


def _fast_bpe(directory: Path) -> Any:
    """A ``tokenizer.json``-only BPE tokenizer (ModernBERT ships a PreTrainedTokenizerFast)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    raw = Tokenizer(models.BPE(unk_token="[UNK]"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    raw.decoder = __import__("tokenizers").decoders.ByteLevel()
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[(t, raw.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
    )
    tokenizer.save_pretrained(directory)
    return tokenizer


@dataclass(frozen=True)
class TinyFamily:
    """One row of the family matrix: a config class with its settings, and a tokenizer."""

    name: str
    config: str
    tokenizer: Callable[[Path], Any]
    settings: dict[str, Any] = field(default_factory=dict)
    layer_key: str = "num_hidden_layers"
    position_padding: int = 0
    untie: Callable[[Any], None] | None = None

    def build(self, directory: Path, *, num_layers: int = 2, seed: int = 0) -> Path:
        """Write the tokenizer and a randomly initialised classifier to ``directory``."""
        tokenizer = self.tokenizer(directory)
        special = {
            f"{name}_token_id": getattr(tokenizer, f"{name}_token_id")
            for name in ("pad", "cls", "sep", "bos", "eos")
        }
        special["bos_token_id"] = special["bos_token_id"] or special["cls_token_id"]
        special["eos_token_id"] = special["eos_token_id"] or special["sep_token_id"]
        sizes = (
            {"dim": 32, "n_heads": 2, "hidden_dim": 64}
            if self.layer_key == "n_layers"
            else {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
        )
        config = getattr(transformers, self.config)(
            vocab_size=len(tokenizer),
            max_position_embeddings=64 + self.position_padding,
            **{self.layer_key: num_layers},
            **sizes,
            **{k: v for k, v in special.items() if v is not None},
            **self.settings,
        )
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            model = transformers.AutoModelForSequenceClassification.from_config(config)
        finally:
            torch.random.set_rng_state(state)
        model.save_pretrained(directory)
        return directory


class _Application(torch.nn.Module):
    """One application of a shared layer module, as a module of its own (for Captum's hooks)."""

    def __init__(self, shared: torch.nn.Module) -> None:
        super().__init__()
        self.shared = shared

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.shared(*args, **kwargs)


def _untie_albert(model: Any) -> None:
    """Give each application of ALBERT's shared layer group its own module (same weights)."""
    encoder = model.albert.encoder
    n = model.config.num_hidden_layers
    shared = encoder.albert_layer_groups[0]
    encoder.albert_layer_groups = torch.nn.ModuleList([_Application(shared) for _ in range(n)])
    model.config.num_hidden_groups = n


_XLMR_PIECES = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}
_ALBERT_PIECES = {
    "pad_id": 0,
    "unk_id": 1,
    "bos_id": 2,
    "eos_id": 3,
    "pad_piece": "<pad>",
    "unk_piece": "<unk>",
    "bos_piece": "[CLS]",
    "eos_piece": "[SEP]",
    "user_defined_symbols": ["[MASK]"],
}
_DEBERTA_PIECES = {
    "pad_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "unk_id": 3,
    "pad_piece": "[PAD]",
    "bos_piece": "[CLS]",
    "eos_piece": "[SEP]",
    "unk_piece": "[UNK]",
    "user_defined_symbols": ["[MASK]"],
}
_DEBERTA_V3 = {
    "relative_attention": True,
    "position_biased_input": False,
    "pos_att_type": ["p2c", "c2p"],
    "max_relative_positions": -1,
    "position_buckets": 16,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "type_vocab_size": 0,
}

#: The matrix: one row per family (DeBERTa-v2 and -v3 share a model type, not a config).
ROWS: tuple[TinyFamily, ...] = (
    TinyFamily("bert", "BertConfig", _wordpiece("BertTokenizer", _BERT_SPECIALS)),
    TinyFamily("roberta", "RobertaConfig", _byte_level_bpe("RobertaTokenizer"), position_padding=2),
    TinyFamily(
        "xlm-roberta",
        "XLMRobertaConfig",
        _sentencepiece("XLMRobertaTokenizer", "sentencepiece.bpe.model", _XLMR_PIECES),
        position_padding=2,
    ),
    TinyFamily(
        "distilbert",
        "DistilBertConfig",
        _wordpiece("DistilBertTokenizer", _BERT_SPECIALS, vocab_only=True),
        layer_key="n_layers",
    ),
    TinyFamily(
        "electra",
        "ElectraConfig",
        _wordpiece("ElectraTokenizer", _BERT_SPECIALS),
        settings={"embedding_size": 16},
    ),
    TinyFamily(
        "albert",
        "AlbertConfig",
        _sentencepiece("AlbertTokenizer", "spiece.model", _ALBERT_PIECES),
        settings={"embedding_size": 16},
        untie=_untie_albert,
    ),
    TinyFamily(
        "deberta-v2",
        "DebertaV2Config",
        _sentencepiece("DebertaV2Tokenizer", "spm.model", _DEBERTA_PIECES),
        settings={"relative_attention": True, "position_biased_input": True},
    ),
    TinyFamily(
        "deberta-v3",
        "DebertaV2Config",
        _sentencepiece(
            "DebertaV2Tokenizer", "spm.model", _DEBERTA_PIECES, keep_tokenizer_json=False
        ),
        settings=_DEBERTA_V3,
    ),
    TinyFamily(
        "modernbert", "ModernBertConfig", _fast_bpe, settings={"global_attn_every_n_layers": 2}
    ),
    TinyFamily(
        "mpnet",
        "MPNetConfig",
        _wordpiece("MPNetTokenizer", ("<s>", "<pad>", "</s>", "<unk>", "<mask>", "[UNK]")),
        position_padding=2,
    ),
)
