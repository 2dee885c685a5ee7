"""Training throughput on LRW-shaped clips, data loader included: our training step beside the reference's.

    python -m benchmarks.gpu_training_throughput --reference /tmp/ref              # a GPU: bf16-mixed, batch 32
    python -m benchmarks.gpu_training_throughput --device cpu --steps 2            # smoke run, tiny sizes

Both sides read the same synthetic clips from disk (random 29x96x96 uint8 mouth crops, LRW's shape; 500 word
folders by default) through their own data loaders with the same number of workers, and train the same
architecture (``--model``, default ``resnet18_mstcn``; the reference's ``configs/<json>`` of the same zoo entry).
The CPU smoke run (``--device cpu``) shows that both sides run: batch 2, 4 words, ``shufflenet0.5_tcn``, float32.

- ours: ``python train.py model=<model> data=lrw trainer=gpu`` as built by ``lipreading.run.build`` (the
  ``WordDataModule`` loader, the batched on-device crop/flip/time-mask transform, ``WordClassificationTask``'s
  step with its optimiser, gradient clipping and ``--precision``, bf16-mixed by default on a GPU); the frontends
  run their 2D trunks channels-last. Lightning's ``Trainer.fit`` runs ``--warmup`` + ``--steps`` steps.
- the reference: its ``main.py`` training loop (``train()``) re-created around its own modules, run by path in
  another process with ``--reference`` first on its path (``benchmarks/reference_training_step.py``): its
  ``MyDataset`` with its training preprocessing (CPU, in the loader's workers), ``pad_packed_collate``,
  mixup (alpha 0.4), AdamW (lr 3e-4, weight decay 1e-2), cross-entropy, float32 as its ``main.py`` trains.

samples/s: clips per second of wall time from the end of the warm-up steps to the end of the last step (loading
included, the device synchronised at every step's end); peak memory: ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from lipreading.data.clip import Clip, save_clip
from lipreading.interop.tcn_reference import ZOO
from lipreading.run.build import build_task

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_HELPER = Path(__file__).resolve().with_name("reference_training_step.py")
FRAMES, SIZE, WORD_SECONDS = 29, 96, 0.44


def write_clips(root: Path, words: int, per_word: int, seed: int = 0) -> list[str]:
    """Random LRW-shaped clips in both layouts: ours (``ours/WORD/{train,val}/WORD_0000i.npz``, our clip format)
    and the reference's (``reference/WORD/train/WORD_0000i.npz`` with a ``data`` array and LRW's ``.txt``)."""
    rng = np.random.default_rng(seed)
    names = [f"WORD{i:03d}" for i in range(words)]
    for word in names:
        for split, count in (("train", per_word), ("val", 1)):
            for i in range(count):
                video = rng.integers(0, 256, (FRAMES, SIZE, SIZE), dtype=np.uint8)
                start = (FRAMES / 25 - WORD_SECONDS) / 2
                save_clip(root / "ours" / word / split / f"{word}_{i + 1:05d}.npz",
                          Clip(video=video, label=word, word_start=start, word_end=start + WORD_SECONDS))
                if split == "train":
                    theirs = root / "reference" / word / split / f"{word}_{i + 1:05d}"
                    theirs.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(theirs.with_suffix(".npz"), data=video)
                    # LRW's metadata: the reference reads the word's duration from the fifth line.
                    theirs.with_suffix(".txt").write_text(
                        f"Text:  {word}\nConf:  0\n\nWORD START END ASDSCORE\nDuration: {WORD_SECONDS:.2f} seconds\n")
    (root / "labels.txt").write_text("\n".join(names) + "\n")
    return names


class StepTimer(pl.Callback):
    """Wall-clock time at the end of every training step (the device synchronised first)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def rate(ends: list[float], warmup: int, batch_size: int) -> float:
    """Samples per second from the end of step ``warmup`` to the end of the last step."""
    return (len(ends) - warmup) * batch_size / (ends[-1] - ends[warmup - 1])


def measure_ours(args: argparse.Namespace, data_root: Path, words: int, out: Path) -> dict[str, float]:
    """Our training step (Lightning ``fit`` of ``model=<model> data=lrw``) on the clips under ``data_root``."""
    overrides = [f"model={args.model}", "data=lrw", f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}",
                 f"data.root={data_root}", f"data.num_classes={words}", f"data.batch_size={args.batch_size}",
                 f"data.num_workers={args.workers}", f"trainer.precision={args.precision}"]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    pl.seed_everything(0)
    datamodule = instantiate(cfg.data)
    task = build_task(cfg)
    timer = StepTimer()
    trainer = pl.Trainer(accelerator="gpu" if args.device == "cuda" else "cpu", devices=1,
                         precision=args.precision, max_steps=args.warmup + args.steps, limit_val_batches=0,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
                         gradient_clip_val=cfg.trainer.gradient_clip_val, benchmark=args.device == "cuda",
                         default_root_dir=str(out))
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(task, datamodule=datamodule)
    peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else float("nan")
    return {"samples_per_s": rate(timer.ends, args.warmup, args.batch_size), "peak_bytes": peak}


def measure_reference(args: argparse.Namespace, data_root: Path) -> dict[str, float] | None:
    """The reference's ``main.py`` training step in its own process (None, with a message, without a checkout)."""
    if not (args.reference / "main.py").is_file():
        print(f"No reference checkout at {args.reference} (no main.py): the reference's row is skipped. Clone "
              "github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks and pass --reference PATH.")
        return None
    entry = next(e for e in ZOO.values() if e.model == args.model and e.modality == "video" and not e.use_boundary)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, str(REFERENCE_HELPER), "--reference", str(args.reference), "--config",
               entry.reference_config, "--data", str(data_root / "reference"), "--labels",
               str(data_root / "labels.txt"), "--device", args.device, "--batch-size", str(args.batch_size),
               "--workers", str(args.workers), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--model", default=None, help="a conf/model word model with a reference zoo entry "
                        "(default: resnet18_mstcn on a GPU, the smallest, shufflenet0.5_tcn, on the CPU)")
    parser.add_argument("--reference", type=Path, default=Path("/tmp/Lipreading_using_Temporal_Convolutional_Networks"))
    parser.add_argument("--batch-size", type=int, help="default: 32 on a GPU (LRW's recipe), 2 on the CPU")
    parser.add_argument("--steps", type=int, default=50, help="timed steps (after --warmup)")
    parser.add_argument("--warmup", type=int, default=None, help="default: 5 on a GPU, 1 on the CPU")
    parser.add_argument("--workers", type=int, default=None, help="loader workers, both sides (default: data=lrw's 8)")
    parser.add_argument("--words", type=int, default=None, help="word folders (classes): 500 on a GPU, 4 on the CPU")
    parser.add_argument("--precision", default=None, help="ours: default bf16-mixed on a GPU, 32-true on the CPU")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here; the smoke run is --device cpu --steps 2")
    args.model = args.model or ("resnet18_mstcn" if args.device == "cuda" else "shufflenet0.5_tcn")
    video_models = sorted({e.model for e in ZOO.values() if e.modality == "video" and not e.use_boundary})
    if args.model not in video_models:
        parser.error(f"--model {args.model!r} has no video entry in the reference's zoo; choose one of "
                     f"{', '.join(video_models)}")
    gpu = args.device == "cuda"
    args.batch_size = args.batch_size or (32 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    if args.warmup < 1 or args.steps < 1:
        parser.error(f"--warmup {args.warmup} and --steps {args.steps} must be at least 1 (the rate starts after a step)")
    args.workers = args.workers if args.workers is not None else (8 if gpu else 0)
    args.precision = args.precision or ("bf16-mixed" if gpu else "32-true")
    words = args.words or (500 if gpu else 4)
    clips = args.batch_size * (args.warmup + args.steps)
    per_word = max(2, -(-clips // words))  # enough training clips for every step in one epoch
    device_name = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{args.model}, {device_name}, batch {args.batch_size}, {args.workers} loader workers, {words} words x "
          f"{per_word} clips of {FRAMES}x{SIZE}x{SIZE} from disk, {args.warmup} warm-up + {args.steps} timed steps, "
          f"torch {torch.__version__}.\n")
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp)
        write_clips(data_root, words, per_word)
        ours = measure_ours(args, data_root / "ours", words, data_root / "run")
        theirs = measure_reference(args, data_root)
    print("| implementation | precision | samples/s | peak GPU memory (GiB) |")
    print("|---|---|---:|---:|")
    rows = [("ours", args.precision, ours)] + ([("reference main.py", "32-true", theirs)] if theirs else [])
    for name, precision, result in rows:
        memory = result["peak_bytes"] / 2**30 if gpu else float("nan")
        print(f"| {name} | {precision} | {result['samples_per_s']:.3g} | {'n/a' if not gpu else f'{memory:.2f}'} |")
    if theirs:
        print(f"\nours / reference: {ours['samples_per_s'] / theirs['samples_per_s']:.2f}x samples/s")


if __name__ == "__main__":
    main()
