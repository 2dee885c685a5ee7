"""The processed Chinese-LiPS release (meta_*.csv + processed_{train,val,test}/ lip videos), read directly."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import torch

from lipreading.data.chinese_lips_processed import ProcessedChineseLipsDataModule, processed_manifest
from lipreading.data.sentences import ManifestError
from lipreading.data.transforms import EvalVideoTransform
from lipreading.utils.errors import ConfigError

HEADER = ["ID", "TOPIC", "WAV", "PPT", "FACE", "TEXT"]
TEXTS = ["我们今天在学校", "学习唇语识别", "他在上课", "她在唱歌", "我们学习", "今天上课"]


def write_lip_video(path, frames: int, fps: float = 25.0, size: int = 96, seed: int = 0) -> None:
    """A lip video as the processed release holds them: size x size frames (stored as BGR) at ``fps``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    shades = np.random.default_rng(seed).integers(40, 220, frames)
    for shade in shades:
        writer.write(np.full((size, size, 3), int(shade), np.uint8))
    writer.release()


def write_processed_layout(root, flat_val: bool = True) -> None:
    """meta_{train,valid,test}.csv with the official columns; processed_train/ nests each video under its
    speaker folder by its FACE file name, processed_val/ and processed_test/ hold flat <ID>.mp4 files."""
    rows = {"train": [], "val": [], "test": []}
    for i, text in enumerate(TEXTS):
        split = ["train", "train", "train", "train", "val", "test"][i]
        speaker = f"ID{i}_20_M_KJ"
        clip_id = f"{speaker}_{i:03d}"
        face = f"{split}/{speaker}/FACE/{clip_id}_FACE.mp4"
        rows[split].append([clip_id, "KJ", f"{split}/{speaker}/WAV/{clip_id}.wav", "", face, text])
        folder = root / f"processed_{split}"
        path = folder / speaker / "FACE" / f"{clip_id}_FACE.mp4" if split == "train" or not flat_val else folder / f"{clip_id}.mp4"
        write_lip_video(path, frames=20 + 5 * i, seed=i)
    for split, name in {"train": "meta_train.csv", "val": "meta_valid.csv", "test": "meta_test.csv"}.items():
        with (root / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            writer.writerows(rows[split])


def _datamodule(root, **kwargs) -> ProcessedChineseLipsDataModule:
    transform = EvalVideoTransform(88, 0.421, 0.165)
    return ProcessedChineseLipsDataModule(str(root), transform, transform, batch_size=2, **kwargs)


def test_rows_find_their_videos_nested_by_face_name_or_flat_by_id(tmp_path) -> None:
    write_processed_layout(tmp_path)
    train, val = processed_manifest(tmp_path, "train"), processed_manifest(tmp_path, "val")
    assert [u.text for u in train.utterances] == TEXTS[:4] and [u.text for u in val.utterances] == [TEXTS[4]]
    assert [u.num_frames for u in train.utterances] == [20, 25, 30, 35]
    assert train.utterances[0].path.name == "ID0_20_M_KJ_000_FACE.mp4" and val.utterances[0].path.name == "ID4_20_M_KJ_004.mp4"


def test_the_datamodule_trains_on_the_lip_videos(tmp_path) -> None:
    write_processed_layout(tmp_path)
    datamodule = _datamodule(tmp_path)
    datamodule.setup("fit")
    assert set("".join(TEXTS[:4])) <= set(datamodule.tokenizer.tokens)  # built from the training transcripts
    batches = list(datamodule.train_dataloader())
    assert sum(len(b["text"]) for b in batches) == 4
    batch = batches[0]
    assert batch["video"].dtype == torch.uint8
    assert batch["video"].shape[2:] == (96, 96) and sorted(batch["lengths"].tolist()) in ([20, 25], [30, 35], [20, 30], [25, 35], [20, 35], [25, 30])
    val = next(iter(datamodule.val_dataloader()))
    assert val["text"] == [TEXTS[4]] and val["lengths"].tolist() == [40]


def test_a_30_fps_video_is_resampled_to_25(tmp_path) -> None:
    write_processed_layout(tmp_path)
    write_lip_video(next((tmp_path / "processed_val").glob("*.mp4")), frames=60, fps=30.0)
    assert processed_manifest(tmp_path, "val").utterances[0].num_frames == 50
    datamodule = _datamodule(tmp_path)
    datamodule.setup("validate")
    assert next(iter(datamodule.val_dataloader()))["lengths"].tolist() == [50]


def test_missing_videos_are_left_out_and_reported_and_missing_folders_named(tmp_path) -> None:
    write_processed_layout(tmp_path)
    next((tmp_path / "processed_train").rglob("ID2_*.mp4")).unlink()
    train = processed_manifest(tmp_path, "train")
    assert len(train.utterances) == 3 and "ID2_20_M_KJ_002_FACE.mp4" in train.skipped[0]
    (tmp_path / "meta_test.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"meta_test.csv does not exist.*processed_train"):
        processed_manifest(tmp_path, "test")
    (tmp_path / "meta_valid.csv").write_text("name,transcript\na,b\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="ID or file_id"):
        processed_manifest(tmp_path, "val")


def test_it_is_read_as_video_only(tmp_path) -> None:
    with pytest.raises(ConfigError, match="modality=av.*video only"):
        _datamodule(tmp_path, modality="av")
