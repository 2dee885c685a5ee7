"""Auto-AVSR's prepared data, read as it is: label lists of token ids and mouth-crop videos.

What ``preparation/preprocess_lrs2lrs3.py`` of github.com/mpc001/auto_avsr (and its VoxCeleb2
script) writes, under its ``--root-dir``::

    ROOT/
      labels/lrs3_train_transcript_lengths_seg16s.csv   # no header; one clip a row:
                                                        #   lrs3,lrs3_video_seg16s/trainval/0af00UcTOSc/50001.mp4,67,2455 4996 393
      lrs3/lrs3_video_seg16s/trainval/0af00UcTOSc/50001.mp4   # 96x96 colour mouth crops, 25 fps
      lrs3/lrs3_video_seg16s/trainval/0af00UcTOSc/50001.wav   # its 16 kHz audio
      lrs3/lrs3_text_seg16s/trainval/0af00UcTOSc/50001.txt    # its transcript

A row is ``dataset,rel_path,input_length,token_ids``: the video is ``ROOT/dataset/rel_path``,
``input_length`` its frames, ``token_ids`` space-separated ids of Auto-AVSR's units (blank 0,
``<unk>`` 1, ``spm/unigram/unigram5000_units.txt`` ..., ``<eos>`` 5048), which must be the units this
datamodule is given (``data/units=sentencepiece_file`` with that model and units list): the ids are
used as they are, and the reference text is their decoding. Rows that cannot be used (a missing video,
a malformed field, an id beyond the units) are counted, reported once and left out; an unreadable video
is skipped with a message when it is read. The audio (``modality=av``) is the ``.wav`` beside each video.

The CNVSRC baselines (forks of Auto-AVSR, ``data=cnvsrc``) write the same rows into ``ROOT/<label_dir>/{train,valid,
test}.csv`` (``label_dir`` ``cncvs``, ``cnvsrc-single``, ...) with the ids of their own units (``datamodule/
char_units.txt``); ``label_dir`` names that folder (Auto-AVSR's: ``labels``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from lipreading.data.audio import AudioError, align_audio, read_audio_track
from lipreading.data.clip import ClipError
from lipreading.data.sentence_datamodules import SentenceDataModule, UnitsFactory, VideoTransform
from lipreading.data.sentences import Manifest, ManifestError, SentenceClipDataset, Utterance
from lipreading.data.tokenizer import Units

log = logging.getLogger(__name__)

FPS = 25.0  # Auto-AVSR's videos (preparation: video_fps=25)


@dataclass(frozen=True)
class LabelledUtterance(Utterance):
    """A label-list row: the clip, its frame count, its token ids (and their decoded text)."""

    tokens: tuple[int, ...] = ()


AUTO_AVSR_UNITS_HINT = ("Auto-AVSR's units (data.units.model=.../unigram5000.model "
                        "data.units.units_file=.../unigram5000_units.txt)")


def read_label_list(root: Path, path: Path, units: Units, units_hint: str = AUTO_AVSR_UNITS_HINT) -> Manifest:
    """The usable rows of one Auto-AVSR label list (``dataset,rel_path,input_length,token_ids``)."""
    if not path.is_file():
        raise FileNotFoundError(f"label list {path} does not exist (Auto-AVSR writes them into ROOT/labels/, "
                                "the CNVSRC baselines into ROOT/<dataset>/; set data.label_dir and data.label_lists)")
    manifest = Manifest()
    for line, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip():
            continue
        where = f"{path.name}:{line}"
        fields = [f.strip() for f in row.split(",")]
        if len(fields) != 4:
            raise ManifestError(f"{where}: expected 'dataset,rel_path,input_length,token_ids' (Auto-AVSR's label list), got {row!r}")
        dataset, relative, frames, ids = fields
        video = root / dataset / relative
        try:
            num_frames, tokens = int(frames), tuple(int(i) for i in ids.split())
        except ValueError:
            manifest.skipped.append(f"{where}: input_length {frames!r} or token ids {ids[:40]!r} are not whole numbers")
            continue
        if not tokens:
            manifest.skipped.append(f"{where}: no token ids")
        elif max(tokens) >= units.eos_id or min(tokens) <= units.blank_id:
            manifest.skipped.append(f"{where}: token ids outside 1..{units.eos_id - 1}, the units of {units!r}; give {units_hint}")
        elif not video.is_file():
            manifest.skipped.append(f"{where}: video {video} not found")
        else:
            text = units.decode(tokens)
            manifest.utterances.append(LabelledUtterance(f"{dataset}/{Path(relative).with_suffix('')}", video,
                                                         num_frames, text, tokens))
    return manifest


def read_mouth_video(path: Path) -> np.ndarray:
    """The grayscale frames (T, H, W) uint8 of a mouth-crop video; raises :class:`ClipError` naming it."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
    finally:
        capture.release()
    if not frames:
        raise ClipError(f"{path}: no frames decoded (missing, empty or not a video)")
    return np.stack(frames)


class LabelListDataset(SentenceClipDataset):
    """Clips of a label list: each item's tokens are the row's ids, its text their decoding."""

    def _read(self, index: int) -> dict[str, Any] | None:
        u = self.utterances[index]
        try:
            video = read_mouth_video(u.path)
        except ClipError as e:
            return self.skipped.skip(u.path, e)
        item = {
            "video": torch.from_numpy(video),
            "tokens": torch.tensor(u.tokens, dtype=torch.long),
            "text": u.text,
            "id": u.id,
            "path": str(u.path),
        }
        if not self.audio:
            return item
        source = u.path.with_suffix(".wav")
        try:
            samples, rate = read_audio_track(source)  # (PyAV: torchaudio writes 32-bit float WAV)
            item["audio"] = torch.from_numpy(align_audio(samples, rate, len(video), FPS, str(source), self.audio_mismatch))
        except AudioError as e:
            return self.skipped.skip(u.path, e)
        item["speaker"] = u.path.parent.name  # Auto-AVSR's folders: one talk (LRS3) or show (LRS2) each
        return item


class AutoAVSRDataModule(SentenceDataModule):
    """Auto-AVSR's prepared data (``ROOT/labels/*.csv`` + ``ROOT/<dataset>/...mp4``), batched by length.

    ``label_lists`` names the list of each split (files in ``ROOT/<label_dir>``); ``units`` must be
    the units the lists were written with (Auto-AVSR's, or a CNVSRC baseline's: ``units_hint`` says
    which in the message about ids beyond them). Training leaves out clips longer than ``max_frames``.
    Transforms, batching (the length-bucket sampler), audio (``modality=av``): as :class:`SentenceDataModule`.
    """

    def __init__(
        self,
        root: str,
        train_transform: VideoTransform,
        eval_transform: VideoTransform,
        label_lists: Mapping[str, str],
        units: Units | UnitsFactory,
        label_dir: str = "labels",
        units_hint: str = AUTO_AVSR_UNITS_HINT,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, train_transform, eval_transform, units=units, **kwargs)
        self.label_lists = dict(label_lists)
        self.label_dir, self.units_hint = label_dir, units_hint

    @property
    def tokenizer(self) -> Units:
        """Auto-AVSR's units (loaded on first use; no transcripts to train on: the lists hold ids)."""
        if self._tokenizer is None:
            self._tokenizer = self.units(()) if callable(self.units) else self.units
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Units) -> None:
        self._tokenizer = tokenizer
        self.datasets.clear()

    def utterances(self, split: str) -> list[Utterance]:
        if split not in self._manifests:
            if split not in self.label_lists:
                raise FileNotFoundError(f"no label list for split {split!r}: set data.label_lists.{split}")
            path = self.root / self.label_dir / self.label_lists[split]
            manifest = read_label_list(self.root, path, self.tokenizer, self.units_hint)
            manifest.report(str(path))
            if not manifest.utterances:
                raise FileNotFoundError(f"{path}: no usable clips. {self.setup_hint}".strip())
            self._manifests[split] = manifest.utterances
        return self._manifests[split]

    def setup_split(self, split: str) -> None:
        if split in self.datasets:
            return
        utterances = self.utterances(split)
        if split == "train" and self.max_frames is not None:
            kept = [u for u in utterances if u.num_frames <= self.max_frames]
            if len(kept) < len(utterances):
                log.warning("train: left out %d clip(s) longer than max_frames=%d", len(utterances) - len(kept), self.max_frames)
            utterances = kept
        self.datasets[split] = LabelListDataset(
            utterances, self.tokenizer, preload=self.preload, audio=self.with_audio, audio_mismatch=self.audio_mismatch
        )
