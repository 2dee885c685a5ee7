import numpy as np
import pytest
import torch

from lipreading.data.clip import Clip, save_clip
from lipreading.data.datamodules import WordDataModule
from lipreading.data.transforms import EvalVideoTransform, TrainVideoTransform
from lipreading.data.word_clips import WordClipDataset, collate_clips, scan_word_clips
from lipreading.utils.errors import ConfigError
from tests.conftest import write_word_dataset

WORDS = ["ABOUT", "BLACK", "CHILD"]


def _datamodule(root, **kwargs):
    return WordDataModule(
        str(root), num_classes=kwargs.pop("num_classes", 3),
        train_transform=TrainVideoTransform(44, 0.4, 0.2), eval_transform=EvalVideoTransform(44, 0.4, 0.2),
        batch_size=2, **kwargs,
    )


def test_scan_reads_the_lrw_layout(tmp_path):
    write_word_dataset(tmp_path, WORDS, per_split=2)
    items = scan_word_clips(tmp_path, "val", WORDS)
    assert [(p.parent.parent.name, label) for p, label in items] == [
        ("ABOUT", 0), ("ABOUT", 0), ("BLACK", 1), ("BLACK", 1), ("CHILD", 2), ("CHILD", 2)]
    with pytest.raises(FileNotFoundError, match="MISSING"):
        scan_word_clips(tmp_path, "val", WORDS + ["MISSING"])


def test_bad_clip_is_skipped_and_counted(tmp_path, caplog):
    write_word_dataset(tmp_path, WORDS, per_split=2)
    bad = tmp_path / "BLACK" / "train" / "BLACK_00001.npz"
    bad.write_bytes(b"")
    dataset = WordClipDataset(scan_word_clips(tmp_path, "train", WORDS))
    batch = collate_clips([dataset[i] for i in range(len(dataset))])
    assert batch["skipped"] == 1 and len(batch["label"]) == 5
    assert str(bad) in caplog.text
    dataset[2]  # logged once only
    assert caplog.text.count(str(bad)) == 1
    assert collate_clips([None, None]) == {"skipped": 2}


def test_collate_pads_variable_lengths():
    items = [{"video": torch.full((n, 8, 8), 7, dtype=torch.uint8), "label": i, "boundary": torch.ones(n), "path": str(i)}
             for i, n in enumerate([5, 3])]
    batch = collate_clips(items)
    assert batch["video"].shape == (2, 5, 8, 8) and batch["lengths"].tolist() == [5, 3]
    assert batch["video"][1, 3:].eq(0).all() and batch["boundary"][1].tolist() == [1, 1, 1, 0, 0]


def test_datamodule_vocabulary_and_errors(tmp_path):
    write_word_dataset(tmp_path / "d", WORDS, per_split=2)
    dm = _datamodule(tmp_path / "d")
    assert dm.vocabulary == WORDS
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].dtype == torch.uint8 and batch["video"].shape == (2, 29, 48, 48)
    with pytest.raises(ConfigError, match="num_classes=3"):
        _datamodule(tmp_path / "d", num_classes=500).setup("fit")
    with pytest.raises(FileNotFoundError, match="does not exist. Preprocess first"):
        _datamodule(tmp_path / "nowhere", setup_hint="Preprocess first").setup("fit")


def test_train_transform_crops_flips_and_masks():
    video = torch.arange(48, dtype=torch.uint8).repeat(2, 29, 48, 1)  # each row is 0..47
    lengths = torch.tensor([29, 20])
    out = TrainVideoTransform(44, 0.0, 1.0, flip_prob=1.0, time_masks=1, max_mask_frames=0)(video, lengths)
    assert out.shape == (2, 1, 29, 44, 44)
    row = out[0, 0, 0, 0] * 255
    assert torch.all(row[:-1] > row[1:]), "flip_prob=1 must mirror every clip"
    assert TrainVideoTransform(44, 0.0, 1.0, flip_prob=0.0)(video, lengths)[0, 0, 0, 0].diff().gt(0).all()
    masked = TrainVideoTransform(48, 0.0, 1.0, flip_prob=0.0, time_masks=1, max_mask_frames=29)
    torch.manual_seed(0)
    changed = [(masked(video.float().add(torch.arange(29)[None, :, None, None]).to(torch.uint8), lengths)[0, 0]
                != (video[0].float() + torch.arange(29)[:, None, None]) / 255).flatten(1).any(1).sum() for _ in range(5)]
    assert max(changed) > 0, "time masking never replaced a frame"


def test_eval_transform_is_deterministic_centre_crop():
    video = torch.randint(0, 255, (2, 29, 48, 48), dtype=torch.uint8)
    t = EvalVideoTransform(44, 0.5, 0.25)
    out = t(video, torch.tensor([29, 29]))
    assert torch.equal(out, t(video, torch.tensor([29, 29])))
    assert torch.allclose(out[:, 0], (video[:, :, 2:46, 2:46].float() / 255 - 0.5) / 0.25)
