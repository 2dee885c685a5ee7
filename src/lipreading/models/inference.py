"""Eval-mode inference: a copy of a network rewritten to compute the same function faster on CPU.

Each rewrite was chosen from a profile of the published models (one thread, one 29x88x88 clip; see
``benchmarks/RESULTS.md``, "Latency against the reference") and keeps the outputs within float rounding:

- **BatchNorms folded** into the convolution before them. In eval mode a BatchNorm is a per-channel affine
  map, so ``BN(conv(x))`` equals one convolution with rescaled weights and a shifted bias (as
  ``torch.ao.quantization.fuse_modules`` and ``torch.fx.experimental.optimization.fuse`` do): one full pass
  over every feature map less. torch.fx is used only to find which BatchNorm reads which convolution's output.
- **ShuffleNetV2 blocks kept channels-last** (:class:`ChannelsLastShuffleBlock`): torchvision's channel
  shuffle returns a (B, C, H, W)-contiguous tensor, so every following block ran on the slower layout; the
  rewrite interleaves the two halves in one channels-last copy (instead of a concatenation and a shuffle).
- **Dilated temporal convolutions on oneDNN** (:class:`OneDnnConv1d`): for one clip PyTorch sends a small
  Conv1d (fewer than 20,480 input values, e.g. 256 channels x 29 frames) to its native kernels, and a dilated
  one to a per-channel loop (``slow_conv_dilated2d``) 2-3x slower than oneDNN's. In eager float32 CPU inference
  the rewrite calls oneDNN directly; traced or exported it is the plain convolution.

NOTE: a rewrite of the 3D stem as a 2D convolution over 5 stacked frames (which makes ``frames_to_batch`` free)
was measured and left out: the stem's Conv3d already runs at the core's peak (40-50 GMAC/s on one thread), and
stacking the frames costs what it saves.

Unlike a traced ``GraphModule``, the copy keeps the network's own Python ``forward`` (length masks, packed
sequences, optional inputs) and attributes (``num_classes``, ``output_dim``).
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.models.shufflenetv2 import InvertedResidual


class _LeafBatchNormTracer(fx.Tracer):
    """Treats every BatchNorm subclass (e.g. timm's ``BatchNormAct2d``) as one opaque call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, _BatchNorm) or super().is_leaf_module(m, module_qualified_name)


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with the rewrites above (BatchNorms folded, shuffle blocks, dilated Conv1d).

    Outputs match the original's eval-mode outputs up to float rounding (about 1e-6). The copy is
    for inference only: folded BatchNorms no longer exist, so it must not be trained.
    """
    model = copy.deepcopy(model).eval()
    _fold_batch_norms(model)
    _replace_modules(model)
    return model


def _replace_modules(module: nn.Module) -> None:
    """Swap, in place, every child that has a faster inference equivalent (after the BatchNorms are folded)."""
    for name, child in module.named_children():
        if type(child) is InvertedResidual:
            _replace_modules(child)
            setattr(module, name, ChannelsLastShuffleBlock(child))
        elif type(child) is nn.Conv1d and child.padding_mode == "zeros" and max(child.dilation) > 1:
            setattr(module, name, OneDnnConv1d(child))
        else:
            _replace_modules(child)


class ChannelsLastShuffleBlock(nn.Module):
    """torchvision's ShuffleNetV2 ``InvertedResidual`` with the concatenation and channel shuffle as one
    channels-last interleave: output channel 2j is the first half's channel j, 2j + 1 the second's."""

    def __init__(self, block: InvertedResidual) -> None:
        super().__init__()
        self.stride = block.stride
        self.branch1, self.branch2 = block.branch1, block.branch2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if self.stride == 1:
            first, second = x.chunk(2, dim=1)
            second = self.branch2(second)
        else:
            first, second = self.branch1(x), self.branch2(x)
        halves = (first.permute(0, 2, 3, 1), second.permute(0, 2, 3, 1))  # (B, C/2, H, W) -> (B, H, W, C/2) views
        return torch.stack(halves, -1).flatten(3).permute(0, 3, 1, 2)  # -> (B, H, W, C/2, 2) -> (B, C, H, W) channels-last


class OneDnnConv1d(nn.Conv1d):
    """An ``nn.Conv1d`` that, in eager float32 CPU inference, always runs on oneDNN (``torch.mkldnn_convolution``).

    NOTE: PyTorch picks its native kernels for small single-clip inputs, and for dilated kernels those loop over
    channels (``slow_conv_dilated2d``); oneDNN computes the same convolution 2-3x faster there (one thread, 256
    channels x 29 frames, dilation 2-8). Anywhere else (tracing, ONNX export, other dtypes or devices, autograd)
    it is the plain Conv1d.
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                         conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eager_onednn = (x.device.type == "cpu" and x.dtype == torch.float32 and self.weight.dtype == torch.float32
                        and torch.backends.mkldnn.is_available() and not torch.jit.is_tracing()
                        and not torch.jit.is_scripting() and not torch.onnx.is_in_onnx_export()
                        and not torch.is_grad_enabled() and isinstance(self.padding, tuple))
        if not eager_onednn:
            return super().forward(x)
        return torch.mkldnn_convolution(x.contiguous(), self.weight, self.bias, self.padding, self.stride,
                                        self.dilation, self.groups)


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
