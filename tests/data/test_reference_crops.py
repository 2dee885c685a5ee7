"""The TCN reference's preprocessed mouth crops (``.npz`` with one array ``data``), read as they are."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lipreading.data.clip import Clip, ClipError, load_clip
from lipreading.data.datamodules import WordDataModule
from lipreading.data.lrw import centred_word
from lipreading.data.transforms import EvalVideoTransform, TrainVideoTransform
from lipreading.utils.errors import ConfigError

WORDS = ["ABOUT", "BLACK"]


def write_reference_crops(root, annotations=None, per_split=3, frames=29, durations=(0.2, 0.4, 0.6)):
    """Clips as the reference's crop_mouth_from_video.py writes them (np.savez_compressed(path, data=uint8
    (T, 96, 96))) in the LRW layout; with ``annotations``, LRW's .txt metadata beside, in a folder of its own."""
    rng = np.random.default_rng(0)
    for word in WORDS:
        for split in ("train", "val", "test"):
            for i in range(per_split):
                path = root / word / split / f"{word}_{i + 1:05d}.npz"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(path, data=rng.integers(0, 256, (frames, 96, 96), dtype=np.uint8))
                if annotations is not None:
                    txt = annotations / word / split / f"{word}_{i + 1:05d}.txt"
                    txt.parent.mkdir(parents=True, exist_ok=True)
                    txt.write_text(f"Text:     {word}\nConf:     4\n\n\nDuration: {durations[i % 3]} seconds\n")


def _datamodule(root, **kwargs) -> WordDataModule:
    return WordDataModule(str(root), num_classes=2, train_transform=TrainVideoTransform(88, 0.421, 0.165),
                          eval_transform=EvalVideoTransform(88, 0.421, 0.165), batch_size=2, **kwargs)


def test_a_reference_crop_file_is_read_as_a_clip(tmp_path) -> None:
    path = tmp_path / "ABOUT_00001.npz"
    frames = np.random.default_rng(0).integers(0, 256, (29, 96, 96), dtype=np.uint8)
    np.savez_compressed(path, data=frames)
    clip = load_clip(path)
    np.testing.assert_array_equal(clip.video, frames)
    assert clip.fps == 25.0 and np.isnan(clip.word_start) and clip.boundary().sum() == 29


def test_other_npz_files_get_an_error_naming_their_keys_and_the_accepted_ones(tmp_path) -> None:
    other = tmp_path / "x.npz"
    np.savez(other, frames=np.zeros((3, 8, 8), np.uint8), labels=np.zeros(3))
    with pytest.raises(ClipError, match=r"holds \['frames', 'labels'\].*'video'.*'data'"):
        load_clip(other)
    audio = tmp_path / "audio.npz"  # the reference's audio files also name their array 'data'
    np.savez(audio, data=np.zeros(19456, np.float32))
    with pytest.raises(ClipError, match="malformed video array float32 \\(19456,\\).*uint8"):
        load_clip(audio)


def _word_frames(path: str, durations=(0.2, 0.4, 0.6)) -> float:
    """Frames of the word of a 29-frame clip written by write_reference_crops, as LRW's convention places it."""
    number = int(path.rsplit("_", 1)[1].split(".")[0])
    return float(centred_word(Clip(video=np.zeros((29, 1, 1), np.uint8)), durations[(number - 1) % 3]).boundary().sum())


def test_the_word_datamodule_reads_them_with_lrws_durations(tmp_path) -> None:
    write_reference_crops(tmp_path / "crops", tmp_path / "lipread_mp4")
    datamodule = _datamodule(tmp_path / "crops", annotation_dir=str(tmp_path / "lipread_mp4"), use_boundary=True)
    datamodule.setup("fit")
    batch = next(iter(datamodule.dataloader("val")))
    assert batch["video"].shape == (2, 29, 96, 96) and batch["label"].tolist() == [0, 0]
    # 0.2 s and 0.4 s words, centred in the 1.16 s clip: 5 frames (12..16) and about 10
    assert batch["boundary"].sum(1).tolist() == [_word_frames(p) for p in batch["path"]]
    assert batch["boundary"][0].nonzero().flatten().tolist() == [12, 13, 14, 15, 16]


def test_variable_length_cuts_keep_the_word_that_lrws_metadata_gives(tmp_path) -> None:
    write_reference_crops(tmp_path / "crops", tmp_path / "lipread_mp4")
    datamodule = _datamodule(tmp_path / "crops", annotation_dir=str(tmp_path / "lipread_mp4"), variable_length=True)
    datamodule.setup("fit")
    torch.manual_seed(0)
    batches = list(datamodule.train_dataloader()) + list(datamodule.train_dataloader())
    assert torch.cat([b["lengths"] for b in batches]).min() < 29
    for b in batches:
        assert b["boundary"].sum(1).tolist() == [_word_frames(p) for p in b["path"]]


def test_a_wrong_annotation_dir_stops_at_set_up_and_a_missing_file_skips_its_clip(tmp_path, caplog) -> None:
    write_reference_crops(tmp_path / "crops", tmp_path / "lipread_mp4")
    with pytest.raises(ConfigError, match=r"annotation_dir=.*elsewhere.*ABOUT_00001.txt.*lipread_mp4"):
        _datamodule(tmp_path / "crops", annotation_dir=str(tmp_path / "elsewhere")).setup("fit")
    (tmp_path / "lipread_mp4" / "BLACK" / "val" / "BLACK_00002.txt").unlink()
    datamodule = _datamodule(tmp_path / "crops", annotation_dir=str(tmp_path / "lipread_mp4"))
    datamodule.setup("validate")
    batches = list(datamodule.dataloader("val"))
    assert sum(b["skipped"] for b in batches) == 1 and "BLACK_00002.txt" in caplog.text
