"""Length-aware bidirectional recurrent backends: BiGRU and BiLSTM.

Each runs only over a clip's valid frames (``pack_padded_sequence``), so the padding after a
clip never reaches its backward direction: padding invariance by construction. Used for words
(Stafylakis & Tzimiropoulos, Interspeech 2017: ResNet + BiLSTM; Feng et al. 2020: BiGRU) and as
the per-frame encoder of the sentence models (LipNet's BiGRU, Assael et al. 2016; the BiLSTM
encoder of "Lip Reading Sentences in the Wild", Chung et al., CVPR 2017).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class _Bidirectional(nn.Module):
    """(B, T, input_dim), lengths -> (B, T, 2 * hidden_size); zeros on the padding."""

    cell: type[nn.RNNBase]

    def __init__(self, input_dim: int, hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.rnn = self.cell(
            input_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = 2 * hidden_size

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        packed = pack_padded_sequence(x, lengths.clamp(1, steps).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)  # -> (B, T, 2H)
        return out


class BiGRU(_Bidirectional):
    """Bidirectional GRU backend."""

    cell = nn.GRU


class BiLSTM(_Bidirectional):
    """Bidirectional LSTM backend."""

    cell = nn.LSTM
