"""Cache a distillation teacher's logits on the training clips, so the teacher runs once, not every epoch."""

from __future__ import annotations

import logging
import os
import time

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader

from lipreading.data.word_clips import collate_clips
from lipreading.tasks.teachers import CachedTeacher, FrozenTeacher, cache_file, compute_teacher_logits

log = logging.getLogger(__name__)


class TeacherLogitsCache(Callback):
    """Swaps the task's live teacher for :class:`CachedTeacher` when fit starts.

    The cache holds the teacher's float32 logits on each *un-augmented* training clip (its own
    centre crop and normalisation), keyed by clip path, in
    ``<teacher dir>/teacher_logits/<teacher>-train-<key>.pt``; the key hashes the teacher file
    (path, size, mtime) and the list of clips, so a changed teacher or dataset writes a new file.
    As the live teacher also sees the clean clip, both give the same targets (up to the rounding
    of mixed precision). Size: 4 bytes x classes per clip (LRW: 488,766 x 500 -> about 1 GB).
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        teacher = pl_module.teacher
        if not isinstance(teacher, FrozenTeacher):
            return
        datamodule = trainer.datamodule
        dataset = datamodule.datasets["train"]
        paths = [str(path) for path, _ in dataset.items]
        file = cache_file(teacher, "train", paths)
        if file.is_file():
            stored = torch.load(file, map_location="cpu")
            log.info("teacher logits: read %d clips from %s", len(stored["paths"]), file)
        else:
            start = time.perf_counter()
            # A private generator: a DataLoader draws its workers' base seed from the global generator
            # otherwise, and a run that computes the cache would then train differently from one that reads it.
            loader = DataLoader(dataset, batch_size=datamodule.eval_batch_size, collate_fn=collate_clips,
                                num_workers=datamodule.num_workers, generator=torch.Generator())
            logits_by_path = compute_teacher_logits(teacher, loader, pl_module.device)
            stored = {"paths": list(logits_by_path), "logits": torch.stack(list(logits_by_path.values()))}
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
            torch.save(stored, tmp)
            os.replace(tmp, file)
            log.info("teacher logits: computed %d clips in %.1f s, cached in %s",
                     len(paths), time.perf_counter() - start, file)
        pl_module.teacher = CachedTeacher(dict(zip(stored["paths"], stored["logits"])), teacher)
