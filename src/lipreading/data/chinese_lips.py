"""The raw layout of Chinese-LiPS (Zhao et al., "Chinese-LiPS: A Chinese audio-visual speech
recognition dataset with Lip-reading and Presentation Slides", 2025).

Layout, as released (``train.zip``, ``val.zip``, ``test.zip`` and the metadata files)::

    Chinese-LiPS/
      meta_train.csv meta_valid.csv meta_test.csv     # (meta_all.csv is not needed)
      train/ID1_age_gender_topic/
        WAV/ID1_age_gender_topic_001.wav  .json       # 48 kHz audio, annotation
        PPT/ID1_age_gender_topic_001_PPT.mp4          # slide video, 1080p 30 fps
        FACE/ID1_age_gender_topic_001_FACE.mp4        # speaker video, 720p 30 fps
      val/ ... test/ ...

Metadata columns: officially ``ID, TOPIC, WAV, PPT, FACE, TEXT``; some copies name them
``file_id, category, wav_path, ppt_path, face_path, text``; both are accepted. Only the id, the
face video and the text are used (and, with ``roi.audio=true``, the WAV file). A ``FACE`` path
is taken relative to the dataset folder and,
when it is not there, found by its file name anywhere under it (copies differ in their
prefixes). Rows whose face video is missing are left out and reported. Videos are resampled
from 30 to 25 fps. Output: ``OUT/{train,val,test}/<ID>.npz`` with the transcript as label, and
``OUT/{train,val,test}.csv`` manifests (``id,path,num_frames,text``, written by the pipeline).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lipreading.preprocessing.items import LayoutError, Listing, VideoItem, check_splits

SPLIT_FILES = {"train": "meta_train.csv", "val": "meta_valid.csv", "test": "meta_test.csv"}
# The columns used, each under its official name and its alternative one.
COLUMNS = {"id": ("ID", "file_id"), "face": ("FACE", "face_path"), "text": ("TEXT", "text")}


def column_names(header: list[str], source: Path) -> dict[str, str]:
    """Map 'id', 'face', 'text' to the names this CSV uses, or raise listing the missing ones."""
    present = set(header)
    found, missing = {}, []
    for key, namings in COLUMNS.items():
        name = next((n for n in namings if n in present), None)
        if name is None:
            missing.append(" or ".join(namings))
        else:
            found[key] = name
    if missing:
        raise LayoutError(
            f"{source}: missing column(s) {', '.join(missing)}; the accepted headers are "
            "'ID,TOPIC,WAV,PPT,FACE,TEXT' and 'file_id,category,wav_path,ppt_path,face_path,text'"
        )
    return found


class VideoFinder:
    """Resolves a metadata video path under the dataset folder, by path and then by file name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, Path] | None = None

    def __call__(self, recorded: str) -> Path | None:
        path = Path(recorded.replace("\\", "/"))
        for candidate in (path, self.root / path):
            if candidate.is_file():
                return candidate
        if self._by_name is None:  # built once, only when some path does not resolve directly
            self._by_name = {p.name: p for p in sorted(self.root.rglob("*.mp4"))}
        return self._by_name.get(path.name)


def _wav_file(root: Path, recorded: str) -> Path | None:
    """The clip's WAV file (48 kHz; read when preprocessing with audio), if it is there."""
    path = Path(recorded.strip().replace("\\", "/"))
    return next((p for p in (path, root / path) if p.is_file()), None)


def chinese_lips_listing(
    root: str | os.PathLike, splits: tuple[str, ...] = tuple(SPLIT_FILES)
) -> Listing:
    """Every Chinese-LiPS clip in ``splits`` under ``root``, the folder of the ``meta_*.csv``."""
    root = Path(root)
    check_splits("Chinese-LiPS", splits, SPLIT_FILES)
    find_video = VideoFinder(root)
    listing = Listing()
    for split in splits:
        meta = root / SPLIT_FILES[split]
        if not meta.is_file():
            raise LayoutError(
                f"{meta}: metadata file missing; expected {list(SPLIT_FILES.values())} in {root}"
            )
        with meta.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, skipinitialspace=True)
            names = column_names(list(reader.fieldnames or []), meta)
            wav_column = next((n for n in ("WAV", "wav_path") if n in (reader.fieldnames or [])), None)
            for number, row in enumerate(reader, start=2):
                clip_id = row[names["id"]].strip()
                video = find_video(row[names["face"]].strip())
                if video is None:
                    listing.skipped.append(
                        f"{meta}:{number}: face video {row[names['face']]!r} not found under {root}"
                    )
                    continue
                listing.items.append(
                    VideoItem(
                        video=video,
                        output=f"{split}/{clip_id}.npz",
                        label=row[names["text"]].strip(),
                        split=split,
                        speaker=clip_id.split("_")[0],
                        audio_file=_wav_file(root, row[wav_column]) if wav_column else None,
                    )
                )
    return listing
