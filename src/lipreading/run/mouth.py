"""The mouth-region clip that infer.py reads from a video, at the frame size a checkpoint was trained on, and
as the checkpoint's model reads it.

The video goes through the same preprocessing as the datasets (:func:`preprocess_video`: face
landmarks, alignment, mouth crop). ``cropped=true`` takes a video that already shows only the
mouth (it is resized, no face tracking); a ``.npz`` clip is read as it is.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lipreading.data.clip import Clip, load_clip, save_clip
from lipreading.preprocessing import PreprocessConfig, preprocess_video
from lipreading.preprocessing.video import read_video
from lipreading.run.build import input_transform
from lipreading.run.checkpoint import Checkpoint

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


def read_mouth(cfg: DictConfig, checkpoint: Checkpoint) -> Clip:
    """The mouth clip of ``cfg.video`` at the frame size of the checkpoint's training clips (its record's
    ``input.frame_size``; ``roi.crop_size`` for clips that preprocess.py made), cut with the alignment its
    record names (an imported zoo model's: ``tcn_reference``), else ``roi.alignment``."""
    frame_size = checkpoint.input["frame_size"] or cfg.roi.crop_size
    roi = PreprocessConfig(**OmegaConf.to_container(cfg.roi, resolve=True))
    recorded = (checkpoint.input.get("preprocessing") or {}).get("alignment")
    if recorded and recorded != roi.alignment:
        log.info("%s was trained on crops of alignment=%s (its record): using it", checkpoint.path, recorded)
        roi = replace(roi, alignment=recorded)
    preview = Path(cfg.paths.output_dir) / "preview.jpg" if cfg.get("save_roi") else None  # faces, lips, crop
    return mouth_clip(cfg.video, int(frame_size), bool(cfg.cropped), roi, preview)


def model_inputs(clip: Clip, checkpoint: Checkpoint) -> tuple[torch.Tensor, torch.Tensor]:
    """The clip as the checkpoint's model reads it: ``(1, C, T, h, w)`` after its eval transform, and its length."""
    video = torch.from_numpy(clip.video)[None]  # (1, T, H, W) uint8
    lengths = torch.tensor([clip.num_frames])
    return input_transform(checkpoint)(video, lengths), lengths


def write_roi(clip: Clip, output_dir: Path) -> list[Path]:
    """The mouth crop as a clip file and as an MP4 (for a look), in ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    npz, mp4 = output_dir / "mouth_roi.npz", output_dir / "mouth_roi.mp4"
    save_clip(npz, clip)
    size = clip.video.shape[2], clip.video.shape[1]
    writer = cv2.VideoWriter(str(mp4), cv2.VideoWriter_fourcc(*"mp4v"), clip.fps, size)
    for frame in clip.video:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return [npz, mp4]
