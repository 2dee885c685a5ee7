"""The project's preprocessed clip format: one ``.npz`` file per clip.

Every producer (the synthetic renderers, the MediaPipe preprocessing of LRW / LRW-1000 /
Chinese-LiPS, a user's own video) writes this format and every datamodule reads it, so a
model never knows where its clips came from.

Keys of the ``.npz`` file:

============== ================= =====================================================
key            dtype / shape     meaning
============== ================= =====================================================
video          uint8 (T, H, W)   grayscale mouth regions (or (T, H, W, 3) for colour)
fps            float64 ()        frame rate of ``video`` (25 for every dataset here)
label          str ()            the word (word clips) or the sentence text
word_start     float64 ()        start of the target word in seconds from the clip's
                                 start (NaN when unknown, e.g. sentences)
word_end       float64 ()        end of the target word in seconds (NaN when unknown)
speaker        str ()            speaker identity ('' when unknown)
audio          float32 (N,)      optional mono waveform in [-1, 1]
sample_rate    int64 ()          optional, present with ``audio``
phonemes       str (P,)          optional phoneme timeline: names ...
phoneme_times  float64 (P, 2)    ... and (start, end) in seconds
landmarks      float32 (T, K, 2) optional face landmarks in crop coordinates
============== ================= =====================================================

Files are written atomically (temporary file, then rename) so that a crash never leaves
a half-written clip behind.

:func:`load_clip` also reads the mouth crops that the TCN reference's preprocessing writes
(github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks,
``preprocessing/crop_mouth_from_video.py``: one ``.npz`` per clip whose only array, ``data``, is
uint8 (T, 96, 96) at 25 fps): their clips have no label or word boundaries in the file (the word
datamodule takes the word from the folder, and its boundaries from LRW's ``.txt`` files with
``data.annotation_dir``).
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipreading.utils.errors import UserError
from lipreading.utils.io import atomic_file


log = logging.getLogger(__name__)

FPS = 25.0
"""The frame rate of every dataset's clips here (the preprocessing resamples other rates to it)."""


class ClipError(UserError):
    """A clip file that cannot be read or is malformed; the message names the file."""


@dataclass
class Clip:
    """One preprocessed clip (see the module docstring for the on-disk keys)."""

    video: np.ndarray
    fps: float = FPS
    label: str = ""
    word_start: float = math.nan
    word_end: float = math.nan
    speaker: str = ""
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    phonemes: list[tuple[str, float, float]] | None = None
    landmarks: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def boundary(self) -> np.ndarray:
        """Per-frame word-boundary indicator (1 inside the target word, 0 outside), float32 (T,).

        Frame ``t`` covers ``[t / fps, (t + 1) / fps)``; it is inside the word when its
        centre lies within ``[word_start, word_end]``. Unknown boundaries give all ones.
        """
        if math.isnan(self.word_start) or math.isnan(self.word_end):
            return np.ones(self.num_frames, dtype=np.float32)
        centres = (np.arange(self.num_frames) + 0.5) / self.fps
        return ((centres >= self.word_start) & (centres <= self.word_end)).astype(np.float32)


def save_clip(path: str | os.PathLike, clip: Clip) -> None:
    """Write ``clip`` to ``path`` (a ``.npz`` file) atomically."""
    path = Path(path)
    video = np.asarray(clip.video)
    if video.dtype != np.uint8 or video.ndim not in (3, 4) or video.shape[0] == 0:
        raise ClipError(
            f"{path}: video must be a non-empty uint8 array (T, H, W[, 3]), "
            f"got {video.dtype} {video.shape}"
        )
    arrays: dict[str, np.ndarray] = {
        "video": video,
        "fps": np.float64(clip.fps),
        "label": np.str_(clip.label),
        "word_start": np.float64(clip.word_start),
        "word_end": np.float64(clip.word_end),
        "speaker": np.str_(clip.speaker),
    }
    if clip.audio is not None:
        if clip.sample_rate is None:
            raise ClipError(f"{path}: a clip with audio needs its sample_rate")
        arrays["audio"] = np.asarray(clip.audio, dtype=np.float32)
        arrays["sample_rate"] = np.int64(clip.sample_rate)
    if clip.phonemes is not None:
        arrays["phonemes"] = np.array([p[0] for p in clip.phonemes], dtype=np.str_)
        arrays["phoneme_times"] = np.array(
            [(p[1], p[2]) for p in clip.phonemes], dtype=np.float64
        ).reshape(-1, 2)
    if clip.landmarks is not None:
        arrays["landmarks"] = np.asarray(clip.landmarks, dtype=np.float32)
    with atomic_file(path) as f:  # a kill leaves no partial clip (its temporary file is not a *.npz)
        np.savez(f, **arrays)


REFERENCE_VIDEO_KEY = "data"
"""The array of the TCN reference's mouth-crop ``.npz`` files (uint8 (T, 96, 96), 25 fps)."""

TRAINING_FIELDS = frozenset({"video", "fps", "label", "word_start", "word_end"})
"""What training reads: landmarks, the phoneme timeline and audio stay on disk (about 5x faster)."""


def load_clip(path: str | os.PathLike, fields: Collection[str] | None = None) -> Clip:
    """Read a clip written by :func:`save_clip`; raise :class:`ClipError` naming the file.

    ``fields`` limits which arrays are read (``video`` always is); the others are left at
    their defaults. ``None`` reads everything. A file of the TCN reference's crops (its one array
    named ``data``) is read as a clip of that video at 25 fps, with no label or boundaries.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if "video" not in f.files and REFERENCE_VIDEO_KEY in f.files:
                data = {"video": f[REFERENCE_VIDEO_KEY]}
            else:
                data = {key: f[key] for key in f.files if fields is None or key in fields or key == "video"}
            keys = sorted(f.files)
    except FileNotFoundError as e:
        raise ClipError(f"{path}: clip file not found") from e
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ClipError(f"{path}: unreadable clip file ({e}); delete it and regenerate") from e
    if "video" not in data:
        raise ClipError(
            f"{path}: not a clip file: it holds {keys}; expected 'video' (this project's clips, written by "
            f"preprocess.py) or '{REFERENCE_VIDEO_KEY}' (the TCN reference's mouth crops, uint8 (T, 96, 96))"
        )
    video = data["video"]
    if video.dtype != np.uint8 or video.ndim not in (3, 4) or video.shape[0] == 0:
        raise ClipError(
            f"{path}: empty or malformed video array {video.dtype} {video.shape}; expected uint8 frames "
            "(T, H, W) or (T, H, W, 3): re-create the file with 8-bit grayscale frames"
        )
    phonemes = None
    if "phonemes" in data and "phoneme_times" in data:
        times = data["phoneme_times"]
        phonemes = [(str(n), float(s), float(e)) for n, (s, e) in zip(data["phonemes"], times)]
    return Clip(
        video=video,
        fps=float(data.get("fps", FPS)),
        label=str(data.get("label", "")),
        word_start=float(data.get("word_start", math.nan)),
        word_end=float(data.get("word_end", math.nan)),
        speaker=str(data.get("speaker", "")),
        audio=data.get("audio"),
        sample_rate=int(data["sample_rate"]) if "sample_rate" in data else None,
        phonemes=phonemes,
        landmarks=data.get("landmarks"),
    )


def grayscale_video(clip: Clip) -> np.ndarray:
    """The clip's frames as contiguous uint8 ``(T, H, W)`` (a colour clip is averaged over channels)."""
    video = clip.video if clip.video.ndim == 3 else clip.video.mean(-1).astype(np.uint8)
    return np.ascontiguousarray(video)


class SkippedClips:
    """The clips a dataset could not use: each is logged once, with its path and reason."""

    def __init__(self) -> None:
        self.paths: set[Path] = set()

    def skip(self, path: Path, reason: Exception) -> None:
        """Record ``path`` as skipped (logging it the first time); returns None, the dataset's item."""
        if path not in self.paths:
            self.paths.add(path)
            log.warning("skipping clip: %s", reason)
