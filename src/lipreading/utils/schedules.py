"""Learning-rate schedules, stepped once per optimizer step."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


@dataclass
class WarmupCosineFactor:
    """The LR factor at a step: linear warm-up over ``warmup_steps``, then cosine to ``min_lr_ratio``.

    A callable object rather than a closure, so that ``LambdaLR`` stores its fields in the
    checkpoint and a resumed run gets the same ``total_steps`` back; a time budget
    (:class:`lipreading.callbacks.time_budget.TimeBudget`) sets ``total_steps`` once, during the warm-up.
    """

    warmup_steps: int
    total_steps: int
    min_lr_ratio: float = 0.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    steps_per_epoch: float,
    warmup_epochs: float = 0.0,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warm-up over ``warmup_epochs`` then cosine decay to ``min_lr_ratio * lr``."""
    warmup_steps = int(round(warmup_epochs * steps_per_epoch))
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warm-up ({warmup_epochs} epochs = {warmup_steps} steps) must be shorter than training ({total_steps} steps)"
        )
    return LambdaLR(optimizer, WarmupCosineFactor(warmup_steps, total_steps, min_lr_ratio))
