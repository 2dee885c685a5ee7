"""LRW's raw layout: lipread_mp4/WORD/{train,val,test}/WORD_NNNNN.mp4 + .txt -> OUT/WORD/..."""

from __future__ import annotations

import pytest

from lipreading.data.clip import load_clip
from lipreading.data.lrw import lrw_listing, read_word_duration
from lipreading.preprocessing import LayoutError, process_listing
from tests.helpers.face_video import talking_head, write_video


def write_lrw_txt(path, word: str, duration: float) -> None:
    """The five-line metadata file LRW ships beside each clip."""
    path.write_text(
        f"Text:     {word}\nConf:     4\n\n\nDuration: {duration} seconds\n", encoding="utf-8"
    )


@pytest.fixture
def lrw_root(tmp_path, face_still):
    frames = talking_head(face_still, 29).frames
    root = tmp_path / "lipread_mp4"
    for word, split, number, duration in [
        ("ABOUT", "train", 1, 0.43),
        ("ABOUT", "val", 1, 0.3),
        ("WORLD", "test", 7, 0.5),
    ]:
        video = write_video(root / word / split / f"{word}_{number:05d}.mp4", frames)
        write_lrw_txt(video.with_suffix(".txt"), word, duration)
    return root


def test_listing_follows_the_layout(lrw_root):
    listing = lrw_listing(lrw_root.parent)  # the folder holding lipread_mp4 works too
    assert [(i.output, i.label, i.split, i.word_duration) for i in listing.items] == [
        ("ABOUT/train/ABOUT_00001.npz", "ABOUT", "train", 0.43),
        ("ABOUT/val/ABOUT_00001.npz", "ABOUT", "val", 0.3),
        ("WORLD/test/WORLD_00007.npz", "WORLD", "test", 0.5),
    ]
    assert [i.split for i in lrw_listing(lrw_root, splits=("val",)).items] == ["val"]


def test_clips_carry_the_word_and_its_centred_boundaries(lrw_root, tmp_path):
    listing = lrw_listing(lrw_root, splits=("train",))
    summary = process_listing(listing, tmp_path / "roi")
    assert summary.count("processed") == 1, summary.report()
    clip = load_clip(tmp_path / "roi" / "ABOUT" / "train" / "ABOUT_00001.npz")
    assert clip.label == "ABOUT" and clip.video.shape == (29, 96, 96)
    assert clip.word_start == pytest.approx((1.16 - 0.43) / 2) and clip.word_end == pytest.approx(
        (1.16 + 0.43) / 2
    )
    assert clip.boundary().sum() == 11  # frames whose centre lies inside the 0.43 s word


def test_the_duration_line_is_found_wherever_it_is(tmp_path):
    txt = tmp_path / "A.txt"
    txt.write_text("Text:     A\nDuration: 0.25 seconds\n", encoding="utf-8")
    assert read_word_duration(txt) == 0.25


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "metadata file missing"),
        ("Text:     ABOUT\nConf:     4\n", "no line starting with 'Duration:'"),
        ("Duration: soon\n", "cannot read a number"),
    ],
)
def test_bad_metadata_names_the_file(tmp_path, content, reason):
    txt = tmp_path / "ABOUT_00001.txt"
    if content is not None:
        txt.write_text(content, encoding="utf-8")
    with pytest.raises(LayoutError, match=reason) as error:
        read_word_duration(txt)
    assert str(txt) in str(error.value)


def test_an_empty_or_wrong_folder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(LayoutError, match=r"WORD/\{train,val,test\}/WORD_NNNNN.mp4"):
        lrw_listing(tmp_path)
    with pytest.raises(LayoutError, match="unknown LRW split"):
        lrw_listing(tmp_path, splits=("dev",))
