"""3D-conv stem + per-frame ShuffleNetV2 trunk: the efficient visual frontend of Ma et al.

Paper: P. Ma, B. Martinez, S. Petridis, M. Pantic, "Towards practical lipreading with distilled
and efficient models", ICASSP 2021. ShuffleNetV2: N. Ma et al., ECCV 2018.
Reference implementation: ``lipreading/models/shufflenetv2.py`` and ``lipreading/model.py`` of
github.com/mpc001/Lipreading_using_TCN. The blocks are torchvision's ``InvertedResidual``,
which has the same layers, widths and channel shuffle as the reference's.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.shufflenetv2 import InvertedResidual

from lipreading.models.frontends.stem import Conv3dStem, frames_to_batch, per_frame_max_pool
from lipreading.models.layers import init_like_reference

STEM_CHANNELS = 24
STAGE_REPEATS = (4, 8, 4)
# width multiplier -> output channels of the three stages and the final 1x1 conv (ShuffleNetV2, Table 5)
STAGE_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}


class ShuffleNetV2Frontend(nn.Module):
    """(B, C, T, H, W) video -> (B, T, 1024) frame features (2048 at width 2.0).

    The 3D stem (24 channels) replaces ShuffleNetV2's own conv; after its max-pool come three stages of
    inverted residual blocks (the first of each with stride 2), a 1x1 conv + BN + ReLU and a global
    average pool. The trunk always uses ReLU; ``activation`` only sets the stem's, as in the reference.
    """

    def __init__(self, in_channels: int = 1, width_mult: float = 1.0, activation: str = "prelu") -> None:
        super().__init__()
        if width_mult not in STAGE_WIDTHS:
            valid = sorted(STAGE_WIDTHS)
            raise ValueError(f"Unknown ShuffleNetV2 width_mult {width_mult}; choose one of {valid}.")
        *stage_widths, final_width = STAGE_WIDTHS[width_mult]
        self.stem = Conv3dStem(in_channels, STEM_CHANNELS, activation)
        blocks, channels = [per_frame_max_pool()], STEM_CHANNELS
        for repeats, width in zip(STAGE_REPEATS, stage_widths):
            for i in range(repeats):
                blocks.append(InvertedResidual(channels, width, stride=2 if i == 0 else 1))
                channels = width
        self.trunk = nn.Sequential(
            *blocks,
            nn.Conv2d(channels, final_width, 1, bias=False),
            nn.BatchNorm2d(final_width),
            nn.ReLU(inplace=True),
        )
        # NOTE: the reference pools with a fixed AvgPool2d(3), which is global only for 88-96 px input.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = final_width
        init_like_reference(self)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths: unused; the only temporal convolution is the stem's, whose input padding the network zeroes.
        b, _, t = video.shape[:3]
        x = self.stem(video)  # (B, C, T, H, W) -> (B, 24, T, H/2, W/2)
        x = frames_to_batch(x)  # -> (B*T, 24, H/2, W/2)
        x = self.trunk(x)  # max-pool, stages, 1x1 conv -> (B*T, 1024, H/32, W/32)
        return self.pool(x).reshape(b, t, -1)  # (B*T, 1024, 1, 1) -> (B, T, 1024)
