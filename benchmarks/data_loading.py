"""Training-loader throughput (clips/s) from the preprocessed ``.npz`` clip format.

    python -m benchmarks.data_loading [--clips 640]

For each data config the loader is built as training builds it (``WordDataModule.train_dataloader``:
shuffled, batched, collated uint8 video) with the config's batch size and ``num_workers`` (its
default) and with one worker per core, over synthetic clips rendered at the config's frame size.
"from disk" reads each clip file every epoch (``preload=false``); "in memory" is ``preload=true``
(the small synthetic default). The last column is the config's training transform (random crop,
flip, time mask, normalisation), which runs batched on the training device after transfer: on
CPU it is part of the input cost. Compare with ``python -m benchmarks.training``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import hydra
import torch
from hydra import compose, initialize_config_dir

from lipreading.data.datamodules import WordDataModule
from lipreading.data.synthetic import default_vocabulary, generate_word_dataset

CONF = Path(__file__).resolve().parents[1] / "conf"
CONFIGS = ("synthetic_words", "synthetic_words_lrw_geometry", "lrw")


def data_config(name: str) -> object:
    """``conf/data/<name>.yaml`` composed within the training config."""
    os.environ.setdefault("LIPREADING_ROOT", str(CONF.parent))
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", [f"data={name}"]).data


def loader_rate(datamodule: WordDataModule, clips: int) -> float:
    """Clips per second over the training loader, after its first batch (workers started)."""
    loaded, start = 0, 0.0
    while loaded < clips:
        for i, batch in enumerate(datamodule.train_dataloader()):
            if start == 0.0:
                start = time.perf_counter()  # steady state: after the first batch
                continue
            loaded += len(batch["label"])
            if loaded >= clips:
                break
    return loaded / (time.perf_counter() - start)


def transform_rate(datamodule: WordDataModule, batches: int = 10) -> float:
    """Clips per second of the training transform on CPU batches."""
    batch = next(iter(datamodule.train_dataloader()))
    start = time.perf_counter()
    for _ in range(batches):
        datamodule.train_transform(batch["video"], batch["lengths"])
    return batches * len(batch["label"]) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=640, help="clips read per measurement")
    parser.add_argument("--words", type=int, default=10)
    parser.add_argument("--per-word", type=int, default=64, help="training clips rendered per word")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"Training loader over {args.words * args.per_word} clips of 29 frames, {cores} CPU cores, "
          f"torch {torch.__version__}.\n")
    print("| data config | frames | batch | source | workers | loader clips/s | train transform clips/s (CPU) |")
    print("|---|---|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            data = data_config(name)
            size = int(data.get("frame_size", 96))
            root = Path(tmp) / f"{size}px"
            words = default_vocabulary(args.words)
            generate_word_dataset(root, words, {"train": args.per_word, "val": 1, "test": 1}, frame_size=size,
                                  progress=False)
            sources = [("from disk", False)] + ([("in memory", True)] if data.preload else [])
            for source, preload in sources:
                for workers in sorted({int(data.num_workers), cores}):
                    datamodule = WordDataModule(
                        str(root), len(words), hydra.utils.instantiate(data.train_transform),
                        hydra.utils.instantiate(data.eval_transform), vocabulary=words,
                        batch_size=int(data.batch_size), num_workers=workers, preload=preload,
                    )
                    datamodule.setup("fit")
                    rate = loader_rate(datamodule, args.clips)
                    augment = transform_rate(datamodule)
                    default = " (default)" if workers == data.num_workers else ""
                    print(f"| {name} | {size}x{size} | {data.batch_size} | {source} | {workers}{default} "
                          f"| {rate:.0f} | {augment:.0f} |", flush=True)


if __name__ == "__main__":
    main()
