"""Sentence units: characters (:class:`CharTokenizer`, :class:`CharListUnits`) or SentencePiece pieces
(:class:`SentencePieceUnits`), one interface.

Every kind of units exposes ``len()``, the special ids ``blank_id``, ``pad_id``, ``bos_id``, ``eos_id``,
``unk_id`` (the models, decoders, CTC and search take them from here, never from constants of their
own), ``normalise``, ``encode`` / ``decode``, ``oov_characters`` and ``to_dict()``; :func:`units_from_dict`
rebuilds any of them from its dict (its ``type``). Units are built from the training transcripts (or, for
SentencePiece, loaded from a ``.model`` file such as Auto-AVSR's ``unigram5000.model``) and saved as
``tokenizer.json`` next to the checkpoints and in their record, so evaluation and inference need no data.

Characters: ids 0-3 are the special tokens ``<pad> <bos> <eos> <unk>``; id 0 doubles as the CTC blank
(a padded target position is never a CTC label, so the two roles never meet).
SentencePiece: Auto-AVSR's layout, ``0 <blank>, 1 <unk>, pieces..., last <eos>`` with
``<sos> = <eos>`` and padding = blank. Characters from a units list (the CNVSRC baselines'
``char_units.txt``): the same layout, one character a unit.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from lipreading.utils.errors import UserError
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)
PUNCTUATION_MODES = ("remove", "keep", "keep_apostrophes")
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
_LONE_APOSTROPHE = re.compile(r"(?<!\w)'(?!\w)")


def normalise_text(text: str, punctuation: str = "remove") -> str:
    """NFKC (full-width forms -> ASCII: ，-> ,), punctuation -> space if asked, spaces collapsed,
    spaces beside Chinese characters dropped (English words keep theirs, for WER).

    ``keep_apostrophes`` removes punctuation but the apostrophes of English words (WE'RE, DON'T;
    ’ counts as '), as LRS2/LRS3 transcripts and Auto-AVSR's units have them.
    """
    if punctuation not in PUNCTUATION_MODES:
        raise ValueError(f"punctuation={punctuation!r}: valid values are {PUNCTUATION_MODES}")
    text = unicodedata.normalize("NFKC", text)
    if punctuation == "remove":
        text = "".join(" " if is_punctuation(c) else c for c in text)
    elif punctuation == "keep_apostrophes":
        text = "".join(" " if is_punctuation(c) and c != "'" else c for c in text.replace("\u2019", "'"))
        text = _LONE_APOSTROPHE.sub(" ", text)
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


SENTENCEPIECE_BLANK, SENTENCEPIECE_UNK, SENTENCEPIECE_EOS = "<blank>", "<unk>", "<eos>"
WORD_BOUNDARY = "\u2581"  # SentencePiece's "▁", a space before a word


def _processor(model: bytes, source: str):
    import sentencepiece  # only sentence runs with SentencePiece units need the package

    try:
        return sentencepiece.SentencePieceProcessor(model_proto=model)
    except (RuntimeError, OSError) as e:
        raise TokenizerError(f"{source}: not a SentencePiece model ({e})") from e


def read_units_file(path: str | os.PathLike) -> list[str]:
    """The pieces of an Auto-AVSR units list (``unigram5000_units.txt``: ``PIECE ID`` per line, ids 1, 2, ...)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read the units list ({e})") from e
    pieces = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) != 2 or fields[1] != str(number):
            raise TokenizerError(f"{path}:{number}: expected 'PIECE {number}' (Auto-AVSR's units list), got {line!r}")
        pieces.append(fields[0])
    if not pieces or pieces[0] != SENTENCEPIECE_UNK:
        raise TokenizerError(f"{path}: the first unit must be '{SENTENCEPIECE_UNK} 1' (Auto-AVSR's layout)")
    return pieces


class AutoAVSRLayout:
    """Auto-AVSR's id layout, shared by its pieces and by the CNVSRC baselines' characters: 0 ``<blank>`` (also
    padding), 1 ``<unk>``, the units, last ``<eos>`` (= ``<sos>``); ``tokens`` holds them all in that order."""

    tokens: list[str]
    blank_id = pad_id = 0
    unk_id = 1

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def eos_id(self) -> int:
        return len(self.tokens) - 1

    bos_id = eos_id  # Auto-AVSR's sos = eos = odim - 1

    def _units_of(self, ids: Iterable[int]) -> list[str]:
        """The units of ``ids`` up to ``<eos>``; blanks skipped, ``<unk>`` as U+FFFD."""
        units = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if 0 < i < self.eos_id:
                units.append(UNK_CHAR if i == self.unk_id else self.tokens[i])
        return units

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.to_dict() == other.to_dict()


class SentencePieceUnits(AutoAVSRLayout):
    """SentencePiece pieces <-> ids in Auto-AVSR's layout: 0 ``<blank>``, 1 ``<unk>``, the pieces, last ``<eos>``.

    Paper: T. Kudo, J. Richardson, "SentencePiece: a simple and language independent subword
    tokenizer", EMNLP 2018 (the unigram model: T. Kudo, ACL 2018). Layout: Auto-AVSR's
    ``TextTransform`` (``datamodule/transforms.py`` of github.com/mpc001/auto_avsr), whose ids come
    from a units list (``unigram5000_units.txt``) rather than the model's own piece ids; ``pieces``
    is that list (``<unk>`` first). Without one, the model's pieces (neither control nor unknown)
    in byte order, which is how Auto-AVSR's ``spm/train.sh`` writes the list when every piece occurs.
    ``<sos>`` = ``<eos>`` = ``len(self) - 1``; padding = blank = 0. Text is normalised as the
    units were trained: ``punctuation`` (see :func:`normalise_text`) and upper case (Auto-AVSR's
    English model is upper case) when ``uppercase``.
    """

    def __init__(
        self, model: bytes, pieces: Sequence[str] | None = None, punctuation: str = "keep_apostrophes",
        uppercase: bool = True, source: str = "SentencePiece model",
    ) -> None:
        normalise_text("", punctuation)  # validates the mode
        self.model, self.punctuation, self.uppercase = bytes(model), punctuation, uppercase
        self.processor = _processor(self.model, source)
        if pieces is None:
            p = self.processor
            own = (p.id_to_piece(i) for i in range(p.get_piece_size()) if not (p.is_control(i) or p.is_unknown(i)))
            pieces = [SENTENCEPIECE_UNK, *sorted(own, key=lambda piece: piece.encode("utf-8"))]
        if not pieces or pieces[0] != SENTENCEPIECE_UNK or len(set(pieces)) != len(pieces):
            raise TokenizerError(f"{source}: the units must be distinct pieces starting with {SENTENCEPIECE_UNK!r}")
        self.tokens: list[str] = [SENTENCEPIECE_BLANK, *pieces, SENTENCEPIECE_EOS]
        self._ids = {piece: i for i, piece in enumerate(self.tokens)}

    @classmethod
    def build(
        cls, texts: Iterable[str], vocab_size: int = 256, model_type: str = "unigram",
        punctuation: str = "keep_apostrophes", uppercase: bool = True,
    ) -> SentencePieceUnits:
        """Train a SentencePiece model of about ``vocab_size`` pieces on the normalised ``texts``.

        ``vocab_size`` is an upper bound (a small corpus may support fewer pieces); training is
        single-threaded, so one set of transcripts always gives the same units.
        """
        import io

        import sentencepiece

        normalised = [t for t in (cls._normalise(text, punctuation, uppercase) for text in texts) if t]
        if not normalised:
            raise TokenizerError("no transcript left to train SentencePiece units on (all empty after normalisation)")
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(normalised), model_writer=model, vocab_size=vocab_size, model_type=model_type,
                character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2,
            )
        except RuntimeError as e:  # e.g. fewer pieces allowed than the transcripts have characters
            reason = str(e).split("] ")[-1]
            raise TokenizerError(
                f"SentencePiece training on {len(normalised)} transcripts failed with vocab_size={vocab_size}, "
                f"model_type={model_type!r}: {reason}"
            ) from e
        return cls(model.getvalue(), punctuation=punctuation, uppercase=uppercase)

    @classmethod
    def from_files(
        cls, model: str | os.PathLike, units_file: str | os.PathLike | None = None,
        punctuation: str = "keep_apostrophes", uppercase: bool = True,
    ) -> SentencePieceUnits:
        """A ``.model`` file, with Auto-AVSR's units list when given (the id layout of its checkpoints and label lists)."""
        path = Path(model)
        try:
            proto = path.read_bytes()
        except OSError as e:
            raise TokenizerError(f"{path}: cannot read the SentencePiece model ({e})") from e
        pieces = read_units_file(units_file) if units_file is not None else None
        return cls(proto, pieces, punctuation, uppercase, source=str(path))

    @staticmethod
    def _normalise(text: str, punctuation: str, uppercase: bool) -> str:
        text = normalise_text(text, punctuation)
        return text.upper() if uppercase else text

    def normalise(self, text: str) -> str:
        return self._normalise(text, self.punctuation, self.uppercase)

    def pieces(self, text: str) -> list[str]:
        """The pieces of the normalised ``text`` (an unknown stretch is one piece outside the units)."""
        return self.processor.encode(self.normalise(text), out_type=str)

    def encode(self, text: str) -> list[int]:
        """Ids of the normalised ``text`` (no ``<eos>``); a piece outside the units is ``<unk>``."""
        return [self._ids.get(piece, self.unk_id) for piece in self.pieces(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at ``<eos>``; blanks skipped, ``<unk>`` reads as U+FFFD (Auto-AVSR's join)."""
        return " ".join("".join(self._units_of(ids)).replace(WORD_BOUNDARY, " ").split())

    def oov_characters(self, text: str) -> list[str]:
        """The characters of the normalised ``text`` that only ``<unk>`` can stand for."""
        return [c for piece in self.pieces(text) if piece not in self._ids for c in piece.replace(WORD_BOUNDARY, "")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "sentencepiece", "punctuation": self.punctuation, "uppercase": self.uppercase,
            "pieces": self.tokens[1:-1], "model": base64.b64encode(self.model).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "tokenizer") -> SentencePieceUnits:
        try:
            model = base64.b64decode(data["model"], validate=True)
            pieces = list(data["pieces"])
        except (KeyError, TypeError, ValueError) as e:
            raise TokenizerError(f"{source}: not SentencePiece units (expected base64 'model' and 'pieces')") from e
        return cls(model, pieces, data.get("punctuation", "keep_apostrophes"), data.get("uppercase", True), source)

    def __repr__(self) -> str:
        return f"SentencePieceUnits({len(self)} tokens, punctuation={self.punctuation!r}, uppercase={self.uppercase})"


def pretrained_sentencepiece(
    texts: Iterable[str] = (), *, model: str | os.PathLike, units_file: str | os.PathLike | None = None,
    punctuation: str = "keep_apostrophes", uppercase: bool = True,
) -> SentencePieceUnits:
    """The units of a trained ``.model`` file (``data/units=sentencepiece_file``), read when a
    datamodule first needs them; logs how many of the training ``texts`` hold characters it cannot encode."""
    units = SentencePieceUnits.from_files(model, units_file, punctuation, uppercase)
    texts = list(texts)
    unknown = sum(bool(units.oov_characters(t)) for t in texts)
    if unknown:
        log.warning("%s: %d of %d training transcripts hold characters the units cannot encode (read as <unk>)",
                    model, unknown, len(texts))
    return units


class CharListUnits(AutoAVSRLayout):
    """Characters <-> ids of a units list in Auto-AVSR's layout: 0 ``<blank>``, 1 ``<unk>``, the characters, last ``<eos>``.

    The units of the CNVSRC 2024 and 2025 baselines (forks of Auto-AVSR): ``datamodule/char_units.txt`` of
    github.com/sectum1919/CNVSRC2024Baseline (read at 3464e7c; identical in github.com/liu12366262626/CNVSRC2025
    ``VSR/``), ``CHAR ID`` per line from ``<unk> 1``, 4,467 characters, and its ``TextTransform`` (``datamodule/
    transforms.py``): one id per character of the text, ``<unk>`` for a character outside the list, ``<blank>``
    prepended and ``<eos>`` (= ``<sos>``) appended, so 4,470 outputs. Text is normalised (``punctuation``, see
    :func:`normalise_text`) before it is split into characters.
    """

    def __init__(self, characters: Sequence[str], punctuation: str = "remove", source: str = "units list") -> None:
        normalise_text("", punctuation)  # validates the mode
        characters = list(characters)
        if not characters or characters[0] != SENTENCEPIECE_UNK:
            raise TokenizerError(f"{source}: the first unit must be {SENTENCEPIECE_UNK!r} (Auto-AVSR's layout)")
        duplicates = sorted(c for c, n in Counter(characters).items() if n > 1)
        longer = [c for c in characters[1:] if len(c) != 1]
        if duplicates or longer:
            raise TokenizerError(f"{source}: the units must be distinct single characters after {SENTENCEPIECE_UNK!r}; "
                                 f"duplicates {duplicates[:5]}, longer units {longer[:5]}")
        self.punctuation = punctuation
        self.tokens: list[str] = [SENTENCEPIECE_BLANK, *characters, SENTENCEPIECE_EOS]
        self._ids = {c: i for i, c in enumerate(self.tokens) if 0 < i < len(self.tokens) - 1}

    @classmethod
    def from_file(cls, units_file: str | os.PathLike, punctuation: str = "remove") -> CharListUnits:
        """The units of a ``CHAR ID`` list such as the CNVSRC baselines' ``char_units.txt``."""
        return cls(read_units_file(units_file), punctuation, source=str(units_file))

    def normalise(self, text: str) -> str:
        return normalise_text(text, self.punctuation)

    def encode(self, text: str) -> list[int]:
        """Ids of the normalised ``text`` (no ``<eos>``); a character outside the list is ``<unk>``."""
        return [self._ids.get(c, self.unk_id) for c in self.normalise(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at ``<eos>``; blanks skipped, ``<unk>`` reads as U+FFFD."""
        return "".join(self._units_of(ids))

    def oov_characters(self, text: str) -> list[str]:
        """The characters of the normalised ``text`` that are not in the list."""
        return [c for c in self.normalise(text) if c not in self._ids]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char_list", "punctuation": self.punctuation, "units": self.tokens[1:-1]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "tokenizer") -> CharListUnits:
        units = data.get("units") if isinstance(data, dict) else None
        if not isinstance(units, list):
            raise TokenizerError(f"{source}: not a character units list (expected 'units' starting with {SENTENCEPIECE_UNK!r})")
        return cls(units, data.get("punctuation", "remove"), source)

    def __repr__(self) -> str:
        return f"CharListUnits({len(self)} tokens, punctuation={self.punctuation!r})"


def listed_characters(texts: Iterable[str] = (), *, units_file: str | os.PathLike, punctuation: str = "remove") -> CharListUnits:
    """The units of a ``CHAR ID`` list (``data/units=char_units_file``), read when a datamodule first needs them;
    logs how many of the training ``texts`` hold characters outside it."""
    units = CharListUnits.from_file(units_file, punctuation)
    texts = list(texts)
    unknown = sum(bool(units.oov_characters(t)) for t in texts)
    if unknown:
        log.warning("%s: %d of %d training transcripts hold characters outside the list (read as <unk>)",
                    units_file, unknown, len(texts))
    return units


UNIT_TYPES: dict[str, Callable[[dict[str, Any], str], Units]] = {
    "char": CharTokenizer.from_dict, "sentencepiece": SentencePieceUnits.from_dict,
    "char_list": CharListUnits.from_dict,
}
"""``to_dict()["type"]`` -> the function that rebuilds those units from their dict."""


def units_from_dict(data: dict[str, Any], source: str = "units") -> Units:
    """The units that ``data`` (a ``to_dict()``) describes; :class:`TokenizerError` naming ``source`` otherwise."""
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in UNIT_TYPES:
        raise TokenizerError(f"{source}: units of type {kind!r} are unknown; known types: {', '.join(UNIT_TYPES)}")
    return UNIT_TYPES[kind](data, source)


def load_units(path: str | os.PathLike) -> Units:
    """Units saved as JSON (``tokenizer.json``) by either kind's ``save``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TokenizerError(f"{path}: unreadable tokenizer file ({e}); delete it to rebuild it") from e
    return units_from_dict(data, str(path))
