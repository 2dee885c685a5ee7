"""Synthetic audio-visual word clips: eSpeak NG speaks, its phoneme timeline drives the mouth.

eSpeak NG (:mod:`.espeak`) says the target word among random neighbouring LRW words; every
phoneme's start and end sample become a timeline of ARPAbet phonemes (:data:`ESPEAK_TO_ARPABET`)
that :func:`.mouth.render_timeline` draws. Audio and video are therefore in sync by construction.
A clip is 29 frames at 25 fps (1.16 s) with 16 kHz mono audio, 640 samples per frame, the target
word near the middle (as LRW). Each of the pool's speakers has one mouth and one voice (eSpeak
variant, pitch, intonation range, speaking rate), drawn from the dataset's seed.

English only here; eSpeak's Mandarin voice (``cmn-latn-pinyin``) gives timings the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..audio import SAMPLE_RATE, resample
from ..clip import Clip
from .espeak import SpeechError, Utterance, Voice, synthesize
from .mouth import render_timeline
from .visemes import SILENCE, viseme_of, viseme_string
from .words import CENTRE_JITTER_S, NUM_SPEAKERS, _random_word, _stream, speaker_of, visible_timeline

# eSpeak NG's English phoneme names (stress marks ' and , removed) -> ARPAbet. A diphthong with a
# glide or r-colouring becomes two phonemes sharing its span; () joins the previous phoneme
# (eSpeak's ';' is a linking glide, "being" = b i: ; I N). Names starting with '_' are pauses.
ESPEAK_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # vowels
    "0": ("AA",), "3:": ("ER",), "3": ("ER",), "A:": ("AA",), "A@": ("AA", "R"), "E": ("EH",),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "O2": ("AO",), "O:": ("AO",), "O@": ("AO", "R"),
    "o@": ("AO", "R"), "OI": ("OY",), "U": ("UH",), "U@": ("UH", "R"), "V": ("AH",), "a": ("AE",),
    "a#": ("AH",), "aa": ("AE",), "aI": ("AY",), "aI3": ("AY", "ER"), "aI@": ("AY", "AH"),
    "aU": ("AW",), "e@": ("EH", "R"), "eI": ("EY",), "i": ("IY",), "i:": ("IY",), "i@": ("IY", "AH"),
    "i@3": ("IH", "R"), "oU": ("OW",), "u:": ("UW",), "@": ("AH",), "@-": ("AH",), "@L": ("AH", "L"),
    "@2": ("AH",), "@5": ("AH",), "e": ("EH",), "u": ("UW",), "o": ("OW",), "aU@": ("AW", "ER"),
    "n-": ("AH", "N"), "l-": ("AH", "L"), "m-": ("AH", "M"), "3:r": ("ER",), "A": ("AA",), ";": (),
    # consonants
    "b": ("B",), "d": ("D",), "D": ("DH",), "dZ": ("JH",), "f": ("F",), "g": ("G",), "h": ("HH",),
    "j": ("Y",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "N": ("NG",), "p": ("P",),
    "r": ("R",), "r-": ("R",), "s": ("S",), "S": ("SH",), "t": ("T",), "t#": ("T",), "t2": ("T",),
    "d#": ("D",), "T": ("TH",), "tS": ("CH",), "v": ("V",), "w": ("W",), "x": ("K",), "z": ("Z",),
    "Z": ("ZH",), "?": ("T",),  # a glottal stop stands for /t/ ("certainly")
}

VOICE_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4")
"""eSpeak NG variants of the ``en-us`` voice that the speaker pool draws from."""
RATE_WPM = (140, 210)  # speaking rate, words per minute (eSpeak's default is 175)
PITCH = (25, 75)
PITCH_RANGE = (25, 75)
NEIGHBOURS = 2
"""Random LRW words spoken before, and again after, the target word."""


def arpabet_timeline(utterance: Utterance) -> list[tuple[str, float, float]]:
    """The utterance's phonemes as ``(ARPAbet or 'SIL', start_s, end_s)`` in utterance time."""
    timeline: list[tuple[str, float, float]] = []
    for name, start, end in utterance.phonemes:
        start_s, end_s = start / utterance.sample_rate, end / utterance.sample_rate
        base = name.replace("'", "").replace(",", "")
        if base.startswith("_"):
            timeline.append((SILENCE, start_s, end_s))
            continue
        if base not in ESPEAK_TO_ARPABET:
            raise SpeechError(f"eSpeak phoneme {name!r} has no ARPAbet mapping; add it to ESPEAK_TO_ARPABET")
        phonemes = ESPEAK_TO_ARPABET[base]
        if not phonemes:  # joins the previous phoneme
            if timeline:
                timeline[-1] = (timeline[-1][0], timeline[-1][1], end_s)
            continue
        step = (end_s - start_s) / len(phonemes)
        timeline.extend((p, start_s + i * step, start_s + (i + 1) * step) for i, p in enumerate(phonemes))
    return timeline


def espeak_viseme_string(word: str, voice: Voice = Voice()) -> tuple[str, ...]:
    """The viseme classes of eSpeak's pronunciation of ``word`` (runs of one class merged)."""
    phonemes = [p for p, _, _ in arpabet_timeline(synthesize(word.lower(), voice)) if p != SILENCE]
    return tuple(v for v, _ in itertools.groupby(viseme_of(p) for p in phonemes))


def viseme_agreement(words: Sequence[str]) -> float:
    """Fraction of ``words`` whose eSpeak viseme string equals their CMUdict one."""
    return float(np.mean([espeak_viseme_string(w) == viseme_string(w) for w in words]))


def speaker_voice(seed: int, speaker_id: int) -> Voice:
    """The voice of speaker ``speaker_id`` of the pool of a dataset generated with ``seed``."""
    rng = np.random.default_rng([seed, _stream("voice"), speaker_id])
    variant = VOICE_VARIANTS[int(rng.integers(len(VOICE_VARIANTS)))]
    return Voice(
        name=f"en-us{variant}",
        rate=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
        pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
        pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
    )


def voice_of_speaker(seed: int, speaker: str) -> Voice | None:
    """The voice of the pool speaker named ``speaker`` (``synthNNN``, as clips record it) of a dataset
    generated with ``seed``; None for a name that is not a pool speaker's."""
    if not (speaker.startswith("synth") and speaker[5:].isdigit()):
        return None
    return speaker_voice(seed, int(speaker[5:]))


def _target_span(utterance: Utterance, index: int) -> tuple[int, int]:
    """First and last sample of the non-pause phonemes of word ``index``."""
    spans = [
        (start, end)
        for (name, start, end), word in zip(utterance.phonemes, utterance.words)
        if word == index and not name.startswith("_")
    ]
    if not spans:
        raise SpeechError(f"eSpeak NG gave no phonemes for word {index} of the utterance")
    return spans[0][0], spans[-1][1]


def make_av_word_clip(
    word: str,
    rng: np.random.Generator,
    seed: int = 0,
    num_frames: int = 29,
    fps: float = 25.0,
    frame_size: int = 96,
) -> Clip:
    """One audio-visual clip of ``word``: a pool speaker says it amid random words, mouth in sync."""
    before = [_random_word(rng) for _ in range(NEIGHBOURS)]
    after = [_random_word(rng) for _ in range(NEIGHBOURS)]
    speaker_id = int(rng.integers(NUM_SPEAKERS))
    utterance = synthesize(" ".join(w.lower() for w in [*before, word, *after]), speaker_voice(seed, speaker_id))
    start, end = _target_span(utterance, len(before))
    duration = num_frames / fps
    rate = utterance.sample_rate
    # The clip's start in utterance time: the word's centre near the clip's centre.
    offset = (start + end) / 2 / rate + float(rng.uniform(-CENTRE_JITTER_S, CENTRE_JITTER_S)) - duration / 2
    timeline = [(p, s - offset, e - offset) for p, s, e in arpabet_timeline(utterance)]
    video = render_timeline(timeline, rng, num_frames, fps, frame_size, speaker=speaker_of(seed, speaker_id))
    return Clip(
        video=video,
        fps=fps,
        label=word,
        word_start=max(start / rate - offset, 0.0),
        word_end=min(end / rate - offset, duration),
        speaker=f"synth{speaker_id:03d}",
        audio=_window(resample(utterance.audio, rate, SAMPLE_RATE), offset, duration),
        sample_rate=SAMPLE_RATE,
        phonemes=visible_timeline(timeline, duration),
    )


def _window(audio: np.ndarray, start_s: float, duration_s: float) -> np.ndarray:
    """``audio`` (at :data:`SAMPLE_RATE`) from ``start_s`` for ``duration_s``, zeros outside it."""
    first, count = round(start_s * SAMPLE_RATE), round(duration_s * SAMPLE_RATE)
    out = np.zeros(count, dtype=np.float32)
    lo, hi = max(first, 0), min(first + count, len(audio))
    if hi > lo:
        out[lo - first : hi - first] = audio[lo:hi]
    return out
