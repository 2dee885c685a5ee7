"""Conformer backend: shapes, padding invariance (attention, convolution module, batch-norm in eval),
the relative shift, and a state dict that maps one to one onto Auto-AVSR's encoder."""

from __future__ import annotations

import re

import pytest
import torch

from lipreading.models.backends.conformer import (
    AUTO_AVSR_NAMES,
    ConformerBackend,
    relative_positions,
    relative_shift,
)


def tiny(input_dim: int = 12, **kwargs) -> ConformerBackend:
    options = dict(d_model=16, num_heads=4, ffn_dim=32, num_layers=2, conv_kernel_size=7, dropout=0.1)
    return ConformerBackend(input_dim, **{**options, **kwargs})


def with_batch_norm_statistics(backend: ConformerBackend) -> ConformerBackend:
    """Non-trivial running statistics, so that a padded (zero) frame is not zero after batch-norm."""
    with torch.no_grad():
        for m in backend.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    return backend


def test_shapes_output_dim_and_gradients() -> None:
    backend = tiny()
    x = torch.randn(3, 9, 12, requires_grad=True)
    out = backend(x, torch.tensor([9, 5, 1]))
    assert out.shape == (3, 9, 16) and backend.output_dim == 16
    assert out[1, 5:].abs().max() == 0 and out[2, 1:].abs().max() == 0  # zeros on the padding
    (out * torch.randn(16)).sum().backward()  # (a LayerNorm's outputs sum to a constant)
    assert x.grad[0].abs().sum() > 0 and x.grad[1, 5:].abs().max() == 0


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_padding_never_changes_a_clips_output(dtype: torch.dtype, tolerance: float) -> None:
    """Garbage after a clip (x100) must not reach its frames: attention keys, the depthwise conv, batch-norm."""
    torch.manual_seed(0)
    backend = with_batch_norm_statistics(tiny()).to(dtype).eval()
    clip = torch.randn(1, 11, 12, dtype=dtype)
    batch = 100 * torch.randn(2, 20, 12, dtype=dtype)
    batch[0, :11] = clip[0]
    with torch.inference_mode():
        alone = backend(clip, torch.tensor([11]))
        padded = backend(batch, torch.tensor([11, 20]))
    torch.testing.assert_close(padded[0, :11], alone[0], atol=tolerance, rtol=0)
    assert padded[0, 11:].abs().max() == 0


def test_the_convolution_module_sees_both_sides_within_its_kernel() -> None:
    """Frame 10's output depends on frames 10 +- (kernel // 2) * layers through the convs (and all through attention)."""
    backend = tiny(num_layers=1).eval()
    backend.blocks[0].attention.output.weight.data.zero_()  # only the convolution mixes frames now
    backend.blocks[0].attention.output.bias.data.zero_()
    x = torch.randn(1, 30, 12, requires_grad=True)
    (backend(x, torch.tensor([30]))[0, 10] * torch.randn(16)).sum().backward()  # (a LayerNorm's outputs sum to a constant)
    seen = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert (seen.min().item(), seen.max().item()) == (7, 13)


def test_relative_shift_puts_relative_position_i_minus_j_at_i_j() -> None:
    steps = 5
    # Column k of row i holds the relative position T-1-k (the order of relative_positions).
    relative = torch.arange(steps - 1, -steps, -1).float().expand(1, 1, steps, 2 * steps - 1)
    shifted = relative_shift(relative)
    i, j = torch.meshgrid(torch.arange(steps), torch.arange(steps), indexing="ij")
    assert torch.equal(shifted[0, 0], (i - j).float())


def test_relative_position_codes_are_sinusoids_centred_on_zero() -> None:
    codes = relative_positions(4, 6, torch.device("cpu"))  # positions 3, 2, 1, 0, -1, -2, -3
    assert codes.shape == (1, 7, 6)
    assert torch.equal(codes[0, 3], torch.tensor([0.0, 1.0] * 3))  # sin 0, cos 0
    torch.testing.assert_close(codes[0, 2, 0], torch.sin(torch.tensor(1.0)))  # position 1, lowest frequency
    torch.testing.assert_close(codes[0, 4, 0::2], -codes[0, 2, 0::2])  # sin is odd, cos even
    torch.testing.assert_close(codes[0, 4, 1::2], codes[0, 2, 1::2])


def test_the_attention_depends_on_relative_not_absolute_positions() -> None:
    """A sequence shifted in time (within a longer clip of zeros) gives the same attention output."""
    torch.manual_seed(0)
    attention = tiny().blocks[0].attention.eval()
    x = torch.randn(1, 6, 16)
    early, late = torch.zeros(1, 10, 16), torch.zeros(1, 10, 16)
    early[0, :6], late[0, 4:] = x[0], x[0]
    padding = torch.ones(1, 10, dtype=torch.bool)  # attend to the sequence's frames only
    padding_early, padding_late = padding.clone(), padding.clone()
    padding_early[0, :6], padding_late[0, 4:] = False, False
    positions = relative_positions(10, 16, torch.device("cpu"))
    with torch.no_grad():
        a = attention(early, positions, padding_early)[0, :6]
        b = attention(late, positions, padding_late)[0, 4:]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_every_tensor_has_one_auto_avsr_name() -> None:
    """The import from Auto-AVSR is a renaming: each of our tensors maps to one name, none shared."""
    backend = tiny(input_dim=20, num_layers=3)
    names = {}
    for key in backend.state_dict():
        generic = re.sub(r"^blocks\.\d+\.", "blocks.N.", key)
        module, _, leaf = generic.rpartition(".")
        theirs = AUTO_AVSR_NAMES.get(generic) or f"{AUTO_AVSR_NAMES[module]}.{leaf}"
        names[key] = theirs.replace(".N.", f".{key.split('.')[1]}.") if ".N." in theirs else theirs
    assert len(set(names.values())) == len(names)
    assert names["blocks.2.attention.content_bias"] == "encoder.encoders.2.self_attn.pos_bias_u"
    assert names["blocks.0.conv.pointwise1.weight"] == "encoder.encoders.0.conv_module.pointwise_cov1.weight"
    assert names["input_projection.weight"] == "proj_encoder.weight"


def test_no_projection_when_the_widths_agree_and_odd_kernels_only() -> None:
    assert isinstance(tiny(input_dim=16).input_projection, torch.nn.Identity)
    with pytest.raises(ValueError, match="odd"):
        tiny(conv_kernel_size=8)
    with pytest.raises(ValueError, match="num_heads"):
        tiny(num_heads=3)
