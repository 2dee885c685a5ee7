"""Distillation with a live teacher vs. its cached logits: seconds per training epoch on the CPU demo.

Run: ``python -m benchmarks.distillation_cache`` (``--help`` for options). The student is the
narrow model of ``experiment=distill_synthetic_small``, the teacher the default ``small_tcn``
(randomly initialised unless ``--teacher PATH`` is given: the timings do not depend on its
weights), the data the default synthetic words (generated on first use). Each variant trains
``--epochs`` epochs of ``--batches`` batches without validation; the table gives the median epoch
after the first. Building the cache runs the teacher once over the whole training split (the
clean centre crops, see ``lipreading.tasks.teachers``); later runs only read the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from lipreading.run.build import build_task
from lipreading.run.checkpoint import training_record, write_checkpoint

REPO = Path(__file__).resolve().parents[1]


class EpochTimer(pl.Callback):
    """Wall-clock seconds of each training epoch, and of fit start -> first epoch (the cache build)."""

    def __init__(self) -> None:
        self.epochs: list[float] = []
        self.setup_seconds = 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.epochs and not hasattr(self, "_epoch_start"):
            self.setup_seconds = time.perf_counter() - self._fit_start
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epochs.append(time.perf_counter() - self._epoch_start)


def write_random_teacher(path: Path, overrides: list[str]) -> Path:
    """The default model, randomly initialised, saved in train.py's checkpoint format."""
    cfg = compose("train", overrides=overrides)
    task = build_task(cfg)
    datamodule = hydra.utils.instantiate(cfg.data)
    record = {**training_record(cfg), "vocabulary": datamodule.vocabulary}
    return write_checkpoint(path, task.state_dict(), OmegaConf.to_container(cfg, resolve=True), record)


def time_variant(overrides: list[str], epochs: int, batches: int) -> EpochTimer:
    cfg = compose("train", overrides=overrides)
    pl.seed_everything(0)
    datamodule = hydra.utils.instantiate(cfg.data)
    task = build_task(cfg)
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, limit_train_batches=batches, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer], accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(task, datamodule=datamodule)
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="a teacher checkpoint (default: a random small_tcn)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="training batches per epoch")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("LIPREADING_ROOT", str(REPO))
    with tempfile.TemporaryDirectory() as tmp, initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        paths = [f"paths.output_dir={tmp}/run"]
        teacher = args.teacher or str(write_random_teacher(Path(tmp) / "teacher.ckpt", paths))
        student = [*paths, "experiment=distill_synthetic_small"]
        distill = [*student, f"task.teacher.checkpoint={teacher}"]
        variants = [
            ("student alone (no teacher)", [*student, "task=word_classification"]),
            ("distilled, live teacher", [*distill, "task.cache_teacher_logits=false"]),
            ("distilled, cache built", [*distill, "task.cache_teacher_logits=true"]),
            ("distilled, cache read", [*distill, "task.cache_teacher_logits=true"]),
        ]
        rows = []
        for name, overrides in variants:
            timer = time_variant(overrides, args.epochs, args.batches)
            rows.append((name, timer.setup_seconds, statistics.median(timer.epochs[1:] or timer.epochs)))
    base = rows[1][2]
    print(f"\n{args.batches} batches of 16 clips per epoch, {args.threads} threads, torch {torch.__version__}\n")
    print("| variant | fit start -> first epoch (s) | s / epoch | vs live teacher |")
    print("|---|---|---|---|")
    for name, setup, epoch in rows:
        print(f"| {name} | {setup:.1f} | {epoch:.2f} | {base / epoch:.2f}x |")


if __name__ == "__main__":
    main()
