"""The raw layout of LRW (Chung & Zisserman, "Lip Reading in the Wild", ACCV 2016).

Layout, as released (the archive unpacks to ``lipread_mp4/``)::

    lipread_mp4/
      ABOUT/
        train/ABOUT_00001.mp4   # 29 frames, 25 fps, 256x256, the word centred in the clip
        train/ABOUT_00001.txt   # metadata, see below
        val/ABOUT_00001.mp4 ...
        test/ABOUT_00001.mp4 ...
      ABSOLUTELY/ ...           # 500 words

Each ``.txt`` names the word and gives its spoken length, e.g.::

    Text:     ABOUT
    Conf:     4
    <blank>
    <blank>
    Duration: 0.43 seconds

The reference code (Lipreading_using_TCN) reads the fifth line; here the line that starts with
``Duration:`` is parsed wherever it is. The word is centred in the clip, so its boundaries are
``(clip length -/+ duration) / 2``. Output: ``OUT/ABOUT/train/ABOUT_00001.npz``, label ``ABOUT``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from lipreading.data.clip import Clip
from lipreading.preprocessing.items import LayoutError, Listing, VideoItem, check_splits

SPLITS = ("train", "val", "test")


def read_word_duration(txt: Path) -> float:
    """The word's length in seconds from an LRW ``.txt`` file's ``Duration:`` line."""
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError as e:
        raise LayoutError(
            f"{txt}: metadata file missing (every LRW .mp4 has a .txt beside it)"
        ) from e
    for line in lines:
        if line.startswith("Duration:"):
            fields = line.split()
            try:
                return float(fields[1])
            except (IndexError, ValueError) as e:
                raise LayoutError(
                    f"{txt}: cannot read a number from {line!r} (expected 'Duration: 0.43 seconds')"
                ) from e
    raise LayoutError(
        f"{txt}: no line starting with 'Duration:' (expected 'Duration: 0.43 seconds')"
    )


def centred_word(clip: Clip, duration: float) -> Clip:
    """``clip`` with its word ``duration`` seconds long in the middle (LRW's convention), within the clip."""
    middle = clip.duration / 2
    start, end = max(middle - duration / 2, 0.0), min(middle + duration / 2, clip.duration)
    return replace(clip, word_start=start, word_end=end)


def lrw_listing(root: str | os.PathLike, splits: tuple[str, ...] = SPLITS) -> Listing:
    """Every LRW clip under ``root`` (``lipread_mp4`` or the folder that holds it) in ``splits``."""
    root = Path(root)
    if (root / "lipread_mp4").is_dir():
        root = root / "lipread_mp4"
    check_splits("LRW", splits, SPLITS)
    listing = Listing()
    for split in splits:
        for video in sorted(root.glob(f"*/{split}/*.mp4")):
            word = video.parent.parent.name
            listing.items.append(
                VideoItem(
                    video=video,
                    output=f"{word}/{split}/{video.stem}.npz",
                    label=word,
                    split=split,
                    word_duration=read_word_duration(video.with_suffix(".txt")),
                )
            )
    if not listing.items:
        raise LayoutError(
            f"{root}: no LRW clips found; expected "
            "lipread_mp4/WORD/{train,val,test}/WORD_NNNNN.mp4"
        )
    return listing
