"""The raw layout of LRS3 (Afouras, Chung & Zisserman, "LRS3-TED", arXiv 1809.00496, 2018).

Layout, as released (no longer distributed, but kept for those who have it)::

    LRS3/
      trainval/0af00UcTOSc/50001.mp4 .txt   # 224x224, 25 fps; 'Text:', 'Conf:', 'Ref:' and word times
      test/0Fi83BHQsMA/00002.mp4 .txt
      pretrain/0af00UcTOSc/00001.mp4 .txt

LRS3 has no validation split: ``val`` is the trainval clips of a fixed ``val_fraction`` of its TED
talks (by a hash of the talk id, so that no talk is in both), ``train`` the others, with
``pretrain`` also the pretrain clips, cut at word boundaries into pieces of at most ``max_seconds``
(Auto-AVSR's 16 s). Output: ``OUT/{split}/<talk>_<clip>.npz`` (pretrain pieces
``OUT/train/pretrain_<talk>_<clip>_NN.npz``) and ``OUT/{split}.csv`` manifests.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from lipreading.data.lrs_transcripts import utterance_items
from lipreading.preprocessing.items import LayoutError, Listing, check_splits

SPLITS = ("train", "val", "test")


def is_validation_talk(talk: str, val_fraction: float) -> bool:
    """Whether trainval talk ``talk`` belongs to the validation split (a fixed hash of its id)."""
    return zlib.crc32(talk.encode("utf-8")) % 10_000 < val_fraction * 10_000


def lrs3_listing(
    root: str | os.PathLike, splits: tuple[str, ...] = SPLITS, pretrain: bool = True,
    max_seconds: float | None = 16.0, val_fraction: float = 0.01,
) -> Listing:
    """Every LRS3 clip of ``splits`` under ``root`` (the folder of ``trainval/``, ``test/``, ``pretrain/``)."""
    root = Path(root)
    check_splits("LRS3", splits, SPLITS)
    listing = Listing()
    folders = {"train": ["trainval"] + (["pretrain"] if pretrain else []), "val": ["trainval"], "test": ["test"]}
    for split in splits:
        for folder in folders[split]:
            if not (root / folder).is_dir():
                raise LayoutError(f"{root / folder}: missing; LRS3 has trainval/, test/ and pretrain/ (or set pretrain=false)")
            for video in sorted((root / folder).glob("*/*.mp4")):
                talk = video.parent.name
                if folder == "trainval" and is_validation_talk(talk, val_fraction) != (split == "val"):
                    continue
                stem = f"{split}/{'pretrain_' if folder == 'pretrain' else ''}{talk}_{video.stem}"
                try:
                    listing.items += utterance_items(video, stem, split, talk, max_seconds if folder == "pretrain" else None)
                except LayoutError as e:
                    listing.skipped.append(str(e))
    if not listing.items:
        raise LayoutError(f"{root}: no LRS3 clips found; expected trainval/<talk>/<clip>.mp4 and .txt, test/, pretrain/")
    return listing
