"""What every clip datamodule shares: stage -> splits, evaluation loaders, the device-side transform."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from lipreading.data.clip import ClipError, load_clip
from lipreading.utils.errors import ConfigError

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
MODALITIES = ("video", "audio", "av")
"""What a datamodule loads for its model: ``audio`` and ``av`` add each clip's audio to its video."""


def check_modality(modality: str) -> str:
    """``modality``, or a ConfigError naming it and the valid ones."""
    if modality not in MODALITIES:
        raise ConfigError(f"modality={modality!r} is not one of {', '.join(MODALITIES)}")
    return modality


def require_audio(modality: str, root: Path, first_clip: Path) -> None:
    """Stop at set-up when a dataset's clips have no audio (judged by ``first_clip``, its first one)."""
    try:
        clip = load_clip(first_clip, {"audio", "sample_rate"})
    except ClipError:
        return  # an unreadable clip is skipped later, with its own message
    if clip.audio is None:
        raise ConfigError(
            f"modality={modality} needs audio, but the clips of {root} have none ({first_clip}); use "
            f"modality=video, or clips with audio (data=synthetic_av_words, or preprocess with roi.audio=true)"
        )


class ClipDataModule(pl.LightningDataModule):
    """Base of the word and sentence datamodules.

    Subclasses index a split in :meth:`setup_split`, build its loader in :meth:`dataloader`
    and set ``train_transform`` / ``eval_transform`` (batched video transforms that run on the
    training device after transfer). ``predict_split`` is the split ``trainer.predict`` runs
    over (eval.py sets it).
    """

    predict_split = "test"
    train_transform: Any
    eval_transform: Any

    @abstractmethod
    def setup_split(self, split: str) -> None:
        """Index the clips of ``split`` (once)."""

    @abstractmethod
    def dataloader(self, split: str) -> DataLoader:
        """An evaluation loader over ``split`` (set up first)."""

    def setup(self, stage: str | None = None) -> None:
        splits = {**STAGE_SPLITS, "predict": (self.predict_split,)}
        for split in splits[stage] if stage else ("train", "val", "test"):
            self.setup_split(split)

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")

    def predict_dataloader(self) -> DataLoader:
        return self.dataloader(self.predict_split)

    @property
    def training(self) -> bool:
        """True while the attached trainer trains (the batches get the training augmentation)."""
        return self.trainer is not None and self.trainer.training

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        if "video" not in batch:  # a batch of only unreadable clips
            return batch
        transform = self.train_transform if self.training else self.eval_transform
        batch["video"] = transform(batch["video"], batch["lengths"])
        return batch
