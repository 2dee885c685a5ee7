"""Synthetic sentence datasets: a rendered mouth saying the sentences of a slot grammar, in a given language.

A language (:mod:`.mandarin`, :mod:`.english`) provides its grammars, the phonemes of a phrase and a
sampler of phoneme timelines; this module holds what they share. Sentences come from templates
with slots (``SUBJECT TIME PLACE ACTIVITY``), so the language is small enough to learn in minutes
and structured enough that a decoder with a language model can resolve what looks identical on the
lips. Phonemes map onto the Lee & Yook viseme classes and the mouth renderer of the synthetic words
(:func:`~lipreading.data.synthetic.render_timeline`); :func:`ambiguity_ceiling` computes the error
rate that even a perfect viseme reader must make.

About 10% of sentence types are held out for the test split and 5% for validation (by a hash of
the text), so test sentences never occur in training: a model must read, not recall.

Output, the preprocessed sentence layout (that of Chinese-LiPS after ``preprocess.py``):
``root/{train,val,test}/ID.npz`` (clip format, label = the sentence, phoneme timeline included)
and ``root/{split}.csv`` manifests (``id,path,num_frames,text``), then ``root/meta.json`` with
every generation parameter, written last.
"""

from __future__ import annotations

import csv
import functools
import importlib
import itertools
import json
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..clip import Clip, ClipError, load_clip, save_clip
from .mouth import Speaker, render_timeline
from .visemes import viseme_of

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("id", "path", "num_frames", "text")
NUM_SPEAKERS = 200

HELD_OUT = {"test": 0.10, "val": 0.05}
"""Fractions of the sentence types reserved for the test and validation splits."""

Timeline = list[tuple[str, float, float]]


@dataclass(frozen=True)
class Grammar:
    """Sentence templates over named slots; ``templates`` rows are sequences of slot names or literals.

    A sentence is its phrases joined by ``separator`` (``""`` for Chinese, ``" "`` for English).
    """

    slots: Mapping[str, tuple[str, ...]]
    templates: tuple[tuple[str, ...], ...]
    separator: str = ""

    @functools.cached_property
    def parses(self) -> dict[str, tuple[str, ...]]:
        """Every sentence of the grammar (first derivation wins) -> its phrases, in a fixed order."""
        parses: dict[str, tuple[str, ...]] = {}
        for template in self.templates:
            choices = [self.slots.get(part, (part,)) for part in template]
            for phrases in itertools.product(*choices):
                parses.setdefault(self.separator.join(phrases), phrases)
        return parses

    def sentences(self) -> list[str]:
        return list(self.parses)

    def characters(self) -> list[str]:
        """The distinct characters of the grammar's sentences (separator excluded), sorted."""
        phrases = {p for fillers in self.slots.values() for p in fillers}
        phrases |= {part for t in self.templates for part in t if part not in self.slots}
        return sorted({c for p in phrases for c in p} - set(self.separator))

    def words(self) -> list[str]:
        """The distinct space-separated words of the grammar's phrases, sorted."""
        phrases = {p for fillers in self.slots.values() for p in fillers}
        phrases |= {part for t in self.templates for part in t if part not in self.slots}
        return sorted({w for p in phrases for w in p.split()})

    def segment(self, sentence: str) -> tuple[str, ...]:
        """The phrases (slot fillers and literals) ``sentence`` is made of."""
        try:
            return self.parses[sentence]
        except KeyError:
            raise ValueError(f"{sentence!r} is not a sentence of this grammar") from None


@dataclass(frozen=True)
class Language:
    """What a language contributes: its grammars, the phonemes of a phrase, a timeline sampler.

    ``sample_timeline(grammar, sentence, rng)`` returns ``(phoneme timeline, clip duration in s)``;
    ``timing`` holds its parameters, recorded in ``meta.json``; ``dataset`` names the dataset there.
    """

    dataset: str
    generator_version: int
    grammars: Mapping[str, Grammar]
    phrase_phonemes: Callable[[str], tuple[str, ...]]
    sample_timeline: Callable[[Grammar, str, np.random.Generator], tuple[Timeline, float]]
    timing: Mapping[str, Any]

    def grammar(self, name: str) -> Grammar:
        try:
            return self.grammars[name]
        except KeyError:
            raise ValueError(f"unknown {self.dataset} grammar {name!r}; valid: {sorted(self.grammars)}") from None


LANGUAGES = {
    "mandarin": f"{__package__}.mandarin:MANDARIN",
    "english": f"{__package__}.english:ENGLISH",
}
"""Languages by name, as ``module:attribute`` (imported on use, also in generation workers)."""


def language_by_name(name: str) -> Language:
    if name not in LANGUAGES:
        raise ValueError(f"unknown synthetic sentence language {name!r}; valid: {', '.join(LANGUAGES)}")
    module, attribute = LANGUAGES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


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


def viseme_string(language: Language, grammar: Grammar, sentence: str) -> tuple[str, ...]:
    """The sentence's viseme classes, runs of one class merged (what the lips show)."""
    visemes = (viseme_of(p) for phrase in grammar.segment(sentence) for p in language.phrase_phonemes(phrase))
    return tuple(v for v, _ in itertools.groupby(visemes))


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance of two sequences (characters of strings, or lists of words)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def characters(sentence: str) -> list[str]:
    """The units of CER: the characters, spaces excluded (Chinese is written without spaces)."""
    return [c for c in sentence if c != " "]


def words(sentence: str) -> list[str]:
    """The units of WER: space-separated words."""
    return sentence.split()


def ambiguity_ceiling(
    language: Language, grammar: Grammar, references: Iterable[str], units: Callable[[str], Sequence] = characters
) -> float:
    """The corpus error rate (CER by default, WER with ``units=words``) of the best reader of visemes.

    That reader sees a sentence's viseme string exactly and knows the grammar; the sentences
    sharing the string are equally likely, so it answers the one with the least expected edit
    distance to them (minimum Bayes risk). Returns its expected corpus error rate: total expected
    edits over total reference units. Any lipreader of this data is bounded by it.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for sentence in grammar.sentences():
        groups.setdefault(viseme_string(language, grammar, sentence), []).append(sentence)
    best_risk: dict[tuple[str, ...], dict[str, int]] = {}
    edits, total = 0.0, 0
    for reference in references:
        key = viseme_string(language, grammar, reference)
        group = groups[key]
        if key not in best_risk:
            risks = {c: sum(edit_distance(units(c), units(other)) for other in group) for c in group}
            answer = min(group, key=lambda c: (risks[c], c))
            best_risk[key] = {other: edit_distance(units(answer), units(other)) for other in group}
        edits += best_risk[key][reference]
        total += len(units(reference))
    return edits / max(total, 1)


def homophone_fraction(language: Language, grammar: Grammar, sentences: Iterable[str]) -> float:
    """Fraction of ``sentences`` whose viseme string another sentence of the grammar shares."""
    counts: dict[tuple[str, ...], int] = {}
    for sentence in grammar.sentences():
        key = viseme_string(language, grammar, sentence)
        counts[key] = counts.get(key, 0) + 1
    sentences = list(sentences)
    return sum(counts[viseme_string(language, grammar, s)] > 1 for s in sentences) / max(len(sentences), 1)


def make_sentence_clip(
    language: Language, grammar: Grammar, sentence: str, rng: np.random.Generator, seed: int = 0,
    fps: float = 25.0, frame_size: int = 48,
) -> Clip:
    """One clip of a random speaker of ``seed``'s pool saying ``sentence``."""
    timeline, duration = language.sample_timeline(grammar, sentence, rng)
    num_frames = max(1, int(np.ceil(duration * fps)))
    speaker_id = int(rng.integers(NUM_SPEAKERS))
    speaker = Speaker.sample(np.random.default_rng([seed, _stream("speaker"), speaker_id]))
    video = render_timeline(timeline, rng, num_frames, fps, frame_size, speaker=speaker)
    return Clip(video=video, fps=fps, label=sentence, speaker=f"synth{speaker_id:03d}", phonemes=timeline)


@dataclass(frozen=True)
class _Job:
    root: str
    language: str
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
    language = language_by_name(job.language)
    rng = np.random.default_rng([job.seed, _stream(split), index])
    clip = make_sentence_clip(language, language.grammar(job.grammar), sentence, rng, job.seed, job.fps, job.frame_size)
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


def generation_meta(
    language: Language, grammar: str, clips: Mapping[str, int], frame_size: int, fps: float, seed: int
) -> dict:
    """Everything that determines a generated dataset (the content of ``meta.json``)."""
    return json.loads(json.dumps({
        "dataset": language.dataset, "generator_version": language.generator_version, "grammar": grammar,
        "clips": dict(clips), "frame_size": frame_size, "fps": fps, "seed": seed,
        "num_speakers": NUM_SPEAKERS, **language.timing, "held_out": HELD_OUT,
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
    language: str = "mandarin",
) -> Path:
    """Render ``clips[split]`` sentence clips of ``language`` per split into ``root``; return ``root``.

    Deterministic in ``seed`` whatever ``workers`` is; returns at once when ``root/meta.json``
    matches the parameters, raises when it differs; an interrupted run resumes.
    """
    root = Path(root)
    unknown = set(clips) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)} in clips; valid: {SPLITS}")
    spoken = language_by_name(language)
    chosen = spoken.grammar(grammar)
    meta = generation_meta(spoken, grammar, clips, frame_size, fps, seed)
    meta_path = root / "meta.json"
    if meta_path.exists():
        found = json.loads(meta_path.read_text(encoding="utf-8"))
        if found == meta:
            return root
        differing = sorted(k for k in meta.keys() | found.keys() if meta.get(k) != found.get(k))
        raise ValueError(f"{root} holds a synthetic dataset generated with other parameters "
                         f"(differing: {', '.join(differing)}); pick another root or delete it")
    root.mkdir(parents=True, exist_ok=True)
    job = _Job(str(root), language, grammar, seed, fps, frame_size)
    tasks = [
        (job, split, index, sentence)
        for split, count in clips.items()
        for index, sentence in enumerate(choose_sentences(chosen, split, count, seed))
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
