"""The mouth-region clip that infer.py reads from a video, at the frame size a checkpoint was trained on."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from lipreading.data.clip import Clip, load_clip
from lipreading.preprocessing import PreprocessConfig, preprocess_video
from lipreading.preprocessing.video import read_video

log = logging.getLogger(__name__)


def mouth_clip(video: str | Path, frame_size: int, cropped: bool, roi: PreprocessConfig, preview: Path | None = None) -> Clip:
    """The mouth-region clip of ``video`` at ``frame_size`` pixels (grayscale)."""
    path = Path(video)
    if path.suffix == ".npz":
        clip = load_clip(path)
    elif cropped:
        frames = read_video(path, roi.fps)  # (T, H, W, 3) BGR
        gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
        clip = Clip(video=np.stack([cv2.resize(g, (frame_size, frame_size), interpolation=cv2.INTER_AREA) for g in gray]), fps=roi.fps)
    else:
        clip, report = preprocess_video(path, PreprocessConfig(**{**roi.__dict__, "crop_size": frame_size, "grayscale": True}))
        log.info("%s", report.text())
        if preview is not None:
            log.info("preview written to %s", report.write_preview(preview))
    video_array = clip.video if clip.video.ndim == 3 else clip.video.mean(-1).astype(np.uint8)
    if video_array.shape[1:] != (frame_size, frame_size):
        video_array = np.stack([cv2.resize(f, (frame_size, frame_size), interpolation=cv2.INTER_AREA) for f in video_array])
    return Clip(video=video_array, fps=clip.fps, label=clip.label)
