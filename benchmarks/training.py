"""Training throughput (samples/s) of every word model config at the default precision.

    python -m benchmarks.training [models ...] [--batch-size 16] [--steps 3] [--device cpu]

One training step is what ``WordClassificationTask`` does per batch: forward, cross-entropy with
label smoothing, backward, AdamW step. Inputs are random clips of 29 frames at the crop size the
model is trained on (the CPU demo model ``small_tcn``: 44x44; the published ones: 88x88), 500
classes (20 for ``small_tcn``, as in the demo). The precision is the trainer's default
(``trainer=default``: 32-true; ``--precision bf16-mixed`` for the GPU recipe). Median of
``--steps`` steps after one warm-up step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from benchmarks.complexity import CONF, WORD_MODEL, model_composer

# The crop size and classes each model is trained with (the CPU demo model at its data's size).
DEMO_MODEL = {"small_tcn": (44, 20)}
PUBLISHED = (88, 500)


def step_seconds(model: torch.nn.Module, video: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                 steps: int, precision: str) -> float:
    """Median seconds of one training step (after one warm-up step)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
    dtype = torch.bfloat16 if precision.startswith("bf16") else torch.float16
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast(video.device.type, dtype=dtype, enabled=precision.endswith("mixed")):
            logits = model(video, lengths)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if video.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="conf/model names (default: every word model)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="32-true", help="32-true (trainer=default), bf16-mixed, 16-mixed")
    args = parser.parse_args()
    names = args.models or sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
    print(f"Training step (forward, loss, backward, AdamW) on {args.device}, batch {args.batch_size}, "
          f"{args.precision}, {torch.get_num_threads()} threads, torch {torch.__version__}.\n")
    print("| model | input | classes | step (s) | samples/s |")
    print("|---|---|---:|---:|---:|")
    for name in names:
        size, classes = DEMO_MODEL.get(name, PUBLISHED)
        with model_composer(classes) as compose_model:
            cfg = compose_model(name)
        if cfg.get("_target_") != WORD_MODEL:
            continue  # a sentence model
        torch.manual_seed(0)
        model = instantiate(cfg).to(args.device).train()
        channels = cfg.frontend.get("in_channels", 1)
        video = torch.randn(args.batch_size, channels, 29, size, size, device=args.device)
        lengths = torch.full((args.batch_size,), 29, device=args.device)
        labels = torch.randint(0, classes, (args.batch_size,), device=args.device)
        seconds = step_seconds(model, video, lengths, labels, args.steps, args.precision)
        print(f"| {name} | 29x{size}x{size} | {classes} | {seconds:.2f} | {args.batch_size / seconds:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
