"""The reference's ``main.py`` training step, timed (helper of ``gpu_training_throughput``; run by path).

    python benchmarks/reference_training_step.py --reference PATH --config lrw_resnet18_mstcn.json \
        --data DIR --labels FILE [--device cuda] [--batch-size 32] [--workers 8] [--steps 50]

``PATH`` is a checkout of github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks kept outside this
repository; its ``lipreading`` package (this project's package name) is registered from there, and nothing of
ours is imported. The loop is its ``main.py`` ``train()``: ``MyDataset`` over ``DIR/WORD/train/*.npz`` (with
LRW's ``.txt`` files beside them for its variable-length augmentation) and its training preprocessing,
``pad_packed_collate``, mixup with alpha 0.4, AdamW (lr 3e-4, weight decay 1e-2), cross-entropy, float32, and
its per-step ``.item()`` bookkeeping. Prints one JSON line: samples/s after ``--warmup`` steps and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

from reference_latency import build_reference, register_reference  # this folder's helper: nothing of ours


def without_librosa() -> None:
    """An empty ``librosa`` module where librosa is not installed.

    NOTE: the reference's dataset module imports librosa at the top but needs it only to read .mp4 audio; the
    .npz video clips read here never reach it.
    """
    try:
        import librosa  # noqa: F401
    except ImportError:
        sys.modules["librosa"] = types.ModuleType("librosa")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    import torch
    import torch.nn as nn

    reference = args.reference.resolve()
    register_reference(reference)
    without_librosa()
    from lipreading.dataloaders import get_preprocessing_pipelines
    from lipreading.dataset import MyDataset, pad_packed_collate
    from lipreading.mixup import mixup_criterion, mixup_data

    labels = args.labels.read_text().split()
    model = build_reference(reference, args.config, "video", len(labels)).to(args.device).train()
    dataset = MyDataset(modality="video", data_partition="train", data_dir=str(args.data), label_fp=str(args.labels),
                        annonation_direc=str(args.data), preprocessing_func=get_preprocessing_pipelines("video")["train"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=pad_packed_collate,
                                         pin_memory=args.device == "cuda", num_workers=args.workers, drop_last=True)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=1e-2)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ends, running_loss, running_corrects = [], 0.0, 0.0
    while len(ends) < args.warmup + args.steps:
        for inputs, lengths, labels_ in loader:  # main.py train(): one step per batch
            inputs, labels_a, labels_b, lam = mixup_data(inputs, labels_, 0.4)
            labels_a, labels_b = labels_a.to(args.device), labels_b.to(args.device)
            optimizer.zero_grad()
            logits = model(inputs.unsqueeze(1).to(args.device), lengths=lengths, boundaries=None)
            loss = mixup_criterion(labels_a, labels_b, lam)(criterion, logits)
            loss.backward()
            optimizer.step()
            _, predicted = torch.max(torch.nn.functional.softmax(logits, dim=1).data, dim=1)
            running_loss += loss.item() * inputs.size(0)
            running_corrects += (lam * predicted.eq(labels_a.view_as(predicted)).sum().item()
                                 + (1 - lam) * predicted.eq(labels_b.view_as(predicted)).sum().item())
            if args.device == "cuda":
                torch.cuda.synchronize()
            ends.append(time.perf_counter())
            if len(ends) == args.warmup + args.steps:
                break
    seconds = ends[-1] - ends[args.warmup - 1]
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else float("nan")
    print(json.dumps({"samples_per_s": args.steps * args.batch_size / seconds, "peak_bytes": peak}))


if __name__ == "__main__":
    main()
