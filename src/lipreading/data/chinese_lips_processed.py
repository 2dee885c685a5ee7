"""Chinese-LiPS as its processed release lays it out, read directly (no preprocessing run).

Layout (the released metadata and one folder of lip videos per split, as seed 002 reads them)::

    ROOT/
      meta_train.csv meta_valid.csv meta_test.csv    # ID, TOPIC, WAV, PPT, FACE, TEXT (or file_id, ..., text)
      processed_train/ ... .mp4                      # one lip video per clip: 96x96 mouth crops, 25 fps
      processed_val/ ...  processed_test/ ...

A row's video is found anywhere under its split's folder by the file name of its ``FACE`` path
(``ID1_age_gender_topic_001_FACE.mp4``), else as ``<ID>.mp4`` or ``<ID>_FACE.mp4``; ``.wav`` and
``.json`` files beside the videos are not read. Rows whose video is missing or unreadable are left
out and reported; the transcript is the row's text. Videos at another frame rate are resampled to
25 fps (nearest frame), as the preprocessing does. The mouth crops are already what the models
read: no face tracking runs.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import cv2
import numpy as np

from lipreading.data.chinese_lips import SPLIT_FILES, column_names
from lipreading.data.clip import Clip
from lipreading.data.sentence_datamodules import SentenceDataModule
from lipreading.data.sentences import Manifest, ManifestError, SentenceClipDataset, Utterance
from lipreading.preprocessing.video import VideoReader
from lipreading.utils.errors import ConfigError, UserError

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "processed_train", "val": "processed_val", "test": "processed_test"}
FPS = 25.0


def processed_manifest(root: Path, split: str) -> Manifest:
    """The clips of ``split``: its ``meta_*.csv`` rows whose lip video is under ``processed_<split>/``."""
    meta, folder = root / SPLIT_FILES[split], root / SPLIT_DIRS[split]
    for path in (meta, folder):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist; the processed Chinese-LiPS layout is ROOT/{{{','.join(SPLIT_FILES.values())}}} "
                f"and ROOT/{{{','.join(SPLIT_DIRS.values())}}}/*.mp4 (set data.root to ROOT)"
            )
    videos = {p.name: p for p in sorted(folder.rglob("*.mp4"))}
    manifest = Manifest()
    with meta.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        try:
            names = column_names(list(reader.fieldnames or []), meta)
        except UserError as e:
            raise ManifestError(str(e)) from e
        for line, row in enumerate(reader, start=2):
            clip_id, text = row[names["id"]].strip(), (row[names["text"]] or "").strip()
            face = Path((row[names["face"]] or "").strip().replace("\\", "/")).name
            where = f"{meta.name}:{line}"
            video = next((videos[n] for n in (face, f"{clip_id}.mp4", f"{clip_id}_FACE.mp4") if n in videos), None)
            if video is None:
                manifest.skipped.append(f"{where}: no lip video {face or clip_id + '.mp4'} under {folder}")
            elif not text:
                manifest.skipped.append(f"{where}: empty text")
            else:
                try:
                    video_reader = VideoReader(video, FPS)
                except UserError as e:
                    manifest.skipped.append(f"{where}: {e}")
                    continue
                frames = int(round(video_reader.declared_frames * FPS / video_reader.source_fps))
                manifest.utterances.append(Utterance(clip_id, video, frames, text))
    return manifest


def read_lip_video(path: Path, text: str) -> Clip:
    """A lip video as a clip: grayscale uint8 frames (T, H, W) at 25 fps, labelled with ``text``."""
    frames = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in VideoReader(path, FPS)]
    return Clip(video=np.stack(frames), fps=FPS, label=text)


class LipVideoSentenceDataset(SentenceClipDataset):
    """Sentence clips whose files are lip videos (``.mp4``), decoded when read."""

    def load(self, utterance: Utterance) -> Clip:
        return read_lip_video(utterance.path, utterance.text)


class ProcessedChineseLipsDataModule(SentenceDataModule):
    """Sentence clips of the processed Chinese-LiPS release (``meta_*.csv`` + ``processed_{split}/*.mp4``).

    Everything else (tokenizer, length buckets, transforms) is :class:`SentenceDataModule`'s. Video only:
    the sentence models read no audio.
    """

    dataset_class = LipVideoSentenceDataset

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.modality != "video":
            raise ConfigError(
                f"modality={self.modality}: the processed Chinese-LiPS layout is read as video only; "
                "preprocess the raw release with roi.audio=true (data=chinese_lips_separation) for its audio"
            )

    def read_manifest(self, split: str) -> Manifest:
        manifest = processed_manifest(self.root, split)
        log.info("%s: %d clips in %s", split, len(manifest.utterances), self.root / SPLIT_DIRS[split])
        return manifest
