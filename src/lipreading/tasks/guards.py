"""Protection against non-finite losses: skip the step, stop after several in a row."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised when the loss stayed NaN/inf for too many consecutive steps."""


class NonFiniteGuard:
    """Counts consecutive non-finite losses; a task skips such a step (no backward, no update).

    After ``max_consecutive`` in a row the run stops with :class:`NonFiniteLossError`, before
    NaN can reach the weights or a checkpoint.
    """

    def __init__(self, max_consecutive: int = 5) -> None:
        self.max_consecutive = max_consecutive
        self.consecutive = 0
        self.total = 0

    def is_finite(self, loss: torch.Tensor, step: int) -> bool:
        """True for a usable loss; False (after logging) for one whose step must be skipped."""
        if torch.isfinite(loss).all():
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.total += 1
        log.warning("non-finite loss (%s) at step %d: step skipped (%d in a row)", loss.item(), step, self.consecutive)
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteLossError(
                f"the loss was non-finite for {self.consecutive} consecutive steps (last at step {step}); "
                "stopping before NaN reaches the weights. Lower the learning rate (task.optimizer.lr), "
                "enable gradient clipping (trainer.gradient_clip_val) or check the data."
            )
        return False
