"""The whole pipeline: one video to a clip, and runs over many files that survive bad ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipreading.data.clip import Clip, load_clip, save_clip
from lipreading.preprocessing import (
    Listing,
    NoFaceError,
    PreprocessConfig,
    VideoItem,
    preprocess_video,
    process_listing,
)
from lipreading.preprocessing.mouth import mouth_clip
from lipreading.preprocessing.video import VideoError
from tests.helpers.face_video import talking_head, write_video


def item(video, name: str, split: str = "train") -> VideoItem:
    return VideoItem(
        video=video, output=f"{split}/{name}.npz", label=f"text of {name}", split=split
    )


def test_a_video_becomes_a_mouth_centred_clip(tmp_path, head):
    clip, report = preprocess_video(write_video(tmp_path / "head.mp4", head.frames))
    assert clip.video.shape == (25, 96, 96) and clip.video.dtype == np.uint8 and clip.fps == 25.0
    assert clip.landmarks.shape == (25, 40, 2)
    assert np.abs(clip.landmarks.mean(axis=1) - 48).max() < 3.0  # lips centred in every frame
    # The drawn mouth opening (the darkest blob near the middle) sits in the middle of the crop.
    middle = clip.video[:, 24:72, 24:72]
    for frame in middle[4:9]:  # the frames where the mouth is wide open
        assert np.abs(np.argwhere(frame < 50).mean(axis=0) + 24 - 48).max() < 4.0
    assert (report.num_frames, len(report.people), report.chosen, report.detection_rate) == (25, 1, 0, 1.0)
    assert np.linalg.norm(report.mouth_centres - head.mouth_centres, axis=1).max() < 3.0


def test_a_30_fps_video_in_a_path_with_spaces_and_non_ascii_is_resampled_and_reported(
    tmp_path, face_still
):
    frames = talking_head(face_still, 15).frames
    video = write_video(tmp_path / "vidéo clips" / "说话 1.mp4", frames, fps=30.0)
    summary = process_listing(Listing([item(video, "说话 1")]), tmp_path / "out")
    assert summary.count("processed") == 1
    assert "resampled from 30 to 25 fps" in summary.report() and str(video) in summary.report()
    assert load_clip(tmp_path / "out" / "train" / "说话 1.npz").num_frames == 13


def test_a_full_hd_video_is_cropped_like_a_small_one(tmp_path, face_still):
    head = talking_head(face_still, 4)
    frames = np.stack([cv2.resize(f, (1080, 1080)) for f in head.frames])
    frames = np.pad(frames, ((0, 0), (0, 0), (420, 420), (0, 0)), constant_values=128)  # 1920x1080
    clip, _ = preprocess_video(
        write_video(tmp_path / "hd.mp4", frames), PreprocessConfig(min_face_fraction=1.0)
    )
    assert clip.video.shape == (4, 96, 96)
    assert np.abs(clip.landmarks.mean(axis=1) - 48).max() < 3.0


def test_a_video_without_a_face_is_skipped_with_a_reason(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    video = write_video(tmp_path / "noise.mp4", noise)
    with pytest.raises(NoFaceError, match="no face found in any of its 6 frames") as error:
        preprocess_video(video)
    assert str(video) in str(error.value)


def test_a_run_reports_each_bad_file_keeps_going_and_loses_nothing(tmp_path, face_still):
    head = talking_head(face_still, 6)
    raw, out = tmp_path / "raw", tmp_path / "out"
    good = write_video(raw / "good.mp4", head.frames)
    empty = raw / "empty.mp4"
    empty.write_bytes(b"")
    text = raw / "text.mp4"
    text.write_text("hello")
    one = write_video(raw / "one.mp4", head.frames[:1])
    cut = write_video(raw / "cut.mp4", head.frames)
    cut.write_bytes(cut.read_bytes()[:2000])
    faceless = write_video(raw / "faceless.mp4", np.full((6, 64, 64, 3), 90, np.uint8))
    earlier = np.full((3, 96, 96), 7, np.uint8)
    save_clip(
        out / "train" / "earlier.npz", Clip(video=earlier, label="text of earlier")
    )  # an earlier run's
    listing = Listing(
        [item(v, v.stem) for v in (empty, good, text, one, cut, faceless)]
        + [item(good, "earlier")],
        skipped=["meta.csv:7: face video 'gone.mp4' not found"],
    )
    summary = process_listing(listing, out)
    assert (summary.count("processed"), summary.count("existing"), summary.count("failed")) == (
        1,
        1,
        5,
    )
    report = summary.report()
    for path, reason in [
        (empty, "empty file"),
        (text, "not a video"),
        (one, "only 1 frame"),
        (cut, "truncated"),
        (faceless, "no face"),
    ]:
        assert any(str(path) in line and reason in line for line in report.splitlines()), (
            path,
            report,
        )
    assert "gone.mp4" in report
    assert np.array_equal(load_clip(out / "train" / "earlier.npz").video, earlier)  # untouched
    assert load_clip(out / "train" / "good.npz").label == "text of good"
    manifest = (out / "train.csv").read_text(encoding="utf-8").splitlines()
    assert manifest == [
        "id,path,num_frames,text",
        "earlier,train/earlier.npz,3,text of earlier",
        "good,train/good.npz,6,text of good",
    ]


def test_a_second_run_resumes_and_replaces_unreadable_outputs(tmp_path, face_still):
    video = write_video(tmp_path / "a.mp4", talking_head(face_still, 4).frames)
    listing = Listing([item(video, "a"), item(video, "b")])
    assert process_listing(listing, tmp_path / "out").count("processed") == 2
    (tmp_path / "out" / "train" / "b.npz").write_bytes(b"garbage")
    summary = process_listing(listing, tmp_path / "out")
    assert (summary.count("existing"), summary.count("processed")) == (1, 1)
    assert "unreadable clip file" in summary.report()


def test_worker_processes_give_the_same_clips(tmp_path, face_still):
    video = write_video(tmp_path / "a.mp4", talking_head(face_still, 4).frames)
    listing = Listing([item(video, "a"), item(video, "b", split="val")])
    summary = process_listing(listing, tmp_path / "out", workers=2)
    assert summary.count("processed") == 2 and summary.frames_per_second > 0
    assert np.array_equal(
        load_clip(tmp_path / "out" / "train" / "a.npz").video, preprocess_video(video)[0].video
    )
    assert (tmp_path / "out" / "val.csv").is_file()


def test_a_video_that_decodes_differently_the_second_time_is_an_error(head):
    frames = head.frames[:6].copy()
    frames[3] = 128  # the face is lost here, so this frame's crop needs a second decoding pass

    class Shrinking:
        """A reader whose second pass loses a frame, as a flaky decoder might."""

        path, width, height, fps, source_fps, declared_frames = "flaky.mp4", 224, 224, 25.0, 25.0, 6
        passes = 0

        def __iter__(self):
            self.passes += 1
            return iter(frames[: 7 - self.passes])

    with pytest.raises(VideoError, match="flaky.mp4: decoded 6 then 5 frames"):
        mouth_clip(Shrinking(), PreprocessConfig())
