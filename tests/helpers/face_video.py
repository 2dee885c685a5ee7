"""Test helpers: short talking-head videos made from a real face (scikit-image's astronaut).

MediaPipe's face mesh finds the astronaut's face; the fixtures open and close its mouth (a dark
ellipse between the lips) and move the head (small rotation and translation), and record where
the mouth centre truly is in every frame.
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
    """The astronaut's face region (BGR) and its mouth centre and width in pixels."""

    image: np.ndarray
    mouth_centre: np.ndarray
    mouth_width: float


@dataclass
class TalkingHead:
    """Frames (T, H, W, 3) BGR and the true mouth centre (T, 2) in each."""

    frames: np.ndarray
    mouth_centres: np.ndarray


def astronaut_face() -> FaceStill:
    """A 224x224 crop of the astronaut around her face, measured with MediaPipe (static mode)."""
    import mediapipe as mp
    from skimage.data import astronaut

    from lipreading.preprocessing.landmarks import LIP_INDICES

    image = cv2.cvtColor(astronaut()[18:242, 113:337], cv2.COLOR_RGB2BGR).copy()
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        result = mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    points = (
        np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark]) * image.shape[1::-1]
    )
    lips = points[LIP_INDICES]
    return FaceStill(image, lips.mean(axis=0), float(np.ptp(lips[:, 0])))


def talking_head(
    still: FaceStill, num_frames: int, angle: float = 4.0, shift: float = 8.0
) -> TalkingHead:
    """The still with its mouth opening and closing and its head turning and sliding."""
    height, width = still.image.shape[:2]
    frames, centres = [], []
    for t in range(num_frames):
        phase = 2 * np.pi * t / 12
        image = still.image.copy()
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
def head(face_still: FaceStill) -> TalkingHead:
    """25 frames (one second) of the talking head at 224x224."""
    return talking_head(face_still, 25)
