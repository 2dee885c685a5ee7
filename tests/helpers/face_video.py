"""Test helpers: short talking-head videos made from real faces, at any size in a larger frame.

The faces are photos that installed packages ship: scikit-image's astronaut (Eileen Collins) and
matplotlib's sample photo of Grace Hopper. The helpers open and close a face's mouth (a dark
ellipse between the lips), move the head (small rotation and translation), place faces at a chosen
size and position in frames of any size, and record where each mouth centre truly is in every frame.
Faces are measured once with the project's own face models (the ``litert`` backend), so the helpers
need no ``mediapipe``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest


@dataclass
class FaceStill:
    """A square photo of a face (BGR) and its mouth centre and width in pixels."""

    image: np.ndarray
    mouth_centre: np.ndarray
    mouth_width: float


@dataclass
class TalkingHead:
    """Frames (T, H, W, 3) BGR and the true mouth centre (T, 2) in each."""

    frames: np.ndarray
    mouth_centres: np.ndarray


def measure(image_bgr: np.ndarray) -> FaceStill:
    """The mouth of the one face in ``image_bgr``, found with the project's detector and mesh."""
    from lipreading.preprocessing.backends import LiteRTFaceModels
    from lipreading.preprocessing.config import PreprocessConfig
    from lipreading.preprocessing.landmarks import LIP_INDICES
    from lipreading.preprocessing.track import FaceTracker

    with LiteRTFaceModels() as models:
        tracker = FaceTracker(models, PreprocessConfig())
        for t in range(3):  # the mesh refines its own region over a few frames of the still
            tracker.step(t, image_bgr)
    lips = tracker.tracks[0].landmarks[-1][LIP_INDICES]
    return FaceStill(image_bgr, lips.mean(axis=0), float(np.ptp(lips[:, 0])))


def follow_face(frames: np.ndarray) -> np.ndarray:
    """Landmarks (T, 468, 2) of the first person the tracker follows in ``frames``; NaN where lost."""
    from lipreading.preprocessing.backends import LiteRTFaceModels
    from lipreading.preprocessing.config import PreprocessConfig
    from lipreading.preprocessing.persons import link_tracks
    from lipreading.preprocessing.track import FaceTracker

    with LiteRTFaceModels() as models:
        tracker = FaceTracker(models, PreprocessConfig())
        for t, frame in enumerate(frames):
            tracker.step(t, frame)
    return link_tracks(tracker.tracks)[0].landmarks(len(frames))


def astronaut_face() -> FaceStill:
    """A 224x224 crop of scikit-image's astronaut around her face."""
    from skimage.data import astronaut

    return measure(cv2.cvtColor(astronaut()[18:242, 113:337], cv2.COLOR_RGB2BGR).copy())


def hopper_face() -> FaceStill:
    """A 224x224 crop of matplotlib's photo of Grace Hopper around her face."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)[130:430, 115:415]
    return measure(cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA))


def talking_head(
    still: FaceStill, num_frames: int, angle: float = 4.0, shift: float = 8.0, talking: bool = True
) -> TalkingHead:
    """The still with its mouth opening and closing (unless not ``talking``) and its head turning
    and sliding."""
    height, width = still.image.shape[:2]
    frames, centres = [], []
    for t in range(num_frames):
        phase = 2 * np.pi * t / 12
        image = still.image.copy()
        if talking:
            opening = 0.5 * (1 - np.cos(phase))  # 0 closed ... 1 open
            axes = (
                int(0.33 * still.mouth_width),
                max(1, int(round(0.14 * still.mouth_width * opening))),
            )
            centre = tuple(int(round(c)) for c in still.mouth_centre)
            cv2.ellipse(image, centre, axes, 0, 0, 360, (25, 15, 20), -1, cv2.LINE_AA)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle * np.sin(phase / 2), 1.0)
        matrix[:, 2] += (shift * np.sin(phase / 3), shift * np.cos(phase / 2) - shift)
        frames.append(cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT))
        centres.append(matrix[:, :2] @ still.mouth_centre + matrix[:, 2])
    return TalkingHead(np.stack(frames), np.stack(centres))


def background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A grey, gently textured background (H, W, 3) of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(60, 200, (9, 16, 3), dtype=np.uint8), size, interpolation=cv2.INTER_CUBIC)
    return noise


def place(
    frames: np.ndarray, head: TalkingHead, top_left: tuple[int, int], scale: float = 1.0
) -> np.ndarray:
    """Paste ``head`` scaled by ``scale`` into ``frames`` (in place) at ``top_left`` (x, y); return
    the true mouth centres (T, 2) in frame pixels."""
    side = round(head.frames.shape[1] * scale)
    x, y = top_left
    for frame, face in zip(frames, head.frames, strict=True):
        frame[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    return head.mouth_centres * (side / head.frames.shape[1]) + (x, y)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write BGR frames as an MP4 ('mp4v') with OpenCV; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames.shape[2:0:-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return path


@pytest.fixture(scope="session")
def face_still() -> FaceStill:
    """The astronaut's face, measured once per session."""
    return astronaut_face()


@pytest.fixture(scope="session")
def hopper_still() -> FaceStill:
    """Grace Hopper's face, measured once per session."""
    return hopper_face()


@pytest.fixture(scope="session")
def head(face_still: FaceStill) -> TalkingHead:
    """25 frames (one second) of the talking head at 224x224."""
    return talking_head(face_still, 25)
