"""Sentence clips in the preprocessed Chinese-LiPS layout: ``ROOT/{split}.csv`` + ``ROOT/{split}/ID.npz``.

The manifest has the columns ``id,path,num_frames,text`` (``path`` relative to ``ROOT``); the
MediaPipe preprocessing of Chinese-LiPS and the synthetic Mandarin renderer both write it.
Bad input never stops an epoch: a manifest without its columns raises a one-line error, rows
that cannot be used (missing or unreadable video, bad frame count, empty text, characters
outside the vocabulary in training) are counted, reported once and left out.
With audio (``preprocess.py dataset=chinese_lips ... roi.audio=true``) the clips also serve speech
separation (:mod:`lipreading.data.separation`); the sentence models read video only.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from tqdm import tqdm

from lipreading.data.audio import AUDIO_FIELDS, AudioError, check_mismatch_policy, clip_audio
from lipreading.data.clip import TRAINING_FIELDS, Clip, SkippedClips, grayscale_video, load_clip
from lipreading.data.loaders import EpochShuffleSampler
from lipreading.data.tokenizer import Units
from lipreading.utils.errors import UserError

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("id", "path", "num_frames", "text")


class ManifestError(UserError):
    """A manifest that is missing or lacks required columns."""


@dataclass(frozen=True)
class Utterance:
    """One manifest row: a clip file and its transcript."""

    id: str
    path: Path
    num_frames: int
    text: str


@dataclass
class Manifest:
    """The usable rows of one split and a line for every row left out."""

    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def report(self, name: str) -> None:
        if self.skipped:
            log.warning("%s: %d row(s) left out, e.g. %s", name, len(self.skipped), "; ".join(self.skipped[:3]))


def read_manifest(root: str | Path, split: str, setup_hint: str = "") -> Manifest:
    """The rows of ``root/{split}.csv`` whose clip exists and whose fields parse."""
    root = Path(root)
    path = root / f"{split}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist. {setup_hint}".strip())
    manifest = Manifest()
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(
                f"{path}: missing column(s) {', '.join(missing)}; a manifest needs the header "
                f"'{','.join(MANIFEST_COLUMNS)}' (found {reader.fieldnames})"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path.name}:{line}"
            text = (row["text"] or "").strip()
            clip = root / (row["path"] or "").strip()
            try:
                num_frames = int(row["num_frames"])
            except (TypeError, ValueError):
                manifest.skipped.append(f"{where}: num_frames {row['num_frames']!r} is not a whole number")
                continue
            if not text:
                manifest.skipped.append(f"{where}: empty text")
            elif not row["path"] or not clip.is_file():
                manifest.skipped.append(f"{where}: clip {clip} not found")
            elif num_frames < 1:
                manifest.skipped.append(f"{where}: num_frames {num_frames} < 1")
            else:
                manifest.utterances.append(Utterance((row["id"] or clip.stem).strip(), clip, num_frames, text))
    return manifest


def keep_utterances(
    utterances: Sequence[Utterance], tokenizer: Units, max_frames: int | None, allow_oov: bool
) -> tuple[list[Utterance], Counter]:
    """The utterances fit for a split, and the count of each reason for leaving one out.

    Training (``allow_oov=False``) leaves out clips longer than ``max_frames`` and transcripts
    with characters the tokenizer lacks (it could only learn ``<unk>`` from them); evaluation
    keeps every clip, so its CER covers the whole split.
    """
    kept, reasons = [], Counter()
    for u in utterances:
        if not tokenizer.normalise(u.text):
            reasons["text empty after normalisation"] += 1
        elif max_frames is not None and u.num_frames > max_frames:
            reasons[f"longer than max_frames={max_frames}"] += 1
        elif not allow_oov and tokenizer.oov_characters(u.text):
            reasons["characters outside the vocabulary"] += 1
        else:
            kept.append(u)
    return kept, reasons


class SentenceClipDataset(Dataset):
    """Sentence clips; each item is uint8 video (T, H, W), token ids, the reference text and ids.

    An unreadable clip is logged once and its item becomes ``None``, which
    :func:`collate_sentences` drops and counts. ``preload`` reads every clip into memory once
    (uint8, about 2.3 kB per 48x48 frame).
    With ``audio`` items also carry the clip's 16 kHz audio, exactly 640 samples per frame, and its
    ``speaker`` ('' when unknown), as word clips do: a clip without audio is skipped with a message,
    one whose audio and video lengths disagree by more than a frame is trimmed or skipped (``audio_mismatch``).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        tokenizer: Units,
        preload: bool = False,
        audio: bool = False,
        audio_mismatch: str = "trim",
    ) -> None:
        check_mismatch_policy(audio_mismatch)
        self.utterances = list(utterances)
        self.tokenizer = tokenizer
        self.audio, self.audio_mismatch = audio, audio_mismatch
        self.skipped = SkippedClips()
        self._cache: list[dict[str, Any] | None] | None = None
        if preload:
            self._cache = [self._read(i) for i in tqdm(range(len(self)), desc="loading clips", leave=False)]

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def lengths(self) -> list[int]:
        """Frames of each clip as the manifest says (for length bucketing)."""
        return [u.num_frames for u in self.utterances]

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        return self._cache[index] if self._cache is not None else self._read(index)

    def load(self, utterance: Utterance) -> Clip:
        """The clip of ``utterance`` (a file of the project's clip format)."""
        return load_clip(utterance.path, TRAINING_FIELDS | AUDIO_FIELDS if self.audio else TRAINING_FIELDS)

    def _read(self, index: int) -> dict[str, Any] | None:
        u = self.utterances[index]
        try:
            clip = self.load(u)
        except UserError as e:  # an unreadable or malformed clip file, named in the message
            return self.skipped.skip(u.path, e)
        item = {
            "video": torch.from_numpy(grayscale_video(clip)),
            "tokens": torch.tensor(self.tokenizer.encode(u.text), dtype=torch.long),
            "text": self.tokenizer.normalise(u.text),
            "id": u.id,
            "path": str(u.path),
        }
        if not self.audio:
            return item
        try:
            audio = clip_audio(clip, u.path, self.audio_mismatch)
        except AudioError as e:
            return self.skipped.skip(u.path, e)
        item["audio"] = torch.from_numpy(audio)
        item["speaker"] = clip.speaker  # mixtures for separation take their interferers from other speakers
        return item


def collate_sentences(items: list[dict[str, Any] | None], pad_id: int) -> dict[str, Any]:
    """Pad video (zeros) and tokens (the units' ``pad_id``) to the longest in the batch; drop and count bad items.

    Items' ``audio`` and ``speaker`` (datasets with audio) are left out: the sentence models read video only.
    """
    good = [item for item in items if item is not None]
    if not good:
        return {"skipped": len(items)}
    lengths = torch.tensor([item["video"].shape[0] for item in good])
    token_lengths = torch.tensor([len(item["tokens"]) for item in good])
    height, width = good[0]["video"].shape[1:3]
    video = torch.zeros(len(good), int(lengths.max()), height, width, dtype=torch.uint8)
    tokens = torch.full((len(good), int(token_lengths.max())), pad_id, dtype=torch.long)
    for b, item in enumerate(good):
        video[b, : lengths[b]] = item["video"]
        tokens[b, : token_lengths[b]] = item["tokens"]
    return {
        "video": video,
        "lengths": lengths,
        "tokens": tokens,
        "token_lengths": token_lengths,
        "text": [item["text"] for item in good],
        "id": [item["id"] for item in good],
        "path": [item["path"] for item in good],
        "skipped": len(items) - len(good),
    }


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of clips of similar length, to spend little compute on padding.

    Training (``shuffle``): shuffle, cut into pools of ``pool_batches`` batches, sort each pool
    by length, batch it, shuffle the batches: a fresh order every epoch, a function of
    ``(seed, epoch)`` alone (``sampler``, an :class:`EpochShuffleSampler` whose epoch Lightning
    sets, gives the clip order), so that a resumed run draws the same batches; ``start`` batches
    of this rank's share are left out of the next iteration (resuming mid-epoch).
    Evaluation: batches of the length-sorted clips, in order (deterministic).
    Under distributed training (``world_size > 1``) every rank draws the same batches and keeps
    every ``world_size``-th one (training: the same number on every rank), so ranks see disjoint clips.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0, pool_batches: int = 50,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: use 1 or more")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.lengths = np.asarray(lengths)
        self.batch_size, self.shuffle, self.pool_batches = batch_size, shuffle, pool_batches
        self.rank, self.world_size = rank, world_size
        self.seed = seed
        self.sampler = EpochShuffleSampler(len(self.lengths), seed)
        self.start = 0

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        if self.shuffle:  # equal counts, so that no rank waits for another at the end of an epoch
            batches = batches[: len(batches) // self.world_size * self.world_size]
        return batches[self.rank :: self.world_size]

    def _batches(self) -> list[list[int]]:
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        order = np.asarray(self.sampler.epoch_order())
        pool = self.batch_size * self.pool_batches
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        batch_order = np.random.default_rng([self.seed, self.epoch]).permutation(len(batches))
        return [batches[i] for i in batch_order]

    def __iter__(self) -> Iterator[list[int]]:
        start, self.start = self.start, 0
        return iter(self._shard(self._batches())[start:])

    def __len__(self) -> int:
        total = -(-len(self.lengths) // self.batch_size) if not self.shuffle else sum(
            -(-min(self.batch_size * self.pool_batches, len(self.lengths) - s) // self.batch_size)
            for s in range(0, len(self.lengths), self.batch_size * self.pool_batches)
        )
        if self.shuffle:
            return total // self.world_size
        return len(range(self.rank, total, self.world_size))
