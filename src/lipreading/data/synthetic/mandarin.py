"""The synthetic Mandarin sentence dataset: a rendered mouth saying sentences of a slot grammar.

Sentences come from a few templates with slots (``SUBJECT TIME PLACE ACTIVITY``: 我们今天在学校
学习唇语识别), so the language is small enough to learn in minutes and structured enough that a
decoder with a language model can resolve syllables that look identical on the lips. Every
filler phrase is converted by ``pypinyin`` (in context, so polyphones read right) into initials
and finals, which map onto ARPAbet-like phonemes and thereby onto the same Lee & Yook viseme
classes and the same mouth renderer (:func:`~lipreading.data.synthetic.render_timeline`) as the
synthetic words. Tones are invisible and ignored, so 他/她 (tā), 上课/唱歌 or 今天/今年 collide;
:func:`ambiguity_ceiling` computes the CER that even a perfect viseme reader must make.

About 10% of sentence types are held out for the test split and 5% for validation (by a hash
of the text), so test sentences never occur in training: a model must read, not recall.

Output, the layout of the preprocessed Chinese-LiPS data: ``root/{train,val,test}/ID.npz``
(clip format, label = the sentence, phoneme timeline included) and ``root/{split}.csv``
manifests (``id,path,num_frames,text``), then ``root/meta.json`` with every generation
parameter, written last.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import multiprocessing
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..clip import Clip, ClipError, load_clip, save_clip
from .mouth import Speaker, render_timeline
from .visemes import SILENCE, viseme_of

GENERATOR_VERSION = 1
"""Bump when a change to the grammar, the timing or the rendering changes what a seed gives."""

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("id", "path", "num_frames", "text")
NUM_SPEAKERS = 200

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


@dataclass(frozen=True)
class Grammar:
    """Sentence templates over named slots; ``templates`` rows are sequences of slot names or literals."""

    slots: Mapping[str, tuple[str, ...]]
    templates: tuple[tuple[str, ...], ...]

    @functools.cached_property
    def parses(self) -> dict[str, tuple[str, ...]]:
        """Every sentence of the grammar (first derivation wins) -> its phrases, in a fixed order."""
        parses: dict[str, tuple[str, ...]] = {}
        for template in self.templates:
            choices = [self.slots.get(part, (part,)) for part in template]
            for phrases in itertools.product(*choices):
                parses.setdefault("".join(phrases), phrases)
        return parses

    def sentences(self) -> list[str]:
        return list(self.parses)

    def characters(self) -> list[str]:
        """The distinct characters of the grammar's sentences, sorted."""
        return sorted({c for fillers in self.slots.values() for p in fillers for c in p}
                      | {c for t in self.templates for part in t if part not in self.slots for c in part})

    def segment(self, sentence: str) -> tuple[str, ...]:
        """The phrases (slot fillers and literals) ``sentence`` is made of."""
        try:
            return self.parses[sentence]
        except KeyError:
            raise ValueError(f"{sentence!r} is not a sentence of this grammar") from None


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

HELD_OUT = {"test": 0.10, "val": 0.05}
"""Fractions of the sentence types reserved for the test and validation splits."""


def grammar_by_name(name: str) -> Grammar:
    try:
        return GRAMMARS[name]
    except KeyError:
        raise ValueError(f"unknown grammar {name!r}; valid: {sorted(GRAMMARS)}") from None


def _stream(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def split_sentences(grammar: Grammar) -> dict[str, list[str]]:
    """The grammar's sentence types of each split: disjoint, about 85 / 5 / 10%, at least one each.

    Types are ranked by a fixed hash of their text; the first :data:`HELD_OUT` fractions of the
    ranking go to test and val.
    """
    ranked = sorted(grammar.sentences(), key=lambda s: (_stream(s), s))
    if len(ranked) < 3:
        raise ValueError(f"a grammar needs at least 3 sentences to fill train, val and test; it has {len(ranked)}")
    test = max(1, round(HELD_OUT["test"] * len(ranked)))
    val = max(1, round(HELD_OUT["val"] * len(ranked)))
    held = {s: "test" for s in ranked[:test]} | {s: "val" for s in ranked[test : test + val]}
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    for sentence in grammar.sentences():  # grammar order within each split
        splits[held.get(sentence, "train")].append(sentence)
    return splits


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


def sentence_phonemes(grammar: Grammar, sentence: str) -> list[tuple[str, ...]]:
    """The phonemes of each phrase of ``sentence`` (one tuple of syllables' phonemes per phrase)."""
    return [
        tuple(p for _, phonemes in phrase_syllables(phrase) for p in phonemes)
        for phrase in grammar.segment(sentence)
    ]


def viseme_string(grammar: Grammar, sentence: str) -> tuple[str, ...]:
    """The sentence's viseme classes, runs of one class merged (what the lips show)."""
    visemes = (viseme_of(p) for phrase in sentence_phonemes(grammar, sentence) for p in phrase)
    return tuple(v for v, _ in itertools.groupby(visemes))


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def ambiguity_ceiling(grammar: Grammar, references: Iterable[str]) -> float:
    """The corpus CER of the best possible reader of visemes on ``references``.

    That reader sees a sentence's viseme string exactly and knows the grammar; the sentences
    sharing the string are equally likely, so it answers the one with the least expected
    edit distance to them (minimum Bayes risk). Returns its expected corpus CER: total expected
    edits over total reference characters. Any lipreader of this data is bounded by it.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for sentence in grammar.sentences():
        groups.setdefault(viseme_string(grammar, sentence), []).append(sentence)
    best_risk: dict[tuple[str, ...], dict[str, int]] = {}
    edits, chars = 0.0, 0
    for reference in references:
        key = viseme_string(grammar, reference)
        group = groups[key]
        if key not in best_risk:
            risks = {c: sum(_edit_distance(c, other) for other in group) for c in group}
            answer = min(group, key=lambda c: (risks[c], c))
            best_risk[key] = {other: _edit_distance(answer, other) for other in group}
        edits += best_risk[key][reference]
        chars += len(reference)
    return edits / max(chars, 1)


def homophone_fraction(grammar: Grammar, sentences: Iterable[str]) -> float:
    """Fraction of ``sentences`` whose viseme string another sentence of the grammar shares."""
    counts: dict[tuple[str, ...], int] = {}
    for sentence in grammar.sentences():
        key = viseme_string(grammar, sentence)
        counts[key] = counts.get(key, 0) + 1
    sentences = list(sentences)
    return sum(counts[viseme_string(grammar, s)] > 1 for s in sentences) / max(len(sentences), 1)


def sample_timeline(
    grammar: Grammar, sentence: str, rng: np.random.Generator
) -> tuple[list[tuple[str, float, float]], float]:
    """A phoneme timeline of ``sentence`` spoken at a random rate, and the clip's duration (s)."""
    rate = float(rng.uniform(*RATE_RANGE))
    timeline: list[tuple[str, float, float]] = []
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


def make_sentence_clip(
    grammar: Grammar, sentence: str, rng: np.random.Generator, seed: int = 0,
    fps: float = 25.0, frame_size: int = 48,
) -> Clip:
    """One clip of a random speaker of ``seed``'s pool saying ``sentence``."""
    timeline, duration = sample_timeline(grammar, sentence, rng)
    num_frames = max(1, int(np.ceil(duration * fps)))
    speaker_id = int(rng.integers(NUM_SPEAKERS))
    speaker = Speaker.sample(np.random.default_rng([seed, _stream("speaker"), speaker_id]))
    video = render_timeline(timeline, rng, num_frames, fps, frame_size, speaker=speaker)
    return Clip(video=video, fps=fps, label=sentence, speaker=f"synth{speaker_id:03d}", phonemes=timeline)


@dataclass(frozen=True)
class _Job:
    root: str
    grammar: str
    seed: int
    fps: float
    frame_size: int


def clip_id(split: str, index: int) -> str:
    return f"{split}_{index:06d}"


def _render(args: tuple[_Job, str, int, str]) -> tuple[str, str, int, str]:
    """Render clip ``index`` of ``split`` (unless a readable one is there); its manifest row."""
    job, split, index, sentence = args
    relative = f"{split}/{clip_id(split, index)}.npz"
    path = Path(job.root) / relative
    if path.exists():
        try:
            clip = load_clip(path)
            if clip.label == sentence:
                return clip_id(split, index), relative, clip.num_frames, sentence
        except ClipError:
            pass
    rng = np.random.default_rng([job.seed, _stream(split), index])
    clip = make_sentence_clip(grammar_by_name(job.grammar), sentence, rng, job.seed, job.fps, job.frame_size)
    save_clip(path, clip)
    return clip_id(split, index), relative, clip.num_frames, sentence


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def choose_sentences(grammar: Grammar, split: str, count: int, seed: int) -> list[str]:
    """The sentences of ``count`` clips of ``split``: its types in a seeded order, cycled."""
    types = split_sentences(grammar)[split]
    if count and not types:
        raise ValueError(f"the grammar has no sentence types for split {split!r}")
    order = np.random.default_rng([seed, _stream("sentences"), _stream(split)]).permutation(len(types))
    return [types[order[i % len(types)]] for i in range(count)]


def generation_meta(grammar: str, clips: Mapping[str, int], frame_size: int, fps: float, seed: int) -> dict:
    """Everything that determines a generated dataset (the content of ``meta.json``)."""
    return json.loads(json.dumps({
        "dataset": "synthetic_sentences", "generator_version": GENERATOR_VERSION, "grammar": grammar,
        "clips": dict(clips), "frame_size": frame_size, "fps": fps, "seed": seed,
        "num_speakers": NUM_SPEAKERS, "rate_range": RATE_RANGE, "syllable_s": SYLLABLE_S,
        "pause_probability": PAUSE_PROBABILITY, "held_out": HELD_OUT,
    }))


def write_manifest(path: Path, rows: Sequence[tuple[str, str, int, str]]) -> None:
    """``id,path,num_frames,text`` rows as CSV, atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)


def generate_sentence_dataset(
    root: str | os.PathLike,
    clips: Mapping[str, int],
    grammar: str = "medium",
    frame_size: int = 48,
    fps: float = 25.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render ``clips[split]`` sentence clips per split into ``root``; return ``root``.

    Deterministic in ``seed`` whatever ``workers`` is; returns at once when ``root/meta.json``
    matches the parameters, raises when it differs; an interrupted run resumes.
    """
    root = Path(root)
    unknown = set(clips) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)} in clips; valid: {SPLITS}")
    grammar_by_name(grammar)
    meta = generation_meta(grammar, clips, frame_size, fps, seed)
    meta_path = root / "meta.json"
    if meta_path.exists():
        found = json.loads(meta_path.read_text(encoding="utf-8"))
        if found == meta:
            return root
        differing = sorted(k for k in meta.keys() | found.keys() if meta.get(k) != found.get(k))
        raise ValueError(f"{root} holds a synthetic dataset generated with other parameters "
                         f"(differing: {', '.join(differing)}); pick another root or delete it")
    root.mkdir(parents=True, exist_ok=True)
    job = _Job(str(root), grammar, seed, fps, frame_size)
    tasks = [
        (job, split, index, sentence)
        for split, count in clips.items()
        for index, sentence in enumerate(choose_sentences(grammar_by_name(grammar), split, count, seed))
    ]
    workers = workers if workers is not None else (os.cpu_count() or 1)
    bar = dict(total=len(tasks), desc=f"rendering sentences into {root}", disable=not progress)
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            rows = list(tqdm(pool.imap(_render, tasks, chunksize=16), **bar))
    else:
        rows = [_render(t) for t in tqdm(tasks, **bar)]
    for split in clips:
        write_manifest(root / f"{split}.csv", [r for r in rows if r[0].startswith(f"{split}_")])
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return root
