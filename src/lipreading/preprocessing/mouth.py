"""One video to the chosen person's mouth-region clip and a report: the function every entry point
shares (``preprocess.py`` for datasets and single videos, ``infer.py``, the separation inference).

One decoding pass follows every face (:mod:`~lipreading.preprocessing.track`) and keeps, per face and
frame, a crop 1.5x the mouth region's side around that frame's own alignment (a few kB). Then the
tracks become people, the ``face=`` rule chooses one (:mod:`~lipreading.preprocessing.persons`), its
landmarks are checked (``min_face_fraction``), interpolated where it was lost (losses longer than
``max_gap`` are reported), smoothed and aligned (:mod:`~lipreading.preprocessing.align`), and the
final crops are cut from the kept ones. Only frames in which the chosen face was not found are
decoded a second time, to cut their crops from the frame itself.

NOTE: the final crop is resampled twice (frame -> kept crop -> mouth crop, both bilinear at the
mouth crop's own pixel size), which blurs it slightly against one warp from the frame; it saves the
second decoding of the video, the largest cost at 720p and above.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np

from lipreading.data.clip import Clip
from lipreading.preprocessing.align import clip_transforms, crop_mouth, to_crop_coordinates
from lipreading.preprocessing.backends import face_models
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.landmarks import LIP_INDICES, NoFaceError, fill_missing
from lipreading.preprocessing.persons import choose_person, link_tracks, score_people
from lipreading.preprocessing.report import (
    PREVIEW_FRAMES,
    PREVIEW_WIDTH,
    PersonSummary,
    PreviewFrame,
    VideoReport,
)
from lipreading.preprocessing.track import FaceTracker, landmarks_box
from lipreading.preprocessing.video import VideoError, VideoReader

MARGIN = 1.5  # side of a kept crop, in mouth-crop sides


def preprocess_video(
    path: str | os.PathLike, config: PreprocessConfig | None = None
) -> tuple[Clip, VideoReport]:
    """The mouth-region clip of one video file (no label) and its report; errors name the file."""
    config = config or PreprocessConfig()
    return mouth_clip(VideoReader(path, config.fps), config)


def mouth_clip(reader: VideoReader, config: PreprocessConfig) -> tuple[Clip, VideoReport]:
    """The chosen person's mouth clip of one opened video, and the report (see the module doc)."""
    started = time.perf_counter()
    report = VideoReport(
        path=str(reader.path), width=reader.width, height=reader.height,
        source_fps=reader.source_fps, fps=config.fps, num_frames=0, backend=config.backend,
        rule=str(config.face),
    )
    kept: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}  # track -> frame -> crop, matrix
    wanted = preview_indices(reader)
    with face_models(config.backend, config.min_detection_confidence, config.native_logs) as models:
        tracker = FaceTracker(models, config)
        for t, frame in enumerate(reader):
            for track in tracker.step(t, frame):
                kept.setdefault(track.id, {})[t] = margin_crop(frame, track.landmarks[-1], config)
            if t in wanted:
                scale = min(1.0, PREVIEW_WIDTH / frame.shape[1])
                small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                report.preview.append(PreviewFrame(t, small, scale))
            report.num_frames = t + 1
    num_frames = report.num_frames
    report.cuts, report.detection_frames = tracker.cuts, tracker.detection_frames
    people = link_tracks(tracker.tracks)
    if not people:
        raise NoFaceError(f"{reader.path}: no face found in any of its {num_frames} frames")
    score_people(people, num_frames, (reader.width, reader.height))
    person = choose_person(people, config.face, str(reader.path))
    report.chosen = person.number
    report.people = [
        PersonSummary(p.number, int(p.scores["seen"]), p.scores["face_width"], p.scores["speaker"])
        for p in people
    ]
    found = person.landmarks(num_frames)
    source = str(reader.path) if len(people) == 1 else f"{reader.path} (person {person.number})"
    landmarks = fill_missing(found, config.min_face_fraction, source)
    report.mouth_centres = landmarks[:, LIP_INDICES].mean(axis=1)
    report.gaps = long_gaps(np.isnan(found[:, 0, 0]), round(config.max_gap * config.fps))
    matrices = clip_transforms(landmarks, config)
    own = {t: crop for track in person.tracks for t, crop in kept.get(track.id, {}).items()}
    crops = [
        from_margin_crop(*own[t], matrices[t], config) if t in own else None
        for t in range(num_frames)
    ]
    if len(own) < num_frames:
        crops = crops_of_lost_frames(reader, crops, matrices, config)
    for panel in report.preview:
        draw_on(panel, people, landmarks, matrices, config)
    report.seconds = time.perf_counter() - started
    clip = Clip(
        video=np.stack(crops),
        fps=config.fps,
        landmarks=to_crop_coordinates(landmarks[:, LIP_INDICES], matrices),
    )
    return clip, report


def margin_crop(
    frame_bgr: np.ndarray, landmarks: np.ndarray, config: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A crop MARGIN times the mouth crop's side around this frame's alignment, and its matrix."""
    matrix = clip_transforms(landmarks[None], config)[0]
    matrix[:, 2] += (MARGIN - 1) / 2 * config.crop_size
    side = round(MARGIN * config.crop_size)
    crop = cv2.warpAffine(
        frame_bgr, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if config.grayscale else crop), matrix


def from_margin_crop(
    crop: np.ndarray, margin: np.ndarray, matrix: np.ndarray, config: PreprocessConfig
) -> np.ndarray:
    """The mouth crop that ``matrix`` (frame -> mouth crop) cuts, from a kept crop (frame -> crop)."""
    # (2, 3) affines as (3, 3): kept-crop pixels -> frame -> mouth-crop pixels.
    inverse = np.linalg.inv(np.vstack([margin, [0, 0, 1]]))
    relative = (np.vstack([matrix, [0, 0, 1]]) @ inverse)[:2]
    size = config.crop_size
    mouth = cv2.warpAffine(
        crop, relative, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return mouth if config.grayscale else cv2.cvtColor(mouth, cv2.COLOR_BGR2RGB)


def crops_of_lost_frames(
    reader: VideoReader, crops: list, matrices: np.ndarray, config: PreprocessConfig
) -> list[np.ndarray]:
    """Fill the crops that are None by decoding the video again (frames where the face was lost)."""
    decoded = 0
    for t, frame in enumerate(reader):
        decoded = t + 1
        if t < len(crops) and crops[t] is None:
            crops[t] = crop_mouth(frame, matrices[t], config)
    if decoded != len(crops):
        raise VideoError(
            f"{reader.path}: decoded {len(crops)} then {decoded} frames; re-encode it"
        )
    return crops


def long_gaps(lost: np.ndarray, longest: int) -> list[tuple[int, int]]:
    """Runs (first, last frame) of True in ``lost`` longer than ``longest`` frames."""
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b - 1)) for a, b in zip(starts, ends, strict=True) if b - a > longest]


def preview_indices(reader: VideoReader) -> set[int]:
    """The output frames shown in the preview: PREVIEW_FRAMES spread over the declared length."""
    expected = int(reader.declared_frames * reader.fps / reader.source_fps)
    if expected <= PREVIEW_FRAMES:
        return set(range(PREVIEW_FRAMES))
    return {round(x) for x in np.linspace(0, expected - 1, PREVIEW_FRAMES + 2)[1:-1]}


def draw_on(
    panel: PreviewFrame, people: list, landmarks: np.ndarray, matrices: np.ndarray,
    config: PreprocessConfig,
) -> None:
    """Fill a preview frame's boxes, the chosen lips and the mouth crop's corners."""
    t = panel.index
    for person in people:
        points = person.landmarks(len(landmarks))[t]
        if not np.isnan(points[0, 0]):
            panel.boxes[person.number] = landmarks_box(points)
    panel.lips = landmarks[t, LIP_INDICES]
    size = config.crop_size
    square = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64)
    inverse = np.linalg.inv(np.vstack([matrices[t], [0, 0, 1]]))[:2]
    panel.crop = square @ inverse[:, :2].T + inverse[:, 2]
