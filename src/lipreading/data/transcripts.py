"""The transcripts of a sentence dataset as token sequences, to train a token language model on text.

:class:`TranscriptDataModule` wraps a sentence datamodule (``data.sentences``: any of ``data/``'s
sentence configs) and reads the texts of its manifests (``{split}.csv``), never its clips. Its units
are that datamodule's (built from the same training transcripts), so a language model trained on
them has the units of a lipreading model trained on the same dataset, which shallow fusion needs.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from lipreading.data.loaders import EpochShuffleSampler, ResumableLoader, ShardSampler, rank_and_world_size, run_seed
from lipreading.data.sentence_datamodules import SentenceDataModule
from lipreading.data.tokenizer import Units
from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)


class TranscriptDataset(Dataset):
    """The token ids of each text (``units.encode``), without ``<bos>``/``<eos>``."""

    def __init__(self, texts: list[str], units: Units) -> None:
        self.texts = texts
        self.tokens = [torch.tensor(units.encode(text), dtype=torch.long) for text in texts]

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"tokens": self.tokens[index], "text": self.texts[index]}


def collate_transcripts(items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Tokens padded with ``pad_id`` to the longest in the batch: ``tokens`` (B, L), ``token_lengths`` (B,)."""
    token_lengths = torch.tensor([len(item["tokens"]) for item in items])
    tokens = torch.full((len(items), int(token_lengths.max())), pad_id, dtype=torch.long)
    for b, item in enumerate(items):
        tokens[b, : token_lengths[b]] = item["tokens"]
    return {"tokens": tokens, "token_lengths": token_lengths, "text": [item["text"] for item in items]}


class TranscriptDataModule(pl.LightningDataModule):
    """The train/val/test transcripts of ``sentences`` (a sentence datamodule) as batches of token ids."""

    def __init__(self, sentences: SentenceDataModule, batch_size: int = 64, eval_batch_size: int | None = None,
                 num_workers: int = 0) -> None:
        super().__init__()
        if not isinstance(sentences, SentenceDataModule):
            raise ConfigError(f"data.sentences must be a sentence dataset config (e.g. data/synthetic_sentences), "
                              f"got {type(sentences).__name__}")
        self.sentences = sentences
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers = num_workers
        self.datasets: dict[str, TranscriptDataset] = {}

    @property
    def tokenizer(self) -> Units:
        """The sentence dataset's units (built from its training transcripts, or assigned by eval.py)."""
        return self.sentences.tokenizer

    @tokenizer.setter
    def tokenizer(self, units: Units) -> None:
        self.sentences.tokenizer = units
        self.datasets.clear()

    def prepare_data(self) -> None:
        self.sentences.prepare_data()  # the synthetic data is rendered on first use

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        for split in splits[stage] if stage else ("train", "val", "test"):
            if split not in self.datasets:
                texts = [u.text for u in self.sentences.utterances(split)]
                self.datasets[split] = TranscriptDataset(texts, self.tokenizer)
                log.info("%s: %d transcripts, %d tokens", split, len(texts), sum(len(t) for t in self.datasets[split].tokens))

    def _collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_transcripts(items, self.tokenizer.pad_id)

    def train_dataloader(self) -> DataLoader:
        rank, world_size = rank_and_world_size(self.trainer)
        dataset = self.datasets["train"]
        sampler = EpochShuffleSampler(len(dataset), run_seed(), rank, world_size)  # resumable, keyed by the run's seed
        return ResumableLoader(dataset, sampler, self.batch_size, num_workers=self.num_workers, collate_fn=self._collate)

    def _ordered(self, split: str) -> DataLoader:
        dataset = self.datasets[split]
        return DataLoader(dataset, batch_size=self.eval_batch_size, num_workers=self.num_workers, collate_fn=self._collate,
                          sampler=ShardSampler(len(dataset), *rank_and_world_size(self.trainer)))

    def val_dataloader(self) -> DataLoader:
        return self._ordered("val")

    def test_dataloader(self) -> DataLoader:
        return self._ordered("test")
