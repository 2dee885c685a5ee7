"""A small, fast visual frontend for CPU training on the synthetic default dataset.

Same family as the published frontends (a 3D-conv stem followed by a 2D CNN applied to
every frame, e.g. Ma et al., ICASSP 2020), shrunk for a 2-core CPU: it sees 44x44 mouth
crops and adds a frame-difference channel so that motion, which carries the word, is
explicit from the first layer. About 0.1M parameters (0.2M with its TCN).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallFrontend(nn.Module):
    """3D-conv stem + per-frame 2D CNN + global average pool: (B, C, T, H, W) -> (B, T, D).

    ``stages`` lists ``(channels, stride)`` of the 2D convolutions after the stem.
    """

    def __init__(
        self,
        in_channels: int = 1,
        stem_channels: int = 16,
        stages: tuple[tuple[int, int], ...] = ((32, 2), (64, 2), (96, 2)),
        frame_difference: bool = True,
    ) -> None:
        super().__init__()
        self.frame_difference = frame_difference
        stem_in = in_channels * 2 if frame_difference else in_channels
        self.stem = nn.Sequential(
            # Causal in time (frames t-2..t): no frame sees a later one, so padding appended
            # after a clip cannot change it. NOTE: the published stems are centred (kernel 5).
            nn.ConstantPad3d((0, 0, 0, 0, 2, 0), 0.0),
            nn.Conv3d(stem_in, stem_channels, (3, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2), bias=False),
            nn.BatchNorm3d(stem_channels),
            nn.ReLU(inplace=True),
        )
        layers, channels = [], stem_channels
        for out_channels, stride in stages:
            layers.append(_conv_bn_relu(channels, out_channels, stride))
            channels = out_channels
        self.trunk = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = channels

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths: unused; the causal stem is the only temporal layer, so padding after a clip cannot reach it.
        if self.frame_difference:
            # Backward difference; the first frame's difference is zero. NOTE: slicing rather than
            # torch.diff, which the ONNX exporter does not support.
            diff = video - torch.cat([video[:, :, :1], video[:, :, :-1]], dim=2)
            video = torch.cat([video, diff], dim=1)  # (B, C, T, H, W) -> (B, 2C, T, H, W)
        x = self.stem(video)  # (B, C', T, H/2, W/2)
        batch, channels, frames, height, width = x.shape
        x = x.transpose(1, 2).reshape(batch * frames, channels, height, width)  # -> (B*T, C', h, w)
        x = self.trunk(x.contiguous(memory_format=torch.channels_last))
        x = self.pool(x).flatten(1)  # (B*T, D)
        return x.reshape(batch, frames, -1)  # (B*T, D) -> (B, T, D)
