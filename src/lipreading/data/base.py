"""What every clip datamodule shares: stage -> splits, evaluation loaders, the device-side transform."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from lipreading.data.loaders import EpochShuffleSampler, ResumableLoader, ShardSampler, rank_and_world_size

from lipreading.data.clip import ClipError, load_clip
from lipreading.utils.errors import ConfigError

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
MODALITY_STREAMS = {"video": ("video",), "audio": ("audio",), "av": ("video", "audio")}
"""The streams a model reads under each ``modality``: ``audio`` and ``av`` add each clip's audio to its video
(the datamodules load the video in every case)."""
MODALITIES = tuple(MODALITY_STREAMS)


def reads_audio(modality: str) -> bool:
    """True when a model of ``modality`` reads the audio (``audio``, ``av``)."""
    return "audio" in MODALITY_STREAMS[modality]


def training_seed() -> int:
    """The run's seed (``seed_everything`` sets torch's initial seed): what training draws are keyed on."""
    return torch.initial_seed() % 2**31


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

    batch_size: int
    eval_batch_size: int
    num_workers: int

    def ordered_loader(self, dataset: Dataset, collate_fn: Any) -> DataLoader:
        """An evaluation loader over ``dataset``: fixed order, every item once over all ranks (this rank's share)."""
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            sampler=ShardSampler(len(dataset), *rank_and_world_size(self.trainer)),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_fn,
            generator=torch.Generator(),
        )

    def shuffled_loader(
        self, dataset: Dataset, collate_fn: Any, source: str, sampler_type: type[EpochShuffleSampler] = EpochShuffleSampler
    ) -> DataLoader:
        """The training loader over ``dataset`` (named ``source`` in errors): shuffled, drop-last, this
        rank's share, resumable mid-epoch, seeded from the run's seed (the same on every rank)."""
        rank, world_size = rank_and_world_size(self.trainer)
        if len(dataset) // world_size < self.batch_size:
            raise ConfigError(
                f"{source}: the training split has {len(dataset)} clips, fewer than one batch "
                f"(data.batch_size={self.batch_size}) per process ({world_size}); lower data.batch_size or add data"
            )
        return ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            seed=training_seed(),
            rank=rank,
            world_size=world_size,
            sampler_type=sampler_type,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_fn,
        )

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
