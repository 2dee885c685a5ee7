"""Separate the target speaker of one video (``python infer.py video=PATH ckpt=SEPARATION_CKPT``).

The target is the speaker whose mouth the video shows: the mouth is tracked and cropped as for
lipreading (``cropped=true``: the video already shows only the mouth; a ``.npz`` clip is read as it
is), the audio track is decoded (16 kHz mono, trimmed to the video), and the checkpoint separates
it. Writes into the run dir: ``separated.wav`` (the target), ``residual.wav`` (the mixture minus
the target), ``mixture.wav`` and ``spectrograms.png``; an audio-only checkpoint writes
``speaker1.wav``, ``speaker2.wav``, ... (it cannot know which one is the target).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lipreading.data.audio import align_audio, clip_audio, read_audio_track, write_wav
from lipreading.data.clip import load_clip
from lipreading.reports.separation import plot_spectrograms
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)


def recording_audio(video: str | Path, num_frames: int, fps: float) -> np.ndarray:
    """The 16 kHz mono audio of ``video`` (a video file's first audio track, or a clip's audio),
    trimmed or padded to ``num_frames`` frames; :class:`AudioError` naming the file if it has none."""
    path = Path(video)
    if path.suffix == ".npz":
        return clip_audio(load_clip(path), path)
    audio, rate = read_audio_track(path)
    return align_audio(audio, int(rate), num_frames, fps, str(path), policy="trim")


def separate_clip(task: Any, train_cfg: DictConfig, mouth: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """The separator's estimates (S, N) of the mixture ``audio`` (N,) given the mouth frames (T, H, W)."""
    transform = hydra.utils.instantiate(train_cfg.data.clips.eval_transform)
    lengths = torch.tensor([mouth.shape[0]])
    video = transform(torch.from_numpy(mouth)[None], lengths)  # (1, T, H, W) uint8 -> (1, 1, T, h, w)
    with torch.no_grad():
        estimates = task(torch.from_numpy(audio)[None], lengths, video if task.net.modality == "av" else None)
    return estimates[0].numpy()


def separate(cfg: DictConfig, task: Any, train_cfg: DictConfig) -> dict[str, Any]:
    """Separate ``cfg.video`` with the restored separation ``task``; write the WAVs (see module doc)."""
    from lipreading.inference import mouth_clip  # inference dispatches here
    from lipreading.preprocessing import PreprocessConfig

    frame_size = int(OmegaConf.select(train_cfg, "data.clips.frame_size", default=None) or cfg.roi.crop_size)
    roi = PreprocessConfig(**OmegaConf.to_container(cfg.roi, resolve=True))
    clip = mouth_clip(cfg.video, frame_size, bool(cfg.cropped), roi)
    mixture = recording_audio(cfg.video, clip.num_frames, clip.fps)
    estimates = separate_clip(task, train_cfg, clip.video, mixture)
    output_dir = Path(cfg.paths.output_dir)
    peak = max(float(np.abs(mixture).max()), float(np.abs(estimates).max()), 1e-6)
    scale = min(1.0, 0.99 / peak)  # the input's level, unless that would clip
    files = {"mixture": write_wav(output_dir / "mixture.wav", mixture * scale)}
    if task.net.modality == "av":
        files["separated"] = write_wav(output_dir / "separated.wav", estimates[0] * scale)
        files["residual"] = write_wav(output_dir / "residual.wav", (mixture - estimates[0]) * scale)
        panels = {"mixture": mixture, "separated (target)": estimates[0]}
    else:
        for i, estimate in enumerate(estimates, 1):
            files[f"speaker{i}"] = write_wav(output_dir / f"speaker{i}.wav", estimate * scale)
        panels = {"mixture": mixture, **{f"speaker {i}": e for i, e in enumerate(estimates, 1)}}
    files["spectrograms"] = plot_spectrograms(panels, output_dir / "spectrograms.png", Path(cfg.video).name)
    summary = {"video": str(cfg.video), "checkpoint": str(cfg.ckpt), "modality": task.net.modality,
               "frames": clip.num_frames, "seconds": len(mixture) / 16000, "files": {k: str(v) for k, v in files.items()}}
    atomic_write_json(output_dir / "separation.json", summary)
    for name, path in files.items():
        print(f"{name:>12s}  {path}")
    return summary
