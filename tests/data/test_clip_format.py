import math

import numpy as np
import pytest

from lipreading.data.clip import Clip, ClipError, load_clip, save_clip


def test_round_trip_keeps_every_field(tmp_path):
    rng = np.random.default_rng(0)
    clip = Clip(
        video=rng.integers(0, 256, (29, 16, 16), dtype=np.uint8), fps=25.0, label="ABOUT",
        word_start=0.3, word_end=0.7, speaker="s01",
        audio=rng.standard_normal(18560).astype(np.float32), sample_rate=16000,
        phonemes=[("AH", 0.3, 0.4), ("B", 0.4, 0.5)], landmarks=rng.random((29, 20, 2)).astype(np.float32),
    )
    save_clip(tmp_path / "a.npz", clip)
    loaded = load_clip(tmp_path / "a.npz")
    assert np.array_equal(loaded.video, clip.video)
    assert (loaded.label, loaded.speaker, loaded.word_start, loaded.word_end) == ("ABOUT", "s01", 0.3, 0.7)
    assert np.array_equal(loaded.audio, clip.audio) and loaded.sample_rate == 16000
    assert loaded.phonemes == clip.phonemes
    assert np.allclose(loaded.landmarks, clip.landmarks)
    assert not list(tmp_path.glob("*.tmp*")), "temporary files must not be left behind"


def test_boundary_marks_frames_inside_the_word():
    clip = Clip(video=np.zeros((10, 4, 4), np.uint8), fps=10.0, word_start=0.2, word_end=0.5)
    assert clip.boundary().tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert Clip(video=np.zeros((3, 4, 4), np.uint8)).boundary().tolist() == [1, 1, 1]
    assert math.isnan(Clip(video=np.zeros((3, 4, 4), np.uint8)).word_start)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04truncated"])
def test_unreadable_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad clip.npz"
    path.write_bytes(content)
    with pytest.raises(ClipError, match="bad clip.npz"):
        load_clip(path)


def test_missing_and_malformed(tmp_path):
    with pytest.raises(ClipError, match="not found"):
        load_clip(tmp_path / "missing.npz")
    np.savez(tmp_path / "novideo.npz", label="x")
    with pytest.raises(ClipError, match=r"holds \['label'\]; expected 'video'"):
        load_clip(tmp_path / "novideo.npz")
    with pytest.raises(ClipError, match="uint8"):
        save_clip(tmp_path / "f.npz", Clip(video=np.zeros((3, 4, 4), np.float32)))


def test_training_fields_leave_the_rest_on_disk(tmp_path):
    from lipreading.data.clip import TRAINING_FIELDS

    rng = np.random.default_rng(1)
    clip = Clip(video=rng.integers(0, 256, (29, 8, 8), dtype=np.uint8), label="ABOUT", word_start=0.2, word_end=0.6,
                audio=np.zeros(100, np.float32), sample_rate=16000, phonemes=[("AH", 0.2, 0.3)],
                landmarks=np.zeros((29, 4, 2), np.float32))
    save_clip(tmp_path / "c.npz", clip)
    light = load_clip(tmp_path / "c.npz", TRAINING_FIELDS)
    assert np.array_equal(light.video, clip.video) and (light.label, light.word_start, light.word_end) == ("ABOUT", 0.2, 0.6)
    assert light.audio is None and light.landmarks is None and light.phonemes is None
    assert load_clip(tmp_path / "c.npz", set()).video.shape == (29, 8, 8), "the video is always read"
