"""LRW-1000's raw layout: images/<video id>/<n>.jpg + info/{trn,val,tst}_1000.txt."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipreading.data.clip import load_clip
from lipreading.data.lrw1000 import lrw1000_listing
from lipreading.preprocessing import LayoutError, PreprocessConfig, process_listing


def write_images(folder, count: int) -> None:
    """``count`` mouth images 1.jpg ... whose brightness encodes their number."""
    folder.mkdir(parents=True)
    for n in range(1, count + 1):
        cv2.imwrite(str(folder / f"{n}.jpg"), np.full((40, 60, 3), 2 * n, np.uint8))


@pytest.fixture
def lrw1000_root(tmp_path):
    root = tmp_path / "LRW1000_Public"
    write_images(root / "images" / "0a1b2c", 100)
    write_images(root / "images" / "ffee01", 20)
    (root / "info").mkdir()
    (root / "info" / "trn_1000.txt").write_text(
        "0a1b2c,我们,wo men,1.00,1.40\n"
        "0a1b2c,我们,wo men,1.00,1.40\n"  # a repeated line
        "0a1b2c,问题,wen ti,0.04,0.30\n"  # near the folder's start: the window shifts right
        "ffee01,中国,zhong guo,0.20,0.60\n"  # a folder shorter than the window
        "0a1b2c,的,de,2.00,2.01\n"  # shorter than a frame
        "missing,时候,shi hou,0.10,0.50\n",
        encoding="utf-8",
    )
    (root / "info" / "val_1000.txt").write_text("0a1b2c,我们,wo men,3.00,3.30\n", encoding="utf-8")
    (root / "info" / "tst_1000.txt").write_text("", encoding="utf-8")
    return root


def test_listing_reads_the_index_files(lrw1000_root):
    listing = lrw1000_listing(lrw1000_root)
    by_output = {i.output: i for i in listing.items}
    assert sorted(by_output) == [
        "wen ti/train/0a1b2c_1_40.npz",
        "wo men/train/0a1b2c_11_50.npz",
        "wo men/val/0a1b2c_59_98.npz",
        "zhong guo/train/ffee01_1_20.npz",
    ]
    centred = by_output["wo men/train/0a1b2c_11_50.npz"]  # word images 26..35, window 11..50
    assert (centred.label, centred.word_start, centred.word_end) == (
        "wo men",
        pytest.approx(15 / 25),
        pytest.approx(25 / 25),
    )
    shifted = by_output["wen ti/train/0a1b2c_1_40.npz"]  # word images 2..7, window held at image 1
    assert (shifted.word_start, shifted.word_end) == (pytest.approx(1 / 25), pytest.approx(7 / 25))
    short = by_output["zhong guo/train/ffee01_1_20.npz"]  # all 20 images of a short folder
    assert len(short.frames) == 20 and (short.word_start, short.word_end) == (
        pytest.approx(5 / 25),
        pytest.approx(15 / 25),
    )
    assert len(listing.skipped) == 2
    assert (
        "lasts less than one frame" in listing.skipped[0] and "trn_1000.txt:5" in listing.skipped[0]
    )
    assert "no images in" in listing.skipped[1] and "missing" in listing.skipped[1]


def test_clips_are_resized_mouth_images_with_the_word_boundaries(lrw1000_root, tmp_path):
    summary = process_listing(
        lrw1000_listing(lrw1000_root, splits=("train",)),
        tmp_path / "roi",
        PreprocessConfig(crop_size=32),
    )
    assert summary.count("processed") == 3, summary.report()
    clip = load_clip(tmp_path / "roi" / "wo men" / "train" / "0a1b2c_11_50.npz")
    assert clip.video.shape == (40, 32, 32) and clip.fps == 25.0 and clip.label == "wo men"
    assert np.allclose(clip.video[:, 0, 0], 2 * np.arange(11, 51), atol=3)  # images 11..50 in order
    assert clip.boundary().sum() == 10


def test_a_missing_image_fails_that_clip_only(lrw1000_root, tmp_path):
    (lrw1000_root / "images" / "ffee01" / "5.jpg").write_bytes(b"not a jpeg")
    summary = process_listing(lrw1000_listing(lrw1000_root, splits=("train",)), tmp_path / "roi")
    assert (summary.count("processed"), summary.count("failed")) == (2, 1)
    assert "ffee01/5.jpg: missing or unreadable image" in summary.report()


def test_malformed_layouts_say_what_is_expected(tmp_path, lrw1000_root):
    with pytest.raises(LayoutError, match="no image folder"):
        lrw1000_listing(tmp_path)
    (lrw1000_root / "info" / "val_1000.txt").write_text("0a1b2c,我们,1.0,1.4\n", encoding="utf-8")
    with pytest.raises(
        LayoutError, match=r"val_1000.txt:1: expected 'video id,word,pinyin,start,end'"
    ):
        lrw1000_listing(lrw1000_root)
    (lrw1000_root / "info" / "tst_1000.txt").unlink()
    with pytest.raises(LayoutError, match="tst_1000.txt: index file missing"):
        lrw1000_listing(lrw1000_root, splits=("test",))
