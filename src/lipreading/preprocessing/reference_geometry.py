"""The mouth crops of the reference TCN code (its ``preprocessing/``), from MediaPipe's face mesh.

Reference: Lipreading_using_TCN (github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks, commit
0cc99fa), ``preprocessing/dataloader.py`` ``AVSRDataLoader`` (Ma et al., "Training strategies for improved
lip-reading", ICASSP 2022), which made the crops of its ResNet-18 zoo models. Per frame it

1. averages the 68-point landmarks over the frames within 6 of it (the window shrinks at the clip's ends to
   stay symmetric) and moves that average to the current frame's landmark centroid;
2. maps 8 stable points of it (nose bridge and base, eye corners, mouth corners: 68-point indices 28, 33, 36,
   39, 42, 45, 48, 54) onto a mean face in a 256x256 frame by a similarity transform (cv2's
   ``estimateAffinePartial2D``, LMEDS);
3. cuts the 96x96 patch of that warped frame centred on the mean of the transformed mouth points (48-67),
   its centre rounded to a pixel and kept inside the 256x256 frame.

:func:`reference_transforms` returns that frame -> crop map per frame as one 2x3 matrix (the warp and the cut
are one affine map), from MediaPipe landmarks turned into 68 points by :data:`MEDIAPIPE_TO_68`. With
``crop_size`` other than 96 the whole geometry is scaled (the same region at another resolution).

NOTE: the 68 points come from MediaPipe's mesh through our correspondence below (the reference used the
landmarks of a 68-point detector); the mesh's points sit where the 68-point scheme defines them, but not where
any particular 68-point detector would put them. The legacy preprocessing of the ShuffleNet zoo models
(``legacy_preprocessing/``: 5 stable points, a causal 12-frame window, scikit-image's warp) is not reproduced.
"""

from __future__ import annotations

import cv2
import numpy as np

REFERENCE_CROP = 96  # the reference's crop side; its mean face lives in a 256x256 frame
REFERENCE_FRAME = 256
HALF_WINDOW = 6  # its window_margin 12 // 2
STABLE_POINTS = np.array([28, 33, 36, 39, 42, 45, 48, 54])  # 68-point indices
MOUTH_POINTS = slice(48, 68)
# The reference's mean face (preprocessing/20words_mean_face.npy) at the 8 stable points, in its 256x256
# frame (x right, y down): nose bridge, nose base, right eye outer/inner, left eye inner/outer, mouth corners.
REFERENCE_STABLE = np.array([
    [128.48854473, 106.92459506], [128.87017961, 137.30253356], [92.52245553, 94.36876014],
    [112.77241724, 94.9436087], [145.52511509, 94.53499862], [166.67710071, 93.56562296],
    [107.16760614, 157.19606764], [152.19284005, 156.98711116],
])

# The 68-point scheme (iBUG 300-W, as dlib numbers it from 0; "right" is the person's right, on the image's
# left) -> MediaPipe face-mesh indices, chosen on the mesh's canonical face model point by point.
MEDIAPIPE_TO_68 = np.array([
    # 0-16 jaw line, from the right ear over the chin (8) to the left ear
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    # 17-21 right eyebrow (outer -> inner), 22-26 left eyebrow (inner -> outer)
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # 27-30 nose bridge (between the eyes -> tip), 31-35 nose base (right -> left; 33 below the tip)
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    # 36-41 right eye (outer corner, upper lid x2, inner corner, lower lid x2), 42-47 left eye (inner corner first)
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # 48-59 outer lip (right corner, upper lip, left corner 54, lower lip), 60-67 inner lip
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91, 78, 81, 13, 311, 308, 402, 14, 178,
])


def to_68_points(landmarks: np.ndarray) -> np.ndarray:
    """MediaPipe landmarks (T, 468, 2) -> the 68-point scheme's points (T, 68, 2)."""
    return landmarks[:, MEDIAPIPE_TO_68]


def smoothed(points: np.ndarray) -> np.ndarray:
    """The reference's per-frame average over the frames within :data:`HALF_WINDOW` (symmetric, shrinking at
    the ends), moved to each frame's own centroid (T, K, 2)."""
    out = np.empty_like(points, dtype=np.float64)
    last = len(points) - 1
    for t in range(len(points)):
        half = min(HALF_WINDOW, t, last - t)
        mean = points[t - half:t + half + 1].mean(axis=0)
        out[t] = mean + points[t].mean(axis=0) - mean.mean(axis=0)
    return out


def reference_transforms(landmarks: np.ndarray, crop_size: int = REFERENCE_CROP) -> np.ndarray:
    """Per-frame 2x3 matrices (T, 2, 3) mapping frame pixels to the reference's mouth-crop pixels, from
    MediaPipe landmarks (T, 468, 2) in frame pixels."""
    points = smoothed(to_68_points(landmarks))
    scale = crop_size / REFERENCE_CROP
    half = REFERENCE_CROP // 2
    matrices = np.empty((len(points), 2, 3), dtype=np.float64)
    for t, frame_points in enumerate(points):
        matrix, _ = cv2.estimateAffinePartial2D(frame_points[STABLE_POINTS], REFERENCE_STABLE, method=cv2.LMEDS)
        if matrix is None:  # degenerate points: keep the previous frame's alignment
            matrices[t] = matrices[t - 1] if t else np.array([[scale, 0, 0], [0, scale, 0]])
            continue
        mouth = (frame_points[MOUTH_POINTS] @ matrix[:, :2].T + matrix[:, 2]).mean(axis=0)  # in the 256 frame
        centre = np.clip(np.round(mouth), half, REFERENCE_FRAME - half)  # rounded as its cut; inside the frame
        matrix[:, 2] -= centre - half  # (x, y) of the 256 frame -> of the 96 crop
        matrices[t] = matrix * scale
    return matrices
