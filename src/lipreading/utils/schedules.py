"""Learning-rate schedules, stepped once per optimizer step."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


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

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
