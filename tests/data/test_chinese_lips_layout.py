"""Chinese-LiPS' raw layout: meta_{train,valid,test}.csv + {split}/<speaker>/FACE/*_FACE.mp4."""

from __future__ import annotations

import csv

import pytest

from lipreading.data.chinese_lips import chinese_lips_listing
from lipreading.data.clip import load_clip
from lipreading.preprocessing import LayoutError, process_listing
from tests.helpers.face_video import talking_head, write_video

OFFICIAL = ["ID", "TOPIC", "WAV", "PPT", "FACE", "TEXT"]
ALTERNATIVE = ["file_id", "category", "wav_path", "ppt_path", "face_path", "text"]


def write_meta(path, header, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def row(split: str, clip_id: str, text: str, face: str | None = None) -> list[str]:
    folder = f"{split}/{clip_id.rsplit('_', 1)[0]}"
    return [
        clip_id,
        "KJ",
        f"{folder}/WAV/{clip_id}.wav",
        f"{folder}/PPT/{clip_id}_PPT.mp4",
        face or f"{folder}/FACE/{clip_id}_FACE.mp4",
        text,
    ]


@pytest.fixture
def lips_root(tmp_path, face_still):
    root = tmp_path / "Chinese-LiPS"
    frames = talking_head(face_still, 9).frames
    for split, clip_id in [
        ("train", "ID1_25_F_KJ_001"),
        ("train", "ID1_25_F_KJ_002"),
        ("val", "ID7_30_M_LY_001"),
        ("test", "ID9_41_F_TY_003"),
    ]:
        write_video(
            root / split / clip_id.rsplit("_", 1)[0] / "FACE" / f"{clip_id}_FACE.mp4",
            frames,
            fps=30.0,
        )
    write_meta(
        root / "meta_train.csv",
        OFFICIAL,
        [
            row("train", "ID1_25_F_KJ_001", "我们今天学习唇语识别"),
            row(
                "train",
                "ID1_25_F_KJ_002",
                "科技改变生活",
                face="/elsewhere/ID1_25_F_KJ_002_FACE.mp4",
            ),  # found by name
            row("train", "ID1_25_F_KJ_003", "这一条没有视频"),
        ],
    )
    write_meta(root / "meta_valid.csv", ALTERNATIVE, [row("val", "ID7_30_M_LY_001", "旅行的意义")])
    write_meta(root / "meta_test.csv", OFFICIAL, [row("test", "ID9_41_F_TY_003", "比赛开始了")])
    return root


def test_listing_accepts_both_column_namings_and_reports_missing_videos(lips_root):
    listing = chinese_lips_listing(lips_root)
    assert [(i.output, i.label, i.split, i.speaker) for i in listing.items] == [
        ("train/ID1_25_F_KJ_001.npz", "我们今天学习唇语识别", "train", "ID1"),
        ("train/ID1_25_F_KJ_002.npz", "科技改变生活", "train", "ID1"),
        ("val/ID7_30_M_LY_001.npz", "旅行的意义", "val", "ID7"),
        ("test/ID9_41_F_TY_003.npz", "比赛开始了", "test", "ID9"),
    ]
    assert listing.items[1].video.parent.parent.parent.name == "train"
    assert len(listing.skipped) == 1
    assert (
        "meta_train.csv:4" in listing.skipped[0]
        and "ID1_25_F_KJ_003_FACE.mp4" in listing.skipped[0]
    )


def test_sentences_become_clips_and_manifests(lips_root, tmp_path):
    out = tmp_path / "roi"
    summary = process_listing(chinese_lips_listing(lips_root, splits=("val", "test")), out)
    assert summary.count("processed") == 2, summary.report()
    assert "resampled from 30 to 25 fps" in summary.report()
    clip = load_clip(out / "val" / "ID7_30_M_LY_001.npz")
    assert clip.label == "旅行的意义" and clip.video.shape == (8, 96, 96) and clip.speaker == "ID7"
    with (out / "val.csv").open(encoding="utf-8") as f:
        assert list(csv.DictReader(f)) == [
            {
                "id": "ID7_30_M_LY_001",
                "path": "val/ID7_30_M_LY_001.npz",
                "num_frames": "8",
                "text": "旅行的意义",
            }
        ]
    assert (out / "test.csv").is_file()


def test_a_csv_missing_columns_lists_them_and_the_accepted_namings(lips_root):
    write_meta(lips_root / "meta_test.csv", ["ID", "TOPIC", "TEXT"], [["x", "KJ", "y"]])
    with pytest.raises(
        LayoutError,
        match=r"meta_test.csv: missing column\(s\) FACE or face_path; the accepted headers",
    ) as error:
        chinese_lips_listing(lips_root, splits=("test",))
    assert "ID,TOPIC,WAV,PPT,FACE,TEXT" in str(error.value) and "file_id,category" in str(
        error.value
    )


def test_a_missing_metadata_file_or_split_is_named(lips_root):
    (lips_root / "meta_valid.csv").unlink()
    with pytest.raises(LayoutError, match="meta_valid.csv: metadata file missing"):
        chinese_lips_listing(lips_root)
    with pytest.raises(LayoutError, match="unknown Chinese-LiPS split"):
        chinese_lips_listing(lips_root, splits=("dev",))
