"""Face landmarks per frame with MediaPipe's face mesh, following one face through a clip."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from lipreading.preprocessing.config import PreprocessConfig
from lipreading.utils.errors import UserError

NUM_LANDMARKS = 468  # MediaPipe face mesh without iris refinement
# Larger frames are shrunk to this longest side for MediaPipe (its models see at most 192x192
# face crops, so nothing is lost) and the landmarks scaled back to the full frame.
DETECTION_MAX_SIDE = 640
# The 40 points of MediaPipe's FACEMESH_LIPS contour set (outer and inner lip lines).
LIP_INDICES = np.array(
    [
        0,
        13,
        14,
        17,
        37,
        39,
        40,
        61,
        78,
        80,
        81,
        82,
        84,
        87,
        88,
        91,
        95,
        146,
        178,
        181,
        185,
        191,
        267,
        269,
        270,
        291,
        308,
        310,
        311,
        312,
        314,
        317,
        318,
        321,
        324,
        375,
        402,
        405,
        409,
        415,
    ]
)


class NoFaceError(UserError):
    """A clip in which too few frames show a face; the message names the file."""


class FaceTracker:
    """MediaPipe face mesh in tracking mode that follows the largest face of its first detection.

    With several faces, the first frame that shows any picks the largest; later frames take the
    face nearest to the previous pick, and report none when no face is within half a face width
    (so a bystander is never taken for the speaker). Create one tracker per clip.
    """

    def __init__(self, config: PreprocessConfig) -> None:
        import mediapipe as mp  # heavy import, only where landmarks are computed

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=config.max_num_faces,
            refine_landmarks=False,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
        )
        self._centre: np.ndarray | None = None
        self._width = 0.0

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray | None:
        """Pixel landmarks (468, 2) of the followed face, or None when it is not seen."""
        height, width = frame_bgr.shape[:2]
        scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
        if scale < 1.0:
            frame_bgr = cv2.resize(
                frame_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
            )
        result = self._mesh.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
        if not result.multi_face_landmarks:
            return None
        faces = [
            np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float32)
            for face in result.multi_face_landmarks
        ]
        face = self._pick(faces)
        if face is not None:
            self._centre = face.mean(axis=0)
            self._width = float(np.ptp(face[:, 0]))
        return face

    def _pick(self, faces: list[np.ndarray]) -> np.ndarray | None:
        if self._centre is None:
            return max(faces, key=lambda f: float(np.prod(np.ptp(f, axis=0))))
        distances = [float(np.linalg.norm(f.mean(axis=0) - self._centre)) for f in faces]
        nearest = int(np.argmin(distances))
        return faces[nearest] if distances[nearest] <= 0.5 * self._width else None

    def close(self) -> None:
        """Release MediaPipe's graph."""
        self._mesh.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track_landmarks(frames: Iterable[np.ndarray], config: PreprocessConfig) -> np.ndarray:
    """Landmarks (T, 468, 2) of the followed face in each frame; NaN where it is not seen."""
    missing = np.full((NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    with FaceTracker(config) as tracker:
        tracked = [tracker(frame) for frame in frames]
    return np.stack([missing if face is None else face for face in tracked])


def fill_missing(landmarks: np.ndarray, min_fraction: float, source: str) -> np.ndarray:
    """Interpolate frames without a face from their neighbours (edges repeat the nearest detection).

    Raises :class:`NoFaceError` naming ``source`` when fewer than ``min_fraction`` of the frames
    show a face.
    """
    found = ~np.isnan(landmarks[:, 0, 0])
    num_found, num_frames = int(found.sum()), len(landmarks)
    if num_found == 0:
        raise NoFaceError(f"{source}: no face found in any of its {num_frames} frames")
    if num_found < min_fraction * num_frames:
        raise NoFaceError(
            f"{source}: a face was found in only {num_found} of {num_frames} frames "
            f"(needs {min_fraction:.0%}; lower min_face_fraction to keep such clips)"
        )
    if num_found == num_frames:
        return landmarks
    times = np.arange(num_frames)
    flat = landmarks.reshape(num_frames, -1)
    filled = np.stack(
        [np.interp(times, times[found], flat[found, j]) for j in range(flat.shape[1])], axis=1
    )
    return filled.reshape(landmarks.shape).astype(np.float32)
