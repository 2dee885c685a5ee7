"""Utterance windows of a long mouth clip, cut where the mouth pauses (``infer.py segment=auto``).

A sentence model reads utterances of a few seconds; a talk is cut into such windows before it is
transcribed. The rule (:class:`PauseSegmenter`), all from the mouth crop itself:

1. Motion: the mean absolute grey-level difference of each frame to the one before, each frame's
   mean brightness subtracted first so lighting flicker is not motion (:func:`mouth_motion`),
   smoothed by a centred moving average of ``smooth`` seconds.
2. Still frames: motion below ``low + threshold * (high - low)``, where ``low`` / ``high`` are the
   clip's 10th / 90th motion percentiles (so the rule adapts to the camera noise and the speaker).
   A clip whose motion hardly varies (``high - low`` under 1e-3 grey levels) holds no speech.
3. Pauses: runs of at least ``min_pause`` seconds of still frames. The stretches between pauses are
   speech; a stretch with fewer than ``min_speech`` seconds of moving frames is dropped (a blink of noise).
4. Windows: each speech stretch, from its first to its last moving frame, widened by ``margin``
   seconds on each side (the silence the training clips have at their edges), never past the middle
   of the pause next to it, so windows never overlap.
5. A window longer than ``max_seconds`` is cut at its stillest frame (least smoothed motion, searched
   in its middle half) until every piece fits.

NOTE: Voice activity detection on mouth motion (rather than audio, as Whisper's or pyannote's
segmenters use) keeps ``infer.py`` video-only; it cannot tell a pause from a still listener, and
a speaker who never pauses for ``min_pause`` is cut at step 5 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MOTION_PERCENTILES = (10, 90)
FLAT_MOTION = 1e-3  # grey levels: below this spread the clip's motion is noise-free stillness


@dataclass(frozen=True)
class Window:
    """Frames ``start`` to ``end`` (exclusive) of a clip."""

    start: int
    end: int

    @property
    def num_frames(self) -> int:
        return self.end - self.start


def mouth_motion(video: np.ndarray) -> np.ndarray:
    """(T, H, W) grey frames -> (T,) mean absolute difference to the previous frame, brightness-centred
    frames (frame 0 takes frame 1's)."""
    frames = video.astype(np.float32)
    frames -= frames.mean(axis=(1, 2), keepdims=True)
    if len(frames) < 2:
        return np.zeros(len(frames), dtype=np.float32)
    diff = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))  # (T-1,)
    return np.concatenate([diff[:1], diff])


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, end)`` runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


class PauseSegmenter:
    """Windows of a mouth clip between pauses of the mouth's motion (the rule of this module's doc)."""

    def __init__(self, min_pause: float = 0.3, margin: float = 0.2, max_seconds: float = 10.0,
                 min_speech: float = 0.2, smooth: float = 0.2, threshold: float = 0.25) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"segment.threshold={threshold}: use a fraction between 0 and 1")
        if max_seconds <= 2 * margin or min_pause <= 0:
            raise ValueError(f"segment.max_seconds={max_seconds} must exceed twice segment.margin={margin}, "
                             f"and segment.min_pause={min_pause} be positive")
        self.min_pause, self.margin, self.max_seconds = min_pause, margin, max_seconds
        self.min_speech, self.smooth, self.threshold = min_speech, smooth, threshold

    def smoothed_motion(self, video: np.ndarray, fps: float) -> np.ndarray:
        """(T,) motion averaged over ``smooth`` seconds (centred; the clip's edges average fewer frames)."""
        motion = mouth_motion(video)
        width = max(1, int(round(self.smooth * fps)) | 1)  # odd, so the average is centred
        kernel = np.ones(width, dtype=np.float32)
        return np.convolve(motion, kernel, "same") / np.convolve(np.ones_like(motion), kernel, "same")

    def __call__(self, video: np.ndarray, fps: float) -> list[Window]:
        """The utterance windows of ``video`` (T, H, W) at ``fps``, in time order, not overlapping."""
        motion = self.smoothed_motion(video, fps)
        if len(motion) == 0:
            return []
        low, high = np.percentile(motion, MOTION_PERCENTILES)
        if high - low < FLAT_MOTION:
            return []
        moving = motion >= low + self.threshold * (high - low)
        pauses = [(a, b) for a, b in _runs(~moving) if b - a >= self.min_pause * fps]
        bounds = [0] + [x for pause in pauses for x in pause] + [len(motion)]
        windows: list[Window] = []
        for (a, b), limits in zip(zip(bounds[::2], bounds[1::2]), self._limits(pauses, len(motion))):
            active = np.flatnonzero(moving[a:b])
            if len(active) < self.min_speech * fps:
                continue
            pad = int(round(self.margin * fps))
            start = max(limits[0], a + int(active[0]) - pad)
            end = min(limits[1], a + int(active[-1]) + 1 + pad)
            windows += self._fit(Window(start, end), motion, fps)
        return windows

    @staticmethod
    def _limits(pauses: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
        """For the stretch before each pause and the one after the last: how far its window may reach."""
        middles = [(a + b) // 2 for a, b in pauses]
        return list(zip([0] + middles, middles + [length]))

    def _fit(self, window: Window, motion: np.ndarray, fps: float) -> list[Window]:
        """``window`` cut at its stillest frame (in its middle half) until each piece is at most ``max_seconds``."""
        if window.num_frames <= self.max_seconds * fps:
            return [window]
        quarter = window.num_frames // 4
        cut = window.start + quarter + int(np.argmin(motion[window.start + quarter: window.end - quarter]))
        return self._fit(Window(window.start, cut), motion, fps) + self._fit(Window(cut, window.end), motion, fps)
