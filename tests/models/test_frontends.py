"""Frontends: (B, C, T, H, W) -> (B, T, D), per-frame trunks after a 3D stem of temporal kernel 5."""

from __future__ import annotations

import pytest
import torch

from lipreading.models.frontends.cnn3d import Conv3dFrontend
from lipreading.models.frontends.efficientnet import EfficientNetV2Frontend, EfficientNetV2GLUFrontend
from lipreading.models.frontends.resnet3d import ResNet3dFrontend
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


def _randomise_norm_statistics(module: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so that padded frames are not zero after a BN."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.bias.uniform_(-1, 1)


def tiny_3d_frontends() -> dict[str, torch.nn.Module]:
    return {
        "cnn3d": Conv3dFrontend(channels=(4, 6, 6, 8)),
        "resnet3d": ResNet3dFrontend(layers=(1, 1, 1, 1), widths=(4, 6, 6, 8)),
    }


@pytest.mark.parametrize("name", ["cnn3d", "resnet3d"])
def test_3d_frontends_keep_padding_out_of_every_temporal_convolution(name: str) -> None:
    """Every layer mixes neighbouring frames: with the lengths, a clip's features are those it has alone
    (the network zeroes the input's padding first); without them, the padding leaks into its last frames."""
    torch.manual_seed(0)
    frontend = tiny_3d_frontends()[name].double().eval()
    _randomise_norm_statistics(frontend)
    clip = torch.randn(1, 1, 5, 32, 32, dtype=torch.float64)
    batch = torch.zeros(2, 1, 9, 32, 32, dtype=torch.float64)
    batch[0, :, :5] = clip[0]
    batch[1] = torch.randn(1, 9, 32, 32)
    with torch.inference_mode():
        alone = frontend(clip, torch.tensor([5]))
        padded = frontend(batch, torch.tensor([5, 9]))
        unmasked = frontend(batch)
    assert padded.shape == (2, 9, frontend.output_dim)
    torch.testing.assert_close(padded[0, :5], alone[0], atol=1e-9, rtol=0)
    assert (unmasked[0, :5] - alone[0]).abs().max() > 1e-3


def test_3d_frontends_keep_every_frame_and_pool_space() -> None:
    for frontend in tiny_3d_frontends().values():
        out = frontend(torch.randn(2, 1, 7, 40, 40), torch.tensor([7, 5]))
        assert out.shape == (2, 7, 8)
        out.square().mean().backward()
        assert next(frontend.parameters()).grad.abs().sum() > 0


def test_resnet3d_has_the_layers_of_torchvisions_r3d_18() -> None:
    """Same tensors, in the same order, as torchvision's r3d_18 without its classifier (3-channel input)."""
    from torchvision.models.video import r3d_18

    reference = [p.shape for name, p in r3d_18().named_parameters() if not name.startswith("fc.")]
    ours = [p.shape for p in ResNet3dFrontend(in_channels=3).parameters()]
    assert ours == reference
    # Spatial strides only: a 16-frame clip keeps its 16 frames (r3d_18 would give 2).
    assert ResNet3dFrontend(layers=(1, 1, 1, 1), widths=(4, 4, 4, 4)).eval()(torch.randn(1, 1, 16, 64, 64)).shape[1] == 16


def test_cnn3d_is_3d_convolutions_throughout_from_32_to_256_channels() -> None:
    frontend = Conv3dFrontend()
    convs = [m for m in frontend.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert [c.kernel_size for c in convs] == [(5, 7, 7), (3, 3, 3), (3, 3, 3), (3, 3, 3)]
    assert not any(isinstance(m, torch.nn.Conv2d) for m in frontend.modules())
    seen = []
    frontend.blocks[-1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    frontend.eval()(torch.randn(1, 1, 3, 88, 88))
    assert seen[0] == (1, 256, 3, 11, 11)  # pooled over these 11x11 positions


def test_glu_frontend_halves_its_head_with_a_gated_linear_unit() -> None:
    """The EfLipReading frontend: 1x1 conv to 2D channels, average pool, GLU: first half * sigmoid(second)."""
    stages = ("er_r1_k3_s1_e1_c8", "er_r1_k3_s2_e4_c16", "ir_r1_k3_s2_e4_c24_se0.25")
    frontend = EfficientNetV2GLUFrontend(stages=stages, stem_channels=8, head_channels=20).eval()
    assert frontend.output_dim == 10
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.MaxPool3d)) for m in frontend.modules())
    assert frontend.stem[0].kernel_size == (3, 5, 5) and frontend.stem[0].bias is not None
    pooled = []
    frontend.pool.register_forward_hook(lambda m, i, o: pooled.append(o.flatten(1)))
    with torch.inference_mode():
        out = frontend(torch.randn(2, 1, 3, 44, 44))
    head = pooled[0].reshape(2, 3, 20)
    torch.testing.assert_close(out, head[..., :10] * torch.sigmoid(head[..., 10:]))
    with pytest.raises(ValueError, match="needs its stages"):
        EfficientNetV2GLUFrontend()
