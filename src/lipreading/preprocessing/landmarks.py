"""The face mesh's landmark indices the pipeline uses, and missing-frame handling of a clip."""

from __future__ import annotations

import numpy as np

from lipreading.utils.errors import UserError

NUM_LANDMARKS = 468  # MediaPipe face mesh without iris refinement
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
