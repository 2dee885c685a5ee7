"""Batched video transforms applied on the training device after transfer.

Clips arrive as ``uint8 (B, T, H, W)``; transforms return ``float (B, 1, T, h, w)``
normalised with the dataset's pixel statistics. Running them batched on the device keeps
data loading cheap: the loader only moves bytes.
"""

from __future__ import annotations

import torch

from lipreading.models.masks import length_mask


def _normalise(video: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return ((video.float() / 255.0) - mean) / std


def center_crop(video: torch.Tensor, size: int) -> torch.Tensor:
    """Crop the central ``size x size`` window of ``(B, T, H, W)``."""
    height, width = video.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop size {size} is larger than the frames ({height}x{width})")
    top, left = (height - size) // 2, (width - size) // 2
    return video[..., top : top + size, left : left + size]


class EvalVideoTransform:
    """Centre crop and normalise (validation, test, inference)."""

    def __init__(self, crop_size: int, mean: float, std: float) -> None:
        self.crop_size, self.mean, self.std = crop_size, mean, std

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        video = center_crop(video, self.crop_size)
        return _normalise(video, self.mean, self.std).unsqueeze(1)  # (B, T, h, w) -> (B, 1, T, h, w)


class TrainVideoTransform:
    """Random crop, horizontal flip and time masking, then normalise.

    Follows the reference recipe of Ma et al. (random crop 96 -> 88, flip p=0.5) with time
    masking as in Ma et al., ICASSP 2022 ("Training strategies for improved lip-reading"):
    ``time_masks`` windows of up to ``max_mask_frames`` frames are replaced by the clip's
    mean frame.
    """

    def __init__(
        self,
        crop_size: int,
        mean: float,
        std: float,
        flip_prob: float = 0.5,
        time_masks: int = 1,
        max_mask_frames: int = 0,
    ) -> None:
        self.crop_size, self.mean, self.std = crop_size, mean, std
        self.flip_prob = flip_prob
        self.time_masks, self.max_mask_frames = time_masks, max_mask_frames

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, frames, height, width = video.shape
        size = self.crop_size
        if size > min(height, width):
            raise ValueError(f"crop size {size} is larger than the frames ({height}x{width})")
        device = video.device
        tops = torch.randint(0, height - size + 1, (batch,), device=device)
        lefts = torch.randint(0, width - size + 1, (batch,), device=device)
        rows = tops[:, None] + torch.arange(size, device=device)  # (B, size)
        cols = lefts[:, None] + torch.arange(size, device=device)  # (B, size)
        flip = torch.rand(batch, device=device) < self.flip_prob
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        # Gather each clip's own window: (B, T, H, W) -> (B, T, size, size)
        video = video[
            torch.arange(batch, device=device)[:, None, None, None],
            torch.arange(frames, device=device)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
        video = _normalise(video, self.mean, self.std)
        if self.max_mask_frames > 0:
            video = self._time_mask(video, lengths)
        return video.unsqueeze(1)  # (B, T, h, w) -> (B, 1, T, h, w)

    def _time_mask(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, frames = video.shape[:2]
        steps = torch.arange(frames, device=video.device)[None, :]
        valid = length_mask(lengths, frames).float()
        mean_frame = (video * valid[..., None, None]).sum(1) / lengths.clamp(min=1)[:, None, None]
        masked = torch.zeros(batch, frames, dtype=torch.bool, device=video.device)
        for _ in range(self.time_masks):
            width = torch.randint(0, self.max_mask_frames + 1, (batch, 1), device=video.device)
            start = (torch.rand(batch, 1, device=video.device) * (lengths[:, None] - width).clamp(min=0)).long()
            masked |= (steps >= start) & (steps < start + width)
        return torch.where(masked[..., None, None], mean_frame[:, None], video)
