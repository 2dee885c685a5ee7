"""Landmarks: the followed face, interpolation of missed frames, skipping faceless clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.landmarks import (
    LIP_INDICES,
    NoFaceError,
    fill_missing,
    track_landmarks,
)


def test_tracking_finds_the_moving_mouth(head):
    landmarks = track_landmarks(head.frames, PreprocessConfig())
    assert landmarks.shape == (25, 468, 2) and not np.isnan(landmarks).any()
    error = np.linalg.norm(landmarks[:, LIP_INDICES].mean(axis=1) - head.mouth_centres, axis=1)
    assert error.max() < 3.0


def test_with_two_faces_the_largest_is_followed_in_every_frame(face_still, head):
    small = np.stack([cv2.resize(f, (134, 134)) for f in head.frames])  # 0.6x
    canvas = np.full((len(head.frames), 260, 420, 3), 200, np.uint8)
    canvas[:, 60:194, 10:144] = small
    canvas[:, 18:242, 180:404] = head.frames
    landmarks = track_landmarks(canvas, PreprocessConfig(max_num_faces=2))
    mouths = landmarks[:, LIP_INDICES].mean(axis=1)
    assert np.linalg.norm(mouths - (head.mouth_centres + (180, 18)), axis=1).max() < 3.0


def test_missed_frames_are_interpolated_from_their_neighbours():
    landmarks = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 468, 2), np.float32)
    landmarks[[0, 2]] = np.nan
    filled = fill_missing(landmarks, 0.5, "clip.mp4")
    assert np.allclose(filled[:, 0, 0], [1, 1, 2, 3, 4])  # the edge repeats the first detection


def test_too_few_detections_skip_the_clip_with_a_reason():
    landmarks = np.full((10, 468, 2), np.nan, np.float32)
    landmarks[:3] = 1.0
    with pytest.raises(NoFaceError, match=r"clip.mp4: a face was found in only 3 of 10 frames"):
        fill_missing(landmarks, 0.5, "clip.mp4")
    with pytest.raises(NoFaceError, match=r"clip.mp4: no face found in any of its 10 frames"):
        fill_missing(np.full((10, 468, 2), np.nan, np.float32), 0.5, "clip.mp4")
