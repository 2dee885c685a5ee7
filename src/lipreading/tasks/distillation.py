"""Knowledge distillation from a frozen teacher into a word classifier (``task=distillation``; born-again generations).

Ma, Martinez, Petridis and Pantic, "Towards practical lipreading with distilled and efficient
models", ICASSP 2021: self-distillation over generations reaches 88.5% on LRW, and ShuffleNetV2 +
DS-TCN students recover most of the large models' accuracy. The loss is Hinton et al.'s (2015):
``CE(y, student) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from lipreading.callbacks.teacher_logits import TeacherLogitsCache
from lipreading.tasks.losses import kd_loss
from lipreading.tasks.word_classification import (
    Mixup, OptimizerFactory, SchedulerFactory, WordClassificationTask, mixed_loss,
)
from lipreading.tasks.teachers import CachedTeacher, FrozenTeacher, check_vocabulary
from lipreading.utils.errors import ConfigError


class DistillationTask(WordClassificationTask):
    """The student's word task, whose training loss adds ``alpha`` times the KD loss towards a frozen teacher.

    It takes the word task's options (its config, ``conf/task/distillation.yaml``, extends
    ``word_classification.yaml``, so a recipe's task settings serve the student alone and distilled)
    plus ``teacher``, ``alpha``, ``temperature`` and ``cache_teacher_logits``. Everything else (metrics,
    mixup, optimiser, schedule, evaluation) is the word task's, and the checkpoints hold the student
    alone, stored as a run of the word task, so ``eval.py`` and a next generation read them as plain runs.
    With ``alpha=0`` the optimised loss is exactly the word task's. Under mixup the KD term mixes
    the teacher's targets for both clips of a pair, as the cross-entropy mixes their labels.
    ``cache_teacher_logits`` replays the teacher's logits from disk
    (:class:`~lipreading.callbacks.teacher_logits.TeacherLogitsCache`) instead of running it.
    """

    def __init__(
        self,
        net: nn.Module,
        teacher: FrozenTeacher,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        alpha: float = 1.0,
        temperature: float = 1.0,
        cache_teacher_logits: bool = False,
        **task_options: Any,
    ) -> None:
        super().__init__(net, optimizer, scheduler, label_smoothing=label_smoothing, mixup_alpha=mixup_alpha,
                         **task_options)
        if teacher.num_classes != net.num_classes:
            raise ConfigError(f"teacher {teacher.source} has {teacher.num_classes} classes but the student has "
                              f"{net.num_classes}; distil on the teacher's vocabulary (data.num_classes)")
        if alpha < 0 or temperature <= 0:
            raise ConfigError(f"task.alpha must be >= 0 and task.temperature > 0 (got {alpha}, {temperature})")
        # A plain attribute, not a submodule: see lipreading.tasks.teachers.
        self.teacher: FrozenTeacher | CachedTeacher = teacher
        self.alpha, self.temperature = alpha, temperature
        self.cache_teacher_logits = cache_teacher_logits

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        if stage == "fit" and datamodule is not None and hasattr(datamodule, "vocabulary"):
            check_vocabulary(self.teacher, datamodule.vocabulary)

    def configure_callbacks(self) -> list[pl.Callback]:
        if not self.cache_teacher_logits:
            return []
        return [TeacherLogitsCache()]

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        # Keep the clean clips: the datamodule replaces batch["video"] by the student's augmented view.
        if "video" in batch and self.trainer is not None and self.trainer.training:
            batch.setdefault("raw_video", batch["video"])
        return batch

    def training_losses(
        self, logits: torch.Tensor, batch: dict[str, Any], mixup: Mixup | None
    ) -> dict[str, torch.Tensor]:
        cross_entropy = super().training_losses(logits, batch, mixup)["loss"]
        teacher_logits = self.teacher(batch)
        distillation = mixed_loss(lambda index: kd_loss(logits, teacher_logits[index], self.temperature), mixup)
        return {"loss": cross_entropy + self.alpha * distillation, "loss_ce": cross_entropy, "loss_kd": distillation}
