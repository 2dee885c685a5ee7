"""Export a word classifier to ONNX or TorchScript with dynamic batch and time axes (``export.py``).

The network is rebuilt from the checkpoint's own config (:func:`lipreading.run.build.restore_task`), its
BatchNorms folded into the convolutions (:func:`optimize_for_inference`), and exported with the
inputs of the training data: ``video`` float ``(B, C, T, H, W)`` after the eval transform (centre
crop, normalisation), ``lengths`` int64 ``(B,)`` (and ``boundary`` ``(B, T)`` for boundary models);
the output is ``logits`` ``(B, num_classes)``. The export is checked at another time length than
its example: the exported model must give PyTorch's logits within ``tolerance``.
A ``<output>.json`` beside the file records the vocabulary and the preprocessing it expects (from the
checkpoint's record: crop size, pixel normalisation, frame rate).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.models.inference import optimize_for_inference
from lipreading.models.masks import length_mask
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


def example_inputs(
    num_channels: int, frames: int, size: int, batch: int = 2, use_boundary: bool = False, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Random model inputs; the clips' lengths differ (the last clip is padded), so masks are exercised."""
    generator = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, num_channels, frames, size, size, generator=generator)
    lengths = torch.full((batch,), frames, dtype=torch.int64)
    lengths[-1] = max(1, frames - frames // 4)
    if not use_boundary:
        return video, lengths
    boundary = length_mask(lengths, frames).float()  # (B, T)
    return video, lengths, boundary


def input_names(use_boundary: bool) -> list[str]:
    return ["video", "lengths", "boundary"] if use_boundary else ["video", "lengths"]


def export_onnx(net: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, opset: int = 17) -> Path:
    """Write ``net`` as ONNX with dynamic batch and time axes (TorchScript-based exporter)."""
    names = input_names(len(inputs) == 3)
    axes: dict[str, dict[int, str]] = {"video": {0: "batch", 2: "time"}, "lengths": {0: "batch"},
                                      "logits": {0: "batch"}}
    if "boundary" in names:
        axes["boundary"] = {0: "batch", 1: "time"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.onnx.export(net, inputs, str(path), input_names=names, output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    return path


def export_torchscript(net: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> Path:
    """Write ``net`` traced to TorchScript (shapes stay symbolic, so any batch and time length run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # NOTE: torch 2.14 marks TorchScript deprecated (in favour of torch.export); it stays for
        # libtorch (C++) deployments, which load it without Python.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, inputs, check_trace=False)
        torch.jit.save(traced, str(path))
    return path


def onnx_session(path: Path, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session (``threads=0``: ONNX Runtime's default, all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_exported(path: Path, file_format: str, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The exported model's logits on ``inputs``."""
    if file_format == "onnx":
        feeds = {name: tensor.numpy() for name, tensor in zip(input_names(len(inputs) == 3), inputs)}
        return torch.from_numpy(onnx_session(path).run(["logits"], feeds)[0])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice, given once at export
        return torch.jit.load(str(path))(*inputs)


def max_difference(path: Path, file_format: str, net: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """Largest absolute difference between the exported model's and PyTorch's logits on ``inputs``."""
    with torch.no_grad():
        expected = net(*inputs)
    return float((run_exported(path, file_format, inputs) - expected).abs().max())


def export_words(cfg: DictConfig, checkpoint: Checkpoint) -> Path:
    """Export the word checkpoint ``cfg.ckpt`` as ``cfg.format``; verify at another time length; write the JSON sidecar."""
    if cfg.format not in SUFFIXES:
        raise ConfigError(f"unknown export format={cfg.format!r}; valid formats: {', '.join(SUFFIXES)}")
    spec = checkpoint.input
    if spec["modality"] != "video":
        raise ConfigError(f"{checkpoint.path} reads {spec['modality']} (modality={spec['modality']}); export.py exports "
                          "video-only word classifiers")
    frames = cfg.example_frames or spec["num_frames"]
    if not frames:
        raise ConfigError(f"{checkpoint.path} reads clips of any length: give the tracing example's length, "
                          "export.py ckpt=... example_frames=N (e.g. 29)")
    frames = int(frames)
    task, _ = restore_task(checkpoint)
    net = optimize_for_inference(task.net) if cfg.optimize else task.net.eval()
    channels, size, use_boundary = spec["channels"], spec["crop_size"], spec["use_boundary"]
    output = Path(cfg.output or Path(cfg.paths.output_dir) / f"model{SUFFIXES[cfg.format]}")

    start = time.perf_counter()
    inputs = example_inputs(channels, frames, size, use_boundary=use_boundary)
    if cfg.format == "onnx":
        export_onnx(net, inputs, output, cfg.opset)
    else:
        export_torchscript(net, inputs, output)
    seconds = time.perf_counter() - start
    check_frames = int(cfg.check_frames or frames + 11)
    check_inputs = example_inputs(channels, check_frames, size, batch=3, use_boundary=use_boundary, seed=1)
    difference = max_difference(output, cfg.format, net, check_inputs)
    if not difference <= cfg.tolerance:
        raise ConfigError(
            f"{output}: the exported model's logits differ from PyTorch's by {difference:.2e} at {check_frames} "
            f"frames (tolerance {cfg.tolerance}); the model has an operation the {cfg.format} export does not "
            "keep dynamic in time"
        )
    vocabulary = checkpoint.vocabulary
    atomic_write_json(output.with_name(output.name + ".json"), {
        "checkpoint": str(cfg.ckpt),
        "format": cfg.format,
        "inputs": {
            "video": f"float32 (batch, {channels}, time, {size}, {size}): uint8 frames centre-cropped to "
                     f"{size}x{size}, scaled to [0, 1], then (x - mean) / std",
            "lengths": "int64 (batch,): valid frames of each clip (frames beyond are padding)",
            **({"boundary": "float32 (batch, time): 1 inside the target word"} if use_boundary else {}),
        },
        "output": "logits float32 (batch, num_classes); class i is vocabulary[i]",
        "mean": spec["mean"],
        "std": spec["std"],
        "crop_size": size,
        "fps": spec["fps"],
        "example_frames": frames,
        "checked_at_frames": check_frames,
        "max_abs_difference": difference,
        "vocabulary": vocabulary,
    })
    log.info("exported %s to %s in %.1f s; at %d frames its logits are within %.1e of PyTorch's",
             cfg.ckpt, output, seconds, check_frames, difference)
    print(f"{output} ({cfg.format}; max |difference| to PyTorch at {check_frames} frames: {difference:.2e})")
    return output


def onnx_latency(path: Path, inputs: tuple[torch.Tensor, ...], threads: int, repeats: int) -> float:
    """Median seconds per ONNX Runtime CPU run of ``inputs`` after two warm-up runs."""
    session = onnx_session(path, threads)
    feeds = {name: tensor.numpy() for name, tensor in zip(input_names(len(inputs) == 3), inputs)}
    times = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        session.run(["logits"], feeds)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times))
