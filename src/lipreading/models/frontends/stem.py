"""The 3D convolutional stem shared by the visual frontends of Ma et al. (ICASSP 2020/2021).

Reference implementation: ``Lipreading.frontend3D`` in ``lipreading/model.py`` of
github.com/mpc001/Lipreading_using_TCN.
"""

from __future__ import annotations

import torch
from torch import nn

from lipreading.models.layers import make_activation


class Conv3dStem(nn.Sequential):
    """Conv3d (5, 7, 7) / (1, 2, 2) -> BN -> activation: (B, C, T, H, W) -> (B, D, T, H/2, W/2).

    NOTE: the reference's stem ends with MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)), which pools each
    frame alone; the frontends apply the identical ``per_frame_max_pool`` after ``frames_to_batch``,
    on channels-last frames, where CPU max-pooling is 10-20x faster than on (B, C, T, H, W).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 64, activation: str = "prelu") -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(out_channels),
            make_activation(activation, out_channels),
        )


def per_frame_max_pool() -> nn.MaxPool2d:
    """The stem's 3x3 / 2 max-pool, applied to every frame: halves height and width."""
    return nn.MaxPool2d(3, stride=2, padding=1)


def frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """Fold time into the batch so a 2D network sees one frame at a time, stored channels-last.

    Channels-last costs nothing here (the fold copies anyway) and speeds up the 2D trunk on CPU.
    """
    b, c, t, h, w = x.shape
    x = x.permute(0, 2, 3, 4, 1).contiguous()  # (B, C, T, H, W) -> (B, T, H, W, C) in memory
    return x.view(b * t, h, w, c).permute(0, 3, 1, 2)  # -> (B*T, C, H, W), channels-last strides
