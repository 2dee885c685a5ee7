"""Missing frames: interpolation of missed frames, skipping clips whose face is seen too rarely."""

from __future__ import annotations

import numpy as np
import pytest

from lipreading.preprocessing.landmarks import NoFaceError, fill_missing


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
