"""Detect, then track, then mesh: follow every face of a video from frame to frame.

As MediaPipe's face mesh graph does (``face_landmark_front_cpu.pbtxt``), a face found by the
detector becomes a square region (its box, 1.5x, turned so that the eyes are level); the face mesh
runs on that region's 192x192 crop, and the landmarks give the region of the next frame, so the
detector is not needed while the face stays. A track ends when the mesh's presence score falls
below ``min_tracking_confidence`` or the scene cuts (the frame's thumbnail changes abruptly). The
detector searches the whole frame and its tiles (:mod:`lipreading.preprocessing.detect`) on the
first frame, after a cut or a lost track, whenever no face is followed, and every ``detect_every``
frames for faces that came in; a detection that a followed face already covers is left to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from lipreading.preprocessing.backends import MESH_SIZE, FaceModels, box_iou
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.detect import detect_faces

REGION_SCALE = 1.5  # the mesh's region: the face box enlarged 1.5x (MediaPipe's value)
RIGHT_EYE, LEFT_EYE = 33, 263  # outer eye corners of the mesh: they set the region's rotation
SCENE_CUT = 30.0  # mean absolute change of the 64x36 grey thumbnail (0-255) that marks a cut
THUMBNAIL = (64, 36)
APPEARANCE = 16  # side of the grey face thumbnail compared to recognise a face again


@dataclass(frozen=True)
class Region:
    """A square, rotated region of a frame: centre (x, y), side and angle (radians, y down)."""

    centre: np.ndarray
    side: float
    angle: float

    def to_frame(self, size: int = MESH_SIZE) -> np.ndarray:
        """The 2x3 matrix mapping pixels of the region's ``size`` x ``size`` crop to the frame."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        scale = self.side / size
        rotation = scale * np.array([[c, -s], [s, c]])
        return np.hstack([rotation, (self.centre - rotation @ np.full(2, size / 2))[:, None]])


def region_from_box(box: np.ndarray, eyes: np.ndarray) -> Region:
    """The mesh region of a box (x0, y0, x1, y1) turned by the eye line ``eyes`` (2, 2): right, left."""
    centre = (box[:2] + box[2:]) / 2
    side = REGION_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
    dx, dy = eyes[1] - eyes[0]
    return Region(centre.astype(np.float64), side, float(np.arctan2(dy, dx)))


def landmarks_box(points: np.ndarray) -> np.ndarray:
    """The axis-aligned box (x0, y0, x1, y1) of points (K, 2)."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def mesh_face(
    frame_bgr: np.ndarray, region: Region, models: FaceModels
) -> tuple[np.ndarray, float, np.ndarray]:
    """Landmarks (468, 2) in frame pixels, presence, and the face's appearance thumbnail."""
    matrix = region.to_frame()
    crop = cv2.warpAffine(
        frame_bgr, matrix, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
    points, presence = models.mesh(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    landmarks = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]  # (468, 2) crop -> frame pixels
    return landmarks.astype(np.float32), presence, appearance(crop)


def appearance(crop_bgr: np.ndarray) -> np.ndarray:
    """A unit-norm, zero-mean grey thumbnail of the middle of a mesh crop (the face itself)."""
    middle = crop_bgr[MESH_SIZE // 4 : 3 * MESH_SIZE // 4, MESH_SIZE // 4 : 3 * MESH_SIZE // 4]
    grey = cv2.cvtColor(middle, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (APPEARANCE, APPEARANCE), interpolation=cv2.INTER_AREA)
    vector = small.astype(np.float32).ravel()
    vector -= vector.mean()
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


@dataclass
class Track:
    """One face followed over consecutive frames ``start ... end - 1``."""

    id: int
    start: int
    landmarks: list[np.ndarray] = field(default_factory=list)  # (468, 2) per frame
    appearance_sum: np.ndarray = field(default_factory=lambda: np.zeros(APPEARANCE**2, np.float32))

    @property
    def end(self) -> int:
        return self.start + len(self.landmarks)

    @property
    def box(self) -> np.ndarray:
        return landmarks_box(self.landmarks[-1])

    @property
    def appearance(self) -> np.ndarray:
        return self.appearance_sum / max(float(np.linalg.norm(self.appearance_sum)), 1e-6)

    def add(self, landmarks: np.ndarray, look: np.ndarray) -> None:
        self.landmarks.append(landmarks)
        self.appearance_sum += look


@dataclass
class FaceTracker:
    """Follows every face of one video, frame by frame: ``step`` each frame in order, then ``tracks``."""

    models: FaceModels
    config: PreprocessConfig
    tracks: list[Track] = field(default_factory=list)  # all of them, ended or live
    cuts: list[int] = field(default_factory=list)  # frames that start a new scene
    detection_frames: int = 0
    _live: list[Track] = field(default_factory=list)
    _thumbnail: np.ndarray | None = None
    _last_detection: int = -(10**9)

    def step(self, t: int, frame_bgr: np.ndarray) -> list[Track]:
        """Process frame ``t``; return the tracks that have landmarks in it."""
        lost = self._scene_cut(t, frame_bgr)
        if lost:
            self._live = []
        followed = []
        for track in self._live:
            landmarks, presence, look = mesh_face(frame_bgr, self._next_region(track), self.models)
            if presence >= self.config.min_tracking_confidence:
                track.add(landmarks, look)
                followed.append(track)
            else:
                lost = True
        self._live = self._without_duplicates(followed)
        due = t - self._last_detection >= self.config.detect_every
        if (lost or due or not self._live) and len(self._live) < self.config.max_num_faces:
            self._detect(t, frame_bgr)
        return list(self._live)

    def _scene_cut(self, t: int, frame_bgr: np.ndarray) -> bool:
        step = max(1, frame_bgr.shape[1] // (4 * THUMBNAIL[0]))  # subsample first: 10x cheaper
        small = cv2.resize(frame_bgr[::step, ::step], THUMBNAIL, interpolation=cv2.INTER_AREA)
        thumbnail = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        previous, self._thumbnail = self._thumbnail, thumbnail
        if previous is None or np.abs(thumbnail - previous).mean() <= SCENE_CUT:
            return False
        self.cuts.append(t)
        return True

    @staticmethod
    def _next_region(track: Track) -> Region:
        points = track.landmarks[-1]
        return region_from_box(landmarks_box(points), points[[RIGHT_EYE, LEFT_EYE]])

    @staticmethod
    def _without_duplicates(tracks: list[Track]) -> list[Track]:
        """Keep the older of two tracks that converged onto one face (the younger is dropped)."""
        kept: list[Track] = []
        for track in sorted(tracks, key=lambda k: k.start):
            if all(box_iou(track.box, kept_track.box[None])[0] <= 0.5 for kept_track in kept):
                kept.append(track)
        return kept

    def _detect(self, t: int, frame_bgr: np.ndarray) -> None:
        self._last_detection = t
        self.detection_frames += 1
        detections = detect_faces(frame_bgr, self.models, self.config.min_face_size)
        detections = detections[np.argsort(-(detections[:, 2] - detections[:, 0]))]  # largest first
        for row in detections:
            if len(self._live) >= self.config.max_num_faces:
                break
            if self._covered(row[:4]):
                continue
            region = region_from_box(row[:4], row[4:8].reshape(2, 2))
            landmarks, presence, look = mesh_face(frame_bgr, region, self.models)
            if presence < self.config.min_tracking_confidence or self._covered(landmarks_box(landmarks)):
                continue
            track = Track(id=len(self.tracks), start=t)
            track.add(landmarks, look)
            self.tracks.append(track)
            self._live.append(track)

    def _covered(self, box: np.ndarray) -> bool:
        """Whether a followed face already overlaps ``box`` (or holds its centre)."""
        centre = (box[:2] + box[2:]) / 2
        for track in self._live:
            live_box = track.box
            if box_iou(box, live_box[None])[0] > 0.3 or (
                np.all(centre >= live_box[:2]) and np.all(centre <= live_box[2:])
            ):
                return True
        return False
