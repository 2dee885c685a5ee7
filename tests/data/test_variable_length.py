"""Variable-length augmentation: random cuts in time that keep the whole word, keyed by (seed, epoch, clip)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lipreading.data.datamodules import WordDataModule
from lipreading.data.transforms import EvalVideoTransform, TrainVideoTransform
from lipreading.data.variable_length import VariableLengthCrops, random_word_span
from tests.conftest import CONF, write_word_dataset

WORDS = ["ABOUT", "BLACK", "CHILD"]


def _boundary(frames: int, first: int, last: int) -> torch.Tensor:
    boundary = torch.zeros(frames)
    boundary[first : last + 1] = 1
    return boundary


def test_cuts_keep_the_word_and_reach_every_allowed_frame() -> None:
    """As the reference: left uniform in [0, first - 1], right (exclusive) in [last + 1, T]."""
    rng = np.random.default_rng(0)
    spans = [random_word_span(_boundary(29, 10, 17), rng) for _ in range(2000)]
    lefts, rights = {s[0] for s in spans}, {s[1] for s in spans}
    assert lefts == set(range(0, 10)) and rights == set(range(18, 30))


@pytest.mark.parametrize(("boundary", "span"), [
    (torch.ones(29), (0, 29)),  # the word everywhere (or its boundaries unknown): kept whole
    (_boundary(29, 0, 28), (0, 29)),
])
def test_a_clip_without_room_around_its_word_is_kept_whole(boundary, span) -> None:
    assert random_word_span(boundary, np.random.default_rng(0)) == span


def test_a_word_at_the_clips_start_keeps_its_first_frame() -> None:
    rng = np.random.default_rng(1)
    assert all(random_word_span(_boundary(20, 0, 5), rng)[0] == 0 for _ in range(50))


def _items(n: int = 4, frames: int = 29, audio: bool = False) -> list[dict]:
    items = []
    for i in range(n):
        item = {"video": torch.arange(frames, dtype=torch.uint8)[:, None, None].expand(frames, 4, 4).clone(),
                "label": i, "boundary": _boundary(frames, 8 + i, 16 + i), "path": f"clip{i}"}
        if audio:
            item["audio"] = torch.arange(frames * 640, dtype=torch.float32)
        items.append(item)
    return items


def test_each_cut_is_a_function_of_seed_epoch_and_clip() -> None:
    crops = VariableLengthCrops(_items(), seed=3)
    first = crops[(0, 2)]
    assert torch.equal(first["video"], crops[(0, 2)]["video"])  # the same key cuts the same way
    cuts = {tuple(crops[(epoch, 2)]["video"][[0, -1], 0, 0].tolist()) for epoch in range(20)}
    assert len(cuts) > 5  # a new cut every epoch
    assert crops[(0, 2)]["boundary"].sum() == 9  # every frame of the word stays


def test_video_boundary_and_audio_are_cut_alike() -> None:
    item = VariableLengthCrops(_items(audio=True), seed=0)[(4, 1)]
    start, frames = int(item["video"][0, 0, 0]), len(item["video"])
    assert len(item["boundary"]) == frames and item["boundary"].sum() == 9
    torch.testing.assert_close(item["audio"], torch.arange(start * 640, (start + frames) * 640, dtype=torch.float32))
    assert VariableLengthCrops([None], seed=0)[(0, 0)] is None  # an unreadable clip stays unreadable


def _datamodule(root, **kwargs) -> WordDataModule:
    return WordDataModule(str(root), num_classes=3, train_transform=TrainVideoTransform(44, 0.4, 0.2),
                          eval_transform=EvalVideoTransform(44, 0.4, 0.2), batch_size=3, **kwargs)


def test_training_batches_vary_in_length_and_keep_every_word(tmp_path) -> None:
    write_word_dataset(tmp_path, WORDS, per_split=4)  # word from 0.4 s to 0.8 s: frames 10..19 of 29
    datamodule = _datamodule(tmp_path, variable_length=True)
    datamodule.setup("fit")
    torch.manual_seed(0)
    batches = list(datamodule.train_dataloader())
    lengths = torch.cat([b["lengths"] for b in batches])
    assert lengths.min() < 29 and lengths.max() <= 29 and len(set(lengths.tolist())) > 2
    assert all(b["boundary"].sum(1).eq(10).all() for b in batches)  # the 10 frames of each word, whole
    val = next(iter(datamodule.val_dataloader()))
    assert val["lengths"].eq(29).all()  # evaluation clips are never cut


def test_word_boundaries_as_an_input_turn_it_off(tmp_path) -> None:
    write_word_dataset(tmp_path, WORDS, per_split=4)
    datamodule = _datamodule(tmp_path, variable_length=True, use_boundary=True)
    datamodule.setup("fit")
    assert not datamodule.variable_length
    assert all(b["lengths"].eq(29).all() for b in datamodule.train_dataloader())


def test_on_in_the_published_lrw_recipes_off_in_the_demo() -> None:
    assert OmegaConf.load(CONF / "data" / "lrw.yaml").variable_length is True
    assert OmegaConf.load(CONF / "data" / "synthetic_words.yaml").variable_length is False
