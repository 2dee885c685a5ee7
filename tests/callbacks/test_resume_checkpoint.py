"""The one resume checkpoint: when it is written, that it is the only last file, and a full disk."""

import errno

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lipreading.callbacks.resume_checkpoint import AtomicCheckpointIO, ResumeCheckpoint
from lipreading.utils.io import DiskFullError
from lipreading.utils.resume import checkpoint_problem


class Linear(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.layer(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader():
    return DataLoader(TensorDataset(torch.randn(10, 4)), batch_size=2)  # 5 steps per epoch


def _fit(tmp_path, **trainer_options):
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[ResumeCheckpoint(str(tmp_path / "checkpoints"), every_n_train_steps=2)],
                         plugins=[AtomicCheckpointIO()], **trainer_options)
    trainer.fit(Linear(), _loader(), _loader())
    return trainer


def test_written_every_n_steps_and_after_every_validation_never_at_an_epochs_last_batch(tmp_path, monkeypatch):
    saves = []
    real = pl.Trainer.save_checkpoint

    def save(trainer, path, *args, **kwargs):
        saves.append((trainer.global_step, "validating" if trainer.validating else "training"))
        return real(trainer, path, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", save)
    _fit(tmp_path)
    # steps 5, 10, 15 end the epochs: their checkpoint is the validation's, not a step's
    assert saves == [(2, "training"), (4, "training"), (5, "validating"), (6, "training"), (8, "training"),
                     (10, "validating"), (12, "training"), (14, "training"), (15, "validating")]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 15


def test_without_validation_the_end_of_training_is_saved(tmp_path):
    _fit(tmp_path, limit_val_batches=0)
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 15


def test_a_full_disk_stops_the_run_with_a_message_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(obj.get("global_step"))
        if len(calls) == 3:  # the third checkpoint (step 5) finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(DiskFullError, match=r"no space left .* last.ckpt .* was left as it was; free some space"):
        _fit(tmp_path)
    monkeypatch.undo()
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert checkpoint_problem(last) is None and torch.load(last, weights_only=False)["global_step"] == 4
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
