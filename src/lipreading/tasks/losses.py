"""Loss functions shared by the tasks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Knowledge-distillation loss of Hinton et al. (2015), "Distilling the knowledge in a neural network".

    ``KL(softmax(teacher / T) || softmax(student / T)) * T^2`` for each distribution over the last
    axis, averaged over the distributions: logits ``(B, C)`` give one per clip, ``(B, L, C)`` one per
    token. ``mask`` (the logits' shape without ``C``, true where valid) leaves padded tokens out of
    the sum and the count. The ``T^2`` keeps the gradient's scale independent of ``T``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in shape")
    if mask is not None:
        if mask.shape != student_logits.shape[:-1]:
            raise ValueError(f"mask {tuple(mask.shape)} must have the logits' shape without the class axis "
                             f"{tuple(student_logits.shape[:-1])}")
        # Select, not multiply: padded positions may hold inf/nan logits, which would reach the gradient.
        mask = mask.bool()
        student_logits, teacher_logits = student_logits[mask], teacher_logits[mask]  # (..., C) -> (N, C)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    # (..., C) -> (...): one KL divergence per distribution.
    divergence = F.kl_div(student_log_probs, teacher_log_probs, reduction="none", log_target=True).sum(-1)
    if divergence.numel() == 0:  # every token masked
        return student_log_probs.sum() * 0.0
    return divergence.mean() * temperature**2
