"""The length mask, defined once: which steps of a padded batch belong to each clip."""

from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True on a clip's own steps and False on its padding."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def padding_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool mask, True on padding: the ``key_padding_mask`` of attention."""
    return ~length_mask(lengths, steps)


def zero_padded_frames(video: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``video`` (B, C, T, H, W) with the frames beyond each clip's length set to zero, so that a
    temporal convolution sees at a clip's end exactly the zeros it would see if the clip were alone.
    Without lengths (every clip full length) ``video`` itself."""
    if lengths is None:
        return video
    valid = length_mask(lengths, video.shape[2])  # (B, T)
    return video * valid[:, None, :, None, None].to(video.dtype)
