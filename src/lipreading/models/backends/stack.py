"""A backend made of backends in sequence, e.g. the Transformer + TCN of Koumparoulis & Potamianos (ICASSP 2022)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn


class BackendStack(nn.Module):
    """Backends applied one after the other: each factory gets the previous one's ``output_dim``.

    ``stages={"transformer": TransformerBackend partial, "tcn": TemporalConvNet partial}`` (in
    that order) is the Transformer + TCN back-end of Koumparoulis & Potamianos (ICASSP 2022).
    """

    def __init__(self, input_dim: int, stages: Mapping[str, Callable[..., nn.Module]]) -> None:
        super().__init__()
        if not stages:
            raise ValueError("BackendStack needs at least one stage: a name -> backend factory taking input_dim.")
        self.stages = nn.ModuleDict()
        for name, factory in stages.items():
            self.stages[name] = factory(input_dim=input_dim)
            input_dim = self.stages[name].output_dim
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for stage in self.stages.values():
            x = stage(x, lengths)  # (B, T, D_i) -> (B, T, D_i+1)
        return x
