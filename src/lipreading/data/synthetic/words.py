"""The synthetic word dataset: LRW-shaped clips of a rendered mouth saying one target word.

Each clip is ``num_frames`` frames (29 = 1.16 s at 25 fps, like LRW) of a continuous utterance:
random neighbouring words (from LRW's 500), sometimes a short pause, the target word near the
middle. Phoneme durations are log-normal around per-phoneme means, scaled by a speaking rate
drawn per clip. The speaker, head pose, lighting, blur and noise are drawn independently of
the word, so the word shows only in the motion.

On disk the layout mirrors LRW: ``root/WORD/{train,val,test}/WORD_00001.npz`` (one clip per
file in the :mod:`lipreading.data.clip` format) and ``root/meta.json`` with every generation
parameter, written last.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import tempfile
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..clip import Clip, ClipError, load_clip, save_clip
from .mouth import Speaker, render_timeline
from .visemes import (
    SILENCE,
    add_to_lexicon,
    homophene_groups,
    lexicon,
    lrw_words,
    pronunciation,
    strip_stress,
)

GENERATOR_VERSION = 1
"""Bump when a change to the renderer or the sampling changes the clips a seed gives."""

SPLITS = ("train", "val", "test")
NUM_SPEAKERS = 200
"""Size of the speaker pool a dataset's clips are drawn from (all splits share it, as in LRW)."""

# Mean duration (seconds, at speaking rate 1) of each ARPAbet phoneme, grouped by kind.
PHONEME_MEAN_DURATION: dict[float, tuple[str, ...]] = {
    0.075: ("IH", "EH", "AH", "UH"),  # short vowels
    0.095: ("IY", "AA", "AO", "UW", "ER", "AE"),  # long vowels
    0.115: ("AW", "AY", "OY", "EY", "OW"),  # diphthongs
    0.065: ("B", "P", "D", "T", "G", "K"),  # stops
    0.085: ("CH", "JH"),  # affricates
    0.080: ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH"),  # fricatives
    0.050: ("HH",),
    0.060: ("M", "N", "NG"),  # nasals
    0.055: ("L", "R", "W", "Y"),  # liquids and glides
}
DURATION_SIGMA = 0.25
"""Standard deviation of log phoneme duration (log-normal jitter around the mean)."""
UNSTRESSED_VOWEL_FACTOR = 0.7
RATE_RANGE = (0.78, 1.28)
"""Speaking rate, drawn uniformly per clip; durations are divided by it."""
PAUSE_PROBABILITY = 0.2
"""Chance of a pause right before, and independently right after, the target word."""
PAUSE_RANGE_S = (0.08, 0.3)
CENTRE_JITTER_S = 0.06
"""The target word's centre is uniform within this distance of the clip's centre."""
CONTEXT_S = 0.3
"""Speech simulated beyond both ends of the clip, so its edges are coarticulated too."""

_MEAN_DURATION = {p: mean for mean, phonemes in PHONEME_MEAN_DURATION.items() for p in phonemes}


def phoneme_durations(phonemes: Sequence[str], rate: float, rng: np.random.Generator) -> np.ndarray:
    """Log-normal durations (seconds) of ARPAbet ``phonemes`` spoken at ``rate``."""
    means = np.array([_MEAN_DURATION[strip_stress(p)] for p in phonemes])
    unstressed = np.array([p.endswith("0") for p in phonemes])
    means = np.where(unstressed, means * UNSTRESSED_VOWEL_FACTOR, means)
    return means / rate * np.exp(rng.normal(0.0, DURATION_SIGMA, len(phonemes)))


def _spoken(words: Sequence[str], rate: float, rng: np.random.Generator) -> list[tuple[str, float]]:
    """(phoneme, duration) of ``words`` spoken in a row."""
    phonemes = [p for word in words for p in pronunciation(word)]
    return list(zip(phonemes, phoneme_durations(phonemes, rate, rng).tolist()))


def _pause(rng: np.random.Generator) -> list[tuple[str, float]]:
    if rng.random() >= PAUSE_PROBABILITY:
        return []
    return [(SILENCE, float(rng.uniform(*PAUSE_RANGE_S)))]


def _random_word(rng: np.random.Generator) -> str:
    """A neighbouring word: any of LRW's 500, uniformly."""
    words = lrw_words()
    return words[int(rng.integers(len(words)))]


def sample_utterance(
    word: str, duration: float, rng: np.random.Generator
) -> tuple[list[tuple[str, float, float]], float, float]:
    """An utterance around ``word``, in the time of a clip of ``duration`` seconds.

    Returns the phoneme timeline (reaching :data:`CONTEXT_S` beyond both clip ends) and the
    target word's start and end (seconds from the clip's start).
    """
    rate = float(rng.uniform(*RATE_RANGE))
    target = _spoken([word], rate, rng)
    word_length = sum(d for _, d in target)
    word_start = (duration - word_length) / 2 + float(rng.uniform(-CENTRE_JITTER_S, CENTRE_JITTER_S))
    word_end = word_start + word_length

    before = _pause(rng)
    while word_start - sum(d for _, d in before) > -CONTEXT_S:
        before = _spoken([_random_word(rng)], rate, rng) + before
    after = _pause(rng)
    while word_end + sum(d for _, d in after) < duration + CONTEXT_S:
        after += _spoken([_random_word(rng)], rate, rng)

    timeline = []
    start = word_start - sum(d for _, d in before)
    for phoneme, length in before + target + after:
        timeline.append((phoneme, start, start + length))
        start += length
    return timeline, word_start, word_end


def visible_timeline(
    timeline: Sequence[tuple[str, float, float]], duration: float
) -> list[tuple[str, float, float]]:
    """The entries of ``timeline`` overlapping ``[0, duration]``, clipped to it."""
    return [
        (name, max(start, 0.0), min(end, duration))
        for name, start, end in timeline
        if end > 0.0 and start < duration
    ]


def speaker_of(seed: int, speaker_id: int) -> Speaker:
    """Speaker ``speaker_id`` of the pool of a dataset generated with ``seed``."""
    return Speaker.sample(np.random.default_rng([seed, _stream("speaker"), speaker_id]))


def make_word_clip(
    word: str,
    rng: np.random.Generator,
    seed: int = 0,
    num_frames: int = 29,
    fps: float = 25.0,
    frame_size: int = 96,
) -> Clip:
    """One clip of ``word``: a random speaker of ``seed``'s pool saying it amid random words."""
    duration = num_frames / fps
    timeline, word_start, word_end = sample_utterance(word, duration, rng)
    speaker_id = int(rng.integers(NUM_SPEAKERS))
    video = render_timeline(
        timeline, rng, num_frames, fps, frame_size, speaker=speaker_of(seed, speaker_id)
    )
    return Clip(
        video=video,
        fps=fps,
        label=word,
        word_start=max(word_start, 0.0),
        word_end=min(word_end, duration),
        speaker=f"synth{speaker_id:03d}",
        phonemes=visible_timeline(timeline, duration),
    )


def _stream(name: str) -> int:
    """A stable integer for a name, to key random streams (Python's ``hash`` is salted)."""
    return zlib.crc32(name.encode("utf-8"))


def clip_rng(seed: int, split: str, word: str, index: int) -> np.random.Generator:
    """The random stream of one clip: independent of the vocabulary, the order and the workers."""
    return np.random.default_rng([seed, _stream(split), _stream(word), index])


def clip_path(root: str | os.PathLike, split: str, word: str, index: int) -> Path:
    """``root/WORD/split/WORD_00001.npz`` for ``index`` 0 (LRW's names count from 1)."""
    return Path(root) / word / split / f"{word}_{index + 1:05d}.npz"


# The clip makers of each kind of synthetic word dataset, as "module:function" (the audio-visual
# one needs the optional eSpeak NG, so it is imported only when used).
CLIP_MAKERS = {
    "synthetic_words": f"{__name__}:make_word_clip",
    "synthetic_av_words": f"{__package__}.speech:make_av_word_clip",
}


def clip_maker(kind: str):
    """The function making one clip of a ``kind`` dataset (see :data:`CLIP_MAKERS`)."""
    if kind not in CLIP_MAKERS:
        raise ValueError(f"unknown synthetic dataset kind {kind!r}; valid kinds: {', '.join(CLIP_MAKERS)}")
    module, function = CLIP_MAKERS[kind].split(":")
    return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class _Job:
    root: str
    seed: int
    num_frames: int
    fps: float
    frame_size: int
    kind: str = "synthetic_words"


def _render_one(job: _Job, split: str, word: str, index: int) -> None:
    clip = clip_maker(job.kind)(
        word,
        clip_rng(job.seed, split, word, index),
        job.seed,
        job.num_frames,
        job.fps,
        job.frame_size,
    )
    save_clip(clip_path(job.root, split, word, index), clip)


def _render_task(args: tuple[_Job, str, str, int]) -> None:
    _render_one(*args)


def _init_worker(entries: dict[str, tuple[str, ...]]) -> None:
    import cv2

    cv2.setNumThreads(1)  # the pool is the parallelism
    add_to_lexicon(entries)  # spares each worker loading the CMU dictionary (~1 s)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes: forking a parent that already runs OpenCV's or torch's thread
    pools can deadlock the children (seen with OpenCV), so never "fork"."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _is_complete(path: Path, job: _Job) -> bool:
    """Whether ``path`` holds a readable clip of the expected shape."""
    if not path.exists():
        return False
    try:
        clip = load_clip(path)
    except ClipError:
        return False
    if clip.video.shape != (job.num_frames, job.frame_size, job.frame_size):
        return False
    with_audio = job.kind == "synthetic_av_words"
    return (clip.audio is not None) == with_audio


def generation_meta(
    words: Sequence[str],
    clips_per_word: Mapping[str, int],
    frame_size: int,
    num_frames: int,
    fps: float,
    seed: int,
    kind: str = "synthetic_words",
) -> dict:
    """Everything that determines a generated dataset (the content of ``meta.json``)."""
    meta = {
        "dataset": kind,
        "generator_version": GENERATOR_VERSION,
        "words": list(words),
        "clips_per_word": dict(clips_per_word),
        "frame_size": frame_size,
        "num_frames": num_frames,
        "fps": fps,
        "seed": seed,
        "num_speakers": NUM_SPEAKERS,
        "rate_range": RATE_RANGE,
        "duration_sigma": DURATION_SIGMA,
        "pause_probability": PAUSE_PROBABILITY,
        "pause_range_s": PAUSE_RANGE_S,
        "centre_jitter_s": CENTRE_JITTER_S,
    }
    return json.loads(json.dumps(meta))  # as it reads back from disk (tuples -> lists)


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_meta(path: Path, meta: dict, root: Path) -> bool:
    """True when ``path`` exists and matches ``meta``; raise when it exists and differs."""
    if not path.exists():
        return False
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e}); delete {root} and generate again") from e
    if found == meta:
        return True
    differing = sorted(k for k in meta.keys() | found.keys() if meta.get(k) != found.get(k))
    raise ValueError(
        f"{root} holds a synthetic dataset generated with other parameters "
        f"(differing: {', '.join(differing)}; see {path}); pick another root or delete {root}"
    )


def _validate(words: Sequence[str], clips_per_word: Mapping[str, int]) -> list[str]:
    words = [word.upper() for word in words]
    if not words:
        raise ValueError("words is empty: give at least one word (e.g. default_vocabulary(20))")
    duplicates = sorted({word for word in words if words.count(word) > 1})
    if duplicates:
        raise ValueError(f"words repeats {duplicates}; give each word once")
    for word in words:
        pronunciation(word)  # raises for a word without a pronunciation
    for split, count in clips_per_word.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} in clips_per_word; valid splits: {SPLITS}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"clips_per_word[{split!r}]={count!r}: give a whole number >= 0")
    homophenes = homophene_groups(words)
    if homophenes:
        warnings.warn(
            f"the vocabulary holds homophenes {homophenes}: they look identical on the lips, "
            "so no model can separate them (default_vocabulary() leaves them out)",
            stacklevel=3,
        )
    return words


def generate_word_dataset(
    root: str | Path,
    words: Sequence[str],
    clips_per_word: Mapping[str, int],
    frame_size: int = 96,
    num_frames: int = 29,
    fps: float = 25.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    kind: str = "synthetic_words",
) -> Path:
    """Render ``clips_per_word[split]`` clips of each word into ``root`` (LRW layout); return ``root``.

    Deterministic in ``seed`` whatever ``workers`` is (``kind="synthetic_av_words"``: the same words,
    speakers and scenes, but eSpeak NG's timings vary by about a millisecond between calls). When ``root/meta.json`` matches the
    parameters this returns at once; when it differs it raises. An interrupted run resumes:
    clips already on disk are kept, and ``meta.json`` is written only when all are there.

    With ``workers > 1`` the clips are rendered in fresh processes ("forkserver" or "spawn"),
    which import the calling script again: call this under ``if __name__ == "__main__":``.
    """
    root = Path(root)
    words = _validate(words, clips_per_word)
    clip_maker(kind)  # an unknown kind fails before any work
    if kind == "synthetic_av_words":
        from .espeak import require_espeak

        require_espeak()
    meta = generation_meta(words, clips_per_word, frame_size, num_frames, fps, seed, kind)
    meta_path, partial_path = root / "meta.json", root / "meta.partial.json"
    if _check_meta(meta_path, meta, root):
        return root
    if not _check_meta(partial_path, meta, root) and root.exists() and any(root.iterdir()):
        raise ValueError(
            f"{root} is not empty and holds no synthetic dataset (no meta.json); "
            "pick another root or empty it"
        )
    root.mkdir(parents=True, exist_ok=True)
    _write_json(partial_path, meta)  # a resumed run must use the same parameters

    job = _Job(str(root), seed, num_frames, fps, frame_size, kind)
    tasks = [
        (job, split, word, index)
        for word in words
        for split, count in clips_per_word.items()
        for index in range(count)
    ]
    for stale in root.glob("*/*/.*.tmp.npz"):  # left by a killed run (save_clip is atomic)
        stale.unlink()
    todo = [task for task in tasks if not _is_complete(clip_path(root, *task[1:]), job)]
    if workers is None:
        workers = os.cpu_count() or 1
    with tqdm(total=len(todo), desc=f"rendering {root.name}", unit="clip", disable=not progress) as bar:
        if workers <= 1 or len(todo) <= 1:
            for task in todo:
                _render_task(task)
                bar.update()
        else:
            entries = lexicon([*lrw_words(), *words])
            pool = _pool_context().Pool(min(workers, len(todo)), _init_worker, (entries,))
            with pool:
                for _ in pool.imap_unordered(_render_task, todo, chunksize=8):
                    bar.update()

    _write_json(meta_path, meta)
    partial_path.unlink(missing_ok=True)
    return root
