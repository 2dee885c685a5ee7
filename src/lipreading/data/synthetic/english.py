"""Synthetic English sentences: the language of :mod:`.sentences` for English.

Sentences come from slot templates over CMU Pronouncing Dictionary words (``SUBJECT ACTION PLACE
TIME``: MY FRIEND COOKED DINNER IN THE GARDEN LAST NIGHT), in the past tense so that every subject
fits every verb. Each word's first CMUdict pronunciation gives its ARPAbet phonemes, spoken with
the log-normal phoneme durations of the synthetic words (:func:`.words.phoneme_durations`) and drawn
by the same mouth renderer. No two fillers of a slot share a viseme string, but across sentences
English homophenes remain (P/B/M and T/D/S/Z look alike); :func:`ambiguity_ceiling` computes the WER
that even a perfect viseme reader must make. Held-out sentence types, rendering and the cached
generation: :mod:`.sentences` (``generate_sentence_dataset(..., language="english")``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from . import sentences
from .sentences import Grammar, Language, Timeline
from .visemes import SILENCE, pronunciation
from .words import phoneme_durations

GENERATOR_VERSION = 1
"""Bump when a change to the grammar, the timing or the rendering changes what a seed gives."""

_SUBJECTS = (
    "I", "YOU", "WE", "THEY", "MY FRIEND", "THE TEACHER", "HIS MOTHER", "OUR NEIGHBOR", "HER BROTHER",
    "THE CHILDREN", "MY FATHER", "YOUR SISTER",
)
_ACTIONS = (
    "READ A BOOK", "PLAYED FOOTBALL", "COOKED DINNER", "WATCHED A FILM", "WROTE A LETTER", "PAINTED THE FENCE",
    "CLEANED THE KITCHEN", "BOUGHT SOME BREAD", "CALLED A DOCTOR", "OPENED THE WINDOW", "FIXED THE CAR",
    "SANG A SONG", "DRANK SOME COFFEE", "WASHED THE DISHES", "FED THE CAT", "CAUGHT A FISH", "LOST THE KEYS",
    "FOUND A COIN", "BUILT A HOUSE", "DREW A PICTURE", "KICKED THE BALL", "CLOSED THE DOOR", "ATE AN APPLE",
    "MET A STRANGER", "SOLD THE BIKE", "TOOK A PHOTO", "WALKED THE DOG", "PLANTED A TREE", "MISSED THE TRAIN",
    "HEARD A NOISE",
)
_PLACES = (
    "AT HOME", "IN THE PARK", "AT SCHOOL", "IN THE GARDEN", "AT THE OFFICE", "IN LONDON", "ON THE BEACH",
    "AT THE STATION", "IN THE VILLAGE", "NEAR THE RIVER",
)
_TIMES = (
    "YESTERDAY", "LAST NIGHT", "LAST WEEK", "THIS MORNING", "ON MONDAY", "ON FRIDAY", "AT NOON", "IN JUNE",
    "TWICE", "AGAIN",
)

GRAMMARS: dict[str, Grammar] = {
    # 12 x 30 x (10 x 10 + 10 + 10) = 43,200 sentences over 107 words, 4-11 words each.
    # Viseme-ambiguity ceiling on the test types: see the docs (`ambiguity_ceiling`, units=words).
    "medium": Grammar(
        slots={"SUBJECT": _SUBJECTS, "ACTION": _ACTIONS, "PLACE": _PLACES, "TIME": _TIMES},
        templates=(
            ("SUBJECT", "ACTION", "PLACE", "TIME"),
            ("SUBJECT", "ACTION", "TIME"),
            ("TIME", "SUBJECT", "ACTION"),
        ),
        separator=" ",
    ),
    # For tests and quick looks: 3 x 4 x 2 = 24 sentences.
    "tiny": Grammar(
        slots={"SUBJECT": ("I", "THEY", "MY FRIEND"), "ACTION": ("READ A BOOK", "COOKED DINNER", "FED THE CAT",
                                                                 "SANG A SONG"),
               "TIME": ("YESTERDAY", "AGAIN")},
        templates=(("SUBJECT", "ACTION", "TIME"),),
        separator=" ",
    ),
}

# Timing and nuisance, drawn per clip (phoneme durations: .words.PHONEME_MEAN_DURATION, log-normal).
RATE_RANGE = (0.85, 1.2)
PAUSE_PROBABILITY = 0.1  # chance of a pause at each phrase boundary
PAUSE_RANGE_S = (0.05, 0.2)
EDGE_SILENCE_S = (0.12, 0.3)  # silence before the first and after the last phoneme


def phrase_phonemes(phrase: str) -> tuple[str, ...]:
    """The ARPAbet phonemes (stress digits kept) of the phrase's words, one after the other."""
    return tuple(p for word in phrase.split() for p in pronunciation(word))


def grammar_by_name(name: str) -> Grammar:
    return ENGLISH.grammar(name)


def viseme_string(grammar: Grammar, sentence: str) -> tuple[str, ...]:
    """The sentence's viseme classes, runs of one class merged (what the lips show)."""
    return sentences.viseme_string(ENGLISH, grammar, sentence)


def ambiguity_ceiling(grammar: Grammar, references: Iterable[str], units=sentences.words) -> float:
    """The corpus WER (CER with ``units=sentences.characters``) of the best reader of visemes."""
    return sentences.ambiguity_ceiling(ENGLISH, grammar, references, units)


def sample_timeline(grammar: Grammar, sentence: str, rng: np.random.Generator) -> tuple[Timeline, float]:
    """A phoneme timeline of ``sentence`` spoken at a random rate, and the clip's duration (s)."""
    rate = float(rng.uniform(*RATE_RANGE))
    timeline: Timeline = []
    time = float(rng.uniform(*EDGE_SILENCE_S))
    for k, phrase in enumerate(grammar.segment(sentence)):
        if k > 0 and rng.random() < PAUSE_PROBABILITY:
            pause = float(rng.uniform(*PAUSE_RANGE_S))
            timeline.append((SILENCE, time, time + pause))
            time += pause
        phonemes = phrase_phonemes(phrase)
        for phoneme, length in zip(phonemes, phoneme_durations(phonemes, rate, rng).tolist()):
            timeline.append((phoneme, time, time + length))
            time += length
    return timeline, time + float(rng.uniform(*EDGE_SILENCE_S))


ENGLISH = Language(
    dataset="synthetic_english_sentences",
    generator_version=GENERATOR_VERSION,
    grammars=GRAMMARS,
    phrase_phonemes=phrase_phonemes,
    sample_timeline=sample_timeline,
    timing={"rate_range": RATE_RANGE, "pause_probability": PAUSE_PROBABILITY, "pause_range_s": PAUSE_RANGE_S,
            "edge_silence_s": EDGE_SILENCE_S},
)
