"""Decode one video with a trained checkpoint (``infer.py``): the words or the sentence it shows.

The video goes through the same preprocessing as the datasets (:func:`preprocess_video`: face
landmarks, alignment, mouth crop) at the frame size the checkpoint was trained on, then through
the checkpoint's eval transform and model. ``cropped=true`` takes a video that already shows
only the mouth (it is resized, no face tracking); a ``.npz`` clip is read as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.text import char_error_rate

from lipreading.data.clip import Clip, save_clip
from lipreading.preprocessing import PreprocessConfig
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import check_checkpoint_kind, checkpoint_kind, load_checkpoint
from lipreading.run.mouth import mouth_clip
from lipreading.run.separation import separate
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    """What infer.py found: the top words (word models) or the decoded text (sentence models)."""

    words: list[tuple[str, float]] = field(default_factory=list)
    text: str | None = None
    cer: float | None = None

    def report(self) -> str:
        if self.text is None:
            return "\n".join(f"{word:>16s}  {probability:.4f}" for word, probability in self.words)
        lines = [f"hypothesis: {self.text}"]
        if self.cer is not None:
            lines.append(f"CER: {self.cer:.4f}")
        return "\n".join(lines)


def transcribe_clip(task: Any, train_cfg: DictConfig, clip: Clip, top_k: int, vocabulary: list[str] | None,
                    decoding: dict[str, Any]) -> Transcript:
    """Run the checkpoint's eval transform and model on one clip."""
    transform = hydra.utils.instantiate(train_cfg.data.eval_transform)
    video = torch.from_numpy(clip.video)[None]  # (1, T, H, W) uint8
    lengths = torch.tensor([clip.num_frames])
    with torch.no_grad():
        inputs = transform(video, lengths)
        if hasattr(task, "tokenizer"):
            return Transcript(text=task.transcribe(inputs, lengths, **decoding)[0])
        probabilities = task(inputs, lengths).float().softmax(-1)[0]
    if vocabulary is None:
        raise ConfigError("this word checkpoint holds no vocabulary (checkpoint['vocabulary']); retrain with this version")
    top = probabilities.topk(min(top_k, len(probabilities)))
    return Transcript(words=[(vocabulary[int(i)], float(p)) for p, i in zip(top.values, top.indices)])


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


def infer(cfg: DictConfig) -> Transcript | dict[str, Any]:
    """Decode ``cfg.video`` with ``cfg.ckpt``; print and return the result (see conf/infer.yaml).
    A separation checkpoint separates the video's target speaker instead (:mod:`lipreading.run.separation`)."""
    if not cfg.get("video"):
        raise ConfigError("give the video to read: python infer.py video=PATH ckpt=PATH")
    checkpoint = load_checkpoint(cfg.ckpt)
    kind = checkpoint_kind(checkpoint)
    check_checkpoint_kind(cfg, kind)
    task, train_cfg = restore_task(checkpoint, cfg.ckpt)
    if kind == "separation":
        return separate(cfg, task, train_cfg)
    frame_size = OmegaConf.select(train_cfg, "data.frame_size", default=None) or cfg.roi.crop_size
    roi = PreprocessConfig(**OmegaConf.to_container(cfg.roi, resolve=True))
    preview = Path(cfg.paths.output_dir) / "preview.jpg" if cfg.save_roi else None
    clip = mouth_clip(cfg.video, int(frame_size), bool(cfg.cropped), roi, preview)
    decoding = {k: v for k, v in (OmegaConf.to_container(cfg.decoding, resolve=True) or {}).items() if v is not None}
    result = transcribe_clip(task, train_cfg, clip, cfg.top_k, checkpoint.get("vocabulary"), decoding)
    if cfg.get("ground_truth") is not None and result.text is not None:
        reference = task.tokenizer.normalise(str(cfg.ground_truth))
        result.cer = float(char_error_rate(result.text, reference))
    output_dir = Path(cfg.paths.output_dir)
    if cfg.save_roi:
        for path in write_roi(clip, output_dir):
            log.info("mouth crop written to %s", path)
    atomic_write_json(output_dir / "transcript.json", {
        "video": str(cfg.video), "checkpoint": str(cfg.ckpt), "frames": clip.num_frames,
        "text": result.text, "cer": result.cer, "ground_truth": cfg.get("ground_truth"),
        "top_words": [{"word": w, "probability": p} for w, p in result.words],
    })
    print(result.report())
    return result
