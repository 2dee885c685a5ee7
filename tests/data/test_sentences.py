import csv
import logging
from functools import partial

import numpy as np
import pytest
import torch

from lipreading.data.clip import Clip, save_clip
from lipreading.data.sentence_datamodules import SentenceDataModule
from lipreading.data.sentences import LengthBucketSampler, ManifestError, collate_sentences, read_manifest
from lipreading.data.tokenizer import PAD_ID, CharTokenizer
from lipreading.data.transforms import EvalVideoTransform


def write_layout(root, rows_by_split, size=48):
    """Random-pixel clips + manifests in the preprocessed Chinese-LiPS layout."""
    rng = np.random.default_rng(0)
    for split, rows in rows_by_split.items():
        with (root / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "path", "num_frames", "text"])
            for clip_id, frames, text in rows:
                if frames > 0:
                    save_clip(root / split / f"{clip_id}.npz",
                              Clip(video=rng.integers(0, 256, (frames, size, size), dtype=np.uint8), label=text))
                writer.writerow([clip_id, f"{split}/{clip_id}.npz", abs(frames) or 5, text])


def datamodule(root, **kwargs):
    transform = EvalVideoTransform(44, 0.4, 0.2)
    return SentenceDataModule(str(root), transform, transform, batch_size=2, **kwargs)


def test_manifest_without_its_columns_raises_naming_them(tmp_path):
    (tmp_path / "train.csv").write_text("id,path,text\na,train/a.npz,你好\n")
    with pytest.raises(ManifestError, match="num_frames"):
        read_manifest(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="val.csv"):
        read_manifest(tmp_path, "val", "Preprocess it first")


def test_bad_rows_are_counted_and_skipped(tmp_path):
    write_layout(tmp_path, {"train": [("a", 10, "你好"), ("gone", -7, "你们")]})
    with (tmp_path / "train.csv").open("a", encoding="utf-8") as f:
        f.write("b,train/a.npz,ten,你好\nc,train/a.npz,10,\n")
    manifest = read_manifest(tmp_path, "train")
    assert [u.id for u in manifest.utterances] == ["a"]
    assert len(manifest.skipped) == 3
    assert any("not found" in s for s in manifest.skipped) and any("whole number" in s for s in manifest.skipped)


def test_unreadable_clips_and_oov_text_never_stop_an_epoch(tmp_path, caplog):
    write_layout(tmp_path, {
        "train": [("a", 8, "我们上课"), ("b", 12, "他们上课"), ("c", 9, "我们跳舞"), ("long", 30, "他们上课")],
        "val": [("v1", 8, "我们跳舞"), ("v2", 10, "他们上课")],
        "test": [("t1", 8, "我们上课")],
    })
    (tmp_path / "train" / "b.npz").write_bytes(b"truncated")  # unreadable
    dm = datamodule(tmp_path, max_frames=20, units=partial(CharTokenizer.build, min_count=2))  # 跳, 舞 seen once: outside the vocabulary
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
        batches = list(dm.train_dataloader())
    assert len(dm.datasets["train"]) == 2  # "c" (OOV) and "long" (> max_frames) left out, and counted
    assert "characters outside the vocabulary" in caplog.text and "max_frames=20" in caplog.text
    assert sum(b.get("skipped", 0) for b in batches) == 1 and "unreadable" in caplog.text  # b.npz
    assert len(dm.datasets["val"]) == 2  # evaluation keeps OOV text (it counts as errors)
    assert "OOV val: 0.2500 of characters" in dm.stats()


def test_collate_pads_video_and_tokens():
    items = [
        {"video": torch.ones(3, 4, 4, dtype=torch.uint8), "tokens": torch.tensor([5, 6]), "text": "ab", "id": "x", "path": "x"},
        None,
        {"video": torch.ones(5, 4, 4, dtype=torch.uint8), "tokens": torch.tensor([7]), "text": "c", "id": "y", "path": "y"},
    ]
    batch = collate_sentences(items, pad_id=PAD_ID)
    assert batch["video"].shape == (2, 5, 4, 4) and batch["video"][0, 3:].sum() == 0
    assert batch["tokens"].tolist() == [[5, 6], [7, PAD_ID]] and batch["token_lengths"].tolist() == [2, 1]
    assert batch["skipped"] == 1


def test_length_buckets_cover_every_clip_and_limit_padding():
    lengths = np.random.default_rng(0).integers(10, 200, 1000)
    sampler = LengthBucketSampler(lengths, batch_size=16, shuffle=True, seed=0)
    first = list(sampler)
    assert list(sampler) == first, "an epoch's batches are a function of (seed, epoch) alone"
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(1000)) and len(first) == len(sampler)
    assert first != second  # a new order every epoch
    assert list(LengthBucketSampler(lengths, batch_size=16, shuffle=True, seed=1)) != first  # and every seed
    padding = sum(lengths[b].max() - lengths[b].min() for b in first) / len(first)
    assert padding < 20  # random batches of 16 would span ~170 frames
    eval_batches = list(LengthBucketSampler(lengths, 16, shuffle=False))
    assert eval_batches == list(LengthBucketSampler(lengths, 16, shuffle=False))


def test_length_bucket_sampler_shards_disjoint_batches_by_rank():
    from lipreading.data.sentences import LengthBucketSampler

    lengths = list(range(10, 110))
    for shuffle in (True, False):
        shards = [LengthBucketSampler(lengths, 8, shuffle, seed=3, rank=r, world_size=2) for r in (0, 1)]
        batches = [list(s) for s in shards]
        assert [len(b) for b in batches] == [len(s) for s in shards]
        seen = [i for b in batches for batch in b for i in batch]
        assert len(seen) == len(set(seen)), "the ranks must see disjoint clips"
        if shuffle:
            assert len(batches[0]) == len(batches[1]), "training shards must have equal batch counts"
        else:
            assert sorted(seen) == list(range(100)), "evaluation must read every clip once"
