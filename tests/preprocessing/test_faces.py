"""Own videos as people record them: small faces in large frames, two people, a face that leaves
and comes back, a scene cut. Real faces (tests/helpers/face_video.py) placed where the test says;
the crop must stay on the chosen speaker's mouth, checked against where the test put it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipreading.preprocessing import NoFaceError, PreprocessConfig, preprocess_video
from lipreading.preprocessing.persons import FaceChoiceError
from tests.helpers.face_video import TalkingHead, background, place, talking_head, write_video


def frames_of(size: tuple[int, int], num_frames: int, seed: int = 0) -> np.ndarray:
    return np.stack([background(size, seed)] * num_frames)


def part(head: TalkingHead, start: int, stop: int) -> TalkingHead:
    return TalkingHead(head.frames[start:stop], head.mouth_centres[start:stop])


def assert_on_mouth(report, truth: np.ndarray, tolerance: float = 3.0) -> None:
    """The crop's centre (the chosen mouth) is within ``tolerance`` px of the true mouth centre."""
    seen = ~np.isnan(truth[:, 0])
    error = np.linalg.norm(report.mouth_centres[seen] - truth[seen], axis=1)
    assert error.max() < tolerance, error.round(1)


@pytest.mark.parametrize(
    ("size", "scale", "face_width"),
    [((1280, 720), 1.0, 95), ((1920, 1080), 0.65, 62)],
    ids=["720p-natural-size", "1080p-62px-face"],
)
def test_a_small_face_in_a_large_frame_is_found_and_followed(tmp_path, face_still, size, scale, face_width):
    frames = frames_of(size, 16)
    truth = place(frames, talking_head(face_still, 16), (size[0] * 2 // 3, size[1] // 3), scale)
    clip, report = preprocess_video(write_video(tmp_path / "far.mp4", frames))
    assert report.detection_rate == 1.0 and len(report.people) == 1
    assert abs(report.people[0].face_width - face_width) < 8
    assert_on_mouth(report, truth)
    # The drawn mouth opening, darkest in the crop, sits in its middle where the mouth is open.
    for frame in clip.video[5:8, 24:72, 24:72]:
        assert np.abs(np.argwhere(frame < 60).mean(axis=0) + 24 - 48).max() < 5.0


def test_of_two_people_the_talking_one_is_chosen_and_kept_in_every_frame(tmp_path, face_still):
    # Two copies of one face, so that only the moving mouth and the tracking tell them apart.
    frames = frames_of((1280, 720), 30)
    still = place(frames, talking_head(face_still, 30, angle=-3, talking=False), (250, 260))
    talking = place(frames, talking_head(face_still, 30), (800, 240))
    video = write_video(tmp_path / "two.mp4", frames)
    _, report = preprocess_video(video)
    assert [p.number for p in report.people] == [0, 1] and report.chosen == 1
    assert report.people[1].mouth_motion > 3 * report.people[0].mouth_motion
    assert_on_mouth(report, talking)
    assert "chose person 1 (face=speaker: mouth moves most)" in report.text()
    preview = cv2.imread(str(report.write_preview(tmp_path / "preview.png")))
    green = (preview[:, :, 1] > 180) & (preview[:, :, 0] < 40) & (preview[:, :, 2] < 40)
    assert preview.shape[1] == 4 * 480 and green[:, : preview.shape[1] // 4].sum() > 100
    _, report = preprocess_video(video, PreprocessConfig(face="0"))
    assert report.chosen == 0
    assert_on_mouth(report, still)


def test_largest_centre_and_a_number_choose_among_different_people(tmp_path, face_still, hopper_still):
    frames = frames_of((1280, 720), 12)
    hopper = place(frames, talking_head(hopper_still, 12, talking=False), (40, 150), 1.6)
    astronaut = place(frames, talking_head(face_still, 12), (528, 248))  # in the middle
    video = write_video(tmp_path / "two.mp4", frames)
    for face, truth in [("largest", hopper), ("centre", astronaut), ("speaker", astronaut), ("0", hopper)]:
        _, report = preprocess_video(video, PreprocessConfig(face=face))
        assert_on_mouth(report, truth, tolerance=4.0)
    with pytest.raises(FaceChoiceError, match=r"two.mp4: face=2, but 2 people are seen \(numbered 0-1"):
        preprocess_video(video, PreprocessConfig(face="2"))


def test_a_face_that_leaves_and_comes_back_is_one_person_and_the_loss_is_reported(tmp_path, face_still):
    head = talking_head(face_still, 40)
    frames = frames_of((1280, 720), 40)
    truth = np.full((40, 2), np.nan)
    truth[:12] = place(frames[:12], part(head, 0, 12), (300, 200))
    truth[28:] = place(frames[28:], part(head, 28, 40), (750, 330), 0.8)  # back elsewhere, smaller
    video = write_video(tmp_path / "away.mp4", frames)
    _, report = preprocess_video(video)
    assert len(report.people) == 1 and report.people[0].seen == 24
    assert report.gaps == [(12, 27)] and report.detection_rate == pytest.approx(0.6)
    assert "warning: face 0 lost in frames 12-27 (0.6 s): found in 60% of the frames" in report.text()
    assert_on_mouth(report, truth)
    with pytest.raises(NoFaceError, match=r"away.mp4: a face was found in only 24 of 40 frames"):
        preprocess_video(video, PreprocessConfig(min_face_fraction=0.9))


def test_after_a_scene_cut_the_crop_follows_the_speaker_to_its_new_place(tmp_path, face_still):
    head = talking_head(face_still, 24)
    frames = np.concatenate([frames_of((1280, 720), 12, seed=1), frames_of((1280, 720), 12, seed=2)])
    truth = np.concatenate(
        [
            place(frames[:12], part(head, 0, 12), (200, 150)),
            place(frames[12:], part(head, 12, 24), (700, 250), 1.5),  # the next shot: closer
        ]
    )
    _, report = preprocess_video(write_video(tmp_path / "cut.mp4", frames))
    assert report.cuts == [12] and len(report.people) == 1 and report.detection_rate == 1.0
    assert_on_mouth(report, truth, tolerance=4.0)
