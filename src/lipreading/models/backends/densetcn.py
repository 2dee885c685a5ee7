"""Densely connected TCN (DC-TCN) of Ma et al.

Paper: P. Ma, Y. Wang, J. Shen, S. Petridis, M. Pantic, "Lip-reading with densely connected temporal
convolutional networks", WACV 2021 / ICASSP 2021 training strategies ("Training strategies for
improved lip-reading", ICASSP 2022: 92.1% on LRW with word boundaries as an extra input).
Reference implementation: ``lipreading/models/densetcn.py`` (``DenseTemporalConvNet``) and
``DenseTCN`` in ``lipreading/model.py`` of github.com/mpc001/Lipreading_using_TCN, configured by
``configs/lrw_resnet18_dctcn.json``.

Every dense layer is a multi-scale temporal block of :mod:`lipreading.models.backends.tcn` (kernels
3/5/7, each first-round branch behind its own squeeze-and-excitation gate) whose input is the
concatenation of all earlier outputs of its dense block; 1x1 transitions shrink the width between
blocks; a final BatchNorm closes the stack.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lipreading.models.backends.tcn import MultiscaleTemporalBlock, valid_mask
from lipreading.models.layers import init_like_reference, make_activation


class Transition(nn.Sequential):
    """1x1 Conv1d (no bias) -> BN -> activation: (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, in_dim: int, out_dim: int, activation: str) -> None:
        super().__init__(
            nn.Conv1d(in_dim, out_dim, 1, bias=False), nn.BatchNorm1d(out_dim), make_activation(activation, out_dim)
        )


class DenseTemporalBlock(nn.Module):
    """``len(dilations)`` dense layers; layer i sees the block input and the outputs of layers < i.

    Returns the concatenation of the input and every layer's output:
    (B, C, T) -> (B, C + num_layers * growth_rate, T).
    """

    def __init__(
        self,
        in_dim: int,
        growth_rate: int,
        dilations: Sequence[int],
        kernel_sizes: Sequence[int],
        dropout: float,
        activation: str,
        squeeze_excitation: bool,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MultiscaleTemporalBlock(
                in_dim + i * growth_rate,
                growth_rate,
                tuple(kernel_sizes),
                dilation=dilation,
                dropout=dropout,
                activation=activation,
                depthwise_separable=False,
                causal=False,
                squeeze_excitation=squeeze_excitation,
            )
            for i, dilation in enumerate(dilations)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1), mask))  # (B, C + i*growth, T) -> (B, growth, T)
        return torch.cat(features, 1)


class DenseTemporalConvNet(nn.Module):
    """(B, T, D) frame features, lengths -> (B, T, reduced_dim + layers_per_block * growth_rates[-1]).

    ``growth_rates`` has one entry per dense block; each block has ``layers_per_block`` layers whose
    dilations cycle through ``dilations``. The reference's LRW model: 4 blocks x 3 layers, growth 384,
    kernels (3, 5, 7), dilations (1, 2, 5), width 512 after each transition, SE gates, Swish: 1664-d out.
    Frames beyond ``lengths[b]`` are zeroed before every temporal convolution and left out of every
    SE mean, so they never change clip b's valid outputs.
    """

    def __init__(
        self,
        input_dim: int,
        growth_rates: Sequence[int] = (384, 384, 384, 384),
        layers_per_block: int = 3,
        reduced_dim: int = 512,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        dilations: Sequence[int] = (1, 2, 5),
        dropout: float = 0.2,
        activation: str = "swish",
        squeeze_excitation: bool = True,
    ) -> None:
        super().__init__()
        layer_dilations = [dilations[i % len(dilations)] for i in range(layers_per_block)]
        block_out = [reduced_dim + layers_per_block * g for g in growth_rates]
        # Each dense block starts from a 1x1 transition down to ``reduced_dim`` channels. NOTE: the
        # reference's first transition is always PReLU, whatever ``relu_type`` says; kept for parity.
        self.transitions = nn.ModuleList(
            Transition(in_dim, reduced_dim, "prelu" if i == 0 else activation)
            for i, in_dim in enumerate([input_dim, *block_out[:-1]])
        )
        self.blocks = nn.ModuleList(
            DenseTemporalBlock(reduced_dim, g, layer_dilations, kernel_sizes, dropout, activation, squeeze_excitation)
            for g in growth_rates
        )
        self.norm = nn.BatchNorm1d(block_out[-1])
        self.output_dim = block_out[-1]
        init_like_reference(self)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = valid_mask(lengths, x.shape[1], x.dtype)  # (B, 1, T)
        x = x.transpose(1, 2)  # (B, T, D) -> (B, D, T)
        for transition, block in zip(self.transitions, self.blocks):
            x = block(transition(x), mask)  # -> (B, reduced_dim, T) -> (B, reduced_dim + layers * growth, T)
        return self.norm(x).transpose(1, 2)  # (B, D', T) -> (B, T, D')
