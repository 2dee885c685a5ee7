"""Transformer encoder backend: pre-norm self-attention over a clip's frames, padding masked out.

Papers: A. Vaswani et al., "Attention is all you need", NeurIPS 2017 (the encoder, sinusoidal
positions); R. Xiong et al., "On layer normalization in the Transformer architecture", ICML 2020
(pre-norm); used as the lipreading back-end (before a TCN) by A. Koumparoulis, G. Potamianos,
"Accurate and resource-efficient lipreading with EfficientNetV2 and Transformers", ICASSP 2022.
The layers are PyTorch's ``nn.TransformerEncoderLayer`` with ``norm_first=True``, whose eval-mode
fast path makes CPU inference quick.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lipreading.models.masks import padding_mask


class SinusoidalPositions(nn.Module):
    """Adds the fixed sin/cos position code of Vaswani et al. to (B, T, D) features; any length."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.dim = dim  # max_len is unused: the code is computed for any length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)[:, None]  # (T, 1)
        freqs = torch.exp(torch.arange(0, self.dim, 2, device=x.device) * (-math.log(10000.0) / self.dim))
        angles = steps * freqs  # (T, 1) * (D/2,) -> (T, D/2)
        code = torch.stack([angles.sin(), angles.cos()], -1).flatten(1)  # (T, D/2, 2) -> (T, D): sin, cos interleaved
        return x + code[None, :, : self.dim].to(x.dtype)


class LearnedPositions(nn.Module):
    """Adds a learned embedding per frame index to (B, T, D) features; at most ``max_len`` frames."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, dim)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.num_embeddings:
            raise ValueError(
                f"Clip of {x.shape[1]} frames is longer than the learned positions' max_len "
                f"{self.table.num_embeddings}; raise max_len or use positions=sinusoidal."
            )
        return x + self.table.weight[: x.shape[1]][None]


class NoPositions(nn.Module):
    """No position code: the features pass unchanged (order then comes only from the layers around)."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


POSITIONS = {"sinusoidal": SinusoidalPositions, "learned": LearnedPositions, "none": NoPositions}
ACTIVATIONS = ("gelu", "relu")


class TransformerBackend(nn.Module):
    """(B, T, input_dim) frame features, lengths -> (B, T, d_model).

    A linear projection to ``d_model`` (none when equal), positions, ``num_layers`` encoder layers
    (pre-norm and a final LayerNorm by default; ``norm_first=False`` gives Vaswani et al.'s post-norm
    layers, which end normalised and need no final norm) with a GELU or ReLU feed-forward. Padded
    frames are excluded as attention keys (``src_key_padding_mask``) and zeroed in the output, so
    they never change a clip's result.
    """

    def __init__(
        self,
        input_dim: int,
        d_model: int = 256,
        num_heads: int = 4,
        num_layers: int = 6,
        ffn_dim: int = 1024,
        dropout: float = 0.1,
        positions: str = "sinusoidal",
        max_len: int = 512,
        norm_first: bool = True,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"Unknown positions {positions!r}; choose one of: {', '.join(POSITIONS)}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}.")
        self.project = nn.Linear(input_dim, d_model) if input_dim != d_model else nn.Identity()
        self.positions = POSITIONS[positions](d_model, max_len)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, ffn_dim, dropout, activation=activation, batch_first=True, norm_first=norm_first
        )
        # Nested tensors do not apply to pre-norm layers; disabling them only silences a warning.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.output_dim = d_model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        padding = padding_mask(lengths, x.shape[1])  # (B, T), True = pad
        x = self.dropout(self.positions(self.project(x)))  # (B, T, input_dim) -> (B, T, d_model)
        x = self.norm(self.encoder(x, src_key_padding_mask=padding))
        return x.masked_fill(padding[..., None], 0.0)

