"""A plain 3D CNN frontend: 3D convolutions throughout, then global spatial pooling per frame.

The visual encoder of a Chinese-LiPS sentence lipreader (the project's seed 002: 3D CNN ->
BiLSTM -> attention decoder, after the encoder of "Lip Reading Sentences in the Wild", Chung et
al., CVPR 2017, and LipNet's spatio-temporal convolutions, Assael et al., 2016): a Conv3d stem
(kernel 5x7x7, spatial stride 2, then a 3x3 max-pool), and 3x3x3 convolutions that widen the
features 32 -> 64 -> 128 -> 256 with one more 2x2 max-pool after the second, every convolution
followed by BatchNorm and ReLU; the average over height and width gives one vector per frame.
Unlike the ResNet / ShuffleNet / EfficientNet frontends (one 3D stem, then a 2D trunk per frame),
every layer here mixes neighbouring frames.

NOTE: the seed projects the pooled 256-d features with a linear layer before its BiLSTM; the
backend's own input weights do the same, so the frontend ends at the pooling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lipreading.models.layers import init_like_reference
from lipreading.models.masks import zero_padded_frames


class Conv3dBlock(nn.Module):
    """Conv3d (no bias) -> BatchNorm3d -> ReLU over the frames of each clip, its padding zeroed first."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        padding = tuple(k // 2 for k in kernel_size)
        self.conv = nn.Conv3d(in_channels, out_channels, tuple(kernel_size), tuple(stride), padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        # Frames beyond a clip are zeroed before every temporal kernel, so padding never reaches it.
        return self.act(self.bn(self.conv(zero_padded_frames(x, lengths))))  # (B, C, T, H, W) -> (B, C', T, H', W')


class Conv3dFrontend(nn.Module):
    """(B, C, T, H, W) video, lengths -> (B, T, channels[-1]) frame features.

    ``channels`` lists the width of each convolution: the first is the 5x7x7 stem (spatial
    stride 2, then a 3x3 / 2 max-pool), the others 3x3x3 convolutions at stride 1, with a 2x2
    max-pool after the second. Output resolution before the global pool: H / 8 (11x11 for 88x88).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"channels={tuple(channels)}: a Conv3dFrontend needs a stem and at least one more layer")
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            Conv3dBlock(widths[i], widths[i + 1], (5, 7, 7) if i == 0 else (3, 3, 3), (1, 2, 2) if i == 0 else (1, 1, 1))
            for i in range(len(channels))
        )
        # Spatial max-pools (kernel 1 in time: each frame alone) after the stem and after the second layer.
        self.stem_pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.middle_pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.output_dim = channels[-1]
        init_like_reference(self)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.stem_pool(self.blocks[0](video, lengths))  # (B, C, T, H, W) -> (B, 32, T, H/4, W/4)
        x = self.middle_pool(self.blocks[1](x, lengths))  # -> (B, 64, T, H/8, W/8)
        for block in self.blocks[2:]:
            x = block(x, lengths)  # -> (B, C', T, H/8, W/8)
        return x.mean((3, 4)).transpose(1, 2)  # (B, D, T, h, w) -> (B, D, T) -> (B, T, D)
