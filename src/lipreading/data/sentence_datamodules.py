"""Lightning datamodules for sentence-level lipreading (the preprocessed sentence layout, synthetic sentences)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from lipreading.data.base import ClipDataModule, check_modality, reads_audio, require_audio
from lipreading.data.loaders import rank_and_world_size, run_seed
from lipreading.data.sentences import (
    LengthBucketSampler,
    Manifest,
    SentenceClipDataset,
    Utterance,
    collate_sentences,
    keep_utterances,
    read_manifest,
)
from lipreading.data.synthetic.sentences import generate_sentence_dataset
from lipreading.data.tokenizer import CharTokenizer, Units

log = logging.getLogger(__name__)

VideoTransform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
UnitsFactory = Callable[[list[str]], Units]
SPLITS = ("train", "val", "test")


class SentenceDataModule(ClipDataModule):
    """Sentence clips in the preprocessed Chinese-LiPS layout (``ROOT/{split}.csv`` + clips).

    ``units`` are the sentence units, or a function that builds them from the training
    transcripts (``data/units=char``: :meth:`CharTokenizer.build`; ``data/units=sentencepiece``:
    a SentencePiece model trained on them; ``data/units=sentencepiece_file``: a ``.model`` file);
    eval.py assigns the checkpoint's (``datamodule.tokenizer = ...``). Batches group clips of similar length; training leaves out clips
    longer than ``max_frames``. Transforms run on the device after transfer, as for words.
    With ``modality`` ``audio`` or ``av`` items also carry each clip's audio and speaker, for the
    mixtures of speech separation (``data=chinese_lips_separation``); the sentence models read video
    only, so their batches never hold audio. A dataset whose clips have no audio is an error at set-up.
    """

    def __init__(
        self,
        root: str,
        train_transform: VideoTransform,
        eval_transform: VideoTransform,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        max_frames: int | None = None,
        units: Units | UnitsFactory = CharTokenizer.build,
        preload: bool = False,
        setup_hint: str = "",
        modality: str = "video",
        audio_mismatch: str = "trim",
    ) -> None:
        super().__init__()
        self.modality = check_modality(modality)
        self.audio_mismatch = audio_mismatch
        self.root = Path(root)
        self.train_transform, self.eval_transform = train_transform, eval_transform
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.max_frames = max_frames
        self.units = units
        self.preload = preload
        self.setup_hint = setup_hint
        self._tokenizer: Units | None = None
        self._manifests: dict[str, list[Utterance]] = {}
        self.datasets: dict[str, SentenceClipDataset] = {}

    def utterances(self, split: str) -> list[Utterance]:
        """The usable manifest rows of ``split`` (read once; left-out rows are reported)."""
        if split not in self._manifests:
            manifest = self.read_manifest(split)
            manifest.report(str(self.root / f"{split}.csv"))
            if not manifest.utterances:
                raise FileNotFoundError(f"{self.root / f'{split}.csv'}: no usable clips. {self.setup_hint}".strip())
            self._manifests[split] = manifest.utterances
        return self._manifests[split]

    dataset_class: type[SentenceClipDataset] = SentenceClipDataset
    """The dataset that reads a split's clips (a layout whose clips are not the project's files has its own)."""

    def read_manifest(self, split: str) -> Manifest:
        """The clips and transcripts of ``split``: ``root/{split}.csv`` (the project's layout)."""
        return read_manifest(self.root, split, self.setup_hint)

    @property
    def tokenizer(self) -> Units:
        """The sentence units (built from the training transcripts on first use when ``units`` is a factory)."""
        if self._tokenizer is None:
            if not callable(self.units):
                self._tokenizer = self.units
                return self._tokenizer
            self.prepare_data()
            texts = [u.text for u in self.utterances("train")]
            self._tokenizer = self.units(texts)
            log.info("units: %r from %d training transcripts", self._tokenizer, len(texts))
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Units) -> None:
        self._tokenizer = tokenizer
        self.datasets.clear()

    def setup_split(self, split: str) -> None:
        """Index the clips of ``split`` (once)."""
        if split in self.datasets:
            return
        training = split == "train"
        kept, reasons = keep_utterances(
            self.utterances(split), self.tokenizer, self.max_frames if training else None, allow_oov=not training
        )
        for reason, count in reasons.items():
            log.warning("%s: left out %d clip(s): %s", split, count, reason)
        if not kept:
            raise FileNotFoundError(f"{self.root}: no usable '{split}' clips ({dict(reasons)})")
        if self.with_audio:
            require_audio(self.modality, self.root, kept[0].path)
        self.datasets[split] = self.dataset_class(
            kept, self.tokenizer, preload=self.preload, audio=self.with_audio, audio_mismatch=self.audio_mismatch
        )

    @property
    def with_audio(self) -> bool:
        """Whether items carry audio (``modality`` audio or av)."""
        return reads_audio(self.modality)

    def dataloader(self, split: str) -> DataLoader:
        """An evaluation loader over ``split`` (set up first): length-sorted batches in order (this rank's share)."""
        dataset = self.datasets[split]
        rank, world_size = rank_and_world_size(self.trainer)
        sampler = LengthBucketSampler(dataset.lengths, self.eval_batch_size, shuffle=False, rank=rank, world_size=world_size)
        return DataLoader(
            dataset, batch_sampler=sampler, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, collate_fn=partial(collate_sentences, pad_id=self.tokenizer.pad_id),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled length buckets, a function of the run's seed and the epoch, resumable mid-epoch."""
        dataset = self.datasets["train"]
        rank, world_size = rank_and_world_size(self.trainer)
        sampler = LengthBucketSampler(dataset.lengths, self.batch_size, shuffle=True, seed=run_seed(),
                                      rank=rank, world_size=world_size)
        return self.resumable_loader(dataset, sampler, partial(collate_sentences, pad_id=self.tokenizer.pad_id), batch_size=None)

    def stats(self, fps: float = 25.0, bin_seconds: float = 1.0) -> str:
        """Split sizes, a duration histogram, the vocabulary size and the OOV rate of val/test."""
        lines = [f"dataset {self.root}"]
        durations = {}
        for split in SPLITS:
            try:
                utterances = self.utterances(split)
            except FileNotFoundError as e:
                lines.append(f"  {split:5s}: missing ({e})")
                continue
            frames = np.array([u.num_frames for u in utterances])
            durations[split] = frames / fps
            lines.append(
                f"  {split:5s}: {len(utterances):7d} clips  {frames.sum() / fps / 3600:7.2f} h  "
                f"frames min/mean/max {frames.min()}/{frames.mean():.1f}/{frames.max()}  "
                f"characters/clip {np.mean([len(self.tokenizer.normalise(u.text)) for u in utterances]):.1f}  "
                f"units/clip {np.mean([len(self.tokenizer.encode(u.text)) for u in utterances]):.1f}"
            )
        if durations:
            everything = np.concatenate(list(durations.values()))
            edges = np.arange(0.0, everything.max() + bin_seconds, bin_seconds)
            counts, edges = np.histogram(everything, bins=edges if len(edges) > 1 else 1)
            lines.append("duration histogram (all splits):")
            for count, low, high in zip(counts, edges[:-1], edges[1:]):
                lines.append(f"  {low:5.1f}-{high:5.1f} s {count:7d} {'#' * int(round(50 * count / max(counts.max(), 1)))}")
        lines.append(f"vocabulary: {len(self.tokenizer)} tokens ({self.tokenizer!r})")
        for split in ("val", "test"):
            if split in self._manifests:
                texts = [self.tokenizer.normalise(u.text) for u in self._manifests[split]]
                oov = sum(len(self.tokenizer.oov_characters(t)) for t in texts)
                total = sum(len(t) for t in texts)
                with_oov = sum(bool(self.tokenizer.oov_characters(t)) for t in texts)
                lines.append(
                    f"OOV {split}: {oov / max(total, 1):.4f} of characters ({oov}/{total}), "
                    f"{with_oov / max(len(texts), 1):.4f} of clips have one"
                )
        return "\n".join(lines)


class SyntheticSentenceDataModule(SentenceDataModule):
    """The embedded synthetic sentences (``language`` mandarin or english), rendered on first use into ``root`` (cached)."""

    def __init__(
        self,
        root: str,
        train_transform: VideoTransform,
        eval_transform: VideoTransform,
        clips: Mapping[str, int],
        language: str = "mandarin",
        grammar: str = "medium",
        frame_size: int = 48,
        fps: float = 25.0,
        seed: int = 0,
        generation_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, train_transform, eval_transform, **kwargs)
        self.generation = {"clips": dict(clips), "language": language, "grammar": grammar, "frame_size": frame_size,
                           "fps": fps, "seed": seed}
        self.generation_workers = generation_workers

    def prepare_data(self) -> None:
        generate_sentence_dataset(self.root, workers=self.generation_workers, **self.generation)
