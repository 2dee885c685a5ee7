"""Temporal pooling: a clip's per-frame features (B, T, D) and lengths -> one vector (B, D) for the word head.

``MeanPooling`` is the masked mean over the valid frames of the reference implementation
(``_average_batch`` in ``lipreading/model.py`` of github.com/mpc001/Lipreading_using_TCN).
``AttentionPooling`` weighs the frames by a learned score instead (additive attention pooling,
as in Z. Yang et al., "Hierarchical attention networks for document classification", NAACL 2016;
C. Raffel, D. Ellis, "Feed-forward networks with attention can solve some long-term memory
problems", ICLR workshop 2016), so a word classifier can attend to the frames of the word and
away from its neighbours. Both are factories of ``input_dim`` in the configs (``model/pooling``).
"""

from __future__ import annotations

import torch
from torch import nn

from lipreading.models.masks import length_mask


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` (B, T, D) over the first ``lengths[b]`` steps of each clip -> (B, D)."""
    mask = length_mask(lengths, x.shape[1]).to(x.dtype)  # (B, T)
    return (x * mask[..., None]).sum(1) / lengths.clamp(min=1).to(x.dtype)[:, None]


class MeanPooling(nn.Module):
    """The masked temporal mean (no parameters): (B, T, D), lengths -> (B, D)."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, lengths)


class AttentionPooling(nn.Module):
    """Attention over time: ``sum_t softmax_t(v^T tanh(W x_t + b)) x_t`` over each clip's valid frames.

    Padded frames get no weight (their scores are masked before the softmax), so padding never
    changes a clip's result. The scorer's last layer starts at zero: uniform weights, i.e. the
    masked mean, until training teaches it which frames matter.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1))
        nn.init.zeros_(self.score[2].weight)
        nn.init.zeros_(self.score[2].bias)
        self.output_dim = input_dim

    def weights(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) attention weights: non-negative, zero on padding, summing to 1 over each clip."""
        scores = self.score(x).squeeze(-1).float()  # (B, T, D) -> (B, T)
        scores = scores.masked_fill(~length_mask(lengths, x.shape[1]), float("-inf"))
        return scores.softmax(dim=1).to(x.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bt,btd->bd", self.weights(x, lengths), x)  # (B, T), (B, T, D) -> (B, D)
