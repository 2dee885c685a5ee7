"""A long video read as subtitles (``infer.py segment=auto``): cut into utterance windows, each
transcribed on its own, written as ``subtitles.srt`` and ``subtitles.json`` beside transcript.json."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from lipreading.preprocessing.segments import Window
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

Segmenter = Callable[[np.ndarray, float], list[Window]]
Transcriber = Callable[[torch.Tensor, torch.Tensor], list[str]]


@dataclass(frozen=True)
class Subtitle:
    """One window's text and its time in the video (seconds; frames ``start_frame`` to ``end_frame``, exclusive)."""

    index: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    text: str


def transcribe_windows(inputs: torch.Tensor, windows: list[Window], fps: float, transcribe: Transcriber) -> list[Subtitle]:
    """Each window of ``inputs`` (1, C, T, h, w) transcribed alone, logging one line per window as it is done."""
    subtitles = []
    for i, window in enumerate(windows):
        clip = inputs[:, :, window.start: window.end]  # (1, C, T, h, w) -> (1, C, t, h, w)
        text = transcribe(clip, torch.tensor([window.num_frames]))[0]
        subtitle = Subtitle(i + 1, window.start / fps, window.end / fps, window.start, window.end, text)
        log.info("window %d/%d %s --> %s %s", i + 1, len(windows), srt_time(subtitle.start), srt_time(subtitle.end), text)
        subtitles.append(subtitle)
    return subtitles


def srt_time(seconds: float) -> str:
    """SubRip's ``HH:MM:SS,mmm``."""
    milliseconds = int(round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d},{rest % 1000:03d}"


def srt_text(subtitles: list[Subtitle]) -> str:
    """The subtitles in SubRip (.srt) form: number, ``start --> end``, text, blank line (windows read as
    no text are left out, as an empty cue would end the file for some players; the .json keeps them)."""
    spoken = [s for s in subtitles if s.text.strip()]
    return "".join(f"{n}\n{srt_time(s.start)} --> {srt_time(s.end)}\n{s.text}\n\n" for n, s in enumerate(spoken, 1))


def write_subtitles(output_dir: Path, subtitles: list[Subtitle], about: dict[str, Any]) -> tuple[Path, Path]:
    """``subtitles.srt`` and ``subtitles.json`` (``about``: video, checkpoint, fps, the segmentation) in ``output_dir``."""
    srt, json_path = output_dir / "subtitles.srt", output_dir / "subtitles.json"
    atomic_write_text(srt, srt_text(subtitles))
    atomic_write_json(json_path, {**about, "windows": [asdict(s) for s in subtitles]})
    return srt, json_path
