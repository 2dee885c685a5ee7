"""3D-conv stem + per-frame 2D ResNet trunk: the visual frontend of Ma et al.

Papers: B. Martinez, P. Ma, S. Petridis, M. Pantic, "Lipreading using Temporal Convolutional
Networks", ICASSP 2020; P. Ma, B. Martinez, S. Petridis, M. Pantic, "Towards practical lipreading
with distilled and efficient models", ICASSP 2021.
Reference implementation: ``lipreading/models/resnet.py`` and ``lipreading/model.py`` of
github.com/mpc001/Lipreading_using_TCN.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lipreading.models.frontends.stem import Conv3dStem, frames_to_batch, per_frame_max_pool
from lipreading.models.layers import init_like_reference, make_activation


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual, as torchvision's ``BasicBlock`` but with a choice of activation.

    NOTE: torchvision's block hard-wires one shared ReLU; the reference uses two activations
    per block (per-channel PReLU has parameters, and its ResNet-18 + MS-TCN uses Swish).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1, activation: str = "prelu"
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = make_activation(activation, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = make_activation(activation, out_channels)
        self.downsample = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.downsample(x))


class ResNetFrontend(nn.Module):
    """(B, C, T, H, W) video -> (B, T, widths[-1]) frame features.

    The 3D stem (``widths[0]`` channels) and a 3x3 max-pool are followed by the residual stages of
    a 2D ResNet (no 2D stem: the 3D stem replaces it), applied to every frame, and a global average pool.
    ``layers=(2, 2, 2, 2)`` is ResNet-18 (11.18M parameters); every stage after the first halves
    the resolution.
    """

    def __init__(
        self,
        in_channels: int = 1,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        activation: str = "prelu",
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} need one entry per stage.")
        self.stem = Conv3dStem(in_channels, widths[0], activation)
        blocks, channels = [per_frame_max_pool()], widths[0]
        for stage, (num_blocks, width) in enumerate(zip(layers, widths)):
            for i in range(num_blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, activation))
                channels = width
        self.trunk = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = channels
        init_like_reference(self)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths: unused; the only temporal convolution is the stem's, whose input padding the network zeroes.
        b, _, t = video.shape[:3]
        x = self.stem(video)  # (B, C, T, H, W) -> (B, 64, T, H/2, W/2)
        x = frames_to_batch(x)  # -> (B*T, 64, H/2, W/2)
        x = self.trunk(x)  # max-pool, stages -> (B*T, 512, H/32, W/32)
        return self.pool(x).reshape(b, t, -1)  # (B*T, 512, 1, 1) -> (B, T, 512)
