"""A frozen distillation teacher from a training checkpoint (``task.teacher`` of ``task=distillation``)."""

from __future__ import annotations

import logging
from pathlib import Path

from lipreading.run.build import input_transform, restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.tasks.teachers import FrozenTeacher
from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)


def load_teacher(checkpoint: str | None) -> FrozenTeacher:
    """The frozen network of a word checkpoint, with its own evaluation preprocessing (from its record)."""
    if not checkpoint:
        raise ConfigError("distillation needs a teacher: set task.teacher.checkpoint=PATH to the .ckpt of a "
                          "training run (e.g. outputs/train/runs/<time>/checkpoints/last.ckpt)")
    if not Path(checkpoint).is_file():
        raise ConfigError(f"teacher checkpoint {checkpoint} not found; set task.teacher.checkpoint to the "
                          ".ckpt of a training run")
    teacher = read_checkpoint(checkpoint)
    if teacher.kind != "word":
        raise ConfigError(f"teacher {checkpoint} is a {teacher.kind} checkpoint; a distillation teacher is a word classifier")
    task, _ = restore_task(teacher)
    log.info("teacher: %s (%s parameters)", checkpoint, f"{sum(p.numel() for p in task.net.parameters()):,}")
    return FrozenTeacher(task.net, input_transform(teacher), teacher.vocabulary, source=str(checkpoint))
