"""Face-appearance embedding of the target speaker, averaged over k frames of its video.

VisualVoice (Gao and Grauman, CVPR 2021) adds an identity embedding of one face frame (a ResNet-18)
to the lip-motion features; averaging the embedding over k random frames instead of one was tried
by our seed system. Here a small 2-D CNN embeds each chosen frame and the embeddings are averaged.
NOTE: it sees the same mouth-region frames as the lip-motion stream (the clips hold no full face).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AppearanceEncoder(nn.Module):
    """(B, C, T, H, W) video, lengths -> (B, embedding_dim): the mean embedding of ``num_frames`` frames.

    Training draws the frames at random among each clip's valid frames; evaluation takes them
    evenly spaced, so that results are deterministic.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 64),
        embedding_dim: int = 32,
        num_frames: int = 4,
    ) -> None:
        super().__init__()
        layers, previous = [], in_channels
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            previous = width
        self.cnn = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, embedding_dim))
        self.num_frames = num_frames
        self.output_dim = embedding_dim

    def frame_indices(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) lengths -> (B, k) indices of the frames to embed."""
        if self.training:
            fractions = torch.rand(len(lengths), self.num_frames, device=lengths.device)
        else:
            fractions = (torch.arange(self.num_frames, device=lengths.device) + 0.5) / self.num_frames
            fractions = fractions[None].expand(len(lengths), -1)
        return (fractions * lengths[:, None]).long().minimum(lengths[:, None] - 1).clamp(min=0)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch = video.shape[0]
        index = self.frame_indices(lengths)  # (B, k)
        frames = video.transpose(1, 2)[torch.arange(batch, device=video.device)[:, None], index]  # (B, k, C, H, W)
        embeddings = self.cnn(frames.flatten(0, 1))  # (B*k, C, H, W) -> (B*k, D)
        return embeddings.reshape(batch, self.num_frames, -1).mean(1)  # (B, k, D) -> (B, D)
