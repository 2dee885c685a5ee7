"""Frontends: (B, C, T, H, W) -> (B, T, D), per-frame trunks after a 3D stem of temporal kernel 5."""

from __future__ import annotations

import pytest
import torch

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
