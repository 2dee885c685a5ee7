"""Decode a video file with OpenCV into frames at the project's frame rate."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lipreading.utils.errors import UserError


class VideoError(UserError):
    """A file that cannot be decoded as a usable video; the message names the file and why."""


def source_index(output_index: int, source_fps: float, fps: float) -> int:
    """The source frame nearest in time to output frame ``output_index`` (at ``k / fps``)."""
    return int(math.floor(output_index * source_fps / fps + 0.5))


class VideoReader:
    """Streams the frames of one video file, resampled to ``fps`` by nearest-frame time mapping.

    Opening checks the file (empty, not a video, truncated, a single frame) and raises
    :class:`VideoError` naming it. Iterating yields BGR uint8 frames (H, W, 3) and may be
    repeated; it raises :class:`VideoError` when fewer frames decode than the header declares.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 25.0) -> None:
        self.path = Path(path)
        self.fps = fps
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise VideoError(f"{self.path}: empty file (0 bytes); download or copy it again")
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                raise VideoError(f"{self.path}: {_unopenable_reason(self.path)}")
            self.source_fps = float(capture.get(cv2.CAP_PROP_FPS))
            self.declared_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            capture.release()
        if not math.isfinite(self.source_fps) or self.source_fps <= 0:
            raise VideoError(
                f"{self.path}: the file declares no frame rate; re-encode it (e.g. ffmpeg -r 25)"
            )
        if 0 <= self.declared_frames < 2:
            raise VideoError(
                f"{self.path}: only {self.declared_frames} frame(s); a clip needs at least 2"
            )

    @property
    def resampled(self) -> bool:
        """Whether the source frame rate differs from ``fps`` (frames dropped or repeated)."""
        return abs(self.source_fps - self.fps) > 1e-3

    def __iter__(self) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(self.path))
        decoded = 0
        next_output = 0
        try:
            while True:
                wanted = source_index(next_output, self.source_fps, self.fps) == decoded
                # A frame no output time maps to is only grabbed, not converted (faster).
                ok, frame = capture.read() if wanted else (capture.grab(), None)
                if not ok:
                    break
                # Emit this frame once for every output time whose nearest source frame it is.
                while source_index(next_output, self.source_fps, self.fps) == decoded:
                    yield frame
                    next_output += 1
                decoded += 1
        finally:
            capture.release()
        # Headers may round the count by one; more missing frames means the file was cut short.
        if decoded < self.declared_frames - 1:
            raise VideoError(
                f"{self.path}: truncated or corrupt: decoded {decoded} of {self.declared_frames} "
                "frames; download or copy it again"
            )
        if decoded < 2:
            raise VideoError(
                f"{self.path}: only {decoded} decodable frame(s); a clip needs at least 2"
            )


def _unopenable_reason(path: Path) -> str:
    """Why OpenCV could not open ``path``: a damaged MP4/MOV container or not a video at all."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":
        return "truncated or corrupt MP4 (OpenCV cannot open it); download or copy it again"
    return "not a video file OpenCV can decode; check the file or re-encode it to MP4"


def read_video(path: str | os.PathLike, fps: float = 25.0) -> np.ndarray:
    """All frames of a video at ``fps`` as one BGR uint8 array (T, H, W, 3)."""
    return np.stack(list(VideoReader(path, fps)))
