"""3D-conv stem (no max-pool) + per-frame EfficientNetV2 trunk: the frontend of Koumparoulis & Potamianos.

Paper: A. Koumparoulis, G. Potamianos, "Accurate and resource-efficient lipreading with EfficientNetV2
and Transformers", ICASSP 2022 (T variant 88.53%, L variant 89.52% top-1 on LRW). EfficientNetV2:
M. Tan, Q. Le, "EfficientNetV2: smaller models and faster training", ICML 2021.
Reference implementation of the blocks and their string encoding: timm's
``timm/models/_efficientnet_builder.py`` and ``_efficientnet_blocks.py`` (``_gen_efficientnetv2_s``
in ``efficientnet.py`` declares the EfficientNetV2-S stages this module's configs reuse).

The paper's two changes to the usual lipreading frontend: an EfficientNetV2 trunk in place of the
ResNet, and no max-pool after the 3D stem (it shows that the pool costs accuracy), so the trunk starts
at half the input resolution (44x44 for 88x88 crops).

NOTE: the paper's exact per-variant stage table was not available to us. The configs of
``EfficientNetV2Frontend`` take the EfficientNetV2-S stages (Tan & Le, Table 4) scaled by timm's
channel and depth multipliers: T is width 0.5 / depth 0.5 (2.0 GMACs per 29-frame clip, the paper's
"five times less computationally intensive" than ResNet-18 + MS-TCN); L is the full EfficientNetV2-S
trunk (width 1.0 / depth 1.0). ``EfficientNetV2GLUFrontend`` is another reading of the paper, that of
github.com/sadevans/EfLipReading, with its own T, B and S tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models._efficientnet_builder import (
    EfficientNetBuilder,
    decode_arch_def,
    efficientnet_init_weights,
    round_channels,
)
from torch import nn

from lipreading.models.frontends.stem import Conv3dStem, frames_to_batch
from lipreading.models.layers import init_like_reference

# EfficientNetV2-S (Tan & Le 2021, Table 4; timm's ``_gen_efficientnetv2_s``), one row per stage in
# timm's block strings: type (cn = conv-BN-act, er = fused-MBConv, ir = MBConv), r repeats, k kernel,
# s stride, e expansion, c channels, se squeeze-excitation ratio.
EFFICIENTNETV2_S_STAGES = (
    "cn_r2_k3_s1_e1_c24_skip",
    "er_r4_k3_s2_e4_c48",
    "er_r4_k3_s2_e4_c64",
    "ir_r6_k3_s2_e4_c128_se0.25",
    "ir_r9_k3_s1_e6_c160_se0.25",
    "ir_r15_k3_s2_e6_c256_se0.25",
)


def efficientnet_stages(
    in_channels: int, stages: Sequence[str], width_mult: float, depth_mult: float, drop_path_rate: float
) -> tuple[list[nn.Module], int]:
    """The stages of timm block strings (channels scaled by ``width_mult``, repeats by ``depth_mult``),
    built by timm's ``EfficientNetBuilder`` with SiLU, BatchNorm and squeeze-excitation; and their output width."""
    builder = EfficientNetBuilder(
        round_chs_fn=partial(round_channels, multiplier=width_mult),
        act_layer=nn.SiLU,
        norm_layer=nn.BatchNorm2d,
        se_layer=SqueezeExcite,
        drop_path_rate=drop_path_rate,
    )
    blocks = builder(in_channels, decode_arch_def([[row] for row in stages], depth_mult))
    return blocks, builder.in_chs


class EfficientNetV2Frontend(nn.Module):
    """(B, C, T, H, W) video -> (B, T, head_channels * width_mult) frame features.

    Conv3d stem (``stem_channels``, kernel (5, 7, 7), stride (1, 2, 2), BN, Swish) with no max-pool,
    then ``stages`` (timm block strings, built by timm's ``EfficientNetBuilder`` with channels scaled
    by ``width_mult`` and repeats by ``depth_mult``) applied to every frame, a 1x1 conv to
    ``head_channels`` + BN + SiLU, and a global average pool.
    """

    def __init__(
        self,
        in_channels: int = 1,
        stages: Sequence[str] = EFFICIENTNETV2_S_STAGES,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        stem_channels: int = 24,
        head_channels: int = 1280,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        scale = partial(round_channels, multiplier=width_mult)
        stem_width, head_width = scale(stem_channels), scale(head_channels)
        self.stem = Conv3dStem(in_channels, stem_width, activation="swish")
        blocks, trunk_width = efficientnet_stages(stem_width, stages, width_mult, depth_mult, drop_path_rate)
        self.trunk = nn.Sequential(
            *blocks,
            nn.Conv2d(trunk_width, head_width, 1, bias=False),
            nn.BatchNorm2d(head_width),
            nn.SiLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = head_width
        init_like_reference(self.stem)
        efficientnet_init_weights(self.trunk)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths: unused; the only temporal convolution is the stem's, whose input padding the network zeroes.
        b, _, t = video.shape[:3]
        x = self.stem(video)  # (B, C, T, H, W) -> (B, 24w, T, H/2, W/2); no max-pool
        x = frames_to_batch(x)  # -> (B*T, 24w, H/2, W/2), channels-last
        x = self.trunk(x)  # stages, 1x1 head -> (B*T, 1280w, H/32, W/32)
        return self.pool(x).reshape(b, t, -1)  # (B*T, 1280w, 1, 1) -> (B, T, 1280w)


class EfficientNetV2GLUFrontend(nn.Module):
    """(B, C, T, H, W) video -> (B, T, head_channels / 2): the frontend of github.com/sadevans/EfLipReading.

    That repository (the project's seed 001) implements Koumparoulis & Potamianos (ICASSP 2022) from
    the paper's text (``scripts/model/blocks/``: ``conv3d.py``, ``efficientnet.py``, ``frontend.py``,
    ``scripts/configs/model/default.yaml``): a Conv3d stem (kernel (3, 5, 5), spatial stride 2, with a
    bias, BN, ReLU, no max-pool) to the first stage's width; EfficientNetV2 stages per frame (its table
    rows ``[expansion, kernel, stride, in, out, layers, se, fused]``, here as timm block strings:
    ``er`` fused-MBConv, ``ir`` MBConv with squeeze-excitation of a quarter of the block's input width,
    which is what its MBConv builds); then a 1x1 conv to ``head_channels`` (no bias, no BN), the
    global average pool and a GLU that halves the width (768 -> 384 features per frame).
    With its T, B and S tables the parameter counts equal that code's (tested).

    NOTE: the seed sets every BatchNorm's momentum to 0.99, TensorFlow's convention for what PyTorch
    calls 0.01 (in PyTorch's, 0.99 makes the running statistics those of the last batch); PyTorch's
    default 0.1 is kept here. Weights start at PyTorch's default initialisation, as in the seed.
    """

    def __init__(
        self,
        in_channels: int = 1,
        stages: Sequence[str] = (),
        stem_channels: int = 24,
        head_channels: int = 768,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if not stages:
            raise ValueError("EfficientNetV2GLUFrontend needs its stages (timm block strings), e.g. the T, B or S table")
        if head_channels % 2:
            raise ValueError(f"head_channels={head_channels}: the GLU halves the width, so it must be even")
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, stem_channels, (3, 5, 5), (1, 2, 2), (1, 2, 2)),
            nn.BatchNorm3d(stem_channels),
            nn.ReLU(inplace=True),
        )
        blocks, trunk_width = efficientnet_stages(stem_channels, stages, 1.0, 1.0, drop_path_rate)
        self.trunk = nn.Sequential(*blocks, nn.Conv2d(trunk_width, head_channels, 1, bias=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.glu = nn.GLU(dim=-1)
        self.output_dim = head_channels // 2

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # lengths: unused; the only temporal convolution is the stem's, whose input padding the network zeroes.
        b, _, t = video.shape[:3]
        x = self.stem(video)  # (B, C, T, H, W) -> (B, C0, T, H/2, W/2); no max-pool
        x = frames_to_batch(x)  # -> (B*T, C0, H/2, W/2), channels-last
        x = self.pool(self.trunk(x)).reshape(b, t, -1)  # stages, 1x1 conv, pool -> (B*T, 768, 1, 1) -> (B, T, 768)
        return self.glu(x)  # (B, T, 768) -> (B, T, 384): first half * sigmoid(second half)
