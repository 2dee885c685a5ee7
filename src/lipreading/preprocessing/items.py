"""The work items that the raw dataset readers yield and the pipeline turns into clips."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lipreading.data.audio import SAMPLE_RATE, align_audio, read_audio_track, read_wav
from lipreading.data.clip import Clip
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.mouth import mouth_clip
from lipreading.preprocessing.pipeline import mouth_frames_clip
from lipreading.preprocessing.video import VideoReader
from lipreading.utils.errors import UserError


@dataclass(frozen=True)
class VideoItem:
    """A raw video whose mouth is to be found, aligned and cropped."""

    video: Path
    output: str  # path of the .npz relative to the output directory
    label: str  # the word, or the sentence text
    split: str  # train, val or test
    speaker: str = ""
    # Length of the target word in seconds, centred in the clip (LRW's convention); NaN if unknown.
    word_duration: float = math.nan
    # The item's audio when it is not the video's own track (Chinese-LiPS' WAV files).
    audio_file: Path | None = None

    @property
    def source(self) -> Path:
        return self.video

    def to_clip(self, config: PreprocessConfig) -> tuple[Clip, str]:
        """The labelled clip and a remark ('' or what the report says a user should know)."""
        clip, report = mouth_clip(VideoReader(self.video, config.fps), config)
        middle = clip.duration / 2
        clip = replace(
            clip,
            label=self.label,
            speaker=self.speaker,
            word_start=float(np.clip(middle - self.word_duration / 2, 0.0, clip.duration)),
            word_end=float(np.clip(middle + self.word_duration / 2, 0.0, clip.duration)),
        )
        if config.audio:
            source = self.audio_file or self.video
            samples, rate = read_wav(source) if self.audio_file else read_audio_track(source)
            audio = align_audio(samples, rate, clip.num_frames, clip.fps, str(source), config.audio_mismatch)
            clip = replace(clip, audio=audio, sample_rate=SAMPLE_RATE)
        return clip, report.remark()


@dataclass(frozen=True)
class MouthFramesItem:
    """A sequence of images that are already mouth regions (LRW-1000), one per frame."""

    frames: tuple[Path, ...]
    output: str
    label: str
    split: str
    fps: float  # the frame rate of the images
    word_start: float  # seconds from the first frame
    word_end: float
    speaker: str = ""

    @property
    def source(self) -> Path:
        return self.frames[0].parent

    def to_clip(self, config: PreprocessConfig) -> tuple[Clip, str]:
        """The labelled clip (no remark)."""
        clip = mouth_frames_clip(self.frames, self.fps, config)
        return replace(
            clip,
            label=self.label,
            speaker=self.speaker,
            word_start=self.word_start,
            word_end=self.word_end,
        ), ""


class LayoutError(UserError):
    """A raw dataset folder or metadata file that does not follow the expected layout."""


def check_splits(dataset: str, splits: Iterable[str], valid: Iterable[str]) -> None:
    """Raise :class:`LayoutError` naming any of ``splits`` that ``dataset`` does not have."""
    unknown = set(splits) - set(valid)
    if unknown:
        raise LayoutError(f"unknown {dataset} split(s) {sorted(unknown)}; valid: {list(valid)}")


@dataclass
class Listing:
    """What a raw dataset reader found: the items to process and the entries it had to leave out."""

    items: list[VideoItem | MouthFramesItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one reason per entry, naming it
