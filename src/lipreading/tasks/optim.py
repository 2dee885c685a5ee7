"""The optimiser and per-step schedule of every task, from the factories the configs give."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import nn

from lipreading.utils.errors import ConfigError

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def network_parts(net: nn.Module, names: str | Sequence[str] | None) -> list[nn.Module]:
    """The top-level parts of ``net`` called ``names`` (``"frontend"``, ``["frontend", "backend"]``); an unknown
    name raises :class:`ConfigError` listing the parts the network has."""
    if not names:
        return []
    names = [names] if isinstance(names, str) else list(names)
    parts = {name: child for name, child in net.named_children() if any(True for _ in child.parameters())}
    unknown = [name for name in names if name not in parts]
    if unknown:
        raise ConfigError(f"task.freeze={unknown[0]!r} names no part of the network; its parts: {', '.join(parts)}")
    return [parts[name] for name in names]


def frontend_parameter_groups(net: nn.Module, base_lr: float | None, frontend_lr_scale: float) -> list[dict[str, Any]]:
    """Parameter groups: the frontends' (``frontend``, ``video_frontend``, ``audio_frontend``) at
    ``frontend_lr_scale`` times the learning rate, the rest at the learning rate (trainable ones only)."""
    if base_lr is None:
        raise ConfigError("task.frontend_lr_scale needs the optimizer's learning rate in its config (task.optimizer.lr)")
    frontends = {id(p) for name, child in net.named_children() if name.endswith("frontend") for p in child.parameters()}
    if not frontends:
        raise ConfigError(f"task.frontend_lr_scale: the network ({type(net).__name__}) has no frontend")
    trainable = [p for p in net.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) in frontends], "lr": base_lr * frontend_lr_scale},
              {"params": [p for p in trainable if id(p) not in frontends]}]
    return [group for group in groups if group["params"]]


def configure_optimizers(
    module: pl.LightningModule, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None,
    params: list[Any] | None = None,
) -> Any:
    """``optimizer`` over ``params`` (parameter groups; default: the module's trainable parameters);
    ``scheduler`` stepped every optimizer step.

    The scheduler factory receives ``total_steps`` (the whole run, accumulation included) and
    ``steps_per_epoch``, so schedules can be written in epochs (warm-up) and still step per batch.
    """
    if params is None:
        params = [p for p in module.parameters() if p.requires_grad]
    built = optimizer(params=params)
    if scheduler is None:
        return built
    trainer = module.trainer
    total_steps = int(trainer.estimated_stepping_batches)
    steps_per_epoch = total_steps / max(1, trainer.max_epochs or 1)
    schedule = scheduler(built, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
