"""The raw layout of LRW-1000 / CAS-VSR-W1k (Yang et al., "LRW-1000: A Naturally-Distributed
Large-Scale Benchmark for Lip Reading in the Wild", FG 2019).

The release holds mouth regions already cropped by the authors, as JPEG images, and index files;
this layout is the one the authors' public code reads (VIPL's Lipreading-DenseNet3D and D3D,
``options_lip.toml``: ``data_root = LRW1000_Public/images``,
``index_root = LRW1000_Public/info/trn_1000.txt``)::

    LRW1000_Public/
      images/                      # also released as lip_images/ (or lip_images/lip_images/)
        <video id>/1.jpg 2.jpg ... # one mouth image per frame of a source video, 25 fps
      info/
        trn_1000.txt val_1000.txt tst_1000.txt
        all_audio_video.txt        # the same lines with the audio id as second field (unused)

Each line of ``{trn,val,tst}_1000.txt`` is one spoken word::

    <video id>,<word in Chinese characters>,<pinyin>,<start s>,<end s>

A video id folder holds a whole source segment and may contain several words. As in the
reference code, a time ``t`` maps to image ``int(t * 25) + 1``; the word covers images
``[int(start * 25) + 1, int(end * 25) + 1)``. The 1000 classes are the distinct pinyin strings
(the reference code's class key), which become ``Clip.label``.

Each word becomes a fixed window of ``window`` images centred on it (40, as in the reference
code of Feng et al., "Learn an Effective Lip Reading Model without Pains", 2020), shifted to stay
inside the folder's images, with the word's boundaries in seconds from the window's start.
Images are resized to ``crop_size``; no face detection runs (they are mouths already).
Output: ``OUT/<pinyin>/{train,val,test}/<video id>_<first>_<last>.npz``.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from lipreading.data.clip import FPS
from lipreading.preprocessing.items import LayoutError, Listing, MouthFramesItem, check_splits

SPLIT_FILES = {"train": "trn_1000.txt", "val": "val_1000.txt", "test": "tst_1000.txt"}
IMAGE_FOLDERS = ("images", "lip_images", "lip_images/lip_images")


def find_image_root(root: Path) -> Path:
    """The folder of per-video image folders (``images`` or ``lip_images``) under ``root``."""
    for name in IMAGE_FOLDERS[::-1]:
        if (root / name).is_dir():
            return root / name
    raise LayoutError(
        f"{root}: no image folder; expected one of {list(IMAGE_FOLDERS)} (see lrw1000.py)"
    )


def lrw1000_listing(
    root: str | os.PathLike, splits: tuple[str, ...] = tuple(SPLIT_FILES), window: int = 40
) -> Listing:
    """Every word of LRW-1000 under ``root`` (the ``LRW1000_Public`` folder) in ``splits``."""
    root = Path(root)
    check_splits("LRW-1000", splits, SPLIT_FILES)
    images = find_image_root(root)

    @cache
    def frame_numbers(video_id: str) -> tuple[int, ...]:
        folder = images / video_id
        if not folder.is_dir():
            return ()
        return tuple(sorted(int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit()))

    listing = Listing()
    seen: set[str] = set()
    for split in splits:
        index = root / "info" / SPLIT_FILES[split]
        if not index.is_file():
            raise LayoutError(
                f"{index}: index file missing; expected info/{SPLIT_FILES[split]} under {root}"
            )
        for number, line in enumerate(index.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{index}:{number}"
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != 5:
                raise LayoutError(
                    f"{where}: expected 'video id,word,pinyin,start,end', got {line!r}"
                )
            video_id, _, pinyin, start, end = fields
            first, stop = int(float(start) * FPS) + 1, int(float(end) * FPS) + 1
            if stop <= first:
                listing.skipped.append(f"{where}: the word {pinyin!r} lasts less than one frame")
                continue
            available = frame_numbers(video_id)
            if not available:
                listing.skipped.append(f"{where}: no images in {images / video_id}")
                continue
            begin = max(available[0], min((first + stop - window) // 2, available[-1] + 1 - window))
            frames = [n for n in available if begin <= n < begin + window]
            if not frames:
                listing.skipped.append(f"{where}: no images of {images / video_id} around the word")
                continue
            output = f"{pinyin}/{split}/{video_id}_{frames[0]}_{frames[-1]}.npz"
            if output in seen:  # the reference code de-duplicates the index lines too
                continue
            seen.add(output)
            listing.items.append(
                MouthFramesItem(
                    frames=tuple(images / video_id / f"{n}.jpg" for n in frames),
                    output=output,
                    label=pinyin,
                    split=split,
                    fps=FPS,
                    word_start=max(0.0, (first - frames[0]) / FPS),
                    word_end=min(len(frames), stop - frames[0]) / FPS,
                )
            )
    return listing
