"""Synthetic Mandarin sentences: the language of :mod:`.sentences` for Chinese.

Sentences come from a few templates with slots (``SUBJECT TIME PLACE ACTIVITY``: 我们今天在学校
学习唇语识别). Every filler phrase is converted by ``pypinyin`` (in context, so polyphones read
right) into initials and finals, which map onto ARPAbet-like phonemes and thereby onto the same
Lee & Yook viseme classes and the same mouth renderer as the synthetic words. Tones are invisible
and ignored, so 他/她 (tā), 上课/唱歌 or 今天/今年 collide; :func:`ambiguity_ceiling` computes the
CER that even a perfect viseme reader must make. Held-out sentence types, rendering and the cached
generation: :mod:`.sentences` (``generate_sentence_dataset(..., language="mandarin")``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np

from . import sentences
from .sentences import Grammar, Language, Timeline
from .visemes import SILENCE

GENERATOR_VERSION = 1
"""Bump when a change to the grammar, the timing or the rendering changes what a seed gives."""

# Pinyin initials -> ARPAbet phonemes of similar lip shape ('' = zero initial).
INITIAL_PHONEMES: dict[str, tuple[str, ...]] = {
    "": (), "b": ("B",), "p": ("P",), "m": ("M",), "f": ("F",), "d": ("D",), "t": ("T",),
    "n": ("N",), "l": ("L",), "g": ("G",), "k": ("K",), "h": ("HH",), "j": ("JH",), "q": ("CH",),
    "x": ("SH",), "zh": ("JH",), "ch": ("CH",), "sh": ("SH",), "r": ("R",), "z": ("Z",),
    "c": ("S",), "s": ("S",), "y": ("Y",), "w": ("W",),
}
# Pinyin finals (pypinyin's strict spelling, v = ü) -> ARPAbet phonemes. Diphthongs keep both
# targets (ao = open then rounded); ü is rounded (UH). NOTE: a deliberate simplification, not a
# phonetic transcription: only the lip shape matters here.
FINAL_PHONEMES: dict[str, tuple[str, ...]] = {
    "a": ("AA",), "o": ("AO",), "e": ("AH",), "ê": ("EH",), "i": ("IY",), "u": ("UW",), "v": ("UH",),
    "ai": ("AA", "IY"), "ei": ("EY", "IY"), "ao": ("AA", "UW"), "ou": ("AO", "UW"),
    "an": ("AE", "N"), "en": ("AH", "N"), "ang": ("AA", "NG"), "eng": ("AH", "NG"),
    "ong": ("UH", "NG"), "er": ("ER",),
    "ia": ("Y", "AA"), "ie": ("Y", "EH"), "iao": ("Y", "AA", "UW"), "iou": ("Y", "AO", "UW"),
    "ian": ("Y", "EH", "N"), "in": ("IY", "N"), "iang": ("Y", "AA", "NG"), "ing": ("IY", "NG"),
    "iong": ("Y", "UH", "NG"), "io": ("Y", "AO"),
    "ua": ("W", "AA"), "uo": ("W", "AO"), "uai": ("W", "AA", "IY"), "uei": ("W", "EY", "IY"),
    "uan": ("W", "AA", "N"), "uen": ("W", "AH", "N"), "uang": ("W", "AA", "NG"), "ueng": ("W", "AH", "NG"),
    "ve": ("UH", "EH"), "van": ("UH", "AE", "N"), "vn": ("UH", "N"),
}


_SUBJECTS = ("我", "你", "他", "她", "我们", "你们", "他们", "老师", "同学们", "小明", "妈妈", "哥哥")
_TIMES = ("今天", "明天", "昨天", "今年", "明年", "早上", "晚上", "下午", "周末", "现在")
_PLACES = ("在学校", "在家里", "在公园", "在图书馆", "在北京", "在上海", "在教室", "在医院", "在商店", "在操场")
_ACTIVITIES = (
    "学习唇语识别", "上课", "唱歌", "看书", "写字", "吃饭", "打球", "工作", "开会", "画画",
    "跑步", "买东西", "喝茶", "听音乐", "看电影", "做作业", "踢足球", "游泳", "跳舞", "休息",
    "读报纸", "打电话", "写信", "学中文", "弹钢琴", "玩游戏", "种花", "做饭", "洗衣服", "拍照片",
)
_DESTINATIONS = ("北京", "上海", "学校", "公园", "医院", "商店", "图书馆", "银行", "机场", "超市")

GRAMMARS: dict[str, Grammar] = {
    # 12 x 10 x (10 x 30 + 10 + 30) + 12 x 2 x 30 = 41,520 sentences over 117 characters;
    # viseme-ambiguity ceiling on the test types: CER 0.0165 (22% of them have a look-alike).
    "medium": Grammar(
        slots={
            "SUBJECT": _SUBJECTS, "TIME": _TIMES, "PLACE": _PLACES, "ACTIVITY": _ACTIVITIES,
            "DESTINATION": _DESTINATIONS, "LIKE": ("喜欢", "不喜欢"),
        },
        templates=(
            ("SUBJECT", "TIME", "PLACE", "ACTIVITY"),
            ("SUBJECT", "TIME", "去", "DESTINATION"),
            ("SUBJECT", "TIME", "想", "ACTIVITY"),
            ("SUBJECT", "LIKE", "ACTIVITY"),
        ),
    ),
    # For tests and quick looks: 3 x 2 x 4 = 24 sentences.
    "tiny": Grammar(
        slots={"SUBJECT": ("我", "他", "她"), "TIME": ("今天", "明天"), "ACTIVITY": ("上课", "唱歌", "看书", "吃饭")},
        templates=(("SUBJECT", "TIME", "ACTIVITY"),),
    ),
}

# Timing (seconds at speaking rate 1) and nuisance, all drawn per clip.
SYLLABLE_S = 0.2
SYLLABLE_SIGMA = 0.15  # log-normal jitter of each syllable's duration
SYLLABLE_RANGE_S = (0.15, 0.25)  # each syllable's duration is clipped to this range (at rate 1)
RATE_RANGE = (0.85, 1.2)
INITIAL_SHARE = 0.3  # fraction of a syllable taken by its initial consonant
PAUSE_PROBABILITY = 0.1  # chance of a pause at each phrase boundary
PAUSE_RANGE_S = (0.05, 0.2)
EDGE_SILENCE_S = (0.12, 0.3)  # silence before the first and after the last syllable

def grammar_by_name(name: str) -> Grammar:
    return MANDARIN.grammar(name)


@functools.cache
def phrase_syllables(phrase: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(character, phonemes)`` of each syllable of ``phrase`` (pinyin in context, tones dropped)."""
    from pypinyin import Style, lazy_pinyin

    initials = lazy_pinyin(phrase, style=Style.INITIALS, strict=False)
    finals = lazy_pinyin(phrase, style=Style.FINALS, strict=True)
    if len(initials) != len(phrase) or len(finals) != len(phrase):
        raise ValueError(f"{phrase!r}: pypinyin gave {len(finals)} syllables for {len(phrase)} characters")
    syllables = []
    for char, initial, final in zip(phrase, initials, finals):
        if initial not in INITIAL_PHONEMES or final not in FINAL_PHONEMES:
            raise ValueError(f"{char!r} in {phrase!r}: no phonemes for pinyin {initial!r} + {final!r}")
        syllables.append((char, INITIAL_PHONEMES[initial] + FINAL_PHONEMES[final]))
    return tuple(syllables)


def phrase_phonemes(phrase: str) -> tuple[str, ...]:
    """The phonemes of ``phrase``, syllable after syllable."""
    return tuple(p for _, phonemes in phrase_syllables(phrase) for p in phonemes)


def viseme_string(grammar: Grammar, sentence: str) -> tuple[str, ...]:
    """The sentence's viseme classes, runs of one class merged (what the lips show)."""
    return sentences.viseme_string(MANDARIN, grammar, sentence)


def ambiguity_ceiling(grammar: Grammar, references: Iterable[str]) -> float:
    """The corpus CER of the best possible reader of visemes on ``references`` (see :func:`.sentences.ambiguity_ceiling`)."""
    return sentences.ambiguity_ceiling(MANDARIN, grammar, references)


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
        for _, phonemes in phrase_syllables(phrase):
            length = float(np.clip(SYLLABLE_S * np.exp(rng.normal(0.0, SYLLABLE_SIGMA)), *SYLLABLE_RANGE_S)) / rate
            has_initial = len(phonemes) > 1
            shares = _phoneme_shares(len(phonemes), has_initial)
            for phoneme, share in zip(phonemes, shares):
                timeline.append((phoneme, time, time + share * length))
                time += share * length
    return timeline, time + float(rng.uniform(*EDGE_SILENCE_S))


def _phoneme_shares(count: int, has_initial: bool) -> list[float]:
    """How a syllable's duration divides among its ``count`` phonemes (the initial gets a fixed share)."""
    if count == 1:
        return [1.0]
    if not has_initial:
        return [1.0 / count] * count
    return [INITIAL_SHARE] + [(1.0 - INITIAL_SHARE) / (count - 1)] * (count - 1)


MANDARIN = Language(
    dataset="synthetic_sentences",
    generator_version=GENERATOR_VERSION,
    grammars=GRAMMARS,
    phrase_phonemes=phrase_phonemes,
    sample_timeline=sample_timeline,
    timing={"rate_range": RATE_RANGE, "syllable_s": SYLLABLE_S, "pause_probability": PAUSE_PROBABILITY},
)
