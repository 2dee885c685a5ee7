"""Alignment: smoothing, similarity transforms to the reference face, a mouth-centred crop."""

from __future__ import annotations

import numpy as np
import pytest

from lipreading.preprocessing.align import crop_mouth, mouth_transforms, smooth, to_crop_coordinates
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.landmarks import fill_missing
from tests.helpers.face_video import follow_face


def test_smooth_is_a_centred_moving_average_that_keeps_length():
    series = np.array([0, 0, 10, 0, 0], np.float32)[:, None, None]
    assert np.allclose(smooth(series, 3)[:, 0, 0], [0, 10 / 3, 10 / 3, 10 / 3, 0])
    assert smooth(series, 1) is series


def test_the_true_mouth_centre_lands_in_the_middle_of_the_crop_while_the_head_moves(head):
    config = PreprocessConfig()
    landmarks = fill_missing(follow_face(head.frames), 0.5, "head")
    matrices = mouth_transforms(smooth(landmarks, config.smooth_window), config)
    centres = to_crop_coordinates(head.mouth_centres[:, None], matrices)[:, 0]
    assert np.abs(centres - 48).max() < 3.0
    assert np.ptp(head.mouth_centres, axis=0).min() > 5  # the head did move
    # The crop is upright: the transform undoes the head's rotation, to within a degree or two.
    angles = np.degrees(np.arctan2(matrices[:, 1, 0], matrices[:, 0, 0]))
    assert np.ptp(angles) > 2 and np.abs(np.diff(angles)).max() < 3


def test_crop_size_colour_and_padding_are_configurable(head):
    landmarks = fill_missing(follow_face(head.frames[:3]), 0.5, "head")
    tight, loose = (
        PreprocessConfig(crop_size=64, grayscale=False, padding=0.2),
        PreprocessConfig(crop_size=64, padding=0.8),
    )
    crop = crop_mouth(head.frames[0], mouth_transforms(landmarks, tight)[0], tight)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    scale = [np.linalg.norm(mouth_transforms(landmarks, c)[0, :, 0]) for c in (tight, loose)]
    assert scale[0] / scale[1] == pytest.approx((1 + 2 * 0.8) / (1 + 2 * 0.2))


def test_degenerate_landmarks_keep_the_previous_alignment():
    landmarks = np.random.default_rng(0).normal(100, 20, (2, 468, 2)).astype(np.float32)
    landmarks[1] = 50.0  # every point in one place: no transform can be estimated
    matrices = mouth_transforms(landmarks, PreprocessConfig())
    assert np.allclose(matrices[1, :, :2], matrices[0, :, :2])
    assert np.allclose(to_crop_coordinates(landmarks[1:, :1], matrices[1:]), 48)
