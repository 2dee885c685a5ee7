"""Temporal backends: shapes, padding invariance, causality, the reference's block structure."""

from __future__ import annotations

import pytest
import torch

from lipreading.models.backends.tcn import MultiscaleTemporalBlock, TemporalConvNet

VARIANTS = {
    "tcn": dict(kernel_sizes=(3,), activation="prelu"),
    "mstcn": dict(kernel_sizes=(3, 5, 7), activation="swish"),
    "dsmstcn": dict(kernel_sizes=(3, 5, 7), activation="relu", depthwise_separable=True),
}


def tiny(name: str, causal: bool = False, input_dim: int = 12) -> TemporalConvNet:
    return TemporalConvNet(input_dim=input_dim, branch_channels=6, causal=causal, **VARIANTS[name])


@pytest.mark.parametrize("name", VARIANTS)
def test_output_width_is_branches_times_branch_channels(name: str) -> None:
    backend = tiny(name)
    out = backend(torch.randn(3, 9, 12), torch.tensor([9, 5, 1]))
    assert out.shape == (3, 9, backend.output_dim)
    assert backend.output_dim == 6 * len(VARIANTS[name]["kernel_sizes"])
    out.sum().backward()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", VARIANTS)
def test_padding_never_changes_a_clips_valid_outputs(name: str, causal: bool) -> None:
    torch.manual_seed(0)
    backend = tiny(name, causal).double().eval()  # float64: batch size changes the summation order
    with torch.no_grad():  # non-trivial BN statistics, so padded frames are not zero after BN
        for m in backend.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.bias.uniform_(-1, 1)
    clip = torch.randn(1, 11, 12, dtype=torch.float64)
    batch = 100 * torch.randn(2, 20, 12, dtype=torch.float64)  # garbage in the padding
    batch[0, :11] = clip[0]
    with torch.inference_mode():
        alone = backend(clip, torch.tensor([11]))
        padded = backend(batch, torch.tensor([11, 20]))
    torch.testing.assert_close(padded[0, :11], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
def test_causal_outputs_see_only_the_past_and_non_causal_see_both_sides(name: str) -> None:
    for causal in (True, False):
        backend = tiny(name, causal).eval()
        x = torch.randn(1, 40, 12, requires_grad=True)
        backend(x, torch.tensor([40]))[0, 20].sum().backward()
        seen = x.grad[0].abs().sum(-1) > 0  # (T,)
        assert seen[20] and seen[:20].any()
        assert seen[21:].any() != causal


def test_receptive_field_of_four_dilated_kernel3_blocks_is_61_frames() -> None:
    """Two convs per block, dilations 1/2/4/8: 1 + 2 * 2 * (1 + 2 + 4 + 8) = 61 frames, centred."""
    backend = tiny("tcn").eval()
    x = torch.randn(1, 80, 12, requires_grad=True)
    backend(x, torch.tensor([80]))[0, 40].sum().backward()
    seen = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert (seen.min().item(), seen.max().item()) == (10, 70)


def test_every_multiscale_block_has_a_residual_projection_like_the_reference() -> None:
    """The reference projects the residual when in // branches != out: in every multi-branch block."""
    mstcn, tcn = tiny("mstcn", input_dim=18), tiny("tcn", input_dim=6)
    assert all(isinstance(b.residual, torch.nn.Conv1d) for b in mstcn.blocks)
    assert not any(isinstance(b.residual, torch.nn.Conv1d) for b in tcn.blocks)


def test_block_width_must_divide_among_branches() -> None:
    with pytest.raises(ValueError, match="divide evenly"):
        MultiscaleTemporalBlock(8, 9, (3, 5), 1, 0.0, "relu", depthwise_separable=False, causal=False)
