"""Frontends: (B, C, T, H, W) -> (B, T, D), per-frame trunks after a 3D stem of temporal kernel 5."""

from __future__ import annotations

import pytest
import torch

from lipreading.models.frontends.efficientnet import EfficientNetV2Frontend
from lipreading.models.frontends.resnet import ResNetFrontend
from lipreading.models.frontends.shufflenet import STAGE_WIDTHS, ShuffleNetV2Frontend


def tiny_resnet(**kwargs) -> ResNetFrontend:
    return ResNetFrontend(layers=(1, 1, 1, 1), widths=(8, 16, 24, 32), **kwargs)


def test_resnet18_maps_clips_to_512_per_frame() -> None:
    frontend = ResNetFrontend(layers=(2, 2, 2, 2), activation="swish").eval()
    with torch.inference_mode():
        out = frontend(torch.randn(2, 1, 5, 88, 88))
    assert frontend.output_dim == 512
    assert out.shape == (2, 5, 512)


@pytest.mark.parametrize("width_mult", sorted(STAGE_WIDTHS))
def test_shufflenet_maps_clips_to_final_width(width_mult: float) -> None:
    frontend = ShuffleNetV2Frontend(width_mult=width_mult).eval()
    with torch.inference_mode():
        out = frontend(torch.randn(1, 1, 3, 88, 88))
    assert frontend.output_dim == (2048 if width_mult == 2.0 else 1024)
    assert out.shape == (1, 3, frontend.output_dim)


@pytest.mark.parametrize("activation", ["relu", "prelu", "swish"])
def test_frames_mix_only_within_the_stems_temporal_kernel(activation: str) -> None:
    """A change to frame 0 of clip 0 reaches frames 0-2 only (kernel 5, padding 2), never clip 1.

    Catches a (B, T) vs (T, B) mix-up when time is folded into the batch and unfolded again.
    """
    frontend = tiny_resnet(activation=activation).eval()
    video = torch.randn(2, 1, 7, 32, 32)
    changed = video.clone()
    changed[0, :, 0] += 1.0
    with torch.inference_mode():
        diff = (frontend(video) - frontend(changed)).abs().amax(-1)  # (B, T)
    assert (diff[0, :3] > 0).all()
    assert diff[0, 3:].max() == 0 and diff[1].max() == 0


def test_shufflenet_frames_mix_only_within_the_stems_temporal_kernel() -> None:
    frontend = ShuffleNetV2Frontend(width_mult=0.5).eval()
    video = torch.randn(2, 1, 6, 64, 64)
    changed = video.clone()
    changed[1, :, 5] -= 1.0
    with torch.inference_mode():
        diff = (frontend(video) - frontend(changed)).abs().amax(-1)  # (B, T)
    assert (diff[1, 3:] > 0).all()
    assert diff[1, :3].max() == 0 and diff[0].max() == 0


def test_frontends_train_and_take_colour_input() -> None:
    frontend = tiny_resnet(in_channels=3)
    out = frontend(torch.randn(2, 3, 4, 32, 32))
    out.square().mean().backward()
    assert frontend.stem[0].weight.grad is not None
    assert out.shape == (2, 4, 32)


def test_unknown_width_and_activation_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match=r"0\.75.*0\.5, 1\.0, 1\.5, 2\.0"):
        ShuffleNetV2Frontend(width_mult=0.75)
    with pytest.raises(ValueError, match="'gelu'.*relu, prelu, swish"):
        tiny_resnet(activation="gelu")
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNetFrontend(layers=(2, 2, 2), widths=(64, 128, 256, 512))


def test_per_frame_max_pool_equals_the_references_3d_max_pool() -> None:
    """The stem's MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)) is applied per frame after the fold."""
    frontend = tiny_resnet().eval()
    video = torch.randn(2, 1, 4, 32, 32)
    with torch.inference_mode():
        x = torch.nn.functional.max_pool3d(frontend.stem(video), (1, 3, 3), (1, 2, 2), (0, 1, 1))
        x = x.transpose(1, 2).reshape(8, 8, 8, 8)  # (B, C, T, H, W) -> (B*T, C, H, W), plain layout
        expected = frontend.pool(frontend.trunk[1:](x)).reshape(2, 4, -1)  # skip the trunk's pool
        torch.testing.assert_close(frontend(video), expected)


def tiny_efficientnet(**kwargs) -> EfficientNetV2Frontend:
    stages = ("cn_r1_k3_s1_e1_c8_skip", "er_r1_k3_s2_e2_c16", "ir_r2_k3_s2_e2_c24_se0.25")
    return EfficientNetV2Frontend(stages=stages, stem_channels=8, head_channels=32, **kwargs)


def test_efficientnet_has_no_max_pool_so_the_trunk_starts_at_half_resolution() -> None:
    """Koumparoulis & Potamianos drop the stem's max-pool: the first stage sees H/2 x W/2."""
    frontend = tiny_efficientnet().eval()
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.MaxPool3d)) for m in frontend.modules())
    seen = []
    frontend.trunk[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    with torch.inference_mode():
        out = frontend(torch.randn(2, 1, 3, 44, 44))
    assert seen[0] == (6, 8, 22, 22)
    assert out.shape == (2, 3, 32)


def test_efficientnet_stages_are_timm_blocks_scaled_by_width_and_depth() -> None:
    from timm.models._efficientnet_blocks import (
        ConvBnAct,
        EdgeResidual,
        InvertedResidual,
    )

    frontend = tiny_efficientnet()
    assert [type(stage[0]) for stage in frontend.trunk[:3]] == [ConvBnAct, EdgeResidual, InvertedResidual]
    assert frontend.trunk[2][0].se.conv_reduce.out_channels == 4  # se0.25 of the block's 16 input channels
    wide_deep = tiny_efficientnet(width_mult=2.0, depth_mult=2.0)
    assert [len(stage) for stage in wide_deep.trunk[:3]] == [2, 2, 4]
    assert wide_deep.output_dim == 64 and wide_deep.stem[0].out_channels == 16


@pytest.mark.parametrize(("width", "depth", "params"), [(0.5, 0.5, 2_703_052), (1.0, 1.0, 20_182_720)])
def test_efficientnet_t_and_l_variants(width: float, depth: float, params: int) -> None:
    frontend = EfficientNetV2Frontend(width_mult=width, depth_mult=depth)
    assert sum(p.numel() for p in frontend.parameters()) == params
    assert frontend.output_dim == 1280 * width


def test_efficientnet_frames_mix_only_within_the_stems_temporal_kernel() -> None:
    frontend = tiny_efficientnet().eval()
    video = torch.randn(2, 1, 6, 32, 32)
    changed = video.clone()
    changed[0, :, 0] += 1.0
    with torch.inference_mode():
        diff = (frontend(video) - frontend(changed)).abs().amax(-1)  # (B, T)
    assert (diff[0, :3] > 0).all()
    assert diff[0, 3:].max() == 0 and diff[1].max() == 0
