"""The TCN back-end of github.com/sadevans/EfLipReading (the project's seed 001).

That repository implements A. Koumparoulis, G. Potamianos, "Accurate and resource-efficient
lipreading with EfficientNetV2 and Transformers", ICASSP 2022, from the paper's text; its
``scripts/model/blocks/temporal.py`` (``TemporalBlock``, ``TCN``) is the reference implementation
of this module. A residual TCN in the manner of S. Bai, J. Z. Kolter, V. Koltun (arXiv:1803.01271):
``num_layers`` blocks of two dilated kernel-``kernel_size`` convolutions (dilation 1, 2, 4, ...),
each followed by BatchNorm, a PReLU with one shared slope and dropout; a third PReLU closes the
block's branch, which is added to the input (through a 1x1 convolution when the width changes),
with no activation after the sum. Unlike the TCN of Ma et al. (:mod:`lipreading.models.backends.tcn`:
per-channel PReLU, one activation after the residual sum) it keeps the reference's layer order, so
its parameter count is the reference's: 5,224,504 with 384-d input, 463 channels and 4 blocks.

NOTE: the reference sets BatchNorm momentum 0.99, TensorFlow's convention (PyTorch's 0.01); PyTorch's
default 0.1 is kept. Frames beyond a clip's length are zeroed before every convolution (the
reference has none: its clips all have 29 frames), so padding never changes a clip's result.
"""

from __future__ import annotations

import torch
from torch import nn

from lipreading.models.backends.tcn import valid_mask


class EfLipTemporalBlock(nn.Module):
    """x + branch(x): branch = [conv -> BN -> PReLU -> dropout] x 2 -> PReLU; (B, C, T) -> (B, C', T)."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation  # "same" length for odd kernels
        self.conv1 = nn.Conv1d(in_dim, out_dim, kernel_size, padding=padding, dilation=dilation)
        self.bn1 = nn.BatchNorm1d(out_dim)
        self.act1 = nn.PReLU()
        self.conv2 = nn.Conv1d(out_dim, out_dim, kernel_size, padding=padding, dilation=dilation)
        self.bn2 = nn.BatchNorm1d(out_dim)
        self.act2 = nn.PReLU()
        self.act_out = nn.PReLU()
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Conv1d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.act1(self.bn1(self.conv1(x * mask))))  # padding frames zeroed first
        out = self.dropout(self.act2(self.bn2(self.conv2(out * mask))))
        return self.residual(x) + self.act_out(out)


class EfLipTemporalConvNet(nn.Module):
    """(B, T, input_dim) frame features, lengths -> (B, T, hidden_dim): ``num_layers`` dilated residual blocks."""

    def __init__(
        self, input_dim: int, hidden_dim: int = 463, num_layers: int = 4, kernel_size: int = 3, dropout: float = 0.2
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size}: use an odd kernel, so the output keeps every frame")
        self.blocks = nn.ModuleList(
            EfLipTemporalBlock(input_dim if i == 0 else hidden_dim, hidden_dim, kernel_size, 2**i, dropout)
            for i in range(num_layers)
        )
        self.output_dim = hidden_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = valid_mask(lengths, x.shape[1], x.dtype)  # (B, 1, T)
        x = x.transpose(1, 2)  # (B, T, D) -> (B, D, T)
        for block in self.blocks:
            x = block(x, mask)
        return x.transpose(1, 2)  # (B, D', T) -> (B, T, D')
