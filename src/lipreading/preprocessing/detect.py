"""Find faces of every size in a frame: the full-range detector on the whole frame and on tiles.

The detector sees a 192x192 input and finds faces from about 16 to 180 of its pixels wide. The whole
frame, shrunk to that input, gives faces from ``long side / 12`` up to the frame; smaller faces
down to ``min_face_size`` need tiles: squares of side ``12 * min_face_size`` (720 px for 60 px faces),
overlapping by the smallest face the coarser level finds, so every face lies whole inside one tile.
Tile sides shrink geometrically by at most 6x per level from the whole frame (4K needs one level
of 720-px tiles, 720p needs two tiles, 480p none). Detections from all tiles are merged by
MediaPipe's weighted non-maximum suppression.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lipreading.preprocessing.backends import DETECTOR_SIZE, SCORE, FaceModels, weighted_nms

SMALLEST_DETECTED = 16  # face width in detector pixels below which the detector misses faces
LEVEL_RATIO = 6.0  # largest ratio of tile sides between two levels


def tiles(width: int, height: int, min_face_size: int) -> list[tuple[int, int, int]]:
    """The detection windows (x0, y0, side) of a frame: the whole frame first, then the tiles."""
    long_side = max(width, height)
    finest = min_face_size * DETECTOR_SIZE / SMALLEST_DETECTED
    windows = [(0, 0, long_side)]
    if long_side <= finest:
        return windows
    levels = math.ceil(math.log(long_side / finest) / math.log(LEVEL_RATIO))
    coarser = float(long_side)
    for level in range(1, levels + 1):
        side = long_side * (finest / long_side) ** (level / levels)
        overlap = min(coarser * SMALLEST_DETECTED / DETECTOR_SIZE, side / 2)
        windows += [
            (x, y, round(side))
            for y in _starts(height, side, overlap)
            for x in _starts(width, side, overlap)
        ]
        coarser = side
    return windows


def _starts(length: int, side: float, overlap: float) -> list[int]:
    """Offsets of windows of ``side`` covering ``length`` with at least ``overlap`` in common."""
    if side >= length:
        return [0]
    count = math.ceil((length - overlap) / (side - overlap))
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


def detect_faces(frame_bgr: np.ndarray, models: FaceModels, min_face_size: int) -> np.ndarray:
    """Every face in a BGR frame: detection rows (see backends.DETECTION_COLUMNS) in frame pixels."""
    height, width = frame_bgr.shape[:2]
    found = []
    for x0, y0, side in tiles(width, height, min_face_size):
        window = frame_bgr[y0 : y0 + side, x0 : x0 + side]
        rows = models.detect(cv2.cvtColor(window, cv2.COLOR_BGR2RGB))
        rows[:, :SCORE] += np.tile(np.array([x0, y0], np.float32), SCORE // 2)
        found.append(rows)
    return weighted_nms(np.concatenate(found))
