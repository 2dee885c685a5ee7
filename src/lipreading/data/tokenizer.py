"""Sentence units (tokenizers): the character tokenizer for Chinese characters or letters, one interface for all.

Every kind of units exposes ``len()``, the special ids ``blank_id``, ``pad_id``, ``bos_id``, ``eos_id``,
``unk_id`` (the models, decoders, CTC and search take them from here, never from constants of their
own), ``encode`` / ``decode`` and ``to_dict()``; :func:`units_from_dict` rebuilds any of them from
its dict (its ``type``). The character tokenizer is built from the training transcripts and saved as
``tokenizer.json`` next to the checkpoints and in their record, so evaluation and inference need no data.
Its ids 0-3 are the special tokens ``<pad> <bos> <eos> <unk>``; id 0 doubles as the CTC blank
(a padded target position is never a CTC label, so the two roles never meet).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, Protocol

from lipreading.utils.errors import UserError
from lipreading.utils.io import atomic_write_json

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
PUNCTUATION_MODES = ("remove", "keep")
UNK_CHAR = "\ufffd"  # how <unk> reads in decoded text: one character, so it costs one edit


class Units(Protocol):
    """What models, decoders, the CTC loss and the search need of a sentence's units."""

    blank_id: int
    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int

    def __len__(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Iterable[int]) -> str: ...
    def normalise(self, text: str) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...


class TokenizerError(UserError):
    """A tokenizer file that cannot be read or is malformed."""


def is_punctuation(char: str) -> bool:
    """True for Unicode punctuation and symbols (，。！？、“” ... and ASCII ones)."""
    return unicodedata.category(char)[0] in "PS"


# A space next to a CJK character separates nothing (Chinese is written without spaces).
_SPACE_BESIDE_CJK = re.compile(r"(?<=[\u3400-\u9fff\uf900-\ufaff]) | (?=[\u3400-\u9fff\uf900-\ufaff])")


def normalise_text(text: str, punctuation: str = "remove") -> str:
    """NFKC (full-width forms -> ASCII: ，-> ,), punctuation -> space if asked, spaces collapsed,
    spaces beside Chinese characters dropped (English words keep theirs, for WER)."""
    if punctuation not in PUNCTUATION_MODES:
        raise ValueError(f"punctuation={punctuation!r}: valid values are {PUNCTUATION_MODES}")
    text = unicodedata.normalize("NFKC", text)
    if punctuation == "remove":
        text = "".join(" " if is_punctuation(c) else c for c in text)
    return _SPACE_BESIDE_CJK.sub("", " ".join(text.split()))


class CharTokenizer:
    """Characters <-> ids; a character outside the vocabulary becomes ``<unk>``."""

    blank_id, pad_id, bos_id, eos_id, unk_id = PAD_ID, PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, characters: Sequence[str], punctuation: str = "remove") -> None:
        normalise_text("", punctuation)  # validates the mode
        duplicates = sorted(c for c, n in Counter(characters).items() if n > 1)
        if duplicates or any(c in SPECIAL_TOKENS or len(c) != 1 for c in characters):
            raise ValueError(f"characters must be distinct single characters, got duplicates {duplicates}")
        self.tokens: list[str] = [*SPECIAL_TOKENS, *characters]
        self.punctuation = punctuation
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], punctuation: str = "remove", min_count: int = 1) -> CharTokenizer:
        """The characters of ``texts`` seen at least ``min_count`` times, most frequent first."""
        counts = Counter(c for text in texts for c in normalise_text(text, punctuation))
        # Frequency order, ties by code point: deterministic for one set of transcripts.
        characters = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
        return cls(characters, punctuation)

    def __len__(self) -> int:
        return len(self.tokens)

    def normalise(self, text: str) -> str:
        return normalise_text(text, self.punctuation)

    def encode(self, text: str) -> list[int]:
        """Ids of the normalised ``text`` (no ``<bos>``/``<eos>``)."""
        return [self._ids.get(c, UNK_ID) for c in self.normalise(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at ``<eos>``; ``<pad>``/``<bos>`` are skipped, ``<unk>`` reads as U+FFFD."""
        chars = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            chars.append(self.tokens[i] if UNK_ID < i < len(self.tokens) else UNK_CHAR)
        return "".join(chars)

    def oov_characters(self, text: str) -> list[str]:
        """The characters of the normalised ``text`` that are not in the vocabulary."""
        return [c for c in self.normalise(text) if c not in self._ids]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "punctuation": self.punctuation, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "tokenizer") -> CharTokenizer:
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or tuple(tokens[:4]) != SPECIAL_TOKENS:
            raise TokenizerError(f"{source}: not a character tokenizer (expected 'tokens' starting with {SPECIAL_TOKENS})")
        return cls(tokens[4:], data.get("punctuation", "remove"))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise TokenizerError(f"{path}: unreadable tokenizer file ({e}); delete it to rebuild it") from e
        return cls.from_dict(data, str(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self)} tokens, punctuation={self.punctuation!r})"


UNIT_TYPES: dict[str, Callable[[dict[str, Any], str], Units]] = {"char": CharTokenizer.from_dict}
"""``to_dict()["type"]`` -> the function that rebuilds those units from their dict."""


def units_from_dict(data: dict[str, Any], source: str = "units") -> Units:
    """The units that ``data`` (a ``to_dict()``) describes; :class:`TokenizerError` naming ``source`` otherwise."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in UNIT_TYPES:
        raise TokenizerError(f"{source}: units of type {kind!r} are unknown; known types: {', '.join(UNIT_TYPES)}")
    return UNIT_TYPES[kind](data, source)
