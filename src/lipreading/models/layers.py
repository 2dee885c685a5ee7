"""Pieces shared by the frontends and backends of the Ma et al. word models.

Reference implementation: github.com/mpc001/Lipreading_using_TCN (``relu_type`` option and
``Lipreading._initialize_weights_randomly`` in ``lipreading/model.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = ("relu", "prelu", "swish")


def make_activation(name: str, channels: int) -> nn.Module:
    """The reference's ``relu_type``: ReLU, PReLU with one slope per channel, or Swish (SiLU)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "prelu":
        return nn.PReLU(num_parameters=channels)
    if name == "swish":
        return nn.SiLU(inplace=True)  # x * sigmoid(x), the reference's `Swish` module
    raise ValueError(f"Unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}.")


@torch.no_grad()
def init_like_reference(module: nn.Module) -> None:
    """He-normal convolutions (fan-out), unit BatchNorm, He-normal Linear (fan-in), zero biases.

    The reference's random init: std = sqrt(2 / (prod(kernel_size) * out_channels)) for every
    conv, whatever its groups, which is ``kaiming_normal_(mode="fan_out")``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            # NOTE: the reference leaves Linear biases at PyTorch's default; so do we.
            m.weight.normal_(0.0, math.sqrt(2.0 / m.in_features))
