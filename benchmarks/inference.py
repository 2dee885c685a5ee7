"""Inference latency of every word model config: 1 thread and all threads, batch 1 and batch 32.

    python -m benchmarks.inference [models ...] [--batches 1 32] [--repeats 3]

Eval mode, ``torch.inference_mode``, BatchNorms folded (``optimize_for_inference``, what
``export.py`` exports), clips of 29 frames at the model's crop size (see ``benchmarks.training``).
Median of ``--repeats`` runs after warm-up; per batch and per clip.
"""

from __future__ import annotations

import argparse

import torch
from hydra.utils import instantiate

from benchmarks.complexity import CONF, WORD_MODEL, median_latencies, model_composer
from benchmarks.training import DEMO_MODEL, PUBLISHED
from lipreading.models.inference import optimize_for_inference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="conf/model names (default: every word model)")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    all_threads = torch.get_num_threads()
    thread_counts = sorted({1, all_threads})
    names = args.models or sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
    print(f"CPU inference latency, ms per batch (ms per clip), {all_threads} threads = all, "
          f"torch {torch.__version__}.\n")
    columns = [(t, b) for b in args.batches for t in thread_counts]
    print("| model | input | " + " | ".join(f"batch {b}, {t} thread{'s' * (t > 1)}" for t, b in columns) + " |")
    print("|---|---|" + "---:|" * len(columns))
    for name in names:
        size, classes = DEMO_MODEL.get(name, PUBLISHED)
        with model_composer(classes) as compose_model:
            cfg = compose_model(name)
        if cfg.get("_target_") != WORD_MODEL:
            continue
        model = optimize_for_inference(instantiate(cfg))
        cells = []
        for threads, batch in columns:
            torch.set_num_threads(threads)
            video = torch.randn(batch, cfg.frontend.get("in_channels", 1), 29, size, size)
            lengths = torch.full((batch,), 29)
            (seconds,) = median_latencies([model], video, lengths, args.repeats)
            cells.append(f"{seconds * 1e3:.0f} ({seconds * 1e3 / batch:.1f})")
        torch.set_num_threads(all_threads)
        print(f"| {name} | 29x{size}x{size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
