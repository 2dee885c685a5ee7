"""Test-time augmentation for word classifiers: average the predictions over transformed inputs."""

from __future__ import annotations

import torch
from torch import nn


class FlipAverage(nn.Module):
    """Averages a classifier's class probabilities over the clip and its horizontal mirror.

    The training recipes flip clips with probability 0.5 (Ma et al.), so the mirror is an input
    the network has learned. Returns log-probabilities: ``log((p(x) + p(flip(x))) / 2)``, which a
    further ``log_softmax`` leaves unchanged.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.num_classes = net.num_classes

    def forward(self, video: torch.Tensor, lengths: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        # video (B, C, T, H, W): the width axis is the last one.
        probs = self.net(video, lengths, *args).float().softmax(-1)
        mirrored = self.net(video.flip(-1), lengths, *args).float().softmax(-1)
        return ((probs + mirrored) / 2).log()


# Test-time augmentations by their name in eval.py's `tta` option.
TEST_TIME_AUGMENTATIONS = {"flip": FlipAverage}
