"""A frozen distillation teacher from a training checkpoint (``task.teacher`` of the distillation configs)."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra

from lipreading.run.build import restore_task
from lipreading.run.checkpoint import load_checkpoint
from lipreading.tasks.teachers import FrozenTeacher
from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)


def load_teacher(checkpoint: str | None) -> FrozenTeacher:
    """The frozen network of a training checkpoint, with its own evaluation preprocessing."""
    if not checkpoint:
        raise ConfigError("distillation needs a teacher: set distill.teacher.checkpoint=PATH to the .ckpt of a "
                          "training run (e.g. outputs/train/runs/<time>/checkpoints/last.ckpt)")
    if not Path(checkpoint).is_file():
        raise ConfigError(f"teacher checkpoint {checkpoint} not found; set distill.teacher.checkpoint to the "
                          ".ckpt of a training run")
    state = load_checkpoint(checkpoint)
    task, config = restore_task(state, checkpoint)
    transform = hydra.utils.instantiate(config.data.eval_transform)
    log.info("teacher: %s (%s parameters)", checkpoint, f"{sum(p.numel() for p in task.net.parameters()):,}")
    return FrozenTeacher(task.net, transform, state.get("vocabulary"), source=str(checkpoint))
