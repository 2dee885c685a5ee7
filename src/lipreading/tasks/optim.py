"""The optimiser and per-step schedule of every task, from the factories the configs give."""

from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def configure_optimizers(
    module: pl.LightningModule, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None
) -> Any:
    """``optimizer`` over the module's trainable parameters; ``scheduler`` stepped every optimizer step.

    The scheduler factory receives ``total_steps`` (the whole run, accumulation included) and
    ``steps_per_epoch``, so schedules can be written in epochs (warm-up) and still step per batch.
    """
    built = optimizer(params=[p for p in module.parameters() if p.requires_grad])
    if scheduler is None:
        return built
    trainer = module.trainer
    total_steps = int(trainer.estimated_stepping_batches)
    steps_per_epoch = total_steps / max(1, trainer.max_epochs or 1)
    schedule = scheduler(built, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
