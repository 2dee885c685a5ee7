"""The length mask, defined once: which steps of a padded batch belong to each clip."""

from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True on a clip's own steps and False on its padding."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def padding_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True on padding: the ``key_padding_mask`` of attention."""
    return ~length_mask(lengths, steps)
