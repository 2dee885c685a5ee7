"""Word classifier network: frontend -> backend -> temporal pooling -> linear head."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lipreading.models.masks import zero_padded_frames
from lipreading.models.pooling import MeanPooling


def append_boundary(features: torch.Tensor, boundary: torch.Tensor | None, use_boundary: bool) -> torch.Tensor:
    """(B, T, D) features -> (B, T, D + 1) with the (B, T) word-boundary indicator as the last channel.

    ``use_boundary=False`` returns the features as they are; a boundary given to a network built
    without one (or missing from one built with one) is an error that says which flag to set.
    """
    if (boundary is not None) != use_boundary:
        given = "given" if boundary is not None else "not given"
        raise ValueError(
            f"The network was built with use_boundary={use_boundary} but was {given} a boundary; "
            "set data.use_boundary (the model config follows it) so that batches and network agree."
        )
    if boundary is None:
        return features
    return torch.cat([features, boundary[..., None].to(features.dtype)], -1)  # (B, T, D) -> (B, T, D + 1)


class WordClassifierNet(nn.Module):
    """Visual word classifier of the Ma et al. family (ICASSP 2020/2021).

    ``frontend`` maps ``(B, C, T, H, W)`` and the lengths to ``(B, T, D)`` (the lengths matter to the
    frontends whose every layer mixes neighbouring frames, e.g. the 3D CNNs); ``backend`` is a factory that
    takes ``input_dim=D`` and returns a module mapping ``(B, T, D), lengths`` to
    ``(B, T, D')``; ``pooling`` a factory ``(input_dim) -> module`` mapping those and the lengths
    to ``(B, D')``: by default the mean over the valid frames, as in the reference implementation
    (``_average_batch``); :class:`~lipreading.models.pooling.AttentionPooling` weighs them instead.

    With ``use_boundary`` the per-frame word-boundary indicator (1 inside the target word) is
    appended to the frame features as one more channel, so the backend gets ``input_dim = D + 1``
    (the reference's ``use_boundary``; Ma et al., ICASSP 2022: 92.1% on LRW with DC-TCN).
    """

    def __init__(
        self,
        frontend: nn.Module,
        backend: Callable[..., nn.Module],
        num_classes: int,
        dropout: float = 0.0,
        use_boundary: bool = False,
        pooling: Callable[..., nn.Module] = MeanPooling,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.use_boundary = use_boundary
        self.backend = backend(input_dim=frontend.output_dim + int(use_boundary))
        self.pooling = pooling(input_dim=self.backend.output_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.pooling.output_dim, num_classes)
        self.num_classes = num_classes

    def forward(
        self, video: torch.Tensor, lengths: torch.Tensor, boundary: torch.Tensor | None = None
    ) -> torch.Tensor:
        # Zero the padded frames, so that a temporal convolution sees at a clip's end exactly
        # the zeros it would see if the clip were alone (padding never changes a result).
        video = zero_padded_frames(video, lengths)  # (B, C, T, H, W), frames beyond each clip zeroed
        features = self.frontend(video, lengths)  # (B, C, T, H, W) -> (B, T, D)
        features = append_boundary(features, boundary, self.use_boundary)  # -> (B, T, D + use_boundary)
        features = self.backend(features, lengths)  # (B, T, D) -> (B, T, D')
        pooled = self.pooling(features, lengths)  # (B, T, D') -> (B, D')
        return self.head(self.dropout(pooled))  # (B, num_classes) logits
