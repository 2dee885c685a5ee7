"""The raw layout of LRS2 (Afouras et al., "Deep audio-visual speech recognition", TPAMI 2018; BBC, academic licence).

Layout, as released (``lrs2_v1.tar`` unpacks to ``mvlrs_v1/``; the file lists come beside it)::

    LRS2/
      pretrain.txt train.txt val.txt test.txt   # one clip a line: 5535415699068794046/00001 [NF|MV]
      mvlrs_v1/
        main/5535415699068794046/00001.mp4 .txt # 160x160, 25 fps; 'Text:' transcript
        pretrain/5535415699068794046/00001.mp4 .txt   # also word times (WORD START END ASDSCORE)

``root`` is the folder of the file lists (``mvlrs_v1/`` inside it, or ``main/`` directly).
Splits: ``train`` (train.txt, and with ``pretrain`` the pretrain.txt clips, cut at word boundaries
into pieces of at most ``max_seconds``: Auto-AVSR's 16 s), ``val``, ``test``. Clips the lists name
but the folder lacks are left out and reported. Output: ``OUT/{split}/<show>_<clip>.npz`` (pretrain
pieces ``OUT/train/pretrain_<show>_<clip>_NN.npz``) and ``OUT/{split}.csv`` manifests.
"""

from __future__ import annotations

import os
from pathlib import Path

from lipreading.data.lrs_transcripts import utterance_items
from lipreading.preprocessing.items import LayoutError, Listing, check_splits

SPLITS = ("train", "val", "test")
FILE_LISTS = {"train": "train.txt", "val": "val.txt", "test": "test.txt", "pretrain": "pretrain.txt"}


def _clips_dir(root: Path) -> Path:
    return root / "mvlrs_v1" if (root / "mvlrs_v1").is_dir() else root


def read_file_list(path: Path) -> list[str]:
    """The ``show/clip`` names of an LRS2 file list (a trailing NF/MV field is ignored)."""
    if not path.is_file():
        raise LayoutError(f"{path}: file list missing; LRS2's {', '.join(FILE_LISTS.values())} belong in {path.parent}")
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def lrs2_listing(
    root: str | os.PathLike, splits: tuple[str, ...] = SPLITS, pretrain: bool = True, max_seconds: float | None = 16.0
) -> Listing:
    """Every LRS2 clip of ``splits`` under ``root`` (the folder of the file lists)."""
    root = Path(root)
    check_splits("LRS2", splits, SPLITS)
    clips = _clips_dir(root)
    listing = Listing()
    sources = [(split, "main", split) for split in splits]
    if pretrain and "train" in splits:
        sources.append(("train", "pretrain", "pretrain"))
    for split, folder, file_list in sources:
        for name in read_file_list(root / FILE_LISTS[file_list]):
            video = clips / folder / f"{name}.mp4"
            if not video.is_file():
                listing.skipped.append(f"{root / FILE_LISTS[file_list]}: {name}: {video} not found")
                continue
            show, clip = name.split("/", 1)
            stem = f"{split}/{'pretrain_' if folder == 'pretrain' else ''}{show}_{clip.replace('/', '_')}"
            try:
                listing.items += utterance_items(video, stem, split, show, max_seconds if folder == "pretrain" else None)
            except LayoutError as e:
                listing.skipped.append(str(e))
    if not listing.items:
        raise LayoutError(f"{root}: no LRS2 clips found; expected mvlrs_v1/main/<show>/<clip>.mp4 and the file lists")
    return listing
