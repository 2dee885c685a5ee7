"""Eval-mode inference: a copy of a network with every BatchNorm folded into the convolution before it.

In eval mode a BatchNorm is a per-channel affine map, so ``BN(conv(x))`` equals one convolution
with rescaled weights and a shifted bias (as ``torch.ao.quantization.fuse_modules`` and
``torch.fx.experimental.optimization.fuse`` do). That saves a full pass over every feature map on
CPU. Unlike a traced ``GraphModule``, the folded copy keeps the network's own Python ``forward``
(length masks, packed sequences, optional inputs) and attributes (``num_classes``, ``output_dim``):
torch.fx is used only to find which BatchNorm reads which convolution's output.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils.fusion import fuse_conv_bn_weights


class _LeafBatchNormTracer(fx.Tracer):
    """Treats every BatchNorm subclass (e.g. timm's ``BatchNormAct2d``) as one opaque call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, _BatchNorm) or super().is_leaf_module(m, module_qualified_name)


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` whose BatchNorms are folded into the preceding convolutions.

    Outputs match the original's eval-mode outputs up to float rounding (about 1e-6). The copy is
    for inference only: folded BatchNorms no longer exist, so it must not be trained.
    """
    model = copy.deepcopy(model).eval()
    _fold_batch_norms(model)
    return model


def _fold_batch_norms(module: nn.Module) -> None:
    """Fold conv -> BN pairs found in ``module``'s traced graph; recurse where tracing fails."""
    if not any(True for _ in module.children()):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _LeafBatchNormTracer().trace(module)
    except Exception:  # noqa: BLE001 - any trace failure (data-dependent control flow): fold inside each child
        for child in module.children():
            _fold_batch_norms(child)
        return
    for conv_name, bn_name in _conv_bn_pairs(graph, module):
        _fold(module, conv_name, bn_name)


def _conv_bn_pairs(graph: fx.Graph, root: nn.Module) -> list[tuple[str, str]]:
    """(conv, bn) submodule names where the BN is the only reader of the conv's only call."""
    calls = [node for node in graph.nodes if node.op == "call_module"]
    times_called: dict[str, int] = {}
    for node in calls:
        times_called[node.target] = times_called.get(node.target, 0) + 1
    pairs = []
    for node in calls:
        source = node.args[0] if node.args else None
        if not (isinstance(source, fx.Node) and source.op == "call_module"):
            continue
        bn, conv = root.get_submodule(node.target), root.get_submodule(source.target)
        foldable = (
            isinstance(bn, _BatchNorm)
            and bn.running_mean is not None
            and isinstance(conv, _ConvNd)
            and not conv.transposed
            and len(source.users) == 1
            and times_called[node.target] == times_called[source.target] == 1
            and _without_batch_norm(bn) is not None
        )
        if foldable:
            pairs.append((source.target, node.target))
    return pairs


def _without_batch_norm(bn: _BatchNorm) -> nn.Module | None:
    """What is left of ``bn`` once its affine map moves into the conv; None if unknown."""
    if type(bn) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        return nn.Identity()
    if hasattr(bn, "act") and hasattr(bn, "drop"):  # timm's BatchNormAct2d: BN -> drop -> act
        return nn.Sequential(bn.drop, bn.act)
    return None


@torch.no_grad()
def _fold(root: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = root.get_submodule(conv_name), root.get_submodule(bn_name)
    weight, bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    conv.weight, conv.bias = weight, bias
    parent_name, _, child_name = bn_name.rpartition(".")
    setattr(root.get_submodule(parent_name), child_name, _without_batch_norm(bn))
