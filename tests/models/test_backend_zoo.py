"""Every backend at tiny sizes: padding invariance, output widths; Transformer, DC-TCN and stack specifics."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from lipreading.models.backends.densetcn import DenseTemporalConvNet
from lipreading.models.backends.eflip_tcn import EfLipTemporalConvNet
from lipreading.models.backends.recurrent import BiGRU, BiLSTM
from lipreading.models.backends.stack import BackendStack
from lipreading.models.backends.tcn import (
    TemporalConvNet,
    TemporalSqueezeExcite,
    valid_mask,
)
from lipreading.models.backends.transformer import TransformerBackend

TINY_TRANSFORMER = partial(TransformerBackend, d_model=16, num_heads=2, num_layers=2, ffn_dim=32, dropout=0.0)
TINY_TCN = partial(TemporalConvNet, branch_channels=6, dropout=0.0)
TINY = {  # name -> factory of input_dim, every backend family at tiny widths
    "tcn": TINY_TCN,
    "mstcn": partial(TINY_TCN, kernel_sizes=(3, 5, 7), activation="swish"),
    "dsmstcn": partial(TINY_TCN, kernel_sizes=(3, 5, 7), activation="relu", depthwise_separable=True),
    "dctcn": partial(DenseTemporalConvNet, growth_rates=(6, 6), layers_per_block=3, reduced_dim=8, dropout=0.0),
    "transformer": TINY_TRANSFORMER,
    "transformer_learned": partial(TINY_TRANSFORMER, positions="learned", max_len=32),
    "transformer_postnorm": partial(TINY_TRANSFORMER, positions="none", norm_first=False, activation="relu"),
    "eflip_tcn": partial(EfLipTemporalConvNet, hidden_dim=6, num_layers=3, dropout=0.0),
    "transformer_tcn": partial(BackendStack, stages={"transformer": TINY_TRANSFORMER, "tcn": TINY_TCN}),
    "bigru": partial(BiGRU, hidden_size=5, num_layers=2),
    "bilstm": partial(BiLSTM, hidden_size=5, num_layers=2),
}


def _randomise_norm_statistics(module: nn.Module) -> None:
    """Non-trivial BN statistics, so that padded frames are not zero after a BN."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.bias.uniform_(-1, 1)


@pytest.mark.parametrize("name", TINY)
def test_padding_never_changes_a_clips_valid_outputs(name: str) -> None:
    torch.manual_seed(0)
    backend = TINY[name](input_dim=12).double().eval()  # float64: batch size changes the summation order
    _randomise_norm_statistics(backend)
    clip = torch.randn(1, 11, 12, dtype=torch.float64)
    batch = 100 * torch.randn(3, 20, 12, dtype=torch.float64)  # garbage in the padding
    batch[1, :11] = clip[0]
    with torch.inference_mode():
        alone = backend(clip, torch.tensor([11]))
        padded = backend(batch, torch.tensor([20, 11, 4]))
    assert padded.shape == (3, 20, backend.output_dim)
    torch.testing.assert_close(padded[1, :11], alone[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", TINY)
def test_backends_train_end_to_end(name: str) -> None:
    backend = TINY[name](input_dim=12)
    x = torch.randn(2, 9, 12, requires_grad=True)
    out = backend(x, torch.tensor([9, 6]))
    out.square().mean().backward()
    assert x.grad is not None and x.grad[0].abs().sum() > 0
    assert all(p.grad is not None for p in backend.parameters() if p.requires_grad)


def test_transformer_padding_is_masked_as_keys_and_zeroed_in_the_output() -> None:
    backend = TINY_TRANSFORMER(input_dim=12).eval()
    x = torch.randn(1, 8, 12, requires_grad=True)
    out = backend(x, torch.tensor([5]))
    out[0, :5].sum().backward()
    assert x.grad[0, 5:].abs().max() == 0 and x.grad[0, :5].abs().min() > 0  # attention never reads padding
    assert out[0, 5:].abs().max() == 0


def test_transformer_layers_are_pre_norm_and_positions_make_it_order_aware() -> None:
    torch.manual_seed(0)
    backend = TINY_TRANSFORMER(input_dim=16).eval()
    assert isinstance(backend.project, nn.Identity)  # input_dim == d_model: no projection
    assert all(layer.norm_first for layer in backend.encoder.layers)
    x = torch.randn(1, 6, 16)
    with torch.inference_mode():
        out, out_reversed = backend(x, torch.tensor([6])), backend(x.flip(1), torch.tensor([6]))
    assert not torch.allclose(out.flip(1), out_reversed, atol=1e-4)  # attention alone is permutation-equivariant


def test_unknown_positions_and_too_long_clips_name_the_fix() -> None:
    with pytest.raises(ValueError, match="'rotary'.*sinusoidal, learned"):
        TINY_TRANSFORMER(input_dim=8, positions="rotary")
    learned = TINY_TRANSFORMER(input_dim=8, positions="learned", max_len=4)
    with pytest.raises(ValueError, match="max_len 4"):
        learned(torch.randn(1, 5, 8), torch.tensor([5]))


def test_dense_blocks_concatenate_every_layer_and_transitions_shrink_the_width() -> None:
    backend = DenseTemporalConvNet(input_dim=12, growth_rates=(6, 9), layers_per_block=3, reduced_dim=8)
    assert [len(b.layers) for b in backend.blocks] == [3, 3]
    # Layer i of a block sees the block input + i earlier outputs.
    assert [layer.branches0[0].conv.in_channels for layer in backend.blocks[1].layers] == [8, 17, 26]
    assert [t[0].in_channels for t in backend.transitions] == [12, 8 + 3 * 6]
    assert backend.output_dim == 8 + 3 * 9
    assert isinstance(backend.transitions[0][2], nn.PReLU)  # the reference's first transition, whatever the activation
    dilations = [layer.branches0[0].conv.dilation[0] for layer in backend.blocks[0].layers]
    assert dilations == [1, 2, 5]


def test_squeeze_excitation_averages_over_the_valid_frames_only() -> None:
    gate = TemporalSqueezeExcite(channels=16, reduction=4)
    x = torch.randn(1, 16, 10)
    mask = valid_mask(torch.tensor([6]), 10, x.dtype)
    changed = x.clone()
    changed[..., 6:] += 100.0
    torch.testing.assert_close(gate(x, mask)[..., :6], gate(changed, mask)[..., :6])


def test_stack_chains_output_dims_and_rejects_an_empty_list() -> None:
    stack = TINY["transformer_tcn"](input_dim=12)
    assert list(stack.stages) == ["transformer", "tcn"]
    assert stack.stages["tcn"].blocks[0].branches0[0].conv.in_channels == 16
    assert stack.output_dim == 6
    with pytest.raises(ValueError, match="at least one stage"):
        BackendStack(input_dim=12, stages={})


def test_post_norm_transformer_is_pytorchs_encoder_layer() -> None:
    """norm_first=False, no positions, equal widths: exactly nn.TransformerEncoderLayer (no final norm)."""
    torch.manual_seed(0)
    backend = TransformerBackend(16, d_model=16, num_heads=2, num_layers=1, ffn_dim=8, dropout=0.0,
                                 positions="none", norm_first=False, activation="relu").eval()
    layer = nn.TransformerEncoderLayer(16, 2, 8, 0.0, activation="relu", batch_first=True).eval()
    layer.load_state_dict(backend.encoder.layers[0].state_dict())
    assert isinstance(backend.norm, nn.Identity) and isinstance(backend.project, nn.Identity)
    x = torch.randn(2, 6, 16)
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    with torch.inference_mode():
        ours = backend(x, torch.tensor([6, 4]))
        expected = layer(x, src_key_padding_mask=padding).masked_fill(padding[..., None], 0.0)
    torch.testing.assert_close(ours, expected)


def test_transformer_without_positions_is_order_blind() -> None:
    backend = TINY_TRANSFORMER(input_dim=16, positions="none").eval()
    x = torch.randn(1, 6, 16)
    with torch.inference_mode():
        torch.testing.assert_close(backend(x.flip(1), torch.tensor([6])), backend(x, torch.tensor([6])).flip(1))
    with pytest.raises(ValueError, match="'swiglu'.*gelu, relu"):
        TINY_TRANSFORMER(input_dim=16, activation="swiglu")


def test_eflip_tcn_blocks_keep_the_references_layer_order() -> None:
    """conv-BN-PReLU-dropout twice, a third PReLU, then the residual sum (no activation after it);
    PReLUs with one shared slope; a 1x1 residual conv only where the width changes."""
    backend = EfLipTemporalConvNet(input_dim=12, hidden_dim=6, num_layers=3, dropout=0.0).eval()
    block = backend.blocks[0]
    assert [b.conv1.dilation[0] for b in backend.blocks] == [1, 2, 4]
    assert all(m.num_parameters == 1 for m in backend.modules() if isinstance(m, nn.PReLU))
    assert isinstance(block.residual, nn.Conv1d) and isinstance(backend.blocks[1].residual, nn.Identity)
    x = torch.randn(1, 12, 9)
    mask = torch.ones(1, 1, 9)
    branch = block.act_out(block.act2(block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))))
    torch.testing.assert_close(block(x, mask), block.residual(x) + branch)
    with pytest.raises(ValueError, match="odd kernel"):
        EfLipTemporalConvNet(input_dim=4, kernel_size=4)
