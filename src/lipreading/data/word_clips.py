"""Word clips in the LRW-mirrored layout: ``ROOT/WORD/{train,val,test}/WORD_NNNNN.npz``.

The synthetic renderer and the LRW / LRW-1000 preprocessing all write this layout, so
one dataset class reads every word-level corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from lipreading.data.audio import AUDIO_FIELDS, AudioError, check_mismatch_policy, clip_audio
from lipreading.data.clip import TRAINING_FIELDS, SkippedClips, grayscale_video, load_clip
from lipreading.data.lrw import centred_word, read_word_duration
from lipreading.utils.errors import ConfigError, UserError


SPLITS = ("train", "val", "test")


def scan_word_clips(root: Path, split: str, vocabulary: Sequence[str]) -> list[tuple[Path, int]]:
    """List ``(path, label index)`` of every clip of ``split`` whose word is in ``vocabulary``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    items = []
    for index, word in enumerate(vocabulary):
        folder = root / word / split
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: no '{split}' clips for the word {word!r}. The dataset root {root} does not "
                f"hold the vocabulary it was configured with; check data.root and data.vocabulary."
            )
        items.extend((path, index) for path in sorted(folder.glob("*.npz")))
    return items


def annotation_file(annotation_dir: Path, clip: Path) -> Path:
    """The LRW metadata file of ``clip`` (``.../WORD/split/WORD_NNNNN.npz``): ``annotation_dir/WORD/split/WORD_NNNNN.txt``."""
    return annotation_dir / clip.parent.parent.name / clip.parent.name / f"{clip.stem}.txt"


def check_annotations(annotation_dir: Path, first_clip: Path) -> None:
    """Stop at set-up when ``annotation_dir`` does not hold the metadata of the dataset's first clip."""
    txt = annotation_file(annotation_dir, first_clip)
    if not txt.is_file():
        raise ConfigError(
            f"data.annotation_dir={annotation_dir}: no {txt} for the clip {first_clip}; point it at the raw LRW "
            "folder (lipread_mp4, whose WORD/split/WORD_NNNNN.txt files give each word's Duration:) or set it to null"
        )


class WordClipDataset(Dataset):
    """Dataset of word clips; each item is a dict of uint8 video, label, length and boundary.

    An unreadable clip is logged once with its path and its item becomes ``None``, which
    :func:`collate_clips` drops and counts, so one bad file never stops an epoch.
    With ``preload`` every clip is read into memory once (for small corpora such as the
    synthetic default, where it removes all per-epoch I/O).
    With ``audio`` items carry the clip's 16 kHz audio, exactly 640 samples per frame, and its
    ``speaker`` ('' when unknown): a clip
    without audio is skipped with a message, one whose audio and video lengths disagree by more
    than a frame is trimmed to the video or skipped (``audio_mismatch``).
    With ``annotation_dir`` (the raw LRW folder) each clip's word is the one its LRW ``.txt`` gives,
    centred in the clip, as the reference reads it (for clips that do not carry their boundaries).
    """

    def __init__(
        self,
        items: list[tuple[Path, int]],
        preload: bool = False,
        audio: bool = False,
        audio_mismatch: str = "trim",
        annotation_dir: Path | None = None,
    ) -> None:
        check_mismatch_policy(audio_mismatch)
        self.items = items
        self.annotation_dir = annotation_dir
        self.audio, self.audio_mismatch = audio, audio_mismatch
        self.skipped = SkippedClips()
        self._cache: list[dict[str, Any] | None] | None = None
        if preload:
            self._cache = [self._read(i) for i in tqdm(range(len(items)), desc="loading clips", leave=False)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        if self._cache is not None:
            return self._cache[index]
        return self._read(index)

    def _read(self, index: int) -> dict[str, Any] | None:
        path, label = self.items[index]
        try:
            clip = load_clip(path, TRAINING_FIELDS | AUDIO_FIELDS if self.audio else TRAINING_FIELDS)
            if self.annotation_dir is not None:
                clip = centred_word(clip, read_word_duration(annotation_file(self.annotation_dir, path)))
        except UserError as e:  # an unreadable clip, or its missing or malformed metadata
            return self.skipped.skip(path, e)
        item = {
            "video": torch.from_numpy(grayscale_video(clip)),
            "label": label,
            "boundary": torch.from_numpy(clip.boundary()),
            "path": str(path),
        }
        if not self.audio:
            return item
        try:
            audio = clip_audio(clip, path, self.audio_mismatch)
        except AudioError as e:
            return self.skipped.skip(path, e)
        item["audio"] = torch.from_numpy(audio)
        item["speaker"] = clip.speaker  # mixtures for separation take their interferers from other speakers
        return item


def collate_clips(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pad clips to the longest in the batch; drop unreadable ones and count them."""
    good = [item for item in items if item is not None]
    if not good:
        return {"skipped": len(items)}
    lengths = torch.tensor([item["video"].shape[0] for item in good])
    frames = int(lengths.max())
    height, width = good[0]["video"].shape[1:3]
    video = torch.zeros(len(good), frames, height, width, dtype=torch.uint8)
    boundary = torch.zeros(len(good), frames)
    for b, item in enumerate(good):
        video[b, : lengths[b]] = item["video"]
        boundary[b, : lengths[b]] = item["boundary"]
    return {
        "video": video,
        "lengths": lengths,
        "boundary": boundary,
        "label": torch.tensor([item["label"] for item in good]),
        "path": [item["path"] for item in good],
        "skipped": len(items) - len(good),
        **_collate_audio(good, lengths, frames),
    }


def _collate_audio(items: list[dict[str, Any]], lengths: torch.Tensor, frames: int) -> dict[str, torch.Tensor]:
    """``{"audio": (B, frames * samples_per_frame)}`` zero-padded like the video; {} without audio."""
    if "audio" not in items[0]:
        return {}
    per_frame = items[0]["audio"].shape[0] // int(lengths[0])
    audio = torch.zeros(len(items), frames * per_frame)
    for b, item in enumerate(items):
        audio[b, : item["audio"].shape[0]] = item["audio"]
    return {"audio": audio}
