"""Speech separators: parameters, MACs per second of audio, training and inference speed on the CPU.

    python -m benchmarks.separation [--steps 3] [--batch-size 16] [--seconds 10]

The audio-visual separator of ``experiment=separation`` and its audio-only baseline
(``modality=audio``), each at the default U-Net widths (8-128 channels, the CPU size of the README's
runs) and at a GPU size (``model.unet.channels=[32,64,128,256,256]``), and the separator of
``experiment=av_separation`` (visual prior, frozen lip frontend). Training: one step of
``SeparationTask`` (forward, SI-SDR loss with PIT for the audio-only model, backward, AdamW) on a
batch of 2-speaker mixtures of 29 frames (1.16 s) at 1 and 2 threads, median of ``--steps`` after one
warm-up. Inference: eval mode, one ``--seconds`` long mixture, 1 thread; the real-time factor is
processing time over audio time. ``FlopCounterMode`` counts 2 FLOPs per multiply-accumulate.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from hydra import compose, initialize_config_dir
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.complexity import CONF
from lipreading.run.build import build_task

WIDE = "model.unet.channels=[32,64,128,256,256]"
# (model, modality, U-Net widths, overrides)
MODELS = [
    ("audio-visual", "av", "8-128 (default)", []),
    ("audio-visual", "av", "32-256", [WIDE]),
    ("audio-visual, visual prior, frozen lip frontend (av_separation)", "av", "8-128 (default)",
     ["model.visual_prior=true", "task.frozen=[video_frontend]"]),
    ("audio-only (PIT)", "audio", "8-128 (default)", []),
    ("audio-only (PIT)", "audio", "32-256", [WIDE]),
]
SAMPLES_PER_FRAME = 640


def build(modality: str, overrides: list[str]):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=separation", f"modality={modality}", *overrides])
    return build_task(cfg)


def batch(size: int, frames: int, speakers: int = 2) -> dict:
    sources = torch.randn(size, speakers, frames * SAMPLES_PER_FRAME)
    return {"mixture": sources.sum(1), "sources": sources, "lengths": torch.full((size,), frames),
            "video": torch.randn(size, 1, frames, 44, 44)}


def train_step_seconds(task, inputs: dict, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    optimizer = torch.optim.AdamW(task.parameters(), lr=1e-3)
    task.train()
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        loss = task.losses(inputs)[0]["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def macs_per_second(task, frames: int = 29) -> float:
    inputs = batch(1, frames)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        task.net(inputs["mixture"], inputs["lengths"], inputs["video"] if task.net.modality == "av" else None)
    return counter.get_total_flops() / 2 / (frames * SAMPLES_PER_FRAME / 16000)


def real_time_factor(task, seconds: float, repeats: int = 2) -> float:
    torch.set_num_threads(1)
    frames = int(seconds * 25)
    inputs = batch(1, frames)
    task.eval()
    run = functools.partial(task.net, inputs["mixture"], inputs["lengths"],
                            inputs["video"] if task.net.modality == "av" else None)
    with torch.inference_mode():
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return statistics.median(times) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"Separators: training batch {args.batch_size} x 1.16 s, inference {args.seconds:g} s, CPU\n")
    print("| model | widths | params (M) | GMACs per s of audio | train mixtures/s, 1 thread | 2 threads | real-time factor, 1 thread |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, modality, widths, overrides in MODELS:
        task = build(modality, overrides)
        params = sum(p.numel() for p in task.parameters()) / 1e6
        inputs = batch(args.batch_size, 29)
        rates = [args.batch_size / train_step_seconds(task, inputs, args.steps, threads) for threads in (1, 2)]
        print(f"| {name} | {widths} | {params:.2f} | {macs_per_second(task) / 1e9:.2f} | {rates[0]:.1f} | "
              f"{rates[1]:.1f} | {real_time_factor(task, args.seconds):.3f} |", flush=True)


if __name__ == "__main__":
    main()
