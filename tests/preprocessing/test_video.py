"""Decoding: resampling to 25 fps and clear errors for files that are not usable videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipreading.preprocessing.video import VideoError, VideoReader, read_video, source_index
from tests.helpers.face_video import write_video


def frames(num: int, size: int = 32) -> np.ndarray:
    """Frames whose brightness encodes their index (10 * index), to trace which ones were kept."""
    return np.stack([np.full((size, size, 3), 10 * i, np.uint8) for i in range(num)])


@pytest.mark.parametrize(
    ("source_fps", "expected"),
    [(25.0, [0, 1, 2, 3]), (30.0, [0, 1, 2, 4, 5, 6]), (20.0, [0, 1, 2, 2, 3, 4])],
)
def test_source_index_maps_output_times_to_the_nearest_source_frame(source_fps, expected):
    assert [source_index(k, source_fps, 25.0) for k in range(len(expected))] == expected


def test_a_25_fps_video_decodes_frame_for_frame(tmp_path):
    reader = VideoReader(write_video(tmp_path / "a.mp4", frames(10)))
    video = read_video(reader.path)
    assert not reader.resampled and video.shape == (10, 32, 32, 3)
    assert np.allclose(video[:, 0, 0, 0], 10 * np.arange(10), atol=6)


def test_a_30_fps_video_is_resampled_to_25_fps(tmp_path):
    reader = VideoReader(write_video(tmp_path / "a.mp4", frames(15), fps=30.0))
    video = np.stack(list(reader))
    assert reader.resampled and reader.source_fps == pytest.approx(30.0)
    assert len(video) == 13  # 0.5 s at 25 fps, nearest frames 0 1 2 4 5 6 7 8 10 11 12 13 14
    assert np.allclose(
        video[:, 0, 0, 0], 10 * np.array([0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14]), atol=6
    )


def test_iterating_twice_gives_the_same_frames(tmp_path):
    reader = VideoReader(write_video(tmp_path / "a.mp4", frames(8), fps=30.0))
    assert np.array_equal(np.stack(list(reader)), np.stack(list(reader)))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("not a video at all\n"), "not a video"),
        (lambda p: write_video(p, frames(1)), "only 1 frame"),
    ],
    ids=["zero-byte", "not-a-video", "one-frame"],
)
def test_unusable_files_raise_an_error_naming_them(tmp_path, make, reason):
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(VideoError, match=reason) as error:
        VideoReader(path)
    assert str(path) in str(error.value)


def test_a_truncated_mp4_raises_an_error_naming_it(tmp_path):
    path = write_video(tmp_path / "cut.mp4", frames(20))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated") as error:
        list(VideoReader(path))
    assert str(path) in str(error.value)


def test_a_cut_avi_that_opens_raises_when_frames_run_out(tmp_path):
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (32, 32))
    for frame in np.random.default_rng(0).integers(0, 255, (20, 32, 32, 3), dtype=np.uint8):
        writer.write(frame)
    writer.release()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reader = VideoReader(path)  # the header is intact: 20 frames declared
    with pytest.raises(VideoError, match="truncated or corrupt: decoded") as error:
        list(reader)
    assert str(path) in str(error.value)


def test_a_missing_file_raises_an_error_naming_it(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        VideoReader(tmp_path / "absent.mp4")
