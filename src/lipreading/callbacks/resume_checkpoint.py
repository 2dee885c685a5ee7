"""The one checkpoint a run resumes from, and atomic writes for every checkpoint Lightning saves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn

from lipreading.utils.io import atomic_torch_save

RESUME_CHECKPOINT = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through a temporary file beside the target, synced and renamed
    into place (:func:`~lipreading.utils.io.atomic_torch_save`).

    NOTE: Lightning (2.4+) writes through an fsspec transaction, which stages the file in
    ``$TMPDIR`` and moves it: where ``$TMPDIR`` is another filesystem (a cluster node's local disk,
    the run dir on NFS) the move is a copy into the target, so a kill mid-copy leaves a truncated
    checkpoint, and a small ``$TMPDIR`` fills up although the run's disk has room
    (Lightning-AI/pytorch-lightning#21253, #20270); it also holds a second copy of the checkpoint in
    memory and does not fsync. Here a kill at any moment leaves the previous checkpoint whole, and a
    full disk raises :class:`~lipreading.utils.io.DiskFullError` (one line: which file, that the
    previous one is intact, what to do).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options (got {storage_options!r})")
        atomic_torch_save(checkpoint, path)


class ResumeCheckpoint(Checkpoint):
    """Writes ``<dirpath>/last.ckpt``, the run's one resume checkpoint, after every validation and
    every ``every_n_train_steps`` optimizer steps (and once when training ends, if the last state
    is not saved yet).

    What ``resume=auto`` continues from. It holds everything an uninterrupted run carries on with
    (weights, optimizer, schedule, EMA, loop progress, the loader's position, the generators'
    states: :class:`~lipreading.callbacks.exact_resume.ExactResume`), so the resumed run ends
    exactly like one that was never stopped.

    NOTE: no step checkpoint is written at the last batch of an epoch. Lightning resumes such a
    checkpoint at the next epoch, so the validation and the epoch-end hooks of that epoch would
    not run again (the best checkpoint, EMA's epoch updates and the figures would differ); the
    validation-end checkpoint follows right after it anyway. As a checkpoint callback, Lightning
    runs it after every other callback, so nothing draws random numbers after it saved.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int = 200) -> None:
        if every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps={every_n_train_steps}: use 1 or more")
        self.dirpath = Path(dirpath)
        self.path = self.dirpath / RESUME_CHECKPOINT
        self.every_n_train_steps = every_n_train_steps
        self._saved: tuple[int, str] | None = None  # (global step, moment) of the last save

    @property
    def state_key(self) -> str:
        return self._generate_state_key(every_n_train_steps=self.every_n_train_steps)

    def _should_skip(self, trainer: pl.Trainer) -> bool:
        return bool(trainer.fast_dev_run) or trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking

    def _save(self, trainer: pl.Trainer, moment: str) -> None:
        self._saved = (trainer.global_step, moment)
        trainer.save_checkpoint(self.path)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if self._should_skip(trainer) or step == 0 or step % self.every_n_train_steps:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # see the class NOTE
        if self._saved is not None and self._saved[0] == step:
            return  # a batch that took no optimizer step (all its clips skipped) leaves the step as it was
        self._save(trainer, "step")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_skip(trainer):
            self._save(trainer, "validation")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_skip(trainer) and self._saved != (trainer.global_step, "validation"):
            self._save(trainer, "end")
