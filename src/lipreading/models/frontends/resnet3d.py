"""3D ResNet frontend (R3D-18 style) over a face or mouth crop: 3D residual blocks, one vector per frame.

Paper: D. Tran, H. Wang, L. Torresani, J. Ray, Y. LeCun, M. Paluri, "A closer look at
spatiotemporal convolutions for action recognition", CVPR 2018 (R3D); K. Hara, H. Kataoka,
Y. Satoh, "Can spatiotemporal 3D CNNs retrace the history of 2D CNNs and ImageNet?", CVPR 2018.
Reference implementation: torchvision's ``torchvision/models/video/resnet.py`` (``r3d_18``:
``BasicStem``, ``BasicBlock`` with ``Conv3DSimple``), whose layers, widths and parameter count this
module has (tested). The project's seed 003 reads the speaker's face with such a 3D ResNet.

NOTE: two deviations from torchvision's ``r3d_18``. Its stages 2-4 also halve time (8x in all); here
every stride is spatial only, so the frontend keeps one feature per video frame, as the word and
sentence backends need. And every block zeroes each clip's padded frames before its temporal
convolutions (torchvision's block has no place for that), so padding never changes a clip's result.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lipreading.models.masks import zero_padded_frames


def conv3x3x3(in_channels: int, out_channels: int, spatial_stride: int = 1) -> nn.Conv3d:
    """3x3x3 convolution, no bias, striding height and width only (torchvision's ``Conv3DSimple``)."""
    return nn.Conv3d(in_channels, out_channels, 3, (1, spatial_stride, spatial_stride), 1, bias=False)


class BasicBlock3d(nn.Module):
    """Two 3x3x3 conv + BN with a residual (1x1x1 conv + BN when the shape changes), ReLU after each."""

    def __init__(self, in_channels: int, out_channels: int, spatial_stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3x3(in_channels, out_channels, spatial_stride)
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = conv3x3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Identity()
        if spatial_stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, (1, spatial_stride, spatial_stride), bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(zero_padded_frames(x, lengths))))
        out = self.bn2(self.conv2(zero_padded_frames(out, lengths)))
        return self.relu(out + self.downsample(x))  # (B, C, T, H, W) -> (B, C', T, H / s, W / s)


class ResNet3dFrontend(nn.Module):
    """(B, C, T, H, W) video, lengths -> (B, T, widths[-1]) frame features.

    Stem: Conv3d (3, 7, 7), spatial stride 2, BN, ReLU (torchvision's ``BasicStem``); then one stage
    of ``layers[i]`` :class:`BasicBlock3d` per width, the first block of every stage after the first
    at spatial stride 2; then the average over height and width. ``layers=(2, 2, 2, 2)`` with widths
    64..512 is R3D-18 (33.15M parameters for grayscale input).
    """

    def __init__(
        self,
        in_channels: int = 1,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} need one entry per stage.")
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, widths[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
        )
        blocks, channels = [], widths[0]
        for stage, (num_blocks, width) in enumerate(zip(layers, widths)):
            for i in range(num_blocks):
                blocks.append(BasicBlock3d(channels, width, 2 if stage > 0 and i == 0 else 1))
                channels = width
        self.blocks = nn.ModuleList(blocks)
        self.output_dim = channels
        for m in self.modules():  # torchvision's video ResNet initialisation
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stem(video)  # (B, C, T, H, W) -> (B, 64, T, H/2, W/2); the network zeroed the input's padding
        for block in self.blocks:
            x = block(x, lengths)  # -> (B, C', T, H', W')
        return x.mean((3, 4)).transpose(1, 2)  # (B, D, T, h, w) -> (B, D, T) -> (B, T, D)
