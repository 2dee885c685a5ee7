"""The reference TCN code's crop geometry (roi=tcn_reference) from MediaPipe landmarks.

That these crops match the reference's own script on the same frames and landmarks is measured outside the
repository (docs/pretrained.md); here the geometry's properties are checked on landmarks with a known pose.
"""

import numpy as np
import pytest

from lipreading.preprocessing import PreprocessConfig
from lipreading.preprocessing.align import ALIGNMENTS, clip_transforms
from lipreading.preprocessing.config import ALIGNMENTS as ALIGNMENT_NAMES
from lipreading.preprocessing.landmarks import NUM_LANDMARKS
from lipreading.preprocessing.reference_geometry import (
    HALF_WINDOW,
    MEDIAPIPE_TO_68,
    MOUTH_POINTS,
    REFERENCE_STABLE,
    STABLE_POINTS,
    reference_transforms,
    smoothed,
)
from lipreading.utils.errors import ConfigError
from tests.conftest import compose_config


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def face_68(seed: int = 0) -> np.ndarray:
    """68 points in the reference's 256x256 frame: its stable points where its mean face has them, the mouth
    points around the mouth corners, the others anywhere on the face."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(80, 180, (68, 2))
    points[MOUTH_POINTS] = rng.uniform([110, 150], [150, 170], (20, 2))
    points[STABLE_POINTS] = REFERENCE_STABLE  # the mouth corners (48, 54) among them
    return points


def mesh_of(points_68: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks (468, 2) whose mapped points are ``points_68`` (the rest: the face's centroid)."""
    mesh = np.tile(points_68.mean(0), (NUM_LANDMARKS, 1))
    mesh[MEDIAPIPE_TO_68] = points_68
    return mesh


def test_the_correspondence_names_68_distinct_mesh_points():
    assert MEDIAPIPE_TO_68.shape == (68,) and len(set(MEDIAPIPE_TO_68.tolist())) == 68
    assert MEDIAPIPE_TO_68.max() < NUM_LANDMARKS
    assert MEDIAPIPE_TO_68[[36, 39, 42, 45, 48, 54]].tolist() == [33, 133, 362, 263, 61, 291]  # eye and mouth corners


def test_a_posed_face_is_brought_back_onto_the_mean_face_and_cut_around_its_mouth():
    face = face_68()
    pose = similarity(12.0, 2.3, (400.0, 250.0))  # the reference frame -> a 1280x720 video frame
    frames = np.stack([mesh_of(apply(pose, face))] * 5)
    matrices = reference_transforms(frames)
    mouth = face[MOUTH_POINTS].mean(0)
    offset = np.round(mouth) - 48  # the 96x96 cut of the 256x256 frame, centred on the rounded mouth
    for matrix in matrices:
        back = apply(matrix, apply(pose, face))
        np.testing.assert_allclose(back[STABLE_POINTS], REFERENCE_STABLE - offset, atol=1e-4)
        np.testing.assert_allclose(back[MOUTH_POINTS].mean(0), [48, 48], atol=0.5 + 1e-4)
    half = reference_transforms(frames, crop_size=48)  # another side: the same region, scaled
    np.testing.assert_allclose(half, matrices / 2)


def test_the_landmarks_are_averaged_over_13_frames_then_moved_to_each_frame():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(20, 68, 2))
    out = smoothed(points)
    t = 10
    window = points[t - HALF_WINDOW:t + HALF_WINDOW + 1].mean(0)
    np.testing.assert_allclose(out[t], window + points[t].mean(0) - window.mean(0))
    np.testing.assert_allclose(out[0], points[0])  # the window shrinks at the ends: the first frame alone
    np.testing.assert_allclose(out[2], points[:5].mean(0) + points[2].mean(0) - points[:5].mean(0).mean(0))
    moving = face_68()[None] + np.arange(20)[:, None, None] * np.array([3.0, -1.0])  # a face moving at constant speed
    np.testing.assert_allclose(smoothed(moving), moving, atol=1e-9)  # symmetric windows: no lag


def test_the_preset_selects_this_geometry(tmp_path):
    roi = compose_config("preprocess", ["roi=tcn_reference"], tmp_path).roi
    config = PreprocessConfig(**roi)
    assert (config.alignment, config.crop_size, config.grayscale) == ("tcn_reference", 96, True)
    frames = np.stack([mesh_of(face_68())] * 3)
    np.testing.assert_allclose(clip_transforms(frames, config), reference_transforms(frames))
    assert set(ALIGNMENTS) == set(ALIGNMENT_NAMES)
    with pytest.raises(ConfigError, match=r"alignment='dlib': use one of \['face_mesh', 'tcn_reference'\]"):
        PreprocessConfig(alignment="dlib")
