"""Read one video with a trained checkpoint (``infer.py``): the words or the sentence it shows, or the
voice of the speaker it shows (separation checkpoints), as the checkpoint's kind does."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from lipreading.run.build import check_task_kind
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.kinds import kind_of
from lipreading.utils.errors import ConfigError


def infer(cfg: DictConfig) -> Any:
    """Read ``cfg.video`` with ``cfg.ckpt``; print and return the result (see conf/infer.yaml)."""
    if not cfg.get("video"):
        raise ConfigError("give the video to read: python infer.py video=PATH ckpt=PATH")
    checkpoint = read_checkpoint(cfg.ckpt)
    check_task_kind(cfg, checkpoint)
    if cfg.get("segment") and checkpoint.kind != "sentence":
        raise ConfigError(f"segment= cuts a long video into sentences; {cfg.ckpt} is a {checkpoint.kind} checkpoint "
                          f"(give a sentence model's, or drop segment=)")
    return kind_of(checkpoint).infer(cfg, checkpoint)
