"""Temporal convolutional backends of Ma et al.: TCN, multi-scale TCN and depthwise-separable MS-TCN.

Papers: B. Martinez, P. Ma, S. Petridis, M. Pantic, "Lipreading using Temporal Convolutional
Networks", ICASSP 2020 (TCN, MS-TCN); P. Ma, B. Martinez, S. Petridis, M. Pantic, "Towards practical
lipreading with distilled and efficient models", ICASSP 2021 (DS-MS-TCN). TCN: S. Bai, J. Z. Kolter,
V. Koltun, arXiv:1803.01271.
Reference implementation: ``lipreading/models/tcn.py`` (``TemporalConvNet``,
``MultibranchTemporalConvNet``) of github.com/mpc001/Lipreading_using_TCN.

One class covers the three: ``kernel_sizes=(3,)`` is the TCN, ``(3, 5, 7)`` the MS-TCN, and
``depthwise_separable=True`` with ``(3, 5, 7)`` the DS-MS-TCN. With a single kernel the reference's
multi-branch block is layer for layer its single-branch block, so nothing is lost by merging them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lipreading.models.layers import init_like_reference, make_activation
from lipreading.models.masks import length_mask


def valid_mask(lengths: torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) lengths -> (B, 1, T) mask: 1 on a clip's frames, 0 on its padding."""
    return length_mask(lengths, steps).to(dtype)[:, None, :]


class TemporalConv(nn.Module):
    """Dilated Conv1d -> BN -> activation over zero-padded time ("same" length out)."""

    def __init__(
        self, in_dim: int, out_dim: int, kernel_size: int, dilation: int, activation: str, causal: bool
    ) -> None:
        super().__init__()
        self.padding = _padding(kernel_size, dilation, causal)
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, dilation=dilation)
        self.bn = nn.BatchNorm1d(out_dim)
        self.act = make_activation(activation, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = F.pad(x * mask, self.padding)  # (B, C, T) -> (B, C, T + (k-1)*d); padding frames zeroed
        return self.act(self.bn(self.conv(x)))  # -> (B, C', T)


class SeparableTemporalConv(nn.Module):
    """Depthwise dilated Conv1d -> BN -> activation -> pointwise Conv1d -> BN -> activation."""

    def __init__(
        self, in_dim: int, out_dim: int, kernel_size: int, dilation: int, activation: str, causal: bool
    ) -> None:
        super().__init__()
        self.padding = _padding(kernel_size, dilation, causal)
        self.depthwise = nn.Conv1d(
            in_dim, in_dim, kernel_size, dilation=dilation, groups=in_dim, bias=False
        )
        self.bn1 = nn.BatchNorm1d(in_dim)
        self.act1 = make_activation(activation, in_dim)
        self.pointwise = nn.Conv1d(in_dim, out_dim, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_dim)
        self.act2 = make_activation(activation, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = F.pad(x * mask, self.padding)  # (B, C, T) -> (B, C, T + (k-1)*d); padding frames zeroed
        x = self.act1(self.bn1(self.depthwise(x)))  # -> (B, C, T)
        return self.act2(self.bn2(self.pointwise(x)))  # -> (B, C', T)


def _padding(kernel_size: int, dilation: int, causal: bool) -> tuple[int, int]:
    """(left, right) zero padding that keeps the length; causal puts it all on the left."""
    total = (kernel_size - 1) * dilation
    left = total if causal else total // 2
    return left, total - left


class TemporalSqueezeExcite(nn.Module):
    """Channel gates from the mean over a clip's valid frames: x * sigmoid(W2 swish(W1 mean(x))).

    The DC-TCN's squeeze-and-excitation (Hu et al., CVPR 2018), the reference's ``SELayer``
    (``lipreading/models/se_module.py``: bias-free linears, Swish). NOTE: the reference averages
    over every frame, padding included; we average over the valid frames only, so that padding
    never changes a clip's result.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, channels, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean = (x * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (B, C, T), (B, 1, T) -> (B, C)
        gate = torch.sigmoid(self.fc2(F.silu(self.fc1(mean))))
        return x * gate[..., None]  # (B, C) -> (B, C, 1) broadcast over time


class MultiscaleTemporalBlock(nn.Module):
    """Two rounds of parallel branches (one per kernel size, concatenated) and a residual.

    With ``squeeze_excitation`` each first-round branch sees the input through its own
    :class:`TemporalSqueezeExcite` gate, as in the DC-TCN's dense layers (``_ConvBatchChompRelu``).

    NOTE: the reference pads both sides by (k-1)*d, applies BN, then chomps (k-1)*d/2 frames off
    each end; we pad (k-1)*d/2 per side instead. Eval outputs are identical; in training the BN
    batch statistics no longer include the extra edge frames that the chomp throws away.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel_sizes: Sequence[int],
        dilation: int,
        dropout: float,
        activation: str,
        depthwise_separable: bool,
        causal: bool,
        squeeze_excitation: bool = False,
    ) -> None:
        super().__init__()
        if out_dim % len(kernel_sizes):
            raise ValueError(f"Block width {out_dim} must divide evenly among kernels {tuple(kernel_sizes)}.")
        unit = SeparableTemporalConv if depthwise_separable else TemporalConv
        branch_dim = out_dim // len(kernel_sizes)
        self.gates0 = (
            nn.ModuleList(TemporalSqueezeExcite(in_dim) for _ in kernel_sizes) if squeeze_excitation else None
        )
        self.branches0 = nn.ModuleList(
            unit(in_dim, branch_dim, k, dilation, activation, causal) for k in kernel_sizes
        )
        self.dropout0 = nn.Dropout(dropout)
        self.branches1 = nn.ModuleList(
            unit(out_dim, branch_dim, k, dilation, activation, causal) for k in kernel_sizes
        )
        self.dropout1 = nn.Dropout(dropout)
        # NOTE: the reference's test for a residual projection is `in_dim // num_branches != out_dim`,
        # so every multi-branch block (even 768 -> 768) gets a 1x1 conv; kept for parameter parity.
        # (A block whose input is wider than its output, as in the DC-TCN's dense layers, always projects.)
        project = in_dim != out_dim or in_dim // len(kernel_sizes) != out_dim
        self.residual = nn.Conv1d(in_dim, out_dim, 1) if project else nn.Identity()
        self.act = make_activation(activation, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inputs = [x] * len(self.branches0) if self.gates0 is None else [gate(x, mask) for gate in self.gates0]
        out = torch.cat([branch(xi, mask) for branch, xi in zip(self.branches0, inputs)], 1)  # (B, C_in, T) -> (B, C_out, T)
        out = self.dropout0(out)
        out = torch.cat([branch(out, mask) for branch in self.branches1], 1)  # (B, C_out, T)
        out = self.dropout1(out)
        return self.act(out + self.residual(x))


class TemporalConvNet(nn.Module):
    """(B, T, D) frame features, lengths -> (B, T, branch_channels * len(kernel_sizes)).

    ``num_layers`` residual blocks with dilation 1, 2, 4, ...; each block has one branch of
    ``branch_channels`` per kernel size. Non-causal by default (the reference's symmetric chomp);
    ``causal=True`` pads only the past. Frames beyond ``lengths[b]`` are zeroed before every
    temporal convolution, so they never change clip b's valid outputs.
    """

    def __init__(
        self,
        input_dim: int,
        kernel_sizes: Sequence[int] = (3,),
        branch_channels: int = 256,
        num_layers: int = 4,
        dropout: float = 0.2,
        activation: str = "prelu",
        depthwise_separable: bool = False,
        causal: bool = False,
    ) -> None:
        super().__init__()
        width = branch_channels * len(kernel_sizes)
        self.blocks = nn.ModuleList(
            MultiscaleTemporalBlock(
                input_dim if i == 0 else width,
                width,
                tuple(kernel_sizes),
                dilation=2**i,
                dropout=dropout,
                activation=activation,
                depthwise_separable=depthwise_separable,
                causal=causal,
            )
            for i in range(num_layers)
        )
        self.output_dim = width
        init_like_reference(self)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = valid_mask(lengths, x.shape[1], x.dtype)  # (B, 1, T)
        x = x.transpose(1, 2)  # (B, T, D) -> (B, D, T)
        for block in self.blocks:
            x = block(x, mask)
        return x.transpose(1, 2)  # (B, D', T) -> (B, T, D')
