"""Parameters, MACs, FLOPs and single-clip CPU latency of every ``conf/model/*.yaml``.

Run: ``python -m benchmarks.complexity`` (``--help`` for options). Each model is composed with
Hydra's compose API, built for 500 classes and measured on one clip of 29 frames at 88x88, the
LRW setting. ``FlopCounterMode`` counts a multiply-accumulate as 2 FLOPs; the lipreading papers'
"FLOPs" are MACs. ResNet-18 + MS-TCN: 10.31 G reported, 10.28 GMACs in the reference code, 9.89 here
(the reference pads, convolves, then chomps off frames it has computed; the outputs are the same).
Latency: eval mode, ``torch.inference_mode``, median of repeated runs after warm-up; "optimized" is
the same model after ``lipreading.models.inference.optimize_for_inference`` folds each BatchNorm into
the convolution before it (outputs agree within float rounding); "ONNX Runtime" is that model
exported by ``lipreading.run.word_export.export_onnx`` (what ``export.py`` writes) and run by ONNX Runtime's CPU
provider with the same number of threads. Only word classifiers
(``WordClassifierNet``) are listed; RNN FLOPs are not counted by ``FlopCounterMode``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lipreading.run.word_export import export_onnx, onnx_latency
from lipreading.models.inference import optimize_for_inference

CONF = Path(__file__).resolve().parents[1] / "conf"
WORD_MODEL = "lipreading.models.classifier.WordClassifierNet"


@contextmanager
def model_composer(num_classes: int) -> Iterator:
    """Yield ``name -> model config`` composing ``conf/model/<name>.yaml`` for ``num_classes``."""
    with tempfile.TemporaryDirectory() as tmp:
        primary = Path(tmp) / "complexity.yaml"
        primary.write_text(
            "defaults:\n  - model: null\n  - _self_\n"
            f"data:\n  num_classes: {num_classes}\nsamples_per_frame: 640\nhydra:\n  searchpath:\n    - file://{CONF}\n"
        )
        with initialize_config_dir(config_dir=tmp, version_base="1.3"):
            yield lambda name: compose("complexity", overrides=[f"model={name}"]).model


def count_flops(model: nn.Module, video: torch.Tensor, lengths: torch.Tensor) -> int:
    """FLOPs of one forward pass (2 per multiply-accumulate).

    Counted on a copy in training mode: in eval mode ``nn.TransformerEncoderLayer`` takes a fused
    fast path whose kernel ``FlopCounterMode`` does not count; the arithmetic is the same.
    """
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        copy.deepcopy(model).train()(video, lengths)
    return counter.get_total_flops()


def median_latencies(
    models: list[nn.Module], video: torch.Tensor, lengths: torch.Tensor, repeats: int
) -> list[float]:
    """Median seconds per forward pass of each model, after warm-up.

    The models take turns, so on a shared machine each sees the same background load.
    """
    times: list[list[float]] = [[] for _ in models]
    with torch.inference_mode():
        for i in range(repeats + 2):
            for model, samples in zip(models, times):
                start = time.perf_counter()
                model(video, lengths)
                if i >= 2:
                    samples.append(time.perf_counter() - start)
    return [statistics.median(samples) for samples in times]


def onnx_runtime_latency(model: nn.Module, video: torch.Tensor, lengths: torch.Tensor, threads: int,
                         repeats: int) -> str:
    """Median ONNX Runtime latency in ms as a table cell ("n/a" when the export fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = export_onnx(model, (video, lengths), Path(tmp) / "model.onnx")
        except Exception as e:  # noqa: BLE001 - reported in the table, the other models still run
            print(f"  (ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0][:120]})", file=sys.stderr)
            return "n/a"
        return f"{onnx_latency(path, (video, lengths), threads, repeats) * 1e3:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="conf/model names (default: all)")
    parser.add_argument("--frames", type=int, default=29)
    parser.add_argument("--size", type=int, default=88)
    parser.add_argument("--num-classes", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models or sorted(p.stem for p in (CONF / "model").glob("*.yaml"))

    print(f"One clip of {args.frames}x{args.size}x{args.size}, {args.num_classes} classes, "
          f"CPU latency with {args.threads} thread(s), torch {torch.__version__}.\n")
    print("| model | params (M) | GMACs | GFLOPs | CPU latency (ms) | optimized (ms) | ONNX Runtime (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with model_composer(args.num_classes) as compose_model:
        for name in names:
            cfg = compose_model(name)
            if cfg.get("_target_") != WORD_MODEL:
                continue  # a sentence or audio-visual model: other inputs (or outputs)
            model = instantiate(cfg).eval()
            video = torch.randn(1, cfg.frontend.get("in_channels", 1), args.frames, args.size, args.size)
            lengths = torch.tensor([args.frames])
            params = sum(p.numel() for p in model.parameters())
            flops = count_flops(model, video, lengths)
            optimized = optimize_for_inference(model)
            latency, fused = median_latencies([model, optimized], video, lengths, args.repeats)
            onnx = onnx_runtime_latency(optimized, video, lengths, args.threads, args.repeats)
            print(f"| {name} | {params / 1e6:.2f} | {flops / 2e9:.2f} | {flops / 1e9:.2f} "
                  f"| {latency * 1e3:.0f} | {fused * 1e3:.0f} | {onnx} |", flush=True)


if __name__ == "__main__":
    main()
