"""Align faces to a reference face and cut a fixed-size mouth region around the aligned mouth.

Per clip: the landmarks are smoothed in time (a centred moving average); per frame, a similarity
transform (rotation, uniform scale, translation: ``cv2.estimateAffinePartial2D``) maps the stable
points (eye corners, nose bridge, nose tip) onto a reference face scaled so that its mouth spans
``crop_size / (1 + 2 * padding)`` pixels, then shifts the aligned mouth centre to the middle of
the crop. This follows the reference pipeline of Ma et al. (Lipreading_using_TCN, auto_avsr), which
warps to a mean face and crops 96x96 around the mouth.

``alignment=tcn_reference`` (``roi=tcn_reference``) replaces all this by the reference TCN code's own geometry
(:mod:`~lipreading.preprocessing.reference_geometry`); :func:`clip_transforms` picks the one the config names.

NOTE: the reference face is a hand-set frontal average in units of the outer eye-corner distance,
not the 68-point mean face of the reference code (MediaPipe's mesh has other points); it defines
the scale and the upright orientation, nothing more.
"""

from __future__ import annotations

import cv2
import numpy as np

from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.landmarks import LIP_INDICES
from lipreading.preprocessing.reference_geometry import reference_transforms

# MediaPipe indices of the stable points: eye corners (outer, inner; right then left), nose
# bridge, nose tip; and their place on the reference face (x right, y down, eye line at y=0).
STABLE_INDICES = np.array([33, 133, 362, 263, 168, 1])
REFERENCE_STABLE = np.array(
    [[-0.5, 0.0], [-0.19, 0.0], [0.19, 0.0], [0.5, 0.0], [0.0, -0.03], [0.0, 0.45]],
    dtype=np.float32,
)
REFERENCE_MOUTH_WIDTH = 0.7  # mouth corner to mouth corner, in the same units


def smooth(landmarks: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` frames of landmarks (T, K, 2); the edges repeat."""
    if window <= 1 or len(landmarks) == 1:
        return landmarks
    before, after = (window - 1) // 2, window // 2
    padded = np.concatenate(
        [landmarks[:1].repeat(before, 0), landmarks, landmarks[-1:].repeat(after, 0)]
    )
    cumulative = np.cumsum(padded, axis=0, dtype=np.float64)
    cumulative = np.concatenate([np.zeros_like(cumulative[:1]), cumulative])
    return ((cumulative[window:] - cumulative[:-window]) / window).astype(np.float32)


def mouth_transforms(landmarks: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Per-frame 2x3 matrices (T, 2, 3) mapping frame pixels to mouth-crop pixels."""
    scale = config.crop_size / ((1 + 2 * config.padding) * REFERENCE_MOUTH_WIDTH)
    reference = REFERENCE_STABLE * scale
    centre = np.array([config.crop_size / 2, config.crop_size / 2])
    matrices = np.empty((len(landmarks), 2, 3), dtype=np.float64)
    for t, points in enumerate(landmarks):
        matrix, _ = cv2.estimateAffinePartial2D(points[STABLE_INDICES], reference, method=cv2.LMEDS)
        if (
            matrix is None
        ):  # degenerate points (e.g. all equal): keep the previous frame's alignment
            matrix = matrices[t - 1].copy() if t else np.array([[1.0, 0, 0], [0, 1.0, 0]])
        mouth = points[LIP_INDICES].mean(axis=0)
        matrix[:, 2] += centre - (matrix[:, :2] @ mouth + matrix[:, 2])
        matrices[t] = matrix
    return matrices


def face_mesh_transforms(landmarks: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """This project's alignment of a clip's landmarks (T, K, 2): smoothed, then :func:`mouth_transforms`."""
    return mouth_transforms(smooth(landmarks, config.smooth_window), config)


def tcn_reference_transforms(landmarks: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The reference TCN code's alignment and cut (its own smoothing included), at ``config.crop_size``."""
    return reference_transforms(landmarks, config.crop_size)


ALIGNMENTS = {"face_mesh": face_mesh_transforms, "tcn_reference": tcn_reference_transforms}


def clip_transforms(landmarks: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Per-frame 2x3 matrices (T, 2, 3), frame pixels -> mouth-crop pixels, by ``config.alignment``."""
    return ALIGNMENTS[config.alignment](landmarks, config)


def crop_mouth(frame_bgr: np.ndarray, matrix: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The mouth region of one frame: uint8 (S, S) grayscale, or (S, S, 3) RGB."""
    size = config.crop_size
    crop = cv2.warpAffine(
        frame_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY if config.grayscale else cv2.COLOR_BGR2RGB)


def to_crop_coordinates(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Map per-frame points (T, K, 2) through per-frame matrices (T, 2, 3)."""
    return (np.einsum("tij,tkj->tki", matrices[:, :, :2], points) + matrices[:, None, :, 2]).astype(
        np.float32
    )
